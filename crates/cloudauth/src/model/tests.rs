use super::*;
use pretty_assertions::assert_eq;
use serde_json::json;

/// Reference §6.3, byte for byte (joined from its wrapped lines).
pub(crate) const REFERENCE_6_3: &str = concat!(
    r#"{"RequestId":"130A2C10-B9EE-4D84-88E3-5384FF039795","Code":"Success","Message":"success","#,
    r#""Result":{"Passed":"Y","SubCode":"200","#,
    r#""ExtFaceInfo":"{\"facePassed\":\"Y\",\"faceComparisonScore\":97.31,\"faceAttack\":\"N\",\"faceOcclusion\":\"N\",\"faceQuality\":93.2,\"docVideoUrl\":\"https://example-bucket.oss-cn-hongkong.aliyuncs.com/evidence/hksb7ba1b28130d24e015d694361bee4.webm?Expires=1736930700&OSSAccessKeyId=testid&Signature=rkOOj082hF4NXsXWidhrdR16OqU%3D\"}","#,
    r#""ExtIdInfo":"{\"ocrIdPassed\":\"Y\",\"ocrIdInfo\":{\"name\":\"CHAN TAI MAN\",\"englishName\":\"CHAN, Tai Man\",\"sex\":\"M\",\"birthDate\":\"1990-02-21\",\"idNumber\":\"A123456(7)\"},\"spoofInfo\":{\"spoofResult\":\"N\",\"spoofType\":[]}}"}}"#
);

fn parse(body: &str) -> CheckResult {
    CheckResult::parse(bytes::Bytes::copy_from_slice(body.as_bytes()), 200).unwrap()
}

/// Encodes `value` as a JSON string holding its JSON (the service's double encoding).
fn enc(value: Value) -> Value {
    Value::String(value.to_string())
}

#[test]
fn reference_6_3_example() {
    let cr = parse(REFERENCE_6_3);
    assert_eq!(&cr.raw[..], REFERENCE_6_3.as_bytes());
    let resp = &cr.response;
    assert_eq!(
        resp.request_id.as_deref(),
        Some("130A2C10-B9EE-4D84-88E3-5384FF039795")
    );
    assert!(resp.is_success());
    assert_eq!(resp.message.as_deref(), Some("success"));
    assert!(resp.extra.is_empty());
    let result = cr.result().unwrap();
    assert_eq!(result.passed(), Some(true));
    assert_eq!(cr.passed(), Some(true));
    assert_eq!(cr.sub_code(), Some("200"));
    let face = result.ext_face_info.as_ref().unwrap();
    assert_eq!(face.face_passed(), Some(true));
    assert_eq!(face.face_comparison_score, Some(97.31));
    assert_eq!(face.face_attack.as_deref(), Some("N"));
    assert_eq!(face.face_occlusion.as_deref(), Some("N"));
    assert_eq!(face.face_quality, Some(93.2));
    assert!(face.face_img.is_none());
    assert!(face.extra.is_empty());
    assert_eq!(
        cr.doc_video_url(),
        Some(
            "https://example-bucket.oss-cn-hongkong.aliyuncs.com/evidence/hksb7ba1b28130d24e015d694361bee4.webm?Expires=1736930700&OSSAccessKeyId=testid&Signature=rkOOj082hF4NXsXWidhrdR16OqU%3D"
        )
    );
    let id = result.ext_id_info.as_ref().unwrap();
    assert_eq!(id.ocr_id_passed(), Some(true));
    let ocr = id.ocr_id_info.as_ref().unwrap();
    assert_eq!(ocr.name.as_deref(), Some("CHAN TAI MAN"));
    assert_eq!(ocr.english_name.as_deref(), Some("CHAN, Tai Man"));
    assert_eq!(ocr.sex.as_deref(), Some("M"));
    assert_eq!(ocr.birth_date.as_deref(), Some("1990-02-21"));
    assert_eq!(ocr.id_number.as_deref(), Some("A123456(7)"));
    assert_eq!(
        ocr.present_fields(),
        ["name", "englishName", "sex", "birthDate", "idNumber"]
    );
    let spoof = id.spoof_info.as_ref().unwrap();
    assert_eq!(spoof.spoof_result.as_deref(), Some("N"));
    assert_eq!(spoof.spoof_type.as_deref(), Some(&[][..]));
    assert!(cr.images().is_empty());
}

