//! The OSS-signed evidence video: bytes, expiry, deletion, ranges.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeZone, Utc};
use cloudauth_emulator::{ClockConfig, EmulatorConfig, VerificationSpec, video};

use crate::common::*;

fn frozen() -> EmulatorConfig {
    EmulatorConfig {
        clock: ClockConfig {
            speed: 0.0,
            ..ClockConfig::default()
        },
        ..EmulatorConfig::default()
    }
}

#[tokio::test]
async fn signed_url_serves_the_exact_video() {
    let env = start_default().await;
    let size = 3 * 1024 * 1024 + 17;
    let v = env.create(VerificationSpec::ekyc().with_video(size));
    let sha = v.video_sha256().unwrap();
    assert_eq!(sha, video::expected_sha256(&v.transaction_id, size));

    let r = env.send(&env.v3(&v)).await;
    let url = video_url(&r);
    // http://<emulator addr>/<bucket>/<transaction id>.webm?Expires=..&OSSAccessKeyId=..&Signature=..
    let prefix = format!(
        "{}/cloudauth-evidence/{}.webm?Expires=",
        env.emu.base_url(),
        v.transaction_id
    );
    assert!(url.starts_with(&prefix), "{url}");
    let expires: i64 = url_param(&url, "Expires").parse().unwrap();
    assert_eq!(
        expires,
        (env.emu.clock().now() + chrono::TimeDelta::minutes(15)).timestamp()
    );
    assert_eq!(
        url_param(&url, "OSSAccessKeyId"),
        env.emu.config().oss_access_key.id
    );

    let body = env.get(&url).await;
    assert_eq!(body.status, 200, "{}", body.text());
    assert_eq!(body.content_type(), "video/webm");
    assert_eq!(
        body.header("content-length"),
        Some(size.to_string().as_str())
    );
    assert_eq!(body.header("accept-ranges"), Some("bytes"));
    assert!(body.header("x-oss-request-id").is_some());
    assert_eq!(body.body.len() as u64, size);
    assert_eq!(&body.body[..4], &[0x1A, 0x45, 0xDF, 0xA3]);
    assert_eq!(sha256(&body.body), sha);
    // The same bytes as the library stream.
    let mut direct = Vec::new();
    for chunk in video::Chunks::new(&v.transaction_id, size, ..) {
        direct.extend_from_slice(&chunk);
    }
    assert_eq!(body.body[..], direct[..]);

    // A custom seed changes the bytes, not the size.
    let spec = VerificationSpec {
        video_seed: Some("seed-1".into()),
        ..VerificationSpec::face_liveness().with_video(1000)
    };
    let w = env.create(spec);
    assert_eq!(
        w.video_sha256().unwrap(),
        video::expected_sha256("seed-1", 1000)
    );
    let body = env
        .get(&env.emu.video_url(&w.transaction_id).unwrap())
        .await;
    assert_eq!(sha256(&body.body), video::expected_sha256("seed-1", 1000));
}

