//! The API gateway in front of CheckResult: action/version routing, V2 and V3 signature
//! verification, access keys, STS tokens, timestamps and nonces.
//!
//! Order of checks (the first failure answers):
//! 1. `Action` / `Version` (V3: `x-acs-action` / `x-acs-version` headers; V2: parameters);
//! 2. required signing parameters or headers (`MissingParameter`) and their structure
//!    (`IncompleteSignature`);
//! 3. the access key (`InvalidAccessKeyId.NotFound`);
//! 4. the timestamp, when checked (`InvalidTimeStamp.Format` / `InvalidTimeStamp.Expired`);
//! 5. the signature (`SignatureDoesNotMatch`, message ending with the server's string to sign);
//! 6. the STS token (`InvalidSecurityToken.Malformed` when the key requires one and none was
//!    sent; `InvalidSecurityToken.Mismatch` when a different one, or one for a key without a
//!    token, was sent);
//! 7. the nonce (`SignatureNonceUsed`), only now so unauthenticated requests burn no nonces.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use http::{HeaderMap, Method, StatusCode};

use cloudauth::sign::{self, v2, v3};

use crate::config::AccessKey;
use crate::requests::SignatureScheme;

/// The only action and version served.
pub(crate) const ACTION: &str = "CheckResult";
pub(crate) const VERSION: &str = "2022-08-09";

/// Maximum distance between a request's timestamp and the emulator clock, and how long a
/// nonce stays used.
pub(crate) const WINDOW: TimeDelta = TimeDelta::minutes(15);

/// Hard cap on remembered nonces (on top of the time window).
const NONCE_CAP: usize = 1_000_000;

/// V2 common parameters: not business parameters, and not logged as such.
const COMMON_PARAMS: &[&str] = &[
    "Action",
    "Version",
    "Format",
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "SignatureType",
    "Timestamp",
    "SecurityToken",
];

/// An error answered by the gateway or the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Gateway errors also carry `HostId` and `Recommend`.
    pub gateway: bool,
}

impl ApiError {
    pub(crate) fn gateway(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            gateway: true,
        }
    }

    pub(crate) fn service(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            gateway: false,
        }
    }

    pub(crate) fn missing(name: &str) -> Self {
        Self::gateway(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            format!(
                "The input parameter \"{name}\" that is mandatory for processing this request is not supplied."
            ),
        )
    }

    fn incomplete_signature() -> Self {
        Self::gateway(
            StatusCode::BAD_REQUEST,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards.",
        )
    }

    fn signature_mismatch(string_to_sign: &str) -> Self {
        Self::gateway(
            StatusCode::BAD_REQUEST,
            "SignatureDoesNotMatch",
            format!(
                "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
            ),
        )
    }
}

/// What the log records about an API request, filled in as far as the gateway got.
#[derive(Debug, Clone, Default)]
pub(crate) struct Info {
    pub scheme: Option<SignatureScheme>,
    pub access_key_id: Option<String>,
    pub action: Option<String>,
    pub version: Option<String>,
    pub format: Option<String>,
    pub params: BTreeMap<String, String>,
    pub nonce: Option<String>,
    pub timestamp: Option<String>,
    pub has_security_token: bool,
}

impl Info {
    /// Whether the response must be XML (V2 without `Format=JSON`).
    pub(crate) fn wants_xml(&self) -> bool {
        self.scheme == Some(SignatureScheme::V2)
            && !self
                .format
                .as_deref()
                .is_some_and(|f| f.eq_ignore_ascii_case("json"))
    }
}

/// An authenticated request.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    pub access_key_id: String,
    /// Business parameters (query and form body, without common parameters).
    pub params: Vec<(String, String)>,
}

