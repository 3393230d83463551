//! [`S3Store`]: S3 and S3-compatible object storage through `aws-sdk-s3`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    BucketLocationConstraint, ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart,
    CreateBucketConfiguration, ObjectLockLegalHoldStatus, ObjectLockMode, ServerSideEncryption,
    Tag, Tagging,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use md5::Md5;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use tokio::task::JoinSet;

use super::key::{MAX_KEY_BYTES, validate_key, validate_prefix};
use super::{
    ByteStream, LockMode, ObjectInfo, ObjectLock, ObjectStore, PutOptions, SHA256_METADATA_KEY,
    StoreError, Stored,
};

/// Smallest part S3 accepts (except the last part of an upload).
pub const MIN_PART_SIZE: usize = 5 << 20;
/// Default part size of streamed uploads.
pub const DEFAULT_PART_SIZE: usize = 8 << 20;
/// Largest part S3 accepts.
pub const MAX_PART_SIZE: usize = 5 << 30;
/// Most parts one multipart upload may have.
pub const MAX_PARTS: u64 = 10_000;
/// Default number of parts uploaded concurrently.
pub const DEFAULT_UPLOAD_CONCURRENCY: usize = 3;
/// Largest body of a single `PutObject`.
const MAX_SINGLE_PUT: usize = 5 << 30;
/// Bodies at least this large are hashed on the blocking pool.
const HASH_OFFLOAD: usize = 1 << 20;
/// Tag under which a multipart object's SHA-256 is recorded after completion.
const SHA256_TAG: &str = SHA256_METADATA_KEY;

/// Which integrity header the store sends with every written body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChecksumMode {
    /// `x-amz-checksum-sha256` (computed by the store) on `PutObject` and on every `UploadPart`,
    /// with the SHA-256 checksum algorithm declared on `CreateMultipartUpload`.
    #[default]
    Sha256,
    /// `Content-MD5` on `PutObject` and every `UploadPart`, for servers without
    /// `x-amz-checksum-*` support. Object lock needs this or `Sha256`.
    ContentMd5,
    /// Nothing beyond the SigV4 payload hash. Not usable with object lock.
    None,
}

/// Server-side encryption requested on every write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sse {
    /// SSE-S3 (`AES256`): keys managed by the store.
    S3,
    /// SSE-KMS (`aws:kms`), with the bucket's or account's default key when `key_id` is `None`.
    ///
    /// SeaweedFS without a configured KMS answers such writes with HTTP 500 `InternalError`,
    /// which this store must report as [`StoreError::Unavailable`] (retryable); configuration
    /// should only enable it where a KMS exists.
    Kms {
        /// KMS key id or ARN.
        key_id: Option<String>,
    },
}

/// Where the store's credentials come from.
#[derive(Clone, Default)]
pub enum S3Credentials {
    /// The standard AWS chain: `AWS_*` environment variables, profile, web identity, container
    /// and instance metadata.
    #[default]
    Default,
    /// Fixed keys (tests, or configuration that names them explicitly).
    Static {
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: SecretString,
    },
}

impl S3Credentials {
    /// Fixed keys.
    pub fn from_static(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        Self::Static {
            access_key_id: access_key_id.into(),
            secret_access_key: SecretString::from(secret_access_key.into()),
        }
    }
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("Default"),
            Self::Static { .. } => f.write_str("Static { .. }"),
        }
    }
}

/// Configuration of an [`S3Store`].
#[derive(Debug, Clone)]
pub struct S3Config {
    /// Bucket name.
    pub bucket: String,
    /// Root prefix inside the bucket (`""` for the whole bucket); stored with a trailing `/`.
    pub prefix: String,
    /// Endpoint of an S3-compatible server; `None` for AWS or `AWS_ENDPOINT_URL(_S3)`.
    pub endpoint_url: Option<String>,
    /// Region to sign for; `None` for the standard chain (`AWS_REGION`, profile), falling back
    /// to `us-east-1`.
    pub region: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), needed by most S3-compatible servers.
    pub force_path_style: bool,
    /// Integrity header sent with written bodies.
    pub checksum_mode: ChecksumMode,
    /// Part size of streamed uploads, at least [`MIN_PART_SIZE`]; grown per upload when a size
    /// hint needs more than [`MAX_PARTS`] parts.
    pub part_size: usize,
    /// Parts uploaded concurrently; memory per stream ≈ `part_size × (upload_concurrency + 1)`.
    pub upload_concurrency: usize,
    /// Server-side encryption for every write.
    pub sse: Option<Sse>,
    /// Credentials source.
    pub credentials: S3Credentials,
    /// Time limit of one attempt of one request (one part, one put); `None` for no limit.
    /// Streamed downloads are not limited by it once the response headers arrived.
    pub attempt_timeout: Option<Duration>,
}

impl S3Config {
    /// Defaults for `bucket`: no prefix, endpoint/region/credentials from the environment,
    /// virtual-host addressing, SHA-256 checksums, 8 MiB parts, 3 concurrent parts, no SSE,
    /// 5-minute attempt timeout.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: String::new(),
            endpoint_url: None,
            region: None,
            force_path_style: false,
            checksum_mode: ChecksumMode::default(),
            part_size: DEFAULT_PART_SIZE,
            upload_concurrency: DEFAULT_UPLOAD_CONCURRENCY,
            sse: None,
            credentials: S3Credentials::default(),
            attempt_timeout: Some(Duration::from_secs(300)),
        }
    }
}

/// A multipart upload that was started and neither completed nor aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    /// The key, relative to the store's root.
    pub key: String,
    /// The upload id.
    pub upload_id: String,
}

/// An object store in an S3 bucket (AWS or S3-compatible, such as SeaweedFS).
///
/// - Small bodies: one `PutObject` with content type, metadata (`sha256` plus the caller's),
///   the integrity header of the [`ChecksumMode`], `If-None-Match: *` when asked, object lock
///   and legal hold, SSE.
/// - Streams: parts of `part_size` filled from the stream; a stream shorter than one part (or
///   exactly one part) is a single `PutObject`. Otherwise a multipart upload with at most
///   `upload_concurrency` parts in flight (memory ≈ `part_size × (upload_concurrency + 1)`),
///   the whole-object SHA-256 computed in stream order, `If-None-Match: *` on
///   `CompleteMultipartUpload` when asked, and the upload aborted on any error (and, best
///   effort, when the future is dropped). Since metadata is fixed at creation and the hash is
///   known only at the end, a multipart object's SHA-256 is recorded as the object tag
///   `sha256` (`PutObjectTagging`, permitted under object lock), which [`ObjectStore::head`]
///   reports as metadata key `sha256`.
/// - SDK automatic request checksums and response validation are set to "when required", so
///   the SDK adds no CRC32 or aws-chunked trailers of its own (operations whose checksum S3
///   requires, such as `PutObjectTagging`, still get the SDK's CRC32 header).
/// - With a conditional streamed put, a `HeadObject` first saves streaming gigabytes for an
///   existing key; the conditional `CompleteMultipartUpload` is what decides.
/// - Reads: `head` answers `None` on any 404, and a `HeadObject` 404 carries no error code, so
///   a missing bucket looks like a missing key there; [`ObjectStore::check`] (readiness) and
///   every other operation report a missing bucket as [`StoreError::Configuration`].
/// - Failed tagging after a completed multipart upload is logged, not returned (see
///   [`Stored::sha256`], which the caller records in the manifest either way).
#[derive(Debug, Clone)]
pub struct S3Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    bucket: String,
    /// `""` or ending in `/`.
    prefix: String,
    region: String,
    endpoint: Option<String>,
    checksum_mode: ChecksumMode,
    part_size: usize,
    upload_concurrency: usize,
    sse: Option<Sse>,
}

