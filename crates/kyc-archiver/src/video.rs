//! Fetching the evidence video from `docVideoUrl`, racing its deadlines.
//!
//! A [`Pump`] downloads the video and feeds its bytes, in order, into a bounded channel that
//! the store consumes while uploading. When the connection breaks or the body comes up short
//! it resumes from the last byte received (HTTP `Range`), and when the URL has expired it asks
//! for a fresh one (by calling `CheckResult` again) until the video's 30-minute life is over.
//! The consumer never sees a gap or a repeated byte: either the whole video, then the end of
//! the stream, or an error that makes the store discard the upload.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use futures::future::BoxFuture;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use tokio::sync::{mpsc, oneshot};
use url::Url;

/// Hosts the video may come from, and what may be downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoPolicy {
    /// Host patterns allowed over https. A pattern is matched label by label; `*` matches any
    /// run of characters inside one label (`*.oss-*.aliyuncs.com`). A pattern may carry a
    /// port (`127.0.0.1:8787`), which must then match too.
    pub allowed_hosts: Vec<String>,
    /// Hosts (`host` or `host:port`) that may also be reached over plain http: only for the
    /// local emulator, never in production.
    pub allow_http_hosts: Vec<String>,
    /// Largest video accepted, in bytes.
    pub max_bytes: u64,
    /// Redirects followed at most (each hop is checked against this policy).
    pub max_redirects: usize,
}

/// The Alibaba Cloud OSS hosts evidence videos are served from.
pub const DEFAULT_ALLOWED_HOSTS: &[&str] = &["*.oss-*.aliyuncs.com", "*.oss-aliyuncs.com"];

impl Default for VideoPolicy {
    fn default() -> Self {
        Self {
            allowed_hosts: DEFAULT_ALLOWED_HOSTS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            allow_http_hosts: Vec::new(),
            max_bytes: 8 << 30,
            max_redirects: 3,
        }
    }
}

fn glob_label(pattern: &str, label: &str) -> bool {
    let Some((head, rest)) = pattern.split_once('*') else {
        return pattern == label;
    };
    let Some(tail) = label.strip_prefix(head) else {
        return false;
    };
    // `*` matches one or more characters, trying every split point (patterns are tiny).
    (1..=tail.len()).any(|i| tail.is_char_boundary(i) && glob_label(rest, &tail[i..]))
}

fn host_matches(pattern: &str, host: &str, port: Option<u16>) -> bool {
    let (pattern_host, pattern_port) = match pattern.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h, p.parse::<u16>().ok()),
        _ => (pattern, None),
    };
    if pattern_port.is_some() && pattern_port != port {
        return false;
    }
    let pattern_labels: Vec<&str> = pattern_host.split('.').collect();
    let host_labels: Vec<&str> = host.split('.').collect();
    pattern_labels.len() == host_labels.len()
        && pattern_labels
            .iter()
            .zip(&host_labels)
            .all(|(p, h)| glob_label(&p.to_ascii_lowercase(), &h.to_ascii_lowercase()))
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64 // carrier-grade NAT
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || (v6.segments()[0] & 0xffc0) == 0xfe80 // link local
                || v6.to_ipv4_mapped().is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

