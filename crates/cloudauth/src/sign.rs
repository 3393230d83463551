//! Request signing for Alibaba Cloud RPC APIs, as pure functions.
//!
//! Two schemes, both accepted by the service (reference §1.2):
//! - [`v3`]: `ACS3-HMAC-SHA256`, header based, the official SDKs' default;
//! - [`v2`]: `HMAC-SHA1` ("RPC signature V1.0"), query based.
//!
//! Nothing here does I/O or reads a clock: callers pass the timestamp and nonce, so the same
//! functions sign (client) and verify (emulator), and known-answer vectors pin them down.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of an empty payload, the `x-acs-content-sha256` of a bodiless request.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Percent-encodes `input` as UTF-8, leaving only RFC 3986 unreserved characters
/// (`A-Z a-z 0-9 - _ . ~`) literal; everything else becomes `%XX` with uppercase hex.
///
/// So a space is `%20` (never `+`), `*` is `%2A`, `~` stays `~` and `/` is `%2F`.
pub fn percent_encode(input: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(input.len() * 3);
    for &b in input.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0x0f)] as char);
        }
    }
    out
}

/// The canonicalized query string shared by both schemes: names and values percent-encoded,
/// pairs sorted by encoded name (then value, for repeated names), written `name=value` and
/// joined with `&`. An empty value is written `name=`.
pub fn canonical_query<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (percent_encode(k.as_ref()), percent_encode(v.as_ref())))
        .collect();
    encoded.sort();
    let mut out = String::new();
    for (i, (k, v)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Lowercase hex SHA-256 of `payload`.
pub fn sha256_hex(payload: &[u8]) -> String {
    hex::encode(Sha256::digest(payload))
}

/// Signature V2 (`SignatureMethod=HMAC-SHA1`, `SignatureVersion=1.0`), carried in the query.
pub mod v2 {
    use super::*;
    use base64::Engine as _;

    /// Value of the `SignatureMethod` parameter.
    pub const SIGNATURE_METHOD: &str = "HMAC-SHA1";
    /// Value of the `SignatureVersion` parameter.
    pub const SIGNATURE_VERSION: &str = "1.0";

    /// `METHOD&%2F&percentEncode(canonical query)` over every parameter except `Signature`
    /// (query and form body together).
    pub fn string_to_sign<K: AsRef<str>, V: AsRef<str>>(method: &str, params: &[(K, V)]) -> String {
        let signed: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .filter(|(k, _)| *k != "Signature")
            .collect();
        format!(
            "{}&{}&{}",
            method.to_ascii_uppercase(),
            percent_encode("/"),
            percent_encode(&canonical_query(&signed))
        )
    }

    /// `Base64(HMAC-SHA1(secret + "&", string_to_sign))`.
    pub fn sign(access_key_secret: &str, string_to_sign: &str) -> String {
        let mut key = Vec::with_capacity(access_key_secret.len() + 1);
        key.extend_from_slice(access_key_secret.as_bytes());
        key.push(b'&');
        let mut mac = Hmac::<Sha1>::new_from_slice(&key).expect("hmac accepts any key length");
        mac.update(string_to_sign.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }
}

/// Signature V3 (`ACS3-HMAC-SHA256`), carried in the `Authorization` header.
pub mod v3 {
    use super::*;

    /// The algorithm name that starts the string to sign and the `Authorization` header.
    pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

    /// The canonical request of one HTTP request, and the `SignedHeaders` list it covers.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CanonicalRequest {
        /// The full canonical request text.
        pub text: String,
        /// Lowercase header names joined with `;`.
        pub signed_headers: String,
    }

    /// Builds the canonical request.
    ///
    /// `headers` are the headers to sign (any case; values are trimmed; repeated names have
    /// their values sorted and joined with `,`). `path` is the canonical URI (`/` for RPC).
    pub fn canonical_request<QK, QV, HK, HV>(
        method: &str,
        path: &str,
        query: &[(QK, QV)],
        headers: &[(HK, HV)],
        hashed_payload: &str,
    ) -> CanonicalRequest
    where
        QK: AsRef<str>,
        QV: AsRef<str>,
        HK: AsRef<str>,
        HV: AsRef<str>,
    {
        let mut lowered: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_ref().trim().to_ascii_lowercase(),
                    v.as_ref().trim().to_owned(),
                )
            })
            .collect();
        lowered.sort();
        let mut names: Vec<&str> = Vec::new();
        let mut canonical_headers = String::new();
        let mut i = 0;
        while i < lowered.len() {
            let name = lowered[i].0.as_str();
            let mut values = vec![lowered[i].1.as_str()];
            while i + 1 < lowered.len() && lowered[i + 1].0 == name {
                i += 1;
                values.push(lowered[i].1.as_str());
            }
            canonical_headers.push_str(name);
            canonical_headers.push(':');
            canonical_headers.push_str(&values.join(","));
            canonical_headers.push('\n');
            names.push(name);
            i += 1;
        }
        let signed_headers = names.join(";");
        let text = format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            method.to_ascii_uppercase(),
            path,
            canonical_query(query),
            canonical_headers,
            signed_headers,
            hashed_payload
        );
        CanonicalRequest {
            text,
            signed_headers,
        }
    }

    /// `ACS3-HMAC-SHA256\n` + hex(SHA-256(canonical request)).
    pub fn string_to_sign(canonical_request: &str) -> String {
        format!("{ALGORITHM}\n{}", sha256_hex(canonical_request.as_bytes()))
    }

    /// Lowercase hex HMAC-SHA256 keyed with the raw secret (no `&` suffix).
    pub fn sign(access_key_secret: &str, string_to_sign: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(access_key_secret.as_bytes())
            .expect("hmac accepts any key length");
        mac.update(string_to_sign.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The `Authorization` header value: `ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`.
    pub fn authorization(access_key_id: &str, signed_headers: &str, signature: &str) -> String {
        format!(
            "{ALGORITHM} Credential={access_key_id},SignedHeaders={signed_headers},Signature={signature}"
        )
    }

    /// The parts of a V3 `Authorization` header.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Authorization {
        /// The access key id (`Credential`).
        pub access_key_id: String,
        /// Lowercase signed header names, in the order sent.
        pub signed_headers: Vec<String>,
        /// Lowercase hex signature.
        pub signature: String,
    }

    /// Why an `Authorization` header could not be read.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    pub enum AuthorizationError {
        /// The header does not start with `ACS3-HMAC-SHA256 `.
        #[error("authorization header does not use ACS3-HMAC-SHA256")]
        Algorithm,
        /// One of `Credential`, `SignedHeaders`, `Signature` is missing or empty.
        #[error("authorization header lacks {0}")]
        Missing(&'static str),
    }

    /// Parses a V3 `Authorization` header (separators `,` with optional spaces).
    pub fn parse_authorization(header: &str) -> Result<Authorization, AuthorizationError> {
        let rest = header
            .trim()
            .strip_prefix(ALGORITHM)
            .filter(|r| r.starts_with(' '))
            .ok_or(AuthorizationError::Algorithm)?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let Some((key, value)) = part.trim().split_once('=') else {
                continue;
            };
            match key.trim() {
                "Credential" => credential = Some(value.trim()),
                "SignedHeaders" => signed = Some(value.trim()),
                "Signature" => signature = Some(value.trim()),
                _ => {}
            }
        }
        fn nonempty<'a>(
            v: Option<&'a str>,
            name: &'static str,
        ) -> Result<&'a str, AuthorizationError> {
            v.filter(|s| !s.is_empty())
                .ok_or(AuthorizationError::Missing(name))
        }
        Ok(Authorization {
            access_key_id: nonempty(credential, "Credential")?.to_owned(),
            signed_headers: nonempty(signed, "SignedHeaders")?
                .split(';')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            signature: nonempty(signature, "Signature")?.to_ascii_lowercase(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn percent_encoding_edge_cases() {
        assert_eq!(percent_encode(" ~/*-+"), "%20~%2F%2A-%2B");
        assert_eq!(percent_encode("a.b_c-d~"), "a.b_c-d~");
        assert_eq!(percent_encode("="), "%3D");
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(percent_encode("阿"), "%E9%98%BF");
        assert_eq!(percent_encode(""), "");
    }

    #[test]
    fn canonical_query_sorts_by_encoded_name_and_keeps_empty_values() {
        let q = canonical_query(&[("b", "2"), ("a", ""), ("A", "x y"), ("a", "0")]);
        assert_eq!(q, "A=x%20y&a=&a=0&b=2");
    }

    fn v2_case(method: &str, params: &[(&str, &str)], secret: &str) -> String {
        v2::sign(secret, &v2::string_to_sign(method, params))
    }

    // Reference §1.6 vector A: the classic DescribeRegions example.
    #[test]
    fn v2_vector_a_describe_regions() {
        let mut params = vec![
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ];
        assert_eq!(
            v2_case("GET", &params, "testsecret"),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
        // A': the older doc spelling `TimeStamp`.
        params[6].0 = "TimeStamp";
        assert_eq!(
            v2_case("GET", &params, "testsecret"),
            "CT9X0VtwR86fNWSnsc6v8YGOjuE="
        );
    }

    // Vector B: DescribeDedicatedHosts, GET and POST give different signatures.
    #[test]
    fn v2_vector_b_method_matters() {
        let params = [
            ("AccessKeyId", "testid"),
            ("Action", "DescribeDedicatedHosts"),
            ("Format", "JSON"),
            ("RegionId", "cn-beijing"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "edb2b34af0af9a6d14deaf7c1a5315eb"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2023-03-13T08:34:30Z"),
            ("Version", "2014-05-26"),
        ];
        assert_eq!(
            v2_case("GET", &params, "testsecret"),
            "9NaGiOspFP5UPcwX8Iwt2YJXXuk="
        );
        assert_eq!(
            v2_case("POST", &params, "testsecret"),
            "ZvQ9xGiFnquSJRvj+WE6kdSpTwU="
        );
    }

    // Vector C: UTF-8 values (the SMS SendSms doc example).
    #[test]
    fn v2_vector_c_utf8() {
        let params = [
            ("AccessKeyId", "testId"),
            ("Action", "SendSms"),
            ("Format", "XML"),
            ("OutId", "123"),
            ("PhoneNumbers", "15300000001"),
            ("RegionId", "cn-hangzhou"),
            ("SignName", "阿里云短信测试专用"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", "SMS_71390007"),
            ("TemplateParam", "{\"customer\":\"test\"}"),
            ("Timestamp", "2017-07-12T02:42:19Z"),
            ("Version", "2017-05-25"),
        ];
        assert_eq!(
            v2_case("GET", &params, "testSecret"),
            "zJDF+Lrzhj/ThnlvIToysFRq6t4="
        );
    }

    // Vector D: the darabonba openapi-util unit test.
    #[test]
    fn v2_vector_d_util() {
        let params = [("query", "test"), ("body", "test")];
        let sts = v2::string_to_sign("GET", &params);
        assert_eq!(sts, "GET&%2F&body%3Dtest%26query%3Dtest");
        assert_eq!(v2::sign("secret", &sts), "XlUyV4sXjOuX5FnjUz9IF9tm5rU=");
    }

    fn checkresult_v2_params() -> Vec<(&'static str, &'static str)> {
        vec![
            ("Action", "CheckResult"),
            ("Version", "2022-08-09"),
            ("Format", "JSON"),
            ("AccessKeyId", "testid"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", "c3a1f5e24b6d4e8f9a0b1c2d3e4f5a6b"),
            ("Timestamp", "2025-01-15T08:30:00Z"),
            ("MerchantBizId", "e0c34a77f5ac40a5aa5e6ed20c350001"),
            ("TransactionId", "hksb7ba1b28130d24e015d694361bee4"),
            ("IsReturnImage", "N"),
        ]
    }

    // Reference §6.1: V2 CheckResult, with and without an STS token.
    #[test]
    fn v2_checkresult_wire_example() {
        let mut params = checkresult_v2_params();
        let sts = v2::string_to_sign("POST", &params);
        assert_eq!(
            sts,
            "POST&%2F&AccessKeyId%3Dtestid%26Action%3DCheckResult%26Format%3DJSON%26IsReturnImage%3DN%26MerchantBizId%3De0c34a77f5ac40a5aa5e6ed20c350001%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3Dc3a1f5e24b6d4e8f9a0b1c2d3e4f5a6b%26SignatureVersion%3D1.0%26Timestamp%3D2025-01-15T08%253A30%253A00Z%26TransactionId%3Dhksb7ba1b28130d24e015d694361bee4%26Version%3D2022-08-09"
        );
        assert_eq!(v2::sign("testsecret", &sts), "4GJ+V1p0dWSGKzT5kV0K5KhyK2A=");
        params.push(("SecurityToken", "CAIS.exampleToken=="));
        assert_eq!(
            v2_case("POST", &params, "testsecret"),
            "SdOFbC6SaXF/HhhtWF8DJsJlBzw="
        );
        // A Signature parameter already present is not part of what is signed.
        params.push(("Signature", "whatever"));
        assert_eq!(
            v2_case("POST", &params, "testsecret"),
            "SdOFbC6SaXF/HhhtWF8DJsJlBzw="
        );
    }

    // Vector E: the V3 documentation's RunInstances example.
    #[test]
    fn v3_vector_e_run_instances() {
        let query = [
            (
                "ImageId",
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            ),
            ("RegionId", "cn-shanghai"),
        ];
        let headers = [
            ("host", "ecs.cn-shanghai.aliyuncs.com"),
            ("x-acs-action", "RunInstances"),
            ("x-acs-version", "2014-05-26"),
            ("x-acs-date", "2023-10-26T10:22:32Z"),
            ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
            ("x-acs-content-sha256", EMPTY_PAYLOAD_SHA256),
        ];
        let cr = v3::canonical_request("POST", "/", &query, &headers, EMPTY_PAYLOAD_SHA256);
        assert_eq!(
            sha256_hex(cr.text.as_bytes()),
            "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
        );
        let sig = v3::sign("YourAccessKeySecret", &v3::string_to_sign(&cr.text));
        assert_eq!(
            sig,
            "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    // Reference §6.2: V3 CheckResult, including the exact Authorization header.
    #[test]
    fn v3_checkresult_wire_example() {
        let query = [
            ("MerchantBizId", "e0c34a77f5ac40a5aa5e6ed20c350001"),
            ("TransactionId", "hksb7ba1b28130d24e015d694361bee4"),
            ("IsReturnImage", "N"),
        ];
        // Mixed case and unsorted on purpose: canonicalisation lowercases and sorts.
        let headers = [
            ("X-Acs-Signature-Nonce", "c3a1f5e24b6d4e8f9a0b1c2d3e4f5a6b"),
            ("Host", "cloudauth-intl.cn-hongkong.aliyuncs.com"),
            ("x-acs-action", "CheckResult"),
            ("x-acs-version", "2022-08-09"),
            ("x-acs-date", " 2025-01-15T08:30:00Z "),
            ("x-acs-content-sha256", EMPTY_PAYLOAD_SHA256),
        ];
        let cr = v3::canonical_request("POST", "/", &query, &headers, EMPTY_PAYLOAD_SHA256);
        assert_eq!(
            cr.signed_headers,
            "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
        );
        assert_eq!(
            sha256_hex(cr.text.as_bytes()),
            "4cafaa16178b6146d578d5fcc050bf9f4e085f547775b770c0513d5a43562a84"
        );
        let sig = v3::sign("testsecret", &v3::string_to_sign(&cr.text));
        assert_eq!(
            v3::authorization("testid", &cr.signed_headers, &sig),
            "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=e9c14661522b3bdfb8490868d42dc0ceae60f02ce99e319f64f2ce9521d03f8d"
        );
    }

    #[test]
    fn v3_repeated_headers_are_sorted_and_joined() {
        let cr = v3::canonical_request(
            "get",
            "/",
            &[("test", "ok")],
            &[("x-acs-test", "https"), ("X-ACS-TEST", "http")],
            "abc",
        );
        assert_eq!(
            cr.text,
            "GET\n/\ntest=ok\nx-acs-test:http,https\n\nx-acs-test\nabc"
        );
    }

    #[test]
    fn v3_parse_authorization_roundtrip_and_errors() {
        let header = v3::authorization("AK", "host;x-acs-date", "ABCDEF");
        let parsed = v3::parse_authorization(&header).unwrap();
        assert_eq!(parsed.access_key_id, "AK");
        assert_eq!(parsed.signed_headers, vec!["host", "x-acs-date"]);
        assert_eq!(parsed.signature, "abcdef");
        let spaced = "ACS3-HMAC-SHA256 Credential=AK, SignedHeaders=host, Signature=00";
        assert_eq!(
            v3::parse_authorization(spaced).unwrap().signed_headers,
            vec!["host"]
        );
        assert_eq!(
            v3::parse_authorization("HMAC-SHA1 Credential=a"),
            Err(v3::AuthorizationError::Algorithm)
        );
        assert_eq!(
            v3::parse_authorization("ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host"),
            Err(v3::AuthorizationError::Missing("Signature"))
        );
    }
}
