//! The CheckResult service: errors, retention, and per-product result shapes.

use std::time::Duration;

use cloudauth_emulator::{EmulatorConfig, ImageSet, ImageSpec, VerificationSpec};
use serde_json::Value;

use crate::common::*;

fn keys(v: &Value) -> Vec<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

#[tokio::test]
async fn missing_and_invalid_business_parameters() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc());
    for scheme in [Scheme::V2, Scheme::V3] {
        let call = |f: &dyn Fn(&mut Call)| {
            Call::new(scheme, env.emu.clock().now())
                .checkresult(&v)
                .with(f)
        };
        for name in ["MerchantBizId", "TransactionId"] {
            let r = env.send(&call(&|c| c.remove(name))).await;
            let j = assert_service_error(&r, 400, "MissingParameter");
            assert!(j["Message"].as_str().unwrap().contains(name));
            let r = env.send(&call(&|c| c.set(name, ""))).await;
            assert_service_error(&r, 400, "MissingParameter");
        }
        let r = env
            .send(&call(&|c| c.set("MerchantBizId", &"a".repeat(33))))
            .await;
        assert_service_error(&r, 400, "InvalidParameter");
        let r = env
            .send(&call(&|c| c.set("MerchantBizId", "has-dash")))
            .await;
        assert_service_error(&r, 400, "InvalidParameter");
        let r = env.send(&call(&|c| c.set("TransactionId", "bad/id"))).await;
        assert_service_error(&r, 400, "InvalidParameter");
        let r = env.send(&call(&|c| c.set("IsReturnImage", "yes"))).await;
        assert_service_error(&r, 400, "InvalidParameter");
    }
}

#[tokio::test]
async fn unknown_transaction_is_invalid() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc());
    let call = env
        .v3(&v)
        .with(|c| c.set("TransactionId", "hks0000000000000000000000000dead"));
    let j = assert_service_error(&env.send(&call).await, 400, "TransactionIdInvalid");
    assert_eq!(j["Message"], "Invalid Transaction ID.");
    // Deleted verifications too.
    assert!(env.emu.delete_verification(&v.transaction_id));
    assert_service_error(&env.send(&env.v2(&v)).await, 400, "TransactionIdInvalid");
}

#[tokio::test]
async fn process_not_completed_until_the_given_time() {
    let env = start(EmulatorConfig {
        check_timestamps: false,
        ..EmulatorConfig::default()
    })
    .await;
    let v = env.create(
        VerificationSpec::ekyc()
            .not_completed_for(Duration::from_secs(600))
            .with_video(1000),
    );
    let j = assert_service_error(&env.send(&env.v3(&v)).await, 404, "ProcessNotCompleted");
    assert_eq!(
        j["Message"],
        "The entire authentication process is not completed."
    );
    env.emu.clock().advance(Duration::from_secs(599));
    assert_service_error(&env.send(&env.v2(&v)).await, 404, "ProcessNotCompleted");
    env.emu.clock().advance(Duration::from_secs(1));
    let r = env.send(&env.v3(&v)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The video lives 30 minutes from completion, not from creation.
    assert_eq!(
        v.video.as_ref().unwrap().deleted_at,
        v.completed_at + chrono::TimeDelta::minutes(30)
    );
}

#[tokio::test]
async fn results_expire_30_days_after_completion() {
    let env = start(EmulatorConfig {
        check_timestamps: false,
        ..EmulatorConfig::default()
    })
    .await;
    let v = env.create(VerificationSpec::id_ocr().completed_ago(Duration::from_secs(29 * 86400)));
    assert_eq!(env.send(&env.v3(&v)).await.status, 200);
    env.emu.clock().advance(Duration::from_secs(86400 - 1));
    assert_eq!(env.send(&env.v3(&v)).await.status, 200);
    env.emu.clock().advance(Duration::from_secs(1));
    assert_service_error(&env.send(&env.v3(&v)).await, 400, "TransactionIdInvalid");
    let old = env.create(VerificationSpec::ekyc().completed_ago(Duration::from_secs(31 * 86400)));
    assert_service_error(&env.send(&env.v2(&old)).await, 400, "TransactionIdInvalid");
}

#[tokio::test]
async fn ekyc_shape_with_images() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc().with_video(4096));
    let r = env.send(&env.v3(&v).images()).await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(keys(&j), ["RequestId", "Code", "Message", "Result"]);
    assert_eq!(
        keys(&j["Result"]),
        ["Passed", "SubCode", "ExtFaceInfo", "ExtIdInfo"]
    );
    assert!(j["Result"]["SubCode"].is_string() && j["Result"]["Passed"].is_string());

    let face = r.ext("ExtFaceInfo").unwrap();
    for k in [
        "facePassed",
        "faceComparisonScore",
        "faceAttack",
        "faceOcclusion",
        "faceQuality",
        "docVideoUrl",
        "faceImg",
    ] {
        assert!(face.get(k).is_some(), "ExtFaceInfo lacks {k}: {face}");
    }
    assert_eq!(face["facePassed"], "Y");
    assert_eq!(face["faceAttack"], "N");
    let score = face["faceComparisonScore"].as_f64().unwrap();
    assert!((90.0..=100.0).contains(&score), "{score}");
    assert!(face["faceQuality"].is_number());
    let img = b64(face["faceImg"].as_str().unwrap());
    assert_eq!(&img[..3], &[0xFF, 0xD8, 0xFF]);
    assert_eq!(image_dimensions(&img), (480, 640));

    let id = r.ext("ExtIdInfo").unwrap();
    assert_eq!(id["ocrIdPassed"], "Y");
    assert_eq!(
        id["spoofInfo"],
        serde_json::json!({"spoofResult": "N", "spoofType": []})
    );
    assert_eq!(
        keys(&id["ocrIdInfo"]),
        [
            "name",
            "englishName",
            "nameCode",
            "sex",
            "birthDate",
            "idNumber",
            "currentIssueDate",
            "firstIssueDate",
            "isPermanent",
            "symbols"
        ]
    );
    let img = b64(id["idImage"].as_str().unwrap());
    assert_eq!(image_dimensions(&img), (856, 540));
    assert!(id.get("idBackImage").is_none());
}

