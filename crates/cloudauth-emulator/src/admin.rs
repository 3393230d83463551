//! The JSON admin API under `/admin/` (no signature; loopback peers only unless
//! `admin_allow_remote`). Every operation mirrors a method of [`crate::RunningEmulator`].
//!
//! | method and path | body / query | answer |
//! |---|---|---|
//! | `GET /admin/health` | | `{"status":"ok","now":..}` |
//! | `GET /admin/verifications` | | `[Verification]` |
//! | `POST /admin/verifications` | `VerificationSpec` | 201 `Verification` |
//! | `DELETE /admin/verifications` | | 204 (all removed) |
//! | `GET /admin/verifications/{id}` | | `Verification` |
//! | `DELETE /admin/verifications/{id}` | | 204 |
//! | `GET /admin/verifications/{id}/video-url` | | `{"url":..}` (fresh signed URL) |
//! | `GET /admin/requests` | `?endpoint=checkresult\|video&since=<seq>` | `[RequestLogEntry]` |
//! | `DELETE /admin/requests` | | 204 |
//! | `GET /admin/clock` | | `ClockStatus` |
//! | `POST /admin/clock` | `{"now":..,"offset_ms":..,"advance":"16m","speed":60}` | `ClockStatus` |
//! | `GET /admin/faults` | | `{"checkresult":FaultPlan,..}` |
//! | `DELETE /admin/faults` | | 204 |
//! | `GET\|PUT\|DELETE /admin/faults/{endpoint}` | `FaultPlan` (PUT) | `FaultPlan` / 204 |

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, Request, State as AxState};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, TimeDelta, Utc};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Error;
use crate::clock::ClockStatus;
use crate::faults::{Endpoint, FaultPlan};
use crate::state::State;
use crate::verification::VerificationSpec;

type Shared = AxState<Arc<State>>;

/// A clock change (`POST /admin/clock`); fields apply in the order `now`, `offset_ms`,
/// `advance`, `speed`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClockUpdate {
    /// Jump to this time.
    pub now: Option<DateTime<Utc>>,
    /// Set the manual offset (milliseconds, may be negative).
    pub offset_ms: Option<i64>,
    /// Move forward by this much (`"16m"`).
    #[serde(with = "humantime_serde")]
    pub advance: Option<Duration>,
    /// Emulated seconds per real second.
    pub speed: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct RequestsQuery {
    endpoint: Option<String>,
    since: Option<u64>,
}

fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    let body = serde_json::to_vec_pretty(value)
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}").into_bytes());
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    json_response(status, &json!({ "error": message.to_string() }))
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Box<Response>> {
    let text = if body.is_empty() {
        &b"{}"[..]
    } else {
        &body[..]
    };
    serde_json::from_slice(text).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("invalid json body: {e}"),
        ))
    })
}

async fn loopback_only(
    AxState(state): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if !state.config.admin_allow_remote && !peer.ip().is_loopback() {
        tracing::warn!(peer = %peer.ip(), "admin request from a non-loopback peer refused");
        return error(
            StatusCode::FORBIDDEN,
            "the admin api only serves loopback peers (see admin_allow_remote)",
        );
    }
    next.run(request).await
}

pub(crate) fn router(state: Arc<State>) -> Router<Arc<State>> {
    Router::new()
        .route("/health", get(health))
        .route(
            "/verifications",
            get(list).post(create).delete(clear_verifications),
        )
        .route("/verifications/{id}", get(get_one).delete(delete_one))
        .route("/verifications/{id}/video-url", get(video_url))
        .route("/requests", get(requests).delete(clear_requests))
        .route("/clock", get(clock).post(set_clock))
        .route("/faults", get(faults).delete(clear_faults))
        .route(
            "/faults/{endpoint}",
            get(fault_get).put(fault_put).delete(fault_delete),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such admin endpoint") })
        .layer(middleware::from_fn_with_state(state, loopback_only))
}

async fn health(AxState(state): Shared) -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "status": "ok", "now": state.clock.now() }),
    )
}

async fn list(AxState(state): Shared) -> Response {
    json_response(StatusCode::OK, &state.store.list())
}

