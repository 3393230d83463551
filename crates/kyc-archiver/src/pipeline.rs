//! The evidence pipeline: one archive request in, one verified bundle out.
//!
//! 1. If the transaction's manifest already exists, check the bundle and report
//!    "already archived" (a redelivery or a backfill of something done).
//! 2. Call `CheckResult` with `IsReturnImage=Y`, waiting out `ProcessNotCompleted` for a
//!    bounded time.
//! 3. Store the raw response, each decoded image and the streamed video under a fresh attempt.
//! 4. Create the manifest only if absent: the commit point. Losing that race means another
//!    worker archived the transaction; its bundle is checked and ours is removed.
//! 5. Remove objects under the transaction that the manifest does not name (earlier attempts
//!    that crashed before committing).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use cloudauth::model::{CheckResult, Product};
use cloudauth::{CheckResultRequest, Client, ErrorClass};
use evidence::deadline;
use evidence::image::{self, ImageFormat};
use evidence::layout::{AttemptId, BundleKeys, RESPONSE_NAME};
use evidence::manifest::{
    ArchiverInfo, Artifact, ImageIssue, Manifest, SCHEMA_ID, Verdict, VideoFate, VideoRecord,
};
use evidence::retention::{LockMode, Retention, RetentionPeriod};
use futures::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;

use crate::store::{ByteStream, ObjectLock, ObjectStore, PutOptions, StoreError, Stored};
use crate::verify::{self, Depth};
use crate::video::{Pump, PumpEnd, PumpLimits, Refresher, VideoPolicy, sniff_video};

/// What to archive: the fields of an archive request the pipeline uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ArchiveRequest {
    /// `TransactionId` from `Initialize`.
    pub transaction_id: String,
    /// `MerchantBizId` to call `CheckResult` with.
    pub merchant_biz_id: String,
    /// When the verification completed, if known (drives the video deadline).
    pub completed_at: Option<DateTime<Utc>>,
    /// Product code, if known (the service does not echo it).
    pub product: Option<String>,
    /// Document type code, if known.
    pub document_type: Option<String>,
    /// The merchant's opaque reference for the end user.
    pub merchant_user_ref: Option<String>,
    /// Place a legal hold on every object (overrides the deployment default).
    pub legal_hold: Option<bool>,
    /// Retention period override.
    pub retention: Option<RetentionPeriod>,
    /// Free-form labels copied into the manifest.
    pub labels: BTreeMap<String, String>,
}

/// Deployment-wide archiving settings.
#[derive(Debug, Clone)]
pub struct ArchiveSettings {
    /// Object Lock mode for every object.
    pub lock_mode: LockMode,
    /// Default retention period.
    pub retention: RetentionPeriod,
    /// Default legal hold.
    pub legal_hold: bool,
    /// How long to keep asking while the service answers `ProcessNotCompleted`.
    pub not_ready_wait: Duration,
    /// Rules for the video URL.
    pub video_policy: VideoPolicy,
    /// Retry limits for the video download.
    pub video_limits: PumpLimits,
    /// Connect timeout for video downloads.
    pub video_connect_timeout: Duration,
    /// Read timeout (between bytes) for video downloads.
    pub video_read_timeout: Duration,
    /// Chunks buffered between download and upload. Each chunk may keep the HTTP client's
    /// whole read buffer (up to about 400 KiB) alive, and the buffer is full whenever the
    /// upload is the slower side, so this bounds memory per video: the store accumulates
    /// whole parts anyway, and the TCP window buffers the rest outside the process.
    pub video_buffer_chunks: usize,
}

impl Default for ArchiveSettings {
    fn default() -> Self {
        Self {
            lock_mode: LockMode::None,
            retention: RetentionPeriod::years(5),
            legal_hold: false,
            not_ready_wait: Duration::from_secs(60),
            video_policy: VideoPolicy::default(),
            video_limits: PumpLimits::default(),
            video_connect_timeout: Duration::from_secs(5),
            video_read_timeout: Duration::from_secs(30),
            video_buffer_chunks: 8,
        }
    }
}

