//! Configuration: one table of settings, read from a TOML file and the environment, validated
//! completely before any connection is made.
//!
//! Every setting is declared once in [`SETTINGS`] (key, environment variable, default, whether
//! it is secret, documentation). Loading, `kyc-archiver config check` and the generated
//! configuration reference (`docs/configuration.md`) all come from that table, so they cannot
//! drift apart. The environment is injected (a lookup function), so tests never touch the
//! process environment. Precedence: environment, then file, then default.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use evidence::retention::{LockMode, RetentionPeriod};

/// One configurable setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// Dotted key in the TOML file (`section.name`).
    pub key: &'static str,
    /// Environment variable that overrides the file.
    pub env: &'static str,
    /// Default when neither sets it.
    pub default: Option<&'static str>,
    /// Masked in `config check` and never logged.
    pub secret: bool,
    /// What it does.
    pub doc: &'static str,
}

const fn s(
    key: &'static str,
    env: &'static str,
    default: Option<&'static str>,
    doc: &'static str,
) -> Setting {
    Setting {
        key,
        env,
        default,
        secret: false,
        doc,
    }
}

const fn secret(key: &'static str, env: &'static str, doc: &'static str) -> Setting {
    Setting {
        key,
        env,
        default: None,
        secret: true,
        doc,
    }
}