impl Authenticated {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Remembered nonces within the window.
#[derive(Debug, Default)]
pub(crate) struct NonceCache {
    seen: HashMap<String, DateTime<Utc>>,
    order: VecDeque<(DateTime<Utc>, String)>,
}

impl NonceCache {
    /// Records `nonce`; `false` if it was used within the window.
    pub(crate) fn check_and_insert(&mut self, nonce: &str, now: DateTime<Utc>) -> bool {
        while let Some((t, _)) = self.order.front() {
            if now - *t < WINDOW && self.order.len() <= NONCE_CAP {
                break;
            }
            let (t, n) = self.order.pop_front().expect("front exists");
            if self.seen.get(&n) == Some(&t) {
                self.seen.remove(&n);
            }
        }
        if let Some(t) = self.seen.get(nonce)
            && now - *t < WINDOW
        {
            return false;
        }
        self.seen.insert(nonce.to_owned(), now);
        self.order.push_back((now, nonce.to_owned()));
        true
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }
}

/// Everything the gateway needs from the HTTP request.
#[derive(Debug)]
pub(crate) struct Incoming<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The gateway's view of the emulator state.
pub(crate) trait Keys {
    fn key(&self, id: &str) -> Option<&AccessKey>;
    fn now(&self) -> DateTime<Utc>;
    fn check_timestamps(&self) -> bool;
    fn nonce_fresh(&self, nonce: &str, now: DateTime<Utc>) -> bool;
}

/// Parses `a=1&b=2` (percent-decoding, `+` as space); a name without `=` has an empty value.
pub(crate) fn parse_pairs(text: &str) -> Vec<(String, String)> {
    if text.is_empty() {
        return Vec::new();
    }
    serde_urlencoded::from_str::<Vec<(String, String)>>(text).unwrap_or_default()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn first<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn business(params: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    params
        .into_iter()
        .filter(|(k, _)| !COMMON_PARAMS.contains(&k.as_str()))
        .collect()
}

fn check_action_version(action: Option<&str>, version: Option<&str>) -> Result<(), ApiError> {
    match action {
        None | Some("") => return Err(ApiError::missing("Action")),
        Some(ACTION) => {}
        Some(_) => {
            return Err(ApiError::gateway(
                StatusCode::NOT_FOUND,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
            ));
        }
    }
    match version {
        None | Some("") => Err(ApiError::missing("Version")),
        Some(VERSION) => Ok(()),
        Some(_) => Err(ApiError::gateway(
            StatusCode::BAD_REQUEST,
            "InvalidVersion",
            "Specified parameter Version is not valid.",
        )),
    }
}

fn lookup<'k>(keys: &'k impl Keys, id: &str) -> Result<&'k AccessKey, ApiError> {
    keys.key(id).ok_or_else(|| {
        ApiError::gateway(
            StatusCode::NOT_FOUND,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        )
    })
}

/// Parses the documented timestamp form `yyyy-MM-ddTHH:mm:ssZ` (UTC, whole seconds).
pub(crate) fn parse_timestamp(value: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%SZ")
        .ok()
        .filter(|_| value.len() == 20)
        .map(|t| t.and_utc())
}

/// The format is always checked; the 15-minute window only with `check_timestamps`.
fn check_timestamp(keys: &impl Keys, value: &str) -> Result<(), ApiError> {
    let t = parse_timestamp(value).ok_or_else(|| {
        ApiError::gateway(
            StatusCode::BAD_REQUEST,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        )
    })?;
    if keys.check_timestamps() && (keys.now() - t).abs() > WINDOW {
        return Err(ApiError::gateway(
            StatusCode::BAD_REQUEST,
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        ));
    }
    Ok(())
}

fn check_token(key: &AccessKey, sent: Option<&str>) -> Result<(), ApiError> {
    let sent = sent.filter(|t| !t.is_empty());
    match (&key.security_token, sent) {
        (None, None) => Ok(()),
        (Some(want), Some(got)) if want == got => Ok(()),
        (Some(_), None) => Err(ApiError::gateway(
            StatusCode::BAD_REQUEST,
            "InvalidSecurityToken.Malformed",
            "Specified SecurityToken is malformed.",
        )),
        _ => Err(ApiError::gateway(
            StatusCode::BAD_REQUEST,
            "InvalidSecurityToken.Mismatch",
            "Specified SecurityToken mismatch with the AccessKey.",
        )),
    }
}

fn check_nonce(keys: &impl Keys, nonce: &str) -> Result<(), ApiError> {
    if keys.nonce_fresh(nonce, keys.now()) {
        Ok(())
    } else {
        Err(ApiError::gateway(
            StatusCode::BAD_REQUEST,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        ))
    }
}

