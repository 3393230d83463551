//! Object stores: one trait ([`ObjectStore`]), two implementations ([`LocalDirStore`],
//! [`S3Store`]) and one [`conformance`] suite that both must pass.
//!
//! The pipeline writes an evidence bundle as a handful of artifacts (small ones from memory with
//! [`ObjectStore::put`], the possibly multi-GiB video with [`ObjectStore::put_stream`]) and then
//! the manifest, the commit point, with [`PutOptions::if_none_match`] (create only if absent).
//!
//! # Keys
//!
//! Keys are relative to the store's root (a directory, or a bucket plus prefix), `/`-separated,
//! and validated identically by every store (see [`validate_key`]): no empty key, no leading `/`,
//! no empty segment (so no trailing `/` and no `//`), no segment starting with `.` (which also
//! excludes `.` and `..`; the local store keeps its own bookkeeping in hidden entries), no
//! control characters, segments of at most [`MAX_SEGMENT_BYTES`] bytes and keys of at most
//! [`MAX_KEY_BYTES`] bytes. A rejected key is a [`StoreError::InvalidKey`].
//!
//! # Hashes
//!
//! Every put computes the SHA-256 of the bytes as they pass (never by re-reading), returns it in
//! [`Stored::sha256`], records it with the object (metadata key [`SHA256_METADATA_KEY`], exposed
//! by [`ObjectStore::head`]), and, where the store supports it, sends it so that the store checks
//! the bytes it received.
//!
//! # Errors and logging
//!
//! Error messages name the operation and the key, never object content and never credentials.
//! Tracing events carry `key` and `bytes` fields only.

mod error;
mod key;
mod local;
mod s3;

pub mod conformance;

use std::collections::BTreeMap;
use std::fmt::Debug;

use async_trait::async_trait;
use futures::stream::BoxStream;

pub use error::StoreError;
pub use key::{MAX_KEY_BYTES, MAX_SEGMENT_BYTES, validate_key, validate_prefix};
pub use local::LocalDirStore;
pub use s3::{
    ChecksumMode, DEFAULT_PART_SIZE, DEFAULT_UPLOAD_CONCURRENCY, MAX_PARTS, MIN_PART_SIZE,
    PendingUpload, S3Config, S3Credentials, S3Store, Sse, store_error_from_sdk,
};

/// Re-exported so that users of the trait need not depend on `bytes` themselves.
pub use bytes::Bytes;
/// Re-exported so that users of [`ObjectLock`] need not depend on `chrono` themselves.
pub use chrono::{DateTime, Utc};

/// Metadata key under which every store records the object's SHA-256 (lowercase hex).
///
/// Reserved: callers may not pass it in [`PutOptions::metadata`].
pub const SHA256_METADATA_KEY: &str = "sha256";

/// Largest total size, in bytes, of the caller's metadata keys and values.
///
/// S3 allows 2 KiB of user metadata in all; the rest is left for [`SHA256_METADATA_KEY`].
pub const MAX_METADATA_BYTES: usize = 1900;

/// Content type used when a caller does not set one.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// A stream of object bytes, as produced by an HTTP download or a file.
pub type ByteStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// How an object is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOptions {
    /// MIME type stored with the object (`Content-Type` on S3, the sidecar on disk).
    pub content_type: String,
    /// Caller metadata: keys of lowercase ASCII letters, digits and `-`; values of printable
    /// ASCII without leading or trailing spaces; at most [`MAX_METADATA_BYTES`] in all; the key
    /// [`SHA256_METADATA_KEY`] is reserved.
    pub metadata: BTreeMap<String, String>,
    /// Create only if absent: a put to an existing key fails with
    /// [`StoreError::AlreadyExists`] and leaves the existing object untouched.
    pub if_none_match: bool,
    /// Object-lock retention (S3 only; the local store refuses it).
    pub lock: Option<ObjectLock>,
    /// Place a legal hold on the object (S3 only; the local store refuses it).
    pub legal_hold: bool,
    /// Expected total size of a streamed body, if known (for example from `Content-Length`).
    ///
    /// The S3 store grows its part size so that the object fits in [`MAX_PARTS`] parts. Without
    /// a hint the largest streamable object is `part_size × 10,000` (78.125 GiB with the 8 MiB
    /// default). Ignored by [`ObjectStore::put`] and by the local store.
    pub size_hint: Option<u64>,
}