/// Every setting kyc-archiver reads.
pub const SETTINGS: &[Setting] = &[
    // Alibaba Cloud ID Verification.
    s(
        "cloudauth.endpoint",
        "KYC_ARCHIVER_CLOUDAUTH_ENDPOINT",
        Some("cn-hongkong"),
        "CheckResult endpoint: a region id (cn-hongkong, ap-southeast-1, ap-southeast-5, ap-southeast-3), `<region>-vpc`, or a URL.",
    ),
    s(
        "cloudauth.allow_http",
        "KYC_ARCHIVER_CLOUDAUTH_ALLOW_HTTP",
        Some("false"),
        "Allow a plain-http endpoint URL (the local emulator only).",
    ),
    s(
        "cloudauth.access_key_id",
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        None,
        "Alibaba Cloud AccessKey id.",
    ),
    secret(
        "cloudauth.access_key_secret",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        "Alibaba Cloud AccessKey secret.",
    ),
    secret(
        "cloudauth.security_token",
        "ALIBABA_CLOUD_SECURITY_TOKEN",
        "STS security token, with temporary credentials.",
    ),
    s(
        "cloudauth.credentials_dir",
        "KYC_ARCHIVER_CLOUDAUTH_CREDENTIALS_DIR",
        None,
        "Directory holding files `access_key_id`, `access_key_secret` and optionally `security_token` (e.g. a mounted Kubernetes secret); used when the variables above are unset, re-read at start.",
    ),
    s(
        "cloudauth.signature",
        "KYC_ARCHIVER_CLOUDAUTH_SIGNATURE",
        Some("v3"),
        "Signature scheme: v3 (ACS3-HMAC-SHA256, the SDK default) or v2 (HMAC-SHA1).",
    ),
    s(
        "cloudauth.qps",
        "KYC_ARCHIVER_CLOUDAUTH_QPS",
        Some("10"),
        "CheckResult calls per second at most, shared by all workers of this process (the account limit is per product: eKYC 10, ID_OCR 10, FACE_LIVENESS 50).",
    ),
    s(
        "cloudauth.connect_timeout",
        "KYC_ARCHIVER_CLOUDAUTH_CONNECT_TIMEOUT",
        Some("5s"),
        "Connect timeout for CheckResult.",
    ),
    s(
        "cloudauth.request_timeout",
        "KYC_ARCHIVER_CLOUDAUTH_REQUEST_TIMEOUT",
        Some("30s"),
        "Whole-request timeout for CheckResult.",
    ),
    s(
        "cloudauth.max_attempts",
        "KYC_ARCHIVER_CLOUDAUTH_MAX_ATTEMPTS",
        Some("4"),
        "Attempts per CheckResult call for throttling, 5xx and network errors (exponential backoff with jitter).",
    ),
    // Store.
    s(
        "store.kind",
        "KYC_ARCHIVER_STORE",
        None,
        "Where bundles go: `local` or `s3`. Default: s3 when store.s3_bucket is set, else local.",
    ),
    s(
        "store.local_dir",
        "KYC_ARCHIVER_LOCAL_DIR",
        Some("./evidence"),
        "Root directory of the local store.",
    ),
    s(
        "store.s3_bucket",
        "KYC_ARCHIVER_S3_BUCKET",
        None,
        "S3 bucket.",
    ),
    s(
        "store.s3_prefix",
        "KYC_ARCHIVER_S3_PREFIX",
        Some(""),
        "Key prefix inside the bucket (e.g. `kyc/`).",
    ),
    s(
        "store.s3_endpoint",
        "AWS_ENDPOINT_URL",
        None,
        "S3 endpoint URL for S3-compatible servers (MinIO, SeaweedFS, Garage); unset for AWS. AWS_ENDPOINT_URL_S3 takes precedence.",
    ),
    s(
        "store.s3_region",
        "AWS_REGION",
        Some("us-east-1"),
        "S3 region (AWS_DEFAULT_REGION is read too).",
    ),
    s(
        "store.s3_path_style",
        "KYC_ARCHIVER_S3_PATH_STYLE",
        Some("false"),
        "Path-style addressing (`endpoint/bucket/key`), needed by most S3-compatible servers.",
    ),
    s(
        "store.s3_checksum",
        "KYC_ARCHIVER_S3_CHECKSUM",
        Some("sha256"),
        "Integrity header sent with every put and part: sha256 (x-amz-checksum-sha256), content-md5, or none.",
    ),
    s(
        "store.s3_part_size",
        "KYC_ARCHIVER_S3_PART_SIZE",
        Some("8MiB"),
        "Multipart part size (at least 5 MiB).",
    ),
    s(
        "store.s3_upload_concurrency",
        "KYC_ARCHIVER_S3_UPLOAD_CONCURRENCY",
        Some("3"),
        "Parts uploaded at once per video; memory per video is about part size times (this + 1).",
    ),
    s(
        "store.s3_sse",
        "KYC_ARCHIVER_S3_SSE",
        Some("none"),
        "Server-side encryption: none, s3 (SSE-S3, AES256) or kms (SSE-KMS).",
    ),
    s(
        "store.s3_sse_kms_key_id",
        "KYC_ARCHIVER_S3_SSE_KMS_KEY_ID",
        None,
        "KMS key id for SSE-KMS (default: the bucket's or account's key).",
    ),
    // Compliance.
    s(
        "archive.lock_mode",
        "KYC_ARCHIVER_LOCK_MODE",
        Some("none"),
        "S3 Object Lock mode for every object: none, governance or compliance (the bucket must have object lock enabled).",
    ),
    s(
        "archive.retention",
        "KYC_ARCHIVER_RETENTION",
        Some("5y"),
        "Retention period counted from the verification's completion (e.g. 5y, 84mo); sets retain-until.",
    ),
    s(
        "archive.legal_hold",
        "KYC_ARCHIVER_LEGAL_HOLD",
        Some("false"),
        "Place a legal hold on every object.",
    ),
    s(
        "archive.not_ready_wait",
        "KYC_ARCHIVER_NOT_READY_WAIT",
        Some("60s"),
        "How long one archive attempt waits while CheckResult answers ProcessNotCompleted.",
    ),
    // Video.
    s(
        "video.allowed_hosts",
        "KYC_ARCHIVER_VIDEO_ALLOWED_HOSTS",
        Some("*.oss-*.aliyuncs.com,*.oss-aliyuncs.com"),
        "Comma-separated host patterns the video may be downloaded from over https (`*` matches inside one label).",
    ),
    s(
        "video.allow_http_hosts",
        "KYC_ARCHIVER_VIDEO_ALLOW_HTTP_HOSTS",
        Some(""),
        "Comma-separated `host:port` also allowed over plain http (the local emulator only).",
    ),
    s(
        "video.max_bytes",
        "KYC_ARCHIVER_VIDEO_MAX_BYTES",
        Some("8GiB"),
        "Largest video accepted.",
    ),
    s(
        "video.connect_timeout",
        "KYC_ARCHIVER_VIDEO_CONNECT_TIMEOUT",
        Some("5s"),
        "Connect timeout for video downloads.",
    ),
    s(
        "video.read_timeout",
        "KYC_ARCHIVER_VIDEO_READ_TIMEOUT",
        Some("30s"),
        "Longest silence while reading a video.",
    ),
    s(
        "video.max_attempts",
        "KYC_ARCHIVER_VIDEO_MAX_ATTEMPTS",
        Some("8"),
        "Download attempts per video, resumptions included.",
    ),
    s(
        "video.max_refreshes",
        "KYC_ARCHIVER_VIDEO_MAX_REFRESHES",
        Some("4"),
        "Fresh video URLs requested per video.",
    ),
    // Queue and worker.
    s(
        "queue.amqp_url",
        "KYC_ARCHIVER_AMQP_URL",
        Some("amqp://guest:guest@127.0.0.1:5672/%2f"),
        "RabbitMQ URL (credentials in it are masked by config check).",
    ),
    s(
        "queue.prefix",
        "KYC_ARCHIVER_QUEUE_PREFIX",
        Some("kyc-archiver"),
        "Queue name prefix: <prefix>.work, <prefix>.retry.<N>s, <prefix>.dead, <prefix>.parked.",
    ),
    s(
        "queue.retry_delays",
        "KYC_ARCHIVER_RETRY_DELAYS",
        Some("10s,1m,5m,15m"),
        "Delays of the retry queues, shortest first; attempt n waits the n-th (then the last).",
    ),
    s(
        "queue.max_attempts",
        "KYC_ARCHIVER_MAX_ATTEMPTS",
        Some("12"),
        "Attempts before a retried or delayed message is dead-lettered.",
    ),
    s(
        "queue.delivery_limit",
        "KYC_ARCHIVER_DELIVERY_LIMIT",
        Some("100"),
        "x-delivery-limit of the work queue: deliveries before the broker itself dead-letters a message (a backstop above worker.crash_limit; it also counts returns of messages that only waited in a killed worker's prefetch window). Fixed when the queue is created: RabbitMQ refuses a different value for an existing queue (PRECONDITION_FAILED) and the worker exits; change it with a policy or a new queue.",
    ),
    s(
        "worker.concurrency",
        "KYC_ARCHIVER_CONCURRENCY",
        Some("8"),
        "Archive requests processed at once.",
    ),
    s(
        "worker.prefetch",
        "KYC_ARCHIVER_PREFETCH",
        Some("32"),
        "Unacknowledged deliveries held; the window in which the most urgent video goes first (at least concurrency).",
    ),
    s(
        "worker.shutdown_grace",
        "KYC_ARCHIVER_SHUTDOWN_GRACE",
        Some("60s"),
        "Time in-flight work gets to finish after SIGTERM/SIGINT; the rest returns to the queue.",
    ),
    s(
        "worker.in_process_retries",
        "KYC_ARCHIVER_IN_PROCESS_RETRIES",
        Some("2"),
        "Immediate retries of transient failures before a message goes to a retry queue.",
    ),
    s(
        "worker.crash_limit",
        "KYC_ARCHIVER_CRASH_LIMIT",
        Some("5"),
        "Unfinished attempts (evidence stored, never committed, more than failed attempts explain) after which a redelivered request runs alone; if it stops the worker again while alone it is dead-lettered with class crash_loop. 0 disables. Must be below queue.delivery_limit.",
    ),
    s(
        "http.listen",
        "KYC_ARCHIVER_HTTP_LISTEN",
        Some("127.0.0.1:9464"),
        "Address of /healthz, /readyz, /metrics, POST /v1/archive-requests and GET /v1/callback.",
    ),
    secret(
        "http.callback_token",
        "KYC_ARCHIVER_CALLBACK_TOKEN",
        "CallbackToken given to Initialize; enables GET /v1/callback, which must carry it.",
    ),
    s(
        "http.callback_merchant_biz_id",
        "KYC_ARCHIVER_CALLBACK_MERCHANT_BIZ_ID",
        None,
        "MerchantBizId used for callbacks that do not carry a merchantBizId query parameter.",
    ),
    // Logging.
    s(
        "log.format",
        "KYC_ARCHIVER_LOG_FORMAT",
        Some("text"),
        "Log format: text or json.",
    ),
    s(
        "log.level",
        "KYC_ARCHIVER_LOG",
        Some("info"),
        "Log filter (tracing env-filter syntax, e.g. `info,kyc_archiver=debug`).",
    ),
];

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The setting's default.
    Default,
    /// The configuration file.
    File,
    /// An environment variable.
    Env,
}

