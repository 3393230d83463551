//! The subcommands, and what they share: the services (emulator, S3, RabbitMQ), the archiver's
//! environment, its store, and running the release `kyc-archiver` binary.

pub mod baseline;
pub mod burst;
pub mod criterion_summary;
pub mod hash_file;
pub mod large_video;
pub mod summary;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use cloudauth_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use kyc_archiver::config::{Config, SETTINGS, StoreKind, parse_size};
use kyc_archiver::store::{ObjectStore, S3Store};

/// Access key pair the emulator accepts by default.
pub const EMULATOR_KEY: (&str, &str) = ("testid", "testsecret");

/// Options every S3 benchmark takes.
#[derive(Debug, Clone, clap::Args)]
pub struct S3Opts {
    /// Bucket to archive into (created if missing).
    #[arg(long, default_value = "kyc-bench")]
    pub bucket: String,
    /// Multipart part size the archiver and the baseline use (the archiver's default when
    /// omitted).
    #[arg(long, default_value_t = archiver_default("KYC_ARCHIVER_S3_PART_SIZE"))]
    pub part_size: String,
    /// Parts in flight per upload for the archiver and the baseline (the archiver's default
    /// when omitted).
    #[arg(long, default_value_t = archiver_default("KYC_ARCHIVER_S3_UPLOAD_CONCURRENCY"))]
    pub upload_concurrency: String,
    /// The `kyc-archiver` binary (default: next to this one, i.e. the same build profile).
    #[arg(long)]
    pub archiver_bin: Option<PathBuf>,
    /// SeaweedFS's pid file (`<state dir>/weed.pid`), to report the server's CPU too.
    #[arg(long, env = "KYC_BENCH_SEAWEEDFS_PID_FILE")]
    pub seaweedfs_pid_file: Option<PathBuf>,
}

/// The compiled-in default of an archiver setting, by environment variable.
fn archiver_default(env: &str) -> String {
    SETTINGS
        .iter()
        .find(|s| s.env == env)
        .and_then(|s| s.default)
        .unwrap_or_default()
        .to_owned()
}

/// Upload tuning as reported: part size in bytes and parts in flight.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Tuning {
    /// Part size, bytes.
    pub part_size: u64,
    /// Parts in flight per upload.
    pub upload_concurrency: usize,
}

impl S3Opts {
    /// The tuning, parsed and checked.
    pub fn tuning(&self) -> anyhow::Result<Tuning> {
        let part_size = parse_size(&self.part_size)
            .map_err(anyhow::Error::msg)
            .context("--part-size")?;
        let upload_concurrency = self
            .upload_concurrency
            .parse()
            .context("--upload-concurrency is not a number")?;
        Ok(Tuning {
            part_size,
            upload_concurrency,
        })
    }

    /// The archiver binary to run.
    pub fn archiver_bin(&self) -> anyhow::Result<PathBuf> {
        match &self.archiver_bin {
            Some(p) => Ok(p.clone()),
            None => sibling_binary("kyc-archiver"),
        }
    }

    /// SeaweedFS's pid, if its pid file was given.
    pub fn seaweedfs_pid(&self) -> anyhow::Result<Option<u32>> {
        self.seaweedfs_pid_file
            .as_deref()
            .map(kyc_bench::measure::read_pid_file)
            .transpose()
            .context("seaweedfs pid file")
    }
}

/// A binary in the same directory as this one (`target/release/<name>`).
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("cannot locate the kyc-bench binary")?;
    let path = me
        .parent()
        .map(|d| d.join(name))
        .context("kyc-bench binary has no parent directory")?;
    if !path.is_file() {
        bail!(
            "{} not found; build it (cargo build --release -p {name}) or pass its path",
            path.display()
        );
    }
    Ok(path)
}

/// The S3 server from the standard `AWS_*` variables (as printed by `scripts/seaweedfs`).
#[derive(Debug, Clone)]
pub struct S3Env {
    vars: BTreeMap<String, String>,
}

impl S3Env {
    /// Reads `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_REGION`;
    /// refuses an endpoint that is not on loopback.
    pub fn from_env() -> anyhow::Result<Self> {
        let mut vars = BTreeMap::new();
        for name in [
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            let v = std::env::var(name).with_context(|| {
                format!("{name} is not set (source the s3.env that scripts/seaweedfs prints)")
            })?;
            vars.insert(name.to_owned(), v);
        }
        vars.insert(
            "AWS_REGION".to_owned(),
            std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned()),
        );
        let endpoint = &vars["AWS_ENDPOINT_URL"];
        let host = endpoint
            .split_once("://")
            .map(|(_, rest)| rest)
            .and_then(|rest| rest.split(['/', ':']).next())
            .unwrap_or_default();
        if !(host == "localhost" || host == "[::1]" || host.starts_with("127.")) {
            bail!("AWS_ENDPOINT_URL must point at loopback; benchmarks never leave the machine");
        }
        Ok(Self { vars })
    }

    /// The variables, for a child's environment.
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }
}

