//! The worker's HTTP port: health, readiness, metrics, and two ways in for archive requests
//! (a JSON endpoint that answers only after the broker confirmed the message, and the
//! service's own completion callback).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use evidence::message::ArchiveRequestV1;
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

use crate::queue::{QueueError, Topology, WorkerState, confirm_channel, connect, publish};
use crate::store::ObjectStore;

/// Publishes archive requests to the work queue with confirms, connecting lazily and
/// reconnecting after a failure.
#[derive(Debug)]
pub struct Publisher {
    url: String,
    topology: Topology,
    link: Mutex<Option<(Connection, Channel)>>,
}

impl Publisher {
    /// A publisher for `topology` on the broker at `url` (nothing is connected yet).
    pub fn new(url: impl Into<String>, topology: Topology) -> Self {
        Self {
            url: url.into(),
            topology,
            link: Mutex::new(None),
        }
    }

    async fn channel(&self) -> Result<Channel, QueueError> {
        let mut link = self.link.lock().await;
        if let Some((connection, channel)) = link.as_ref()
            && connection.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let connection = connect(&self.url).await?;
        let channel = confirm_channel(&connection).await?;
        self.topology.declare(&channel).await?;
        *link = Some((connection, channel.clone()));
        Ok(channel)
    }

    /// Publishes one validated request and waits for the broker's confirm.
    pub async fn publish(&self, request: &ArchiveRequestV1) -> Result<(), QueueError> {
        let channel = self.channel().await?;
        let result = publish(
            &channel,
            &self.topology.work,
            &request.to_json(),
            FieldTable::default(),
        )
        .await;
        if result.is_err() {
            *self.link.lock().await = None;
        }
        result
    }

    /// Closes the connection, if one is open.
    pub async fn close(&self) {
        if let Some((connection, channel)) = self.link.lock().await.take() {
            let _ = channel.close(200, "shutdown").await;
            let _ = connection.close(200, "shutdown").await;
        }
    }

    /// Whether the broker can be reached (connects if needed).
    pub async fn check(&self) -> Result<(), QueueError> {
        self.channel().await.map(|_| ())
    }
}

/// Settings of the callback endpoint.
#[derive(Debug, Clone)]
pub struct CallbackSettings {
    /// The `CallbackToken` given to `Initialize`.
    pub token: String,
    /// MerchantBizId for callbacks that carry none.
    pub merchant_biz_id: Option<String>,
}

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct HttpState {
    /// The worker's connection state (`None` when no worker runs in this process).
    pub worker: Option<Arc<WorkerState>>,
    /// The store, for readiness.
    pub store: Arc<dyn ObjectStore>,
    /// Renders `/metrics`.
    pub prometheus: Option<PrometheusHandle>,
    /// Publishes accepted requests.
    pub publisher: Arc<Publisher>,
    /// Enables `GET /v1/callback`.
    pub callback: Option<CallbackSettings>,
}

/// The routes.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/archive-requests", post(enqueue))
        .route("/v1/callback", get(callback))
        .with_state(state)
}

async fn readyz(State(state): State<HttpState>) -> Response {
    let broker = match &state.worker {
        Some(w) => w.is_connected(),
        None => state.publisher.check().await.is_ok(),
    };
    let store = state.store.check().await;
    let body = json!({
        "broker": if broker { "ok" } else { "unavailable" },
        "store": match &store { Ok(()) => "ok".to_owned(), Err(e) => e.to_string() },
    });
    let status = if broker && store.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(state): State<HttpState>) -> Response {
    match &state.prometheus {
        Some(handle) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4",
            )],
            handle.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled\n").into_response(),
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn accept(state: &HttpState, request: ArchiveRequestV1) -> Response {
    match state.publisher.publish(&request).await {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(json!({ "status": "accepted", "transaction_id": request.transaction_id })),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "could not enqueue an archive request");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the broker did not take the request: {e}"),
            )
        }
    }
}

async fn enqueue(State(state): State<HttpState>, body: Bytes) -> Response {
    match ArchiveRequestV1::parse(&body) {
        Ok(request) => accept(&state, request).await,
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// Query of the service's completion callback (reference §4).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallbackQuery {
    transaction_id: Option<String>,
    callback_token: Option<String>,
    merchant_biz_id: Option<String>,
    passed: Option<String>,
    sub_code: Option<String>,
}

async fn callback(State(state): State<HttpState>, Query(q): Query<CallbackQuery>) -> Response {
    let Some(settings) = &state.callback else {
        return error(
            StatusCode::NOT_FOUND,
            "callbacks are not enabled".to_owned(),
        );
    };
    let given = q.callback_token.unwrap_or_default();
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        given.as_bytes(),
        settings.token.as_bytes(),
    )) {
        tracing::warn!("callback with a wrong or missing callbackToken refused");
        return error(
            StatusCode::FORBIDDEN,
            "wrong or missing callbackToken".to_owned(),
        );
    }
    let Some(merchant_biz_id) = q
        .merchant_biz_id
        .or_else(|| settings.merchant_biz_id.clone())
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "no merchantBizId in the callback and none configured".to_owned(),
        );
    };
    let mut request = ArchiveRequestV1::new(q.transaction_id.unwrap_or_default(), merchant_biz_id);
    // The service calls back when the verification completes: that is the best completion
    // time available, and it starts the video's 30-minute clock.
    request.completed_at = Some(Utc::now());
    if let Some(passed) = q.passed.filter(|p| p.len() <= 4) {
        request.labels.insert("callback.passed".to_owned(), passed);
    }
    if let Some(sub_code) = q.sub_code.filter(|c| c.len() <= 8) {
        request
            .labels
            .insert("callback.sub_code".to_owned(), sub_code);
    }
    if let Err(e) = request.validate() {
        return error(StatusCode::BAD_REQUEST, e.to_string());
    }
    accept(&state, request).await
}