/// Whether this call wrote the bundle or found it written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// This call committed the bundle.
    Archived,
    /// A complete bundle was already there (and checks out).
    AlreadyArchived,
}

/// The result of archiving one transaction.
#[derive(Debug, Clone)]
pub struct ArchiveReport {
    /// Archived now or before.
    pub outcome: Outcome,
    /// Key of the manifest.
    pub manifest_key: String,
    /// The committed manifest.
    pub manifest: Manifest,
}

/// Why a transaction could not be archived (now).
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The request cannot be processed as given.
    #[error("invalid archive request: {0}")]
    InvalidRequest(String),
    /// The service still answers `ProcessNotCompleted`.
    #[error("verification not completed yet (waited {waited_secs} s)")]
    NotReady {
        /// Seconds spent waiting.
        waited_secs: u64,
    },
    /// `CheckResult` failed.
    #[error("checkresult failed: {0}")]
    CheckResult(#[source] cloudauth::Error),
    /// The object store failed.
    #[error("object store failed: {0}")]
    Store(#[from] StoreError),
    /// The video upload ended without all its bytes; nothing was committed.
    #[error("video upload incomplete: {0}")]
    Incomplete(String),
    /// The video server kept failing while the video may still exist; nothing was committed,
    /// so that a later attempt can still fetch it.
    #[error("video not fetched yet: {0}")]
    VideoUnavailable(String),
    /// A manifest exists but its bundle does not check out: needs a human, never overwritten.
    #[error("existing bundle does not verify: {0}")]
    BundleInvalid(String),
}

impl ArchiveError {
    /// What the caller should do, in the client's vocabulary.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::InvalidRequest(_) => ErrorClass::Permanent,
            Self::NotReady { .. } => ErrorClass::RetryLater,
            Self::Incomplete(_) | Self::VideoUnavailable(_) => ErrorClass::RetrySoon,
            Self::CheckResult(e) => e.class(),
            Self::Store(e) if e.is_retryable() => ErrorClass::RetrySoon,
            Self::Store(StoreError::AlreadyExists { .. }) => ErrorClass::RetrySoon,
            Self::Store(_) => ErrorClass::Configuration,
            Self::BundleInvalid(_) => ErrorClass::Configuration,
        }
    }
}

/// The archiver: a `CheckResult` client, a store and settings. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Archiver {
    client: Client,
    store: Arc<dyn ObjectStore>,
    settings: Arc<ArchiveSettings>,
    video_policy: Arc<VideoPolicy>,
    video_http: reqwest::Client,
}

impl Archiver {
    /// Builds an archiver.
    pub fn new(
        client: Client,
        store: Arc<dyn ObjectStore>,
        settings: ArchiveSettings,
    ) -> Result<Self, ArchiveError> {
        let video_policy = Arc::new(settings.video_policy.clone());
        let video_http = video_policy
            .http_client(settings.video_connect_timeout, settings.video_read_timeout)
            .map_err(|e| ArchiveError::InvalidRequest(format!("video http client: {e}")))?;
        Ok(Self {
            client,
            store,
            settings: Arc::new(settings),
            video_policy,
            video_http,
        })
    }

