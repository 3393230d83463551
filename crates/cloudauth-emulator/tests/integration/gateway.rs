//! The gateway: both signature schemes, parameter locations, and every gateway error.

use std::time::Duration;

use chrono::TimeDelta;
use cloudauth::sign::{self, v3};
use cloudauth_emulator::{AccessKey, EmulatorConfig, VerificationSpec};

use crate::common::*;

#[tokio::test]
async fn v3_and_v2_succeed() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc());
    for call in [env.v3(&v), env.v2(&v)] {
        let r = env.send(&call).await;
        assert_eq!(r.status, 200, "{:?}: {}", call.scheme, r.text());
        assert_eq!(r.content_type(), "application/json;charset=utf-8");
        let j = r.json();
        assert_eq!(j["Code"], "Success");
        assert_eq!(j["Message"], "success");
        assert_request_id(j["RequestId"].as_str().unwrap());
        assert_eq!(r.header("x-acs-request-id"), j["RequestId"].as_str());
        assert_eq!(j["Result"]["Passed"], "Y");
        assert_eq!(j["Result"]["SubCode"], "200");
    }
}

#[tokio::test]
async fn params_in_a_form_body_or_split_between_query_and_body() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::face_liveness());
    for scheme in [Scheme::V2, Scheme::V3] {
        let base = Call::new(scheme, env.emu.clock().now()).checkresult(&v);
        let all_form = base.clone().in_form();
        assert!(all_form.query.is_empty());
        let r = env.send(&all_form).await;
        assert_eq!(r.status, 200, "{scheme:?} form: {}", r.text());
        assert_eq!(r.json()["Result"]["SubCode"], "200");

        let mut split = base.clone().with(|c| c.nonce = nonce());
        let tx = split.query.remove(1);
        split.form.push(tx);
        let r = env.send(&split).await;
        assert_eq!(r.status, 200, "{scheme:?} split: {}", r.text());
    }
    // The emulator saw the parameters wherever they were.
    for entry in env.emu.requests() {
        assert_eq!(entry.params.get("TransactionId"), Some(&v.transaction_id));
    }
}

#[tokio::test]
async fn signature_does_not_match_with_the_server_string_to_sign() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc());

    let call = env.v2(&v).with(|c| c.secret = "wrong".into());
    let r = env.send(&call).await;
    let j = assert_gateway_error(&r, 400, "SignatureDoesNotMatch");
    let expected = format!(
        "Specified signature is not matched with our calculation. server string to sign is:{}",
        call.v2_string_to_sign()
    );
    assert_eq!(j["Message"], expected.as_str());

    let call = env.v3(&v).with(|c| c.secret = "wrong".into());
    let r = env.send(&call).await;
    let j = assert_gateway_error(&r, 400, "SignatureDoesNotMatch");
    let message = j["Message"].as_str().unwrap();
    let sts = message.split_once("server string to sign is:").unwrap().1;
    // The string the server signed is the one the client signed (only the key was wrong).
    let prepared = call.prepare(&env.emu.endpoint());
    let signed_headers: Vec<(String, String)> = prepared
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-acs-"))
        .cloned()
        .chain([("host".to_owned(), env.emu.endpoint())])
        .collect();
    let cr = v3::canonical_request(
        "POST",
        "/",
        &call.query,
        &signed_headers,
        sign::EMPTY_PAYLOAD_SHA256,
    );
    assert_eq!(sts, v3::string_to_sign(&cr.text));
}

#[tokio::test]
async fn v3_body_must_match_x_acs_content_sha256() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc());
    let call = env.v3(&v).in_form();
    let mut prepared = call.prepare(&env.emu.endpoint());
    prepared.body.extend_from_slice(b"&Extra=1");
    let r = prepared.send(&env.http).await;
    assert_gateway_error(&r, 400, "SignatureDoesNotMatch");
    // Untampered it passes.
    let r = env.send(&env.v3(&v).in_form()).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn v3_uses_the_signed_headers_the_client_chose() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc());
    // Sign an extra, non-x-acs header (as the Python SDK does with user-agent/accept).
    let call = env.v3(&v);
    let host = env.emu.endpoint();
    let mut headers = vec![
        ("host".to_owned(), host.clone()),
        ("user-agent".into(), "custom-agent/1.0".into()),
        ("x-acs-action".into(), "CheckResult".into()),
        ("x-acs-version".into(), "2022-08-09".into()),
        (
            "x-acs-date".into(),
            call.time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        ),
        ("x-acs-signature-nonce".into(), call.nonce.clone()),
        (
            "x-acs-content-sha256".into(),
            sign::EMPTY_PAYLOAD_SHA256.into(),
        ),
    ];
    let cr = v3::canonical_request(
        "POST",
        "/",
        &call.query,
        &headers,
        sign::EMPTY_PAYLOAD_SHA256,
    );
    let sig = v3::sign(SECRET, &v3::string_to_sign(&cr.text));
    headers.push((
        "authorization".into(),
        v3::authorization(AK, &cr.signed_headers, &sig),
    ));
    headers.retain(|(k, _)| k != "host");
    let mut prepared = Prepared {
        method: reqwest::Method::POST,
        url: format!("http://{host}/?{}", encode(&call.query)),
        headers,
        body: Vec::new(),
    };
    assert_eq!(prepared.send(&env.http).await.status, 200);

    // Changing a signed header breaks the signature.
    prepared.header("user-agent", Some("other/2.0"));
    prepared.header("x-acs-signature-nonce", Some(&nonce()));
    let r = prepared.send(&env.http).await;
    assert_gateway_error(&r, 400, "SignatureDoesNotMatch");

    // Every x-acs-* header must be signed.
    let mut prepared = env.v3(&v).prepare(&host);
    prepared.header("x-acs-extra", Some("1"));
    let r = prepared.send(&env.http).await;
    assert_gateway_error(&r, 400, "IncompleteSignature");
    let mut prepared = env.v3(&v).prepare(&host);
    prepared.header("authorization", Some("ACS3-HMAC-SHA256 Credential=testid"));
    assert_gateway_error(&prepared.send(&env.http).await, 400, "IncompleteSignature");
}

