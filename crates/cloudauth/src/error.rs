//! Errors of the `CheckResult` client and their classes (what a caller should do about them).
//!
//! Messages are lowercase, carry no secrets and no personal data, and never contain a request
//! URL (V2 requests carry the signature and the STS token in the query string).

use std::fmt;

use crate::credentials::CredentialsError;
use crate::endpoint::EndpointError;
use crate::request::InvalidRequest;

/// What to do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Transient: retry within seconds (the client does so itself, with backoff).
    RetrySoon,
    /// Not ready yet (the user has not finished the flow): retry in minutes.
    RetryLater,
    /// This request will never succeed: do not retry it.
    Permanent,
    /// The client's configuration (credentials, permissions, clock, endpoint) is wrong: no
    /// request will succeed until an operator fixes it.
    Configuration,
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorClass::RetrySoon => "retry soon",
            ErrorClass::RetryLater => "retry later",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Configuration => "configuration",
        })
    }
}

/// Which kind of transport failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// The connect or request timeout elapsed.
    Timeout,
    /// The connection could not be established (DNS, TCP, TLS).
    Connect,
    /// The connection failed while sending the request or reading the response.
    Other,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Timeout => "timeout",
            TransportKind::Connect => "connect",
            TransportKind::Other => "other",
        })
    }
}

/// Longest server `Message` kept in an [`Error::Api`].
pub const MAX_MESSAGE_CHARS: usize = 300;

/// Errors of the `CheckResult` client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The service answered with an error `Code` (with any HTTP status, 200 included).
    #[error(
        "cloudauth api error {code} (http {status}, request id {}): {message}",
        request_id.as_deref().unwrap_or("none")
    )]
    Api {
        /// The `Code`, e.g. `Throttling.Api`.
        code: String,
        /// The server's `Message`, with control characters removed and cut to
        /// [`MAX_MESSAGE_CHARS`] (it never carries personal data: the request holds only ids).
        message: String,
        /// The `RequestId`, when present.
        request_id: Option<String>,
        /// The HTTP status.
        status: u16,
    },
    /// A non-2xx answer without an error `Code` (e.g. an HTML page from a proxy).
    #[error(
        "unexpected http status {status} without an error code (request id {})",
        request_id.as_deref().unwrap_or("none")
    )]
    HttpStatus {
        /// The HTTP status.
        status: u16,
        /// The `RequestId`, when the body had one.
        request_id: Option<String>,
    },
    /// The request could not be sent or the response not received.
    #[error("http transport error ({kind})")]
    Transport {
        /// What failed.
        kind: TransportKind,
        /// The underlying error, with its URL removed.
        #[source]
        source: reqwest::Error,
    },
    /// A 2xx answer whose body is not a `CheckResult` response.
    #[error("malformed response body (http {status}): {reason}")]
    MalformedResponse {
        /// The HTTP status.
        status: u16,
        /// What is wrong, without quoting the body.
        reason: String,
    },
    /// The request breaks a parameter rule.
    #[error("invalid request: {0}")]
    InvalidRequest(#[from] InvalidRequest),
    /// The credentials are unusable.
    #[error("invalid credentials: {0}")]
    Credentials(#[from] CredentialsError),
    /// The endpoint is unusable.
    #[error("invalid endpoint: {0}")]
    Endpoint(#[from] EndpointError),
    /// The client configuration is invalid.
    #[error("invalid client configuration: {0}")]
    Config(&'static str),
    /// The HTTP client could not be built.
    #[error("cannot build the http client")]
    HttpClient(#[source] reqwest::Error),
    /// The caller cancelled the call (while waiting for the rate limiter, backing off between
    /// attempts, or in flight).
    #[error("checkresult call cancelled while {0}")]
    Cancelled(CancelledWhile),
}

/// Where a call was when it was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CancelledWhile {
    /// Waiting for the client-side rate limiter.
    RateLimitWait,
    /// Sleeping between attempts.
    Backoff,
    /// Sending the request or reading the response.
    InFlight,
}

impl fmt::Display for CancelledWhile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CancelledWhile::RateLimitWait => "waiting for the rate limiter",
            CancelledWhile::Backoff => "backing off between attempts",
            CancelledWhile::InFlight => "in flight",
        })
    }
}

