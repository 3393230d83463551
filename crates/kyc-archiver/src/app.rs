//! Wiring: typed configuration in, ready resources out. No business logic here.

use std::sync::Arc;
use std::time::Duration;

use cloudauth::{Client, ClientConfig, Credentials, Observer, RetryPolicy};

use crate::config::S3Settings;
use crate::config::{Config, CredentialSource, StoreKind};
use crate::pipeline::{ArchiveSettings, Archiver};
use crate::store::{ChecksumMode, LocalDirStore, ObjectStore, S3Config, S3Store, Sse, StoreError};
use crate::video::{PumpLimits, VideoPolicy};

/// Why resources could not be built from a valid configuration.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Credentials could not be read.
    #[error("alibaba cloud credentials: {0}")]
    Credentials(#[from] cloudauth::CredentialsError),
    /// The client could not be built.
    #[error("checkresult client: {0}")]
    Client(#[from] cloudauth::Error),
    /// The store could not be opened.
    #[error("object store: {0}")]
    Store(#[from] StoreError),
    /// The configuration lacks what this command needs.
    #[error("{0}")]
    Config(String),
    /// The archiver could not be built.
    #[error("archiver: {0}")]
    Archiver(#[from] crate::pipeline::ArchiveError),
}

/// The `CheckResult` client described by `config`.
pub fn client(config: &Config) -> Result<Client, SetupError> {
    let credentials = match config
        .require_credentials()
        .map_err(|e| SetupError::Config(e.to_string()))?
    {
        CredentialSource::Values { id, secret, token } => {
            Credentials::new(id.clone(), secret.clone(), token.clone())
        }
        CredentialSource::Dir(dir) => Credentials::from_files(
            dir.join("access_key_id"),
            dir.join("access_key_secret"),
            Some(dir.join("security_token"))
                .filter(|p| p.exists())
                .as_deref(),
        )?,
    };
    let mut cc = ClientConfig::new(config.endpoint.clone(), credentials);
    cc.scheme = config.signature;
    cc.qps = Some(config.qps);
    cc.connect_timeout = config.connect_timeout;
    cc.request_timeout = config.request_timeout;
    cc.retry = RetryPolicy {
        max_attempts: config.max_attempts,
        ..RetryPolicy::default()
    };
    cc.observer = Observer::new(|code| {
        metrics::counter!(crate::metrics::CHECKRESULT_CALLS, "code" => code.to_owned())
            .increment(1);
    });
    Ok(Client::new(cc)?)
}

/// The object store described by `config`.
pub async fn store(config: &Config) -> Result<Arc<dyn ObjectStore>, SetupError> {
    Ok(match &config.store {
        StoreKind::Local(dir) => {
            let store = LocalDirStore::new(dir.clone()).await?;
            // Writes take seconds; an hour-old temporary file was left by a killed process.
            // The sweep walks the whole tree, so it runs beside start-up, not before it.
            let sweeper = store.clone();
            tokio::spawn(async move {
                match sweeper.sweep_temporary(Duration::from_secs(3600)).await {
                    Ok(0) => {}
                    Ok(removed) => {
                        tracing::info!(removed, "removed temporary files left by crashes")
                    }
                    Err(e) => tracing::warn!(error = %e, "could not sweep temporary files"),
                }
            });
            Arc::new(store)
        }
        StoreKind::S3(s3) => Arc::new(S3Store::new(s3_config(s3)).await?),
    })
}

/// The S3 store configuration for validated settings; credentials come from the standard AWS
/// chain (`AWS_ACCESS_KEY_ID`, profiles, web identity, instance metadata).
pub fn s3_config(s3: &S3Settings) -> S3Config {
    let mut cfg = S3Config::new(s3.bucket.clone());
    cfg.prefix = s3.prefix.clone();
    cfg.endpoint_url = s3.endpoint.clone();
    cfg.region = Some(s3.region.clone());
    cfg.force_path_style = s3.path_style;
    cfg.checksum_mode = match s3.checksum.as_str() {
        "content-md5" => ChecksumMode::ContentMd5,
        "none" => ChecksumMode::None,
        _ => ChecksumMode::Sha256,
    };
    cfg.part_size = s3.part_size;
    cfg.upload_concurrency = s3.upload_concurrency;
    cfg.sse = match s3.sse.as_str() {
        "s3" => Some(Sse::S3),
        "kms" => Some(Sse::Kms {
            key_id: s3.sse_kms_key_id.clone(),
        }),
        _ => None,
    };
    cfg
}

/// Archiving settings described by `config`.
pub fn settings(config: &Config) -> ArchiveSettings {
    ArchiveSettings {
        lock_mode: config.lock_mode,
        retention: config.retention,
        legal_hold: config.legal_hold,
        not_ready_wait: config.not_ready_wait,
        video_policy: VideoPolicy {
            allowed_hosts: config.video_allowed_hosts.clone(),
            allow_http_hosts: config.video_allow_http_hosts.clone(),
            max_bytes: config.video_max_bytes,
            ..VideoPolicy::default()
        },
        video_limits: PumpLimits {
            max_attempts: config.video_max_attempts,
            max_refreshes: config.video_max_refreshes,
            ..PumpLimits::default()
        },
        video_connect_timeout: config.video_connect_timeout,
        video_read_timeout: config.video_read_timeout,
        ..ArchiveSettings::default()
    }
}

/// The archiver described by `config`.
pub async fn archiver(config: &Config) -> Result<Archiver, SetupError> {
    let store = store(config).await?;
    Ok(Archiver::new(client(config)?, store, settings(config))?)
}