/// Why the configuration is unusable. Names the setting; never shows a secret value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// Path of the file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Toml {
        /// Path of the file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// One or more settings are invalid (every problem is listed).
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

/// The raw values of every setting, before typing.
#[derive(Debug, Clone, Default)]
pub struct RawConfig {
    values: BTreeMap<&'static str, (String, Source)>,
}

fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

impl RawConfig {
    /// Reads `file_text` (TOML, optional) and the environment through `env`.
    /// Unknown keys in the file are errors (a typo must not silently fall back to a default).
    pub fn load(
        file: Option<(&std::path::Path, &str)>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut raw = RawConfig::default();
        let mut problems = Vec::new();
        for setting in SETTINGS {
            if let Some(default) = setting.default {
                raw.values
                    .insert(setting.key, (default.to_owned(), Source::Default));
            }
        }
        if let Some((path, text)) = file {
            let table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Toml {
                        path: path.to_owned(),
                        message: e.message().to_owned(),
                    })?;
            for (section, value) in table {
                let Some(entries) = value.as_table() else {
                    problems.push(format!(
                        "{section}: expected a [{section}] table in {}",
                        path.display()
                    ));
                    continue;
                };
                for (name, value) in entries {
                    let key = format!("{section}.{name}");
                    let Some(setting) = setting(&key) else {
                        problems.push(format!("{key}: unknown setting in {}", path.display()));
                        continue;
                    };
                    let text = match value {
                        toml::Value::String(s) => s.clone(),
                        toml::Value::Array(items) => items
                            .iter()
                            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                            .collect::<Vec<_>>()
                            .join(","),
                        other => other.to_string(),
                    };
                    raw.values.insert(setting.key, (text, Source::File));
                }
            }
        }
        for setting in SETTINGS {
            let from_env = match setting.key {
                "store.s3_endpoint" => env("AWS_ENDPOINT_URL_S3").or_else(|| env(setting.env)),
                "store.s3_region" => env(setting.env).or_else(|| env("AWS_DEFAULT_REGION")),
                _ => env(setting.env),
            };
            if let Some(value) = from_env {
                raw.values.insert(setting.key, (value, Source::Env));
            }
        }
        if problems.is_empty() {
            Ok(raw)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The raw value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(|(v, _)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every setting with its value (secrets masked) and where it came from.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for setting in SETTINGS {
            let (value, source) = match self.values.get(setting.key) {
                Some((v, _)) if setting.secret && !v.is_empty() => {
                    ("********".to_owned(), self.values[setting.key].1)
                }
                Some((v, src)) if setting.key == "queue.amqp_url" => (mask_url_password(v), *src),
                Some((v, src)) => (v.clone(), *src),
                None => ("(unset)".to_owned(), Source::Default),
            };
            let from = match source {
                Source::Default => "default",
                Source::File => "file",
                Source::Env => setting.env,
            };
            out.push_str(&format!("{:<34} = {:<44} # {from}\n", setting.key, value));
        }
        out
    }
}

/// A configuration value that must not be printed (Debug shows it masked).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(********)")
    }
}