fn config_error(message: impl Into<String>) -> StoreError {
    StoreError::Configuration(message.into())
}

/// `scheme://host[:port]` of an endpoint, without user info, path or query.
fn endpoint_for_logs(endpoint: &str) -> String {
    match url::Url::parse(endpoint) {
        Ok(url) => {
            let host = url.host_str().unwrap_or("?");
            match url.port() {
                Some(port) => format!("{}://{host}:{port}", url.scheme()),
                None => format!("{}://{host}", url.scheme()),
            }
        }
        Err(_) => "(unparsable endpoint)".to_owned(),
    }
}

fn to_aws_time(t: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_millis(t.timestamp_millis())
}

fn from_aws_time(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())
}

fn lock_mode(mode: LockMode) -> ObjectLockMode {
    match mode {
        LockMode::Governance => ObjectLockMode::Governance,
        LockMode::Compliance => ObjectLockMode::Compliance,
    }
}

fn content_length(key: &str, len: usize) -> Result<i64, StoreError> {
    i64::try_from(len).map_err(|_| StoreError::other("put", key, "body length overflows i64"))
}

/// Part size for one upload: the configured one, grown (to whole MiB) if `size_hint` needs more
/// than [`MAX_PARTS`] parts.
fn part_size_for(configured: usize, size_hint: Option<u64>) -> Result<usize, StoreError> {
    let Some(hint) = size_hint else {
        return Ok(configured);
    };
    let needed = hint.div_ceil(MAX_PARTS);
    if needed <= configured as u64 {
        return Ok(configured);
    }
    let needed = needed.div_ceil(1 << 20) << 20;
    usize::try_from(needed)
        .ok()
        .filter(|&n| n <= MAX_PART_SIZE)
        .ok_or_else(|| {
            StoreError::InvalidOptions(format!(
                "a {hint}-byte object does not fit in {MAX_PARTS} parts of at most 5 GiB"
            ))
        })
}

/// Classifies an SDK error (exposed so that tests and setup code calling the raw client map
/// errors exactly as the store does).
///
/// 412 / `PreconditionFailed` → [`StoreError::AlreadyExists`]; 409 (`ConditionalRequestConflict`
/// and other conflicts) → [`StoreError::Conflict`]; `BadDigest`, `InvalidDigest`,
/// `XAmzContentSHA256Mismatch` → [`StoreError::ChecksumMismatch`]; network errors, timeouts,
/// 408/429/5xx and throttling codes → [`StoreError::Unavailable`]; `NoSuchBucket`, 401/403,
/// invalid requests and unsupported features → [`StoreError::Configuration`]; the rest
/// [`StoreError::Other`]. Messages carry the HTTP status, the error code and the server's
/// message, never request content or credentials.
pub fn store_error_from_sdk<E>(
    op: &'static str,
    key: &str,
    err: SdkError<E, HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(ctx) => classify_service(
            op,
            key,
            ctx.raw().status().as_u16(),
            ctx.err().code(),
            ctx.err().message(),
        ),
        SdkError::DispatchFailure(failure) if failure.is_user() => config_error(format!(
            "{op} of {key:?}: request could not be sent: {}",
            DisplayErrorContext(&err)
        )),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable {
                op,
                key: key.to_owned(),
                message: DisplayErrorContext(&err).to_string(),
            }
        }
        SdkError::ConstructionFailure(_) => config_error(format!(
            "{op} of {key:?}: request could not be built: {}",
            DisplayErrorContext(&err)
        )),
        _ => StoreError::other(op, key, DisplayErrorContext(&err).to_string()),
    }
}

fn classify_service(
    op: &'static str,
    key: &str,
    status: u16,
    code: Option<&str>,
    message: Option<&str>,
) -> StoreError {
    let describe = || {
        let mut s = format!("http {status}");
        if let Some(code) = code {
            s.push(' ');
            s.push_str(code);
        }
        if let Some(message) = message.filter(|m| !m.is_empty()) {
            s.push_str(": ");
            s.push_str(message);
        }
        s
    };
    let key_s = || key.to_owned();
    let unavailable = || StoreError::Unavailable {
        op,
        key: key_s(),
        message: describe(),
    };
    let configuration = || config_error(format!("{op} of {key:?}: {}", describe()));
    match code {
        Some("PreconditionFailed") => StoreError::AlreadyExists { key: key_s() },
        Some("ConditionalRequestConflict") => StoreError::Conflict { key: key_s() },
        Some("BadDigest" | "InvalidDigest" | "XAmzContentSHA256Mismatch") => {
            StoreError::ChecksumMismatch { key: key_s() }
        }
        Some(
            "SlowDown"
            | "RequestTimeout"
            | "InternalError"
            | "ServiceUnavailable"
            | "Throttling"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "ExpiredToken",
        ) => unavailable(),
        Some(
            "NoSuchBucket"
            | "AccessDenied"
            | "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "AllAccessDisabled"
            | "InvalidBucketName"
            | "AuthorizationHeaderMalformed"
            | "PermanentRedirect"
            | "InvalidRequest"
            | "InvalidArgument"
            | "NotImplemented"
            | "InvalidToken"
            | "MissingSecurityHeader"
            | "InvalidBucketState"
            | "ObjectLockConfigurationNotFoundError"
            | "InvalidEncryptionAlgorithmError",
        ) => configuration(),
        Some(c) if c.starts_with("KMS.") => configuration(),
        _ => match status {
            412 => StoreError::AlreadyExists { key: key_s() },
            409 => StoreError::Conflict { key: key_s() },
            408 | 429 | 500..=599 => unavailable(),
            401 | 403 => configuration(),
            _ => StoreError::other(op, key, describe()),
        },
    }
}

fn status_of<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

fn code_of<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    err.as_service_error().and_then(|e| e.code())
}

/// Applies the configured SSE to a `PutObject` or `CreateMultipartUpload` builder.
macro_rules! with_sse {
    ($req:expr, $sse:expr) => {
        match $sse {
            None => $req,
            Some(Sse::S3) => $req.server_side_encryption(ServerSideEncryption::Aes256),
            Some(Sse::Kms { key_id }) => $req
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .set_ssekms_key_id(key_id.clone()),
        }
    };
}

/// Applies object lock and legal hold to a `PutObject` or `CreateMultipartUpload` builder.
macro_rules! with_lock {
    ($req:expr, $opts:expr) => {{
        let mut req = $req;
        if let Some(ObjectLock { mode, retain_until }) = $opts.lock {
            req = req
                .object_lock_mode(lock_mode(mode))
                .object_lock_retain_until_date(to_aws_time(retain_until));
        }
        if $opts.legal_hold {
            req = req.object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On);
        }
        req
    }};
}

/// Splits a byte stream into parts of a fixed size while hashing it in stream order.
struct PartReader {
    stream: ByteStream,
    carry: Option<Bytes>,
    hasher: Sha256,
    bytes: u64,
    eof: bool,
    /// Buffers of uploaded parts, reused for the next ones: fresh part-sized allocations for
    /// every part fragment the allocator and raise the peak RSS by several parts.
    spare: Vec<BytesMut>,
}

