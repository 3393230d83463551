//! The `CheckResult` client: signing a whole request (pure), the client-side QPS limit, and
//! retries of transient failures.
//!
//! [`Client`] is cheap to clone and meant to be shared: every clone shares one connection pool
//! and one rate limiter, so concurrent tasks together stay under the configured QPS.

use std::fmt;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::credentials::Credentials;
use crate::endpoint::Endpoint;
use crate::error::{CancelledWhile, Error, ErrorClass};
use crate::model::{CheckResult, CheckResultResponse, SUCCESS_CODE, de};
use crate::request::CheckResultRequest;
use crate::sign::{self, EMPTY_PAYLOAD_SHA256, v2, v3};

/// The API action.
pub const ACTION: &str = "CheckResult";
/// The API version.
pub const API_VERSION: &str = "2022-08-09";
/// The HTTP method of `CheckResult`.
pub const METHOD: &str = "POST";
/// Default client-side limit: 10 requests per second (the eKYC `CheckResult` quota).
pub const DEFAULT_QPS: NonZeroU32 = match NonZeroU32::new(10) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};
/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default timeout of one attempt (connect, send, and read the whole body).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `user-agent`.
pub const DEFAULT_USER_AGENT: &str = concat!("kyc-archiver-cloudauth/", env!("CARGO_PKG_VERSION"));

/// How requests are signed (reference §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignatureScheme {
    /// `ACS3-HMAC-SHA256`, header based (the official SDKs' default).
    #[default]
    V3,
    /// `HMAC-SHA1`, every parameter in the query string.
    V2,
}

/// Retries of [`ErrorClass::RetrySoon`] failures: exponential backoff doubling from
/// `min_delay` up to `max_delay`. With `jitter`, each delay gets a random extra of up to
/// 100 % of itself (so a delay may reach twice `max_delay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = no retries).
    pub max_attempts: u32,
    /// Delay before the first retry.
    pub min_delay: Duration,
    /// Cap of the (unjittered) delay.
    pub max_delay: Duration,
    /// Whether to randomise delays.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    /// 4 attempts, 200 ms to 5 s, with jitter.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// A single attempt, no retries.
    pub fn no_retries() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    fn backoff(&self) -> ExponentialBuilder {
        let retries = usize::try_from(self.max_attempts.saturating_sub(1)).unwrap_or(usize::MAX);
        let builder = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(retries);
        if self.jitter {
            builder.with_jitter()
        } else {
            builder
        }
    }
}

/// The source of "now" for `x-acs-date` / `Timestamp` (injectable for tests and emulators).
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    /// The system clock ([`Utc::now`]).
    pub fn system() -> Self {
        Clock(Arc::new(Utc::now))
    }

    /// A clock reading `now`.
    pub fn new(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now))
    }

    /// A clock stopped at `at`.
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Clock(Arc::new(move || at))
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// Told the outcome of every HTTP attempt: `Success`, the error's `Code`, or `transport` when
/// no response arrived (for metrics; retried attempts included).
#[derive(Clone, Default)]
pub struct Observer(Option<ObserverFn>);

type ObserverFn = Arc<dyn Fn(&str) + Send + Sync>;

impl Observer {
    /// An observer calling `f` with each attempt's code.
    pub fn new(f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Observer(Some(Arc::new(f)))
    }

    fn observe(&self, outcome: &Result<CheckResult, Error>) {
        if let Some(f) = &self.0 {
            f(match outcome {
                Ok(_) => SUCCESS_CODE,
                Err(e) => e.code().unwrap_or("transport"),
            });
        }
    }
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Observer(set)"
        } else {
            "Observer(none)"
        })
    }
}

