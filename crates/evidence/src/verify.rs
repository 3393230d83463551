//! Judging a stored bundle against its manifest.
//!
//! The store reads and hashes; this module decides. [`plan`] compares the manifest with the
//! listing of the transaction's prefix (missing objects, wrong sizes, objects nobody named)
//! and says which artifacts to re-hash; [`judge_hash`] compares a recomputed hash.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::layout::BundleKeys;
use crate::manifest::{Artifact, Manifest};

/// One thing wrong with a stored bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// The manifest could not be read or parsed.
    ManifestUnreadable {
        /// Key of the manifest.
        key: String,
        /// Why.
        reason: String,
    },
    /// The manifest belongs to another transaction than its key says.
    ManifestMisplaced {
        /// Key of the manifest.
        key: String,
    },
    /// Objects exist under a transaction prefix but no manifest commits them.
    NoManifest {
        /// The transaction prefix.
        prefix: String,
    },
    /// An artifact named by the manifest is not in the store.
    Missing {
        /// Its key.
        key: String,
    },
    /// An artifact's size differs from the manifest.
    SizeMismatch {
        /// Its key.
        key: String,
        /// Size recorded in the manifest.
        expected: u64,
        /// Size in the store.
        actual: u64,
    },
    /// An artifact's bytes no longer hash to the recorded SHA-256.
    Altered {
        /// Its key.
        key: String,
        /// Recorded SHA-256.
        expected: String,
        /// Recomputed SHA-256.
        actual: String,
    },
    /// An object under the transaction prefix that the manifest does not name.
    Extra {
        /// Its key.
        key: String,
    },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ManifestUnreadable { key, reason } => {
                write!(f, "unreadable manifest {key}: {reason}")
            }
            Self::ManifestMisplaced { key } => {
                write!(f, "manifest {key} names another transaction")
            }
            Self::NoManifest { prefix } => write!(f, "objects under {prefix} without a manifest"),
            Self::Missing { key } => write!(f, "missing {key}"),
            Self::SizeMismatch {
                key,
                expected,
                actual,
            } => {
                write!(f, "size of {key} is {actual}, manifest says {expected}")
            }
            Self::Altered {
                key,
                expected,
                actual,
            } => {
                write!(
                    f,
                    "altered {key}: sha256 {actual}, manifest says {expected}"
                )
            }
            Self::Extra { key } => write!(f, "extra object {key}"),
        }
    }
}

/// A stored object as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Key relative to the store root.
    pub key: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// What to do with one bundle: findings so far and artifacts whose bytes must be re-hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan<'m> {
    /// Problems found from the listing alone.
    pub findings: Vec<Finding>,
    /// Artifacts present with the right size; hash them and call [`judge_hash`].
    pub to_hash: Vec<&'m Artifact>,
}

/// Compares `manifest` (stored at `manifest_key`) with the objects listed under its
/// transaction prefix (the manifest itself may be in `listing`).
pub fn plan<'m>(manifest_key: &str, manifest: &'m Manifest, listing: &[Listed]) -> Plan<'m> {
    let mut findings = Vec::new();
    let expected_key = BundleKeys::new(&manifest.transaction_id).map(|k| k.manifest());
    if expected_key.as_deref() != Ok(manifest_key) {
        findings.push(Finding::ManifestMisplaced {
            key: manifest_key.to_owned(),
        });
    }
    let mut to_hash = Vec::new();
    let mut named: BTreeSet<&str> = BTreeSet::from([manifest_key]);
    for artifact in &manifest.artifacts {
        named.insert(&artifact.key);
        match listing.iter().find(|l| l.key == artifact.key) {
            None => findings.push(Finding::Missing {
                key: artifact.key.clone(),
            }),
            Some(l) if l.bytes != artifact.bytes => findings.push(Finding::SizeMismatch {
                key: artifact.key.clone(),
                expected: artifact.bytes,
                actual: l.bytes,
            }),
            Some(_) => to_hash.push(artifact),
        }
    }
    findings.extend(
        listing
            .iter()
            .filter(|l| !named.contains(l.key.as_str()))
            .map(|l| Finding::Extra { key: l.key.clone() }),
    );
    Plan { findings, to_hash }
}

/// Compares a recomputed hash (lowercase hex) with the manifest's.
pub fn judge_hash(artifact: &Artifact, actual_sha256: &str) -> Option<Finding> {
    (!artifact.sha256.eq_ignore_ascii_case(actual_sha256)).then(|| Finding::Altered {
        key: artifact.key.clone(),
        expected: artifact.sha256.clone(),
        actual: actual_sha256.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::tests::sample;

    fn listed(key: &str, bytes: u64) -> Listed {
        Listed {
            key: key.to_owned(),
            bytes,
        }
    }

    #[test]
    fn a_complete_bundle_has_nothing_but_hashes_to_check() {
        let m = sample();
        let video = &m.artifacts[0];
        let listing = [listed("hks0123/manifest.json", 900), listed(&video.key, 3)];
        let plan = plan("hks0123/manifest.json", &m, &listing);
        assert_eq!(plan.findings, vec![]);
        assert_eq!(plan.to_hash, vec![video]);
        assert_eq!(judge_hash(video, &video.sha256.to_uppercase()), None);
    }

    #[test]
    fn missing_resized_extra_altered_and_misplaced_are_reported() {
        let m = sample();
        let video = &m.artifacts[0];
        let p = plan(
            "hks0123/manifest.json",
            &m,
            &[listed("hks0123/stale/video.webm", 3)],
        );
        assert_eq!(
            p.findings,
            vec![
                Finding::Missing {
                    key: video.key.clone()
                },
                Finding::Extra {
                    key: "hks0123/stale/video.webm".to_owned()
                }
            ]
        );
        let p = plan("hks0123/manifest.json", &m, &[listed(&video.key, 4)]);
        assert_eq!(
            p.findings,
            vec![Finding::SizeMismatch {
                key: video.key.clone(),
                expected: 3,
                actual: 4
            }]
        );
        assert!(p.to_hash.is_empty());
        let altered = judge_hash(video, &"0".repeat(64)).unwrap();
        assert!(altered.to_string().starts_with("altered hks0123/"));
        let p = plan("other/manifest.json", &m, &[listed(&video.key, 3)]);
        assert_eq!(
            p.findings,
            vec![Finding::ManifestMisplaced {
                key: "other/manifest.json".to_owned()
            }]
        );
    }
}
