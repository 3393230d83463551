//! Hand-built signed requests (with `cloudauth::sign`) and small helpers.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use cloudauth::sign::{self, percent_encode, v2, v3};
use cloudauth_emulator::{
    Emulator, EmulatorConfig, RunningEmulator, Verification, VerificationSpec,
};
use serde_json::Value;

pub const AK: &str = "testid";
pub const SECRET: &str = "testsecret";

pub struct Env {
    pub emu: RunningEmulator,
    pub http: reqwest::Client,
}

pub async fn start(config: EmulatorConfig) -> Env {
    let emu = Emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("emulator starts");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .no_proxy()
        .build()
        .expect("http client");
    Env { emu, http }
}

pub async fn start_default() -> Env {
    start(EmulatorConfig::default()).await
}

impl Env {
    pub fn create(&self, spec: VerificationSpec) -> Verification {
        self.emu
            .create_verification(spec)
            .expect("verification created")
    }

    /// A V3 CheckResult call for `v` signed with the emulator's time.
    pub fn v3(&self, v: &Verification) -> Call {
        Call::new(Scheme::V3, self.emu.clock().now()).checkresult(v)
    }

    /// A V2 CheckResult call for `v` signed with the emulator's time.
    pub fn v2(&self, v: &Verification) -> Call {
        Call::new(Scheme::V2, self.emu.clock().now()).checkresult(v)
    }

    pub async fn send(&self, call: &Call) -> Resp {
        call.prepare(&self.emu.endpoint()).send(&self.http).await
    }

    pub async fn get(&self, url: &str) -> Resp {
        let r = self.http.get(url).send().await.expect("get");
        Resp::read(r).await
    }

    pub async fn get_range(&self, url: &str, range: &str) -> Resp {
        let r = self
            .http
            .get(url)
            .header("range", range)
            .send()
            .await
            .expect("get");
        Resp::read(r).await
    }

    pub fn admin(&self, path: &str) -> String {
        format!("{}/admin{path}", self.emu.base_url())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    V2,
    V3,
}

/// A CheckResult request before signing.
#[derive(Debug, Clone)]
pub struct Call {
    pub scheme: Scheme,
    pub ak: String,
    pub secret: String,
    pub token: Option<String>,
    pub action: String,
    pub version: String,
    pub time: DateTime<Utc>,
    pub nonce: String,
    /// V2 `Format` (None: not sent).
    pub format: Option<String>,
    pub method: reqwest::Method,
    /// Business parameters in the query string.
    pub query: Vec<(String, String)>,
    /// Business parameters in a form body.
    pub form: Vec<(String, String)>,
}

pub fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Call {
    pub fn new(scheme: Scheme, time: DateTime<Utc>) -> Self {
        Self {
            scheme,
            ak: AK.into(),
            secret: SECRET.into(),
            token: None,
            action: "CheckResult".into(),
            version: "2022-08-09".into(),
            time,
            nonce: nonce(),
            format: Some("JSON".into()),
            method: reqwest::Method::POST,
            query: Vec::new(),
            form: Vec::new(),
        }
    }

    pub fn checkresult(mut self, v: &Verification) -> Self {
        self.query = vec![
            ("MerchantBizId".into(), v.merchant_biz_id.clone()),
            ("TransactionId".into(), v.transaction_id.clone()),
            ("IsReturnImage".into(), "N".into()),
        ];
        self
    }

    pub fn images(mut self) -> Self {
        self.set("IsReturnImage", "Y");
        self
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.query.retain(|(k, _)| k != name);
        self.query.push((name.into(), value.into()));
    }

    pub fn remove(&mut self, name: &str) {
        self.query.retain(|(k, _)| k != name);
    }

    pub fn with(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }

    /// Moves every business parameter into a form body.
    pub fn in_form(mut self) -> Self {
        self.form.append(&mut self.query);
        self
    }

    /// The V2 parameters (common + business query + form), unsigned.
    pub fn v2_params(&self) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = vec![
            ("Action".into(), self.action.clone()),
            ("Version".into(), self.version.clone()),
            ("AccessKeyId".into(), self.ak.clone()),
            ("SignatureMethod".into(), "HMAC-SHA1".into()),
            ("SignatureVersion".into(), "1.0".into()),
            ("SignatureNonce".into(), self.nonce.clone()),
            (
                "Timestamp".into(),
                self.time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            ),
        ];
        if let Some(f) = &self.format {
            p.push(("Format".into(), f.clone()));
        }
        if let Some(t) = &self.token {
            p.push(("SecurityToken".into(), t.clone()));
        }
        p.extend(self.query.iter().cloned());
        p
    }