/// `amqp://user:password@host` → `amqp://user:********@host`.
pub fn mask_url_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("********"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Which store to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// A local directory.
    Local(PathBuf),
    /// S3 or an S3-compatible server.
    S3(S3Settings),
}

/// S3 settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// Bucket.
    pub bucket: String,
    /// Key prefix.
    pub prefix: String,
    /// Endpoint URL (S3-compatible servers).
    pub endpoint: Option<String>,
    /// Region.
    pub region: String,
    /// Path-style addressing.
    pub path_style: bool,
    /// `sha256`, `content-md5` or `none`.
    pub checksum: String,
    /// Part size in bytes.
    pub part_size: usize,
    /// Parts in flight per upload.
    pub upload_concurrency: usize,
    /// `none`, `s3` or `kms`.
    pub sse: String,
    /// KMS key for SSE-KMS.
    pub sse_kms_key_id: Option<String>,
}

/// Alibaba Cloud credentials as configured (the secret is kept out of Debug).
#[derive(Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// From the `ALIBABA_CLOUD_*` variables or the file.
    Values {
        /// AccessKey id.
        id: String,
        /// AccessKey secret.
        secret: String,
        /// STS token.
        token: Option<String>,
    },
    /// From files in a directory.
    Dir(PathBuf),
}

impl std::fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Values { id, token, .. } => f
                .debug_struct("Values")
                .field("id", id)
                .field("secret", &"********")
                .field("token", &token.as_ref().map(|_| "********"))
                .finish(),
            Self::Dir(d) => f.debug_tuple("Dir").field(d).finish(),
        }
    }
}

/// The typed, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// CheckResult endpoint.
    pub endpoint: cloudauth::Endpoint,
    /// Credentials (absent: only commands that never call CheckResult may run).
    pub credentials: Option<CredentialSource>,
    /// V2 or V3.
    pub signature: cloudauth::SignatureScheme,
    /// Client-side QPS limit.
    pub qps: NonZeroU32,
    /// CheckResult connect timeout.
    pub connect_timeout: Duration,
    /// CheckResult request timeout.
    pub request_timeout: Duration,
    /// CheckResult attempts for retry-soon errors.
    pub max_attempts: u32,
    /// The store.
    pub store: StoreKind,
    /// Object Lock mode.
    pub lock_mode: LockMode,
    /// Retention period.
    pub retention: RetentionPeriod,
    /// Legal hold by default.
    pub legal_hold: bool,
    /// ProcessNotCompleted wait.
    pub not_ready_wait: Duration,
    /// Video host patterns.
    pub video_allowed_hosts: Vec<String>,
    /// Video hosts allowed over http.
    pub video_allow_http_hosts: Vec<String>,
    /// Video size limit.
    pub video_max_bytes: u64,
    /// Video connect timeout.
    pub video_connect_timeout: Duration,
    /// Video read timeout.
    pub video_read_timeout: Duration,
    /// Video download attempts.
    pub video_max_attempts: u32,
    /// Fresh URLs per video.
    pub video_max_refreshes: u32,
    /// Broker URL (may carry a password: masked in Debug).
    pub amqp_url: Secret,
    /// Queue name prefix.
    pub queue_prefix: String,
    /// Retry queue delays.
    pub retry_delays: Vec<Duration>,
    /// Attempts before dead-lettering.
    pub max_attempts_queue: u32,
    /// Concurrent archive requests.
    pub concurrency: usize,
    /// Prefetch window.
    pub prefetch: u16,
    /// Shutdown grace period.
    pub shutdown_grace: Duration,
    /// In-process retries.
    pub in_process_retries: u32,
    /// Broker delivery limit of the work queue.
    pub delivery_limit: u32,
    /// Unfinished attempts that make a redelivered request a crash loop (0: off).
    pub crash_limit: u32,
    /// HTTP listen address.
    pub http_listen: SocketAddr,
    /// Callback token (enables the callback endpoint).
    pub callback_token: Option<Secret>,
    /// MerchantBizId for callbacks without one.
    pub callback_merchant_biz_id: Option<String>,
    /// `text` or `json`.
    pub log_json: bool,
    /// Log filter.
    pub log_level: String,
}

/// Parses sizes such as `16MiB`, `8GiB`, `5MB`, `1048576`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 16MiB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return Err(format!("{s:?} has an unknown size unit")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

fn list(s: Option<&str>) -> Vec<String> {
    s.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

struct Checker<'a> {
    raw: &'a RawConfig,
    problems: Vec<String>,
}