#[tokio::test]
async fn unknown_access_key_is_not_found() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc());
    for scheme in [Scheme::V2, Scheme::V3] {
        let call = Call::new(scheme, env.emu.clock().now())
            .checkresult(&v)
            .with(|c| c.ak = "nobody".into());
        let j = assert_gateway_error(&env.send(&call).await, 404, "InvalidAccessKeyId.NotFound");
        assert_eq!(j["Message"], "Specified access key is not found.");
    }
}

#[tokio::test]
async fn timestamps_more_than_15_minutes_off_are_expired() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc());
    let now = env.emu.clock().now();
    for scheme in [Scheme::V2, Scheme::V3] {
        for offset in [TimeDelta::minutes(-16), TimeDelta::minutes(16)] {
            let call = Call::new(scheme, now + offset).checkresult(&v);
            let j = assert_gateway_error(&env.send(&call).await, 400, "InvalidTimeStamp.Expired");
            assert_eq!(
                j["Message"],
                "Specified time stamp or date value is expired."
            );
        }
        let call = Call::new(scheme, now - TimeDelta::minutes(14)).checkresult(&v);
        assert_eq!(env.send(&call).await.status, 200);
    }
    // Advancing the emulator clock makes a real-time signature stale.
    let call = Call::new(Scheme::V3, chrono::Utc::now()).checkresult(&v);
    env.emu.clock().advance(Duration::from_secs(20 * 60));
    assert_gateway_error(&env.send(&call).await, 400, "InvalidTimeStamp.Expired");
    // A malformed timestamp.
    let mut prepared = env.v3(&v).prepare(&env.emu.endpoint());
    prepared.header("x-acs-date", Some("yesterday"));
    let r = prepared.send(&env.http).await;
    // The timestamp is checked before the signature.
    assert_gateway_error(&r, 400, "InvalidTimeStamp.Format");
}