    pub fn prepare(&self, host: &str) -> Prepared {
        let form_body = encode(&self.form);
        let mut headers: Vec<(String, String)> = Vec::new();
        if !self.form.is_empty() {
            headers.push((
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ));
        }
        let query = match self.scheme {
            Scheme::V2 => {
                let mut params = self.v2_params();
                let mut all = params.clone();
                all.extend(self.form.iter().cloned());
                let sts = v2::string_to_sign(self.method.as_str(), &all);
                params.push(("Signature".into(), v2::sign(&self.secret, &sts)));
                params
            }
            Scheme::V3 => {
                headers.extend([
                    ("host".to_owned(), host.to_owned()),
                    ("x-acs-action".into(), self.action.clone()),
                    ("x-acs-version".into(), self.version.clone()),
                    (
                        "x-acs-date".into(),
                        self.time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    ),
                    ("x-acs-signature-nonce".into(), self.nonce.clone()),
                    (
                        "x-acs-content-sha256".into(),
                        sign::sha256_hex(form_body.as_bytes()),
                    ),
                ]);
                if let Some(t) = &self.token {
                    headers.push(("x-acs-security-token".into(), t.clone()));
                }
                let cr = v3::canonical_request(
                    self.method.as_str(),
                    "/",
                    &self.query,
                    &headers,
                    &sign::sha256_hex(form_body.as_bytes()),
                );
                let sig = v3::sign(&self.secret, &v3::string_to_sign(&cr.text));
                headers.push((
                    "authorization".into(),
                    v3::authorization(&self.ak, &cr.signed_headers, &sig),
                ));
                headers.retain(|(k, _)| k != "host");
                self.query.clone()
            }
        };
        Prepared {
            method: self.method.clone(),
            url: format!("http://{host}/?{}", encode(&query)),
            headers,
            body: form_body.into_bytes(),
        }
    }

    /// The V2 string to sign the server must compute for this call.
    pub fn v2_string_to_sign(&self) -> String {
        let mut all = self.v2_params();
        all.extend(self.form.iter().cloned());
        v2::string_to_sign(self.method.as_str(), &all)
    }
}

pub fn encode(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A signed request, still editable (to tamper with it after signing).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub method: reqwest::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Prepared {
    pub fn header(&mut self, name: &str, value: Option<&str>) {
        self.headers.retain(|(k, _)| k != name);
        if let Some(v) = value {
            self.headers.push((name.into(), v.into()));
        }
    }

    pub async fn send(&self, http: &reqwest::Client) -> Resp {
        let mut rb = http
            .request(self.method.clone(), &self.url)
            .body(self.body.clone());
        for (k, v) in &self.headers {
            rb = rb.header(k, v);
        }
        Resp::read(rb.send().await.expect("request sent")).await
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub async fn read(r: reqwest::Response) -> Self {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().await.expect("body");
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not json ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `(status, Code)` of a JSON answer.
    pub fn code(&self) -> (u16, String) {
        (
            self.status,
            self.json()["Code"].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// `Result.ExtFaceInfo` / `Result.ExtIdInfo` parsed from their JSON strings.
    pub fn ext(&self, name: &str) -> Option<Value> {
        let j = self.json();
        let text = j["Result"]
            .get(name)?
            .as_str()
            .expect("Ext* fields are strings")
            .to_owned();
        Some(serde_json::from_str(&text).expect("Ext* strings hold JSON"))
    }
}

/// Asserts the documented gateway error shape and returns the body.
pub fn assert_gateway_error(r: &Resp, status: u16, code: &str) -> Value {
    assert_eq!(r.code(), (status, code.to_owned()), "{}", r.text());
    assert_eq!(r.content_type(), "application/json;charset=utf-8");
    let j = r.json();
    let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["RequestId", "HostId", "Code", "Message", "Recommend"],
        "{j}"
    );
    assert_request_id(j["RequestId"].as_str().unwrap());
    assert_eq!(j["HostId"], "cloudauth-intl.cn-hongkong.aliyuncs.com");
    assert!(
        j["Recommend"]
            .as_str()
            .unwrap()
            .contains(&format!("q={code}&")),
        "{j}"
    );
    j
}

/// Asserts the service error shape (no HostId / Recommend) and returns the body.
pub fn assert_service_error(r: &Resp, status: u16, code: &str) -> Value {
    assert_eq!(r.code(), (status, code.to_owned()), "{}", r.text());
    assert_eq!(r.content_type(), "application/json;charset=utf-8");
    let j = r.json();
    let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["RequestId", "Code", "Message"], "{j}");
    assert_request_id(j["RequestId"].as_str().unwrap());
    j
}

pub fn assert_request_id(id: &str) {
    let parsed =
        uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("request id {id} is not a uuid"));
    assert_eq!(id, parsed.hyphenated().to_string().to_ascii_uppercase());
}

/// The dimensions of a JPEG (from its SOF0/SOF2 marker) or PNG (IHDR).
pub fn image_dimensions(bytes: &[u8]) -> (u32, u32) {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        return (w, h);
    }
    assert_eq!(&bytes[..3], &[0xFF, 0xD8, 0xFF], "not a jpeg");
    let mut i = 2;
    while i + 9 < bytes.len() {
        assert_eq!(bytes[i], 0xFF);
        let marker = bytes[i + 1];
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        if matches!(marker, 0xC0..=0xC2) {
            let h = u32::from(u16::from_be_bytes([bytes[i + 5], bytes[i + 6]]));
            let w = u32::from(u16::from_be_bytes([bytes[i + 7], bytes[i + 8]]));
            return (w, h);
        }
        i += 2 + len;
    }
    panic!("no SOF marker");
}

pub fn b64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("valid base64")
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

/// `docVideoUrl` of a CheckResult answer.
pub fn video_url(r: &Resp) -> String {
    r.ext("ExtFaceInfo").expect("ExtFaceInfo")["docVideoUrl"]
        .as_str()
        .expect("docVideoUrl")
        .to_owned()
}

pub fn url_param(url: &str, name: &str) -> String {
    let query = url.split_once('?').unwrap().1;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    pairs.into_iter().find(|(k, _)| k == name).unwrap().1
}