#[test]
fn ekyc_with_images_edits_back_side_and_every_face_field() {
    let face = json!({
        "facePassed": "N", "faceComparisonScore": 42.5, "faceImg": "/9j/FACEBYTES",
        "faceAttack": "Y", "faceOcclusion": "N", "faceQuality": 95.45,
        "docVideoUrl": "https://b.example/v.webm?Expires=1", "faceAge": "30", "faceGender": "M",
        "authorityComparisonScore": 80.1, "faceAttackScore": 80, "guardRiskScore": 90,
        "deviceToken": "e0c34a77f5ac40a5aa5e6ed20c35xxxx"
    });
    let id = json!({
        "ocrIdPassed": "Y", "idImage": "iVBORFRONT", "idBackImage": "iVBORBACK",
        "ocrIdInfo": {"name": "Li Si", "englishName": "LI SI", "sex": "M",
                      "idNumber": "H11111112", "issueDate": "2013-01-02", "expiryDate": "",
                      "originOfIssue": "Exit and Entry Administration", "placeOfIssue": "GD",
                      "birthDate": "1990-02-21"},
        "ocrIdEditInfo": {"name": "Zhang San", "expiryDate": "2026-01-02"},
        "ocrIdBackInfo": {"originOfIssue": "Tanghe County", "issueDate": "20230102",
                          "expireDate": "20330102"},
        "spoofInfo": {"spoofResult": "Y", "spoofType": ["SCREEN_REMARK", "TAMPER"]},
        "spoofBackInfo": {"spoofResult": "N", "spoofType": []}
    });
    let body = json!({
        "RequestId": "R1", "Code": "Success", "Message": "success",
        "Result": {"Passed": "N", "SubCode": "205", "ExtFaceInfo": enc(face), "ExtIdInfo": enc(id)}
    })
    .to_string();
    let cr = parse(&body);
    assert_eq!(cr.passed(), Some(false));
    let r = cr.result().unwrap();
    assert_eq!(
        sub_code_meaning(&Product::Ekyc, r.sub_code.as_deref().unwrap()),
        Some("liveness attack risk detected")
    );
    let f = r.ext_face_info.as_ref().unwrap();
    assert_eq!(f.face_age.as_deref(), Some("30"));
    assert_eq!(f.face_gender.as_deref(), Some("M"));
    assert_eq!(f.authority_comparison_score, Some(80.1));
    assert_eq!(f.face_attack_score, Some(80.0));
    assert_eq!(f.guard_risk_score, Some(90.0));
    assert_eq!(
        f.device_token.as_deref(),
        Some("e0c34a77f5ac40a5aa5e6ed20c35xxxx")
    );
    let i = r.ext_id_info.as_ref().unwrap();
    let ocr = i.ocr_id_info.as_ref().unwrap();
    assert_eq!(
        ocr.expiry_date.as_deref(),
        Some(""),
        "empty values are kept"
    );
    assert_eq!(ocr.place_of_issue.as_deref(), Some("GD"));
    assert_eq!(
        i.ocr_id_edit_info.as_ref().unwrap().name.as_deref(),
        Some("Zhang San")
    );
    let back = i.ocr_id_back_info.as_ref().unwrap();
    assert_eq!(back.expire_date.as_deref(), Some("20330102"));
    assert_eq!(
        i.spoof_info.as_ref().unwrap().spoof_type,
        Some(vec!["SCREEN_REMARK".to_owned(), "TAMPER".to_owned()])
    );
    assert_eq!(
        i.spoof_back_info.as_ref().unwrap().spoof_result.as_deref(),
        Some("N")
    );
    assert_eq!(
        cr.images(),
        vec![
            ("faceImg", "/9j/FACEBYTES"),
            ("idImage", "iVBORFRONT"),
            ("idBackImage", "iVBORBACK"),
        ]
    );
    assert_eq!(
        cr.doc_video_url(),
        Some("https://b.example/v.webm?Expires=1")
    );

    // Nothing personal in Debug, at any level.
    let dbg = format!("{cr:?} {cr:#?}");
    for secret in [
        "Li Si",
        "LI SI",
        "H11111112",
        "Zhang San",
        "Tanghe",
        "FACEBYTES",
        "iVBORFRONT",
        "iVBORBACK",
        "b.example",
        "e0c34a77f5ac40a5aa5e6ed20c35xxxx",
        "1990-02-21",
    ] {
        assert!(!dbg.contains(secret), "{secret} leaked into {dbg}");
    }
    assert!(dbg.contains("faceImg") || dbg.contains("face_img"));
    assert!(
        dbg.contains("SCREEN_REMARK"),
        "non-personal verdicts stay visible"
    );
}