/// Authenticates an API request, filling `info` as it goes.
pub(crate) fn authenticate(
    keys: &impl Keys,
    req: Incoming<'_>,
    info: &mut Info,
) -> Result<Authenticated, ApiError> {
    let has_signature_param = req
        .query
        .iter()
        .chain(&req.form)
        .any(|(k, _)| k == "Signature");
    if let Some(auth) = header(req.headers, "authorization") {
        info.scheme = Some(SignatureScheme::V3);
        authenticate_v3(keys, req, auth, info)
    } else if has_signature_param {
        info.scheme = Some(SignatureScheme::V2);
        authenticate_v2(keys, req, info)
    } else {
        info.scheme = Some(SignatureScheme::None);
        if req.headers.contains_key("x-acs-signature-nonce")
            || req.headers.contains_key("x-acs-date")
        {
            // A V3-style request without its Authorization header.
            check_action_version(
                header(req.headers, "x-acs-action"),
                header(req.headers, "x-acs-version"),
            )?;
            return Err(ApiError::missing("Authorization"));
        }
        let mut all = req.query;
        all.extend(req.form);
        info.action = first(&all, "Action").map(str::to_owned);
        info.version = first(&all, "Version").map(str::to_owned);
        info.access_key_id = first(&all, "AccessKeyId").map(str::to_owned);
        info.params = business(all.iter().cloned()).into_iter().collect();
        check_action_version(info.action.as_deref(), info.version.as_deref())?;
        Err(ApiError::missing(if info.access_key_id.is_none() {
            "AccessKeyId"
        } else {
            "Signature"
        }))
    }
}

fn authenticate_v2(
    keys: &impl Keys,
    req: Incoming<'_>,
    info: &mut Info,
) -> Result<Authenticated, ApiError> {
    let mut all = req.query;
    all.extend(req.form);
    let get = |name: &str| first(&all, name).filter(|v| !v.is_empty());
    info.action = get("Action").map(str::to_owned);
    info.version = get("Version").map(str::to_owned);
    info.format = get("Format").map(str::to_owned);
    info.access_key_id = get("AccessKeyId").map(str::to_owned);
    info.nonce = get("SignatureNonce").map(str::to_owned);
    info.timestamp = get("Timestamp").map(str::to_owned);
    info.has_security_token = get("SecurityToken").is_some();
    info.params = business(all.iter().cloned()).into_iter().collect();

    check_action_version(info.action.as_deref(), info.version.as_deref())?;
    for name in [
        "AccessKeyId",
        "Signature",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "Timestamp",
    ] {
        if get(name).is_none() {
            return Err(ApiError::missing(name));
        }
    }
    if get("SignatureMethod") != Some(v2::SIGNATURE_METHOD)
        || get("SignatureVersion") != Some(v2::SIGNATURE_VERSION)
    {
        return Err(ApiError::incomplete_signature());
    }
    let key = lookup(keys, get("AccessKeyId").unwrap_or_default())?;
    check_timestamp(keys, get("Timestamp").unwrap_or_default())?;
    let string_to_sign = v2::string_to_sign(req.method.as_str(), &all);
    let expected = v2::sign(&key.secret, &string_to_sign);
    if get("Signature") != Some(expected.as_str()) {
        return Err(ApiError::signature_mismatch(&string_to_sign));
    }
    check_token(key, get("SecurityToken"))?;
    check_nonce(keys, get("SignatureNonce").unwrap_or_default())?;
    Ok(Authenticated {
        access_key_id: key.id.clone(),
        params: business(all),
    })
}

