//! A faithful local stand-in for Alibaba Cloud ID Verification's `CheckResult`
//! (`cloudauth-intl`, version `2022-08-09`) and for the OSS-signed evidence video behind
//! `docVideoUrl`.
//!
//! - `POST /`: the API gateway (V3 `ACS3-HMAC-SHA256` and V2 `HMAC-SHA1` signatures, access
//!   keys, STS tokens, 15-minute timestamps and nonces, with the gateway's error shapes), then
//!   the CheckResult service (per-product result shapes, images, 30-day retention,
//!   `ProcessNotCompleted`).
//! - `GET|HEAD /<bucket>/<transaction id>.webm?Expires=..&OSSAccessKeyId=..&Signature=..`: the
//!   evidence video, OSS V1 signed, valid 15 minutes per URL, deleted 30 minutes after the
//!   verification, streamed from a deterministic generator ([`video`]), with `Range` support.
//! - `/admin/…`: a JSON control API ([`admin`]), mirrored by [`RunningEmulator`] methods.
//!
//! Time comes from a controllable [`Clock`]; faults are injected per endpoint ([`faults`]);
//! every request is logged ([`RequestLogEntry`]) without signatures, secrets or tokens.
//!
//! # Choices where the references are silent
//!
//! The emulator is deliberately at least as strict as the service is known to be:
//!
//! - Only `POST /` is CheckResult; other methods answer `InvalidAction.NotFound` (404).
//! - V2 requests without `Format=JSON` (any case) get XML (`text/xml;charset=utf-8`), as POP
//!   answers when `Format` is omitted or `XML`; V3 always gets JSON.
//! - V3: `host` and every `x-acs-*` header sent must be in `SignedHeaders`; the payload hash is
//!   recomputed from the body, so a lying `x-acs-content-sha256` is `SignatureDoesNotMatch`;
//!   a malformed `Authorization` or a `SignedHeaders` gap is `IncompleteSignature` (400);
//!   V2 with `SignatureMethod` ≠ `HMAC-SHA1` or `SignatureVersion` ≠ `1.0` too.
//! - Timestamps must be exactly `yyyy-MM-ddTHH:mm:ssZ` (else `InvalidTimeStamp.Format`, always
//!   checked); the ±15-minute window only with `check_timestamps`.
//! - STS: an STS key without token → `InvalidSecurityToken.Malformed`; a different token, or
//!   a token with a long-term key → `InvalidSecurityToken.Mismatch` (both 400).
//! - Nonces share one space across schemes and keys, are consumed only by requests whose
//!   signature and token are valid, and are forgotten after 15 emulated minutes.
//! - Gateway errors (signature, key, timestamp, nonce, action, version, token,
//!   `Throttling.Api`) carry `HostId` and `Recommend`; service errors (`MissingParameter` /
//!   `InvalidParameter` for business parameters, `TransactionIdInvalid`,
//!   `ProcessNotCompleted`, `Forbidden.*`, `InternalError`, `ServiceUnavailable`) only
//!   `RequestId`, `Code`, `Message`.
//! - `MerchantBizId`: 1..=32 ASCII letters and digits; `TransactionId`: 1..=64 of
//!   `[A-Za-z0-9_-]`; `IsReturnImage`: `Y`, `N` or absent (else `InvalidParameter`). The
//!   `MerchantBizId` is not compared with the one the verification was created with.
//! - After the video's 30 minutes, CheckResult still returns a (fresh, validly signed)
//!   `docVideoUrl`, which answers 404 `NoSuchKey`. Before completion the video is `NoSuchKey`.
//! - OSS order: bucket, signature parameters, expiry, access key, signature, object. A malformed
//!   or multi-range `Range` gets the whole object (200); a start beyond the end gets 416.
//! - `ID_OCR` failures 211/213 carry no `ocrIdInfo` and no images (OCR did not complete);
//!   212 carries both, with `spoofInfo.spoofResult = Y`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cloudauth_emulator::Error> {
//! use cloudauth_emulator::{Emulator, EmulatorConfig, VerificationSpec};
//! let emulator = Emulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap()).await?;
//! let v = emulator.create_verification(VerificationSpec::ekyc().with_video(1 << 20))?;
//! println!("{} at {}", v.transaction_id, emulator.base_url());
//! emulator.clock().advance(std::time::Duration::from_secs(31 * 60)); // video now deleted
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod admin;
mod body;
mod checkresult;
pub mod clock;
pub mod config;
pub mod faults;
mod gateway;
pub mod images;
pub mod ocr;
pub mod oss;
pub mod requests;
mod state;
pub mod verification;
pub mod video;
mod video_endpoint;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State as AxState};
use axum::response::Response;
use http::Method;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use admin::ClockUpdate;
pub use clock::{Clock, ClockConfig, ClockStatus};
pub use config::{AccessKey, EmulatorConfig, FaultsConfig};
pub use faults::{Endpoint, Fault, FaultPlan, FaultRule, ScriptStep};
pub use images::{ImageFormat, ImageSpec};
pub use requests::{RequestLogEntry, SignatureScheme};
pub use verification::{ImageSet, Product, Verification, VerificationSpec, VideoInfo};

