//! Property tests of the `CheckResult` response parsers: [`CheckResult::parse`] and
//! [`cloudauth::client::interpret_response`].
//!
//! - Neither panics, on arbitrary bytes, on arbitrary HTTP statuses, or on structurally valid
//!   envelopes whose `Ext*` strings are random JSON, truncated JSON, JSON nested as strings
//!   (beyond the supported depth too), huge numbers or arbitrary unicode.
//! - Well-formed responses are accepted with every OCR value and image kept as received.
//! - No `Debug` output of a parsed response, and no error message, contains a generated
//!   personal value (OCR fields, images, the video URL, face age and gender, device token,
//!   unknown keys' values).
//!
//! Case counts keep each property around a second in a debug build; `PROPTEST_CASES` raises
//! them.

use bytes::Bytes;
use cloudauth::CheckResult;
use cloudauth::client::interpret_response;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Value, json};

fn cases(default: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases: n,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..ProptestConfig::default()
    }
}

/// A personal value: some unicode noise around a marker that cannot occur in any output by
/// chance. Returns (value, marker).
fn personal() -> impl Strategy<Value = (String, String)> {
    let noise = || {
        prop::collection::vec(
            prop_oneof![
                3 => prop::char::range(' ', '~'),
                1 => any::<char>(),
            ],
            0..6,
        )
        .prop_map(|cs| cs.into_iter().collect::<String>())
    };
    (noise(), "[A-Z]{10}", noise()).prop_map(|(pre, core, post)| {
        let marker = format!("OCR{core}");
        (format!("{pre}{marker}{post}"), marker)
    })
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(".{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

const OCR_FIELDS: &[&str] = &[
    "name",
    "englishName",
    "nameCode",
    "sex",
    "birthDate",
    "idNumber",
    "currentIssueDate",
    "firstIssueDate",
    "issueDate",
    "expiryDate",
    "placeOfIssue",
    "originOfIssue",
    "surname",
    "givenname",
    "passportNo",
    "address",
];

/// A well-formed `ExtFaceInfo` and `ExtIdInfo` with personal values, and those values.
#[derive(Debug, Clone)]
struct Ext {
    face: Map<String, Value>,
    id: Map<String, Value>,
    /// (where, value, marker)
    personal: Vec<(String, String, String)>,
    /// `ocrIdInfo` written as a JSON string inside the `ExtIdInfo` JSON (double nesting).
    ocr_as_string: bool,
}

fn ext() -> impl Strategy<Value = Ext> {
    (
        prop::collection::vec(personal(), 8..=8),
        prop::sample::subsequence(OCR_FIELDS.to_vec(), 1..OCR_FIELDS.len()),
        prop::collection::vec(personal(), OCR_FIELDS.len()..=OCR_FIELDS.len()),
        personal(),
        any::<bool>(),
        (
            0.0f64..100.0,
            prop_oneof![Just(None), (0u32..120).prop_map(Some)],
        ),
    )
        .prop_map(
            |(face_values, ocr_fields, ocr_values, extra, ocr_as_string, (score, age))| {
                let mut personal = Vec::new();
                let mut face = Map::new();
                face.insert("facePassed".into(), "Y".into());
                face.insert("faceComparisonScore".into(), json!(score));
                // The service documents faceAge as a string; numbers happen.
                let face_keys = [
                    "faceImg",
                    "docVideoUrl",
                    "faceAge",
                    "faceGender",
                    "deviceToken",
                    "livenessFrameImg", // an unknown image key
                    "futureField",      // an unknown key
                    "faceQualityNote",
                ];
                for (key, (value, marker)) in face_keys.iter().zip(face_values) {
                    if *key == "faceAge" && age.is_some() {
                        face.insert((*key).into(), json!(age));
                        continue;
                    }
                    face.insert((*key).into(), value.clone().into());
                    personal.push((format!("ExtFaceInfo.{key}"), value, marker));
                }
                let mut ocr = Map::new();
                for (field, (value, marker)) in ocr_fields.iter().zip(ocr_values) {
                    ocr.insert((*field).into(), value.clone().into());
                    personal.push((format!("ocrIdInfo.{field}"), value, marker));
                }
                let (extra_value, extra_marker) = extra;
                ocr.insert("unmodelledField".into(), extra_value.clone().into());
                personal.push((
                    "ocrIdInfo.unmodelledField".into(),
                    extra_value,
                    extra_marker,
                ));
                let mut id = Map::new();
                id.insert("ocrIdPassed".into(), "Y".into());
                id.insert(
                    "ocrIdInfo".into(),
                    if ocr_as_string {
                        Value::String(Value::Object(ocr).to_string())
                    } else {
                        Value::Object(ocr)
                    },
                );
                id.insert(
                    "spoofInfo".into(),
                    json!({"spoofResult": "N", "spoofType": []}),
                );
                Ext {
                    face,
                    id,
                    personal,
                    ocr_as_string,
                }
            },
        )
}

fn envelope(face: Value, id: Value, basic: Option<Value>) -> Vec<u8> {
    let mut result = Map::new();
    result.insert("Passed".into(), "Y".into());
    result.insert("SubCode".into(), "200".into());
    result.insert("ExtFaceInfo".into(), face);
    result.insert("ExtIdInfo".into(), id);
    if let Some(b) = basic {
        result.insert("ExtBasicInfo".into(), b);
    }
    serde_json::to_vec(&json!({
        "RequestId": "130A2C10-B9EE-4D84-88E3-5384FF039795",
        "Code": "Success",
        "Message": "success",
        "Result": result,
    }))
    .unwrap()
}

/// `text` wrapped in `depth` more JSON strings.
fn nest(text: String, depth: usize) -> String {
    (0..depth).fold(text, |t, _| Value::String(t).to_string())
}

/// The first `n` characters of `text`.
fn truncate(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

/// Runs both parsers on `body` and checks that nothing panics and no marker escapes.
fn check_no_leak(body: &[u8], status: u16, markers: &[String]) -> Result<(), TestCaseError> {
    let shown = match CheckResult::parse(Bytes::copy_from_slice(body), status) {
        Ok(cr) => {
            // The accessors run over whatever was accepted.
            let _ = (cr.images(), cr.doc_video_url(), cr.passed(), cr.sub_code());
            format!("{cr:?}")
        }
        Err(e) => format!("{e} {e:?}"),
    };
    let interpreted = match interpret_response(status, Bytes::copy_from_slice(body)) {
        Ok(cr) => format!("{cr:?}"),
        Err(e) => format!("{e} {e:?} {:?}", e.class()),
    };
    for m in markers {
        prop_assert!(!shown.contains(m), "parse output shows {m}: {shown}");
        prop_assert!(
            !interpreted.contains(m),
            "interpret_response output shows {m}: {interpreted}"
        );
    }
    Ok(())
}

/// How an `Ext*` value is mangled.
#[derive(Debug, Clone)]
enum Mangle {
    /// As the service sends it: JSON text in a string.
    AsIs,
    /// An object instead of a string.
    Object,
    /// The JSON text cut after this many characters.
    Truncated(usize),
    /// Wrapped in this many more strings (3 in all are supported).
    Nested(usize),
    /// A random JSON value as the text.
    Random(Value),
    /// A random JSON value in place of the string.
    RandomRaw(Value),
    /// Arbitrary unicode text.
    Unicode(String),
    /// A score replaced by this number literal.
    HugeNumber(&'static str),
}

fn mangle() -> impl Strategy<Value = Mangle> {
    prop_oneof![
        Just(Mangle::AsIs),
        Just(Mangle::Object),
        (0usize..400).prop_map(Mangle::Truncated),
        (1usize..6).prop_map(Mangle::Nested),
        json_value().prop_map(Mangle::Random),
        json_value().prop_map(Mangle::RandomRaw),
        any::<String>().prop_map(Mangle::Unicode),
        prop::sample::select(vec![
            "1e400",
            "-1e400",
            "1e308",
            "123456789012345678901234567890123456789",
            "-0",
            "0.0000000000000000000000000000000000000001",
            "18446744073709551616",
        ])
        .prop_map(Mangle::HugeNumber),
    ]
}

fn apply(object: &Map<String, Value>, how: &Mangle) -> Value {
    let text = Value::Object(object.clone()).to_string();
    match how {
        Mangle::AsIs => Value::String(text),
        Mangle::Object => Value::Object(object.clone()),
        Mangle::Truncated(n) => Value::String(truncate(&text, *n)),
        Mangle::Nested(depth) => Value::String(nest(text, *depth)),
        Mangle::Random(v) => Value::String(v.to_string()),
        Mangle::RandomRaw(v) => v.clone(),
        Mangle::Unicode(s) => Value::String(s.clone()),
        Mangle::HugeNumber(n) => {
            // Splice the literal in as a number: serde_json cannot build every such value.
            let mut o = object.clone();
            o.insert("faceComparisonScore".into(), Value::from("__N__"));
            o.insert("faceQuality".into(), Value::from("__N__"));
            Value::String(Value::Object(o).to_string().replace("\"__N__\"", n))
        }
    }
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..512),
        status in prop_oneof![Just(200u16), Just(400u16), Just(403u16), Just(500u16), 0u16..1000],
    ) {
        let _ = CheckResult::parse(Bytes::from(body.clone()), status);
        let _ = interpret_response(status, Bytes::from(body));
    }

    #[test]
    fn arbitrary_json_never_panics(v in json_value(), status in 100u16..600) {
        let body = serde_json::to_vec(&v).unwrap();
        let _ = CheckResult::parse(Bytes::from(body.clone()), status);
        let _ = interpret_response(status, Bytes::from(body));
    }
}

proptest! {
    #![proptest_config(cases(256))]

    /// Well-formed responses are accepted, keep every value, and show none of them.
    #[test]
    fn well_formed_responses_keep_values_and_show_none(e in ext(), as_object in any::<bool>()) {
        let wrap = |m: &Map<String, Value>| {
            if as_object { Value::Object(m.clone()) } else { Value::String(Value::Object(m.clone()).to_string()) }
        };
        let body = envelope(wrap(&e.face), wrap(&e.id), None);
        let text = String::from_utf8_lossy(&body);
        for (place, _, marker) in &e.personal {
            prop_assert!(text.contains(marker.as_str()), "{} not in the body", place);
        }
        let cr = CheckResult::parse(Bytes::from(body.clone()), 200);
        prop_assert!(cr.is_ok(), "{:?}", cr.err().map(|e| e.to_string()));
        let cr = cr.unwrap();
        prop_assert_eq!(&cr.raw[..], &body[..]);
        let ok = interpret_response(200, Bytes::from(body.clone()));
        prop_assert!(ok.is_ok(), "{:?}", ok.err().map(|e| e.to_string()));
        let result = cr.result().unwrap();
        let face = result.ext_face_info.as_ref().unwrap();
        let ocr = result.ext_id_info.as_ref().unwrap().ocr_id_info.as_ref().unwrap();
        for (place, value, _) in &e.personal {
            let got: Option<String> = if let Some(key) = place.strip_prefix("ExtFaceInfo.") {
                match key {
                    "faceImg" => face.face_img.clone(),
                    "docVideoUrl" => face.doc_video_url.clone(),
                    "faceAge" => face.face_age.clone(),
                    "faceGender" => face.face_gender.clone(),
                    "deviceToken" => face.device_token.clone(),
                    other => face.extra.get(other).and_then(Value::as_str).map(str::to_owned),
                }
            } else {
                let key = place.strip_prefix("ocrIdInfo.").unwrap();
                ocr.fields()
                    .into_iter()
                    .find(|(wire, _)| *wire == key)
                    .and_then(|(_, v)| v.map(str::to_owned))
                    .or_else(|| ocr.extra.get(key).and_then(Value::as_str).map(str::to_owned))
            };
            prop_assert_eq!(got.as_deref(), Some(value.as_str()), "{} (ocr as string: {})", place, e.ocr_as_string);
        }
        // Images: the known one and the unknown `…Img` key, by wire name.
        let names: Vec<&str> = cr.images().iter().map(|(n, _)| *n).collect();
        prop_assert!(names.contains(&"faceImg") && names.contains(&"livenessFrameImg"), "{:?}", names);
        let markers: Vec<String> = e.personal.iter().map(|(_, _, m)| m.clone()).collect();
        check_no_leak(&body, 200, &markers)?;
    }

    /// Mangled `Ext*` strings inside a valid envelope: no panic, no leak, and the outcome is
    /// what the mangling allows.
    #[test]
    fn mangled_ext_strings_never_panic_or_leak(
        e in ext(),
        face_how in mangle(),
        id_how in mangle(),
        basic in prop::option::of(prop_oneof![
            json_value().prop_map(|v| Value::String(v.to_string())),
            any::<String>().prop_map(Value::String),
            json_value(),
        ]),
        status in prop_oneof![4 => Just(200u16), 1 => 100u16..600],
    ) {
        let body = envelope(apply(&e.face, &face_how), apply(&e.id, &id_how), basic);
        let markers: Vec<String> = e.personal.iter().map(|(_, _, m)| m.clone()).collect();
        check_no_leak(&body, status, &markers)?;
        // Unmangled values nested up to the supported depth must parse.
        let fine = |m: &Mangle| matches!(m, Mangle::AsIs | Mangle::Object)
            || matches!(m, Mangle::Nested(d) if *d <= 2);
        if fine(&face_how) && fine(&id_how) {
            let parsed = CheckResult::parse(Bytes::from(body.clone()), 200);
            prop_assert!(parsed.is_ok(), "{:?} {:?}: {:?}", face_how, id_how, parsed.err().map(|e| e.to_string()));
        }
    }
}

/// The boundaries spelled out: three levels of string nesting are read, a fourth is refused
/// (with a message that shows nothing), a truncated or number-overflowing `Ext*` value makes
/// the response malformed (a permanent error) without showing its content.
#[test]
fn nesting_truncation_and_overflow_boundaries() {
    let face = json!({"facePassed": "Y", "faceImg": "OCRSECRETIMAGE", "faceAge": "OCRSECRETAGE"});
    let id = json!({"ocrIdPassed": "Y", "ocrIdInfo": {"name": "OCRSECRETNAME"}});
    let markers = ["OCRSECRET".to_owned()];
    for depth in 0..=2 {
        let body = envelope(
            Value::String(nest(face.to_string(), depth)),
            Value::String(nest(id.to_string(), depth)),
            None,
        );
        let cr = CheckResult::parse(Bytes::from(body.clone()), 200)
            .unwrap_or_else(|e| panic!("depth {depth}: {e}"));
        assert_eq!(
            cr.result()
                .unwrap()
                .ext_id_info
                .as_ref()
                .unwrap()
                .ocr_id_info
                .as_ref()
                .unwrap()
                .name
                .as_deref(),
            Some("OCRSECRETNAME")
        );
        check_no_leak(&body, 200, &markers).unwrap();
    }
    let deep = envelope(
        Value::String(nest(face.to_string(), 4)),
        Value::String(id.to_string()),
        None,
    );
    let err = interpret_response(200, Bytes::from(deep.clone())).unwrap_err();
    assert_eq!(err.class(), cloudauth::ErrorClass::Permanent, "{err}");
    check_no_leak(&deep, 200, &markers).unwrap();
    for cut in [1, 10, 30] {
        let text = truncate(&id.to_string(), cut);
        let body = envelope(Value::String(face.to_string()), Value::String(text), None);
        let err = interpret_response(200, Bytes::from(body.clone())).unwrap_err();
        assert!(
            err.to_string().starts_with("malformed response body"),
            "{err}"
        );
        check_no_leak(&body, 200, &markers).unwrap();
    }
    let huge = envelope(
        Value::String(
            r#"{"facePassed":"Y","faceComparisonScore":1e400,"faceImg":"OCRSECRETIMAGE"}"#
                .to_owned(),
        ),
        Value::String(id.to_string()),
        None,
    );
    assert!(interpret_response(200, Bytes::from(huge.clone())).is_err());
    check_no_leak(&huge, 200, &markers).unwrap();
}