fn authenticate_v3(
    keys: &impl Keys,
    req: Incoming<'_>,
    authorization: &str,
    info: &mut Info,
) -> Result<Authenticated, ApiError> {
    let h = |name: &str| header(req.headers, name).filter(|v| !v.is_empty());
    info.action = h("x-acs-action").map(str::to_owned);
    info.version = h("x-acs-version").map(str::to_owned);
    info.nonce = h("x-acs-signature-nonce").map(str::to_owned);
    info.timestamp = h("x-acs-date").map(str::to_owned);
    info.has_security_token = h("x-acs-security-token").is_some();
    info.params = business(req.query.iter().chain(&req.form).cloned())
        .into_iter()
        .collect();
    let parsed = v3::parse_authorization(authorization);
    if let Ok(auth) = &parsed {
        info.access_key_id = Some(auth.access_key_id.clone());
    }

    check_action_version(info.action.as_deref(), info.version.as_deref())?;
    let auth = parsed.map_err(|_| ApiError::incomplete_signature())?;
    for name in [
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-content-sha256",
    ] {
        if h(name).is_none() {
            return Err(ApiError::missing(name));
        }
    }
    // host and every x-acs-* header sent must be signed.
    let must_sign = std::iter::once("host").chain(
        req.headers
            .keys()
            .map(|k| k.as_str())
            .filter(|k| k.starts_with("x-acs-")),
    );
    for name in must_sign {
        if !auth.signed_headers.iter().any(|s| s == name) {
            return Err(ApiError::incomplete_signature());
        }
    }
    let key = lookup(keys, &auth.access_key_id)?;
    check_timestamp(keys, h("x-acs-date").unwrap_or_default())?;

    let mut signed: Vec<(&str, String)> = Vec::new();
    for name in &auth.signed_headers {
        let mut values = req.headers.get_all(name.as_str()).iter().peekable();
        if values.peek().is_none() {
            signed.push((name, String::new()));
        }
        for v in values {
            signed.push((name, String::from_utf8_lossy(v.as_bytes()).into_owned()));
        }
    }
    let payload_hash = sign::sha256_hex(req.body);
    let canonical = v3::canonical_request(
        req.method.as_str(),
        req.path,
        &req.query,
        &signed,
        &payload_hash,
    );
    let string_to_sign = v3::string_to_sign(&canonical.text);
    let expected = v3::sign(&key.secret, &string_to_sign);
    if auth.signature != expected {
        return Err(ApiError::signature_mismatch(&string_to_sign));
    }
    check_token(key, h("x-acs-security-token"))?;
    check_nonce(keys, h("x-acs-signature-nonce").unwrap_or_default())?;
    Ok(Authenticated {
        access_key_id: key.id.clone(),
        params: business(req.query.into_iter().chain(req.form)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    struct TestKeys {
        keys: Vec<AccessKey>,
        now: DateTime<Utc>,
        check: bool,
        nonces: RefCell<NonceCache>,
    }

    impl Keys for TestKeys {
        fn key(&self, id: &str) -> Option<&AccessKey> {
            self.keys.iter().find(|k| k.id == id)
        }
        fn now(&self) -> DateTime<Utc> {
            self.now
        }
        fn check_timestamps(&self) -> bool {
            self.check
        }
        fn nonce_fresh(&self, nonce: &str, now: DateTime<Utc>) -> bool {
            self.nonces.borrow_mut().check_and_insert(nonce, now)
        }
    }

    fn keys(now: &str) -> TestKeys {
        TestKeys {
            keys: vec![AccessKey::new("testid", "testsecret")],
            now: now.parse().unwrap(),
            check: true,
            nonces: RefCell::new(NonceCache::default()),
        }
    }

    // Reference §6.1: the exact V2 request is accepted at its own time.
    #[test]
    fn v2_reference_request_is_accepted() {
        let query = "AccessKeyId=testid&Action=CheckResult&Format=JSON&IsReturnImage=N&MerchantBizId=e0c34a77f5ac40a5aa5e6ed20c350001&Signature=4GJ%2BV1p0dWSGKzT5kV0K5KhyK2A%3D&SignatureMethod=HMAC-SHA1&SignatureNonce=c3a1f5e24b6d4e8f9a0b1c2d3e4f5a6b&SignatureVersion=1.0&Timestamp=2025-01-15T08%3A30%3A00Z&TransactionId=hksb7ba1b28130d24e015d694361bee4&Version=2022-08-09";
        let k = keys("2025-01-15T08:35:00Z");
        let headers = HeaderMap::new();
        let incoming = || Incoming {
            method: &Method::POST,
            path: "/",
            query: parse_pairs(query),
            form: Vec::new(),
            headers: &headers,
            body: b"",
        };
        let mut info = Info::default();
        let auth = authenticate(&k, incoming(), &mut info).unwrap();
        assert_eq!(
            auth.param("TransactionId"),
            Some("hksb7ba1b28130d24e015d694361bee4")
        );
        assert_eq!(auth.params.len(), 3);
        assert_eq!(info.scheme, Some(SignatureScheme::V2));
        assert!(!info.wants_xml());
        // Replaying it: the nonce is used.
        let err = authenticate(&k, incoming(), &mut Info::default()).unwrap_err();
        assert_eq!(err.code, "SignatureNonceUsed");
        // 16 minutes later: expired.
        let late = keys("2025-01-15T08:46:01Z");
        assert_eq!(
            authenticate(&late, incoming(), &mut Info::default())
                .unwrap_err()
                .code,
            "InvalidTimeStamp.Expired"
        );
    }

    // Reference §6.2: the exact V3 request is accepted.
    #[test]
    fn v3_reference_request_is_accepted() {
        let mut headers = HeaderMap::new();
        for (k, v) in [
            ("host", "cloudauth-intl.cn-hongkong.aliyuncs.com"),
            ("x-acs-action", "CheckResult"),
            ("x-acs-version", "2022-08-09"),
            ("x-acs-date", "2025-01-15T08:30:00Z"),
            ("x-acs-signature-nonce", "c3a1f5e24b6d4e8f9a0b1c2d3e4f5a6b"),
            ("x-acs-content-sha256", sign::EMPTY_PAYLOAD_SHA256),
            (
                "authorization",
                "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=e9c14661522b3bdfb8490868d42dc0ceae60f02ce99e319f64f2ce9521d03f8d",
            ),
        ] {
            headers.insert(k, v.parse().unwrap());
        }
        let query = "IsReturnImage=N&MerchantBizId=e0c34a77f5ac40a5aa5e6ed20c350001&TransactionId=hksb7ba1b28130d24e015d694361bee4";
        let k = keys("2025-01-15T08:30:00Z");
        let mut info = Info::default();
        let incoming = Incoming {
            method: &Method::POST,
            path: "/",
            query: parse_pairs(query),
            form: Vec::new(),
            headers: &headers,
            body: b"",
        };
        let auth = authenticate(&k, incoming, &mut info).unwrap();
        assert_eq!(auth.access_key_id, "testid");
        assert_eq!(info.scheme, Some(SignatureScheme::V3));
        // A body that does not match x-acs-content-sha256 breaks the signature.
        let k = keys("2025-01-15T08:30:00Z");
        let incoming = Incoming {
            method: &Method::POST,
            path: "/",
            query: parse_pairs(query),
            form: Vec::new(),
            headers: &headers,
            body: b"x",
        };
        let err = authenticate(&k, incoming, &mut Info::default()).unwrap_err();
        assert_eq!(err.code, "SignatureDoesNotMatch");
        assert!(
            err.message
                .contains("server string to sign is:ACS3-HMAC-SHA256\n"),
            "{}",
            err.message
        );
    }

    #[test]
    fn timestamps_must_have_the_documented_form() {
        assert_eq!(
            parse_timestamp("2025-01-15T08:30:00Z"),
            Some("2025-01-15T08:30:00Z".parse().unwrap())
        );
        for bad in [
            "2025-01-15T08:30:00.123Z",
            "2025-01-15T08:30:00+08:00",
            "2025-01-15 08:30:00Z",
            "2025-1-15T08:30:00Z",
            "2025-01-15T08:30:00",
            "",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn nonce_cache_evicts_after_the_window() {
        let mut cache = NonceCache::default();
        let t0: DateTime<Utc> = "2025-01-15T08:30:00Z".parse().unwrap();
        assert!(cache.check_and_insert("a", t0));
        assert!(!cache.check_and_insert("a", t0 + TimeDelta::minutes(14)));
        assert!(cache.check_and_insert("b", t0 + TimeDelta::minutes(14)));
        assert!(cache.check_and_insert("a", t0 + TimeDelta::minutes(16)));
        // "a" was re-inserted at +16; "b" (at +14) is evicted at +30.
        assert!(cache.check_and_insert("c", t0 + TimeDelta::minutes(30)));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn token_rules() {
        let plain = AccessKey::new("a", "b");
        let sts = AccessKey::sts("a", "b", "tok");
        assert!(check_token(&plain, None).is_ok());
        assert!(check_token(&sts, Some("tok")).is_ok());
        assert_eq!(
            check_token(&sts, None).unwrap_err().code,
            "InvalidSecurityToken.Malformed"
        );
        assert_eq!(
            check_token(&sts, Some("other")).unwrap_err().code,
            "InvalidSecurityToken.Mismatch"
        );
        assert_eq!(
            check_token(&plain, Some("tok")).unwrap_err().code,
            "InvalidSecurityToken.Mismatch"
        );
    }
}