#[tokio::test]
async fn no_images_without_is_return_image_y() {
    let env = start_default().await;
    for spec in [
        VerificationSpec::ekyc(),
        VerificationSpec::id_ocr(),
        VerificationSpec::face_liveness(),
    ] {
        let v = env.create(spec);
        for call in [env.v3(&v), env.v2(&v).with(|c| c.remove("IsReturnImage"))] {
            let r = env.send(&call).await;
            assert_eq!(r.status, 200);
            let text = r.text();
            for k in ["faceImg", "idImage", "idBackImage"] {
                assert!(!text.contains(k), "{k} returned without IsReturnImage=Y");
            }
        }
    }
}

#[tokio::test]
async fn id_ocr_shape_has_front_and_back() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::id_ocr().with_doc_type("00000001"));
    let r = env.send(&env.v2(&v).images()).await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(keys(&j["Result"]), ["Passed", "SubCode", "ExtIdInfo"]);
    let id = r.ext("ExtIdInfo").unwrap();
    for k in [
        "ocrIdPassed",
        "ocrIdInfo",
        "spoofInfo",
        "ocrIdBackInfo",
        "spoofBackInfo",
        "idImage",
        "idBackImage",
    ] {
        assert!(id.get(k).is_some(), "ExtIdInfo lacks {k}: {id}");
    }
    assert_eq!(
        keys(&id["ocrIdBackInfo"]),
        ["originOfIssue", "issueDate", "expireDate"]
    );
    let prc = &id["ocrIdInfo"];
    assert_eq!(prc["idNumber"].as_str().unwrap().len(), 18);
    assert_eq!(prc["province"], "");
    let front = b64(id["idImage"].as_str().unwrap());
    assert_eq!(&front[..3], &[0xFF, 0xD8, 0xFF]);
    let back = b64(id["idBackImage"].as_str().unwrap());
    assert_eq!(&back[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(image_dimensions(&back), (856, 540));
}

#[tokio::test]
async fn face_liveness_shape_has_only_face_info() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::face_liveness().with_video(10_000));
    let r = env.send(&env.v3(&v).images()).await;
    let j = r.json();
    assert_eq!(keys(&j["Result"]), ["Passed", "SubCode", "ExtFaceInfo"]);
    let face = r.ext("ExtFaceInfo").unwrap();
    assert!(
        face["docVideoUrl"]
            .as_str()
            .unwrap()
            .contains(&format!("/{}.webm?", v.transaction_id))
    );
    assert!(face["faceImg"].is_string());
    assert!(face.get("authorityComparisonScore").is_none());
}

