use super::*;
use crate::endpoint::Region;
use crate::error::TransportKind;
use crate::model::tests::REFERENCE_6_3;
use pretty_assertions::assert_eq;
use proptest::prelude::*;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const MBI: &str = "e0c34a77f5ac40a5aa5e6ed20c350001";
const TID: &str = "hksb7ba1b28130d24e015d694361bee4";
const NONCE: &str = "c3a1f5e24b6d4e8f9a0b1c2d3e4f5a6b";

fn reference_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-01-15T08:30:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn reference_request() -> CheckResultRequest {
    CheckResultRequest::new(MBI, TID).unwrap()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Whole signed requests against reference §6.1 and §6.2.

#[test]
fn v3_signed_request_matches_reference_6_2() {
    let config = ClientConfig::new(
        Endpoint::public(Region::CnHongkong),
        Credentials::new("testid", "testsecret", None),
    );
    assert_eq!(config.scheme, SignatureScheme::V3, "V3 is the default");
    let signed = config.signed_request(&reference_request(), reference_now(), NONCE);
    assert_eq!(signed.method, "POST");
    assert_eq!(
        signed.url,
        "https://cloudauth-intl.cn-hongkong.aliyuncs.com/?IsReturnImage=N&MerchantBizId=e0c34a77f5ac40a5aa5e6ed20c350001&TransactionId=hksb7ba1b28130d24e015d694361bee4"
    );
    assert_eq!(
        signed.headers,
        owned(&[
            ("host", "cloudauth-intl.cn-hongkong.aliyuncs.com"),
            ("x-acs-action", "CheckResult"),
            ("x-acs-version", "2022-08-09"),
            ("x-acs-date", "2025-01-15T08:30:00Z"),
            ("x-acs-signature-nonce", "c3a1f5e24b6d4e8f9a0b1c2d3e4f5a6b"),
            (
                "x-acs-content-sha256",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            ),
            (
                "authorization",
                "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=e9c14661522b3bdfb8490868d42dc0ceae60f02ce99e319f64f2ce9521d03f8d"
            ),
        ])
    );
}

#[test]
fn v2_signed_request_matches_reference_6_1() {
    let mut config = ClientConfig::new(
        Endpoint::public(Region::CnHongkong),
        Credentials::new("testid", "testsecret", None),
    );
    config.scheme = SignatureScheme::V2;
    let signed = config.signed_request(&reference_request(), reference_now(), NONCE);
    assert_eq!(signed.method, "POST");
    assert_eq!(
        signed.url,
        "https://cloudauth-intl.cn-hongkong.aliyuncs.com/?AccessKeyId=testid&Action=CheckResult&Format=JSON&IsReturnImage=N&MerchantBizId=e0c34a77f5ac40a5aa5e6ed20c350001&Signature=4GJ%2BV1p0dWSGKzT5kV0K5KhyK2A%3D&SignatureMethod=HMAC-SHA1&SignatureNonce=c3a1f5e24b6d4e8f9a0b1c2d3e4f5a6b&SignatureVersion=1.0&Timestamp=2025-01-15T08%3A30%3A00Z&TransactionId=hksb7ba1b28130d24e015d694361bee4&Version=2022-08-09"
    );
    assert_eq!(
        signed.headers,
        owned(&[("host", "cloudauth-intl.cn-hongkong.aliyuncs.com")])
    );
}

#[test]
fn v2_signed_request_with_sts_matches_reference_6_1() {
    let mut config = ClientConfig::new(
        Endpoint::public(Region::CnHongkong),
        Credentials::new("testid", "testsecret", Some("CAIS.exampleToken==".into())),
    );
    config.scheme = SignatureScheme::V2;
    let signed = config.signed_request(&reference_request(), reference_now(), NONCE);
    assert_eq!(
        signed.url,
        "https://cloudauth-intl.cn-hongkong.aliyuncs.com/?AccessKeyId=testid&Action=CheckResult&Format=JSON&IsReturnImage=N&MerchantBizId=e0c34a77f5ac40a5aa5e6ed20c350001&SecurityToken=CAIS.exampleToken%3D%3D&Signature=SdOFbC6SaXF%2FHhhtWF8DJsJlBzw%3D&SignatureMethod=HMAC-SHA1&SignatureNonce=c3a1f5e24b6d4e8f9a0b1c2d3e4f5a6b&SignatureVersion=1.0&Timestamp=2025-01-15T08%3A30%3A00Z&TransactionId=hksb7ba1b28130d24e015d694361bee4&Version=2022-08-09"
    );
    let dbg = format!("{signed:?}");
    assert!(!dbg.contains("exampleToken"), "{dbg}");
    assert!(dbg.contains("SecurityToken=***"), "{dbg}");
}

#[test]
fn v3_with_sts_signs_the_token_header_and_debug_masks_it() {
    let config = ClientConfig::new(
        Endpoint::public(Region::CnHongkong),
        Credentials::new("testid", "testsecret", Some("CAIS.exampleToken==".into())),
    );
    let signed = config.signed_request(&reference_request(), reference_now(), NONCE);
    assert_eq!(
        signed.header("x-acs-security-token"),
        Some("CAIS.exampleToken==")
    );
    let auth = v3::parse_authorization(signed.header("Authorization").unwrap()).unwrap();
    assert_eq!(
        auth.signed_headers,
        [
            "host",
            "x-acs-action",
            "x-acs-content-sha256",
            "x-acs-date",
            "x-acs-security-token",
            "x-acs-signature-nonce",
            "x-acs-version"
        ]
    );
    assert!(verify_v3(&Received::from_signed(&signed), "testsecret"));
    let dbg = format!("{signed:?}");
    assert!(!dbg.contains("exampleToken"), "{dbg}");
}

#[test]
fn optional_parameters_are_signed_in_the_query() {
    let config = ClientConfig::new(
        Endpoint::public(Region::ApSoutheast1),
        Credentials::new("testid", "testsecret", None),
    );
    let req = reference_request()
        .return_image(true)
        .extra_image_control_list("a b*~".to_owned())
        .return_five_category_spoof_result("Y".to_owned());
    let signed = config.signed_request(&req, reference_now(), NONCE);
    assert_eq!(
        signed.url,
        "https://cloudauth-intl.ap-southeast-1.aliyuncs.com/?ExtraImageControlList=a%20b%2A~&IsReturnImage=Y&MerchantBizId=e0c34a77f5ac40a5aa5e6ed20c350001&ReturnFiveCategorySpoofResult=Y&TransactionId=hksb7ba1b28130d24e015d694361bee4"
    );
    assert!(verify_v3(&Received::from_signed(&signed), "testsecret"));
}

#[test]
fn timestamps_and_nonces() {
    assert_eq!(format_timestamp(reference_now()), "2025-01-15T08:30:00Z");
    let at = reference_now() + chrono::Duration::milliseconds(999);
    assert_eq!(format_timestamp(at), "2025-01-15T08:30:00Z");
    let a = new_nonce();
    let b = new_nonce();
    assert_eq!(a.len(), 32);
    assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, b);
}