#[test]
fn id_ocr_only_shape() {
    let body = json!({
        "RequestId": "R2", "Code": "Success", "Message": "success",
        "Result": {"Passed": "Y", "SubCode": "200", "ExtIdInfo": enc(json!({
            "ocrIdPassed": "Y", "idImage": "IMG",
            "ocrIdInfo": {"surname": "DOE", "givenname": "JANE", "sex": "F",
                          "birthDate": "1990-01-01", "passportNo": "E1234567",
                          "nationality": "GBR", "expiryDate": "2030-01-01", "countryCode": "GBR"}
        }))}
    })
    .to_string();
    let cr = parse(&body);
    let r = cr.result().unwrap();
    assert!(r.ext_face_info.is_none());
    let ocr = r
        .ext_id_info
        .as_ref()
        .unwrap()
        .ocr_id_info
        .as_ref()
        .unwrap();
    assert_eq!(ocr.passport_no.as_deref(), Some("E1234567"));
    assert_eq!(ocr.country_code.as_deref(), Some("GBR"));
    assert_eq!(ocr.givenname.as_deref(), Some("JANE"));
    assert_eq!(cr.images(), vec![("idImage", "IMG")]);
    assert_eq!(cr.doc_video_url(), None);
    assert_eq!(Product::IdOcr.has_face(), Some(false));
}

#[test]
fn face_liveness_only_shape() {
    let body = json!({
        "RequestId": "R3", "Code": "Success", "Message": "success",
        "Result": {"Passed": "Y", "SubCode": "200", "ExtFaceInfo": enc(json!({
            "facePassed": "Y", "faceImg": "FACE", "faceQuality": 99.99,
            "docVideoUrl": "https://v.example/x.webm"
        }))}
    })
    .to_string();
    let cr = parse(&body);
    let r = cr.result().unwrap();
    assert!(r.ext_id_info.is_none());
    assert_eq!(cr.images(), vec![("faceImg", "FACE")]);
    assert_eq!(cr.doc_video_url(), Some("https://v.example/x.webm"));
}