/// Starts the emulator in this process on a free loopback port.
pub async fn start_emulator(request_log_capacity: usize) -> anyhow::Result<RunningEmulator> {
    let config = EmulatorConfig {
        request_log_capacity: request_log_capacity
            .max(EmulatorConfig::default().request_log_capacity),
        ..EmulatorConfig::default()
    };
    Emulator::start(config, "127.0.0.1:0".parse()?)
        .await
        .context("cannot start the emulator")
}

/// Everything the archiver child is configured with, as environment variables.
#[derive(Debug, Clone)]
pub struct ArchiverEnv {
    /// The variables (the child gets exactly these plus `PATH`).
    pub vars: BTreeMap<String, String>,
}

impl ArchiverEnv {
    /// An archiver that calls `emulator` and archives into `bucket`/`store_prefix` on S3.
    pub fn new(
        emulator: &RunningEmulator,
        s3: &S3Env,
        opts: &S3Opts,
        store_prefix: &str,
        qps: u32,
    ) -> Self {
        let mut vars: BTreeMap<String, String> = s3.vars().clone();
        let endpoint = emulator.endpoint();
        let settings: [(&str, String); 13] = [
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", EMULATOR_KEY.0.to_owned()),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", EMULATOR_KEY.1.to_owned()),
            ("KYC_ARCHIVER_CLOUDAUTH_ENDPOINT", emulator.base_url()),
            ("KYC_ARCHIVER_CLOUDAUTH_ALLOW_HTTP", "true".to_owned()),
            ("KYC_ARCHIVER_CLOUDAUTH_QPS", qps.to_string()),
            ("KYC_ARCHIVER_VIDEO_ALLOW_HTTP_HOSTS", endpoint),
            ("KYC_ARCHIVER_STORE", "s3".to_owned()),
            ("KYC_ARCHIVER_S3_BUCKET", opts.bucket.clone()),
            ("KYC_ARCHIVER_S3_PREFIX", store_prefix.to_owned()),
            ("KYC_ARCHIVER_S3_PATH_STYLE", "true".to_owned()),
            ("KYC_ARCHIVER_S3_PART_SIZE", opts.part_size.clone()),
            (
                "KYC_ARCHIVER_S3_UPLOAD_CONCURRENCY",
                opts.upload_concurrency.clone(),
            ),
            ("KYC_ARCHIVER_LOG", "warn".to_owned()),
        ];
        for (k, v) in settings {
            vars.insert(k.to_owned(), v);
        }
        Self { vars }
    }

    /// Sets (or replaces) one variable.
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.vars.insert(name.to_owned(), value.into());
        self
    }

    /// The archiver's own validated configuration for these variables.
    pub fn config(&self) -> anyhow::Result<Config> {
        let lookup = |name: &str| self.vars.get(name).cloned();
        let (_, config) =
            Config::load(None, &lookup).context("the archiver rejects the benchmark settings")?;
        Ok(config)
    }

    /// The store the archiver writes to (the project's own `S3Store`).
    pub async fn store(&self) -> anyhow::Result<Arc<dyn ObjectStore>> {
        Ok(kyc_archiver::app::store(&self.config()?).await?)
    }

    /// Creates the bucket if it does not exist.
    pub async fn ensure_bucket(&self) -> anyhow::Result<()> {
        let StoreKind::S3(s3) = &self.config()?.store else {
            bail!("the benchmark store is not s3");
        };
        let store = S3Store::new(kyc_archiver::app::s3_config(s3)).await?;
        store
            .create_bucket(false)
            .await
            .context("cannot create the benchmark bucket")
    }

    /// `program args…` with exactly these variables plus `PATH`.
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.vars);
        c
    }
}

/// Deletes every object under `prefix` in `store` (benchmark data only).
pub async fn delete_prefix(store: &dyn ObjectStore, prefix: &str) -> anyhow::Result<usize> {
    let objects = store.list(prefix).await?;
    for o in &objects {
        store.delete(&o.key).await?;
    }
    Ok(objects.len())
}

/// Writes `report` to `path` if given, and says so on stderr.
pub fn write_report<S: serde::Serialize, R: serde::Serialize>(
    report: &kyc_bench::report::Report<S, R>,
    path: Option<&Path>,
) -> anyhow::Result<()> {
    if let Some(path) = path {
        report.write(path)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// A short random-enough suffix for names of this run (queues, prefixes).
pub fn run_id() -> String {
    let now = chrono::Utc::now();
    format!("{}-{}", now.format("%Y%m%dT%H%M%S"), std::process::id())
}
