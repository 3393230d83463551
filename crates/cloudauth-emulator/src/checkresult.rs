//! `POST /`: the gateway, then the CheckResult service.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value};

use crate::faults::{Effects, Endpoint, Fault};
use crate::gateway::{self, ApiError, Authenticated, Incoming, Info};
use crate::images::ImageKind;
use crate::oss::xml_escape;
use crate::requests::{RequestLogEntry, SignatureScheme};
use crate::state::State;
use crate::verification::{valid_merchant_biz_id, valid_transaction_id};

/// Content type of JSON answers.
pub(crate) const JSON: &str = "application/json;charset=utf-8";
/// Content type of XML answers (V2 without `Format=JSON`).
pub(crate) const XML: &str = "text/xml;charset=utf-8";

/// Largest accepted request body.
const MAX_BODY: usize = 1024 * 1024;

/// An answer before fault shaping.
struct Reply {
    status: StatusCode,
    code: String,
    body: String,
    xml: bool,
}

fn request_id() -> String {
    uuid::Uuid::new_v4()
        .hyphenated()
        .to_string()
        .to_ascii_uppercase()
}

pub(crate) async fn handle(state: Arc<State>, req: Request) -> Response {
    let started = Instant::now();
    let arrived = state.clock.now();
    let request_id = request_id();
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .unwrap_or_default();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let form_body = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });

    let mut info = Info::default();
    let mut effects = Effects::default();
    let mut transaction_id = None;
    let reply = if parts.method != Method::POST {
        info.scheme = Some(SignatureScheme::None);
        let err = ApiError::gateway(
            StatusCode::NOT_FOUND,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        );
        error_reply(&state, &err, &request_id, false)
    } else {
        let incoming = Incoming {
            method: &parts.method,
            path: parts.uri.path(),
            query: gateway::parse_pairs(parts.uri.query().unwrap_or("")),
            form: if form_body {
                gateway::parse_pairs(&String::from_utf8_lossy(&body))
            } else {
                Vec::new()
            },
            headers: &parts.headers,
            body: &body,
        };
        match gateway::authenticate(&*state, incoming, &mut info) {
            Err(err) => error_reply(&state, &err, &request_id, info.wants_xml()),
            Ok(auth) => {
                transaction_id = auth.param("TransactionId").map(str::to_owned);
                effects = state.faults.select(
                    Endpoint::CheckResult,
                    transaction_id.as_deref(),
                    Some(&auth.access_key_id),
                );
                if !effects.latency.is_zero() {
                    tokio::time::sleep(effects.latency).await;
                }
                let xml = info.wants_xml();
                match &effects.error {
                    Some(fault) => error_reply(&state, &fault_error(fault), &request_id, xml),
                    None => match check_result(
                        &state,
                        &auth,
                        state.clock.now(),
                        host.as_deref(),
                        &request_id,
                        xml,
                    ) {
                        Ok(body) => Reply {
                            status: StatusCode::OK,
                            code: "Success".into(),
                            body,
                            xml,
                        },
                        Err(err) => error_reply(&state, &err, &request_id, xml),
                    },
                }
            }
        }
    };

    if transaction_id.is_none() {
        transaction_id = info.params.get("TransactionId").cloned();
    }
    tracing::info!(
        endpoint = "checkresult",
        status = reply.status.as_u16(),
        code = %reply.code,
        scheme = ?info.scheme.unwrap_or(SignatureScheme::None),
        transaction_id = transaction_id.as_deref().unwrap_or(""),
        fault = effects.label().as_deref().unwrap_or(""),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    state.log.push(RequestLogEntry {
        seq: 0,
        time: arrived,
        endpoint: Endpoint::CheckResult,
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        scheme: info.scheme.unwrap_or(SignatureScheme::None),
        access_key_id: info.access_key_id,
        action: info.action,
        version: info.version,
        format: info.format,
        params: info.params,
        nonce: info.nonce,
        timestamp: info.timestamp,
        has_security_token: info.has_security_token,
        transaction_id,
        range: None,
        status: reply.status.as_u16(),
        code: reply.code.clone(),
        fault: effects.label(),
        request_id: request_id.clone(),
    });

    respond(reply, &request_id, &effects)
}