impl VideoPolicy {
    /// Why `url` may not be fetched, or `Ok` when it may. The reason names the rule, never
    /// the URL's query (which carries a signature).
    pub fn check(&self, url: &Url) -> Result<(), String> {
        let host = url.host_str().ok_or("video url has no host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = url.port_or_known_default();
        let explicit = |list: &[String]| {
            list.iter()
                .any(|p| !p.contains('*') && host_matches(p, host, port))
        };
        match url.scheme() {
            "https" => {}
            "http" if explicit(&self.allow_http_hosts) => {}
            "http" => return Err(format!("video url uses http, not https (host {host})")),
            other => return Err(format!("video url scheme {other:?} is not allowed")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("video url carries credentials".to_owned());
        }
        let allowed = self
            .allowed_hosts
            .iter()
            .any(|p| host_matches(p, host, port))
            || explicit(&self.allow_http_hosts);
        if !allowed {
            return Err(format!("video host {host} is not on the allowed host list"));
        }
        if let Ok(ip) = host.parse::<IpAddr>()
            && is_private(ip)
            && !explicit(&self.allowed_hosts)
            && !explicit(&self.allow_http_hosts)
        {
            return Err(format!("video host {host} is a private address"));
        }
        Ok(())
    }

    /// An HTTP client for videos: redirects re-checked against this policy, no cookies,
    /// connect and read timeouts.
    pub fn http_client(
        self: &Arc<Self>,
        connect_timeout: Duration,
        read_timeout: Duration,
    ) -> reqwest::Result<reqwest::Client> {
        let policy = Arc::clone(self);
        reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .read_timeout(read_timeout)
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > policy.max_redirects {
                    return attempt.error(format!("more than {} redirects", policy.max_redirects));
                }
                match policy.check(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(reason) => attempt.error(format!("redirect refused: {reason}")),
                }
            }))
            .build()
    }
}

/// Asks the service for a fresh `docVideoUrl` (by calling `CheckResult` again).
pub type Refresher = Box<dyn FnMut() -> BoxFuture<'static, Result<Option<String>, String>> + Send>;

/// Limits of the download loop.
#[derive(Debug, Clone)]
pub struct PumpLimits {
    /// Download attempts at most, first one and resumptions included.
    pub max_attempts: u32,
    /// Fresh URLs requested at most.
    pub max_refreshes: u32,
    /// First delay between attempts (doubling, with jitter).
    pub min_delay: Duration,
    /// Longest delay between attempts.
    pub max_delay: Duration,
}

impl Default for PumpLimits {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            max_refreshes: 4,
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// How the download ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PumpEnd {
    /// Every byte was handed to the consumer.
    Complete {
        /// Bytes delivered.
        bytes: u64,
    },
    /// The service has deleted the video (404, or its 30-minute life is over).
    Gone(String),
    /// The policy forbids the download (scheme, host, size).
    Refused(String),
    /// The video server kept failing (attempts or fresh URLs exhausted, refreshing the URL
    /// failed): worth another try while the video may still live.
    Unavailable(String),
    /// Downloading failed in a way another try would repeat (an unexpected answer, a length
    /// that changed between responses).
    Failed(String),
    /// The consumer stopped reading (the store failed); not the video's fault.
    ConsumerGone,
}

/// What the download loop did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PumpReport {
    /// How it ended.
    pub end: PumpEnd,
    /// HTTP requests made for the video.
    pub attempts: u32,
    /// Fresh URLs obtained.
    pub refreshes: u32,
}

/// The first response: enough to start the upload.
#[derive(Debug)]
pub struct Started {
    /// `Content-Length` of the whole video, when announced.
    pub total: Option<u64>,
    /// `Content-Type` as served.
    pub content_type: Option<String>,
    /// The first chunk of the body, to sniff the format from.
    pub first: Bytes,
}

/// What [`Pump::spawn`] returns: the first response (or how the download failed before any
/// byte), the rest of the bytes, and the task's final report.
pub type Spawned = (
    oneshot::Receiver<Result<Started, PumpEnd>>,
    mpsc::Receiver<std::io::Result<Bytes>>,
    tokio::task::JoinHandle<PumpReport>,
);

/// One video download.
#[derive(Debug, Clone)]
pub struct Pump {
    /// HTTP client built by [`VideoPolicy::http_client`].
    pub http: reqwest::Client,
    /// The policy every URL is checked against.
    pub policy: Arc<VideoPolicy>,
    /// Retry limits.
    pub limits: PumpLimits,
    /// When the service deletes the video, if known.
    pub deleted_at: Option<DateTime<Utc>>,
}

enum Attempt {
    /// Try again with the same URL from the current offset.
    Resume(String),
    /// The URL expired or was refused: get a fresh one.
    Refresh(String),
    /// Stop with this end.
    Stop(PumpEnd),
}

struct Progress {
    offset: u64,
    total: Option<u64>,
    started: Option<oneshot::Sender<Result<Started, PumpEnd>>>,
}