#[tokio::test]
async fn image_sizes_and_formats_are_configurable() {
    let env = start_default().await;
    let images = ImageSet {
        face: Some(ImageSpec::png(120, 160)),
        id: Some(ImageSpec::jpeg(1200, 760)),
        id_back: Some(ImageSpec::jpeg(64, 40)),
    };
    let v = env.create(VerificationSpec::ekyc().with_images(images));
    let r = env.send(&env.v3(&v).images()).await;
    let face = r.ext("ExtFaceInfo").unwrap();
    assert_eq!(
        image_dimensions(&b64(face["faceImg"].as_str().unwrap())),
        (120, 160)
    );
    let id = r.ext("ExtIdInfo").unwrap();
    assert_eq!(
        image_dimensions(&b64(id["idImage"].as_str().unwrap())),
        (1200, 760)
    );
    assert_eq!(
        image_dimensions(&b64(id["idBackImage"].as_str().unwrap())),
        (64, 40)
    );
    assert!(id.get("ocrIdBackInfo").is_some());
    // No face image at all.
    let v = env.create(VerificationSpec::face_liveness().with_images(ImageSet::default()));
    let r = env.send(&env.v3(&v).images()).await;
    assert!(r.ext("ExtFaceInfo").unwrap().get("faceImg").is_none());
}

#[tokio::test]
async fn every_document_type_has_its_ocr_fields() {
    let env = start_default().await;
    let cases: &[(&str, &[&str])] = &[
        (
            "00000001",
            &[
                "name",
                "sex",
                "ethnicity",
                "birthDate",
                "idNumber",
                "address",
                "province",
                "city",
                "originOfIssue",
                "issueDate",
                "expiryDate",
            ],
        ),
        (
            "00000006",
            &[
                "name",
                "englishName",
                "nameCode",
                "sex",
                "birthDate",
                "idNumber",
                "currentIssueDate",
                "firstIssueDate",
                "isPermanent",
                "symbols",
            ],
        ),
        (
            "00000007",
            &[
                "name",
                "englishName",
                "sex",
                "birthDate",
                "idNumber",
                "issueDate",
                "expiryDate",
                "placeOfIssue",
                "originOfIssue",
            ],
        ),
        (
            "00000009",
            &[
                "name",
                "englishName",
                "sex",
                "birthDate",
                "idNumber",
                "issueDate",
                "expiryDate",
                "originOfIssue",
            ],
        ),
        (
            "00000012",
            &[
                "name",
                "englishName",
                "sex",
                "birthDate",
                "idNumber",
                "issueDate",
                "expiryDate",
                "originOfIssue",
                "placeOfIssue",
            ],
        ),
        (
            "01000000",
            &[
                "surname",
                "givenname",
                "sex",
                "birthDate",
                "passportNo",
                "nationality",
                "expiryDate",
                "countryCode",
            ],
        ),
        (
            "MAC01001",
            &[
                "surnameCN",
                "givennameCN",
                "surname",
                "givenname",
                "sex",
                "birthDate",
                "idNumber",
                "expiryDate",
                "placeOfBirth",
            ],
        ),
    ];
    for (doc_type, fields) in cases {
        let v = env.create(VerificationSpec::ekyc().with_doc_type(*doc_type));
        let r = env.send(&env.v3(&v)).await;
        let id = r.ext("ExtIdInfo").unwrap();
        assert_eq!(keys(&id["ocrIdInfo"]), *fields, "{doc_type}");
        for (k, val) in id["ocrIdInfo"].as_object().unwrap() {
            assert!(val.is_string(), "{doc_type}.{k}");
        }
    }
}

