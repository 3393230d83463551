//! Shared emulator state: configuration, clock, verifications, nonces, faults, request log.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};

use crate::Error;
use crate::clock::Clock;
use crate::config::{AccessKey, EmulatorConfig};
use crate::faults::{Endpoint, Faults};
use crate::gateway::{Keys, NonceCache};
use crate::images::ImageCache;
use crate::requests::RequestLog;
use crate::verification::{Record, Store, VIDEO_URL_VALIDITY, Verification, VerificationSpec};

#[derive(Debug)]
pub(crate) struct State {
    pub config: EmulatorConfig,
    keys: HashMap<String, AccessKey>,
    pub clock: Arc<Clock>,
    pub store: Store,
    nonces: Mutex<NonceCache>,
    pub log: RequestLog,
    pub faults: Faults,
    pub images: ImageCache,
    pub bound: OnceLock<SocketAddr>,
    seq: AtomicU64,
}

impl State {
    pub(crate) fn new(config: EmulatorConfig) -> Result<Arc<Self>, Error> {
        config.validate()?;
        let keys = config
            .access_keys
            .iter()
            .map(|k| (k.id.clone(), k.clone()))
            .collect();
        let state = Arc::new(Self {
            clock: Arc::new(Clock::new(&config.clock)),
            keys,
            store: Store::default(),
            nonces: Mutex::new(NonceCache::default()),
            log: RequestLog::new(config.request_log_capacity),
            faults: Faults::default(),
            images: ImageCache::default(),
            bound: OnceLock::new(),
            seq: AtomicU64::new(0),
            config,
        });
        for spec in &state.config.verifications {
            state.create_verification(spec)?;
        }
        if let Some(plan) = &state.config.faults.checkresult {
            state.faults.set(Endpoint::CheckResult, plan.clone());
        }
        if let Some(plan) = &state.config.faults.video {
            state.faults.set(Endpoint::Video, plan.clone());
        }
        Ok(state)
    }

    pub(crate) fn create_verification(
        &self,
        spec: &VerificationSpec,
    ) -> Result<Verification, Error> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let record =
            Record::build(spec, self.clock.now(), seq).map_err(|e| Error::InvalidSpec(e.0))?;
        let info = record.info.clone();
        if !self.store.insert(record) {
            return Err(Error::DuplicateTransaction(info.transaction_id));
        }
        tracing::debug!(
            transaction_id = %info.transaction_id,
            product = %info.product,
            sub_code = info.sub_code,
            "verification created"
        );
        Ok(info)
    }

    /// `http://host:port` of the emulator, for `docVideoUrl`.
    pub(crate) fn base_url(&self, host_header: Option<&str>) -> String {
        if let Some(base) = &self.config.public_base_url {
            return base.trim_end_matches('/').to_owned();
        }
        match (self.bound.get(), host_header) {
            (Some(addr), _) if !addr.ip().is_unspecified() => format!("http://{addr}"),
            (_, Some(host)) => format!("http://{host}"),
            (Some(addr), None) => format!("http://127.0.0.1:{}", addr.port()),
            (None, None) => "http://127.0.0.1".to_owned(),
        }
    }

    /// A fresh signed video URL valid 15 minutes from `now`.
    pub(crate) fn video_url(&self, transaction_id: &str, now: DateTime<Utc>, base: &str) -> String {
        let expires = (now + VIDEO_URL_VALIDITY).timestamp();
        crate::oss::presigned_get_url(
            base,
            &self.config.bucket,
            &format!("{transaction_id}.webm"),
            &self.config.oss_access_key.id,
            &self.config.oss_access_key.secret,
            expires,
        )
    }
}

impl Keys for State {
    fn key(&self, id: &str) -> Option<&AccessKey> {
        self.keys.get(id)
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn check_timestamps(&self) -> bool {
        self.config.check_timestamps
    }

    fn nonce_fresh(&self, nonce: &str, now: DateTime<Utc>) -> bool {
        self.nonces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check_and_insert(nonce, now)
    }
}