#[test]
fn every_document_types_ocr_fields() {
    let macao = json!({"surnameCN": "陳", "givennameCN": "大文", "surname": "CHAN",
        "givenname": "TAI MAN", "placeOfBirth": "AS", "idNumber": "1234567(8)"});
    let prc = json!({"name": "张三", "ethnicity": "汉", "address": "某地", "province": "",
        "city": "", "issueDate": "20200101", "expiryDate": "20300101", "originOfIssue": "X"});
    let hk = json!({"nameCode": "7115 1129 7030", "currentIssueDate": "2019-01-01",
        "firstIssueDate": "01-99", "isPermanent": "Y", "symbols": "***AZ"});
    let macao: OcrIdInfo = serde_json::from_value(macao).unwrap();
    assert_eq!(macao.surname_cn.as_deref(), Some("陳"));
    assert_eq!(macao.givenname_cn.as_deref(), Some("大文"));
    assert_eq!(macao.place_of_birth.as_deref(), Some("AS"));
    let prc: OcrIdInfo = serde_json::from_value(prc).unwrap();
    assert_eq!(prc.ethnicity.as_deref(), Some("汉"));
    assert_eq!(prc.address.as_deref(), Some("某地"));
    assert_eq!(prc.province.as_deref(), Some(""));
    assert_eq!(prc.city.as_deref(), Some(""));
    let hk: OcrIdInfo = serde_json::from_value(hk).unwrap();
    assert_eq!(hk.name_code.as_deref(), Some("7115 1129 7030"));
    assert_eq!(hk.current_issue_date.as_deref(), Some("2019-01-01"));
    assert_eq!(hk.first_issue_date.as_deref(), Some("01-99"));
    assert_eq!(hk.is_permanent.as_deref(), Some("Y"));
    assert_eq!(hk.symbols.as_deref(), Some("***AZ"));
    assert_eq!(OcrIdInfo::FIELD_NAMES.len(), 26);
    // Every field name round-trips through its own wire name.
    for name in OcrIdInfo::FIELD_NAMES {
        let v: OcrIdInfo = serde_json::from_value(json!({ *name: "v" })).unwrap();
        assert_eq!(v.present_fields(), [*name]);
        assert!(v.extra.is_empty(), "{name} fell into extra");
        assert_eq!(serde_json::to_value(&v).unwrap(), json!({ *name: "v" }));
    }
}

#[test]
fn ext_values_as_objects_and_nested_values_as_strings() {
    // Ext* as objects (not strings), nested values as strings (double encoded).
    let body = json!({
        "RequestId": "R4", "Code": "Success", "Message": "success",
        "Result": {
            "Passed": "Y", "SubCode": "200",
            "ExtFaceInfo": {"facePassed": "Y", "faceComparisonScore": 91},
            "ExtIdInfo": {
                "ocrIdPassed": "Y",
                "ocrIdInfo": enc(json!({"name": "X Y", "idNumber": "1"})),
                "spoofInfo": enc(json!({"spoofResult": "N", "spoofType": []})),
                "ocrIdEditInfo": enc(json!({"name": "X Z"})),
                "ocrIdBackInfo": enc(json!({"issueDate": "20230102"})),
                "spoofBackInfo": enc(json!({"spoofResult": "Y", "spoofType": "[\"PHOTO_COPY\"]"}))
            }
        }
    })
    .to_string();
    let cr = parse(&body);
    let r = cr.result().unwrap();
    assert_eq!(
        r.ext_face_info.as_ref().unwrap().face_comparison_score,
        Some(91.0)
    );
    let id = r.ext_id_info.as_ref().unwrap();
    assert_eq!(
        id.ocr_id_info.as_ref().unwrap().name.as_deref(),
        Some("X Y")
    );
    assert_eq!(
        id.ocr_id_edit_info.as_ref().unwrap().name.as_deref(),
        Some("X Z")
    );
    assert_eq!(
        id.ocr_id_back_info.as_ref().unwrap().issue_date.as_deref(),
        Some("20230102")
    );
    assert_eq!(
        id.spoof_back_info.as_ref().unwrap().spoof_type,
        Some(vec!["PHOTO_COPY".to_owned()])
    );
}

#[test]
fn numbers_as_strings_and_strings_as_numbers() {
    let body = json!({
        "RequestId": "R5", "Code": "Success", "Message": "success",
        "Result": {"Passed": "Y", "SubCode": 200, "ExtFaceInfo": enc(json!({
            "faceComparisonScore": "97.31", "faceQuality": " 93.2 ", "faceAge": 30,
            "authorityComparisonScore": "", "faceAttackScore": "12", "guardRiskScore": 5.5
        }))}
    })
    .to_string();
    let cr = parse(&body);
    assert_eq!(cr.sub_code(), Some("200"));
    let f = cr.result().unwrap().ext_face_info.as_ref().unwrap();
    assert_eq!(f.face_comparison_score, Some(97.31));
    assert_eq!(f.face_quality, Some(93.2));
    assert_eq!(f.face_age.as_deref(), Some("30"));
    assert_eq!(f.authority_comparison_score, None);
    assert_eq!(f.face_attack_score, Some(12.0));
    assert_eq!(f.guard_risk_score, Some(5.5));
}