#[tokio::test]
async fn head_returns_headers_only() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc().with_video(123_456));
    let url = env.emu.video_url(&v.transaction_id).unwrap();
    // A presigned GET URL is not valid for HEAD (the verb is signed).
    let r = Resp::read(env.http.head(&url).send().await.unwrap()).await;
    assert_eq!(r.status, 403);
    // GET works and announces the length.
    let r = env.get(&url).await;
    assert_eq!(r.header("content-length"), Some("123456"));
    assert!(r.header("etag").is_some() && r.header("last-modified").is_some());
    // A URL signed for HEAD answers headers only.
    let key = &env.emu.config().oss_access_key;
    let expires = url_param(&url, "Expires");
    let resource = format!("/cloudauth-evidence/{}.webm", v.transaction_id);
    let sig = cloudauth_emulator::oss::sign(
        &key.secret,
        &cloudauth_emulator::oss::string_to_sign("HEAD", "", "", &expires, &[], &resource),
    );
    let head_url = format!(
        "{}{resource}?Expires={expires}&OSSAccessKeyId={}&Signature={}",
        env.emu.base_url(),
        key.id,
        cloudauth::sign::percent_encode(&sig)
    );
    let r = Resp::read(env.http.head(&head_url).send().await.unwrap()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("123456"));
    assert_eq!(r.content_type(), "video/webm");
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn expired_url_gives_the_exact_oss_error() {
    let env = start(frozen()).await;
    let v = env.create(VerificationSpec::ekyc().with_video(1000));
    let r = env.send(&env.v3(&v)).await;
    let url = video_url(&r);
    let expires: i64 = url_param(&url, "Expires").parse().unwrap();
    assert_eq!(env.get(&url).await.status, 200);
    env.emu.clock().advance(Duration::from_secs(15 * 60));
    assert_eq!(
        env.get(&url).await.status,
        200,
        "valid up to and including Expires"
    );
    env.emu.clock().advance(Duration::from_secs(1));

    let r = env.get(&url).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.content_type(), "application/xml");
    let request_id = r.header("x-oss-request-id").unwrap().to_owned();
    assert_eq!(request_id.len(), 24);
    let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S.000Z").to_string();
    let expected = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>AccessDenied</Code>\n  <Message>Request has expired.</Message>\n  <RequestId>{request_id}</RequestId>\n  <HostId>cloudauth-evidence.oss-cn-hongkong.aliyuncs.com</HostId>\n  <Expires>{}</Expires>\n  <ServerTime>{}</ServerTime>\n  <EC>0002-00000069</EC>\n  <RecommendDoc>https://api.aliyun.com/troubleshoot?q=0002-00000069</RecommendDoc>\n</Error>\n",
        fmt(Utc.timestamp_opt(expires, 0).unwrap()),
        fmt(env.emu.clock().now().trunc_subsecs(0)),
    );
    assert_eq!(r.text(), expected);

    // A second CheckResult call issues a fresh URL that works.
    let fresh = video_url(&env.send(&env.v3(&v)).await);
    assert_ne!(fresh, url);
    let r = env.get(&fresh).await;
    assert_eq!(r.status, 200);
    assert_eq!(sha256(&r.body), v.video_sha256().unwrap());
}

#[tokio::test]
async fn video_is_deleted_30_minutes_after_completion() {
    let env = start(frozen()).await;
    let v = env.create(
        VerificationSpec::ekyc()
            .with_video(5000)
            .completed_ago(Duration::from_secs(25 * 60)),
    );
    env.emu.clock().advance(Duration::from_secs(4 * 60 + 59));
    let url = video_url(&env.send(&env.v3(&v)).await);
    assert_eq!(env.get(&url).await.status, 200);
    env.emu.clock().advance(Duration::from_secs(1));
    // The URL is still within its 15 minutes, but the object is gone.
    let r = env.get(&url).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.content_type(), "application/xml");
    let text = r.text();
    assert!(text.contains("<Code>NoSuchKey</Code>"), "{text}");
    assert!(
        text.contains(&format!("<Key>{}.webm</Key>", v.transaction_id)),
        "{text}"
    );
    // CheckResult still answers (results live 30 days) with a URL that leads to NoSuchKey.
    let r = env.send(&env.v3(&v)).await;
    assert_eq!(r.status, 200);
    assert_eq!(env.get(&video_url(&r)).await.status, 404);
    // Expiry is checked before existence, the signature before existence too.
    env.emu.clock().advance(Duration::from_secs(16 * 60));
    assert!(env.get(&url).await.text().contains("Request has expired."));
}