impl Pump {
    /// Starts the download in a task. Returns the first response (or how it failed before
    /// any byte), the stream of the remaining bytes, and the task's final report.
    pub fn spawn(self, url: String, refresher: Refresher, channel_capacity: usize) -> Spawned {
        let (started_tx, started_rx) = oneshot::channel();
        let (tx, rx) = mpsc::channel(channel_capacity.max(1));
        let task = tokio::spawn(self.run(url, refresher, started_tx, tx));
        (started_rx, rx, task)
    }

    async fn run(
        self,
        mut url: String,
        mut refresher: Refresher,
        started: oneshot::Sender<Result<Started, PumpEnd>>,
        tx: mpsc::Sender<std::io::Result<Bytes>>,
    ) -> PumpReport {
        let mut progress = Progress {
            offset: 0,
            total: None,
            started: Some(started),
        };
        let (mut attempts, mut refreshes) = (0u32, 0u32);
        let mut delays = backon::BackoffBuilder::build(
            backon::ExponentialBuilder::default()
                .with_min_delay(self.limits.min_delay)
                .with_max_delay(self.limits.max_delay)
                .with_jitter()
                .without_max_times(),
        );
        let end = loop {
            if let Some(deadline) = self.deleted_at
                && Utc::now() >= deadline
            {
                break PumpEnd::Gone(
                    "the video's 30-minute life ended before it was fetched".to_owned(),
                );
            }
            if attempts >= self.limits.max_attempts {
                break PumpEnd::Unavailable(format!("gave up after {attempts} download attempts"));
            }
            attempts += 1;
            let next = match self.policy.check(&parse_url(&url)) {
                Err(reason) => Attempt::Stop(PumpEnd::Refused(reason)),
                Ok(()) => self.attempt(&url, &mut progress, &tx).await,
            };
            match next {
                Attempt::Stop(end) => break end,
                Attempt::Resume(reason) => {
                    tracing::warn!(attempt = attempts, offset = progress.offset, %reason, "video download interrupted, resuming");
                }
                Attempt::Refresh(reason) => {
                    if refreshes >= self.limits.max_refreshes {
                        break PumpEnd::Unavailable(format!(
                            "{reason}; gave up after {refreshes} fresh urls"
                        ));
                    }
                    refreshes += 1;
                    tracing::info!(attempt = attempts, %reason, "asking checkresult for a fresh video url");
                    match refresher().await {
                        Ok(Some(fresh)) => url = fresh,
                        Ok(None) => {
                            break PumpEnd::Gone(
                                "checkresult no longer returns a video url".to_owned(),
                            );
                        }
                        Err(reason) => {
                            break PumpEnd::Unavailable(format!(
                                "refreshing the video url failed: {reason}"
                            ));
                        }
                    }
                    continue; // a fresh URL is tried at once
                }
            }
            let delay = delays.next().unwrap_or(self.limits.max_delay);
            tokio::time::sleep(delay).await;
        };
        let end = match end {
            PumpEnd::Complete { bytes } => PumpEnd::Complete { bytes },
            other => {
                // Make the consumer discard what it has: the stream must not end cleanly.
                let _ = tx
                    .send(Err(std::io::Error::other("video download failed")))
                    .await;
                if let Some(started) = progress.started.take() {
                    let _ = started.send(Err(other.clone()));
                }
                other
            }
        };
        PumpReport {
            end,
            attempts,
            refreshes,
        }
    }

