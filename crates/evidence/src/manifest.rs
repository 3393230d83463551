//! `manifest.json`: what one bundle holds, written last, never overwritten.
//!
//! The schema is versioned (`schema` = [`SCHEMA_ID`]) and published as JSON Schema in
//! `docs/schemas/manifest-v1.schema.json`, generated from these types (a test keeps the file
//! in step). The manifest holds no images and no OCR personal fields: only identifiers chosen
//! by the merchant or the service, the verdict, hashes and the fate of the video.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::retention::Retention;

/// Identifier of this schema version, the value of the `schema` field.
pub const SCHEMA_ID: &str = "kyc-archiver/manifest/v1";

/// The manifest of one archived transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Manifest {
    /// Always [`SCHEMA_ID`].
    pub schema: String,
    /// `TransactionId` of the verification.
    pub transaction_id: String,
    /// `MerchantBizId` the result was fetched with.
    pub merchant_biz_id: String,
    /// Product code (`eKYC`, `ID_OCR`, `FACE_LIVENESS`, ...) when the requester knew it; the
    /// service does not echo it.
    pub product: Option<String>,
    /// Document type code (e.g. `00000008`) when known.
    pub document_type: Option<String>,
    /// The merchant's own reference for the end user, if given (an opaque id, not a name).
    pub merchant_user_ref: Option<String>,
    /// Free-form labels from the archive request.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// When the verification completed, if known.
    pub completed_at: Option<DateTime<Utc>>,
    /// When this bundle was committed.
    pub archived_at: DateTime<Utc>,
    /// The attempt whose artifacts this manifest names.
    pub attempt: String,
    /// The service's verdict.
    pub verdict: Verdict,
    /// Every stored object of the bundle except the manifest itself.
    pub artifacts: Vec<Artifact>,
    /// Image fields that were present but could not be stored, with the reason.
    #[serde(default)]
    pub image_errors: Vec<ImageIssue>,
    /// What happened to the evidence video.
    pub video: VideoRecord,
    /// Retention applied to the bundle's objects.
    pub retention: Retention,
    /// The software that wrote the bundle.
    pub archiver: ArchiverInfo,
}

/// The verdict of the verification, as returned by `CheckResult`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Verdict {
    /// `Result.Passed` as sent (`Y`, `N`, legacy `P`).
    pub passed: Option<String>,
    /// `Result.SubCode` as sent (`200`, `205`, ...).
    pub sub_code: Option<String>,
    /// The documented meaning of the SubCode for the product, when known.
    pub sub_code_meaning: Option<String>,
    /// `RequestId` of the `CheckResult` response that was archived.
    pub request_id: String,
    /// How many successful `CheckResult` calls this attempt made (more than one when the
    /// video URL had to be refreshed).
    pub checkresult_calls: u32,
}

/// One stored object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Artifact {
    /// Logical name: `checkresult`, `faceImg`, `idImage`, `idBackImage`, `video`, ...
    pub name: String,
    /// Object key relative to the store root.
    pub key: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the bytes, computed while they were written.
    pub sha256: String,
    /// MIME type (sniffed from the bytes for images).
    pub content_type: String,
    /// Where the bytes came from, e.g. `Result.ExtFaceInfo.faceImg`.
    pub source: String,
    /// Object version written, on versioned stores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

/// An image field that could not be stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImageIssue {
    /// Where the field was, e.g. `Result.ExtIdInfo.idImage`.
    pub source: String,
    /// Why it was not stored (never the content).
    pub reason: String,
}

/// What happened to the evidence video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VideoFate {
    /// Stored; the `video` artifact holds it.
    Archived,
    /// The result carried no `docVideoUrl` (product without video, or video not enabled).
    Absent,
    /// The service had deleted it (30 minutes after completion) before it could be fetched.
    Deleted,
    /// The URL broke the download policy (scheme, host, size) and was not fetched.
    Refused,
    /// Fetching failed for another reason while the video still existed.
    Failed,
}

/// The video's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VideoRecord {
    /// The outcome.
    pub fate: VideoFate,
    /// Why, when not archived (no URL, no personal data).
    pub reason: Option<String>,
    /// When the service deletes the video (completion + 30 minutes), if known.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Seconds left before deletion when the first download started (negative: too late).
    pub slack_seconds: Option<i64>,
    /// Download attempts made, including resumptions.
    pub fetch_attempts: u32,
    /// Fresh URLs obtained by calling `CheckResult` again.
    pub url_refreshes: u32,
}