impl Checker<'_> {
    fn name(key: &str) -> String {
        setting(key).map_or_else(|| key.to_owned(), |s| format!("{} ({})", s.key, s.env))
    }

    fn parse<T>(&mut self, key: &str, f: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let value = self.raw.get(key)?;
        match f(value) {
            Ok(v) => Some(v),
            Err(e) => {
                self.problems.push(format!("{}: {e}", Self::name(key)));
                None
            }
        }
    }

    fn bool(&mut self, key: &str) -> bool {
        self.parse(key, |v| match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(format!("{v:?} is not a boolean (true or false)")),
        })
        .unwrap_or(false)
    }

    fn duration(&mut self, key: &str) -> Duration {
        self.parse(key, |v| {
            humantime::parse_duration(v).map_err(|e| format!("{v:?} is not a duration ({e})"))
        })
        .unwrap_or_default()
    }

    fn number<T>(&mut self, key: &str, min: T) -> Option<T>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        self.parse(key, |v| {
            let n: T = v
                .trim()
                .parse()
                .map_err(|_| format!("{v:?} is not a number"))?;
            if n < min {
                Err(format!("must be at least {min}"))
            } else {
                Ok(n)
            }
        })
    }

    fn require(&mut self, key: &str, why: &str) -> Option<String> {
        let v = self.raw.get(key).map(str::to_owned);
        if v.is_none() {
            self.problems
                .push(format!("{}: required {why}", Self::name(key)));
        }
        v
    }
}

impl Config {
    /// Types and validates every setting, reporting all problems at once.
    pub fn from_raw(raw: &RawConfig) -> Result<Self, ConfigError> {
        let mut c = Checker {
            raw,
            problems: Vec::new(),
        };
        let allow_http = c.bool("cloudauth.allow_http");
        let endpoint = c.parse("cloudauth.endpoint", |v| {
            cloudauth::Endpoint::parse(v, allow_http).map_err(|e| e.to_string())
        });
        let credentials = match (
            raw.get("cloudauth.access_key_id"),
            raw.get("cloudauth.credentials_dir"),
        ) {
            (Some(id), _) => {
                let secret = c.require(
                    "cloudauth.access_key_secret",
                    "with ALIBABA_CLOUD_ACCESS_KEY_ID",
                );
                secret.map(|secret| CredentialSource::Values {
                    id: id.to_owned(),
                    secret,
                    token: raw.get("cloudauth.security_token").map(str::to_owned),
                })
            }
            (None, Some(dir)) => Some(CredentialSource::Dir(PathBuf::from(dir))),
            // Only commands that call CheckResult need credentials; they check with
            // `require_credentials` before connecting anywhere.
            (None, None) => None,
        };
        let signature = c.parse("cloudauth.signature", |v| {
            match v.to_ascii_lowercase().as_str() {
                "v3" | "acs3-hmac-sha256" => Ok(cloudauth::SignatureScheme::V3),
                "v2" | "hmac-sha1" => Ok(cloudauth::SignatureScheme::V2),
                _ => Err(format!("{v:?} is not v3 or v2")),
            }
        });
        let qps = c.parse("cloudauth.qps", |v| {
            v.trim()
                .parse::<NonZeroU32>()
                .map_err(|_| format!("{v:?} is not a positive integer"))
        });
        let connect_timeout = c.duration("cloudauth.connect_timeout");
        let request_timeout = c.duration("cloudauth.request_timeout");
        let max_attempts = c.number("cloudauth.max_attempts", 1u32).unwrap_or(1);

        let kind = raw
            .get("store.kind")
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| {
                if raw.get("store.s3_bucket").is_some() {
                    "s3".to_owned()
                } else {
                    "local".to_owned()
                }
            });
        let store = match kind.as_str() {
            "local" => raw
                .get("store.local_dir")
                .map(|d| StoreKind::Local(PathBuf::from(d)))
                .or_else(|| {
                    c.problems.push(format!(
                        "{}: required for the local store",
                        Checker::name("store.local_dir")
                    ));
                    None
                }),
            "s3" => {
                let bucket = c.require("store.s3_bucket", "for the s3 store");
                let part_size = c.parse("store.s3_part_size", parse_size).and_then(|n| {
                    if n < 5 << 20 {
                        c.problems.push(format!(
                            "{}: must be at least 5MiB",
                            Checker::name("store.s3_part_size")
                        ));
                        None
                    } else {
                        usize::try_from(n).ok()
                    }
                });
                let checksum = c.parse("store.s3_checksum", |v| {
                    match v.to_ascii_lowercase().as_str() {
                        m @ ("sha256" | "content-md5" | "none") => Ok(m.to_owned()),
                        _ => Err(format!("{v:?} is not sha256, content-md5 or none")),
                    }
                });
                let sse = c.parse("store.s3_sse", |v| match v.to_ascii_lowercase().as_str() {
                    m @ ("none" | "s3" | "kms") => Ok(m.to_owned()),
                    _ => Err(format!("{v:?} is not none, s3 or kms")),
                });
                let endpoint = c.parse("store.s3_endpoint", |v| {
                    url::Url::parse(v)
                        .map(|_| v.to_owned())
                        .map_err(|e| format!("{v:?} is not a URL ({e})"))
                });
                let concurrency = c.number("store.s3_upload_concurrency", 1usize);
                let path_style = c.bool("store.s3_path_style");
                match (bucket, part_size, checksum, sse, concurrency) {
                    (
                        Some(bucket),
                        Some(part_size),
                        Some(checksum),
                        Some(sse),
                        Some(upload_concurrency),
                    ) => Some(StoreKind::S3(S3Settings {
                        bucket,
                        prefix: raw.get("store.s3_prefix").unwrap_or_default().to_owned(),
                        endpoint,
                        region: raw.get("store.s3_region").unwrap_or("us-east-1").to_owned(),
                        path_style,
                        checksum,
                        part_size,
                        upload_concurrency,
                        sse,
                        sse_kms_key_id: raw.get("store.s3_sse_kms_key_id").map(str::to_owned),
                    })),
                    _ => None,
                }
            }
            other => {
                c.problems.push(format!(
                    "{}: {other:?} is not local or s3",
                    Checker::name("store.kind")
                ));
                None
            }
        };