    async fn attempt(
        &self,
        url: &str,
        progress: &mut Progress,
        tx: &mpsc::Sender<std::io::Result<Bytes>>,
    ) -> Attempt {
        let mut request = self.http.get(url);
        if progress.offset > 0 {
            request = request.header(RANGE, format!("bytes={}-", progress.offset));
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_redirect() => return Attempt::Stop(PumpEnd::Refused(redacted(&e))),
            Err(e) => return Attempt::Resume(redacted(&e)),
        };
        let status = response.status();
        match status {
            StatusCode::OK | StatusCode::PARTIAL_CONTENT => {}
            StatusCode::NOT_FOUND => {
                return Attempt::Stop(PumpEnd::Gone(
                    "the service answered 404 (video deleted)".to_owned(),
                ));
            }
            StatusCode::FORBIDDEN => {
                let body = response.text().await.unwrap_or_default();
                let why = if body.contains("expired") {
                    "video url expired (403)"
                } else {
                    "video url refused (403)"
                };
                return Attempt::Refresh(why.to_owned());
            }
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                return Attempt::Resume(format!("the video server answered {s}"));
            }
            s => return Attempt::Stop(PumpEnd::Failed(format!("the video server answered {s}"))),
        }
        // Where this body starts, and how many leading bytes we already have.
        let (start, total) = match status {
            StatusCode::PARTIAL_CONTENT => match content_range(&response) {
                Some((start, total)) if start == progress.offset => (start, total),
                _ => return Attempt::Resume("unusable content-range in a 206 answer".to_owned()),
            },
            _ => (0, header_u64(&response, CONTENT_LENGTH)),
        };
        if let (Some(known), Some(now)) = (progress.total, total)
            && known != now
        {
            return Attempt::Stop(PumpEnd::Failed(format!(
                "video length changed from {known} to {now} bytes"
            )));
        }
        progress.total = progress.total.or(total);
        if let Some(total) = progress.total
            && total > self.policy.max_bytes
        {
            return Attempt::Stop(PumpEnd::Refused(format!(
                "video of {total} bytes exceeds the {} byte limit",
                self.policy.max_bytes
            )));
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut skip = progress.offset - start;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let mut chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    return Attempt::Resume(format!(
                        "body interrupted at byte {}: {}",
                        progress.offset,
                        redacted(&e)
                    ));
                }
            };
            if skip > 0 {
                let n = skip.min(chunk.len() as u64);
                chunk = chunk.slice(n as usize..);
                skip -= n;
                if chunk.is_empty() {
                    continue;
                }
            }
            progress.offset += chunk.len() as u64;
            if progress.offset > self.policy.max_bytes {
                return Attempt::Stop(PumpEnd::Refused(format!(
                    "video exceeds the {} byte limit",
                    self.policy.max_bytes
                )));
            }
            if let Some(started) = progress.started.take() {
                let first = Started {
                    total: progress.total,
                    content_type: content_type.clone(),
                    first: chunk,
                };
                if started.send(Ok(first)).is_err() {
                    return Attempt::Stop(PumpEnd::ConsumerGone);
                }
                continue;
            }
            if tx.send(Ok(chunk)).await.is_err() {
                return Attempt::Stop(PumpEnd::ConsumerGone);
            }
        }
        match progress.total {
            Some(total) if progress.offset < total => {
                Attempt::Resume(format!("body ended at byte {} of {total}", progress.offset))
            }
            Some(total) if progress.offset > total => Attempt::Stop(PumpEnd::Failed(format!(
                "body longer than its {total} byte length"
            ))),
            _ => {
                if let Some(started) = progress.started.take() {
                    // An empty video: start the consumer with nothing.
                    let first = Started {
                        total: Some(0),
                        content_type,
                        first: Bytes::new(),
                    };
                    if started.send(Ok(first)).is_err() {
                        return Attempt::Stop(PumpEnd::ConsumerGone);
                    }
                }
                Attempt::Stop(PumpEnd::Complete {
                    bytes: progress.offset,
                })
            }
        }
    }
}

fn parse_url(url: &str) -> Url {
    Url::parse(url).unwrap_or_else(|_| Url::parse("invalid:").expect("static url parses"))
}

/// A transport error without the URL (its query carries a signature).
fn redacted(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_redirect() {
        "redirect refused"
    } else if e.is_body() || e.is_decode() {
        "body error"
    } else {
        "request failed"
    };
    let source = std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_default();
    if source.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {source}")
    }
}