    /// The store bundles go to.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Archives one transaction. Idempotent: a second call finds the bundle.
    #[tracing::instrument(name = "archive", skip_all, fields(transaction_id = %request.transaction_id))]
    pub async fn archive(&self, request: &ArchiveRequest) -> Result<ArchiveReport, ArchiveError> {
        let keys = BundleKeys::new(&request.transaction_id)
            .map_err(|e| ArchiveError::InvalidRequest(e.to_string()))?;
        let call = CheckResultRequest::new(&request.merchant_biz_id, &request.transaction_id)
            .map_err(|e| ArchiveError::InvalidRequest(e.to_string()))?
            .return_image(true);

        if let Some(report) = self.existing(&keys).await? {
            return Ok(report);
        }

        let started = Utc::now();
        let attempt = AttemptId::new(started, rand::random());
        let calls = Arc::new(AtomicU32::new(0));
        let result = self.check_result(&call, &calls).await?;
        let retention = Retention::compute(
            self.settings.lock_mode,
            request.retention.unwrap_or(self.settings.retention),
            request.legal_hold.unwrap_or(self.settings.legal_hold),
            request.completed_at,
            started,
        );
        let options = |content_type: &str| PutOptions {
            content_type: content_type.to_owned(),
            lock: store_lock_mode(retention.mode).map(|mode| ObjectLock {
                mode,
                retain_until: retention.retain_until,
            }),
            legal_hold: retention.legal_hold,
            ..PutOptions::default()
        };

        let mut artifacts = Vec::new();
        let response_key = keys.artifact(&attempt, RESPONSE_NAME);
        let stored = self
            .store
            .put(
                &response_key,
                result.raw.clone(),
                &options("application/json"),
            )
            .await?;
        artifacts.push(artifact(
            "checkresult",
            "CheckResult response body",
            "application/json",
            stored,
        ));

        let mut image_errors = Vec::new();
        let mut seen = BTreeMap::<String, u32>::new();
        for (field, b64) in result.images() {
            let source = image_source(&result, field);
            let n = seen.entry(field.to_owned()).or_default();
            *n += 1;
            let name = if *n == 1 {
                field.to_owned()
            } else {
                format!("{field}-{n}")
            };
            let bytes = match image::decode_base64(b64) {
                Ok(bytes) => bytes,
                Err(e) => {
                    tracing::warn!(field, reason = %e, "image not stored");
                    image_errors.push(ImageIssue {
                        source,
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            let format = image::sniff(&bytes);
            if format.is_none() {
                image_errors.push(ImageIssue {
                    source: source.clone(),
                    reason: "not a JPEG, PNG or WebP image; stored as octet-stream".to_owned(),
                });
            }
            let (content_type, ext) = format
                .map_or(("application/octet-stream", "bin"), |f: ImageFormat| {
                    (f.content_type(), f.extension())
                });
            let key = keys.artifact(&attempt, &format!("{name}.{ext}"));
            let stored = self
                .store
                .put(&key, Bytes::from(bytes), &options(content_type))
                .await?;
            artifacts.push(artifact(&name, &source, content_type, stored));
        }

        let video = self
            .archive_video(
                &result,
                &call,
                &calls,
                request,
                &keys,
                &attempt,
                &options,
                &mut artifacts,
            )
            .await?;

        let product = request
            .product
            .as_deref()
            .and_then(|p| p.parse::<Product>().ok());
        let sub_code = result.sub_code().map(str::to_owned);
        let manifest = Manifest {
            schema: SCHEMA_ID.to_owned(),
            transaction_id: request.transaction_id.clone(),
            merchant_biz_id: request.merchant_biz_id.clone(),
            product: request.product.clone(),
            document_type: request.document_type.clone(),
            merchant_user_ref: request.merchant_user_ref.clone(),
            labels: request.labels.clone(),
            completed_at: request.completed_at,
            archived_at: Utc::now(),
            attempt: attempt.to_string(),
            verdict: Verdict {
                passed: result.result().and_then(|r| r.passed.clone()),
                sub_code_meaning: product
                    .as_ref()
                    .zip(sub_code.as_deref())
                    .and_then(|(p, c)| cloudauth::model::sub_code_meaning(p, c))
                    .map(str::to_owned),
                sub_code,
                request_id: result.request_id().unwrap_or_default().to_owned(),
                checkresult_calls: calls.load(Ordering::Relaxed),
            },
            artifacts,
            image_errors,
            video,
            retention: retention.clone(),
            archiver: ArchiverInfo {
                name: "kyc-archiver".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
        };

        let manifest_key = keys.manifest();
        let put = PutOptions {
            if_none_match: true,
            ..options("application/json")
        };
        match self
            .store
            .put(&manifest_key, Bytes::from(manifest.to_json()), &put)
            .await
        {
            Ok(_) => {
                tracing::info!(attempt = %attempt, video = ?manifest.video.fate, "bundle committed");
                record_metrics(&manifest);
                self.remove_unnamed(&keys, &manifest).await;
                Ok(ArchiveReport {
                    outcome: Outcome::Archived,
                    manifest_key,
                    manifest,
                })
            }
            Err(StoreError::AlreadyExists { .. }) => {
                tracing::info!(attempt = %attempt, "another worker committed first");
                let report = self.existing(&keys).await?.ok_or_else(|| {
                    ArchiveError::BundleInvalid(
                        "manifest reported present but cannot be read".to_owned(),
                    )
                })?;
                Ok(report)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// How many attempts stored evidence under `transaction_id` without committing it: the
    /// distinct attempt directories while there is no manifest, 0 once there is one. An
    /// attempt that failed cleanly and one cut short by a crash both count; the worker's
    /// crash-loop guard subtracts what its failed attempts explain.
    pub async fn unfinished_attempts(&self, transaction_id: &str) -> Result<usize, ArchiveError> {
        let keys = BundleKeys::new(transaction_id)
            .map_err(|e| ArchiveError::InvalidRequest(e.to_string()))?;
        let listing = self.store.list(&keys.prefix()).await?;
        let manifest = keys.manifest();
        if listing.iter().any(|o| o.key == manifest) {
            return Ok(0);
        }
        let attempts: std::collections::BTreeSet<&str> = listing
            .iter()
            .filter_map(|o| o.key.strip_prefix(&keys.prefix())?.split_once('/'))
            .map(|(attempt, _)| attempt)
            .collect();
        Ok(attempts.len())
    }

    /// The committed bundle of `keys`, checked, with unnamed objects removed; `None` when
    /// there is no manifest yet.
    async fn existing(&self, keys: &BundleKeys) -> Result<Option<ArchiveReport>, ArchiveError> {
        let manifest_key = keys.manifest();
        let Some(bytes) = self.store.get(&manifest_key).await? else {
            return Ok(None);
        };
        let manifest =
            Manifest::from_json(&bytes).map_err(|e| ArchiveError::BundleInvalid(e.to_string()))?;
        let findings =
            verify::check_bundle(self.store.as_ref(), &manifest_key, &manifest, Depth::Quick)
                .await?;
        let fatal: Vec<String> = findings
            .iter()
            .filter(|f| !matches!(f, evidence::verify::Finding::Extra { .. }))
            .map(ToString::to_string)
            .collect();
        if !fatal.is_empty() {
            return Err(ArchiveError::BundleInvalid(fatal.join("; ")));
        }
        self.remove_unnamed(keys, &manifest).await;
        Ok(Some(ArchiveReport {
            outcome: Outcome::AlreadyArchived,
            manifest_key,
            manifest,
        }))
    }

    /// Deletes objects under the transaction that the manifest does not name. Best effort:
    /// what stays is reported by `verify` as extra and removed by the next run.
    async fn remove_unnamed(&self, keys: &BundleKeys, manifest: &Manifest) {
        let manifest_key = keys.manifest();
        let listing = match self.store.list(&keys.prefix()).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "could not list the bundle for clean-up");
                return;
            }
        };
        for object in listing {
            let named = object.key == manifest_key
                || manifest.artifacts.iter().any(|a| a.key == object.key);
            if !named {
                match self.store.delete(&object.key).await {
                    Ok(()) => {
                        tracing::debug!(key = %object.key, "removed an object of an uncommitted attempt")
                    }
                    Err(e) => {
                        tracing::warn!(key = %object.key, error = %e, "could not remove an unnamed object")
                    }
                }
            }
        }
    }

    /// `CheckResult`, waiting while the verification is not completed.
    async fn check_result(
        &self,
        call: &CheckResultRequest,
        calls: &AtomicU32,
    ) -> Result<CheckResult, ArchiveError> {
        let began = tokio::time::Instant::now();
        let mut delays = backon::BackoffBuilder::build(
            backon::ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(500))
                .with_max_delay(Duration::from_secs(10))
                .with_jitter()
                .without_max_times(),
        );
        loop {
            match self.client.check_result(call).await {
                Ok(result) => {
                    calls.fetch_add(1, Ordering::Relaxed);
                    return Ok(result);
                }
                Err(e) if e.class() == ErrorClass::RetryLater => {
                    let delay = delays.next().unwrap_or(Duration::from_secs(10));
                    if began.elapsed() + delay > self.settings.not_ready_wait {
                        return Err(ArchiveError::NotReady {
                            waited_secs: began.elapsed().as_secs(),
                        });
                    }
                    tracing::debug!(
                        delay_ms = delay.as_millis() as u64,
                        "verification not completed yet"
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(ArchiveError::CheckResult(e)),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn archive_video(
        &self,
        result: &CheckResult,
        call: &CheckResultRequest,
        calls: &Arc<AtomicU32>,
        request: &ArchiveRequest,
        keys: &BundleKeys,
        attempt: &AttemptId,
        options: &(dyn Fn(&str) -> PutOptions + Sync),
        artifacts: &mut Vec<Artifact>,
    ) -> Result<VideoRecord, ArchiveError> {
        let deleted_at = request.completed_at.map(deadline::video_deleted_at);
        let mut record = VideoRecord {
            fate: VideoFate::Absent,
            reason: None,
            deleted_at,
            slack_seconds: request
                .completed_at
                .map(|c| deadline::video_slack(Utc::now(), c).num_seconds()),
            fetch_attempts: 0,
            url_refreshes: 0,
        };
        let Some(url) = result.doc_video_url() else {
            record.reason = Some("the result carries no docVideoUrl".to_owned());
            return Ok(record);
        };

        let client = self.client.clone();
        let refresh_call = call.clone();
        let refresh_calls = Arc::clone(calls);
        let refresher: Refresher = Box::new(move || {
            let client = client.clone();
            let call = refresh_call.clone();
            let calls = Arc::clone(&refresh_calls);
            Box::pin(async move {
                let fresh = client
                    .check_result(&call)
                    .await
                    .map_err(|e| e.to_string())?;
                calls.fetch_add(1, Ordering::Relaxed);
                Ok(fresh.doc_video_url().map(str::to_owned))
            })
        });
        let pump = Pump {
            http: self.video_http.clone(),
            policy: Arc::clone(&self.video_policy),
            limits: self.settings.video_limits.clone(),
            deleted_at,
        };
        let (started, rest, task) =
            pump.spawn(url.to_owned(), refresher, self.settings.video_buffer_chunks);

        let upload = match started.await {
            Ok(Ok(first)) => {
                let content_type = sniff_video(&first.first, first.content_type.as_deref());
                let body: ByteStream = futures::stream::once(async move { Ok(first.first) })
                    .chain(ReceiverStream::new(rest))
                    .boxed();
                let key = keys.artifact(attempt, "video.webm");
                let mut opts = options(&content_type);
                opts.size_hint = first.total;
                Some((self.store.put_stream(&key, body, &opts).await, content_type))
            }
            // The pump failed before the first byte; its report says why.
            Ok(Err(_)) | Err(_) => None,
        };
        let report = task
            .await
            .map_err(|e| ArchiveError::InvalidRequest(format!("video task failed: {e}")))?;
        record.fetch_attempts = report.attempts;
        record.url_refreshes = report.refreshes;
        match (report.end, upload) {
            (PumpEnd::Complete { bytes }, Some((Ok(stored), content_type))) => {
                if stored.bytes != bytes {
                    return Err(ArchiveError::Incomplete(format!(
                        "store received {} of {bytes} video bytes",
                        stored.bytes
                    )));
                }
                artifacts.push(artifact(
                    "video",
                    "Result.ExtFaceInfo.docVideoUrl",
                    &content_type,
                    stored,
                ));
                record.fate = VideoFate::Archived;
            }
            (PumpEnd::Complete { .. } | PumpEnd::ConsumerGone, Some((Err(e), _))) => {
                return Err(e.into());
            }
            (PumpEnd::Complete { .. } | PumpEnd::ConsumerGone, _) => {
                return Err(ArchiveError::Incomplete(
                    "video upload ended unexpectedly".to_owned(),
                ));
            }
            (PumpEnd::Gone(reason), _) => {
                record.fate = VideoFate::Deleted;
                record.reason = Some(reason);
            }
            (PumpEnd::Refused(reason), _) => {
                record.fate = VideoFate::Refused;
                record.reason = Some(reason);
            }
            (PumpEnd::Unavailable(reason), _)
                if deadline::video_may_exist(Utc::now(), request.completed_at).unwrap_or(true) =>
            {
                // Committing now would give up a video that may still be fetched: fail the
                // attempt, so it is retried until the video is fetched or deleted.
                return Err(ArchiveError::VideoUnavailable(reason));
            }
            (PumpEnd::Failed(reason) | PumpEnd::Unavailable(reason), _) => {
                record.fate = VideoFate::Failed;
                record.reason = Some(reason);
            }
        }
        if record.fate != VideoFate::Archived {
            tracing::warn!(fate = ?record.fate, reason = record.reason.as_deref().unwrap_or(""), "video not archived");
        }
        Ok(record)
    }
}

/// Counts what a committed bundle added.
fn record_metrics(manifest: &Manifest) {
    use crate::metrics as m;
    for a in &manifest.artifacts {
        let kind = match a.name.as_str() {
            "checkresult" => "response",
            "video" => "video",
            _ => "image",
        };
        metrics::counter!(m::BYTES_ARCHIVED, "kind" => kind).increment(a.bytes);
    }
    let fate = match manifest.video.fate {
        VideoFate::Archived => "archived",
        VideoFate::Absent => "absent",
        VideoFate::Deleted => "deleted",
        VideoFate::Refused => "refused",
        VideoFate::Failed => "failed",
    };
    metrics::counter!(m::VIDEOS, "fate" => fate).increment(1);
    if manifest.video.fate != VideoFate::Absent
        && let Some(slack) = manifest.video.slack_seconds
    {
        metrics::histogram!(m::VIDEO_DEADLINE_SLACK).record(slack as f64);
    }
}

fn store_lock_mode(mode: LockMode) -> Option<crate::store::LockMode> {
    match mode {
        LockMode::None => None,
        LockMode::Governance => Some(crate::store::LockMode::Governance),
        LockMode::Compliance => Some(crate::store::LockMode::Compliance),
    }
}

fn artifact(name: &str, source: &str, content_type: &str, stored: Stored) -> Artifact {
    Artifact {
        name: name.to_owned(),
        key: stored.key,
        bytes: stored.bytes,
        sha256: hex::encode(stored.sha256),
        content_type: content_type.to_owned(),
        source: source.to_owned(),
        version_id: stored.version_id,
    }
}

fn image_source(result: &CheckResult, field: &str) -> String {
    let in_face = result
        .result()
        .and_then(|r| r.ext_face_info.as_ref())
        .is_some_and(|f| field == "faceImg" || f.extra.contains_key(field));
    if in_face {
        format!("Result.ExtFaceInfo.{field}")
    } else {
        format!("Result.ExtIdInfo.{field}")
    }
}
