//! The Rust signing functions agree with the official Alibaba Cloud Python SDK's own signing
//! functions on generated inputs: random keys, nonces, timestamps, Unicode and reserved
//! characters, with and without an STS token, for both schemes.

use std::io::Write as _;
use std::process::{Command, Stdio};

use cloudauth::sign::{self, v2, v3};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const CASES_PER_SCHEME: usize = 300;

/// Characters that exercise percent-encoding: reserved, unreserved, space, multi-byte UTF-8.
const ALPHABET: &[&str] = &[
    "a", "Z", "0", "9", "-", "_", ".", "~", " ", "*", "/", "+", "=", "&", "%", "?", "#", "!", "'",
    "(", ")", ":", "@", ",", ";", "$", "[", "]", "\"", "{", "}", "é", "ß", "阿", "里", "云", "😀",
    "\u{a0}", "\t",
];

fn random_value(rng: &mut StdRng, max_len: usize) -> String {
    let len = rng.gen_range(0..=max_len);
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())])
        .collect()
}

fn random_token(rng: &mut StdRng, len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    (0..len)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

fn random_name(rng: &mut StdRng) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let len = rng.gen_range(1..12);
    (0..len)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

fn random_timestamp(rng: &mut StdRng) -> String {
    let secs = rng.gen_range(1_500_000_000i64..2_200_000_000);
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn business_params(rng: &mut StdRng) -> Vec<(String, String)> {
    let mut params = vec![
        (
            "MerchantBizId".to_owned(),
            random_token(rng, 32).replace(['+', '/', '='], "a"),
        ),
        ("TransactionId".to_owned(), random_value(rng, 40)),
        (
            "IsReturnImage".to_owned(),
            if rng.gen_bool(0.5) { "Y" } else { "N" }.to_owned(),
        ),
    ];
    for _ in 0..rng.gen_range(0..4) {
        let name = random_name(rng);
        if params.iter().all(|(k, _)| *k != name) {
            params.push((name, random_value(rng, 30)));
        }
    }
    params
}

fn v2_case(rng: &mut StdRng) -> (Value, String) {
    let secret = random_value(rng, 40);
    let method = if rng.gen_bool(0.8) { "POST" } else { "GET" };
    let mut params = business_params(rng);
    params.extend([
        ("Action".to_owned(), "CheckResult".to_owned()),
        ("Version".to_owned(), "2022-08-09".to_owned()),
        ("Format".to_owned(), "json".to_owned()),
        ("AccessKeyId".to_owned(), random_token(rng, 24)),
        ("SignatureMethod".to_owned(), "HMAC-SHA1".to_owned()),
        ("SignatureVersion".to_owned(), "1.0".to_owned()),
        (
            "SignatureNonce".to_owned(),
            hex::encode(rng.r#gen::<[u8; 16]>()),
        ),
        ("Timestamp".to_owned(), random_timestamp(rng)),
    ]);
    if rng.gen_bool(0.5) {
        params.push(("SecurityToken".to_owned(), random_token(rng, 120)));
    }
    let ours = v2::sign(&secret, &v2::string_to_sign(method, &params));
    let case = json!({
        "scheme": "v2", "method": method, "secret": secret,
        "params": params.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
    });
    (case, ours)
}

fn v3_case(rng: &mut StdRng) -> (Value, String) {
    let secret = random_value(rng, 40);
    let access_key_id = random_token(rng, 24);
    let method = if rng.gen_bool(0.8) { "POST" } else { "GET" };
    let query = business_params(rng);
    let payload_sha256 = if rng.gen_bool(0.7) {
        sign::EMPTY_PAYLOAD_SHA256.to_owned()
    } else {
        sign::sha256_hex(random_value(rng, 50).as_bytes())
    };
    let mut headers = vec![
        (
            "host".to_owned(),
            format!("{}.example.com", random_name(rng).to_ascii_lowercase()),
        ),
        ("x-acs-action".to_owned(), "CheckResult".to_owned()),
        ("x-acs-version".to_owned(), "2022-08-09".to_owned()),
        ("x-acs-date".to_owned(), random_timestamp(rng)),
        (
            "x-acs-signature-nonce".to_owned(),
            hex::encode(rng.r#gen::<[u8; 16]>()),
        ),
        ("x-acs-content-sha256".to_owned(), payload_sha256.clone()),
    ];
    if rng.gen_bool(0.5) {
        headers.push(("x-acs-security-token".to_owned(), random_token(rng, 120)));
    }
    if rng.gen_bool(0.5) {
        // The Python SDK signs every header it sends, user-agent and accept included.
        headers.push((
            "User-Agent".to_owned(),
            "AlibabaCloud (Linux) Python/3.11 Core/0.4".to_owned(),
        ));
        headers.push(("accept".to_owned(), "application/json".to_owned()));
    }
    let cr = v3::canonical_request(method, "/", &query, &headers, &payload_sha256);
    let ours = v3::authorization(
        &access_key_id,
        &cr.signed_headers,
        &v3::sign(&secret, &v3::string_to_sign(&cr.text)),
    );
    let to_map = |pairs: &[(String, String)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<serde_json::Map<_, _>>()
    };
    let case = json!({
        "scheme": "v3", "method": method, "secret": secret, "access_key_id": access_key_id,
        "query": to_map(&query), "headers": to_map(&headers), "payload_sha256": payload_sha256,
    });
    (case, ours)
}

#[test]
fn rust_signatures_match_the_official_sdk() {
    let mut rng = StdRng::seed_from_u64(0x5eed_c10d);
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for _ in 0..CASES_PER_SCHEME {
        let (case, ours) = v2_case(&mut rng);
        cases.push(case);
        expected.push(ours);
        let (case, ours) = v3_case(&mut rng);
        cases.push(case);
        expected.push(ours);
    }

    let script = kyc_archiver_tests::repo_root().join("tests/py/sdk_sign.py");
    let mut child = Command::new(kyc_archiver_tests::python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the SDK signing script");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&cases).unwrap().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the SDK signing script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(results.len(), cases.len());

    let mut mismatches = Vec::new();
    for ((case, ours), result) in cases.iter().zip(&expected).zip(&results) {
        for (which, theirs) in result.as_object().unwrap() {
            if theirs.as_str() != Some(ours.as_str()) {
                mismatches.push(format!("{which}: sdk {theirs} rust {ours} for {case}"));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} signatures differ from the SDK, first: {}",
        mismatches.len(),
        cases.len(),
        mismatches[0]
    );
    // Both schemes, both STS variants and the legacy helper were really compared.
    let v2_legacy = results.iter().filter(|r| r.get("legacy").is_some()).count();
    assert_eq!(v2_legacy, CASES_PER_SCHEME);
    let with_token = cases
        .iter()
        .filter(|c| {
            c["params"].get("SecurityToken").is_some()
                || c["headers"].get("x-acs-security-token").is_some()
        })
        .count();
    assert!(with_token > CASES_PER_SCHEME / 2 && with_token < CASES_PER_SCHEME * 3 / 2);
}