/// The software that wrote a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ArchiverInfo {
    /// Always `kyc-archiver`.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// Why bytes are not a manifest this version understands.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON of the manifest's shape.
    #[error("manifest is not valid: {0}")]
    Invalid(#[from] serde_json::Error),
    /// A schema this version does not know.
    #[error("manifest schema {0:?} is not supported (expected {SCHEMA_ID})")]
    UnsupportedSchema(String),
}

impl Manifest {
    /// Serialises as pretty JSON with a trailing newline (stable key order).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("manifest serialises");
        out.push(b'\n');
        out
    }

    /// Parses and checks the schema id.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ManifestError> {
        let manifest: Manifest = serde_json::from_slice(bytes)?;
        if manifest.schema != SCHEMA_ID {
            return Err(ManifestError::UnsupportedSchema(manifest.schema));
        }
        Ok(manifest)
    }

    /// The artifact called `name`.
    pub fn artifact(&self, name: &str) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.name == name)
    }
}

/// The JSON Schema of [`Manifest`].
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Manifest)).expect("schema serialises")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::retention::{LockMode, RetentionPeriod};

    pub(crate) fn sample() -> Manifest {
        let done: DateTime<Utc> = "2026-11-21T10:00:00Z".parse().unwrap();
        Manifest {
            schema: SCHEMA_ID.to_owned(),
            transaction_id: "hks0123".to_owned(),
            merchant_biz_id: "m1".to_owned(),
            product: Some("eKYC".to_owned()),
            document_type: Some("00000008".to_owned()),
            merchant_user_ref: None,
            labels: BTreeMap::new(),
            completed_at: Some(done),
            archived_at: "2026-11-21T10:01:00Z".parse().unwrap(),
            attempt: "20261121T100100Z-00000001".to_owned(),
            verdict: Verdict {
                passed: Some("Y".to_owned()),
                sub_code: Some("200".to_owned()),
                sub_code_meaning: Some("verification passed".to_owned()),
                request_id: "130A2C10-B9EE-4D84-88E3-5384FF039795".to_owned(),
                checkresult_calls: 1,
            },
            artifacts: vec![Artifact {
                name: "video".to_owned(),
                key: "hks0123/20261121T100100Z-00000001/video.webm".to_owned(),
                bytes: 3,
                sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
                    .to_owned(),
                content_type: "video/webm".to_owned(),
                source: "Result.ExtFaceInfo.docVideoUrl".to_owned(),
                version_id: None,
            }],
            image_errors: vec![],
            video: VideoRecord {
                fate: VideoFate::Archived,
                reason: None,
                deleted_at: Some("2026-11-21T10:30:00Z".parse().unwrap()),
                slack_seconds: Some(1740),
                fetch_attempts: 1,
                url_refreshes: 0,
            },
            retention: Retention::compute(
                LockMode::Compliance,
                RetentionPeriod::years(5),
                false,
                Some(done),
                done,
            ),
            archiver: ArchiverInfo {
                name: "kyc-archiver".to_owned(),
                version: "0.1.0".to_owned(),
            },
        }
    }

    #[test]
    fn round_trips_and_checks_the_schema_id() {
        let m = sample();
        let json = m.to_json();
        assert_eq!(Manifest::from_json(&json).unwrap(), m);
        let text = String::from_utf8(json).unwrap();
        assert!(text.contains("\"fate\": \"archived\""));
        assert!(text.contains("\"mode\": \"COMPLIANCE\""));
        let other = text.replace(SCHEMA_ID, "kyc-archiver/manifest/v9");
        assert!(matches!(
            Manifest::from_json(other.as_bytes()),
            Err(ManifestError::UnsupportedSchema(s)) if s == "kyc-archiver/manifest/v9"
        ));
        assert!(matches!(
            Manifest::from_json(b"{}"),
            Err(ManifestError::Invalid(_))
        ));
    }

    /// The published schema is generated from the types; regenerate with
    /// `UPDATE_SCHEMAS=1 cargo test -p evidence`.
    #[test]
    fn published_schema_matches_the_types() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/schemas/manifest-v1.schema.json");
        let generated = serde_json::to_string_pretty(&json_schema()).unwrap() + "\n";
        if std::env::var_os("UPDATE_SCHEMAS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
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
