//! Where the objects of a bundle live, relative to the store's root.
//!
//! ```text
//! <transaction id>/manifest.json                     the commit point, written last
//! <transaction id>/<attempt id>/checkresult.json     raw CheckResult body, byte for byte
//! <transaction id>/<attempt id>/<field>.<ext>        decoded images (faceImg.jpg, idImage.png, ...)
//! <transaction id>/<attempt id>/video.webm           the evidence video
//! ```
//!
//! The transaction prefix is deterministic, so a retry lands in the same place; artifacts are
//! per attempt, so two workers racing on one transaction never overwrite each other's bytes.

use chrono::{DateTime, Utc};

/// Name of the manifest object inside a transaction's prefix.
pub const MANIFEST_NAME: &str = "manifest.json";
/// Name of the raw `CheckResult` body inside an attempt.
pub const RESPONSE_NAME: &str = "checkresult.json";

/// Why a key cannot be built from a transaction id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// Transaction ids become key segments, so they are restricted to `[A-Za-z0-9_-]{1,64}`.
    #[error("transaction id must be 1 to 64 characters of letters, digits, '-' and '_'")]
    TransactionId,
}

fn check_segment(s: &str) -> Result<(), LayoutError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(LayoutError::TransactionId)
    }
}

/// Identifies one archiving attempt; sortable by start time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttemptId(String);

impl AttemptId {
    /// `20261121T232000Z-1a2b3c4d`: the start time and 32 random bits from the caller.
    pub fn new(started: DateTime<Utc>, random: u32) -> Self {
        Self(format!("{}-{random:08x}", started.format("%Y%m%dT%H%M%SZ")))
    }

    /// The id as a key segment.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AttemptId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The keys of one transaction's bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleKeys {
    transaction_id: String,
}

impl BundleKeys {
    /// Keys for `transaction_id`, which must be key-safe.
    pub fn new(transaction_id: &str) -> Result<Self, LayoutError> {
        check_segment(transaction_id)?;
        Ok(Self {
            transaction_id: transaction_id.to_owned(),
        })
    }

    /// `<transaction id>/`: every object of the bundle starts with it.
    pub fn prefix(&self) -> String {
        format!("{}/", self.transaction_id)
    }

    /// `<transaction id>/manifest.json`.
    pub fn manifest(&self) -> String {
        format!("{}/{MANIFEST_NAME}", self.transaction_id)
    }

    /// `<transaction id>/<attempt>/`.
    pub fn attempt_prefix(&self, attempt: &AttemptId) -> String {
        format!("{}/{attempt}/", self.transaction_id)
    }

    /// `<transaction id>/<attempt>/<name>`.
    pub fn artifact(&self, attempt: &AttemptId, name: &str) -> String {
        format!("{}/{attempt}/{name}", self.transaction_id)
    }
}

/// The transaction id of a manifest key (`<tx>/manifest.json`), if it is one.
pub fn transaction_of_manifest_key(key: &str) -> Option<&str> {
    let tx = key.strip_suffix(MANIFEST_NAME)?.strip_suffix('/')?;
    check_segment(tx).ok().map(|()| tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_deterministic_per_transaction_and_scoped_per_attempt() {
        let keys = BundleKeys::new("hksb7ba1b28130d24e015d694361bee4").unwrap();
        let started: DateTime<Utc> = "2026-11-21T23:20:00Z".parse().unwrap();
        let attempt = AttemptId::new(started, 0x1a2b3c4d);
        assert_eq!(attempt.as_str(), "20261121T232000Z-1a2b3c4d");
        assert_eq!(keys.prefix(), "hksb7ba1b28130d24e015d694361bee4/");
        assert_eq!(
            keys.manifest(),
            "hksb7ba1b28130d24e015d694361bee4/manifest.json"
        );
        assert_eq!(
            keys.artifact(&attempt, "video.webm"),
            "hksb7ba1b28130d24e015d694361bee4/20261121T232000Z-1a2b3c4d/video.webm"
        );
        assert!(
            keys.artifact(&attempt, "x")
                .starts_with(&keys.attempt_prefix(&attempt))
        );
        assert_eq!(
            transaction_of_manifest_key("hksb7ba1b28130d24e015d694361bee4/manifest.json"),
            Some("hksb7ba1b28130d24e015d694361bee4")
        );
        assert_eq!(transaction_of_manifest_key("a/b/manifest.json"), None);
        assert_eq!(transaction_of_manifest_key("manifest.json"), None);
    }

    #[test]
    fn unsafe_transaction_ids_are_refused() {
        for bad in ["", "../etc", "a/b", "a b", &"x".repeat(65), "ü"] {
            assert_eq!(
                BundleKeys::new(bad),
                Err(LayoutError::TransactionId),
                "{bad:?}"
            );
        }
    }
}
