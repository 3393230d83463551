//! `GET|HEAD /<bucket>/<transaction id>.webm`: the OSS-signed evidence video.
//!
//! Checks in OSS order: bucket, signature parameters, expiry (before the signature, as OSS
//! does), access key, signature, then the object (missing, not yet completed, or deleted 30
//! minutes after completion → `NoSuchKey`).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::response::Response;
use chrono::{DateTime, SubsecRound, TimeZone, Utc};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};

use crate::checkresult::header_value;
use crate::faults::{Effects, Endpoint, Fault};
use crate::gateway::parse_pairs;
use crate::oss::{self, error_xml, oss_time, recommend_doc};
use crate::requests::{RequestLogEntry, SignatureScheme};
use crate::state::State;
use crate::video;

/// An OSS error answer.
struct OssError {
    status: StatusCode,
    code: &'static str,
    message: String,
    extra: Vec<(&'static str, String)>,
    content_range: Option<String>,
}

impl OssError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: Vec::new(),
            content_range: None,
        }
    }

    fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    fn ec(self, ec: &str) -> Self {
        self.with("EC", ec).with("RecommendDoc", recommend_doc(ec))
    }
}

/// What a `Range` header asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeRequest {
    /// The whole object (no header, or one OSS ignores).
    Full,
    /// Bytes `start..=end`.
    Partial(u64, u64),
    /// Starts beyond the object.
    Unsatisfiable,
}

/// Parses a `Range` header against an object of `size` bytes, like OSS: a malformed or
/// multi-range header is ignored (whole object); a start at or beyond the end is 416.
pub(crate) fn parse_range(value: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeRequest::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(start), _) if b.is_empty() => {
            if start >= size {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Partial(start, size - 1)
            }
        }
        (Ok(start), Ok(end)) if start <= end => {
            if start >= size {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Partial(start, end.min(size - 1))
            }
        }
        (Err(_), Ok(suffix)) if a.is_empty() => {
            if suffix == 0 {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Partial(size - suffix.min(size), size - 1)
            }
        }
        _ => RangeRequest::Full,
    }
}

pub(crate) async fn handle(
    state: Arc<State>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let arrived = state.clock.now();
    let request_id = oss::request_id();
    let path = uri.path().to_owned();
    let params = parse_pairs(uri.query().unwrap_or(""));
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (bucket, object) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path.trim_start_matches('/'), ""));
    let transaction_id = object
        .strip_suffix(".webm")
        .filter(|t| !t.is_empty() && !t.contains('/'));
    let access_key_id = get("OSSAccessKeyId").map(str::to_owned);
    let range_header = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    let effects = state
        .faults
        .select(Endpoint::Video, transaction_id, access_key_id.as_deref());
    if !effects.latency.is_zero() {
        tokio::time::sleep(effects.latency).await;
    }
    let now = state.clock.now();
    let result = match &effects.error {
        Some(fault) => Err(fault_error(fault)),
        None => serve(
            &state,
            &method,
            bucket,
            object,
            transaction_id,
            &get,
            &headers,
            range_header.as_deref(),
            now,
        ),
    };

    let (status, code) = match &result {
        Ok(ok) => (
            ok.status,
            if ok.status == StatusCode::PARTIAL_CONTENT {
                "PartialContent"
            } else {
                "OK"
            },
        ),
        Err(e) => (e.status, e.code),
    };
    tracing::info!(
        endpoint = "video",
        status = status.as_u16(),
        code,
        transaction_id = transaction_id.unwrap_or(""),
        fault = effects.label().as_deref().unwrap_or(""),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    state.log.push(RequestLogEntry {
        seq: 0,
        time: arrived,
        endpoint: Endpoint::Video,
        method: method.to_string(),
        path: path.clone(),
        scheme: if get("Signature").is_some() {
            SignatureScheme::Oss
        } else {
            SignatureScheme::None
        },
        access_key_id,
        action: None,
        version: None,
        format: None,
        params: Default::default(),
        nonce: None,
        timestamp: None,
        has_security_token: get("security-token").is_some(),
        transaction_id: transaction_id.map(str::to_owned),
        range: range_header,
        status: status.as_u16(),
        code: code.to_owned(),
        fault: effects.label(),
        request_id: request_id.clone(),
    });

    match result {
        Ok(ok) => ok.into_response(&method, &request_id, &effects),
        Err(err) => error_response(&state, err, &request_id, &effects),
    }
}