#[test]
fn empty_and_null_ext_values_are_absent() {
    let body = json!({
        "RequestId": "R6", "Code": "Success", "Message": "success",
        "Result": {"Passed": "N", "SubCode": "211", "ExtFaceInfo": "", "ExtIdInfo": "  ",
                   "ExtBasicInfo": "", "ExtRiskInfo": null, "ExtInfo": "",
                   "EkycResult": "", "ExtSourceInfo": ""}
    })
    .to_string();
    let cr = parse(&body);
    let r = cr.result().unwrap();
    assert!(r.ext_face_info.is_none());
    assert!(r.ext_id_info.is_none());
    assert!(r.ext_basic_info.is_none() && r.ext_risk_info.is_none() && r.ext_info.is_none());
    assert!(r.ekyc_result.is_none() && r.ext_source_info.is_none());
    assert!(r.extra.is_empty());
    // Empty nested ocrIdInfo (OCR failed) is absent too.
    let id: ExtIdInfo =
        serde_json::from_value(json!({"ocrIdPassed": "N", "ocrIdInfo": ""})).unwrap();
    assert!(id.ocr_id_info.is_none());
    assert_eq!(id.ocr_id_passed(), Some(false));
}

#[test]
fn undocumented_ext_values_are_decoded_when_json() {
    let body = json!({
        "RequestId": "R7", "Code": "Success", "Message": "success",
        "Result": {"Passed": "Y", "ExtBasicInfo": enc(json!({"k": "v"})),
                   "ExtSourceInfo": {"score": 1}, "EkycResult": "Y",
                   "ExtRiskInfo": enc(json!([1, 2])), "ExtInfo": "not json"}
    })
    .to_string();
    let r = parse(&body).response.result.unwrap();
    assert_eq!(r.ext_basic_info, Some(json!({"k": "v"})));
    assert_eq!(r.ext_source_info, Some(json!({"score": 1})));
    assert_eq!(r.ekyc_result, Some(json!("Y")));
    assert_eq!(r.ext_risk_info, Some(json!([1, 2])));
    assert_eq!(r.ext_info, Some(json!("not json")));
    let dbg = format!("{r:?}");
    assert!(!dbg.contains("not json") && !dbg.contains("\"k\""), "{dbg}");
}