use state::State;

/// Errors of the emulator library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid.
    #[error("invalid emulator configuration: {0}")]
    Config(String),
    /// A scenario file could not be read.
    #[error("cannot read {path}: {source}")]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A verification spec is invalid.
    #[error("invalid verification spec: {0}")]
    InvalidSpec(String),
    /// A verification with this transaction id exists already.
    #[error("transaction id {0} exists already")]
    DuplicateTransaction(String),
    /// No verification has this transaction id.
    #[error("no verification with transaction id {0}")]
    NotFound(String),
    /// The listener could not be bound or served.
    #[error("listener error on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/", axum::routing::any(api))
        .nest("/admin", admin::router(state.clone()))
        .fallback(objects)
        .with_state(state)
}

async fn api(AxState(state): AxState<Arc<State>>, req: Request) -> Response {
    checkresult::handle(state, req).await
}

async fn objects(AxState(state): AxState<Arc<State>>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    if parts.method == Method::GET || parts.method == Method::HEAD {
        video_endpoint::handle(state, parts.method, parts.uri, parts.headers).await
    } else {
        let body = oss::error_xml(
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
            &oss::request_id(),
            &state.config.oss_host_id(),
            &[("Method", parts.method.to_string())],
        );
        let mut r = Response::new(axum::body::Body::from(body));
        *r.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/xml"),
        );
        r
    }
}

async fn run(
    state: Arc<State>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let addr = listener.local_addr().map_err(|source| Error::Listen {
        addr: "listener".into(),
        source,
    })?;
    let _ = state.bound.set(addr);
    tracing::info!(%addr, "cloudauth emulator listening");
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|source| Error::Listen {
        addr: addr.to_string(),
        source,
    })
}

/// Serves the emulator on `listener` until `shutdown` completes (mini-redis style).
pub async fn serve(
    config: EmulatorConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    run(State::new(config)?, listener, shutdown).await
}

/// Starts emulators.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Binds `addr` (use `127.0.0.1:0` for a free port) and serves in a background task.
    /// Must be called inside a Tokio runtime.
    pub async fn start(config: EmulatorConfig, addr: SocketAddr) -> Result<RunningEmulator, Error> {
        let state = State::new(config)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Listen {
                addr: addr.to_string(),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| Error::Listen {
            addr: addr.to_string(),
            source,
        })?;
        let _ = state.bound.set(local);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(run(state.clone(), listener, async {
            let _ = rx.await;
        }));
        Ok(RunningEmulator {
            state,
            addr: local,
            shutdown: Some(tx),
            task: Some(task),
        })
    }
}