        let lock_mode = c
            .parse("archive.lock_mode", |v| v.parse::<LockMode>())
            .unwrap_or_default();
        if lock_mode != LockMode::None && matches!(store, Some(StoreKind::Local(_))) {
            c.problems.push(format!(
                "{}: object lock needs the s3 store; the local directory cannot enforce retention",
                Checker::name("archive.lock_mode")
            ));
        }
        let retention = c.parse("archive.retention", |v| v.parse::<RetentionPeriod>());
        let legal_hold = c.bool("archive.legal_hold");
        let not_ready_wait = c.duration("archive.not_ready_wait");
        let video_max_bytes = c.parse("video.max_bytes", parse_size).unwrap_or(0);
        let video_connect_timeout = c.duration("video.connect_timeout");
        let video_read_timeout = c.duration("video.read_timeout");
        let video_max_attempts = c.number("video.max_attempts", 1u32).unwrap_or(1);
        let video_max_refreshes = c.number("video.max_refreshes", 0u32).unwrap_or(0);
        let amqp_url = c.parse("queue.amqp_url", |v| {
            let ok = v.starts_with("amqp://") || v.starts_with("amqps://");
            if ok {
                Ok(v.to_owned())
            } else {
                Err("must start with amqp:// or amqps://".to_owned())
            }
        });
        let retry_delays = c
            .parse("queue.retry_delays", |v| {
                let delays: Result<Vec<Duration>, String> = v
                    .split(',')
                    .map(|d| {
                        humantime::parse_duration(d.trim())
                            .map_err(|e| format!("{d:?} is not a duration ({e})"))
                    })
                    .collect();
                match delays {
                    Ok(d) if d.is_empty() || d.iter().any(|d| d.as_secs() == 0) => {
                        Err("needs one or more delays of at least 1s".to_owned())
                    }
                    other => other,
                }
            })
            .unwrap_or_default();
        let max_attempts_queue = c.number("queue.max_attempts", 1u32).unwrap_or(1);
        let concurrency = c.number("worker.concurrency", 1usize).unwrap_or(1);
        let prefetch = c.number("worker.prefetch", 1u16).unwrap_or(1);
        if usize::from(prefetch) < concurrency {
            c.problems.push(format!(
                "{}: must be at least worker.concurrency",
                Checker::name("worker.prefetch")
            ));
        }
        let shutdown_grace = c.duration("worker.shutdown_grace");
        let in_process_retries = c.number("worker.in_process_retries", 0u32).unwrap_or(0);
        let delivery_limit = c.number("queue.delivery_limit", 1u32).unwrap_or(1);
        let crash_limit = c.number("worker.crash_limit", 0u32).unwrap_or(0);
        if crash_limit >= delivery_limit {
            c.problems.push(format!(
                "{}: must be below queue.delivery_limit ({delivery_limit}), or the broker dead-letters a crash loop first, without a reason",
                Checker::name("worker.crash_limit")
            ));
        }
        let http_listen = c.parse("http.listen", |v| {
            v.parse::<SocketAddr>()
                .map_err(|_| format!("{v:?} is not an address such as 0.0.0.0:9464"))
        });
        let log_json = c
            .parse("log.format", |v| match v.to_ascii_lowercase().as_str() {
                "json" => Ok(true),
                "text" => Ok(false),
                _ => Err(format!("{v:?} is not text or json")),
            })
            .unwrap_or(false);