#[test]
fn unknown_keys_are_kept_at_every_level_and_round_trip() {
    let body = json!({
        "RequestId": "R8", "Code": "Success", "Message": "success",
        "NewTopLevel": {"a": 1},
        "Result": {
            "Passed": "Y", "SubCode": "200", "FutureResultKey": [1, "two"],
            "ExtFaceInfo": enc(json!({"facePassed": "Y", "selfieImg": "SELFIE", "newScore": 3.5})),
            "ExtIdInfo": enc(json!({
                "ocrIdPassed": "Y", "portraitImage": "PORTRAIT", "note": "text",
                "emptyImage": "",
                "ocrIdInfo": {"name": "N", "mrzLine1": "P<GBR"},
                "ocrIdBackInfo": {"issueDate": "1", "backField": true},
                "spoofInfo": {"spoofResult": "N", "spoofType": [], "spoofScore": 0.1}
            }))
        }
    });
    let cr = parse(&body.to_string());
    let resp = &cr.response;
    assert_eq!(resp.extra.get("NewTopLevel"), Some(&json!({"a": 1})));
    let r = resp.result.as_ref().unwrap();
    assert_eq!(r.extra.get("FutureResultKey"), Some(&json!([1, "two"])));
    let f = r.ext_face_info.as_ref().unwrap();
    assert_eq!(f.extra.get("newScore"), Some(&json!(3.5)));
    let i = r.ext_id_info.as_ref().unwrap();
    assert_eq!(i.extra.get("note"), Some(&json!("text")));
    assert_eq!(
        i.ocr_id_info.as_ref().unwrap().extra.get("mrzLine1"),
        Some(&json!("P<GBR"))
    );
    assert_eq!(
        i.ocr_id_back_info.as_ref().unwrap().extra.get("backField"),
        Some(&json!(true))
    );
    assert_eq!(
        i.spoof_info.as_ref().unwrap().extra.get("spoofScore"),
        Some(&json!(0.1))
    );
    // Unknown image-like keys are reported as images; empty ones are not.
    assert_eq!(
        cr.images(),
        vec![("selfieImg", "SELFIE"), ("portraitImage", "PORTRAIT")]
    );

    // Round trip through serde_json::Value: every key survives, Ext* as decoded objects.
    let value = serde_json::to_value(resp).unwrap();
    let expected = json!({
        "RequestId": "R8", "Code": "Success", "Message": "success",
        "Result": {
            "Passed": "Y", "SubCode": "200",
            "ExtFaceInfo": {"facePassed": "Y", "selfieImg": "SELFIE", "newScore": 3.5},
            "ExtIdInfo": {
                "ocrIdPassed": "Y",
                "ocrIdInfo": {"name": "N", "mrzLine1": "P<GBR"},
                "ocrIdBackInfo": {"issueDate": "1", "backField": true},
                "spoofInfo": {"spoofResult": "N", "spoofType": [], "spoofScore": 0.1},
                "portraitImage": "PORTRAIT", "note": "text", "emptyImage": ""
            },
            "FutureResultKey": [1, "two"]
        },
        "NewTopLevel": {"a": 1}
    });
    assert_eq!(value, expected);
    let again: CheckResultResponse = serde_json::from_value(value).unwrap();
    assert_eq!(&again, resp);
}