fn respond(reply: Reply, request_id: &str, effects: &Effects) -> Response {
    let content_type = effects
        .content_type
        .clone()
        .unwrap_or_else(|| (if reply.xml { XML } else { JSON }).to_owned());
    let bytes = Bytes::from(reply.body);
    let len = bytes.len();
    let body = if effects.alters_body() {
        crate::body::shaped(futures::stream::iter([bytes]), effects)
    } else {
        Body::from(bytes)
    };
    let mut response = Response::new(body);
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header_value(&content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert("x-acs-request-id", header_value(request_id));
    response
}

pub(crate) fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// The error an error fault answers with.
fn fault_error(fault: &Fault) -> ApiError {
    match fault {
        Fault::Throttling => ApiError::gateway(
            StatusCode::FORBIDDEN,
            "Throttling.Api",
            "Request was denied due to api flow control.",
        ),
        Fault::InternalError => ApiError::service(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "Internal system error.",
        ),
        Fault::ServiceUnavailable => ApiError::service(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
        ),
        Fault::RamUserAccessDenied => ApiError::service(
            StatusCode::FORBIDDEN,
            "Forbidden.RAMUserAccessDenied",
            "You need to grant the RAM user the AliyunAntCloudAuthFullAccess permission.",
        ),
        Fault::AccountAccessDenied => ApiError::service(
            StatusCode::FORBIDDEN,
            "Forbidden.AccountAccessDenied",
            "Ensure that you have activated ID verification and your account has no overdue payment.",
        ),
        Fault::Error {
            status,
            code,
            message,
        } => ApiError::service(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            message
                .clone()
                .unwrap_or_else(|| format!("Injected error {code}.")),
        ),
        other => ApiError::service(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("Unexpected fault {}.", other.name()),
        ),
    }
}

fn recommend(code: &str, request_id: &str) -> String {
    format!(
        "https://api.aliyun.com/troubleshoot?q={code}&product=Cloudauth-intl&requestId={request_id}"
    )
}

fn error_reply(state: &State, err: &ApiError, request_id: &str, xml: bool) -> Reply {
    let host = &state.config.region_host;
    let body = if xml {
        let mut out = format!(
            "<?xml version='1.0' encoding='UTF-8'?><Error><RequestId>{}</RequestId>",
            xml_escape(request_id)
        );
        if err.gateway {
            out.push_str(&format!("<HostId>{}</HostId>", xml_escape(host)));
        }
        out.push_str(&format!(
            "<Code>{}</Code><Message>{}</Message>",
            xml_escape(&err.code),
            xml_escape(&err.message)
        ));
        if err.gateway {
            out.push_str(&format!(
                "<Recommend><![CDATA[{}]]></Recommend>",
                recommend(&err.code, request_id)
            ));
        }
        out.push_str("</Error>");
        out
    } else {
        let mut m = Map::new();
        m.insert("RequestId".into(), request_id.into());
        if err.gateway {
            m.insert("HostId".into(), host.as_str().into());
        }
        m.insert("Code".into(), err.code.as_str().into());
        m.insert("Message".into(), err.message.as_str().into());
        if err.gateway {
            m.insert("Recommend".into(), recommend(&err.code, request_id).into());
        }
        Value::Object(m).to_string()
    };
    Reply {
        status: err.status,
        code: err.code.clone(),
        body,
        xml,
    }
}

fn invalid(name: &str) -> ApiError {
    ApiError::service(
        StatusCode::BAD_REQUEST,
        "InvalidParameter",
        format!("Invalid parameter: {name}."),
    )
}

fn missing(name: &str) -> ApiError {
    ApiError::service(
        StatusCode::BAD_REQUEST,
        "MissingParameter",
        format!("Parameter cannot be empty: {name}."),
    )
}

/// The CheckResult service: the body of a successful answer.
fn check_result(
    state: &State,
    auth: &Authenticated,
    now: DateTime<Utc>,
    host: Option<&str>,
    request_id: &str,
    xml: bool,
) -> Result<String, ApiError> {
    let param = |name| auth.param(name).filter(|v| !v.is_empty());
    let merchant = param("MerchantBizId").ok_or_else(|| missing("MerchantBizId"))?;
    let transaction_id = param("TransactionId").ok_or_else(|| missing("TransactionId"))?;
    if !valid_merchant_biz_id(merchant) {
        return Err(invalid("MerchantBizId"));
    }
    if !valid_transaction_id(transaction_id) {
        return Err(invalid("TransactionId"));
    }
    let with_images = match auth.param("IsReturnImage") {
        None | Some("") | Some("N") => false,
        Some("Y") => true,
        Some(_) => return Err(invalid("IsReturnImage")),
    };
    let tx_invalid = || {
        ApiError::service(
            StatusCode::BAD_REQUEST,
            "TransactionIdInvalid",
            "Invalid Transaction ID.",
        )
    };
    let record = state.store.get(transaction_id).ok_or_else(tx_invalid)?;
    let v = &record.info;
    if now < v.completed_at {
        return Err(ApiError::service(
            StatusCode::NOT_FOUND,
            "ProcessNotCompleted",
            "The entire authentication process is not completed.",
        ));
    }
    if now >= v.result_expires_at {
        return Err(tx_invalid());
    }

    let image = |kind, spec| -> Result<Value, ApiError> {
        state
            .images
            .base64(kind, spec)
            .map(|s| Value::String(s.to_string()))
            .map_err(|e| {
                tracing::error!(error = %e, "image generation failed");
                ApiError::service(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "Internal system error.",
                )
            })
    };
    let mut result = Map::new();
    result.insert("Passed".into(), (if v.passed { "Y" } else { "N" }).into());
    result.insert("SubCode".into(), v.sub_code.to_string().into());
    // Overrides for hostile-input tests: fields set last, whole strings replaced verbatim.
    let ext = |name: &str, mut fields: Map<String, Value>| -> Value {
        for (field, key, value) in &record.ext_fields {
            if field == name {
                fields.insert(key.clone(), value.clone());
            }
        }
        match record.ext_raw.get(name) {
            Some(raw) => raw.clone().into(),
            None => Value::Object(fields).to_string().into(),
        }
    };
    if let Some(face) = &record.face {
        let mut face = face.clone();
        if let Some(url) = &record.doc_video_url {
            face.insert("docVideoUrl".into(), url.clone().into());
        } else if v.video.is_some() {
            let url = state.video_url(&v.transaction_id, now, &state.base_url(host));
            face.insert("docVideoUrl".into(), url.into());
        }
        if let (true, Some(spec)) = (with_images, v.images.face) {
            face.insert("faceImg".into(), image(ImageKind::Face, spec)?);
        }
        result.insert("ExtFaceInfo".into(), ext("ExtFaceInfo", face));
    }
    if let Some(id) = &record.id {
        let mut id = id.clone();
        if with_images && record.id_images {
            if let Some(spec) = v.images.id {
                id.insert("idImage".into(), image(ImageKind::IdFront, spec)?);
            }
            if let Some(spec) = v.images.id_back {
                id.insert("idBackImage".into(), image(ImageKind::IdBack, spec)?);
            }
        }
        result.insert("ExtIdInfo".into(), ext("ExtIdInfo", id));
    }
    for (name, raw) in &record.ext_raw {
        if !result.contains_key(name) {
            result.insert(name.clone(), raw.clone().into());
        }
    }

    if xml {
        let mut out = format!(
            "<?xml version='1.0' encoding='UTF-8'?><CheckResultResponse><RequestId>{}</RequestId><Code>Success</Code><Message>success</Message><Result>",
            xml_escape(request_id)
        );
        for (k, val) in &result {
            let text = val.as_str().unwrap_or_default();
            out.push_str(&format!("<{k}>{}</{k}>", xml_escape(text)));
        }
        out.push_str("</Result></CheckResultResponse>");
        return Ok(out);
    }
    let mut envelope = Map::new();
    envelope.insert("RequestId".into(), request_id.into());
    envelope.insert("Code".into(), "Success".into());
    envelope.insert("Message".into(), "success".into());
    envelope.insert("Result".into(), Value::Object(result));
    Ok(Value::Object(envelope).to_string())
}