/// Classifies a service or gateway error `Code`; `None` for codes this table does not know.
///
/// | class | codes |
/// |---|---|
/// | retry soon | `Throttling`, `Throttling.*`, `InternalError*`, `ServiceUnavailable*`, `ServiceTimeout*`, `UnknownError`, `SignatureNonceUsed` (each attempt has a fresh nonce) |
/// | retry later | `ProcessNotCompleted`, `Forbidden.ExceptionRepeatedInvoke` (the service refuses repeated invocations for a while: hammering makes it worse, and it is no configuration fault) |
/// | permanent | `MissingParameter*`, `InvalidParameter*`, `TransactionIdInvalid` |
/// | configuration | every other `Forbidden*` (`Forbidden.RAMUserAccessDenied`, `Forbidden.AccountAccessDenied`, …), `SignatureDoesNotMatch`, `IncompleteSignature`, `InvalidAccessKeyId*`, `InvalidSecurityToken*`, `InvalidTimeStamp*` (clock skew), `InvalidAction*`, `InvalidApi*`, `InvalidVersion*`, `NoPermission`, `UnsupportedSignatureType`, `UnsupportedSignatureVersion`, `UnsupportedHTTPMethod` |
pub fn classify_code(code: &str) -> Option<ErrorClass> {
    let family = |prefix: &str| {
        code == prefix
            || code
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.'))
    };
    if family("Throttling")
        || family("InternalError")
        || family("ServiceUnavailable")
        || family("ServiceTimeout")
        || code == "UnknownError"
        || code == "SignatureNonceUsed"
    {
        return Some(ErrorClass::RetrySoon);
    }
    if code == "ProcessNotCompleted" || code == "Forbidden.ExceptionRepeatedInvoke" {
        return Some(ErrorClass::RetryLater);
    }
    if family("MissingParameter") || family("InvalidParameter") || code == "TransactionIdInvalid" {
        return Some(ErrorClass::Permanent);
    }
    if family("Forbidden")
        || code == "SignatureDoesNotMatch"
        || code == "IncompleteSignature"
        || family("InvalidAccessKeyId")
        || family("InvalidSecurityToken")
        || family("InvalidTimeStamp")
        || family("InvalidAction")
        || family("InvalidApi")
        || family("InvalidVersion")
        || code == "NoPermission"
        || code == "UnsupportedSignatureType"
        || code == "UnsupportedSignatureVersion"
        || code == "UnsupportedHTTPMethod"
    {
        return Some(ErrorClass::Configuration);
    }
    None
}

/// Classifies by HTTP status alone (when the body has no known `Code`): 408, 429 and 5xx →
/// retry soon; 401 and 403 → configuration; any other status → permanent.
pub fn classify_status(status: u16) -> ErrorClass {
    match status {
        408 | 429 | 500..=599 => ErrorClass::RetrySoon,
        401 | 403 => ErrorClass::Configuration,
        _ => ErrorClass::Permanent,
    }
}