/// Everything a [`Client`] needs. `Debug` masks the credentials.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Where requests go.
    pub endpoint: Endpoint,
    /// Who signs them.
    pub credentials: Credentials,
    /// How they are signed (default V3).
    pub scheme: SignatureScheme,
    /// TCP/TLS connect timeout (default 5 s).
    pub connect_timeout: Duration,
    /// Timeout of one attempt, body included (default 30 s).
    pub request_timeout: Duration,
    /// Client-side requests per second shared by all clones (default 10); `None` = unlimited.
    /// Requests are spaced evenly (no bursts), so no one-second window sees more than `qps`.
    pub qps: Option<NonZeroU32>,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// The `user-agent` header.
    pub user_agent: String,
    /// The clock that timestamps signatures.
    pub clock: Clock,
    /// Told every attempt's outcome code.
    pub observer: Observer,
}

impl ClientConfig {
    /// A configuration with the defaults: V3, 5 s connect and 30 s request timeouts, 10 QPS,
    /// [`RetryPolicy::default`], the system clock.
    pub fn new(endpoint: Endpoint, credentials: Credentials) -> Self {
        ClientConfig {
            endpoint,
            credentials,
            scheme: SignatureScheme::V3,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            qps: Some(DEFAULT_QPS),
            retry: RetryPolicy::default(),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            clock: Clock::system(),
            observer: Observer::default(),
        }
    }

    /// The fully signed request for `req` at `now` with `nonce` (pure; see [`signed_request`]).
    pub fn signed_request(
        &self,
        req: &CheckResultRequest,
        now: DateTime<Utc>,
        nonce: &str,
    ) -> SignedRequest {
        signed_request(
            &self.endpoint,
            &self.credentials,
            self.scheme,
            req,
            now,
            nonce,
        )
    }

    fn validate(&self) -> Result<(), Error> {
        self.credentials.validate()?;
        if self.retry.max_attempts == 0 {
            return Err(Error::Config("retry max_attempts must be at least 1"));
        }
        if self.retry.min_delay > self.retry.max_delay {
            return Err(Error::Config("retry min_delay must not exceed max_delay"));
        }
        if self.connect_timeout.is_zero() || self.request_timeout.is_zero() {
            return Err(Error::Config("timeouts must be greater than zero"));
        }
        Ok(())
    }
}

/// A signed `CheckResult` request, ready to send: `POST url` with `headers` and an empty body.
///
/// Header names are lowercase. `host` is listed because it is signed; HTTP clients derive the
/// same value from the URL. `Debug` masks the STS token.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// Always `POST`.
    pub method: &'static str,
    /// The full URL, query included (canonical order and encoding).
    pub url: String,
    /// The headers, in the order they are sent.
    pub headers: Vec<(String, String)>,
}

impl SignedRequest {
    /// The value of header `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = match self.url.split_once('?') {
            Some((base, query)) => {
                let masked: Vec<String> = query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some(("SecurityToken", _)) => "SecurityToken=***".to_owned(),
                        _ => pair.to_owned(),
                    })
                    .collect();
                format!("{base}?{}", masked.join("&"))
            }
            None => self.url.clone(),
        };
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                if k.eq_ignore_ascii_case("x-acs-security-token") {
                    (k.as_str(), "***")
                } else {
                    (k.as_str(), v.as_str())
                }
            })
            .collect();
        f.debug_struct("SignedRequest")
            .field("method", &self.method)
            .field("url", &url)
            .field("headers", &headers)
            .finish()
    }
}

