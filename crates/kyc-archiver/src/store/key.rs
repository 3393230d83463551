//! Key rules shared by every store.

use super::StoreError;

/// Longest key, in bytes (S3's limit; the S3 store also counts its root prefix).
pub const MAX_KEY_BYTES: usize = 1024;

/// Longest key segment, in bytes: file names are limited to 255 bytes and the local store needs
/// room for its temporary-file decoration (`.<name>.tmp-<uuid>`).
pub const MAX_SEGMENT_BYTES: usize = 200;

fn invalid(key: &str, reason: &'static str) -> StoreError {
    StoreError::InvalidKey {
        key: key.to_owned(),
        reason,
    }
}

fn check_segment(key: &str, segment: &str) -> Result<(), StoreError> {
    if segment.is_empty() {
        return Err(invalid(key, "empty segment"));
    }
    if segment.starts_with('.') {
        return Err(invalid(key, "segment starts with '.'"));
    }
    if segment.len() > MAX_SEGMENT_BYTES {
        return Err(invalid(key, "segment longer than 200 bytes"));
    }
    Ok(())
}

fn check_common(key: &str) -> Result<(), StoreError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(invalid(key, "longer than 1024 bytes"));
    }
    if key.chars().any(char::is_control) {
        return Err(invalid(key, "control character"));
    }
    if key.starts_with('/') {
        return Err(invalid(key, "leading '/'"));
    }
    Ok(())
}

/// Checks an object key: non-empty, relative, `/`-separated segments that are non-empty, do not
/// start with `.` (so no `.` or `..`) and are at most [`MAX_SEGMENT_BYTES`] long, no control
/// characters, at most [`MAX_KEY_BYTES`] in all.
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(invalid(key, "empty key"));
    }
    check_common(key)?;
    key.split('/').try_for_each(|s| check_segment(key, s))
}

/// Checks a listing prefix: empty (everything), or a key prefix whose complete segments follow
/// the key rules; the last segment may be empty (a trailing `/`) or partial, but may not start
/// with `.`.
pub fn validate_prefix(prefix: &str) -> Result<(), StoreError> {
    if prefix.is_empty() {
        return Ok(());
    }
    check_common(prefix)?;
    let (complete, last) = match prefix.rsplit_once('/') {
        Some((complete, last)) => (Some(complete), last),
        None => (None, prefix),
    };
    if let Some(complete) = complete {
        complete
            .split('/')
            .try_for_each(|s| check_segment(prefix, s))?;
    }
    if last.starts_with('.') {
        return Err(invalid(prefix, "segment starts with '.'"));
    }
    if last.len() > MAX_SEGMENT_BYTES {
        return Err(invalid(prefix, "segment longer than 200 bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_keys() {
        for k in [
            "a",
            "manifest.json",
            "tx-1/manifest.json",
            "tx-1/4f2a/video.mp4",
            "a b/c..d/e.",
            "ünïcödé/ok",
        ] {
            validate_key(k).unwrap_or_else(|e| panic!("{k:?}: {e}"));
        }
        validate_key(&"x".repeat(MAX_SEGMENT_BYTES)).unwrap();
    }

    #[test]
    fn invalid_keys() {
        let long_key = ["y"; 600].join("/");
        for k in [
            "",
            "/a",
            "a/",
            "a//b",
            "..",
            "a/../b",
            ".",
            "a/./b",
            ".hidden",
            "a/.meta/b",
            "a\nb",
            "a\0b",
            "a\u{7f}",
            "a\u{85}",
            &"x".repeat(MAX_SEGMENT_BYTES + 1),
            &long_key,
        ] {
            assert!(
                matches!(validate_key(k), Err(StoreError::InvalidKey { .. })),
                "{k:?} accepted"
            );
        }
    }

    #[test]
    fn prefixes() {
        for p in ["", "a", "a/", "a/b", "a/b/", "tx-00"] {
            validate_prefix(p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
        }
        for p in ["/", "/a", "a//", "a//b", "../", "a/..", "a/.m", ".", "a\tb"] {
            assert!(validate_prefix(p).is_err(), "{p:?} accepted");
        }
    }
}