impl PartReader {
    fn new(stream: ByteStream) -> Self {
        Self {
            stream,
            carry: None,
            hasher: Sha256::new(),
            bytes: 0,
            eof: false,
            spare: Vec::new(),
        }
    }

    /// Takes back the buffer of an uploaded part, if nothing else holds it.
    fn recycle(&mut self, part: Bytes) {
        if let Ok(mut buffer) = part.try_into_mut()
            && self.spare.len() < 4
        {
            buffer.clear();
            self.spare.push(buffer);
        }
    }

    /// The next part: exactly `size` bytes, or fewer at the end of the stream; `None` after it.
    async fn next_part(&mut self, size: usize) -> io::Result<Option<Bytes>> {
        let mut buf = BytesMut::new();
        while buf.len() < size {
            let mut chunk = match self.carry.take() {
                Some(chunk) => chunk,
                None if self.eof => break,
                None => match self.stream.next().await {
                    Some(chunk) => {
                        let chunk = chunk?;
                        self.hasher.update(&chunk);
                        self.bytes += chunk.len() as u64;
                        chunk
                    }
                    None => {
                        self.eof = true;
                        break;
                    }
                },
            };
            if chunk.is_empty() {
                continue;
            }
            if buf.is_empty() && chunk.len() == size {
                return Ok(Some(chunk)); // already a whole part: no copy
            }
            if buf.capacity() == 0 {
                buf = match self.spare.pop() {
                    Some(spare) if spare.capacity() >= size => spare,
                    _ => BytesMut::with_capacity(size),
                };
            }
            let room = size - buf.len();
            if chunk.len() > room {
                let rest = chunk.split_off(room);
                self.carry = Some(rest);
            }
            buf.extend_from_slice(&chunk);
        }
        Ok((!buf.is_empty()).then(|| buf.freeze()))
    }

    fn sha256(&self) -> [u8; 32] {
        self.hasher.clone().finalize().into()
    }
}

/// Aborts a multipart upload unless disarmed: explicitly on error, from `Drop` on cancellation.
struct AbortGuard {
    inner: Arc<Inner>,
    full_key: String,
    key: String,
    upload_id: String,
    armed: bool,
}

impl AbortGuard {
    async fn abort(mut self) {
        self.armed = false;
        abort_upload(
            Arc::clone(&self.inner),
            self.full_key.clone(),
            self.key.clone(),
            self.upload_id.clone(),
        )
        .await;
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(abort_upload(
                    Arc::clone(&self.inner),
                    std::mem::take(&mut self.full_key),
                    std::mem::take(&mut self.key),
                    std::mem::take(&mut self.upload_id),
                ));
            }
            Err(_) => {
                tracing::warn!(key = %self.key, "multipart upload dropped outside a runtime; not aborted");
            }
        }
    }
}

async fn abort_upload(inner: Arc<Inner>, full_key: String, key: String, upload_id: String) {
    let result = inner
        .client
        .abort_multipart_upload()
        .bucket(&inner.bucket)
        .key(&full_key)
        .upload_id(&upload_id)
        .send()
        .await;
    match result {
        Ok(_) => tracing::debug!(key, "aborted multipart upload"),
        Err(e) => {
            let e = store_error_from_sdk("abort multipart upload", &key, e);
            tracing::warn!(key, error = %e, "could not abort multipart upload");
        }
    }
}

/// Whether writes carry the SigV4 payload hash (`x-amz-content-sha256` of the body).
///
/// With `sha256` and `content-md5` checksums every body already travels with its digest in a
/// signed header (`x-amz-checksum-sha256` / `Content-MD5`) that the server verifies, so a
/// signed payload would hash the same bytes a second time on both sides (for SHA-256, the very
/// same digest). Those writes are sent as `UNSIGNED-PAYLOAD`; integrity is unchanged: a
/// tampered body fails the checksum, a tampered checksum fails the signature. Without a
/// checksum (`none`) the payload hash is the only integrity check, so the payload stays signed.
fn signs_payload(mode: ChecksumMode) -> bool {
    mode == ChecksumMode::None
}

async fn hash_part(
    mode: ChecksumMode,
    body: &Bytes,
    key: &str,
) -> Result<(Option<String>, Option<String>), StoreError> {
    if mode == ChecksumMode::None {
        return Ok((None, None));
    }
    let b = body.clone();
    tokio::task::spawn_blocking(move || match mode {
        ChecksumMode::Sha256 => (Some(BASE64.encode(Sha256::digest(&b))), None),
        ChecksumMode::ContentMd5 => (None, Some(BASE64.encode(Md5::digest(&b)))),
        ChecksumMode::None => (None, None),
    })
    .await
    .map_err(|e| StoreError::other("upload part", key, format!("hashing task failed: {e}")))
}

async fn upload_part(
    inner: Arc<Inner>,
    full_key: Arc<str>,
    key: Arc<str>,
    upload_id: Arc<str>,
    part_number: i32,
    body: Bytes,
) -> Result<(CompletedPart, Bytes), StoreError> {
    let len = body.len();
    // Kept to hand the buffer back for the next part once the SDK has dropped its copy.
    let buffer = body.clone();
    let (sha256, md5) = hash_part(inner.checksum_mode, &body, &key).await?;
    let req = inner
        .client
        .upload_part()
        .bucket(&inner.bucket)
        .key(&*full_key)
        .upload_id(&*upload_id)
        .part_number(part_number)
        .content_length(content_length(&key, len)?)
        .set_checksum_sha256(sha256.clone())
        .set_content_md5(md5)
        .body(aws_sdk_s3::primitives::ByteStream::from(body));
    let out = if signs_payload(inner.checksum_mode) {
        req.send().await
    } else {
        req.customize().disable_payload_signing().send().await
    }
    .map_err(|e| store_error_from_sdk("upload part", &key, e))?;
    tracing::trace!(key = %key, part = part_number, bytes = len, "uploaded part");
    let part = CompletedPart::builder()
        .part_number(part_number)
        .set_e_tag(out.e_tag().map(str::to_owned))
        .set_checksum_sha256(sha256)
        .build();
    Ok((part, buffer))
}