impl Default for PutOptions {
    fn default() -> Self {
        Self {
            content_type: DEFAULT_CONTENT_TYPE.to_owned(),
            metadata: BTreeMap::new(),
            if_none_match: false,
            lock: None,
            legal_hold: false,
            size_hint: None,
        }
    }
}

impl PutOptions {
    /// Options with the given content type and everything else default.
    pub fn with_content_type(content_type: impl Into<String>) -> Self {
        Self {
            content_type: content_type.into(),
            ..Self::default()
        }
    }

    /// Checks the content type, the metadata and the lock date; every store calls it first.
    pub fn validate(&self) -> Result<(), StoreError> {
        let invalid = |what: String| Err(StoreError::InvalidOptions(what));
        if self.content_type.is_empty()
            || self.content_type.len() > 255
            || !self.content_type.bytes().all(|b| (0x20..0x7f).contains(&b))
        {
            return invalid(
                "content type must be 1 to 255 characters of printable ascii".to_owned(),
            );
        }
        let mut total = 0usize;
        for (k, v) in &self.metadata {
            if k.is_empty()
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return invalid(format!(
                    "metadata key {k:?} must be lowercase ascii letters, digits and '-'"
                ));
            }
            if k == SHA256_METADATA_KEY {
                return invalid(format!("metadata key {k:?} is reserved for the store"));
            }
            if !v.bytes().all(|b| (0x20..0x7f).contains(&b)) || v.trim() != v {
                return invalid(format!(
                    "metadata value of {k:?} must be printable ascii without leading or \
                     trailing spaces"
                ));
            }
            total += k.len() + v.len();
        }
        if total > MAX_METADATA_BYTES {
            return invalid(format!(
                "metadata is {total} bytes, more than the {MAX_METADATA_BYTES} allowed"
            ));
        }
        if let Some(lock) = &self.lock
            && lock.retain_until <= Utc::now()
        {
            return invalid("object lock retain-until date is not in the future".to_owned());
        }
        Ok(())
    }
}

/// Object-lock retention applied when an object is created (WORM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectLock {
    /// Governance (bypassable with a special permission) or compliance (nobody can shorten it).
    pub mode: LockMode,
    /// Until when the object version cannot be deleted or overwritten.
    pub retain_until: DateTime<Utc>,
}

/// Object-lock retention mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    /// Principals with `s3:BypassGovernanceRetention` may delete or shorten it.
    Governance,
    /// Nobody, not even the account root, can delete the version or shorten the retention.
    Compliance,
}

/// What a successful put stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The key, relative to the store's root.
    pub key: String,
    /// Number of bytes stored.
    pub bytes: u64,
    /// SHA-256 of the bytes, computed while they were written.
    pub sha256: [u8; 32],
    /// Version id on a versioned bucket; `None` elsewhere (and for the local store).
    pub version_id: Option<String>,
    /// Entity tag returned by S3 (quotes included as sent); `None` for the local store.
    pub e_tag: Option<String>,
}

impl Stored {
    /// The SHA-256 as lowercase hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// What [`ObjectStore::head`] and [`ObjectStore::list`] know about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The key, relative to the store's root.
    pub key: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Last modification time, when the store reports it.
    pub last_modified: Option<DateTime<Utc>>,
    /// Content type (from `head` only; `None` in listings).
    pub content_type: Option<String>,
    /// Version id of the current version (S3 `head` on a versioned bucket only).
    pub version_id: Option<String>,
    /// Caller metadata plus [`SHA256_METADATA_KEY`] (from `head` only; empty in listings).
    pub metadata: BTreeMap<String, String>,
}