fn fault_error(fault: &Fault) -> OssError {
    match fault {
        Fault::Throttling => OssError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            "Please reduce your request rate.",
        ),
        Fault::InternalError => OssError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        ),
        Fault::ServiceUnavailable => OssError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "Service is temporarily unavailable.",
        ),
        Fault::RamUserAccessDenied | Fault::AccountAccessDenied => OssError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "You have no right to access this object.",
        ),
        Fault::Error {
            status,
            code,
            message,
        } => OssError {
            status: StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: "InjectedError",
            message: message
                .clone()
                .unwrap_or_else(|| format!("Injected error {code}.")),
            extra: vec![("InjectedCode", code.clone())],
            content_range: None,
        },
        other => OssError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("Unexpected fault {}.", other.name()),
        ),
    }
}

struct VideoOk {
    status: StatusCode,
    seed: String,
    size: u64,
    start: u64,
    end_inclusive: u64,
    etag: String,
    last_modified: DateTime<Utc>,
}

impl VideoOk {
    fn into_response(self, method: &Method, request_id: &str, effects: &Effects) -> Response {
        let len = self.end_inclusive + 1 - self.start;
        let body = if *method == Method::HEAD {
            Body::empty()
        } else {
            crate::body::shaped(
                video::body(&self.seed, self.size, self.start..=self.end_inclusive),
                effects,
            )
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        let h = response.headers_mut();
        let content_type = effects
            .content_type
            .as_deref()
            .unwrap_or(video::CONTENT_TYPE);
        h.insert(header::CONTENT_TYPE, header_value(content_type));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        h.insert(header::ETAG, header_value(&self.etag));
        h.insert(
            header::LAST_MODIFIED,
            header_value(&http_date(self.last_modified)),
        );
        if self.status == StatusCode::PARTIAL_CONTENT {
            let range = format!("bytes {}-{}/{}", self.start, self.end_inclusive, self.size);
            h.insert(header::CONTENT_RANGE, header_value(&range));
        }
        h.insert("x-oss-request-id", header_value(request_id));
        h.insert("x-oss-object-type", HeaderValue::from_static("Normal"));
        h.insert(header::SERVER, HeaderValue::from_static("AliyunOSS"));
        response
    }
}

fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[allow(clippy::too_many_arguments)]
fn serve<'a>(
    state: &State,
    method: &Method,
    bucket: &str,
    object: &str,
    transaction_id: Option<&str>,
    get: &impl Fn(&str) -> Option<&'a str>,
    headers: &HeaderMap,
    range: Option<&str>,
    now: DateTime<Utc>,
) -> Result<VideoOk, OssError> {
    if bucket != state.config.bucket {
        return Err(OssError::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist.",
        )
        .with("BucketName", bucket)
        .ec("0015-00000101"));
    }
    let (Some(key_id), Some(signature)) = (get("OSSAccessKeyId"), get("Signature")) else {
        return Err(OssError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "You have no right to access this object because of bucket acl.",
        )
        .ec("0003-00000001"));
    };
    let Some(expires_text) = get("Expires") else {
        return Err(OssError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Missing Expires in query string.",
        )
        .ec("0002-00000067"));
    };
    if expires_text.is_empty() {
        return Err(
            OssError::new(StatusCode::FORBIDDEN, "AccessDenied", "Expires is empty.")
                .ec("0002-00000068"),
        );
    }
    let Ok(expires) = expires_text.parse::<i64>() else {
        return Err(OssError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Invalid Expires in query string.",
        )
        .ec("0002-00000070"));
    };
    if now.timestamp() > expires {
        let expires_at = Utc
            .timestamp_opt(expires, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        return Err(OssError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Request has expired.",
        )
        .with("Expires", oss_time(expires_at))
        .with("ServerTime", oss_time(now.trunc_subsecs(0)))
        .ec("0002-00000069"));
    }
    if key_id != state.config.oss_access_key.id {
        return Err(OssError::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The OSS Access Key Id you provided does not exist in our records.",
        )
        .with("OSSAccessKeyId", key_id)
        .ec("0002-00000005"));
    }
    let header_text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let oss_headers: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-oss-"))
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut resource = format!("/{bucket}/{object}");
    if let Some(token) = get("security-token") {
        resource.push_str(&format!("?security-token={token}"));
    }
    let string_to_sign = oss::string_to_sign(
        method.as_str(),
        &header_text(header::HeaderName::from_static("content-md5")),
        &header_text(header::CONTENT_TYPE),
        expires_text,
        &oss_headers,
        &resource,
    );
    if oss::sign(&state.config.oss_access_key.secret, &string_to_sign) != signature {
        let bytes: Vec<String> = string_to_sign.bytes().map(|b| format!("{b:02X}")).collect();
        return Err(OssError::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        )
        .with("OSSAccessKeyId", key_id)
        .with("SignatureProvided", signature)
        .with("StringToSign", string_to_sign.clone())
        .with("StringToSignBytes", bytes.join(" "))
        .ec("0002-00000040"));
    }

    let no_such_key = || {
        OssError::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
        .with("Key", object)
        .ec("0026-00000001")
    };
    let record = transaction_id
        .and_then(|t| state.store.get(t))
        .ok_or_else(no_such_key)?;
    let v = &record.info;
    let video = v.video.as_ref().ok_or_else(no_such_key)?;
    if now < v.completed_at || now >= video.deleted_at {
        return Err(no_such_key());
    }
    let (status, start, end) = match parse_range(range, video.size) {
        RangeRequest::Full => (StatusCode::OK, 0, video.size - 1),
        RangeRequest::Partial(s, e) => (StatusCode::PARTIAL_CONTENT, s, e),
        RangeRequest::Unsatisfiable => {
            let mut err = OssError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The requested range cannot be satisfied",
            )
            .with("RangeRequested", range.unwrap_or_default())
            .with("ActualObjectSize", video.size.to_string())
            .ec("0003-00000021");
            err.content_range = Some(format!("bytes */{}", video.size));
            return Err(err);
        }
    };
    Ok(VideoOk {
        status,
        seed: video.seed.clone(),
        size: video.size,
        start,
        end_inclusive: end,
        etag: format!("\"{}\"", hex::encode_upper(&video.sha256[..16])),
        last_modified: v.completed_at,
    })
}

