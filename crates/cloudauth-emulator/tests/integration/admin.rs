//! The admin API, the request log, scenario files and the binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use cloudauth_emulator::{
    AccessKey, ClockUpdate, EmulatorConfig, Endpoint, Product, SignatureScheme, Verification,
    VerificationSpec,
};
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn admin_verifications_crud() {
    let env = start_default().await;
    let health: Value = env
        .http
        .get(env.admin("/health"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(health["status"], "ok");

    let r = env
        .http
        .post(env.admin("/verifications"))
        .body(r#"{"product":"FACE_LIVENESS","passed":"N","sub_code":"205","video_size":2048,"transaction_id":"hks0000000000000000000000000abcd"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Verification = serde_json::from_value(r.json_value().await).unwrap();
    assert_eq!(v.transaction_id, "hks0000000000000000000000000abcd");
    assert_eq!(v.product, Product::FaceLiveness);
    assert_eq!((v.passed, v.sub_code), (false, 205));
    assert_eq!(
        v.video_sha256(),
        Some(cloudauth_emulator::video::expected_sha256(
            &v.transaction_id,
            2048
        ))
    );

    // Duplicate id: 409; invalid spec: 400 with a message.
    let dup = env
        .http
        .post(env.admin("/verifications"))
        .body(r#"{"transaction_id":"hks0000000000000000000000000abcd"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), 409);
    let bad = env
        .http
        .post(env.admin("/verifications"))
        .body(r#"{"product":"ID_OCR","sub_code":205}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(
        bad.json_value().await["error"]
            .as_str()
            .unwrap()
            .contains("205")
    );
    let junk = env
        .http
        .post(env.admin("/verifications"))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(junk.status(), 400);

    // CheckResult sees it.
    let r = env.send(&env.v3(&v)).await;
    assert_eq!(r.json()["Result"]["SubCode"], "205");

    let one: Value = env
        .http
        .get(env.admin(&format!("/verifications/{}", v.transaction_id)))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(
        one["video"]["sha256"],
        hex::encode(v.video_sha256().unwrap())
    );
    let url: Value = env
        .http
        .get(env.admin(&format!("/verifications/{}/video-url", v.transaction_id)))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    let video = env.get(url["url"].as_str().unwrap()).await;
    assert_eq!(sha256(&video.body), v.video_sha256().unwrap());

    env.create(VerificationSpec::ekyc());
    let list: Vec<Verification> = serde_json::from_value(
        env.http
            .get(env.admin("/verifications"))
            .send()
            .await
            .unwrap()
            .json_value()
            .await,
    )
    .unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].transaction_id, v.transaction_id);

    let del = env
        .http
        .delete(env.admin(&format!("/verifications/{}", v.transaction_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    let del = env
        .http
        .delete(env.admin(&format!("/verifications/{}", v.transaction_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 404);
    assert_service_error(&env.send(&env.v3(&v)).await, 400, "TransactionIdInvalid");
    assert_eq!(
        env.http
            .delete(env.admin("/verifications"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert!(env.emu.verifications().is_empty());
    assert_eq!(
        env.http
            .get(env.admin("/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn admin_clock() {
    let env = start(EmulatorConfig {
        check_timestamps: false,
        ..EmulatorConfig::default()
    })
    .await;
    let before = env.emu.clock().now();
    let r: Value = env
        .http
        .post(env.admin("/clock"))
        .body(r#"{"advance":"16m"}"#)
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    let now: chrono::DateTime<chrono::Utc> = serde_json::from_value(r["now"].clone()).unwrap();
    assert!(now - before >= chrono::TimeDelta::minutes(16));
    assert_eq!(r["offset_ms"], 16 * 60 * 1000);
    let r: Value = env
        .http
        .post(env.admin("/clock"))
        .body(r#"{"speed":0,"offset_ms":-5000}"#)
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(
        (r["speed"].as_f64(), r["offset_ms"].as_i64()),
        (Some(0.0), Some(-5000))
    );
    let frozen = env.emu.clock().now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(env.emu.clock().now(), frozen);
    let r = env
        .http
        .post(env.admin("/clock"))
        .body(r#"{"speed":-1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let target = "2031-01-01T00:00:00Z";
    let r: Value = env
        .http
        .post(env.admin("/clock"))
        .body(format!(r#"{{"now":"{target}"}}"#))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(r["now"], "2031-01-01T00:00:00Z");
    let status: Value = env
        .http
        .get(env.admin("/clock"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(status["now"], "2031-01-01T00:00:00Z");
    // The in-process mirror.
    let s = env
        .emu
        .update_clock(&ClockUpdate {
            advance: Some(Duration::from_secs(60)),
            ..ClockUpdate::default()
        })
        .unwrap();
    assert_eq!(s.now.to_rfc3339(), "2031-01-01T00:01:00+00:00");
}

#[tokio::test]
async fn admin_faults() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc());
    let plan = json!({"script":[{"fault":{"kind":"internal_error"},"times":2}],"rules":[]});
    let r = env
        .http
        .put(env.admin("/faults/checkresult"))
        .body(plan.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let all: Value = env
        .http
        .get(env.admin("/faults"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(all["checkresult"]["script"][0]["times"], 2);
    assert_service_error(&env.send(&env.v3(&v)).await, 500, "InternalError");
    let left: Value = env
        .http
        .get(env.admin("/faults/checkresult"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(left["script"][0]["times"], 1);
    assert_eq!(
        env.http
            .delete(env.admin("/faults/checkresult"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(env.send(&env.v3(&v)).await.status, 200);
    let bad = env
        .http
        .put(env.admin("/faults/checkresult"))
        .body(r#"{"rules":[{"fault":{"kind":"pass"},"rate":7}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let unknown = env
        .http
        .put(env.admin("/faults/nowhere"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let r = env
        .http
        .put(env.admin("/faults/video"))
        .body(r#"{"script":[{"fault":{"kind":"throttling"}}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        env.http
            .delete(env.admin("/faults"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert!(env.emu.faults(Endpoint::Video).is_empty());
}

#[tokio::test]
async fn request_log_records_what_clients_sent_without_secrets() {
    let mut config = EmulatorConfig::default();
    config.access_keys.push(AccessKey::sts(
        "STS.logid",
        "logsecret-value",
        "CAIS.secret-token-value",
    ));
    let env = start(config).await;
    let v = env.create(VerificationSpec::ekyc().with_video(100));

    let v3 = env.v3(&v).images();
    let v2 = env.v2(&v).with(|c| {
        c.ak = "STS.logid".into();
        c.secret = "logsecret-value".into();
        c.token = Some("CAIS.secret-token-value".into());
    });
    let bad = env.v3(&v).with(|c| c.secret = "wrong-secret-value".into());
    let r3 = env.send(&v3).await;
    let p2 = v2.prepare(&env.emu.endpoint());
    let r2 = p2.send(&env.http).await;
    env.send(&bad).await;
    env.get(&video_url(&r3)).await;
    let video_signature = url_param(&video_url(&r3), "Signature");

    let log = env.emu.requests();
    assert_eq!(log.len(), 4);
    let e = &log[0];
    assert_eq!(
        (e.endpoint, e.scheme, e.status, e.code.as_str()),
        (Endpoint::CheckResult, SignatureScheme::V3, 200, "Success")
    );
    assert_eq!(e.access_key_id.as_deref(), Some("testid"));
    assert_eq!(
        (e.action.as_deref(), e.version.as_deref()),
        (Some("CheckResult"), Some("2022-08-09"))
    );
    assert_eq!(e.method, "POST");
    assert_eq!(e.params.get("IsReturnImage").map(String::as_str), Some("Y"));
    assert_eq!(e.params.get("MerchantBizId"), Some(&v.merchant_biz_id));
    assert_eq!(e.transaction_id.as_ref(), Some(&v.transaction_id));
    assert_eq!(e.nonce.as_ref(), Some(&v3.nonce));
    assert!(!e.has_security_token);
    assert_eq!(e.request_id, r3.json()["RequestId"].as_str().unwrap());

    let e = &log[1];
    assert_eq!((e.scheme, e.status), (SignatureScheme::V2, 200));
    assert_eq!(e.access_key_id.as_deref(), Some("STS.logid"));
    assert!(e.has_security_token);
    assert_eq!(e.format.as_deref(), Some("JSON"));
    let names: Vec<&str> = e.params.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["IsReturnImage", "MerchantBizId", "TransactionId"],
        "only business parameters"
    );
    assert_eq!(r2.status, 200);

    assert_eq!(
        (log[2].status, log[2].code.as_str()),
        (400, "SignatureDoesNotMatch")
    );
    assert_eq!(
        (log[3].endpoint, log[3].scheme, log[3].code.as_str()),
        (Endpoint::Video, SignatureScheme::Oss, "OK")
    );

    // No secret, token or signature anywhere in the log.
    let text = serde_json::to_string(&log).unwrap();
    let v2_signature = {
        let q = p2.url.split_once('?').unwrap().1;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).unwrap();
        pairs.into_iter().find(|(k, _)| k == "Signature").unwrap().1
    };
    let v3_signature = {
        let p = v3.prepare(&env.emu.endpoint());
        let auth = p
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1
            .clone();
        auth.rsplit_once("Signature=").unwrap().1.to_owned()
    };
    for secret in [
        "testsecret",
        "logsecret-value",
        "wrong-secret-value",
        "CAIS.secret-token-value",
        v2_signature.as_str(),
        v3_signature.as_str(),
        video_signature.as_str(),
    ] {
        assert!(!text.contains(secret), "the request log contains {secret}");
    }

    // The HTTP view filters and clears.
    let videos: Vec<Value> = serde_json::from_value(
        env.http
            .get(env.admin("/requests?endpoint=video"))
            .send()
            .await
            .unwrap()
            .json_value()
            .await,
    )
    .unwrap();
    assert_eq!(videos.len(), 1);
    let since: Vec<Value> = serde_json::from_value(
        env.http
            .get(env.admin(&format!("/requests?since={}", log[2].seq)))
            .send()
            .await
            .unwrap()
            .json_value()
            .await,
    )
    .unwrap();
    assert_eq!(since.len(), 2);
    assert_eq!(
        env.http
            .delete(env.admin("/requests"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert!(env.emu.requests().is_empty());
    env.send(&env.v3(&v)).await;
    env.emu.clear_requests();
    assert!(env.emu.requests().is_empty());
}

#[tokio::test]
async fn request_log_is_bounded() {
    let env = start(EmulatorConfig {
        request_log_capacity: 5,
        ..EmulatorConfig::default()
    })
    .await;
    let v = env.create(VerificationSpec::ekyc());
    for _ in 0..8 {
        env.send(&env.v3(&v)).await;
    }
    let log = env.emu.requests();
    assert_eq!(log.len(), 5);
    assert_eq!(log[0].seq, 3);
}

fn example_file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios.toml")
}

#[tokio::test]
async fn example_scenario_file_loads_and_behaves() {
    let config = EmulatorConfig::from_toml_file(example_file()).unwrap();
    assert_eq!(config.verifications.len(), 6);
    let env = start(config).await;
    let all = env.emu.verifications();
    let by_id = |id: &str| all.iter().find(|v| v.transaction_id == id).unwrap().clone();

    let ekyc = by_id("hksb7ba1b28130d24e015d694361bee4");
    let r = env.send(&env.v3(&ekyc)).await;
    assert_eq!(r.json()["Result"]["Passed"], "Y");
    let url = video_url(&r);
    let head = env.http.get(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.content_length(), Some(10 * 1024 * 1024));

    let ocr = by_id("hks00000000000000000000000000002");
    let r = env.send(&env.v3(&ocr).images()).await;
    let id = r.ext("ExtIdInfo").unwrap();
    assert_eq!(
        image_dimensions(&b64(id["idBackImage"].as_str().unwrap())),
        (1024, 640)
    );

    // The scripted throttling hits the face liveness once.
    let face = by_id("hks00000000000000000000000000003");
    assert_gateway_error(&env.send(&env.v3(&face)).await, 403, "Throttling.Api");
    let r = env.send(&env.v3(&face)).await;
    assert_eq!(
        (
            r.json()["Result"]["Passed"].as_str(),
            r.json()["Result"]["SubCode"].as_str()
        ),
        (Some("N"), Some("205"))
    );

    let gone = by_id("hks00000000000000000000000000004");
    let r = env.send(&env.v3(&gone)).await;
    assert_eq!(r.status, 200);
    assert_eq!(env.get(&video_url(&r)).await.status, 404);

    let spoof = by_id("hks00000000000000000000000000005");
    let id = env.send(&env.v3(&spoof)).await.ext("ExtIdInfo").unwrap();
    assert_eq!(
        id["spoofInfo"]["spoofType"],
        json!(["SCREEN_REMARK", "TAMPER"])
    );

    let running = by_id("hks00000000000000000000000000006");
    assert_service_error(
        &env.send(&env.v3(&running)).await,
        404,
        "ProcessNotCompleted",
    );

    // The STS key works with its token.
    let sts = env.v2(&ekyc).with(|c| {
        c.ak = "STS.exampleid".into();
        c.secret = "stssecret".into();
        c.token = Some("CAIS.exampleToken==".into());
    });
    assert_eq!(env.send(&sts).await.status, 200);
}

#[test]
fn scenario_file_errors_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[[verifications]]\nproduct = \"NOPE\"\n").unwrap();
    let err = EmulatorConfig::from_toml_file(&path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.toml"), "{err}");
    let err = EmulatorConfig::from_toml_file(dir.path().join("missing.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.toml"), "{err}");
    // A spec that parses but is invalid fails at start.
    std::fs::write(
        &path,
        "[[verifications]]\nproduct = \"ID_OCR\"\nvideo_size = 10\n",
    )
    .unwrap();
    let config = EmulatorConfig::from_toml_file(&path).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(cloudauth_emulator::Emulator::start(
            config,
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap_err();
    assert!(err.to_string().contains("no evidence video"), "{err}");
}

#[test]
fn binary_help_documents_flags_and_admin_api() {
    let out = Command::new(env!("CARGO_BIN_EXE_cloudauth-emulator"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--listen",
        "--config",
        "--access-key-id",
        "--access-key-secret",
        "--security-token",
        "--clock-speed",
        "--no-timestamp-check",
        "--log-format",
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "POST   /admin/verifications",
        "/admin/faults/{checkresult|video}",
        "[[verifications]]",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}

#[tokio::test]
async fn binary_serves_a_scenario_with_cli_keys() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cloudauth-emulator"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--config",
        ])
        .arg(example_file())
        .args(["--access-key-id", "cliid", "--no-timestamp-check"])
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "clisecret")
        .env_remove("ALIBABA_CLOUD_SECURITY_TOKEN")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && let Some(addr) = v["fields"]["addr"].as_str()
            {
                let _ = tx.send(addr.to_owned());
            }
            assert!(!line.contains("clisecret"), "secret logged: {line}");
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the binary logs its address");
    let http = reqwest::Client::new();
    let v: Verification = serde_json::from_value(
        http.get(format!(
            "http://{addr}/admin/verifications/hksb7ba1b28130d24e015d694361bee4"
        ))
        .send()
        .await
        .unwrap()
        .json_value()
        .await,
    )
    .unwrap();
    for (ak, secret) in [("cliid", "clisecret"), ("testid", "testsecret")] {
        let call = Call::new(Scheme::V3, chrono::Utc::now())
            .checkresult(&v)
            .with(|c| {
                c.ak = ak.into();
                c.secret = secret.into();
            });
        let r = call.prepare(&addr).send(&http).await;
        assert_eq!(r.status, 200, "{ak}: {}", r.text());
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        let bytes = self.bytes().await.unwrap();
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)))
    }
}

/// A non-loopback IPv4 address of this machine (the source address of a route lookup; no
/// packet is sent).
fn non_loopback_ipv4() -> std::net::IpAddr {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    socket
        .connect("10.255.255.255:1")
        .expect("this test needs a non-loopback IPv4 interface with a route");
    let ip = socket.local_addr().unwrap().ip();
    assert!(
        !ip.is_loopback() && !ip.is_unspecified(),
        "no non-loopback IPv4 address: {ip}"
    );
    ip
}

#[tokio::test]
async fn admin_api_serves_loopback_peers_only_unless_allowed() {
    let ip = non_loopback_ipv4();
    for allow_remote in [false, true] {
        let config = EmulatorConfig {
            admin_allow_remote: allow_remote,
            ..EmulatorConfig::default()
        };
        let emu = cloudauth_emulator::Emulator::start(config, "0.0.0.0:0".parse().unwrap())
            .await
            .unwrap();
        assert!(
            emu.base_url().starts_with("http://127.0.0.1:"),
            "{}",
            emu.base_url()
        );
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let remote = format!("http://{ip}:{}/admin/verifications", emu.addr().port());
        let r = http.get(&remote).send().await.unwrap();
        assert_eq!(
            r.status().as_u16(),
            if allow_remote { 200 } else { 403 },
            "allow_remote={allow_remote}"
        );
        let local = http
            .get(format!("{}/admin/verifications", emu.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(local.status(), 200);
        // CheckResult and videos serve every peer; the video URL follows the Host used.
        let v = emu
            .create_verification(VerificationSpec::ekyc().with_video(10))
            .unwrap();
        let call = Call::new(Scheme::V3, emu.clock().now()).checkresult(&v);
        let host = format!("{ip}:{}", emu.addr().port());
        let r = call.prepare(&host).send(&http).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let url = video_url(&r);
        assert!(url.starts_with(&format!("http://{host}/")), "{url}");
        assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
        emu.shutdown().await;
    }
}