proptest! {
    // Whatever the optional values, the URL's query is the canonical query: sorted, only
    // unreserved characters and %XX, and it decodes back to exactly the parameters sent.
    #[test]
    fn signed_query_is_canonical_and_lossless(
        extra in "\\PC{0,24}",
        spoof in "[ -~]{0,12}",
        image in any::<bool>(),
        v2_scheme in any::<bool>(),
    ) {
        let mut config = ClientConfig::new(
            Endpoint::public(Region::CnHongkong),
            Credentials::new("testid", "testsecret", Some("tok+/=".into())),
        );
        if v2_scheme {
            config.scheme = SignatureScheme::V2;
        }
        let req = reference_request()
            .return_image(image)
            .extra_image_control_list(extra.clone())
            .return_five_category_spoof_result(spoof.clone());
        let signed = config.signed_request(&req, reference_now(), NONCE);
        let (_, query) = signed.url.split_once('?').unwrap();
        let ok_bytes = |s: &str| {
            let b = s.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%' {
                    if i + 2 >= b.len() { return false; }
                    if !(b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit()) { return false; }
                    if b[i + 1].is_ascii_lowercase() || b[i + 2].is_ascii_lowercase() { return false; }
                    i += 3;
                } else if b[i].is_ascii_alphanumeric() || b"-_.~".contains(&b[i]) {
                    i += 1;
                } else {
                    return false;
                }
            }
            true
        };
        let mut names = Vec::new();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap();
            prop_assert!(ok_bytes(k) && ok_bytes(v), "{pair}");
            names.push(k.to_owned());
        }
        let mut sorted = names.clone();
        sorted.sort();
        prop_assert_eq!(&names, &sorted);
        let decoded: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |name: &str| decoded.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        prop_assert_eq!(get("ExtraImageControlList"), Some(extra));
        prop_assert_eq!(get("ReturnFiveCategorySpoofResult"), Some(spoof));
        prop_assert_eq!(get("IsReturnImage"), Some(if image { "Y" } else { "N" }.to_owned()));
        let received = Received::from_signed(&signed);
        if v2_scheme {
            prop_assert_eq!(get("SecurityToken"), Some("tok+/=".to_owned()));
            prop_assert!(verify_v2(&received, "testsecret"));
        } else {
            prop_assert!(verify_v3(&received, "testsecret"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Interpreting answers (pure).

fn interpret(status: u16, body: &str) -> Result<CheckResult, Error> {
    interpret_response(status, bytes::Bytes::copy_from_slice(body.as_bytes()))
}

#[test]
fn interpret_success_keeps_raw_bytes() {
    let ok = interpret(200, REFERENCE_6_3).unwrap();
    assert_eq!(&ok.raw[..], REFERENCE_6_3.as_bytes());
    assert_eq!(ok.status, 200);
    assert_eq!(ok.passed(), Some(true));
    // No Code but a Result: accepted (the SDKs do not check Code either).
    let ok = interpret(200, r#"{"RequestId":"r","Result":{"Passed":"N"}}"#).unwrap();
    assert_eq!(ok.passed(), Some(false));
}

#[test]
fn interpret_errors() {
    let err = interpret(
        404,
        r#"{"RequestId":"5C1A","Code":"ProcessNotCompleted","Message":"not done"}"#,
    )
    .unwrap_err();
    assert_eq!(err.code(), Some("ProcessNotCompleted"));
    assert_eq!(err.request_id(), Some("5C1A"));
    assert_eq!(err.status(), Some(404));
    assert_eq!(err.class(), ErrorClass::RetryLater);

    // An error body with HTTP 200 is an error.
    let err = interpret(
        200,
        r#"{"RequestId":"r","Code":"Throttling.Api","Message":"blocked"}"#,
    )
    .unwrap_err();
    assert_eq!(err.code(), Some("Throttling.Api"));
    assert_eq!(err.status(), Some(200));
    assert_eq!(err.class(), ErrorClass::RetrySoon);

    // Non-JSON from a proxy: classified by status.
    let err = interpret(502, "<html>bad gateway</html>").unwrap_err();
    assert!(matches!(err, Error::HttpStatus { status: 502, .. }));
    assert_eq!(err.class(), ErrorClass::RetrySoon);
    let err = interpret(404, "").unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent);

    // JSON without a Code on an error status.
    let err = interpret(500, r#"{"RequestId":"r9"}"#).unwrap_err();
    assert!(matches!(err, Error::HttpStatus { status: 500, .. }));
    assert_eq!(err.request_id(), Some("r9"));

    // Success code with an error status is not a success.
    let err = interpret(503, r#"{"Code":"Success","Result":{}}"#).unwrap_err();
    assert_eq!(err.class(), ErrorClass::RetrySoon);

    // A 2xx that is not a CheckResult response.
    let err = interpret(200, "<html>captive portal</html>").unwrap_err();
    assert!(matches!(err, Error::MalformedResponse { status: 200, .. }));
    assert_eq!(err.class(), ErrorClass::Permanent);
    let err = interpret(200, "{}").unwrap_err();
    assert!(matches!(err, Error::MalformedResponse { .. }));
    let err = interpret(200, r#"{"Code":"Success","Result":{"Passed":["#).unwrap_err();
    assert!(err.to_string().contains("truncated json"), "{err}");

    // The code survives even when the rest of the body does not fit the model.
    let err = interpret(
        400,
        r#"{"Code":"InvalidParameter","Message":"m","Result":{"ExtIdInfo":"{broken"}}"#,
    )
    .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameter"));
}

#[test]
fn malformed_errors_do_not_quote_the_body() {
    let body =
        r#"{"Code":"Success","Result":{"ExtIdInfo":{"ocrIdInfo":{"name":{"x":"CHAN TAI MAN"}}}}}"#;
    let err = interpret(200, body).unwrap_err();
    assert!(!err.to_string().contains("CHAN"), "{err}");
    assert!(!format!("{err:?}").contains("CHAN"), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// A tiny HTTP/1.1 server answering canned replies and recording what it received.

#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    body: String,
    delay: Duration,
}

fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        body: body.to_owned(),
        delay: Duration::ZERO,
    }
}

fn api_error(status: u16, code: &str) -> Reply {
    reply(
        status,
        &format!(r#"{{"RequestId":"REQ-{code}","Code":"{code}","Message":"canned {code}"}}"#),
    )
}

#[derive(Debug, Clone)]
struct Received {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    at: Instant,
}

impl Received {
    /// What a server would receive for `signed` (for verifying pure signatures).
    fn from_signed(signed: &SignedRequest) -> Self {
        let (_, rest) = signed.url.split_once("://").unwrap();
        let target = &rest[rest.find('/').unwrap()..];
        Received {
            method: signed.method.to_owned(),
            target: target.to_owned(),
            headers: signed.headers.clone(),
            body: Vec::new(),
            at: Instant::now(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn query(&self) -> Vec<(String, String)> {
        let query = self.target.split_once('?').map_or("", |(_, q)| q);
        url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn query_param(&self, name: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    fn nonce(&self) -> String {
        self.header("x-acs-signature-nonce")
            .map(str::to_owned)
            .or_else(|| self.query_param("SignatureNonce"))
            .unwrap()
    }
}

/// Verifies a V3 request as the service would: from the headers it received.
fn verify_v3(r: &Received, secret: &str) -> bool {
    let Some(auth) = r.header("authorization") else {
        return false;
    };
    let Ok(auth) = v3::parse_authorization(auth) else {
        return false;
    };
    let mut headers = Vec::new();
    for name in &auth.signed_headers {
        match r.header(name) {
            Some(v) => headers.push((name.clone(), v.to_owned())),
            None => return false,
        }
    }
    let path = r.target.split('?').next().unwrap();
    let payload_hash = sign::sha256_hex(&r.body);
    if r.header("x-acs-content-sha256") != Some(payload_hash.as_str()) {
        return false;
    }
    let canonical = v3::canonical_request(&r.method, path, &r.query(), &headers, &payload_hash);
    v3::sign(secret, &v3::string_to_sign(&canonical.text)) == auth.signature
}

/// Verifies a V2 request as the service would: from its query.
fn verify_v2(r: &Received, secret: &str) -> bool {
    let params = r.query();
    let Some(signature) = r.query_param("Signature") else {
        return false;
    };
    v2::sign(secret, &v2::string_to_sign(&r.method, &params)) == signature
}

struct Server {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Server {
    /// Answers the n-th request with `script[n]` (the last reply repeats).
    async fn start(script: Vec<Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(script);
        let log = received.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve_connection(stream, script.clone(), log.clone()));
            }
        });
        Server { addr, received }
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint::custom(&format!("http://{}", self.addr), true).unwrap()
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn serve_connection(
    stream: TcpStream,
    script: Arc<Vec<Reply>>,
    log: Arc<Mutex<Vec<Received>>>,
) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.trim_end().splitn(3, ' ');
        let method = parts.next().unwrap_or_default().to_owned();
        let target = parts.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).await.unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let index = {
            let mut log = log.lock().unwrap();
            log.push(Received {
                method,
                target,
                headers,
                body,
                at: Instant::now(),
            });
            log.len() - 1
        };
        let reply = script
            .get(index)
            .or(script.last())
            .cloned()
            .unwrap_or_else(|| reply(500, ""));
        tokio::time::sleep(reply.delay).await;
        let head = format!(
            "HTTP/1.1 {} Canned\r\ncontent-type: application/json;charset=utf-8\r\ncontent-length: {}\r\n\r\n",
            reply.status,
            reply.body.len()
        );
        if write.write_all(head.as_bytes()).await.is_err()
            || write.write_all(reply.body.as_bytes()).await.is_err()
        {
            return;
        }
    }
}

/// A client configuration for the test server: fast retries without jitter, no QPS limit.
fn test_config(server: &Server) -> ClientConfig {
    let mut config = ClientConfig::new(
        server.endpoint(),
        Credentials::new("testid", "testsecret", None),
    );
    config.qps = None;
    config.retry = RetryPolicy {
        max_attempts: 4,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        jitter: false,
    };
    config.request_timeout = Duration::from_secs(10);
    config
}

fn success() -> Reply {
    reply(200, REFERENCE_6_3)
}

// ---------------------------------------------------------------------------------------------
// The client against the server.

#[tokio::test]
async fn v3_request_on_the_wire_verifies_and_returns_raw_body() {
    let server = Server::start(vec![success()]).await;
    let mut config = test_config(&server);
    config.clock = Clock::fixed(reference_now());
    config.user_agent = "test-agent/1".to_owned();
    let client = Client::new(config).unwrap();
    let req = reference_request().return_image(true);
    let result = client.check_result(&req).await.unwrap();
    assert_eq!(&result.raw[..], REFERENCE_6_3.as_bytes());
    assert_eq!(result.status, 200);
    assert_eq!(result.sub_code(), Some("200"));

    let received = server.received();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.target,
        "/?IsReturnImage=Y&MerchantBizId=e0c34a77f5ac40a5aa5e6ed20c350001&TransactionId=hksb7ba1b28130d24e015d694361bee4"
    );
    assert_eq!(r.header("host"), Some(server.endpoint().host_header()));
    assert_eq!(r.header("x-acs-action"), Some("CheckResult"));
    assert_eq!(r.header("x-acs-version"), Some("2022-08-09"));
    assert_eq!(r.header("x-acs-date"), Some("2025-01-15T08:30:00Z"));
    assert_eq!(r.header("x-acs-content-sha256"), Some(EMPTY_PAYLOAD_SHA256));
    assert_eq!(r.header("user-agent"), Some("test-agent/1"));
    assert_eq!(r.header("content-length"), Some("0"));
    assert_eq!(
        r.headers
            .iter()
            .filter(|(k, _)| k == "content-length")
            .count(),
        1
    );
    assert!(r.header("x-acs-security-token").is_none());
    assert!(r.body.is_empty());
    assert!(
        verify_v3(r, "testsecret"),
        "server-side V3 verification failed"
    );
    assert!(!verify_v3(r, "wrongsecret"));
}

#[tokio::test]
async fn v2_sts_request_on_the_wire_verifies() {
    let server = Server::start(vec![success()]).await;
    let mut config = test_config(&server);
    config.scheme = SignatureScheme::V2;
    config.credentials = Credentials::new("STS.id", "stssecret", Some("CAIS.tok==".into()));
    config.clock = Clock::fixed(reference_now());
    let client = Client::new(config).unwrap();
    client.check_result(&reference_request()).await.unwrap();
    let r = &server.received()[0];
    assert_eq!(r.method, "POST");
    assert!(r.body.is_empty());
    assert!(r.header("authorization").is_none());
    assert_eq!(
        r.query_param("SecurityToken").as_deref(),
        Some("CAIS.tok==")
    );
    assert_eq!(r.query_param("AccessKeyId").as_deref(), Some("STS.id"));
    assert_eq!(r.query_param("Format").as_deref(), Some("JSON"));
    assert_eq!(
        r.query_param("Timestamp").as_deref(),
        Some("2025-01-15T08:30:00Z")
    );
    assert!(
        verify_v2(r, "stssecret"),
        "server-side V2 verification failed"
    );
}

#[tokio::test]
async fn retries_throttling_and_transient_errors_then_succeeds() {
    let server = Server::start(vec![
        api_error(403, "Throttling.Api"),
        api_error(503, "ServiceUnavailable"),
        api_error(400, "SignatureNonceUsed"),
        success(),
    ])
    .await;
    let client = Client::new(test_config(&server)).unwrap();
    let result = client.check_result(&reference_request()).await.unwrap();
    assert_eq!(result.passed(), Some(true));
    let received = server.received();
    assert_eq!(received.len(), 4);
    let mut nonces: Vec<String> = received.iter().map(Received::nonce).collect();
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 4, "every attempt has a fresh nonce");
    assert!(received.iter().all(|r| verify_v3(r, "testsecret")));
}

#[tokio::test]
async fn retries_a_bare_bad_gateway_and_internal_error() {
    let server = Server::start(vec![
        reply(502, "<html>bad gateway</html>"),
        api_error(500, "InternalError"),
        success(),
    ])
    .await;
    let client = Client::new(test_config(&server)).unwrap();
    assert!(client.check_result(&reference_request()).await.is_ok());
    assert_eq!(server.received().len(), 3);
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let server = Server::start(vec![api_error(500, "InternalError")]).await;
    let mut config = test_config(&server);
    config.retry.max_attempts = 3;
    let client = Client::new(config).unwrap();
    let err = client.check_result(&reference_request()).await.unwrap_err();
    assert_eq!(err.code(), Some("InternalError"));
    assert_eq!(err.request_id(), Some("REQ-InternalError"));
    assert_eq!(err.class(), ErrorClass::RetrySoon);
    assert_eq!(server.received().len(), 3);
}

#[tokio::test]
async fn does_not_retry_permanent_later_or_configuration_errors() {
    let cases = [
        (
            api_error(400, "TransactionIdInvalid"),
            ErrorClass::Permanent,
        ),
        (api_error(400, "InvalidParameter"), ErrorClass::Permanent),
        (
            api_error(404, "ProcessNotCompleted"),
            ErrorClass::RetryLater,
        ),
        (
            api_error(403, "Forbidden.RAMUserAccessDenied"),
            ErrorClass::Configuration,
        ),
        (
            api_error(400, "InvalidTimeStamp.Expired"),
            ErrorClass::Configuration,
        ),
        // An error body with HTTP 200.
        (
            api_error(200, "Forbidden.AccountAccessDenied"),
            ErrorClass::Configuration,
        ),
        (reply(200, "not json at all"), ErrorClass::Permanent),
    ];
    for (canned, class) in cases {
        let server = Server::start(vec![canned.clone(), success()]).await;
        let client = Client::new(test_config(&server)).unwrap();
        let err = client.check_result(&reference_request()).await.unwrap_err();
        assert_eq!(err.class(), class, "{canned:?}");
        assert_eq!(server.received().len(), 1, "{canned:?} was retried");
    }
}

#[tokio::test]
async fn qps_limit_spaces_requests_across_clones() {
    let server = Server::start(vec![success()]).await;
    let mut config = test_config(&server);
    config.qps = NonZeroU32::new(10);
    let client = Client::new(config).unwrap();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client.check_result(&reference_request()).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let received = server.received();
    assert_eq!(received.len(), 5);
    let last = received.iter().map(|r| r.at).max().unwrap();
    // 10 QPS without bursts: the 5th request cannot leave before 4 × 100 ms.
    assert!(
        last.duration_since(start) >= Duration::from_millis(400),
        "5 requests within {:?}",
        last.duration_since(start)
    );
}

#[tokio::test]
async fn qps_limit_applies_to_retries() {
    let server = Server::start(vec![
        api_error(403, "Throttling.Api"),
        api_error(403, "Throttling.Api"),
        success(),
    ])
    .await;
    let mut config = test_config(&server);
    config.qps = NonZeroU32::new(5);
    config.retry.min_delay = Duration::from_millis(1);
    config.retry.max_delay = Duration::from_millis(1);
    let client = Client::new(config).unwrap();
    let start = Instant::now();
    client.check_result(&reference_request()).await.unwrap();
    let received = server.received();
    assert_eq!(received.len(), 3);
    // Backoff alone is ~2 ms; the limiter (5 QPS, 200 ms apart) holds every retry.
    let last = received[2].at.duration_since(start);
    assert!(
        last >= Duration::from_millis(400),
        "3 attempts within {last:?}"
    );
}

#[tokio::test]
async fn timeouts_are_retry_soon_and_retried() {
    let server = Server::start(vec![Reply {
        delay: Duration::from_secs(5),
        ..success()
    }])
    .await;
    let mut config = test_config(&server);
    config.request_timeout = Duration::from_millis(300);
    config.retry.max_attempts = 2;
    config.scheme = SignatureScheme::V2;
    let client = Client::new(config).unwrap();
    let err = client.check_result(&reference_request()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::RetrySoon);
    assert_eq!(server.received().len(), 2);
    // The URL (V2: signature and parameters in the query) is not in the error.
    let text = format!("{err} {err:?} {:?}", std::error::Error::source(&err));
    assert!(!text.contains("TransactionId"), "{text}");
    assert!(!text.contains("Signature"), "{text}");
    assert!(!text.contains("127.0.0.1"), "{text}");
}

#[tokio::test]
async fn connection_refused_is_retry_soon() {
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let mut config = ClientConfig::new(
        Endpoint::custom(&format!("http://{addr}"), true).unwrap(),
        Credentials::new("testid", "testsecret", None),
    );
    config.qps = None;
    config.retry = RetryPolicy::no_retries();
    let client = Client::new(config).unwrap();
    let err = client.check_result(&reference_request()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::RetrySoon);
}

#[tokio::test]
async fn cancel_while_waiting_for_the_rate_limiter() {
    let server = Server::start(vec![success()]).await;
    let mut config = test_config(&server);
    config.qps = NonZeroU32::new(1);
    let client = Client::new(config).unwrap();
    client.check_result(&reference_request()).await.unwrap();
    let err = client
        .check_result_with_cancel(
            &reference_request(),
            tokio::time::sleep(Duration::from_millis(50)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Cancelled(CancelledWhile::RateLimitWait)),
        "{err:?}"
    );
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn cancel_while_backing_off() {
    let server = Server::start(vec![api_error(503, "ServiceUnavailable")]).await;
    let mut config = test_config(&server);
    config.retry.min_delay = Duration::from_secs(10);
    config.retry.max_delay = Duration::from_secs(10);
    let client = Client::new(config).unwrap();
    let err = client
        .check_result_with_cancel(
            &reference_request(),
            tokio::time::sleep(Duration::from_millis(300)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Cancelled(CancelledWhile::Backoff)),
        "{err:?}"
    );
    assert_eq!(server.received().len(), 1);
}

#[test]
fn client_new_rejects_bad_configuration() {
    let endpoint = Endpoint::public(Region::CnHongkong);
    let creds = Credentials::new("testid", "testsecret", None);
    let mut config = ClientConfig::new(endpoint.clone(), creds.clone());
    config.retry.max_attempts = 0;
    assert!(matches!(Client::new(config), Err(Error::Config(_))));
    let mut config = ClientConfig::new(endpoint.clone(), creds.clone());
    config.retry.min_delay = Duration::from_secs(10);
    assert!(matches!(Client::new(config), Err(Error::Config(_))));
    let mut config = ClientConfig::new(endpoint.clone(), creds);
    config.request_timeout = Duration::ZERO;
    assert!(matches!(Client::new(config), Err(Error::Config(_))));
    let config = ClientConfig::new(
        endpoint,
        Credentials::new("testid", "secret with\nnewline", None),
    );
    let err = Client::new(config).unwrap_err();
    assert_eq!(err.class(), ErrorClass::Configuration);
    assert!(!err.to_string().contains("newline"));
}

#[test]
fn defaults_and_debug() {
    let config = ClientConfig::new(
        Endpoint::public(Region::CnHongkong),
        Credentials::new("testid", "TopSecretValue", Some("TokenValue".into())),
    );
    assert_eq!(config.connect_timeout, Duration::from_secs(5));
    assert_eq!(config.request_timeout, Duration::from_secs(30));
    assert_eq!(config.qps, NonZeroU32::new(10));
    assert_eq!(
        config.retry,
        RetryPolicy {
            max_attempts: 4,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            jitter: true,
        }
    );
    let client = Client::new(config).unwrap();
    let dbg = format!("{client:?}");
    assert!(
        !dbg.contains("TopSecretValue") && !dbg.contains("TokenValue"),
        "{dbg}"
    );

    fn assert_shareable<T: Send + Sync + Clone + 'static>() {}
    assert_shareable::<Client>();
}
