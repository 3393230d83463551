//! Proof that the emulator speaks the real protocol: the official Alibaba Cloud Python SDK
//! (`alibabacloud-cloudauth-intl20220809`, run by `tests/py/sdk_against_emulator.py` in the
//! project venv) calls CheckResult on an in-process emulator with its default V3 signature and
//! with `signature_algorithm='v2'`, with and without an STS token, and parses every product's
//! answer with its own response models. A wrong secret and a wrong token surface as the SDK's
//! exceptions with the gateway's codes.

use std::collections::BTreeMap;
use std::time::Duration;

use cloudauth_emulator::{
    AccessKey, Emulator, EmulatorConfig, Endpoint, RequestLogEntry, SignatureScheme, Verification,
    VerificationSpec,
};
use serde_json::{Value, json};
use sha2::Digest as _;

struct Case {
    name: &'static str,
    verification: Option<Verification>,
    is_return_image: &'static str,
}

fn case_json(c: &Case) -> Value {
    let (merchant, tx) = match &c.verification {
        Some(v) => (v.merchant_biz_id.clone(), v.transaction_id.clone()),
        None => (
            "e0c34a77f5ac40a5aa5e6ed20c350099".to_owned(),
            "hks0000000000000000000000000beef".to_owned(),
        ),
    };
    json!({"name": c.name, "merchant_biz_id": merchant, "transaction_id": tx, "is_return_image": c.is_return_image})
}

fn obj_keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