#[test]
fn error_envelopes_parse_with_gateway_extras_and_lowercase_keys() {
    let body = r#"{"RequestId":"7A4A","HostId":"cloudauth-intl.cn-hongkong.aliyuncs.com","Code":"SignatureDoesNotMatch","Message":"Specified signature is not matched","Recommend":"https://api.aliyun.com/troubleshoot?q=SignatureDoesNotMatch"}"#;
    let resp: CheckResultResponse = serde_json::from_str(body).unwrap();
    assert_eq!(resp.code.as_deref(), Some("SignatureDoesNotMatch"));
    assert!(!resp.is_success());
    assert!(resp.result.is_none());
    assert_eq!(
        resp.extra.keys().collect::<Vec<_>>(),
        vec!["HostId", "Recommend"]
    );
    let resp: CheckResultResponse =
        serde_json::from_str(r#"{"requestId":"r","code":"Throttling.Api","message":"m"}"#).unwrap();
    assert_eq!(resp.code.as_deref(), Some("Throttling.Api"));
    assert_eq!(resp.request_id.as_deref(), Some("r"));
    assert_eq!(resp.message.as_deref(), Some("m"));
}

#[test]
fn parse_errors_do_not_quote_personal_data() {
    let body = json!({
        "RequestId": "R9", "Code": "Success",
        "Result": {"ExtIdInfo": enc(json!({"ocrIdInfo": {"name": ["CHAN TAI MAN"]}}))}
    })
    .to_string();
    let err = CheckResult::parse(bytes::Bytes::from(body), 200).unwrap_err();
    assert!(!err.to_string().contains("CHAN"), "{err}");
    let body = json!({"Result": {"ExtFaceInfo": "{\"faceImg\": CHAN TAI MAN"}}).to_string();
    let err = CheckResult::parse(bytes::Bytes::from(body), 200).unwrap_err();
    assert!(!err.to_string().contains("CHAN"), "{err}");
}

#[test]
fn ocr_debug_lists_fields_not_values() {
    let ocr = OcrIdInfo {
        name: Some("CHAN TAI MAN".into()),
        id_number: Some("A123456(7)".into()),
        ..Default::default()
    };
    let dbg = format!("{ocr:?}");
    assert!(!dbg.contains("CHAN TAI MAN"), "{dbg}");
    assert!(!dbg.contains("A123456"), "{dbg}");
    assert!(dbg.contains("name") && dbg.contains("idNumber"), "{dbg}");
    assert!(!ocr.is_empty());
    assert!(OcrIdInfo::default().is_empty());
    let back = OcrIdBackInfo {
        origin_of_issue: Some("Tanghe County".into()),
        ..Default::default()
    };
    assert!(!format!("{back:#?}").contains("Tanghe"));
}

#[test]
fn passed_values() {
    let r = |p: &str| CheckResultResult {
        passed: Some(p.into()),
        ..Default::default()
    };
    assert_eq!(r("Y").passed(), Some(true));
    assert_eq!(r("y").passed(), Some(true));
    assert_eq!(r("N").passed(), Some(false));
    assert_eq!(r("P").passed(), None);
    assert_eq!(CheckResultResult::default().passed(), None);
}

#[test]
fn document_types() {
    let cases = [
        ("00000001", DocumentType::PrcId),
        ("00000006", DocumentType::HkId2003),
        ("00000008", DocumentType::HkId2018),
        ("00000007", DocumentType::ExitEntryPermit),
        ("00000009", DocumentType::HkMacaoResidentsPermit),
        ("00000012", DocumentType::TaiwanResidentsPermit),
        ("01000000", DocumentType::EPassport),
    ];
    for (code, ty) in cases {
        assert_eq!(code.parse::<DocumentType>().unwrap(), ty);
        assert_eq!(ty.to_string(), code);
        assert!(ty.description().is_some());
        assert_eq!(serde_json::to_value(&ty).unwrap(), json!(code));
        assert_eq!(
            serde_json::from_value::<DocumentType>(json!(code)).unwrap(),
            ty
        );
    }
    assert_eq!(
        "000000012".parse::<DocumentType>().unwrap(),
        DocumentType::TaiwanResidentsPermit
    );
    let other = "HKG01001".parse::<DocumentType>().unwrap();
    assert_eq!(other, DocumentType::Other("HKG01001".into()));
    assert_eq!(other.to_string(), "HKG01001");
    assert_eq!(other.description(), None);
}

#[test]
fn products() {
    for (s, p) in [
        ("eKYC", Product::Ekyc),
        ("EKYC", Product::Ekyc),
        ("eKYC_PRO", Product::Ekyc),
        ("eKYC_MIN", Product::Ekyc),
        ("ID_OCR", Product::IdOcr),
        ("ID_OCR_PRO", Product::IdOcr),
        ("ID_OCR_MIN", Product::IdOcr),
        ("ID_OCR_MAX", Product::IdOcr),
        ("FACE_LIVENESS", Product::FaceLiveness),
        ("face_liveness_pro", Product::FaceLiveness),
        ("FACE_LIVENESS_MIN", Product::FaceLiveness),
    ] {
        assert_eq!(s.parse::<Product>().unwrap(), p, "{s}");
    }
    assert_eq!(
        "eKYC_NDI".parse::<Product>().unwrap(),
        Product::Other("eKYC_NDI".into())
    );
    assert_eq!(Product::Ekyc.to_string(), "eKYC");
    assert_eq!(Product::IdOcr.to_string(), "ID_OCR");
    assert_eq!(Product::FaceLiveness.to_string(), "FACE_LIVENESS");
    assert_eq!(serde_json::to_value(Product::Ekyc).unwrap(), json!("eKYC"));
    assert_eq!(
        serde_json::from_value::<Product>(json!("ID_OCR_PRO")).unwrap(),
        Product::IdOcr
    );
    assert_eq!(Product::Ekyc.has_face(), Some(true));
    assert_eq!(Product::FaceLiveness.has_id(), Some(false));
}