async fn create(AxState(state): Shared, body: Bytes) -> Response {
    let spec: VerificationSpec = match parse(&body) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    // Hashing a large video takes a while: keep it off the async workers.
    let result = tokio::task::spawn_blocking(move || state.create_verification(&spec)).await;
    match result {
        Ok(Ok(v)) => json_response(StatusCode::CREATED, &v),
        Ok(Err(e @ Error::DuplicateTransaction(_))) => error(StatusCode::CONFLICT, e),
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn clear_verifications(AxState(state): Shared) -> Response {
    state.store.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn get_one(AxState(state): Shared, Path(id): Path<String>) -> Response {
    match state.store.get(&id) {
        Some(r) => json_response(StatusCode::OK, &r.info),
        None => error(StatusCode::NOT_FOUND, format!("no verification {id}")),
    }
}

async fn delete_one(AxState(state): Shared, Path(id): Path<String>) -> Response {
    if state.store.remove(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(StatusCode::NOT_FOUND, format!("no verification {id}"))
    }
}

async fn video_url(
    AxState(state): Shared,
    Path(id): Path<String>,
    headers: http::HeaderMap,
) -> Response {
    match state.store.get(&id) {
        Some(r) if r.info.video.is_some() => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
            let url = state.video_url(&id, state.clock.now(), &state.base_url(host));
            json_response(StatusCode::OK, &json!({ "url": url }))
        }
        Some(_) => error(
            StatusCode::NOT_FOUND,
            format!("verification {id} has no video"),
        ),
        None => error(StatusCode::NOT_FOUND, format!("no verification {id}")),
    }
}

async fn requests(AxState(state): Shared, Query(q): Query<RequestsQuery>) -> Response {
    let endpoint = match q.endpoint.as_deref().map(|e| Endpoint::parse(e).ok_or(e)) {
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, format!("unknown endpoint {e:?}")),
        Some(Ok(e)) => Some(e),
        None => None,
    };
    let entries: Vec<_> = state
        .log
        .entries()
        .into_iter()
        .filter(|e| endpoint.is_none_or(|want| e.endpoint == want))
        .filter(|e| q.since.is_none_or(|s| e.seq >= s))
        .collect();
    json_response(StatusCode::OK, &entries)
}

async fn clear_requests(AxState(state): Shared) -> Response {
    state.log.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn clock(AxState(state): Shared) -> Response {
    json_response(StatusCode::OK, &state.clock.status())
}

/// Applies a clock update; shared with [`crate::RunningEmulator::update_clock`].
pub(crate) fn apply_clock(state: &State, update: &ClockUpdate) -> Result<ClockStatus, String> {
    if let Some(speed) = update.speed
        && !(speed.is_finite() && speed >= 0.0)
    {
        return Err(format!("speed {speed} must be a finite number >= 0"));
    }
    if let Some(now) = update.now {
        state.clock.set_now(now);
    }
    if let Some(ms) = update.offset_ms {
        state.clock.set_offset(TimeDelta::milliseconds(ms));
    }
    if let Some(by) = update.advance {
        state.clock.advance(by);
    }
    if let Some(speed) = update.speed {
        state.clock.set_speed(speed);
    }
    Ok(state.clock.status())
}

async fn set_clock(AxState(state): Shared, body: Bytes) -> Response {
    let update: ClockUpdate = match parse(&body) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    match apply_clock(&state, &update) {
        Ok(status) => json_response(StatusCode::OK, &status),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn faults(AxState(state): Shared) -> Response {
    let all: std::collections::BTreeMap<&str, FaultPlan> = state
        .faults
        .all()
        .into_iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    json_response(StatusCode::OK, &all)
}

async fn clear_faults(AxState(state): Shared) -> Response {
    state.faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

fn endpoint(name: &str) -> Result<Endpoint, Box<Response>> {
    Endpoint::parse(name).ok_or_else(|| {
        Box::new(error(
            StatusCode::NOT_FOUND,
            format!("unknown endpoint {name:?} (checkresult, video)"),
        ))
    })
}

async fn fault_get(AxState(state): Shared, Path(name): Path<String>) -> Response {
    match endpoint(&name) {
        Ok(e) => json_response(StatusCode::OK, &state.faults.get(e)),
        Err(r) => *r,
    }
}

async fn fault_put(AxState(state): Shared, Path(name): Path<String>, body: Bytes) -> Response {
    let e = match endpoint(&name) {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let plan: FaultPlan = match parse(&body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    if let Err(msg) = plan.validate() {
        return error(StatusCode::BAD_REQUEST, msg);
    }
    state.faults.set(e, plan);
    json_response(StatusCode::OK, &state.faults.get(e))
}

async fn fault_delete(AxState(state): Shared, Path(name): Path<String>) -> Response {
    match endpoint(&name) {
        Ok(e) => {
            state.faults.set(e, FaultPlan::default());
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => *r,
    }
}