#[tokio::test]
async fn bad_signatures_and_keys_are_refused() {
    let env = start_default().await;
    let v = env.create(VerificationSpec::ekyc().with_video(1000));
    let url = env.emu.video_url(&v.transaction_id).unwrap();
    let sig = url_param(&url, "Signature");
    let tampered = url.replace(
        &cloudauth::sign::percent_encode(&sig),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAA%3D",
    );
    let r = env.get(&tampered).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.content_type(), "application/xml");
    let text = r.text();
    assert!(
        text.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{text}"
    );
    let expires = url_param(&url, "Expires");
    let sts = format!(
        "GET\n\n\n{expires}\n/cloudauth-evidence/{}.webm",
        v.transaction_id
    );
    assert!(
        text.contains(&format!("<StringToSign>{sts}</StringToSign>")),
        "{text}"
    );
    // Changing Expires breaks the signature too.
    let later = url.replace(
        &format!("Expires={expires}"),
        &format!("Expires={}", expires.parse::<i64>().unwrap() + 60),
    );
    assert!(
        env.get(&later)
            .await
            .text()
            .contains("SignatureDoesNotMatch")
    );
    // Another object with this URL's signature.
    let w = env.create(VerificationSpec::ekyc().with_video(1000));
    let other = url.replace(&v.transaction_id, &w.transaction_id);
    assert!(
        env.get(&other)
            .await
            .text()
            .contains("SignatureDoesNotMatch")
    );
    // Unknown key, unsigned access, unknown bucket.
    let unknown = url.replace("OSSAccessKeyId=", "OSSAccessKeyId=x");
    assert!(
        env.get(&unknown)
            .await
            .text()
            .contains("<Code>InvalidAccessKeyId</Code>")
    );
    let bare = url.split_once('?').unwrap().0.to_owned();
    let r = env.get(&bare).await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("<Code>AccessDenied</Code>"));
    let r = env
        .get(&url.replace("/cloudauth-evidence/", "/other-bucket/"))
        .await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("<Code>NoSuchBucket</Code>"));
    // A verification without video.
    let nv = env.create(VerificationSpec::ekyc());
    assert!(env.emu.video_url(&nv.transaction_id).is_err());
    let r = env.send(&env.v3(&nv)).await;
    assert!(r.ext("ExtFaceInfo").unwrap().get("docVideoUrl").is_none());
}

#[tokio::test]
async fn ranges_resume_downloads() {
    let env = start_default().await;
    let size: u64 = 700_001;
    let v = env.create(VerificationSpec::ekyc().with_video(size));
    let url = env.emu.video_url(&v.transaction_id).unwrap();
    let whole = env.get(&url).await.body;

    let r = env.get_range(&url, "bytes=100000-").await;
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 100000-{}/{size}", size - 1).as_str())
    );
    assert_eq!(
        r.header("content-length"),
        Some((size - 100_000).to_string().as_str())
    );
    assert_eq!(r.body[..], whole[100_000..]);

    let r = env.get_range(&url, "bytes=10-65545").await;
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 10-65545/{size}").as_str())
    );
    assert_eq!(r.body[..], whole[10..=65545]);

    let r = env.get_range(&url, "bytes=-5").await;
    assert_eq!(r.body[..], whole[whole.len() - 5..]);

    // Resume: first part + rest == whole, hashing to the expected digest.
    let first = env.get_range(&url, "bytes=0-333332").await.body;
    let rest = env
        .get_range(&url, &format!("bytes={}-", first.len()))
        .await
        .body;
    let joined = [first.as_ref(), rest.as_ref()].concat();
    assert_eq!(sha256(&joined), v.video_sha256().unwrap());

    // Beyond the end: 416; malformed: the whole object.
    let r = env.get_range(&url, &format!("bytes={size}-")).await;
    assert_eq!(r.status, 416);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes */{size}").as_str())
    );
    assert!(r.text().contains("<Code>InvalidRange</Code>"));
    let r = env.get_range(&url, "bytes=oops").await;
    assert_eq!((r.status, r.body.len() as u64), (200, size));
}

#[tokio::test]
async fn multi_megabyte_video_streams_exactly() {
    let env = start_default().await;
    let size: u64 = 48 * 1024 * 1024 + 3;
    let v = env.create(VerificationSpec::ekyc().with_video(size));
    let url = env.emu.video_url(&v.transaction_id).unwrap();
    let mut r = env.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    let mut n = 0u64;
    while let Some(chunk) = r.chunk().await.unwrap() {
        n += chunk.len() as u64;
        hasher.update(&chunk);
    }
    assert_eq!(n, size);
    let digest: [u8; 32] = hasher.finalize().into();
    assert_eq!(digest, v.video_sha256().unwrap());
}
