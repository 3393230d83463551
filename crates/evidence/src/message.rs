//! The archive-request message any service publishes to ask for a transaction to be archived.
//!
//! JSON, versioned by its `version` field, validated strictly: unknown versions, unknown
//! fields, wrong types, oversize bodies and bad values are rejected with a reason that names
//! the field (never echoes a value). The JSON Schema is published in
//! `docs/schemas/archive-request-v1.schema.json`, generated from [`ArchiveRequestV1`].
//!
//! ```json
//! {"version": 1, "transaction_id": "hksb7ba1b28130d24e015d694361bee4",
//!  "merchant_biz_id": "e0c34a77f5ac40a5aa5e6ed20c350001",
//!  "completed_at": "2026-11-21T10:00:00Z", "product": "eKYC"}
//! ```

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::retention::RetentionPeriod;

/// The message version this build reads and writes.
pub const CURRENT_VERSION: u64 = 1;
/// Largest accepted body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Most labels per request.
pub const MAX_LABELS: usize = 16;
/// Longest label key.
pub const MAX_LABEL_KEY: usize = 64;
/// Longest label value.
pub const MAX_LABEL_VALUE: usize = 256;

/// Version 1 of the archive request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "kyc-archiver archive request, version 1")]
pub struct ArchiveRequestV1 {
    /// Always 1.
    #[schemars(range(min = 1, max = 1))]
    pub version: u64,
    /// `TransactionId` from `Initialize`, as stored by the requesting service.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub transaction_id: String,
    /// `MerchantBizId` (1 to 32 letters and digits).
    #[schemars(regex(pattern = r"^[A-Za-z0-9]{1,32}$"))]
    pub merchant_biz_id: String,
    /// When the verification completed (RFC 3339). Drives the video deadline: requests whose
    /// video is deleted soonest are processed first. Strongly recommended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// Product code used at `Initialize` (`eKYC`, `ID_OCR`, `FACE_LIVENESS`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_]{1,32}$"))]
    pub product: Option<String>,
    /// Document type code used at `Initialize` (e.g. `00000008`, `GLB03002`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9]{1,16}$"))]
    pub document_type: Option<String>,
    /// The merchant's opaque reference for the end user (an id, not a name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub merchant_user_ref: Option<String>,
    /// Place a legal hold on every object of the bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_hold: Option<bool>,
    /// Retention period overriding the deployment's (`7y`, `84mo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(y|mo)$"))]
    pub retention: Option<String>,
    /// Free-form labels copied into the manifest: at most 16, keys `[a-z0-9_.-]{1,64}`,
    /// values up to 256 printable characters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Why a message body is not a valid archive request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Larger than [`MAX_BODY_BYTES`].
    #[error("message is {0} bytes, more than the {MAX_BODY_BYTES} allowed")]
    TooLarge(usize),
    /// Not UTF-8 JSON.
    #[error("message is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("message is not a JSON object")]
    NotObject,
    /// No `version` field, or not a positive integer.
    #[error("message has no integer version field")]
    NoVersion,
    /// A version this build does not read.
    #[error("message version {0} is not supported (this build reads version {CURRENT_VERSION})")]
    UnsupportedVersion(u64),
    /// A field is missing, unknown, of the wrong type, or has a bad value.
    #[error("invalid message: {0}")]
    Invalid(String),
}

fn check(field: &str, ok: bool, rule: &str) -> Result<(), MessageError> {
    if ok {
        Ok(())
    } else {
        Err(MessageError::Invalid(format!("{field} must be {rule}")))
    }
}

fn all_chars(s: &str, pred: impl Fn(u8) -> bool) -> bool {
    s.bytes().all(pred)
}

/// The fields of [`ArchiveRequestV1`] (a test keeps this equal to the published schema).
pub const FIELDS: [&str; 10] = [
    "version",
    "transaction_id",
    "merchant_biz_id",
    "completed_at",
    "product",
    "document_type",
    "merchant_user_ref",
    "legal_hold",
    "retention",
    "labels",
];

/// Short lowercase identifiers (field and variant names) may appear in reasons; anything
/// else could be a value.
fn is_name_like(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && all_chars(s, |b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'
        })
}

/// A serde error message without echoed values: serde quotes offending string values
/// (`invalid value: string "..."`, Debug-escaped) and names unknown keys in backticks, both of
/// which could carry personal data. Quoted text is dropped whole, honouring backslash escapes;
/// backticked text is kept only when it looks like a field or variant name.
fn scrub(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push_str("\"…\"");
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '`' => {
                let name: String = chars.by_ref().take_while(|&c| c != '`').collect();
                out.push('`');
                out.push_str(if is_name_like(&name) { &name } else { "…" });
                out.push('`');
            }
            _ => out.push(c),
        }
    }
    out
}

impl ArchiveRequestV1 {
    /// A minimal request.
    pub fn new(transaction_id: impl Into<String>, merchant_biz_id: impl Into<String>) -> Self {
        Self {
            version: CURRENT_VERSION,
            transaction_id: transaction_id.into(),
            merchant_biz_id: merchant_biz_id.into(),
            completed_at: None,
            product: None,
            document_type: None,
            merchant_user_ref: None,
            legal_hold: None,
            retention: None,
            labels: BTreeMap::new(),
        }
    }