fn header_u64(response: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<u64> {
    response
        .headers()
        .get(name)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `bytes <start>-<end>/<total>` → (start, total).
fn content_range(response: &reqwest::Response) -> Option<(u64, Option<u64>)> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    Some((start.parse().ok()?, total.parse().ok()))
}

/// The video's MIME type from its first bytes, falling back to what the server said.
pub fn sniff_video(first: &[u8], served: Option<&str>) -> String {
    if first.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        "video/webm".to_owned()
    } else if first.len() >= 8 && &first[4..8] == b"ftyp" {
        "video/mp4".to_owned()
    } else {
        served
            .filter(|s| s.starts_with("video/"))
            .map_or_else(|| "application/octet-stream".to_owned(), str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(policy: &VideoPolicy, url: &str) -> Result<(), String> {
        policy.check(&Url::parse(url).unwrap())
    }

    #[test]
    fn default_policy_allows_only_https_oss_hosts() {
        let p = VideoPolicy::default();
        assert_eq!(
            check(
                &p,
                "https://bucket.oss-cn-hongkong.aliyuncs.com/v.webm?Expires=1&Signature=x"
            ),
            Ok(())
        );
        assert_eq!(
            check(&p, "https://aliyun-cloudauth.oss-aliyuncs.com/a.webm"),
            Ok(())
        );
        assert_eq!(
            check(
                &p,
                "https://b.oss-ap-southeast-1-internal.aliyuncs.com/a.webm"
            ),
            Ok(())
        );
        let refused = [
            "http://bucket.oss-cn-hongkong.aliyuncs.com/v.webm",
            "https://evil.example.com/v.webm",
            "https://bucket.oss-cn-hongkong.aliyuncs.com.evil.com/v.webm",
            "https://oss-cn-hongkong.aliyuncs.com/v.webm",
            "https://127.0.0.1/v.webm",
            "https://10.0.0.8/v.webm",
            "https://[::1]/v.webm",
            "ftp://bucket.oss-cn-hongkong.aliyuncs.com/v.webm",
            "https://user:pw@bucket.oss-cn-hongkong.aliyuncs.com/v.webm",
        ];
        for url in refused {
            assert!(check(&p, url).is_err(), "{url} should be refused");
        }
        let reason = check(&p, "https://evil.example.com/v.webm?Signature=secret").unwrap_err();
        assert!(!reason.contains("secret"), "{reason}");
    }

    #[test]
    fn configured_emulator_address_is_allowed_over_http_on_its_port_only() {
        let p = VideoPolicy {
            allow_http_hosts: vec!["127.0.0.1:8787".to_owned()],
            ..VideoPolicy::default()
        };
        assert_eq!(check(&p, "http://127.0.0.1:8787/bucket/t.webm"), Ok(()));
        assert!(check(&p, "http://127.0.0.1:8788/bucket/t.webm").is_err());
        assert!(check(&p, "http://localhost:8787/bucket/t.webm").is_err());
        assert!(check(&p, "http://10.1.1.1:8787/bucket/t.webm").is_err());
    }

    #[test]
    fn label_globs_match_within_one_label() {
        assert!(host_matches(
            "*.oss-*.aliyuncs.com",
            "b.oss-x.aliyuncs.com",
            Some(443)
        ));
        assert!(!host_matches(
            "*.oss-*.aliyuncs.com",
            "a.b.oss-x.aliyuncs.com",
            Some(443)
        ));
        assert!(!host_matches(
            "*.oss-*.aliyuncs.com",
            ".oss-x.aliyuncs.com",
            Some(443)
        ));
        assert!(host_matches("Example.COM", "example.com", None));
    }

    #[test]
    fn video_types_are_sniffed() {
        assert_eq!(
            sniff_video(&[0x1A, 0x45, 0xDF, 0xA3, 1], Some("text/plain")),
            "video/webm"
        );
        assert_eq!(sniff_video(b"\0\0\0\x18ftypmp42", None), "video/mp4");
        assert_eq!(sniff_video(b"junk", Some("video/webm")), "video/webm");
        assert_eq!(
            sniff_video(b"junk", Some("text/html")),
            "application/octet-stream"
        );
    }
}