impl ObjectInfo {
    /// The recorded SHA-256, if the store has one for this object and it is well-formed.
    pub fn sha256(&self) -> Option<[u8; 32]> {
        let hex = self.metadata.get(SHA256_METADATA_KEY)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex, &mut out).ok()?;
        Some(out)
    }
}

/// An object store holding evidence bundles.
///
/// Object-safe; used as `Arc<dyn ObjectStore>`. Every method validates its key first.
#[async_trait]
pub trait ObjectStore: Send + Sync + Debug {
    /// Where the store points, for logs: `s3://bucket/prefix` or `file:///dir` (no secrets).
    fn describe(&self) -> String;

    /// Stores an in-memory body. The SHA-256 is computed here, sent to the store to verify
    /// (S3: `x-amz-checksum-sha256` or `Content-MD5` depending on the checksum mode) and recorded
    /// in the metadata key [`SHA256_METADATA_KEY`].
    async fn put(&self, key: &str, body: Bytes, opts: &PutOptions) -> Result<Stored, StoreError>;

    /// Stores a streamed body with bounded memory, hashing while streaming. If the body stream
    /// fails the error is [`StoreError::Body`] and nothing is visible at the key.
    async fn put_stream(
        &self,
        key: &str,
        body: ByteStream,
        opts: &PutOptions,
    ) -> Result<Stored, StoreError>;

    /// Reads a small object (such as the manifest) into memory; `None` if absent.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError>;

    /// Streams an object (verification re-hashes videos this way); `None` if absent.
    async fn get_stream(&self, key: &str) -> Result<Option<ByteStream>, StoreError>;

    /// Size, content type and metadata of an object; `None` if absent.
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError>;

    /// Every object whose key starts with `prefix` (any string prefix, not only whole
    /// segments; `""` lists everything), sorted by key. Paginates internally. Listed entries
    /// carry size and modification time only.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError>;

    /// Deletes an object. Deleting an absent key succeeds. On a versioned S3 bucket this adds a
    /// delete marker (which object lock permits) and older versions remain.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Readiness: the bucket or directory is reachable (and, for a directory, writable).
    async fn check(&self) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_options_validation() {
        assert!(PutOptions::default().validate().is_ok());
        let mut o = PutOptions::default();
        o.metadata.insert("transaction-id".into(), "tx-1".into());
        assert!(o.validate().is_ok());
        for (k, v) in [
            ("Upper", "x"),
            ("under_score", "x"),
            ("", "x"),
            ("sha256", "x"),
            ("k", " padded"),
            ("k", "caf\u{e9}"),
            ("k", "a\nb"),
        ] {
            let mut o = PutOptions::default();
            o.metadata.insert(k.into(), v.into());
            assert!(
                matches!(o.validate(), Err(StoreError::InvalidOptions(_))),
                "{k:?}={v:?} accepted"
            );
        }
        let mut o = PutOptions::default();
        o.metadata
            .insert("big".into(), "x".repeat(MAX_METADATA_BYTES));
        assert!(o.validate().is_err());
        let o = PutOptions::with_content_type("");
        assert!(o.validate().is_err());
        let o = PutOptions {
            lock: Some(ObjectLock {
                mode: LockMode::Compliance,
                retain_until: Utc::now() - chrono::Duration::seconds(1),
            }),
            ..PutOptions::default()
        };
        assert!(o.validate().is_err());
    }

    #[test]
    fn object_info_sha256() {
        let mut info = ObjectInfo {
            key: "k".into(),
            bytes: 0,
            last_modified: None,
            content_type: None,
            version_id: None,
            metadata: BTreeMap::new(),
        };
        assert_eq!(info.sha256(), None);
        info.metadata
            .insert(SHA256_METADATA_KEY.into(), "ab".repeat(32));
        assert_eq!(info.sha256(), Some([0xab; 32]));
        info.metadata
            .insert(SHA256_METADATA_KEY.into(), "zz".into());
        assert_eq!(info.sha256(), None);
    }
}
