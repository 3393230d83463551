//! Property tests of everything in `evidence` that reads untrusted input: the archive request
//! parser (queue messages from any service), the manifest reader (objects read back from a
//! store), the image decoder (base64 from the CheckResult response) and the key layout
//! (transaction ids become object keys).
//!
//! `PROPTEST_CASES` sets the number of cases (`scripts/chaos` runs 5000).

use std::collections::BTreeMap;

use evidence::image;
use evidence::layout::BundleKeys;
use evidence::manifest::Manifest;
use evidence::message::{ArchiveRequestV1, FIELDS, MessageError};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// A value that must never come back in an error message: printable text with quotes,
/// backslashes and non-ASCII around a recognisable marker.
fn secret_value() -> impl Strategy<Value = String> {
    (
        "[ -~\u{a0}-\u{24f}\"\\\\]{0,12}",
        "[ -~\u{a0}-\u{24f}\"\\\\]{0,12}",
    )
        .prop_map(|(a, b)| format!("{a}ZQXSECRET{b}"))
}

/// Any JSON value, values drawn from [`secret_value`].
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        secret_value().prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(secret_value(), inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object with the request's field names (and maybe unknown ones), any values.
fn message_like() -> impl Strategy<Value = serde_json::Map<String, serde_json::Value>> {
    prop::collection::btree_map(
        prop_oneof![
            4 => prop::sample::select(FIELDS.to_vec()).prop_map(str::to_owned),
            1 => secret_value(),
        ],
        json_value(),
        0..8,
    )
    .prop_map(|m| m.into_iter().collect())
}

/// A valid request.
fn valid_request() -> impl Strategy<Value = ArchiveRequestV1> {
    (
        "[A-Za-z0-9_-]{1,64}",
        "[A-Za-z0-9]{1,32}",
        prop::option::of(0i64..4_102_444_800),
        prop::option::of("[A-Za-z0-9_]{1,32}"),
        prop::option::of("[A-Za-z0-9]{1,16}"),
        prop::option::of(any::<bool>()),
        prop::option::of((1u32..100, prop::bool::ANY)),
        prop::collection::btree_map("[a-z0-9_.-]{1,64}", "[ -~]{0,256}", 0..16),
    )
        .prop_map(
            |(tx, merchant, completed, product, doc, hold, retention, labels)| {
                let mut r = ArchiveRequestV1::new(tx, merchant);
                r.completed_at = completed.and_then(|s| chrono::DateTime::from_timestamp(s, 0));
                r.product = product;
                r.document_type = doc;
                r.legal_hold = hold;
                r.retention =
                    retention.map(|(n, years)| format!("{n}{}", if years { "y" } else { "mo" }));
                r.labels = labels.into_iter().collect::<BTreeMap<_, _>>();
                r
            },
        )
}

proptest! {
    // Failures are kept in tests/fuzz.proptest-regressions and replayed first (the default
    // looks for a lib.rs or main.rs, which an integration test does not have).
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_bytes_are_parsed_or_refused_without_panicking(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = ArchiveRequestV1::parse(&body);
    }

    #[test]
    fn refusal_reasons_never_echo_values(mut object in message_like(), version in prop::option::of(0u64..3)) {
        if let Some(v) = version {
            object.insert("version".to_owned(), serde_json::json!(v));
        }
        let body = serde_json::to_vec(&serde_json::Value::Object(object)).unwrap();
        if let Err(e) = ArchiveRequestV1::parse(&body) {
            let reason = e.to_string();
            prop_assert!(!reason.contains("ZQXSECRET"), "{}", reason);
            prop_assert!(!reason.contains("SECRET"), "{}", reason);
        }
    }

    #[test]
    fn valid_requests_round_trip(request in valid_request()) {
        let parsed = ArchiveRequestV1::parse(&request.to_json());
        prop_assert_eq!(parsed, Ok(request));
    }

    #[test]
    fn a_valid_request_with_one_field_broken_is_refused_naming_it(request in valid_request(), field in 1usize..3, junk in secret_value()) {
        let mut value = serde_json::to_value(&request).unwrap();
        let name = FIELDS[field];
        // A space makes any value invalid for these fields.
        value[name] = serde_json::Value::String(format!(" {junk}"));
        let err = ArchiveRequestV1::parse(&serde_json::to_vec(&value).unwrap()).unwrap_err();
        prop_assert!(matches!(err, MessageError::Invalid(_)), "{:?}", err);
        let reason = err.to_string();
        prop_assert!(reason.contains(name), "{}", reason);
        prop_assert!(!reason.contains("SECRET"), "{}", reason);
    }

    #[test]
    fn manifests_read_from_a_store_never_panic(body in prop::collection::vec(any::<u8>(), 0..1024), object in message_like()) {
        let _ = Manifest::from_json(&body);
        let _ = Manifest::from_json(&serde_json::to_vec(&serde_json::Value::Object(object)).unwrap());
    }

    #[test]
    fn base64_images_decode_to_their_bytes_and_junk_is_refused(bytes in prop::collection::vec(any::<u8>(), 1..2048), junk in "[ -~]{0,64}") {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
        prop_assert_eq!(image::decode_base64(&encoded).unwrap(), bytes.clone());
        // Data-URL prefixes and line breaks as some services send them.
        let wrapped = format!("data:image/jpeg;base64,{}", encoded.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join("\r\n"));
        prop_assert_eq!(image::decode_base64(&wrapped).unwrap(), bytes);
        let junk = format!("!{junk}ZQX");
        let reason = image::decode_base64(&junk).unwrap_err().to_string();
        prop_assert!(!reason.contains("ZQX"), "{}", reason);
    }

    #[test]
    fn transaction_ids_never_escape_their_prefix(id in "[ -~]{0,80}") {
        if let Ok(keys) = BundleKeys::new(&id) {
            prop_assert!(!id.is_empty() && !id.contains('/') && id != "." && id != "..");
            prop_assert_eq!(keys.manifest(), format!("{id}/manifest.json"));
        }
    }
}
