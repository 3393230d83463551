//! Hostile input through the real `kyc-archiver run` worker (issue 6, "bad input"):
//!
//! - video URLs the policy must refuse (plain http, unlisted hosts, private and metadata
//!   addresses in every spelling, credentials, other schemes, redirect loops and chains,
//!   redirects to private or unlisted hosts, a huge `Content-Length`, an endless chunked
//!   body): the bundle is archived with the video `refused` and the reason, refused hosts are
//!   never contacted, and the worker archives a normal request right after each case;
//! - malformed base64 and JSON inside `Ext*` fields: bad images are recorded as image issues
//!   and the rest archived; an unparseable result is dead-lettered with a reason that shows
//!   none of its values, and nothing is stored;
//! - malformed messages carrying personal values: dead-lettered, the reason echoes nothing
//!   (the parser itself is property-tested in crates/evidence/tests/fuzz.rs).

use std::time::Duration;

use cloudauth_emulator::{Endpoint, VerificationSpec};
use evidence::manifest::{Manifest, VideoFate};
use kyc_archiver_tests::http_stub::{Reply, Stub};
use kyc_archiver_tests::rig::Rig;
use kyc_archiver_tests::worker::WorkerProcess;

/// Text that must never appear in a reason, a header or a manifest.
const LEAKS: &[&str] = &["LEAKSIG", "LEAKPW", "CHAN", "TAI MAN", "A1234567"];

fn assert_no_leak(what: &str, text: &str) {
    for leak in LEAKS {
        assert!(!text.contains(leak), "{what} shows {leak:?}: {text}");
    }
}

/// A worker rig whose video policy lets the emulator and one stub server over plain http
/// (the "video server" that redirects and lies), with a 16 MiB size cap.
struct Hostile {
    rig: Rig,
    worker: WorkerProcess,
    /// The allowed video server.
    server: Stub,
    /// A server on no list: must never be contacted.
    other: Stub,
}

impl Hostile {
    async fn start() -> Self {
        let rig = Rig::local().await;
        let webm = {
            let mut v = vec![0x1A, 0x45, 0xDF, 0xA3];
            v.extend((0..100_000u32).map(|i| (i % 251) as u8));
            v
        };
        let other = Stub::start([(
            "/v.webm".to_owned(),
            Reply::Body {
                content_type: "video/webm".into(),
                body: webm.clone(),
            },
        )])
        .await;
        // Redirects to the server itself are relative (`Location: /r2`).
        let own = |path: &str| path.to_owned();
        let mut routes: Vec<(String, Reply)> = vec![
            (
                "/ok.webm".into(),
                Reply::Body {
                    content_type: "video/webm".into(),
                    body: webm,
                },
            ),
            ("/loop".into(), Reply::Redirect(own("/loop"))),
            (
                "/to-other".into(),
                Reply::Redirect(other.url("/v.webm?Signature=LEAKSIG")),
            ),
            (
                "/to-metadata".into(),
                Reply::Redirect("http://169.254.169.254/latest/meta-data/".into()),
            ),
            (
                "/to-unlisted".into(),
                Reply::Redirect("https://evil.example.com/v.webm".into()),
            ),
            (
                "/to-mapped".into(),
                Reply::Redirect(format!(
                    "http://[::ffff:127.0.0.1]:{}/v.webm",
                    other.addr().port()
                )),
            ),
            (
                "/huge".into(),
                Reply::Announce {
                    content_length: 1 << 40,
                    send: 1 << 20,
                },
            ),
            (
                "/endless".into(),
                Reply::Chunked {
                    total: u64::MAX / 2,
                },
            ),
        ];
        for hop in 1..=5 {
            routes.push((
                format!("/r{hop}"),
                Reply::Redirect(own(&format!("/r{}", hop + 1))),
            ));
        }
        routes.push((
            "/r6".into(),
            Reply::Body {
                content_type: "video/webm".into(),
                body: vec![0x1A, 0x45, 0xDF, 0xA3, 0],
            },
        ));
        let server = Stub::start(routes).await;

        let mut env = rig.env();
        env.insert(
            "KYC_ARCHIVER_VIDEO_ALLOW_HTTP_HOSTS".into(),
            format!("{},{}", rig.emulator.endpoint(), server.addr()),
        );
        env.insert("KYC_ARCHIVER_VIDEO_MAX_BYTES".into(), "16MiB".into());
        let worker = WorkerProcess::start(&env);
        Self {
            rig,
            worker,
            server,
            other,
        }
    }

    /// Archives a face-liveness verification whose `docVideoUrl` is `url`, then a normal
    /// request (the worker is still fine); returns the first bundle's manifest.
    async fn archive_with_video_url(&self, url: &str) -> Manifest {
        let spec = VerificationSpec::face_liveness().with_doc_video_url(url);
        let hostile = self.rig.verification(spec);
        let normal = self.rig.verification(VerificationSpec::id_ocr());
        self.rig.publish(&hostile).await;
        self.rig.publish(&normal).await;
        let mut manifests = self
            .rig
            .wait_for_manifests(
                &[&hostile.transaction_id, &normal.transaction_id],
                Duration::from_secs(90),
            )
            .await;
        manifests.remove(0)
    }
}