#[tokio::test]
async fn timestamp_check_can_be_disabled() {
    let env = start(EmulatorConfig {
        check_timestamps: false,
        ..EmulatorConfig::default()
    })
    .await;
    let v = env.create(VerificationSpec::ekyc());
    env.emu.clock().set_speed(3600.0);
    for scheme in [Scheme::V2, Scheme::V3] {
        let call = Call::new(scheme, chrono::Utc::now() - TimeDelta::days(2)).checkresult(&v);
        let r = env.send(&call).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
}

#[tokio::test]
async fn reused_nonces_are_rejected_within_15_minutes() {
    let env = start(EmulatorConfig {
        check_timestamps: false,
        ..EmulatorConfig::default()
    })
    .await;
    let v = env.create(VerificationSpec::ekyc());
    for scheme in [Scheme::V2, Scheme::V3] {
        let call = Call::new(scheme, env.emu.clock().now()).checkresult(&v);
        assert_eq!(env.send(&call).await.status, 200);
        let j = assert_gateway_error(&env.send(&call).await, 400, "SignatureNonceUsed");
        assert_eq!(j["Message"], "Specified signature nonce was used already.");
    }
    // A V2 nonce reused by a V3 request is used too (one nonce space).
    let first = env.v2(&v);
    assert_eq!(env.send(&first).await.status, 200);
    let again = env.v3(&v).with(|c| c.nonce = first.nonce.clone());
    assert_gateway_error(&env.send(&again).await, 400, "SignatureNonceUsed");
    // After the window the nonce may be used again.
    env.emu.clock().advance(Duration::from_secs(16 * 60));
    assert_eq!(env.send(&again).await.status, 200);
    // A request failing its signature does not burn its nonce.
    let bad = env.v3(&v).with(|c| c.secret = "x".into());
    assert_gateway_error(&env.send(&bad).await, 400, "SignatureDoesNotMatch");
    let good = env.v3(&v).with(|c| c.nonce = bad.nonce.clone());
    assert_eq!(env.send(&good).await.status, 200);
}

#[tokio::test]
async fn missing_parameters() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc());
    // V2: every signing parameter is required.
    for name in [
        "SignatureNonce",
        "Timestamp",
        "SignatureMethod",
        "AccessKeyId",
    ] {
        let call = env.v2(&v);
        let mut prepared = call.prepare(&env.emu.endpoint());
        let (base, query) = prepared.url.split_once('?').unwrap();
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| !p.starts_with(&format!("{name}=")))
            .collect();
        prepared.url = format!("{base}?{}", kept.join("&"));
        let j = assert_gateway_error(&prepared.send(&env.http).await, 400, "MissingParameter");
        assert!(
            j["Message"]
                .as_str()
                .unwrap()
                .contains(&format!("\"{name}\"")),
            "{j}"
        );
    }
    // No signature at all.
    let r = env
        .http
        .post(format!(
            "{}/?Action=CheckResult&Version=2022-08-09",
            env.emu.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_gateway_error(&Resp::read(r).await, 400, "MissingParameter");
    // V3 headers.
    for name in [
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-content-sha256",
    ] {
        let mut prepared = env.v3(&v).prepare(&env.emu.endpoint());
        prepared.header(name, None);
        let j = assert_gateway_error(&prepared.send(&env.http).await, 400, "MissingParameter");
        assert!(j["Message"].as_str().unwrap().contains(name), "{j}");
    }
    let mut prepared = env.v3(&v).prepare(&env.emu.endpoint());
    prepared.header("authorization", None);
    assert_gateway_error(&prepared.send(&env.http).await, 400, "MissingParameter");
    // Action and Version.
    let call = env.v2(&v).with(|c| c.version = String::new());
    assert_gateway_error(&env.send(&call).await, 400, "MissingParameter");
}

#[tokio::test]
async fn unknown_action_version_or_method() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc());
    for scheme in [Scheme::V2, Scheme::V3] {
        let call = Call::new(scheme, env.emu.clock().now())
            .checkresult(&v)
            .with(|c| c.action = "Initialize".into());
        let j = assert_gateway_error(&env.send(&call).await, 404, "InvalidAction.NotFound");
        assert_eq!(
            j["Message"],
            "Specified api is not found, please check your url and method."
        );
        let call = Call::new(scheme, env.emu.clock().now())
            .checkresult(&v)
            .with(|c| c.version = "2019-03-07".into());
        assert_gateway_error(&env.send(&call).await, 400, "InvalidVersion");
    }
    // CheckResult is POST only.
    let call = env.v2(&v).with(|c| c.method = reqwest::Method::GET);
    assert_gateway_error(&env.send(&call).await, 404, "InvalidAction.NotFound");
}

#[tokio::test]
async fn sts_tokens_must_match() {
    let mut config = EmulatorConfig::default();
    config
        .access_keys
        .push(AccessKey::sts("STS.stsid", "stssecret", "CAIS.token=="));
    let env = start(config).await;
    let v = env.create(VerificationSpec::ekyc());
    for scheme in [Scheme::V2, Scheme::V3] {
        let sts = |token: Option<&str>| {
            Call::new(scheme, env.emu.clock().now())
                .checkresult(&v)
                .with(|c| {
                    c.ak = "STS.stsid".into();
                    c.secret = "stssecret".into();
                    c.token = token.map(str::to_owned);
                })
        };
        let r = env.send(&sts(Some("CAIS.token=="))).await;
        assert_eq!(r.status, 200, "{scheme:?}: {}", r.text());
        assert_gateway_error(
            &env.send(&sts(Some("CAIS.other"))).await,
            400,
            "InvalidSecurityToken.Mismatch",
        );
        assert_gateway_error(
            &env.send(&sts(None)).await,
            400,
            "InvalidSecurityToken.Malformed",
        );
        // A token sent with a long-term key.
        let plain = Call::new(scheme, env.emu.clock().now())
            .checkresult(&v)
            .with(|c| c.token = Some("CAIS.x".into()));
        assert_gateway_error(
            &env.send(&plain).await,
            400,
            "InvalidSecurityToken.Mismatch",
        );
    }
}

#[tokio::test]
async fn v2_without_format_json_answers_xml() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc());
    let r = env.send(&env.v2(&v).with(|c| c.format = None)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type(), "text/xml;charset=utf-8");
    let text = r.text();
    assert!(
        text.starts_with("<?xml version='1.0' encoding='UTF-8'?><CheckResultResponse><RequestId>"),
        "{text}"
    );
    assert!(text.contains("<Code>Success</Code><Message>success</Message><Result><Passed>Y</Passed><SubCode>200</SubCode><ExtFaceInfo>{&quot;facePassed&quot;:&quot;Y&quot;"), "{text}");
    // Errors too.
    let r = env
        .send(&env.v2(&v).with(|c| {
            c.format = Some("XML".into());
            c.secret = "bad".into();
        }))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.content_type(), "text/xml;charset=utf-8");
    let text = r.text();
    assert!(text.contains("<HostId>cloudauth-intl.cn-hongkong.aliyuncs.com</HostId><Code>SignatureDoesNotMatch</Code>"), "{text}");
}