/// `yyyy-MM-ddTHH:mm:ssZ`, the format of `x-acs-date` and `Timestamp`.
pub fn format_timestamp(now: DateTime<Utc>) -> String {
    now.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A fresh signature nonce: 32 lowercase hex digits of randomness.
pub fn new_nonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Signs a whole `CheckResult` request (pure: time and nonce are inputs).
///
/// - V3: business parameters in the query; `host`, `x-acs-action`, `x-acs-version`,
///   `x-acs-date`, `x-acs-signature-nonce`, `x-acs-content-sha256` (and
///   `x-acs-security-token` with STS) signed, then `authorization`.
/// - V2: `Action`, `Version`, `Format=JSON`, `AccessKeyId`, `SignatureMethod`,
///   `SignatureVersion`, `SignatureNonce`, `Timestamp` (and `SecurityToken` with STS), the
///   business parameters and `Signature`, all in the query.
pub fn signed_request(
    endpoint: &Endpoint,
    credentials: &Credentials,
    scheme: SignatureScheme,
    req: &CheckResultRequest,
    now: DateTime<Utc>,
    nonce: &str,
) -> SignedRequest {
    let timestamp = format_timestamp(now);
    let secret = credentials.access_key_secret.expose_secret();
    let token = credentials
        .security_token
        .as_ref()
        .map(|t| t.expose_secret());
    match scheme {
        SignatureScheme::V3 => {
            let params = req.query_params();
            let mut headers: Vec<(String, String)> = [
                ("host", endpoint.host_header()),
                ("x-acs-action", ACTION),
                ("x-acs-version", API_VERSION),
                ("x-acs-date", timestamp.as_str()),
                ("x-acs-signature-nonce", nonce),
                ("x-acs-content-sha256", EMPTY_PAYLOAD_SHA256),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
            if let Some(token) = token {
                headers.push(("x-acs-security-token".to_owned(), token.to_owned()));
            }
            let canonical =
                v3::canonical_request(METHOD, "/", &params, &headers, EMPTY_PAYLOAD_SHA256);
            let signature = v3::sign(secret, &v3::string_to_sign(&canonical.text));
            headers.push((
                "authorization".to_owned(),
                v3::authorization(
                    &credentials.access_key_id,
                    &canonical.signed_headers,
                    &signature,
                ),
            ));
            SignedRequest {
                method: METHOD,
                url: format!("{}?{}", endpoint.url(), sign::canonical_query(&params)),
                headers,
            }
        }
        SignatureScheme::V2 => {
            let mut params: Vec<(&str, String)> = vec![
                ("Action", ACTION.to_owned()),
                ("Version", API_VERSION.to_owned()),
                ("Format", "JSON".to_owned()),
                ("AccessKeyId", credentials.access_key_id.clone()),
                ("SignatureMethod", v2::SIGNATURE_METHOD.to_owned()),
                ("SignatureVersion", v2::SIGNATURE_VERSION.to_owned()),
                ("SignatureNonce", nonce.to_owned()),
                ("Timestamp", timestamp),
            ];
            if let Some(token) = token {
                params.push(("SecurityToken", token.to_owned()));
            }
            params.extend(req.query_params());
            let signature = v2::sign(secret, &v2::string_to_sign(METHOD, &params));
            params.push(("Signature", signature));
            SignedRequest {
                method: METHOD,
                url: format!("{}?{}", endpoint.url(), sign::canonical_query(&params)),
                headers: vec![("host".to_owned(), endpoint.host_header().to_owned())],
            }
        }
    }
}

/// The envelope fields of an answer whose full model did not parse.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    #[serde(default, alias = "requestId", deserialize_with = "de::lenient_string")]
    request_id: Option<String>,
    #[serde(default, alias = "code", deserialize_with = "de::lenient_string")]
    code: Option<String>,
    #[serde(default, alias = "message", deserialize_with = "de::lenient_string")]
    message: Option<String>,
}

/// Describes a JSON error by category and position, never by its message (which may quote
/// values).
fn describe_json_error(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match err.classify() {
        Category::Io => "io error",
        Category::Syntax => "invalid json",
        Category::Data => "json of an unexpected shape",
        Category::Eof => "truncated json",
    };
    format!("{what} at line {} column {}", err.line(), err.column())
}

/// Turns an HTTP answer into a result (pure).
///
/// Success needs a 2xx status and `Code` = `Success` (or, leniently, no `Code` but a
/// `Result`). Any other `Code` is an [`Error::Api`], whatever the status — an error body with
/// HTTP 200 included. A non-2xx answer without a `Code` is an [`Error::HttpStatus`]; a 2xx body
/// that is not a response is an [`Error::MalformedResponse`].
pub fn interpret_response(status: u16, body: bytes::Bytes) -> Result<CheckResult, Error> {
    let ok_status = (200..300).contains(&status);
    let response = match serde_json::from_slice::<CheckResultResponse>(&body) {
        Ok(response) => response,
        Err(err) => {
            // The full model did not parse: the envelope may still name an error code.
            return Err(match serde_json::from_slice::<Envelope>(&body) {
                Ok(Envelope {
                    code: Some(code),
                    message,
                    request_id,
                }) if code != SUCCESS_CODE => {
                    Error::api(code, message.as_deref(), request_id, status)
                }
                Ok(envelope) if !ok_status => Error::HttpStatus {
                    status,
                    request_id: envelope.request_id,
                },
                _ if !ok_status => Error::HttpStatus {
                    status,
                    request_id: None,
                },
                _ => Error::MalformedResponse {
                    status,
                    reason: describe_json_error(&err),
                },
            });
        }
    };
    match response.code.as_deref() {
        Some(SUCCESS_CODE) if ok_status => {}
        None if ok_status && response.result.is_some() => {}
        Some(SUCCESS_CODE) | None if !ok_status => {
            return Err(Error::HttpStatus {
                status,
                request_id: response.request_id,
            });
        }
        None => {
            return Err(Error::MalformedResponse {
                status,
                reason: "json object has neither Code nor Result".to_owned(),
            });
        }
        Some(code) => {
            return Err(Error::api(
                code.to_owned(),
                response.message.as_deref(),
                response.request_id,
                status,
            ));
        }
    }
    Ok(CheckResult {
        raw: body,
        status,
        response,
    })
}

struct Inner {
    config: ClientConfig,
    http: reqwest::Client,
    limiter: Option<DefaultDirectRateLimiter>,
}

/// The `CheckResult` client. Cheap to clone; clones share the connection pool and the QPS
/// limit.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

const STAGE_RATE_LIMIT: u8 = 0;
const STAGE_IN_FLIGHT: u8 = 1;
const STAGE_BACKOFF: u8 = 2;

fn stage_of(value: u8) -> CancelledWhile {
    match value {
        STAGE_RATE_LIMIT => CancelledWhile::RateLimitWait,
        STAGE_BACKOFF => CancelledWhile::Backoff,
        _ => CancelledWhile::InFlight,
    }
}

impl Client {
    /// Builds a client: validates the configuration and credentials, and creates the HTTP
    /// client (rustls, no redirects, HTTPS only for HTTPS endpoints; the system proxy settings
    /// apply to HTTPS endpoints, never to plain-HTTP ones) and the rate limiter.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        config.validate()?;
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(config.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .https_only(config.endpoint.is_https());
        if !config.endpoint.is_https() {
            // Plain HTTP is only ever the local emulator: never send it through a proxy.
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(Error::HttpClient)?;
        let limiter = config
            .qps
            .map(|qps| RateLimiter::direct(Quota::per_second(qps).allow_burst(NonZeroU32::MIN)));
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                http,
                limiter,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The signed request this client would send for `req` at `now` with `nonce` (pure).
    pub fn signed_request(
        &self,
        req: &CheckResultRequest,
        now: DateTime<Utc>,
        nonce: &str,
    ) -> SignedRequest {
        self.inner.config.signed_request(req, now, nonce)
    }

    /// Calls `CheckResult`.
    ///
    /// Before every attempt (retries included) waits for the shared rate limiter, then signs
    /// with a fresh timestamp and nonce. Retries [`ErrorClass::RetrySoon`] failures with
    /// exponential backoff per [`RetryPolicy`]; returns every other error at once.
    pub async fn check_result(&self, req: &CheckResultRequest) -> Result<CheckResult, Error> {
        self.check_result_with_cancel(req, std::future::pending())
            .await
    }

    /// [`Client::check_result`], abandoned with [`Error::Cancelled`] as soon as `cancel`
    /// completes (e.g. on shutdown), whether waiting for the rate limiter, backing off, or in
    /// flight.
    pub async fn check_result_with_cancel<C>(
        &self,
        req: &CheckResultRequest,
        cancel: C,
    ) -> Result<CheckResult, Error>
    where
        C: Future<Output = ()>,
    {
        let stage = AtomicU8::new(STAGE_RATE_LIMIT);
        let attempts = AtomicU32::new(0);
        let transaction_id = req.transaction_id();
        let attempt = || async {
            let n = attempts.fetch_add(1, Ordering::Relaxed) + 1;
            stage.store(STAGE_RATE_LIMIT, Ordering::Relaxed);
            if let Some(limiter) = &self.inner.limiter {
                limiter.until_ready().await;
            }
            stage.store(STAGE_IN_FLIGHT, Ordering::Relaxed);
            let outcome = self.attempt(req, n).await;
            self.inner.config.observer.observe(&outcome);
            outcome
        };
        let retrying = attempt
            .retry(self.inner.config.retry.backoff())
            .sleep(tokio::time::sleep)
            .when(|e: &Error| e.class() == ErrorClass::RetrySoon)
            .notify(|e: &Error, delay: Duration| {
                stage.store(STAGE_BACKOFF, Ordering::Relaxed);
                tracing::warn!(
                    transaction_id = %transaction_id,
                    attempt = attempts.load(Ordering::Relaxed),
                    code = e.code().unwrap_or(""),
                    status = e.status().unwrap_or(0),
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error = %e,
                    "checkresult failed, retrying"
                );
            });
        let outcome = tokio::select! {
            biased;
            () = cancel => Err(Error::Cancelled(stage_of(stage.load(Ordering::Relaxed)))),
            outcome = retrying => outcome,
        };
        if let Err(e) = &outcome {
            tracing::debug!(
                transaction_id = %transaction_id,
                attempts = attempts.load(Ordering::Relaxed),
                class = %e.class(),
                code = e.code().unwrap_or(""),
                error = %e,
                "checkresult gave up"
            );
        }
        outcome
    }

    async fn attempt(&self, req: &CheckResultRequest, attempt: u32) -> Result<CheckResult, Error> {
        let config = &self.inner.config;
        let nonce = new_nonce();
        let signed = config.signed_request(req, config.clock.now(), &nonce);
        let mut builder = self.inner.http.post(signed.url.as_str());
        for (name, value) in &signed.headers {
            // reqwest derives `host` from the URL: the same host[:port] that was signed.
            if name != "host" {
                builder = builder.header(name.as_str(), value.as_str());
            }
        }
        tracing::debug!(
            transaction_id = %req.transaction_id(),
            attempt,
            scheme = ?config.scheme,
            "checkresult sending"
        );
        // An empty body, announced as such (as the SDKs do; some gateways want a length).
        let response = builder
            .header(reqwest::header::CONTENT_LENGTH, "0")
            .body(Vec::<u8>::new())
            .send()
            .await
            .map_err(Error::transport)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(Error::transport)?;
        let outcome = interpret_response(status, body);
        match &outcome {
            Ok(result) => tracing::debug!(
                transaction_id = %req.transaction_id(),
                attempt,
                status,
                code = SUCCESS_CODE,
                request_id = result.request_id().unwrap_or(""),
                passed = result.result().and_then(|r| r.passed.as_deref()).unwrap_or(""),
                sub_code = result.sub_code().unwrap_or(""),
                "checkresult answered"
            ),
            Err(e) => tracing::debug!(
                transaction_id = %req.transaction_id(),
                attempt,
                status,
                code = e.code().unwrap_or(""),
                request_id = e.request_id().unwrap_or(""),
                class = %e.class(),
                "checkresult answered with an error"
            ),
        }
        outcome
    }
}

#[cfg(test)]
mod tests;