fn assert_refused(case: &str, m: &Manifest, reason: &str) {
    assert_eq!(m.video.fate, VideoFate::Refused, "{case}: {:?}", m.video);
    let got = m.video.reason.as_deref().unwrap_or_default();
    assert!(
        got.contains(reason),
        "{case}: reason {got:?} lacks {reason:?}"
    );
    assert!(m.artifact("video").is_none(), "{case}: a video was stored");
    assert!(
        m.artifact("checkresult").is_some(),
        "{case}: the rest is archived"
    );
    assert_no_leak(case, &String::from_utf8_lossy(&m.to_json()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_video_urls_are_refused_and_the_worker_keeps_going() {
    let h = Hostile::start().await;
    let other = h.other.addr();
    let port = other.port();
    let emulator = h.rig.emulator.endpoint();
    let server = |path: &str| h.server.url(path);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "plain http, unlisted host",
            format!("http://{other}/v.webm?Signature=LEAKSIG"),
            "uses http",
        ),
        (
            "https, unlisted host",
            "https://evil.example.com/v.webm?Signature=LEAKSIG".into(),
            "not on the allowed host list",
        ),
        (
            "a look-alike of the OSS host",
            "https://bucket.oss-cn-hongkong.aliyuncs.com.evil.example.com/v.webm".into(),
            "not on the allowed host list",
        ),
        (
            "loopback over https",
            format!("https://{other}/v.webm"),
            "not on the allowed host list",
        ),
        (
            "private address",
            "https://10.0.0.8/v.webm".into(),
            "not on the allowed host list",
        ),
        (
            "decimal loopback",
            format!("http://2130706433:{port}/v.webm"),
            "uses http",
        ),
        (
            "decimal loopback over https",
            format!("https://2130706433:{port}/v.webm"),
            "not on the allowed host list",
        ),
        (
            "hex loopback",
            format!("https://0x7f000001:{port}/v.webm"),
            "not on the allowed host list",
        ),
        (
            "octal loopback",
            format!("https://0177.0.0.1:{port}/v.webm"),
            "not on the allowed host list",
        ),
        (
            "IPv6 loopback",
            format!("https://[::1]:{port}/v.webm"),
            "not on the allowed host list",
        ),
        (
            "IPv4-mapped IPv6 loopback",
            format!("https://[::ffff:127.0.0.1]:{port}/v.webm"),
            "not on the allowed host list",
        ),
        (
            "IPv4-mapped loopback in hex",
            format!("https://[::ffff:7f00:1]:{port}/v.webm"),
            "not on the allowed host list",
        ),
        (
            "metadata service over http",
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/".into(),
            "uses http",
        ),
        (
            "metadata service over https",
            "https://169.254.169.254/latest/meta-data/".into(),
            "not on the allowed host list",
        ),
        (
            "credentials on an allowed host",
            format!("http://user:LEAKPW@{emulator}/cloudauth-evidence/x.webm"),
            "carries credentials",
        ),
        (
            "another scheme",
            "ftp://bucket.oss-cn-hongkong.aliyuncs.com/v.webm".into(),
            "scheme",
        ),
        ("a local file", "file:///etc/passwd".into(), "no host"),
        ("a redirect loop", server("/loop"), "redirect"),
        ("a redirect chain past the limit", server("/r1"), "redirect"),
        (
            "a redirect to an unlisted loopback port",
            server("/to-other"),
            "redirect",
        ),
        (
            "a redirect to the metadata service",
            server("/to-metadata"),
            "redirect",
        ),
        (
            "a redirect to an unlisted host",
            server("/to-unlisted"),
            "redirect",
        ),
        (
            "a redirect to an IPv4-mapped loopback",
            server("/to-mapped"),
            "redirect",
        ),
        ("a huge Content-Length", server("/huge"), "byte limit"),
        ("an endless chunked body", server("/endless"), "byte limit"),
    ];
    for (case, url, reason) in &cases {
        let m = h.archive_with_video_url(url).await;
        assert_refused(case, &m, reason);
    }
    // The control: the same server's plain video is archived.
    let m = h.archive_with_video_url(&server("/ok.webm")).await;
    assert_eq!(m.video.fate, VideoFate::Archived, "{:?}", m.video);

    assert_eq!(h.other.connections(), 0, "a refused host was contacted");
    let targets = h.server.targets();
    assert!(
        !targets.iter().any(|t| t == "/r5" || t == "/r6"),
        "followed redirects past the limit: {targets:?}"
    );
    assert!(
        targets.iter().filter(|t| *t == "/loop").count() <= 4,
        "{targets:?}"
    );
    let video_requests = h
        .rig
        .emulator
        .requests()
        .iter()
        .filter(|r| r.endpoint == Endpoint::Video)
        .count();
    assert_eq!(video_requests, 0, "the url with credentials was fetched");
    let depths = h.rig.depths().await;
    assert_eq!(depths.dead + depths.parked, 0, "{depths:?}");
    let audit = h.rig.audit().await;
    assert_eq!(audit.bundles, 2 * (cases.len() + 1));
    println!(
        "chaos: hostile_urls cases={} refused={} stub_requests={} other_host_connections={}",
        cases.len() + 1,
        cases.len(),
        targets.len(),
        h.other.connections()
    );
    drop(h.worker);
    h.rig.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_ext_fields_and_messages_show_nothing_and_store_nothing_wrong() {
    let h = Hostile::start().await;
    let rig = &h.rig;
    // Bad images: recorded as issues, everything else archived.
    let bad_images = rig.verification(
        VerificationSpec::ekyc()
            .with_ext_field("ExtFaceInfo", "faceImg", "!!not*base64 CHAN TAI MAN!!")
            .with_ext_field("ExtIdInfo", "idImage", "aGVsbG8gd29ybGQ="),
    );
    // Unparseable results: dead-lettered, nothing stored.
    let personal = r#"{"ocrIdInfo":{"name":"x\"CHAN TAI MAN","idNumber":"A1234567"#;
    let unparseable = [
        rig.verification(VerificationSpec::id_ocr().with_ext_raw("ExtIdInfo", personal)),
        rig.verification(
            VerificationSpec::face_liveness()
                .with_ext_raw("ExtFaceInfo", "CHAN TAI MAN A1234567 is not JSON"),
        ),
        rig.verification(VerificationSpec::ekyc().with_ext_raw(
            "ExtIdInfo",
            r#"{"ocrIdInfo":{"name":"CHAN TAI MAN","idNumber":"A1234567"},"score":1e400}"#,
        )),
    ];
    // Messages with personal values where they do not belong.
    let bodies: [&[u8]; 6] = [
        br#"{"version":1,"transaction_id":"t","merchant_biz_id":"m","completed_at":"x\"CHAN TAI MAN"}"#,
        br#"{"version":"CHAN TAI MAN","transaction_id":"t","merchant_biz_id":"m"}"#,
        br#"{"version":1,"transaction_id":"CHAN TAI MAN","merchant_biz_id":"m"}"#,
        br#"{"version":1,"transaction_id":"t","merchant_biz_id":"m","CHAN TAI MAN":1}"#,
        br#"{"version":1,"transaction_id":"t","merchant_biz_id":"m","legal_hold":"x\\\"CHAN TAI MAN"}"#,
        br#"{"version":1,"transaction_id":"t","merchant_biz_id":"A1234567\u0000CHAN"}"#,
    ];
    rig.publish(&bad_images).await;
    for r in &unparseable {
        rig.publish(r).await;
    }
    for body in bodies {
        rig.publish_raw(body).await;
    }
    let normal = rig.verification(VerificationSpec::face_liveness().with_video(100_000));
    rig.publish(&normal).await;

    let dead_expected = (unparseable.len() + bodies.len()) as u32;
    rig.wait_for_queue(&rig.topology.dead, dead_expected, Duration::from_secs(90))
        .await;
    let manifests = rig
        .wait_for_manifests(
            &[&bad_images.transaction_id, &normal.transaction_id],
            Duration::from_secs(90),
        )
        .await;
    let m = &manifests[0];
    assert!(m.artifact("faceImg").is_none(), "{:?}", m.artifacts);
    let issues: Vec<(&str, &str)> = m
        .image_errors
        .iter()
        .map(|i| (i.source.as_str(), i.reason.as_str()))
        .collect();
    assert!(
        issues
            .iter()
            .any(|(s, r)| s.ends_with("faceImg") && r.contains("base64")),
        "{issues:?}"
    );
    assert!(
        issues.iter().any(|(s, _)| s.ends_with("idImage")),
        "{issues:?}"
    );
    let id_image = m
        .artifact("idImage")
        .expect("undecodable as an image, kept");
    assert_eq!(id_image.content_type, "application/octet-stream");
    assert_eq!(id_image.bytes, "hello world".len() as u64);
    assert_no_leak("manifest", &String::from_utf8_lossy(&m.to_json()));
    assert_eq!(manifests[1].video.fate, VideoFate::Archived);

    let dead = rig.drain(&rig.topology.dead).await;
    assert_eq!(dead.len(), dead_expected as usize);
    for taken in &dead {
        let class = taken
            .headers
            .get("x-kyc-error-class")
            .cloned()
            .unwrap_or_default();
        assert!(
            class == "permanent" || class == "invalid_message",
            "{:?}",
            taken.headers
        );
        assert!(taken.headers.contains_key("x-kyc-reason"));
        for (name, value) in &taken.headers {
            assert_no_leak(&format!("header {name}"), value);
        }
    }
    for r in &unparseable {
        assert!(
            rig.store
                .list(&format!("{}/", r.transaction_id))
                .await
                .unwrap()
                .is_empty(),
            "{}: something was stored for an unparseable result",
            r.transaction_id
        );
    }
    let audit = rig.audit().await;
    assert_eq!(audit.bundles, 2);
    println!(
        "chaos: hostile_ext dead_lettered={} image_issues={} bundles={}",
        dead.len(),
        issues.len(),
        audit.bundles
    );
    drop(h.worker);
    h.rig.teardown().await;
}