    /// Parses and validates a message body.
    pub fn parse(body: &[u8]) -> Result<Self, MessageError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(MessageError::TooLarge(body.len()));
        }
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| MessageError::NotJson(scrub(&e)))?;
        let object = value.as_object().ok_or(MessageError::NotObject)?;
        let version = object
            .get("version")
            .and_then(serde_json::Value::as_u64)
            .ok_or(MessageError::NoVersion)?;
        if version != CURRENT_VERSION {
            return Err(MessageError::UnsupportedVersion(version));
        }
        // Unknown keys are refused here rather than by serde, whose message would quote the
        // key verbatim (a key can carry personal data, or backticks that defeat scrubbing).
        if let Some(key) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            let shown = if is_name_like(key) {
                format!("`{key}`")
            } else {
                "(a key that is not a field name)".to_owned()
            };
            return Err(MessageError::Invalid(format!(
                "unknown field {shown}, expected one of {}",
                FIELDS.join(", ")
            )));
        }
        let request: Self =
            serde_json::from_value(value).map_err(|e| MessageError::Invalid(scrub(&e)))?;
        request.validate()?;
        Ok(request)
    }

    /// Checks every field's rules.
    pub fn validate(&self) -> Result<(), MessageError> {
        check("version", self.version == CURRENT_VERSION, "1")?;
        let t = &self.transaction_id;
        check(
            "transaction_id",
            (1..=64).contains(&t.len())
                && all_chars(t, |b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "1 to 64 letters, digits, '-' or '_'",
        )?;
        let m = &self.merchant_biz_id;
        check(
            "merchant_biz_id",
            (1..=32).contains(&m.len()) && all_chars(m, |b| b.is_ascii_alphanumeric()),
            "1 to 32 letters and digits",
        )?;
        if let Some(p) = &self.product {
            check(
                "product",
                (1..=32).contains(&p.len())
                    && all_chars(p, |b| b.is_ascii_alphanumeric() || b == b'_'),
                "1 to 32 letters, digits or '_'",
            )?;
        }
        if let Some(d) = &self.document_type {
            check(
                "document_type",
                (1..=16).contains(&d.len()) && all_chars(d, |b| b.is_ascii_alphanumeric()),
                "1 to 16 letters and digits",
            )?;
        }
        if let Some(r) = &self.merchant_user_ref {
            check(
                "merchant_user_ref",
                (1..=128).contains(&r.chars().count()) && !r.chars().any(char::is_control),
                "1 to 128 characters without control characters",
            )?;
        }
        if let Some(r) = &self.retention {
            r.parse::<RetentionPeriod>().map_err(|_| {
                MessageError::Invalid("retention must be a period such as 7y or 84mo".to_owned())
            })?;
        }
        check(
            "labels",
            self.labels.len() <= MAX_LABELS,
            "at most 16 entries",
        )?;
        for (k, v) in &self.labels {
            check(
                "labels keys",
                (1..=MAX_LABEL_KEY).contains(&k.len())
                    && all_chars(k, |b| {
                        b.is_ascii_lowercase()
                            || b.is_ascii_digit()
                            || matches!(b, b'_' | b'.' | b'-')
                    }),
                "1 to 64 of a-z, 0-9, '_', '.', '-'",
            )?;
            check(
                "labels values",
                v.chars().count() <= MAX_LABEL_VALUE && !v.chars().any(char::is_control),
                "at most 256 characters without control characters",
            )?;
        }
        Ok(())
    }

    /// The retention override, parsed (valid after [`Self::validate`]).
    pub fn retention_period(&self) -> Option<RetentionPeriod> {
        self.retention.as_deref().and_then(|r| r.parse().ok())
    }

    /// Serialises compactly.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("request serialises")
    }
}