        if !c.problems.is_empty() {
            return Err(ConfigError::Invalid(c.problems));
        }
        match (
            endpoint,
            signature,
            qps,
            store,
            retention,
            amqp_url,
            http_listen,
        ) {
            (
                Some(endpoint),
                Some(signature),
                Some(qps),
                Some(store),
                Some(retention),
                Some(amqp_url),
                Some(http_listen),
            ) => Ok(Config {
                amqp_url: Secret(amqp_url),
                queue_prefix: raw.get("queue.prefix").unwrap_or("kyc-archiver").to_owned(),
                retry_delays,
                max_attempts_queue,
                concurrency,
                prefetch,
                shutdown_grace,
                in_process_retries,
                delivery_limit,
                crash_limit,
                http_listen,
                callback_token: raw.get("http.callback_token").map(|t| Secret(t.to_owned())),
                callback_merchant_biz_id: raw
                    .get("http.callback_merchant_biz_id")
                    .map(str::to_owned),
                endpoint,
                credentials,
                signature,
                qps,
                connect_timeout,
                request_timeout,
                max_attempts,
                store,
                lock_mode,
                retention,
                legal_hold,
                not_ready_wait,
                video_allowed_hosts: list(raw.get("video.allowed_hosts")),
                video_allow_http_hosts: list(raw.get("video.allow_http_hosts")),
                video_max_bytes,
                video_connect_timeout,
                video_read_timeout,
                video_max_attempts,
                video_max_refreshes,
                log_json,
                log_level: raw.get("log.level").unwrap_or("info").to_owned(),
            }),
            _ => Err(ConfigError::Invalid(vec![
                "incomplete configuration".to_owned(),
            ])),
        }
    }

    /// Fails unless Alibaba Cloud credentials are configured (for `run` and `archive`).
    pub fn require_credentials(&self) -> Result<&CredentialSource, ConfigError> {
        self.credentials.as_ref().ok_or_else(|| {
            ConfigError::Invalid(vec![
                "cloudauth.access_key_id (ALIBABA_CLOUD_ACCESS_KEY_ID): required, or cloudauth.credentials_dir (KYC_ARCHIVER_CLOUDAUTH_CREDENTIALS_DIR)"
                    .to_owned(),
            ])
        })
    }

    /// Loads the file (if any) and the environment, then validates.
    pub fn load(
        path: Option<&std::path::Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(RawConfig, Config), ConfigError> {
        let text = match path {
            Some(p) => Some(
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?,
            ),
            None => None,
        };
        let raw = RawConfig::load(path.zip(text.as_deref()), env)?;
        let config = Config::from_raw(&raw)?;
        Ok((raw, config))
    }
}