impl S3Store {
    /// Builds the client (loading the standard AWS configuration: environment, profile,
    /// `AWS_ENDPOINT_URL`) and checks the configuration. Does not contact the server; use
    /// [`ObjectStore::check`] for that.
    pub async fn new(cfg: S3Config) -> Result<Self, StoreError> {
        if cfg.bucket.is_empty() {
            return Err(config_error("s3 bucket name is empty"));
        }
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&cfg.part_size) {
            return Err(config_error(format!(
                "s3 part size {} is outside 5 MiB ..= 5 GiB",
                cfg.part_size
            )));
        }
        if !(1..=64).contains(&cfg.upload_concurrency) {
            return Err(config_error(format!(
                "s3 upload concurrency {} is outside 1 ..= 64",
                cfg.upload_concurrency
            )));
        }
        let prefix = cfg.prefix.trim_matches('/');
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            validate_key(prefix)
                .map_err(|e| config_error(format!("s3 prefix is not a valid key prefix: {e}")))?;
            format!("{prefix}/")
        };

        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &cfg.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &cfg.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        if let S3Credentials::Static {
            access_key_id,
            secret_access_key,
        } = &cfg.credentials
        {
            loader = loader.credentials_provider(Credentials::new(
                access_key_id,
                secret_access_key.expose_secret(),
                None,
                None,
                "kyc-archiver-static",
            ));
        }
        let mut timeouts = TimeoutConfig::builder().connect_timeout(Duration::from_secs(10));
        if let Some(t) = cfg.attempt_timeout {
            timeouts = timeouts.operation_attempt_timeout(t);
        }
        loader = loader.timeout_config(timeouts.build());
        let sdk = loader.load().await;

        let mut conf = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(cfg.force_path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        let region = match sdk.region() {
            Some(region) => region.to_string(),
            None => {
                tracing::info!("no region configured for s3; using us-east-1");
                conf = conf.region(Region::new("us-east-1"));
                "us-east-1".to_owned()
            }
        };
        let endpoint = sdk.endpoint_url().map(endpoint_for_logs);
        let client = Client::from_conf(conf.build());
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                bucket: cfg.bucket,
                prefix,
                region,
                endpoint,
                checksum_mode: cfg.checksum_mode,
                part_size: cfg.part_size,
                upload_concurrency: cfg.upload_concurrency,
                sse: cfg.sse,
            }),
        })
    }

    /// The underlying SDK client (tests use it to inspect what the store wrote).
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.inner.bucket
    }

    /// The full S3 key of a store key (root prefix included).
    pub fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.inner.prefix)
    }

    fn check_key(&self, key: &str) -> Result<String, StoreError> {
        validate_key(key)?;
        let full = self.full_key(key);
        if full.len() > MAX_KEY_BYTES {
            return Err(StoreError::InvalidKey {
                key: key.to_owned(),
                reason: "longer than 1024 bytes with the store's prefix",
            });
        }
        Ok(full)
    }

    /// Creates the bucket (with object lock enabled if asked, which also enables versioning).
    /// Succeeds if the bucket already exists and is ours; does not change an existing bucket's
    /// object-lock setting.
    pub async fn create_bucket(&self, object_lock_enabled: bool) -> Result<(), StoreError> {
        let inner = &self.inner;
        let mut req = inner.client.create_bucket().bucket(&inner.bucket);
        if inner.region != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(inner.region.as_str()))
                    .build(),
            );
        }
        if object_lock_enabled {
            req = req.object_lock_enabled_for_bucket(true);
        }
        match req.send().await {
            Ok(_) => {
                tracing::info!(bucket = %inner.bucket, object_lock_enabled, "created bucket");
                Ok(())
            }
            Err(e) if code_of(&e) == Some("BucketAlreadyOwnedByYou") => Ok(()),
            Err(e) if code_of(&e) == Some("BucketAlreadyExists") => {
                // Some servers say this for their own buckets too: ours if we can reach it.
                self.check().await
            }
            Err(e) => Err(store_error_from_sdk("create bucket", "", e)),
        }
    }

    /// Deletes one version of an object. A locked version (retention or legal hold) is refused
    /// with [`StoreError::ObjectLocked`] (S3 answers `AccessDenied`).
    pub async fn delete_version(&self, key: &str, version_id: &str) -> Result<(), StoreError> {
        let full = self.check_key(key)?;
        let result = self
            .inner
            .client
            .delete_object()
            .bucket(&self.inner.bucket)
            .key(&full)
            .version_id(version_id)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some("AccessDenied") || status_of(&e) == Some(403) => {
                Err(StoreError::ObjectLocked {
                    key: key.to_owned(),
                })
            }
            Err(e) => Err(store_error_from_sdk("delete version", key, e)),
        }
    }

    /// Multipart uploads under `prefix` (relative to the root) that were neither completed nor
    /// aborted.
    pub async fn pending_uploads(&self, prefix: &str) -> Result<Vec<PendingUpload>, StoreError> {
        validate_prefix(prefix)?;
        let inner = &self.inner;
        let full_prefix = format!("{}{prefix}", inner.prefix);
        let mut out = Vec::new();
        let (mut key_marker, mut upload_marker) = (None::<String>, None::<String>);
        loop {
            let page = inner
                .client
                .list_multipart_uploads()
                .bucket(&inner.bucket)
                .prefix(&full_prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(upload_marker.take())
                .send()
                .await
                .map_err(|e| store_error_from_sdk("list multipart uploads", prefix, e))?;
            for upload in page.uploads() {
                if let (Some(key), Some(id)) = (upload.key(), upload.upload_id())
                    && let Some(rel) = key.strip_prefix(&inner.prefix)
                {
                    out.push(PendingUpload {
                        key: rel.to_owned(),
                        upload_id: id.to_owned(),
                    });
                }
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            upload_marker = page.next_upload_id_marker().map(str::to_owned);
            if key_marker.is_none() && upload_marker.is_none() {
                break;
            }
        }
        Ok(out)
    }

    async fn exists(&self, key: &str, full: &str) -> Result<bool, StoreError> {
        let result = self
            .inner
            .client
            .head_object()
            .bucket(&self.inner.bucket)
            .key(full)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e) == Some(404) => Ok(false),
            Err(e) => Err(store_error_from_sdk("head", key, e)),
        }
    }

    /// One `PutObject` of a body whose SHA-256 is already known.
    async fn put_single(
        &self,
        key: &str,
        full: &str,
        body: Bytes,
        sha256: [u8; 32],
        opts: &PutOptions,
    ) -> Result<Stored, StoreError> {
        let inner = &self.inner;
        let bytes = body.len();
        let mut metadata: HashMap<String, String> = opts
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        metadata.insert(SHA256_METADATA_KEY.to_owned(), hex::encode(sha256));
        let mut req = inner
            .client
            .put_object()
            .bucket(&inner.bucket)
            .key(full)
            .content_type(&opts.content_type)
            .content_length(content_length(key, bytes)?)
            .set_metadata(Some(metadata));
        req = match inner.checksum_mode {
            ChecksumMode::Sha256 => req.checksum_sha256(BASE64.encode(sha256)),
            ChecksumMode::ContentMd5 => req.content_md5(BASE64.encode(Md5::digest(&body))),
            ChecksumMode::None => req,
        };
        if opts.if_none_match {
            req = req.if_none_match("*");
        }
        req = with_lock!(req, opts);
        req = with_sse!(req, &inner.sse);
        let req = req.body(aws_sdk_s3::primitives::ByteStream::from(body));
        let out = if signs_payload(inner.checksum_mode) {
            req.send().await
        } else {
            req.customize().disable_payload_signing().send().await
        }
        .map_err(|e| store_error_from_sdk("put", key, e))?;
        tracing::debug!(key, bytes, "stored object in s3");
        Ok(Stored {
            key: key.to_owned(),
            bytes: bytes as u64,
            sha256,
            version_id: out.version_id().map(str::to_owned),
            e_tag: out.e_tag().map(str::to_owned),
        })
    }

    async fn put_multipart(
        &self,
        key: &str,
        full: &str,
        reader: &mut PartReader,
        first_parts: [Bytes; 2],
        part_size: usize,
        opts: &PutOptions,
    ) -> Result<Stored, StoreError> {
        let inner = &self.inner;
        let mut req = inner
            .client
            .create_multipart_upload()
            .bucket(&inner.bucket)
            .key(full)
            .content_type(&opts.content_type)
            .set_metadata(Some(
                opts.metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ));
        if inner.checksum_mode == ChecksumMode::Sha256 {
            req = req.checksum_algorithm(ChecksumAlgorithm::Sha256);
        }
        req = with_lock!(req, opts);
        req = with_sse!(req, &inner.sse);
        let created = req
            .send()
            .await
            .map_err(|e| store_error_from_sdk("create multipart upload", key, e))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| {
                StoreError::other("create multipart upload", key, "response has no upload id")
            })?
            .to_owned();
        tracing::debug!(key, part_size, "started multipart upload");
        let guard = AbortGuard {
            inner: Arc::clone(inner),
            full_key: full.to_owned(),
            key: key.to_owned(),
            upload_id: upload_id.clone(),
            armed: true,
        };
        let result = self
            .upload_and_complete(key, full, &upload_id, reader, first_parts, part_size, opts)
            .await;
        let (version_id, e_tag) = match result {
            Ok(done) => {
                guard.disarm();
                done
            }
            Err(e) => {
                guard.abort().await;
                return Err(e);
            }
        };
        let sha256 = reader.sha256();
        let bytes = reader.bytes;
        self.tag_sha256(key, full, version_id.as_deref(), sha256)
            .await;
        tracing::debug!(key, bytes, "stored multipart object in s3");
        Ok(Stored {
            key: key.to_owned(),
            bytes,
            sha256,
            version_id,
            e_tag,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn upload_and_complete(
        &self,
        key: &str,
        full: &str,
        upload_id: &str,
        reader: &mut PartReader,
        first_parts: [Bytes; 2],
        part_size: usize,
        opts: &PutOptions,
    ) -> Result<(Option<String>, Option<String>), StoreError> {
        let inner = &self.inner;
        let (full_key, key_arc, upload_arc): (Arc<str>, Arc<str>, Arc<str>) =
            (full.into(), key.into(), upload_id.into());
        let mut queued = VecDeque::from(first_parts);
        let mut tasks = JoinSet::new();
        let mut parts = Vec::new();
        let mut part_number: i32 = 0;
        type Uploaded = Result<(CompletedPart, Bytes), StoreError>;
        let joined = |r: Result<Uploaded, tokio::task::JoinError>| {
            r.map_err(|e| StoreError::other("upload part", key, format!("task failed: {e}")))?
        };
        loop {
            let body = match queued.pop_front() {
                Some(body) => body,
                None => match reader.next_part(part_size).await {
                    Ok(Some(body)) => body,
                    Ok(None) => break,
                    Err(source) => {
                        return Err(StoreError::Body {
                            key: key.to_owned(),
                            source,
                        });
                    }
                },
            };
            part_number += 1;
            if u64::try_from(part_number).unwrap_or(u64::MAX) > MAX_PARTS {
                return Err(StoreError::InvalidOptions(format!(
                    "streamed object is larger than {MAX_PARTS} parts of {part_size} bytes; \
                     pass a size hint"
                )));
            }
            while tasks.len() >= inner.upload_concurrency {
                if let Some(done) = tasks.join_next().await {
                    let (part, buffer) = joined(done)?;
                    reader.recycle(buffer);
                    parts.push(part);
                }
            }
            tasks.spawn(upload_part(
                Arc::clone(inner),
                Arc::clone(&full_key),
                Arc::clone(&key_arc),
                Arc::clone(&upload_arc),
                part_number,
                body,
            ));
        }
        while let Some(done) = tasks.join_next().await {
            parts.push(joined(done)?.0);
        }
        parts.sort_by_key(|p| p.part_number());
        let mut req = inner
            .client
            .complete_multipart_upload()
            .bucket(&inner.bucket)
            .key(full)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            );
        if opts.if_none_match {
            req = req.if_none_match("*");
        }
        let out = req
            .send()
            .await
            .map_err(|e| store_error_from_sdk("complete multipart upload", key, e))?;
        Ok((
            out.version_id().map(str::to_owned),
            out.e_tag().map(str::to_owned),
        ))
    }

    /// Records a multipart object's SHA-256 as its `sha256` tag. Best effort: the object is
    /// already committed and the hash is returned to the caller (who records it in the
    /// manifest); failing the put here would only make a retry re-upload or, for a
    /// create-if-absent put, report the caller's own object as someone else's.
    async fn tag_sha256(&self, key: &str, full: &str, version_id: Option<&str>, sha256: [u8; 32]) {
        let tagging = Tag::builder()
            .key(SHA256_TAG)
            .value(hex::encode(sha256))
            .build()
            .and_then(|tag| Tagging::builder().tag_set(tag).build());
        let tagging = match tagging {
            Ok(tagging) => tagging,
            Err(e) => {
                tracing::warn!(key, error = %e, "could not build the sha256 tag");
                return;
            }
        };
        let result = self
            .inner
            .client
            .put_object_tagging()
            .bucket(&self.inner.bucket)
            .key(full)
            .set_version_id(version_id.map(str::to_owned))
            .tagging(tagging)
            .send()
            .await;
        if let Err(e) = result {
            let e = store_error_from_sdk("put object tagging", key, e);
            tracing::warn!(key, error = %e, "could not record the sha256 tag of a multipart object");
        }
    }

    async fn sha256_tag(
        &self,
        key: &str,
        full: &str,
        version_id: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let result = self
            .inner
            .client
            .get_object_tagging()
            .bucket(&self.inner.bucket)
            .key(full)
            .set_version_id(version_id.map(str::to_owned))
            .send()
            .await;
        match result {
            Ok(out) => Ok(out
                .tag_set()
                .iter()
                .find(|t| t.key() == SHA256_TAG)
                .map(|t| t.value().to_owned())),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(store_error_from_sdk("get object tagging", key, e)),
        }
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    fn describe(&self) -> String {
        let prefix = self.inner.prefix.trim_end_matches('/');
        let base = if prefix.is_empty() {
            format!("s3://{}", self.inner.bucket)
        } else {
            format!("s3://{}/{prefix}", self.inner.bucket)
        };
        match &self.inner.endpoint {
            Some(endpoint) => format!("{base} at {endpoint}"),
            None => base,
        }
    }

    async fn put(&self, key: &str, body: Bytes, opts: &PutOptions) -> Result<Stored, StoreError> {
        let full = self.check_key(key)?;
        opts.validate()?;
        if body.len() > MAX_SINGLE_PUT {
            return Err(StoreError::InvalidOptions(
                "body larger than 5 GiB; use put_stream".to_owned(),
            ));
        }
        let sha256: [u8; 32] = if body.len() >= HASH_OFFLOAD {
            let b = body.clone();
            tokio::task::spawn_blocking(move || Sha256::digest(&b).into())
                .await
                .map_err(|e| StoreError::other("put", key, format!("hashing task failed: {e}")))?
        } else {
            Sha256::digest(&body).into()
        };
        self.put_single(key, &full, body, sha256, opts).await
    }

    async fn put_stream(
        &self,
        key: &str,
        body: ByteStream,
        opts: &PutOptions,
    ) -> Result<Stored, StoreError> {
        let full = self.check_key(key)?;
        opts.validate()?;
        let part_size = part_size_for(self.inner.part_size, opts.size_hint)?;
        // Fast path only (saves streaming gigabytes for nothing); the conditional write decides.
        if opts.if_none_match && self.exists(key, &full).await? {
            return Err(StoreError::AlreadyExists {
                key: key.to_owned(),
            });
        }
        let body_error = |source| StoreError::Body {
            key: key.to_owned(),
            source,
        };
        let mut reader = PartReader::new(body);
        let first = reader
            .next_part(part_size)
            .await
            .map_err(body_error)?
            .unwrap_or_default();
        if first.len() < part_size {
            return self
                .put_single(key, &full, first, reader.sha256(), opts)
                .await;
        }
        match reader.next_part(part_size).await.map_err(body_error)? {
            None => {
                self.put_single(key, &full, first, reader.sha256(), opts)
                    .await
            }
            Some(second) => {
                self.put_multipart(key, &full, &mut reader, [first, second], part_size, opts)
                    .await
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let full = self.check_key(key)?;
        let result = self
            .inner
            .client
            .get_object()
            .bucket(&self.inner.bucket)
            .key(&full)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) if code_of(&e) == Some("NoSuchKey") => return Ok(None),
            Err(e) if status_of(&e) == Some(404) && code_of(&e) != Some("NoSuchBucket") => {
                return Ok(None);
            }
            Err(e) => return Err(store_error_from_sdk("get", key, e)),
        };
        let data = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Unavailable {
                op: "get",
                key: key.to_owned(),
                message: format!("reading the response body failed: {e}"),
            })?;
        Ok(Some(data.into_bytes()))
    }

    async fn get_stream(&self, key: &str) -> Result<Option<ByteStream>, StoreError> {
        let full = self.check_key(key)?;
        let result = self
            .inner
            .client
            .get_object()
            .bucket(&self.inner.bucket)
            .key(&full)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) if code_of(&e) == Some("NoSuchKey") => return Ok(None),
            Err(e) if status_of(&e) == Some(404) && code_of(&e) != Some("NoSuchBucket") => {
                return Ok(None);
            }
            Err(e) => return Err(store_error_from_sdk("get", key, e)),
        };
        let stream = futures::stream::try_unfold(out.body, |mut body| async move {
            match body.try_next().await {
                Ok(Some(chunk)) => Ok(Some((chunk, body))),
                Ok(None) => Ok(None),
                Err(e) => Err(io::Error::from(e)),
            }
        });
        Ok(Some(stream.boxed()))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        let full = self.check_key(key)?;
        let result = self
            .inner
            .client
            .head_object()
            .bucket(&self.inner.bucket)
            .key(&full)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) if status_of(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(store_error_from_sdk("head", key, e)),
        };
        let mut metadata: BTreeMap<String, String> = out
            .metadata()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        if !metadata.contains_key(SHA256_METADATA_KEY)
            && let Some(sha) = self.sha256_tag(key, &full, out.version_id()).await?
        {
            metadata.insert(SHA256_METADATA_KEY.to_owned(), sha);
        }
        Ok(Some(ObjectInfo {
            key: key.to_owned(),
            bytes: out
                .content_length()
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            last_modified: out.last_modified().and_then(from_aws_time),
            content_type: out.content_type().map(str::to_owned),
            version_id: out.version_id().map(str::to_owned),
            metadata,
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        validate_prefix(prefix)?;
        let inner = &self.inner;
        let full_prefix = format!("{}{prefix}", inner.prefix);
        let mut pages = inner
            .client
            .list_objects_v2()
            .bucket(&inner.bucket)
            .set_prefix((!full_prefix.is_empty()).then_some(full_prefix))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error_from_sdk("list", prefix, e))?;
            for object in page.contents() {
                let Some(rel) = object.key().and_then(|k| k.strip_prefix(&inner.prefix)) else {
                    continue;
                };
                out.push(ObjectInfo {
                    key: rel.to_owned(),
                    bytes: object
                        .size()
                        .and_then(|n| u64::try_from(n).ok())
                        .unwrap_or(0),
                    last_modified: object.last_modified().and_then(from_aws_time),
                    content_type: None,
                    version_id: None,
                    metadata: BTreeMap::new(),
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let full = self.check_key(key)?;
        let result = self
            .inner
            .client
            .delete_object()
            .bucket(&self.inner.bucket)
            .key(&full)
            .send()
            .await;
        match result {
            Ok(_) => {
                tracing::debug!(key, "deleted object from s3");
                Ok(())
            }
            Err(e) if status_of(&e) == Some(404) && code_of(&e) != Some("NoSuchBucket") => Ok(()),
            Err(e) => Err(store_error_from_sdk("delete", key, e)),
        }
    }

    async fn check(&self) -> Result<(), StoreError> {
        let result = self
            .inner
            .client
            .head_bucket()
            .bucket(&self.inner.bucket)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Err(config_error(format!(
                "s3 bucket {:?} does not exist",
                self.inner.bucket
            ))),
            Err(e) if status_of(&e) == Some(403) => Err(config_error(format!(
                "access to s3 bucket {:?} denied (credentials or policy)",
                self.inner.bucket
            ))),
            Err(e) => Err(store_error_from_sdk("check", "", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_of(chunks: Vec<io::Result<Bytes>>) -> ByteStream {
        futures::stream::iter(chunks).boxed()
    }

    #[tokio::test]
    async fn part_reader_splits_and_hashes_in_order() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let chunks = [1usize, 7, 3000, 1, 4096, 2895]
            .iter()
            .scan(0usize, |at, &n| {
                let c = Bytes::copy_from_slice(&data[*at..*at + n]);
                *at += n;
                Some(Ok(c))
            })
            .collect();
        let mut reader = PartReader::new(stream_of(chunks));
        let mut parts = Vec::new();
        while let Some(p) = reader.next_part(4096).await.unwrap() {
            parts.push(p);
        }
        assert_eq!(
            parts.iter().map(Bytes::len).collect::<Vec<_>>(),
            [4096, 4096, 1808]
        );
        assert_eq!(parts.concat(), data);
        assert_eq!(reader.bytes, 10_000);
        assert_eq!(reader.sha256(), <[u8; 32]>::from(Sha256::digest(&data)));
        assert!(reader.next_part(4096).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn part_reader_passes_whole_parts_without_copying() {
        let part = Bytes::from(vec![7u8; 64]);
        let ptr = part.as_ptr();
        let mut reader = PartReader::new(stream_of(vec![Ok(part), Ok(Bytes::new())]));
        let got = reader.next_part(64).await.unwrap().unwrap();
        assert_eq!(got.as_ptr(), ptr);
        assert!(reader.next_part(64).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn part_reader_reuses_the_buffers_of_uploaded_parts() {
        let chunks = (0..8)
            .map(|i| Ok(Bytes::from(vec![i as u8; 100])))
            .collect();
        let mut reader = PartReader::new(stream_of(chunks));
        let first = reader.next_part(400).await.unwrap().unwrap();
        let allocation = first.as_ptr();
        reader.recycle(first.clone());
        assert!(
            reader.spare.is_empty(),
            "a buffer still referenced is not reused"
        );
        reader.recycle(first);
        let second = reader.next_part(400).await.unwrap().unwrap();
        assert_eq!(second.as_ptr(), allocation);
        assert_eq!(
            &second[..],
            &[[4u8; 100], [5; 100], [6; 100], [7; 100]].concat()[..]
        );
    }

    #[tokio::test]
    async fn part_reader_reports_stream_errors() {
        let mut reader = PartReader::new(stream_of(vec![
            Ok(Bytes::from_static(b"abc")),
            Err(io::Error::other("connection reset")),
        ]));
        assert!(reader.next_part(1024).await.is_err());
    }

    #[test]
    fn part_size_grows_with_the_hint() {
        assert_eq!(
            part_size_for(DEFAULT_PART_SIZE, None).unwrap(),
            DEFAULT_PART_SIZE
        );
        assert_eq!(
            part_size_for(DEFAULT_PART_SIZE, Some(1 << 30)).unwrap(),
            DEFAULT_PART_SIZE
        );
        // 200 GiB needs parts of at least 20.48 MiB: rounded up to 21 MiB.
        let p = part_size_for(DEFAULT_PART_SIZE, Some(200 << 30)).unwrap();
        assert_eq!(p, 21 << 20);
        assert!((200u64 << 30).div_ceil(p as u64) <= MAX_PARTS);
        assert!(part_size_for(DEFAULT_PART_SIZE, Some(60 << 40)).is_err());
    }

    #[test]
    fn service_errors_are_classified() {
        let c = |status, code| classify_service("put", "k", status, code, Some("msg"));
        assert!(matches!(
            c(412, Some("PreconditionFailed")),
            StoreError::AlreadyExists { .. }
        ));
        assert!(matches!(c(412, None), StoreError::AlreadyExists { .. }));
        assert!(matches!(
            c(409, Some("ConditionalRequestConflict")),
            StoreError::Conflict { .. }
        ));
        assert!(matches!(
            c(400, Some("BadDigest")),
            StoreError::ChecksumMismatch { .. }
        ));
        assert!(matches!(
            c(503, Some("SlowDown")),
            StoreError::Unavailable { .. }
        ));
        assert!(matches!(c(502, None), StoreError::Unavailable { .. }));
        assert!(matches!(
            c(404, Some("NoSuchBucket")),
            StoreError::Configuration(_)
        ));
        assert!(matches!(
            c(403, Some("SignatureDoesNotMatch")),
            StoreError::Configuration(_)
        ));
        assert!(matches!(c(400, Some("Weird")), StoreError::Other { .. }));
        let msg = c(503, Some("SlowDown")).to_string();
        assert_eq!(
            msg,
            r#"object store unavailable during put of "k": http 503 SlowDown: msg"#
        );
    }

    #[test]
    fn endpoints_are_logged_without_user_info() {
        assert_eq!(
            endpoint_for_logs("http://user:pw@127.0.0.1:8333/path?x=1"),
            "http://127.0.0.1:8333"
        );
        assert_eq!(
            endpoint_for_logs("https://s3.example"),
            "https://s3.example"
        );
    }

    #[test]
    fn credentials_debug_is_redacted() {
        let c = S3Credentials::Static {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: SecretString::from("very-secret"),
        };
        let shown = format!(
            "{c:?} {:?}",
            S3Config {
                credentials: c.clone(),
                ..S3Config::new("b")
            }
        );
        assert!(!shown.contains("AKIDEXAMPLE") && !shown.contains("very-secret"));
    }

    #[tokio::test]
    async fn config_is_validated() {
        let bad = |f: fn(&mut S3Config)| {
            let mut c = S3Config::new("bucket");
            c.region = Some("us-east-1".into());
            f(&mut c);
            c
        };
        for cfg in [
            bad(|c| c.bucket.clear()),
            bad(|c| c.part_size = MIN_PART_SIZE - 1),
            bad(|c| c.upload_concurrency = 0),
            bad(|c| c.prefix = "a/../b".into()),
        ] {
            assert!(matches!(
                S3Store::new(cfg).await,
                Err(StoreError::Configuration(_))
            ));
        }
    }

    /// One request as a tiny fake S3 server received it.
    #[derive(Debug, Clone)]
    struct Captured {
        method: String,
        target: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Captured {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }
        fn has_prefix(&self, prefix: &str) -> bool {
            self.headers.iter().any(|(k, _)| k.starts_with(prefix))
        }
    }

    type Log = Arc<std::sync::Mutex<Vec<Captured>>>;

    /// A fake S3 endpoint that records every request and answers it successfully (enough XML
    /// for multipart uploads), to check the store's requests on the wire without a server.
    async fn capture_server() -> (String, Log) {
        use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let log: Log = Arc::default();
        let log2 = Arc::clone(&log);
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let log = Arc::clone(&log2);
                tokio::spawn(async move {
                    let mut conn = BufReader::new(socket);
                    loop {
                        let mut line = String::new();
                        if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let mut parts = line.split_whitespace();
                        let method = parts.next().unwrap_or_default().to_owned();
                        let target = parts.next().unwrap_or_default().to_owned();
                        let mut headers = Vec::new();
                        loop {
                            let mut h = String::new();
                            conn.read_line(&mut h).await.unwrap();
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            let (k, v) = h.split_once(':').unwrap();
                            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                        }
                        let len: usize = headers
                            .iter()
                            .find(|(k, _)| k == "content-length")
                            .map_or(0, |(_, v)| v.parse().unwrap());
                        let mut body = vec![0; len];
                        conn.read_exact(&mut body).await.unwrap();
                        let xml = if target.contains("?uploads") {
                            "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>\
                             <UploadId>upload-1</UploadId></InitiateMultipartUploadResult>"
                        } else if method == "POST" && target.contains("uploadId=") {
                            "<CompleteMultipartUploadResult><ETag>\"e-3\"</ETag>\
                             </CompleteMultipartUploadResult>"
                        } else {
                            ""
                        };
                        // Every key is absent for HEAD (the create-if-absent fast path).
                        let status = if method == "HEAD" {
                            "404 Not Found"
                        } else {
                            "200 OK"
                        };
                        log.lock().unwrap().push(Captured {
                            method,
                            target,
                            headers,
                            body,
                        });
                        let response = format!(
                            "HTTP/1.1 {status}\r\nETag: \"etag\"\r\nx-amz-version-id: v1\r\n\
                             Content-Length: {}\r\n\r\n{xml}",
                            xml.len()
                        );
                        if conn.get_mut().write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (endpoint, log)
    }

    async fn captured_store(tweak: impl FnOnce(&mut S3Config)) -> (S3Store, Log) {
        let (endpoint, log) = capture_server().await;
        let mut cfg = S3Config::new("bucket");
        cfg.endpoint_url = Some(endpoint);
        cfg.region = Some("us-east-1".into());
        cfg.force_path_style = true;
        cfg.credentials = S3Credentials::from_static("k", "s");
        cfg.prefix = "root".into();
        cfg.part_size = MIN_PART_SIZE;
        tweak(&mut cfg);
        (S3Store::new(cfg).await.unwrap(), log)
    }

    /// Bodies go out as plain bodies with only the store's own integrity header: no SDK CRC32,
    /// no aws-chunked trailer.
    fn assert_plain_body(r: &Captured) {
        assert!(r.header("x-amz-trailer").is_none(), "{r:?}");
        assert!(r.header("content-encoding").is_none(), "{r:?}");
        assert!(r.header("transfer-encoding").is_none(), "{r:?}");
        assert!(r.header("x-amz-checksum-crc32").is_none(), "{r:?}");
        assert!(r.header("x-amz-checksum-crc64nvme").is_none(), "{r:?}");
        assert_eq!(
            r.header("content-length"),
            Some(r.body.len().to_string().as_str())
        );
    }

    #[tokio::test]
    async fn wire_shape_of_every_checksum_mode() {
        let part = MIN_PART_SIZE;
        for mode in [
            ChecksumMode::Sha256,
            ChecksumMode::ContentMd5,
            ChecksumMode::None,
        ] {
            let (store, log) = captured_store(|c| {
                c.checksum_mode = mode;
                c.upload_concurrency = 2;
            })
            .await;
            let small = Bytes::from_static(b"{\"manifest\":1}");
            let opts = PutOptions {
                if_none_match: true,
                ..PutOptions::with_content_type("application/json")
            };
            store
                .put("tx/manifest.json", small.clone(), &opts)
                .await
                .unwrap();
            let big: Bytes = (0..part * 2 + 100)
                .map(|i| (i % 253) as u8)
                .collect::<Vec<_>>()
                .into();
            let body = futures::stream::iter(
                big.chunks(300_000)
                    .map(|c| Ok(Bytes::copy_from_slice(c)))
                    .collect::<Vec<_>>(),
            )
            .boxed();
            let stored = store
                .put_stream("tx/a/video.mp4", body, &PutOptions::default())
                .await
                .unwrap();
            assert_eq!(stored.sha256, <[u8; 32]>::from(Sha256::digest(&big)));
            let log = log.lock().unwrap().clone();
            let kinds: Vec<String> = log
                .iter()
                .map(|r| format!("{} {}", r.method, r.target.split('?').next().unwrap()))
                .collect();
            assert_eq!(
                kinds,
                [
                    "PUT /bucket/root/tx/manifest.json",
                    "POST /bucket/root/tx/a/video.mp4",
                    "PUT /bucket/root/tx/a/video.mp4",
                    "PUT /bucket/root/tx/a/video.mp4",
                    "PUT /bucket/root/tx/a/video.mp4",
                    "POST /bucket/root/tx/a/video.mp4",
                    "PUT /bucket/root/tx/a/video.mp4",
                ],
                "{mode:?}"
            );
            let put = &log[0];
            assert_plain_body(put);
            assert_eq!(put.body, small);
            assert_eq!(put.header("if-none-match"), Some("*"));
            assert_eq!(put.header("content-type"), Some("application/json"));
            assert_eq!(
                put.header("x-amz-meta-sha256"),
                Some(hex::encode(Sha256::digest(&small)).as_str())
            );
            let create = &log[1];
            assert!(create.target.contains("uploads"));
            let mut parts: Vec<&Captured> = log[2..5].iter().collect();
            parts.sort_by_key(|r| r.target.clone());
            let complete = &log[5];
            let tagging = &log[6];
            assert!(tagging.target.contains("tagging"));
            assert!(
                String::from_utf8_lossy(&tagging.body).contains(&hex::encode(Sha256::digest(&big)))
            );
            let complete_xml = String::from_utf8_lossy(&complete.body).into_owned();
            assert_eq!(complete.header("if-none-match"), None);
            for (i, p) in parts.iter().enumerate() {
                assert_plain_body(p);
                assert!(
                    p.target.contains(&format!("partNumber={}", i + 1)),
                    "{}",
                    p.target
                );
            }
            let b64 = |d: &[u8]| BASE64.encode(d);
            match mode {
                ChecksumMode::Sha256 => {
                    assert_eq!(
                        put.header("x-amz-checksum-sha256"),
                        Some(b64(&Sha256::digest(&small)).as_str())
                    );
                    assert_eq!(create.header("x-amz-checksum-algorithm"), Some("SHA256"));
                    for p in &parts {
                        let want = b64(&Sha256::digest(&p.body));
                        assert_eq!(p.header("x-amz-checksum-sha256"), Some(want.as_str()));
                        assert!(p.header("content-md5").is_none());
                        assert!(
                            complete_xml
                                .contains(&format!("<ChecksumSHA256>{want}</ChecksumSHA256>")),
                            "{complete_xml}"
                        );
                    }
                }
                ChecksumMode::ContentMd5 => {
                    assert_eq!(
                        put.header("content-md5"),
                        Some(b64(&Md5::digest(&small)).as_str())
                    );
                    assert!(!put.has_prefix("x-amz-checksum-"));
                    assert!(!create.has_prefix("x-amz-checksum-"));
                    for p in &parts {
                        assert_eq!(
                            p.header("content-md5"),
                            Some(b64(&Md5::digest(&p.body)).as_str())
                        );
                        assert!(!p.has_prefix("x-amz-checksum-"));
                    }
                }
                ChecksumMode::None => {
                    for r in [put, create].into_iter().chain(parts.iter().copied()) {
                        assert!(!r.has_prefix("x-amz-checksum-"), "{r:?}");
                        assert!(r.header("content-md5").is_none(), "{r:?}");
                    }
                }
            }
        }
    }

    #[tokio::test]
    async fn wire_shape_of_lock_legal_hold_and_sse() {
        let (store, log) = captured_store(|c| {
            c.sse = Some(Sse::Kms {
                key_id: Some("alias/evidence".into()),
            });
        })
        .await;
        let retain_until = DateTime::parse_from_rfc3339("2031-07-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let opts = PutOptions {
            lock: Some(ObjectLock {
                mode: LockMode::Compliance,
                retain_until,
            }),
            legal_hold: true,
            ..PutOptions::default()
        };
        store
            .put("k", Bytes::from_static(b"x"), &opts)
            .await
            .unwrap();
        let body =
            futures::stream::iter(vec![Ok(Bytes::from(vec![0u8; MIN_PART_SIZE + 1]))]).boxed();
        let conditional = PutOptions {
            if_none_match: true,
            ..opts.clone()
        };
        store.put_stream("v", body, &conditional).await.unwrap();
        let log = log.lock().unwrap().clone();
        let kinds: Vec<&str> = log.iter().map(|r| r.method.as_str()).collect();
        assert_eq!(kinds, ["PUT", "HEAD", "POST", "PUT", "PUT", "POST", "PUT"]);
        // Create-if-absent is decided by CompleteMultipartUpload.
        assert_eq!(log[5].header("if-none-match"), Some("*"));
        let log: Vec<Captured> = log.into_iter().filter(|r| r.method != "HEAD").collect();
        for r in [&log[0], &log[1]] {
            assert_eq!(
                r.header("x-amz-object-lock-mode"),
                Some("COMPLIANCE"),
                "{r:?}"
            );
            assert_eq!(
                r.header("x-amz-object-lock-retain-until-date"),
                Some("2031-07-01T00:00:00Z")
            );
            assert_eq!(r.header("x-amz-object-lock-legal-hold"), Some("ON"));
            assert_eq!(r.header("x-amz-server-side-encryption"), Some("aws:kms"));
            assert_eq!(
                r.header("x-amz-server-side-encryption-aws-kms-key-id"),
                Some("alias/evidence")
            );
        }
        // Parts carry no lock or SSE headers (they inherit the upload's).
        assert!(log[2].header("x-amz-object-lock-mode").is_none());
    }

    #[tokio::test]
    async fn unreachable_endpoint_is_unavailable() {
        // A port nothing listens on: bind, read the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cfg = S3Config::new("bucket");
        cfg.endpoint_url = Some(format!("http://127.0.0.1:{port}"));
        cfg.region = Some("us-east-1".into());
        cfg.force_path_style = true;
        cfg.credentials = S3Credentials::Static {
            access_key_id: "k".into(),
            secret_access_key: SecretString::from("s"),
        };
        let store = S3Store::new(cfg).await.unwrap();
        assert_eq!(
            store.describe(),
            format!("s3://bucket at http://127.0.0.1:{port}")
        );
        let err = store.check().await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
        assert!(err.is_retryable());
        let err = store.get("a/b").await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
    }
}