/// The JSON Schema of [`ArchiveRequestV1`].
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ArchiveRequestV1)).expect("schema serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_request_round_trips() {
        let body = br#"{"version":1,"transaction_id":"hksb7ba1b28130d24e015d694361bee4","merchant_biz_id":"e0c34a77f5ac40a5aa5e6ed20c350001",
            "completed_at":"2026-11-21T10:00:00Z","product":"eKYC","document_type":"00000008","merchant_user_ref":"user-42",
            "legal_hold":true,"retention":"7y","labels":{"team":"onboarding","case.id":"C-1"}}"#;
        let r = ArchiveRequestV1::parse(body).unwrap();
        assert_eq!(r.product.as_deref(), Some("eKYC"));
        assert_eq!(r.retention_period(), Some(RetentionPeriod::years(7)));
        assert_eq!(ArchiveRequestV1::parse(&r.to_json()).unwrap(), r);
        let minimal = ArchiveRequestV1::new("tx_1", "M1");
        assert_eq!(
            String::from_utf8(minimal.to_json()).unwrap(),
            r#"{"version":1,"transaction_id":"tx_1","merchant_biz_id":"M1"}"#
        );
    }

    #[test]
    fn malformed_messages_get_precise_reasons() {
        let cases: &[(&[u8], &str)] = &[
            (b"not json", "message is not JSON"),
            (b"\xff\xfe", "message is not JSON"),
            (b"[1,2]", "not a JSON object"),
            (br#"{"transaction_id":"t","merchant_biz_id":"m"}"#, "no integer version"),
            (br#"{"version":"1","transaction_id":"t","merchant_biz_id":"m"}"#, "no integer version"),
            (br#"{"version":2,"transaction_id":"t","merchant_biz_id":"m"}"#, "version 2 is not supported"),
            (br#"{"version":1,"merchant_biz_id":"m"}"#, "missing field `transaction_id`"),
            (br#"{"version":1,"transaction_id":"t","merchant_biz_id":"m","colour":"red"}"#, "unknown field `colour`"),
            (br#"{"version":1,"transaction_id":7,"merchant_biz_id":"m"}"#, "invalid type: integer"),
            (br#"{"version":1,"transaction_id":"../x","merchant_biz_id":"m"}"#, "transaction_id must be"),
            (br#"{"version":1,"transaction_id":"t","merchant_biz_id":"m-1"}"#, "merchant_biz_id must be"),
            (br#"{"version":1,"transaction_id":"t","merchant_biz_id":"m","completed_at":"yesterday"}"#, "input contains invalid characters"),
            (br#"{"version":1,"transaction_id":"t","merchant_biz_id":"m","retention":"forever"}"#, "retention must be"),
            (br#"{"version":1,"transaction_id":"t","merchant_biz_id":"m","labels":{"Bad Key":"v"}}"#, "labels keys must be"),
            (br#"{"version":1,"transaction_id":"t","merchant_biz_id":"m","legal_hold":"yes"}"#, "invalid type: string"),
        ];
        for (body, needle) in cases {
            let err = ArchiveRequestV1::parse(body).unwrap_err().to_string();
            assert!(
                err.contains(needle),
                "{:?}: {err:?} lacks {needle:?}",
                String::from_utf8_lossy(body)
            );
        }
        let big = format!(
            r#"{{"version":1,"transaction_id":"t","merchant_biz_id":"m","merchant_user_ref":"{}"}}"#,
            "x".repeat(MAX_BODY_BYTES)
        );
        assert_eq!(
            ArchiveRequestV1::parse(big.as_bytes()),
            Err(MessageError::TooLarge(big.len()))
        );
        let many: BTreeMap<String, String> =
            (0..17).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        let r = ArchiveRequestV1 {
            labels: many,
            ..ArchiveRequestV1::new("t", "m")
        };
        assert!(
            ArchiveRequestV1::parse(&r.to_json())
                .unwrap_err()
                .to_string()
                .contains("at most 16")
        );
    }

    #[test]
    fn reasons_never_echo_values() {
        let bodies: [&[u8]; 5] = [
            br#"{"version":1,"transaction_id":"t","merchant_biz_id":"m","completed_at":"CHAN TAI MAN"}"#,
            // An escaped quote inside the value must not end the redaction early.
            br#"{"version":1,"transaction_id":"t","merchant_biz_id":"m","completed_at":"x\"CHAN TAI MAN"}"#,
            br#"{"version":1,"transaction_id":"t","merchant_biz_id":"m","completed_at":"x\\\"CHAN"}"#,
            br#"{"version":1,"transaction_id":"t","merchant_biz_id":"m","CHAN TAI MAN":1}"#,
            br#"{"version":1,"transaction_id":"t","merchant_biz_id":"m","product":"CHAN TAI MAN"}"#,
        ];
        for body in bodies {
            let err = ArchiveRequestV1::parse(body).unwrap_err().to_string();
            assert!(!err.contains("CHAN"), "{err}");
            assert!(!err.contains("MAN"), "{err}");
        }
    }

    #[test]
    fn scrubbed_reasons_keep_field_names() {
        let body = br#"{"version":1,"transaction_id":"t","merchant_biz_id":"m","colour":1}"#;
        let err = ArchiveRequestV1::parse(body).unwrap_err().to_string();
        assert!(err.contains("`colour`"), "{err}");
    }

    #[test]
    fn the_field_list_is_the_schema_s() {
        let schema = json_schema();
        let mut published: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut fields = FIELDS.to_vec();
        published.sort_unstable();
        fields.sort_unstable();
        assert_eq!(published, fields);
    }

    /// Regenerate with `UPDATE_SCHEMAS=1 cargo test -p evidence`.
    #[test]
    fn published_schema_matches_the_types() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/schemas/archive-request-v1.schema.json");
        let generated = serde_json::to_string_pretty(&json_schema()).unwrap() + "\n";
        if std::env::var_os("UPDATE_SCHEMAS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let published = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            published == generated,
            "{} is out of date: run `UPDATE_SCHEMAS=1 cargo test -p evidence`",
            path.display()
        );
    }
}