/// The configuration reference in Markdown, generated from [`SETTINGS`].
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from `crates/kyc-archiver/src/config.rs` (`kyc-archiver config reference`); do not edit by hand.\n\n\
         Every setting can be given in the TOML file passed with `--config` (as `[section]` / `name = value`) \
         or through its environment variable, which wins. Secrets are masked by `kyc-archiver config check`.\n\n\
         | key | environment | default | description |\n|---|---|---|---|\n",
    );
    for s in SETTINGS {
        let default = match (s.secret, s.default) {
            (true, _) => "(secret)".to_owned(),
            (false, Some("")) => "(empty)".to_owned(),
            (false, Some(d)) => format!("`{d}`"),
            (false, None) => "(unset)".to_owned(),
        };
        out.push_str(&format!(
            "| `{}` | `{}` | {default} | {} |\n",
            s.key,
            s.env,
            s.doc.replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const CREDS: [(&str, &str); 2] = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIexample"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "very-secret-value"),
    ];

    #[test]
    fn defaults_give_a_local_store_and_the_hong_kong_endpoint() {
        let raw = RawConfig::load(None, &env(&CREDS)).unwrap();
        let c = Config::from_raw(&raw).unwrap();
        assert_eq!(c.store, StoreKind::Local(PathBuf::from("./evidence")));
        assert_eq!(
            c.endpoint.url(),
            cloudauth::Endpoint::public(cloudauth::Region::CnHongkong).url()
        );
        assert_eq!(c.qps.get(), 10);
        assert_eq!(c.retention, RetentionPeriod::years(5));
        assert_eq!(
            c.video_allowed_hosts,
            vec!["*.oss-*.aliyuncs.com", "*.oss-aliyuncs.com"]
        );
    }

    #[test]
    fn a_bucket_selects_s3_and_aws_variables_are_honoured() {
        let mut pairs = CREDS.to_vec();
        pairs.extend([
            ("KYC_ARCHIVER_S3_BUCKET", "evidence"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:8333"),
            ("AWS_DEFAULT_REGION", "ap-southeast-1"),
            ("KYC_ARCHIVER_S3_PATH_STYLE", "true"),
        ]);
        let c = Config::from_raw(&RawConfig::load(None, &env(&pairs)).unwrap()).unwrap();
        let StoreKind::S3(s3) = c.store else {
            panic!("expected s3")
        };
        assert_eq!(s3.bucket, "evidence");
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:8333"));
        assert_eq!(s3.region, "ap-southeast-1");
        assert!(s3.path_style);
        assert_eq!(s3.part_size, 8 << 20);
    }

    #[test]
    fn file_values_are_overridden_by_the_environment() {
        let file = "[cloudauth]\nqps = 25\nendpoint = \"ap-southeast-1-vpc\"\n[video]\nallowed_hosts = [\"a.example\", \"b.example\"]\n";
        let mut pairs = CREDS.to_vec();
        pairs.push(("KYC_ARCHIVER_CLOUDAUTH_QPS", "7"));
        let raw =
            RawConfig::load(Some((std::path::Path::new("k.toml"), file)), &env(&pairs)).unwrap();
        let c = Config::from_raw(&raw).unwrap();
        assert_eq!(c.qps.get(), 7);
        assert!(
            c.endpoint
                .url()
                .contains("cloudauth-intl-vpc.ap-southeast-1.aliyuncs.com")
        );
        assert_eq!(c.video_allowed_hosts, vec!["a.example", "b.example"]);
    }

    #[test]
    fn every_problem_is_reported_with_the_setting_name_and_no_secret() {
        let pairs = [
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIexample"),
            ("KYC_ARCHIVER_CLOUDAUTH_QPS", "0"),
            ("KYC_ARCHIVER_STORE", "s3"),
            ("KYC_ARCHIVER_S3_PART_SIZE", "1MiB"),
            ("KYC_ARCHIVER_LOCK_MODE", "forever"),
            ("KYC_ARCHIVER_CLOUDAUTH_ENDPOINT", "http://127.0.0.1:8787"),
        ];
        let err = Config::from_raw(&RawConfig::load(None, &env(&pairs)).unwrap())
            .unwrap_err()
            .to_string();
        let no_creds = Config::from_raw(&RawConfig::load(None, &env(&[])).unwrap()).unwrap();
        assert!(
            no_creds
                .require_credentials()
                .unwrap_err()
                .to_string()
                .contains("ALIBABA_CLOUD_ACCESS_KEY_ID")
        );
        for needle in [
            "cloudauth.access_key_secret (ALIBABA_CLOUD_ACCESS_KEY_SECRET): required",
            "cloudauth.qps (KYC_ARCHIVER_CLOUDAUTH_QPS)",
            "store.s3_bucket (KYC_ARCHIVER_S3_BUCKET): required",
            "store.s3_part_size (KYC_ARCHIVER_S3_PART_SIZE): must be at least 5MiB",
            "archive.lock_mode (KYC_ARCHIVER_LOCK_MODE)",
            "cloudauth.endpoint (KYC_ARCHIVER_CLOUDAUTH_ENDPOINT)",
        ] {
            assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
        }
    }

    #[test]
    fn unknown_file_keys_and_lock_on_local_store_are_refused() {
        let file = "[cloudauth]\nqpss = 3\n";
        let err = RawConfig::load(Some((std::path::Path::new("k.toml"), file)), &env(&CREDS))
            .unwrap_err();
        assert!(
            err.to_string().contains("cloudauth.qpss: unknown setting"),
            "{err}"
        );
        let mut pairs = CREDS.to_vec();
        pairs.push(("KYC_ARCHIVER_LOCK_MODE", "compliance"));
        let err = Config::from_raw(&RawConfig::load(None, &env(&pairs)).unwrap()).unwrap_err();
        assert!(
            err.to_string().contains("object lock needs the s3 store"),
            "{err}"
        );
    }

    #[test]
    fn the_crash_limit_must_stay_below_the_broker_delivery_limit() {
        let c = Config::from_raw(&RawConfig::load(None, &env(&CREDS)).unwrap()).unwrap();
        assert_eq!((c.crash_limit, c.delivery_limit), (5, 100));
        let mut pairs = CREDS.to_vec();
        pairs.push(("KYC_ARCHIVER_CRASH_LIMIT", "20"));
        pairs.push(("KYC_ARCHIVER_DELIVERY_LIMIT", "20"));
        let err = Config::from_raw(&RawConfig::load(None, &env(&pairs)).unwrap()).unwrap_err();
        assert!(
            err.to_string()
                .contains("worker.crash_limit (KYC_ARCHIVER_CRASH_LIMIT): must be below queue.delivery_limit (20)"),
            "{err}"
        );
        pairs[CREDS.len()].1 = "0";
        let c = Config::from_raw(&RawConfig::load(None, &env(&pairs)).unwrap()).unwrap();
        assert_eq!((c.crash_limit, c.delivery_limit), (0, 20));
    }

    #[test]
    fn rendering_masks_secrets() {
        let mut pairs = CREDS.to_vec();
        pairs.push(("ALIBABA_CLOUD_SECURITY_TOKEN", "sts-token-value"));
        let raw = RawConfig::load(None, &env(&pairs)).unwrap();
        let shown = raw.render();
        assert!(shown.contains("LTAIexample"));
        assert!(
            !shown.contains("very-secret-value") && !shown.contains("sts-token-value"),
            "{shown}"
        );
        assert!(shown.contains("********"));
        let c = Config::from_raw(&raw).unwrap();
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("very-secret-value") && !debug.contains("sts-token-value"),
            "{debug}"
        );
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("8GiB"), Ok(8 << 30));
        assert_eq!(parse_size("5MB"), Ok(5_000_000));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }

    /// `docs/configuration.md` is generated; regenerate with
    /// `cargo run -p kyc-archiver -- config reference > docs/configuration.md`.
    #[test]
    fn published_reference_is_up_to_date() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
        let published = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            published == reference_markdown(),
            "{} is out of date: run `cargo run -p kyc-archiver -- config reference > docs/configuration.md`",
            path.display()
        );
    }

    #[test]
    fn reference_lists_every_setting() {
        let md = reference_markdown();
        for s in SETTINGS {
            assert!(
                md.contains(s.key) && md.contains(s.env),
                "{} missing",
                s.key
            );
        }
    }
}
