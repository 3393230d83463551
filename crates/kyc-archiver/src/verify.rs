//! Re-reading stored bundles: every hash recomputed, every object accounted for.
//!
//! The judging is [`evidence::verify`]'s; this module does the reading.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use evidence::layout::{BundleKeys, MANIFEST_NAME, transaction_of_manifest_key};
use evidence::manifest::Manifest;
use evidence::verify::{Finding, Listed, judge_hash, plan};
use futures::StreamExt as _;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::store::{ObjectStore, StoreError};

/// How hard to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Sizes plus the SHA-256 the store recorded at write time (cheap; used on redelivery).
    Quick,
    /// Sizes plus every byte re-read and re-hashed.
    Full,
}

/// Which bundles to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every bundle in the store.
    All,
    /// One transaction.
    Transaction(String),
    /// Bundles whose verification completed (or, when unknown, were archived) in
    /// `[from, to)`.
    Range {
        /// Inclusive start.
        from: DateTime<Utc>,
        /// Exclusive end.
        to: DateTime<Utc>,
    },
}

/// The findings of one bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleReport {
    /// The transaction.
    pub transaction_id: String,
    /// Artifacts checked.
    pub artifacts: usize,
    /// Bytes re-hashed.
    pub bytes_hashed: u64,
    /// What is wrong; empty when the bundle is intact.
    pub findings: Vec<Finding>,
}

/// The findings of a verification run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// One entry per bundle examined.
    pub bundles: Vec<BundleReport>,
}

impl VerifyReport {
    /// Number of findings over all bundles.
    pub fn finding_count(&self) -> usize {
        self.bundles.iter().map(|b| b.findings.len()).sum()
    }
}

async fn sha256_of(
    store: &dyn ObjectStore,
    key: &str,
) -> Result<Option<(String, u64)>, StoreError> {
    let Some(mut stream) = store.get_stream(key).await? else {
        return Ok(None);
    };
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| StoreError::Io {
            op: "verify read",
            key: key.to_owned(),
            source: e,
        })?;
        bytes += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok(Some((hex::encode(hasher.finalize()), bytes)))
}

/// Checks one committed bundle. Store failures are errors; problems with the bundle are
/// findings.
pub async fn check_bundle(
    store: &dyn ObjectStore,
    manifest_key: &str,
    manifest: &Manifest,
    depth: Depth,
) -> Result<Vec<Finding>, StoreError> {
    let prefix = BundleKeys::new(&manifest.transaction_id)
        .map(|k| k.prefix())
        .unwrap_or_else(|_| manifest_key.trim_end_matches(MANIFEST_NAME).to_owned());
    let listing: Vec<Listed> = store
        .list(&prefix)
        .await?
        .into_iter()
        .map(|o| Listed {
            key: o.key,
            bytes: o.bytes,
        })
        .collect();
    check_listed(store, manifest_key, manifest, &listing, depth)
        .await
        .map(|(f, _)| f)
}

async fn check_listed(
    store: &dyn ObjectStore,
    manifest_key: &str,
    manifest: &Manifest,
    listing: &[Listed],
    depth: Depth,
) -> Result<(Vec<Finding>, u64), StoreError> {
    let plan = plan(manifest_key, manifest, listing);
    let mut findings = plan.findings;
    let mut hashed = 0;
    for artifact in plan.to_hash {
        if depth == Depth::Quick
            && let Some(info) = store.head(&artifact.key).await?
            && let Some(recorded) = info.metadata.get("sha256")
        {
            findings.extend(judge_hash(artifact, recorded));
            continue;
        }
        match sha256_of(store, &artifact.key).await? {
            None => findings.push(Finding::Missing {
                key: artifact.key.clone(),
            }),
            Some((actual, bytes)) => {
                hashed += bytes;
                findings.extend(judge_hash(artifact, &actual));
            }
        }
    }
    Ok((findings, hashed))
}

/// Verifies the selected bundles with every byte re-hashed. `on_bundle` is called after each
/// bundle with (bundles done, bundles selected).
pub async fn verify_store(
    store: &dyn ObjectStore,
    selection: &Selection,
    mut on_bundle: impl FnMut(usize, usize),
) -> Result<VerifyReport, StoreError> {
    let prefix = match selection {
        Selection::Transaction(tx) => {
            BundleKeys::new(tx)
                .map(|k| k.prefix())
                .map_err(|_| StoreError::InvalidKey {
                    key: tx.clone(),
                    reason: "not a transaction id",
                })?
        }
        _ => String::new(),
    };
    // Group every listed object by its transaction prefix.
    let mut by_tx: BTreeMap<String, Vec<Listed>> = BTreeMap::new();
    for object in store.list(&prefix).await? {
        let tx = object.key.split('/').next().unwrap_or_default().to_owned();
        by_tx.entry(tx).or_default().push(Listed {
            key: object.key,
            bytes: object.bytes,
        });
    }
    if let Selection::Transaction(tx) = selection
        && by_tx.is_empty()
    {
        let key = format!("{tx}/{MANIFEST_NAME}");
        return Ok(VerifyReport {
            bundles: vec![BundleReport {
                transaction_id: tx.clone(),
                artifacts: 0,
                bytes_hashed: 0,
                findings: vec![Finding::Missing { key }],
            }],
        });
    }

    let mut report = VerifyReport::default();
    let total = by_tx.len();
    for (done, (tx, listing)) in by_tx.into_iter().enumerate() {
        let manifest_key = format!("{tx}/{MANIFEST_NAME}");
        let bundle = if listing
            .iter()
            .any(|l| transaction_of_manifest_key(&l.key).is_some())
        {
            match store.get(&manifest_key).await? {
                None => finding(&tx, Finding::Missing { key: manifest_key }),
                Some(bytes) => match Manifest::from_json(&bytes) {
                    Err(e) => finding(
                        &tx,
                        Finding::ManifestUnreadable {
                            key: manifest_key,
                            reason: e.to_string(),
                        },
                    ),
                    Ok(manifest) => {
                        if let Selection::Range { from, to } = selection {
                            let when = manifest.completed_at.unwrap_or(manifest.archived_at);
                            if when < *from || when >= *to {
                                on_bundle(done + 1, total);
                                continue;
                            }
                        }
                        let (findings, bytes_hashed) =
                            check_listed(store, &manifest_key, &manifest, &listing, Depth::Full)
                                .await?;
                        BundleReport {
                            transaction_id: tx.clone(),
                            artifacts: manifest.artifacts.len(),
                            bytes_hashed,
                            findings,
                        }
                    }
                },
            }
        } else {
            finding(
                &tx,
                Finding::NoManifest {
                    prefix: format!("{tx}/"),
                },
            )
        };
        report.bundles.push(bundle);
        on_bundle(done + 1, total);
    }
    Ok(report)
}

fn finding(tx: &str, finding: Finding) -> BundleReport {
    BundleReport {
        transaction_id: tx.to_owned(),
        artifacts: 0,
        bytes_hashed: 0,
        findings: vec![finding],
    }
}