async fn run_sdk(plan: &Value) -> Vec<Value> {
    let python = kyc_archiver_tests::python();
    let script = kyc_archiver_tests::repo_root().join("tests/py/sdk_against_emulator.py");
    let output = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new(&python)
            .arg(&script)
            .arg(plan.to_string())
            .output(),
    )
    .await
    .expect("the SDK script finishes within 5 minutes")
    .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("bad line from the script ({e}): {l}"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdk_against_the_emulator() {
    let mut config = EmulatorConfig::default();
    config.access_keys.push(AccessKey::sts(
        "STS.sdktestid",
        "sdk-sts-secret",
        "CAIS.sdk-test-token==",
    ));
    let emu = Emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("emulator starts");

    let create = |spec| Some(emu.create_verification(spec).expect("verification created"));
    let cases = [
        Case {
            name: "ekyc",
            verification: create(VerificationSpec::ekyc().with_video(300_000)),
            is_return_image: "Y",
        },
        Case {
            name: "ekyc_no_images",
            verification: create(VerificationSpec::ekyc()),
            is_return_image: "N",
        },
        Case {
            name: "ekyc_spoof",
            verification: create(
                VerificationSpec::ekyc()
                    .with_doc_type("01000000")
                    .failed(212),
            ),
            is_return_image: "Y",
        },
        Case {
            name: "id_ocr",
            verification: create(VerificationSpec::id_ocr().with_doc_type("00000001")),
            is_return_image: "Y",
        },
        Case {
            name: "face_liveness_failed",
            verification: create(
                VerificationSpec::face_liveness()
                    .failed(205)
                    .with_video(50_000),
            ),
            is_return_image: "Y",
        },
        Case {
            name: "not_completed",
            verification: create(
                VerificationSpec::ekyc().not_completed_for(Duration::from_secs(3600)),
            ),
            is_return_image: "N",
        },
        Case {
            name: "unknown",
            verification: None,
            is_return_image: "N",
        },
    ];
    let by_name: BTreeMap<&str, &Case> = cases.iter().map(|c| (c.name, c)).collect();

    let mut calls = Vec::new();
    for algorithm in ["v3", "v2"] {
        for credentials in ["plain", "sts"] {
            for case in &cases {
                calls.push(json!({"case": case.name, "credentials": credentials, "signature_algorithm": algorithm}));
            }
        }
        for credentials in ["wrong_secret", "wrong_token"] {
            calls.push(json!({"case": "ekyc", "credentials": credentials, "signature_algorithm": algorithm}));
        }
    }
    let plan = json!({
        "endpoint": emu.endpoint(),
        "credentials": {
            "plain": {"id": "testid", "secret": "testsecret", "token": null},
            "sts": {"id": "STS.sdktestid", "secret": "sdk-sts-secret", "token": "CAIS.sdk-test-token=="},
            "wrong_secret": {"id": "testid", "secret": "not-the-secret", "token": null},
            "wrong_token": {"id": "STS.sdktestid", "secret": "sdk-sts-secret", "token": "CAIS.other"},
        },
        "cases": cases.iter().map(case_json).collect::<Vec<_>>(),
        "calls": calls,
    });

    let results = run_sdk(&plan).await;
    assert_eq!(results.len(), calls.len(), "one result per call");

    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    for r in &results {
        let what = format!(
            "{} / {} / {}",
            r["signature_algorithm"], r["credentials"], r["case"]
        );
        let credentials = r["credentials"].as_str().unwrap();
        if credentials == "wrong_secret" {
            assert_eq!(r["ok"], false, "{what}: {r}");
            assert_eq!(r["exception"], "ClientException", "{what}");
            assert_eq!(
                (r["status_code"].as_u64(), r["code"].as_str()),
                (Some(400), Some("SignatureDoesNotMatch")),
                "{what}"
            );
            assert!(
                r["message"]
                    .as_str()
                    .unwrap()
                    .contains("server string to sign is:"),
                "{what}: {r}"
            );
            continue;
        }
        if credentials == "wrong_token" {
            assert_eq!(
                (r["ok"].as_bool(), r["code"].as_str()),
                (Some(false), Some("InvalidSecurityToken.Mismatch")),
                "{what}"
            );
            continue;
        }
        let case = by_name[r["case"].as_str().unwrap()];
        match case.name {
            "not_completed" => {
                assert_eq!(
                    (r["ok"].as_bool(), r["status_code"].as_u64()),
                    (Some(false), Some(404)),
                    "{what}: {r}"
                );
                assert_eq!(r["code"], "ProcessNotCompleted", "{what}");
                continue;
            }
            "unknown" => {
                assert_eq!(
                    (r["ok"].as_bool(), r["status_code"].as_u64()),
                    (Some(false), Some(400)),
                    "{what}: {r}"
                );
                assert_eq!(r["code"], "TransactionIdInvalid", "{what}");
                continue;
            }
            _ => {}
        }
        assert_eq!(r["ok"], true, "{what}: {r}");
        assert_eq!(
            (
                r["status_code"].as_u64(),
                r["code"].as_str(),
                r["message"].as_str()
            ),
            (Some(200), Some("Success"), Some("success"))
        );
        let v = case.verification.as_ref().unwrap();
        assert_eq!(r["passed"], if v.passed { "Y" } else { "N" }, "{what}");
        assert_eq!(r["sub_code"], v.sub_code.to_string(), "{what}");
        let face = &r["ext_face_info"];
        let id = &r["ext_id_info"];
        match case.name {
            "ekyc" => {
                for k in [
                    "facePassed",
                    "faceComparisonScore",
                    "faceAttack",
                    "faceOcclusion",
                    "faceQuality",
                    "docVideoUrl",
                    "faceImg",
                ] {
                    assert!(face.get(k).is_some(), "{what}: ExtFaceInfo lacks {k}");
                }
                for k in ["ocrIdPassed", "ocrIdInfo", "spoofInfo", "idImage"] {
                    assert!(id.get(k).is_some(), "{what}: ExtIdInfo lacks {k}");
                }
                // The URL the SDK handed over downloads the exact video.
                let url = face["docVideoUrl"].as_str().unwrap();
                let body = http.get(url).send().await.unwrap().bytes().await.unwrap();
                let digest: [u8; 32] = sha2::Sha256::digest(&body).into();
                assert_eq!(Some(digest), v.video_sha256(), "{what}");
            }
            "ekyc_no_images" => {
                assert!(
                    face.get("faceImg").is_none() && id.get("idImage").is_none(),
                    "{what}"
                );
                assert!(
                    face.get("docVideoUrl").is_none(),
                    "{what}: no video configured"
                );
            }
            "ekyc_spoof" => {
                assert_eq!(id["spoofInfo"]["spoofResult"], "Y", "{what}");
                assert_eq!(
                    obj_keys(&id["ocrIdInfo"])[..2],
                    ["surname", "givenname"],
                    "{what}"
                );
            }
            "id_ocr" => {
                assert!(face.is_null(), "{what}: ID OCR has no ExtFaceInfo");
                for k in [
                    "idImage",
                    "idBackImage",
                    "ocrIdInfo",
                    "ocrIdBackInfo",
                    "spoofInfo",
                    "spoofBackInfo",
                ] {
                    assert!(id.get(k).is_some(), "{what}: ExtIdInfo lacks {k}");
                }
            }
            "face_liveness_failed" => {
                assert!(id.is_null(), "{what}: face liveness has no ExtIdInfo");
                assert_eq!(
                    (face["facePassed"].as_str(), face["faceAttack"].as_str()),
                    (Some("N"), Some("Y")),
                    "{what}"
                );
                assert!(face["docVideoUrl"].is_string(), "{what}");
            }
            other => panic!("unexpected case {other}"),
        }
    }

    // What the emulator saw: both schemes, with and without a token, no retries by the SDK.
    let log: Vec<RequestLogEntry> = emu
        .requests()
        .into_iter()
        .filter(|e| e.endpoint == Endpoint::CheckResult)
        .collect();
    assert_eq!(log.len(), calls.len());
    for (scheme, algorithm) in [(SignatureScheme::V3, "v3"), (SignatureScheme::V2, "v2")] {
        let of_scheme: Vec<&RequestLogEntry> = log.iter().filter(|e| e.scheme == scheme).collect();
        let expected = calls
            .iter()
            .filter(|c| c["signature_algorithm"] == algorithm)
            .count();
        assert_eq!(of_scheme.len(), expected, "{scheme:?} requests");
        assert!(
            of_scheme.iter().any(
                |e| e.has_security_token && e.access_key_id.as_deref() == Some("STS.sdktestid")
            )
        );
        assert!(
            of_scheme
                .iter()
                .any(|e| !e.has_security_token && e.access_key_id.as_deref() == Some("testid"))
        );
        assert!(
            of_scheme
                .iter()
                .all(|e| e.action.as_deref() == Some("CheckResult")
                    && e.version.as_deref() == Some("2022-08-09"))
        );
    }
    let v2_formats: Vec<Option<&str>> = log
        .iter()
        .filter(|e| e.scheme == SignatureScheme::V2)
        .map(|e| e.format.as_deref())
        .collect();
    assert!(
        v2_formats.iter().all(|f| *f == Some("json")),
        "the SDK asks for JSON: {v2_formats:?}"
    );
    emu.shutdown().await;
}