/// A running emulator: its address and in-process control (mirrors the admin API).
///
/// Dropping it stops the server task.
#[derive(Debug)]
pub struct RunningEmulator {
    state: Arc<State>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), Error>>>,
}

impl RunningEmulator {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>` (the endpoint to configure clients with).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.endpoint())
    }

    /// `127.0.0.1:<port>` (host and port, as SDK `endpoint` settings want it). When bound to
    /// an unspecified address (`0.0.0.0`, `::`), the loopback address of the same family.
    pub fn endpoint(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        addr.to_string()
    }

    /// The configuration the emulator runs with.
    pub fn config(&self) -> &EmulatorConfig {
        &self.state.config
    }

    /// Creates a verification (`POST /admin/verifications`). Computes the video's SHA-256,
    /// which takes a moment for very large videos.
    pub fn create_verification(&self, spec: VerificationSpec) -> Result<Verification, Error> {
        self.state.create_verification(&spec)
    }

    /// One verification (`GET /admin/verifications/{id}`).
    pub fn verification(&self, transaction_id: &str) -> Option<Verification> {
        self.state.store.get(transaction_id).map(|r| r.info.clone())
    }

    /// All verifications in creation order (`GET /admin/verifications`).
    pub fn verifications(&self) -> Vec<Verification> {
        self.state.store.list()
    }

    /// Deletes a verification (`DELETE /admin/verifications/{id}`); `false` if unknown.
    pub fn delete_verification(&self, transaction_id: &str) -> bool {
        self.state.store.remove(transaction_id)
    }

    /// Deletes every verification (`DELETE /admin/verifications`).
    pub fn clear_verifications(&self) {
        self.state.store.clear();
    }

    /// A fresh signed video URL valid 15 minutes from now, as CheckResult would issue
    /// (`GET /admin/verifications/{id}/video-url`).
    pub fn video_url(&self, transaction_id: &str) -> Result<String, Error> {
        let record = self
            .state
            .store
            .get(transaction_id)
            .filter(|r| r.info.video.is_some())
            .ok_or_else(|| Error::NotFound(transaction_id.to_owned()))?;
        let base = self.state.base_url(None);
        Ok(self
            .state
            .video_url(&record.info.transaction_id, self.state.clock.now(), &base))
    }

    /// The emulator clock.
    pub fn clock(&self) -> &Clock {
        &self.state.clock
    }

    /// The emulator clock as a shared handle, e.g. for a client that must sign with emulator
    /// time (`cloudauth::Clock::new(move || clock.now())`).
    pub fn shared_clock(&self) -> Arc<Clock> {
        self.state.clock.clone()
    }

    /// Applies a clock update (`POST /admin/clock`).
    pub fn update_clock(&self, update: &ClockUpdate) -> Result<ClockStatus, Error> {
        admin::apply_clock(&self.state, update).map_err(Error::Config)
    }

    /// The request log, oldest first (`GET /admin/requests`).
    pub fn requests(&self) -> Vec<RequestLogEntry> {
        self.state.log.entries()
    }

    /// Empties the request log (`DELETE /admin/requests`).
    pub fn clear_requests(&self) {
        self.state.log.clear();
    }

    /// Replaces the fault plan of `endpoint` (`PUT /admin/faults/{endpoint}`).
    pub fn set_faults(&self, endpoint: Endpoint, plan: FaultPlan) -> Result<(), Error> {
        plan.validate().map_err(Error::Config)?;
        self.state.faults.set(endpoint, plan);
        Ok(())
    }

    /// The fault plan of `endpoint` with what is left of its script (`GET /admin/faults/{endpoint}`).
    pub fn faults(&self, endpoint: Endpoint) -> FaultPlan {
        self.state.faults.get(endpoint)
    }

    /// Removes every fault (`DELETE /admin/faults`).
    pub fn clear_faults(&self) {
        self.state.faults.clear();
    }

    /// Stops accepting connections and waits (up to 5 s) for open ones to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