impl Error {
    /// What to do about this error: by the body's `Code` first, the HTTP status as fallback.
    ///
    /// Transport failures (timeouts, connection errors, broken connections) retry soon; a
    /// malformed 2xx body is permanent (retrying returns the same body; the raw bytes are not
    /// kept in the error); invalid requests are permanent; credentials, endpoint and client
    /// configuration errors are configuration; a cancelled call retries soon (nothing is wrong
    /// with the request, the caller stopped it).
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Api { code, status, .. } => {
                classify_code(code).unwrap_or_else(|| classify_status(*status))
            }
            Error::HttpStatus { status, .. } => classify_status(*status),
            Error::Transport { .. } | Error::Cancelled(_) => ErrorClass::RetrySoon,
            Error::MalformedResponse { .. } | Error::InvalidRequest(_) => ErrorClass::Permanent,
            Error::Credentials(_)
            | Error::Endpoint(_)
            | Error::Config(_)
            | Error::HttpClient(_) => ErrorClass::Configuration,
        }
    }

    /// The service's error `Code`, for API errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The `RequestId` of the failed answer, when there was one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api { request_id, .. } | Error::HttpStatus { request_id, .. } => {
                request_id.as_deref()
            }
            _ => None,
        }
    }

    /// The HTTP status of the failed answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. }
            | Error::HttpStatus { status, .. }
            | Error::MalformedResponse { status, .. } => Some(*status),
            Error::Transport { source, .. } => source.status().map(|s| s.as_u16()),
            _ => None,
        }
    }

    /// Whether the client itself retries this error ([`ErrorClass::RetrySoon`]).
    pub fn is_retry_soon(&self) -> bool {
        self.class() == ErrorClass::RetrySoon
    }

    /// Builds an [`Error::Api`], cleaning the server message.
    pub(crate) fn api(
        code: String,
        message: Option<&str>,
        request_id: Option<String>,
        status: u16,
    ) -> Self {
        Error::Api {
            code,
            message: clean_message(message.unwrap_or_default()),
            request_id,
            status,
        }
    }

    /// Wraps a reqwest error, dropping its URL (V2 query strings carry the signature and the
    /// STS token).
    pub(crate) fn transport(err: reqwest::Error) -> Self {
        let kind = if err.is_timeout() {
            TransportKind::Timeout
        } else if err.is_connect() {
            TransportKind::Connect
        } else {
            TransportKind::Other
        };
        Error::Transport {
            kind,
            source: err.without_url(),
        }
    }
}