#[tokio::test]
async fn failed_verifications_follow_the_sub_code_tables() {
    let env = start_default().await;
    // eKYC 205: liveness attack.
    let v = env.create(VerificationSpec::ekyc().failed(205));
    let r = env.send(&env.v3(&v)).await;
    assert_eq!(r.json()["Result"]["Passed"], "N");
    assert_eq!(r.json()["Result"]["SubCode"], "205");
    let face = r.ext("ExtFaceInfo").unwrap();
    assert_eq!(
        (face["facePassed"].as_str(), face["faceAttack"].as_str()),
        (Some("N"), Some("Y"))
    );
    // eKYC 204: face does not match the document.
    let v = env.create(VerificationSpec::ekyc().failed(204));
    let face = env.send(&env.v3(&v)).await.ext("ExtFaceInfo").unwrap();
    assert!(face["faceComparisonScore"].as_f64().unwrap() < 90.0);
    // eKYC 212: document spoof, with the spoof types asked for.
    let spec = VerificationSpec {
        spoof_types: Some(vec!["PHOTO_COPY".into(), "TAMPER".into()]),
        ..VerificationSpec::ekyc().failed(212)
    };
    let v = env.create(spec);
    let id = env.send(&env.v3(&v)).await.ext("ExtIdInfo").unwrap();
    assert_eq!(id["ocrIdPassed"], "N");
    assert_eq!(
        id["spoofInfo"],
        serde_json::json!({"spoofResult": "Y", "spoofType": ["PHOTO_COPY", "TAMPER"]})
    );
    // ID OCR 213: no document detected: no OCR fields and no images even with IsReturnImage=Y.
    let v = env.create(VerificationSpec::id_ocr().failed(213));
    let r = env.send(&env.v3(&v).images()).await;
    assert_eq!(r.json()["Result"]["SubCode"], "213");
    let id = r.ext("ExtIdInfo").unwrap();
    assert!(
        id.get("ocrIdInfo").is_none()
            && id.get("idImage").is_none()
            && id.get("idBackImage").is_none(),
        "{id}"
    );
    // Face liveness 206: device risk.
    let v = env.create(VerificationSpec::face_liveness().failed(206));
    let face = env.send(&env.v3(&v)).await.ext("ExtFaceInfo").unwrap();
    assert_eq!(face["facePassed"], "N");
    assert!(face["guardRiskScore"].as_f64().unwrap() > 80.0);
    // PRC ID with the authority check: 207.
    let v = env.create(
        VerificationSpec::ekyc()
            .with_doc_type("00000001")
            .failed(207),
    );
    let face = env.send(&env.v3(&v)).await.ext("ExtFaceInfo").unwrap();
    assert!(face["authorityComparisonScore"].as_f64().unwrap() < 75.0);
    // Undocumented combinations are refused at creation.
    assert!(
        env.emu
            .create_verification(VerificationSpec::face_liveness().failed(212))
            .is_err()
    );
}

#[tokio::test]
async fn repeated_calls_return_the_same_result() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc());
    let a = env.send(&env.v3(&v)).await.ext("ExtIdInfo").unwrap();
    let b = env.send(&env.v2(&v)).await.ext("ExtIdInfo").unwrap();
    assert_eq!(a, b);
}

#[tokio::test]
async fn hostile_overrides_are_returned_verbatim() {
    let env = start_default().await;
    // A verbatim docVideoUrl, with or without a video of the emulator's own.
    for size in [None, Some(1000)] {
        let spec = VerificationSpec {
            video_size: size,
            ..VerificationSpec::face_liveness().with_doc_video_url("http://2130706433/v.webm")
        };
        let v = env.create(spec);
        let face = env.send(&env.v3(&v)).await.ext("ExtFaceInfo").unwrap();
        assert_eq!(face["docVideoUrl"], "http://2130706433/v.webm");
    }
    // Fields set inside the Ext* JSON after the images.
    let v = env.create(
        VerificationSpec::ekyc()
            .with_ext_field("ExtFaceInfo", "faceImg", "!!not base64!!")
            .with_ext_field("ExtIdInfo", "ocrIdInfo", "{\"name\":")
            .with_ext_field("ExtIdInfo", "extraImg", 42),
    );
    let r = env.send(&env.v3(&v).images()).await;
    assert_eq!(r.ext("ExtFaceInfo").unwrap()["faceImg"], "!!not base64!!");
    let id = r.ext("ExtIdInfo").unwrap();
    assert_eq!(id["ocrIdInfo"], "{\"name\":");
    assert_eq!(id["extraImg"], 42);
    assert!(id["idImage"].as_str().is_some_and(|s| s.len() > 100));
    // Whole strings replaced (or added) verbatim, even when not JSON.
    let v = env.create(
        VerificationSpec::id_ocr()
            .with_ext_raw("ExtIdInfo", "{\"ocrIdInfo\":{\"name")
            .with_ext_raw("ExtBasicInfo", "not json"),
    );
    let j = env.send(&env.v3(&v)).await.json();
    assert_eq!(j["Result"]["ExtIdInfo"], "{\"ocrIdInfo\":{\"name");
    assert_eq!(j["Result"]["ExtBasicInfo"], "not json");
    // Overrides a product cannot carry are refused.
    for spec in [
        VerificationSpec::id_ocr().with_doc_video_url("https://x/v.webm"),
        VerificationSpec::id_ocr().with_ext_field("ExtFaceInfo", "faceImg", "x"),
        VerificationSpec::ekyc().with_ext_field("faceImg", "", "x"),
        VerificationSpec::ekyc().with_ext_raw("ExtOther", "x"),
    ] {
        assert!(env.emu.create_verification(spec).is_err());
    }
}
