//! The error type of every object store.

use std::io;

/// Why an object-store operation failed.
///
/// Messages are lowercase, name the operation and the key (relative to the store's root), and
/// never contain object content or credentials. Use [`StoreError::is_retryable`] to decide
/// whether the same operation may succeed later.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A create-only-if-absent put found the key taken (HTTP 412, or the hard link lost).
    #[error("object {key:?} already exists")]
    AlreadyExists {
        /// The key that exists.
        key: String,
    },

    /// A concurrent conditional write to the same key was in progress (HTTP 409
    /// `ConditionalRequestConflict`); retrying may succeed (and then probably with
    /// [`StoreError::AlreadyExists`]).
    #[error("conflicting concurrent write to {key:?}")]
    Conflict {
        /// The contended key.
        key: String,
    },

    /// The store received bytes that do not match the checksum sent with them (`BadDigest`).
    #[error("checksum mismatch: the store rejected the body of {key:?}")]
    ChecksumMismatch {
        /// The key being written.
        key: String,
    },

    /// The store refused to delete a locked object version (retention or legal hold).
    #[error("object {key:?} is locked and cannot be deleted")]
    ObjectLocked {
        /// The locked key.
        key: String,
    },

    /// The key violates the key rules (see the module docs).
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The rejected key (debug-escaped in the message).
        key: String,
        /// Which rule it breaks.
        reason: &'static str,
    },

    /// The put options are invalid (metadata, content type, lock date or size).
    #[error("invalid put options: {0}")]
    InvalidOptions(String),

    /// Reading the caller's body stream failed; nothing was stored at the key.
    ///
    /// Not retryable by the store: the stream is consumed. Whether re-opening the source and
    /// trying again makes sense is the caller's decision (it knows the source).
    #[error("reading the body for {key:?} failed: {source}")]
    Body {
        /// The key being written.
        key: String,
        /// The stream's error.
        #[source]
        source: io::Error,
    },

    /// The store could not be reached or answered with a transient failure (network error,
    /// timeout, 5xx, throttling): retry later.
    #[error("object store unavailable during {op} of {key:?}: {message}")]
    Unavailable {
        /// The operation (`put`, `upload part`, …).
        op: &'static str,
        /// The key (empty for bucket-level operations).
        key: String,
        /// What went wrong, without secrets.
        message: String,
    },

    /// Permanent misconfiguration: missing bucket or directory, bad credentials, access denied,
    /// a feature the store does not support (such as object lock on the local directory).
    #[error("object store configuration error: {0}")]
    Configuration(String),

    /// A local file-system error.
    #[error("i/o error during {op} of {key:?}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The key.
        key: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// Anything else (unexpected responses, a key that collides with a prefix on disk).
    #[error("object store error during {op} of {key:?}: {message}")]
    Other {
        /// The operation.
        op: &'static str,
        /// The key.
        key: String,
        /// What went wrong, without secrets.
        message: String,
    },
}

impl StoreError {
    /// Whether repeating the same operation later may succeed.
    ///
    /// True for [`StoreError::Unavailable`], [`StoreError::Conflict`] and transient local I/O
    /// errors (interrupted, timed out). Everything else is permanent for this request.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unavailable { .. } | Self::Conflict { .. } => true,
            Self::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::Interrupted | io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            _ => false,
        }
    }

    pub(crate) fn io(op: &'static str, key: &str, source: io::Error) -> Self {
        Self::Io {
            op,
            key: key.to_owned(),
            source,
        }
    }

    pub(crate) fn other(op: &'static str, key: &str, message: impl Into<String>) -> Self {
        Self::Other {
            op,
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_classes() {
        let k = || "a/b".to_owned();
        assert!(
            StoreError::Unavailable {
                op: "put",
                key: k(),
                message: "x".into()
            }
            .is_retryable()
        );
        assert!(StoreError::Conflict { key: k() }.is_retryable());
        assert!(!StoreError::AlreadyExists { key: k() }.is_retryable());
        assert!(!StoreError::ChecksumMismatch { key: k() }.is_retryable());
        assert!(!StoreError::Configuration("x".into()).is_retryable());
        assert!(!StoreError::io("put", "k", io::Error::other("disk")).is_retryable());
        assert!(StoreError::io("put", "k", io::ErrorKind::Interrupted.into()).is_retryable());
    }

    #[test]
    fn messages_are_lowercase_and_escape_keys() {
        let e = StoreError::InvalidKey {
            key: "a\nb".into(),
            reason: "control character",
        };
        assert_eq!(e.to_string(), r#"invalid key "a\nb": control character"#);
        let e = StoreError::AlreadyExists {
            key: "tx/manifest.json".into(),
        };
        assert_eq!(e.to_string(), r#"object "tx/manifest.json" already exists"#);
    }
}