fn error_response(state: &State, err: OssError, request_id: &str, effects: &Effects) -> Response {
    let body = error_xml(
        err.code,
        &err.message,
        request_id,
        &state.config.oss_host_id(),
        &err.extra,
    );
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = err.status;
    let h = response.headers_mut();
    let content_type = effects.content_type.as_deref().unwrap_or("application/xml");
    h.insert(header::CONTENT_TYPE, header_value(content_type));
    h.insert("x-oss-request-id", header_value(request_id));
    h.insert(
        "x-oss-ec",
        header_value(
            err.extra
                .iter()
                .find(|(k, _)| *k == "EC")
                .map_or("", |(_, v)| v.as_str()),
        ),
    );
    h.insert(header::SERVER, HeaderValue::from_static("AliyunOSS"));
    if let Some(range) = err.content_range {
        h.insert(header::CONTENT_RANGE, header_value(&range));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_like_oss() {
        use RangeRequest::*;
        assert_eq!(parse_range(None, 100), Full);
        assert_eq!(parse_range(Some("bytes=10-"), 100), Partial(10, 99));
        assert_eq!(parse_range(Some("bytes=10-19"), 100), Partial(10, 19));
        assert_eq!(parse_range(Some("bytes=10-1000"), 100), Partial(10, 99));
        assert_eq!(parse_range(Some("bytes=-30"), 100), Partial(70, 99));
        assert_eq!(parse_range(Some("bytes=-300"), 100), Partial(0, 99));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Full);
        assert_eq!(parse_range(Some("bytes=9-3"), 100), Full);
        assert_eq!(parse_range(Some("items=1-2"), 100), Full);
        assert_eq!(parse_range(Some("bytes=abc"), 100), Full);
    }
}
