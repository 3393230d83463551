//! The request log: what clients sent, so tests can assert on it.
//!
//! Never holds a signature, secret or security-token value; only whether a token was sent.
//! Bounded: the oldest entries are dropped beyond the configured capacity.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::faults::Endpoint;

/// How a request was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignatureScheme {
    /// `HMAC-SHA1` signature in the query or form (`Signature` parameter).
    V2,
    /// `ACS3-HMAC-SHA256` `Authorization` header.
    V3,
    /// OSS V1 query-string signature (the video URL).
    Oss,
    /// No signature.
    None,
}

/// One logged request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestLogEntry {
    /// Position in the log (increasing, never reused; survives `clear`).
    pub seq: u64,
    /// Emulator time the request arrived.
    pub time: DateTime<Utc>,
    /// Which endpoint.
    pub endpoint: Endpoint,
    /// HTTP method.
    pub method: String,
    /// Request path (without the query).
    pub path: String,
    /// Signature scheme.
    pub scheme: SignatureScheme,
    /// The access key id the request claimed (`AccessKeyId`, V3 `Credential`, `OSSAccessKeyId`).
    pub access_key_id: Option<String>,
    /// `Action` (V2 parameter or V3 `x-acs-action`).
    pub action: Option<String>,
    /// `Version` (V2 parameter or V3 `x-acs-version`).
    pub version: Option<String>,
    /// V2 `Format` parameter.
    pub format: Option<String>,
    /// Business parameters (query and form), without the common signing parameters.
    pub params: BTreeMap<String, String>,
    /// The signature nonce (`SignatureNonce` / `x-acs-signature-nonce`).
    pub nonce: Option<String>,
    /// The client's timestamp (`Timestamp` / `x-acs-date`).
    pub timestamp: Option<String>,
    /// Whether a security token was sent (its value is never logged).
    pub has_security_token: bool,
    /// Transaction id (CheckResult parameter, or the video object name).
    pub transaction_id: Option<String>,
    /// `Range` header (video).
    pub range: Option<String>,
    /// Response status.
    pub status: u16,
    /// `Success`, the error code, or for video `OK` / `PartialContent`.
    pub code: String,
    /// Injected faults (`throttling`, `latency+cut_after`, ...).
    pub fault: Option<String>,
    /// The response's request id.
    pub request_id: String,
}

/// A bounded ring buffer of [`RequestLogEntry`].
#[derive(Debug)]
pub(crate) struct RequestLog {
    capacity: usize,
    inner: Mutex<(u64, VecDeque<RequestLogEntry>)>,
}

impl RequestLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new((0, VecDeque::new())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, VecDeque<RequestLogEntry>)> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, mut entry: RequestLogEntry) {
        let mut inner = self.lock();
        entry.seq = inner.0;
        inner.0 += 1;
        if inner.1.len() >= self.capacity {
            inner.1.pop_front();
        }
        inner.1.push_back(entry);
    }

    pub(crate) fn entries(&self) -> Vec<RequestLogEntry> {
        self.lock().1.iter().cloned().collect()
    }

    pub(crate) fn clear(&self) {
        self.lock().1.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> RequestLogEntry {
        RequestLogEntry {
            seq: 0,
            time: Utc::now(),
            endpoint: Endpoint::CheckResult,
            method: "POST".into(),
            path: "/".into(),
            scheme: SignatureScheme::V3,
            access_key_id: None,
            action: None,
            version: None,
            format: None,
            params: BTreeMap::new(),
            nonce: None,
            timestamp: None,
            has_security_token: false,
            transaction_id: None,
            range: None,
            status: 200,
            code: "Success".into(),
            fault: None,
            request_id: String::new(),
        }
    }

    #[test]
    fn ring_buffer_drops_oldest() {
        let log = RequestLog::new(3);
        for _ in 0..5 {
            log.push(entry());
        }
        let seqs: Vec<u64> = log.entries().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [2, 3, 4]);
        log.clear();
        assert!(log.entries().is_empty());
        log.push(entry());
        assert_eq!(log.entries()[0].seq, 5);
    }
}