/// Removes control characters and cuts to [`MAX_MESSAGE_CHARS`] characters.
fn clean_message(message: &str) -> String {
    let mut out: String = message
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_MESSAGE_CHARS)
        .collect();
    if message.chars().filter(|c| !c.is_control()).count() > MAX_MESSAGE_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorClass::*;

    fn api(code: &str, status: u16) -> Error {
        Error::api(code.to_owned(), Some("m"), Some("RID".into()), status)
    }

    #[test]
    fn code_table() {
        let table = [
            ("Throttling", 403, RetrySoon),
            ("Throttling.Api", 403, RetrySoon),
            ("Throttling.User", 400, RetrySoon),
            ("InternalError", 500, RetrySoon),
            ("ServiceUnavailable", 503, RetrySoon),
            ("SignatureNonceUsed", 400, RetrySoon),
            ("UnknownError", 500, RetrySoon),
            ("ProcessNotCompleted", 404, RetryLater),
            ("Forbidden.ExceptionRepeatedInvoke", 401, RetryLater),
            ("MissingParameter", 400, Permanent),
            ("InvalidParameter", 400, Permanent),
            ("TransactionIdInvalid", 400, Permanent),
            ("Forbidden.RAMUserAccessDenied", 403, Configuration),
            ("Forbidden.AccountAccessDenied", 403, Configuration),
            ("Forbidden.AccessKeyDisabled", 403, Configuration),
            ("SignatureDoesNotMatch", 400, Configuration),
            ("SignatureDoesNotMatch", 403, Configuration),
            ("InvalidAccessKeyId.NotFound", 404, Configuration),
            ("InvalidAccessKeyId.Inactive", 400, Configuration),
            ("InvalidSecurityToken.Expired", 400, Configuration),
            ("InvalidSecurityToken.Malformed", 400, Configuration),
            ("InvalidTimeStamp.Expired", 400, Configuration),
            ("InvalidAction.NotFound", 404, Configuration),
            ("InvalidVersion", 400, Configuration),
        ];
        for (code, status, class) in table {
            assert_eq!(api(code, status).class(), class, "{code} {status}");
            // The body's Code wins over the status, including an error with HTTP 200.
            assert_eq!(api(code, 200).class(), class, "{code} with 200");
            assert_eq!(api(code, 503).class(), class, "{code} with 503");
        }
    }

    #[test]
    fn family_prefixes_need_a_dot() {
        assert_eq!(classify_code("ThrottlingX"), None);
        assert_eq!(classify_code("ForbiddenFruit"), None);
        assert_eq!(classify_code("InvalidParameter.Format"), Some(Permanent));
        assert_eq!(classify_code("Success"), None);
    }

    #[test]
    fn status_fallback_for_unknown_codes() {
        assert_eq!(api("Brand.New", 500).class(), RetrySoon);
        assert_eq!(api("Brand.New", 502).class(), RetrySoon);
        assert_eq!(api("Brand.New", 429).class(), RetrySoon);
        assert_eq!(api("SuspiciousActivity", 429).class(), RetrySoon);
        assert_eq!(api("Brand.New", 408).class(), RetrySoon);
        assert_eq!(api("Brand.New", 400).class(), Permanent);
        assert_eq!(api("Brand.New", 404).class(), Permanent);
        assert_eq!(api("Brand.New", 403).class(), Configuration);
        assert_eq!(api("Brand.New", 401).class(), Configuration);
        assert_eq!(api("Brand.New", 200).class(), Permanent);
        for (status, class) in [
            (500, RetrySoon),
            (503, RetrySoon),
            (429, RetrySoon),
            (404, Permanent),
            (400, Permanent),
            (403, Configuration),
        ] {
            let e = Error::HttpStatus {
                status,
                request_id: None,
            };
            assert_eq!(e.class(), class, "{status}");
        }
    }

    #[test]
    fn other_variants() {
        let e = Error::MalformedResponse {
            status: 200,
            reason: "syntax error at line 1 column 2".into(),
        };
        assert_eq!(e.class(), Permanent);
        assert_eq!(e.status(), Some(200));
        let e: Error = InvalidRequest::Empty {
            field: crate::request::RequestField::TransactionId,
        }
        .into();
        assert_eq!(e.class(), Permanent);
        let e: Error = CredentialsError::MissingEnv { var: "X" }.into();
        assert_eq!(e.class(), Configuration);
        let e: Error = EndpointError::HttpNotAllowed.into();
        assert_eq!(e.class(), Configuration);
        assert_eq!(Error::Config("x").class(), Configuration);
        assert_eq!(
            Error::Cancelled(CancelledWhile::RateLimitWait).class(),
            RetrySoon
        );
    }

    #[test]
    fn accessors_and_display() {
        let e = api("Throttling.Api", 403);
        assert_eq!(e.code(), Some("Throttling.Api"));
        assert_eq!(e.request_id(), Some("RID"));
        assert_eq!(e.status(), Some(403));
        assert!(e.is_retry_soon());
        assert_eq!(
            e.to_string(),
            "cloudauth api error Throttling.Api (http 403, request id RID): m"
        );
        let e = Error::HttpStatus {
            status: 502,
            request_id: None,
        };
        assert_eq!(e.code(), None);
        assert_eq!(
            e.to_string(),
            "unexpected http status 502 without an error code (request id none)"
        );
    }

    #[test]
    fn messages_are_cleaned_and_bounded() {
        let e = Error::api("X".into(), Some("line1\nline2\u{7}"), None, 400);
        assert!(matches!(&e, Error::Api { message, .. } if message == "line1line2"));
        let long = "a".repeat(1000);
        let e = Error::api("X".into(), Some(&long), None, 400);
        let Error::Api { message, .. } = e else {
            unreachable!()
        };
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
