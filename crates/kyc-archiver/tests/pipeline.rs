//! The evidence pipeline against the in-process emulator and the local directory store:
//! every product shape, every video fate, URL refresh, resumption, idempotency, races,
//! tampering. (The same pipeline against SeaweedFS runs in the `tests` crate.)

use std::sync::Arc;
use std::time::Duration;

use cloudauth::{Client, ClientConfig, Credentials, Endpoint, ErrorClass};
use cloudauth_emulator::faults::{Endpoint as FaultEndpoint, Fault, FaultPlan};
use cloudauth_emulator::{Emulator, EmulatorConfig, RunningEmulator, VerificationSpec};
use evidence::manifest::{Manifest, VideoFate};
use evidence::verify::Finding;
use kyc_archiver::pipeline::{ArchiveError, ArchiveRequest, ArchiveSettings, Archiver, Outcome};
use kyc_archiver::store::{LocalDirStore, ObjectStore};
use kyc_archiver::verify::{Selection, verify_store};
use kyc_archiver::video::PumpLimits;
use sha2::{Digest, Sha256};

struct Rig {
    emulator: RunningEmulator,
    store: Arc<dyn ObjectStore>,
    dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    let emulator = Emulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(LocalDirStore::new(dir.path()).await.unwrap());
    Rig {
        emulator,
        store,
        dir,
    }
}

impl Rig {
    fn archiver_with(&self, tweak: impl FnOnce(&mut ArchiveSettings)) -> Archiver {
        let endpoint = Endpoint::custom(&self.emulator.base_url(), true).unwrap();
        let mut config =
            ClientConfig::new(endpoint, Credentials::new("testid", "testsecret", None));
        config.qps = None;
        let client = Client::new(config).unwrap();
        let mut settings = ArchiveSettings::default();
        settings.video_policy.allow_http_hosts = vec![self.emulator.addr().to_string()];
        settings.video_limits = PumpLimits {
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
            ..PumpLimits::default()
        };
        tweak(&mut settings);
        Archiver::new(client, Arc::clone(&self.store), settings).unwrap()
    }

    fn archiver(&self) -> Archiver {
        self.archiver_with(|_| {})
    }

    fn create(&self, spec: VerificationSpec) -> (cloudauth_emulator::Verification, ArchiveRequest) {
        let v = self.emulator.create_verification(spec).unwrap();
        let request = ArchiveRequest {
            transaction_id: v.transaction_id.clone(),
            merchant_biz_id: v.merchant_biz_id.clone(),
            completed_at: Some(v.completed_at),
            product: Some(v.product.to_string()),
            document_type: v.doc_type.clone(),
            ..ArchiveRequest::default()
        };
        (v, request)
    }

    async fn bytes(&self, key: &str) -> Vec<u8> {
        self.store
            .get(key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key} missing"))
            .to_vec()
    }

    /// Every artifact's stored bytes hash to the manifest, and nothing else is stored.
    async fn assert_bundle_intact(&self, manifest: &Manifest) {
        for a in &manifest.artifacts {
            let bytes = self.bytes(&a.key).await;
            assert_eq!(bytes.len() as u64, a.bytes, "{}", a.key);
            assert_eq!(hex::encode(Sha256::digest(&bytes)), a.sha256, "{}", a.key);
        }
        let listed: Vec<String> = self
            .store
            .list(&format!("{}/", manifest.transaction_id))
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(
            listed.len(),
            manifest.artifacts.len() + 1,
            "unexpected objects: {listed:?}"
        );
    }
}

fn video_spec(spec: VerificationSpec, size: u64) -> VerificationSpec {
    VerificationSpec {
        video_size: Some(size),
        ..spec
    }
}

#[tokio::test]
async fn ekyc_bundle_holds_response_images_and_the_exact_video() {
    let rig = rig().await;
    let (v, request) = rig.create(video_spec(VerificationSpec::ekyc(), 3 * 1024 * 1024 + 17));
    let report = rig.archiver().archive(&request).await.unwrap();
    assert_eq!(report.outcome, Outcome::Archived);
    let m = &report.manifest;
    let names: Vec<&str> = m.artifacts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["checkresult", "faceImg", "idImage", "video"]);
    let video = m.artifact("video").unwrap();
    assert_eq!(video.sha256, hex::encode(v.video_sha256().unwrap()));
    assert_eq!(video.bytes, 3 * 1024 * 1024 + 17);
    assert_eq!(video.content_type, "video/webm");
    assert_eq!(m.video.fate, VideoFate::Archived);
    assert!(m.video.slack_seconds.unwrap() > 29 * 60);
    assert_eq!(m.verdict.passed.as_deref(), Some("Y"));
    assert_eq!(m.verdict.sub_code.as_deref(), Some("200"));
    assert!(m.verdict.sub_code_meaning.is_some());
    for image in ["faceImg", "idImage"] {
        let a = m.artifact(image).unwrap();
        let bytes = rig.bytes(&a.key).await;
        assert!(
            evidence::image::sniff(&bytes).is_some(),
            "{image} is not an image"
        );
        assert_eq!(
            Some(a.content_type.as_str()),
            evidence::image::sniff(&bytes).map(|f| f.content_type())
        );
    }
    // The raw response is stored byte for byte and is what the verdict came from.
    let raw = rig.bytes(&m.artifact("checkresult").unwrap().key).await;
    let parsed: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        parsed["RequestId"].as_str(),
        Some(m.verdict.request_id.as_str())
    );
    // The manifest is stored, parses, and holds no personal data or images.
    let stored = rig.bytes(&report.manifest_key).await;
    assert_eq!(&Manifest::from_json(&stored).unwrap(), m);
    let text = String::from_utf8(stored).unwrap();
    let ext_id: serde_json::Value =
        serde_json::from_str(parsed["Result"]["ExtIdInfo"].as_str().unwrap()).unwrap();
    for field in ["name", "idNumber", "birthDate"] {
        if let Some(value) = ext_id["ocrIdInfo"][field].as_str().filter(|v| v.len() > 3) {
            assert!(!text.contains(value), "manifest leaks {field}");
        }
    }
    assert!(
        !text.contains("/9j/") && !text.contains("iVBOR"),
        "manifest holds image data"
    );
    rig.assert_bundle_intact(m).await;
}

#[tokio::test]
async fn every_product_shape_is_archived() {
    let rig = rig().await;
    let (_, ocr) = rig.create(VerificationSpec::id_ocr());
    let m = rig.archiver().archive(&ocr).await.unwrap().manifest;
    let names: Vec<&str> = m.artifacts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["checkresult", "idImage", "idBackImage"]);
    assert_eq!(m.video.fate, VideoFate::Absent);
    rig.assert_bundle_intact(&m).await;

    let (v, face) = rig.create(video_spec(VerificationSpec::face_liveness(), 200_000));
    let m = rig.archiver().archive(&face).await.unwrap().manifest;
    let names: Vec<&str> = m.artifacts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["checkresult", "faceImg", "video"]);
    assert_eq!(
        m.artifact("video").unwrap().sha256,
        hex::encode(v.video_sha256().unwrap())
    );
    rig.assert_bundle_intact(&m).await;

    let (_, failed) = rig.create(video_spec(VerificationSpec::ekyc().failed(205), 1000));
    let m = rig.archiver().archive(&failed).await.unwrap().manifest;
    assert_eq!(m.verdict.passed.as_deref(), Some("N"));
    assert_eq!(m.verdict.sub_code.as_deref(), Some("205"));
    assert_eq!(m.video.fate, VideoFate::Archived);
}

#[tokio::test]
async fn a_video_past_its_thirty_minutes_is_recorded_as_deleted_and_the_rest_archived() {
    let rig = rig().await;
    let spec = VerificationSpec {
        completed_ago: Some(Duration::from_secs(31 * 60)),
        ..video_spec(VerificationSpec::ekyc(), 5000)
    };
    let (_, request) = rig.create(spec);
    let m = rig.archiver().archive(&request).await.unwrap().manifest;
    assert_eq!(m.video.fate, VideoFate::Deleted);
    assert!(m.video.slack_seconds.unwrap() < 0);
    assert!(m.artifact("video").is_none());
    assert!(m.artifact("faceImg").is_some());
    rig.assert_bundle_intact(&m).await;

    // Without a completion time the archiver tries, and the service's 404 decides.
    let spec = VerificationSpec {
        completed_ago: Some(Duration::from_secs(40 * 60)),
        ..video_spec(VerificationSpec::ekyc(), 5000)
    };
    let (_, mut request) = rig.create(spec);
    request.completed_at = None;
    let m = rig.archiver().archive(&request).await.unwrap().manifest;
    assert_eq!(m.video.fate, VideoFate::Deleted);
    assert!(m.video.reason.unwrap().contains("404"));
}

#[tokio::test]
async fn an_expired_url_is_refreshed_through_checkresult() {
    let rig = rig().await;
    let (v, request) = rig.create(video_spec(VerificationSpec::ekyc(), 100_000));
    let expired = Fault::Error {
        status: 403,
        code: "AccessDenied".to_owned(),
        message: Some("Request has expired.".to_owned()),
    };
    rig.emulator
        .set_faults(FaultEndpoint::Video, FaultPlan::script([expired]))
        .unwrap();
    let m = rig.archiver().archive(&request).await.unwrap().manifest;
    assert_eq!(m.video.fate, VideoFate::Archived);
    assert_eq!(m.video.url_refreshes, 1);
    assert_eq!(m.verdict.checkresult_calls, 2);
    assert_eq!(
        m.artifact("video").unwrap().sha256,
        hex::encode(v.video_sha256().unwrap())
    );
    let checkresults = rig
        .emulator
        .requests()
        .iter()
        .filter(|r| r.endpoint == FaultEndpoint::CheckResult)
        .count();
    assert_eq!(checkresults, 2);
}

#[tokio::test]
async fn a_cut_or_short_download_resumes_where_it_stopped() {
    let rig = rig().await;
    for fault in [
        Fault::CutAfter { bytes: 700_000 },
        Fault::ShortBody { bytes: 1_500_000 },
    ] {
        let (v, request) = rig.create(video_spec(VerificationSpec::face_liveness(), 2_000_000));
        rig.emulator
            .set_faults(FaultEndpoint::Video, FaultPlan::script([fault.clone()]))
            .unwrap();
        let m = rig.archiver().archive(&request).await.unwrap().manifest;
        assert_eq!(m.video.fate, VideoFate::Archived, "{fault:?}");
        assert_eq!(m.video.fetch_attempts, 2, "{fault:?}");
        assert_eq!(
            m.artifact("video").unwrap().sha256,
            hex::encode(v.video_sha256().unwrap()),
            "{fault:?}"
        );
        rig.assert_bundle_intact(&m).await;
    }
}

#[tokio::test]
async fn refused_and_failed_videos_are_recorded_with_their_reason() {
    let rig = rig().await;
    let (_, request) = rig.create(video_spec(VerificationSpec::ekyc(), 1000));
    // The emulator's address is not on the allowed list: refused, nothing fetched.
    let m = rig
        .archiver_with(|s| s.video_policy.allow_http_hosts.clear())
        .archive(&request)
        .await
        .unwrap()
        .manifest;
    assert_eq!(m.video.fate, VideoFate::Refused);
    assert!(
        m.video.reason.as_deref().unwrap().contains("http"),
        "{:?}",
        m.video.reason
    );
    assert!(
        !rig.emulator
            .requests()
            .iter()
            .any(|r| r.endpoint == FaultEndpoint::Video)
    );

    let (_, request) = rig.create(video_spec(VerificationSpec::ekyc(), 1000));
    let m = rig
        .archiver_with(|s| s.video_policy.max_bytes = 999)
        .archive(&request)
        .await
        .unwrap()
        .manifest;
    assert_eq!(m.video.fate, VideoFate::Refused);
    assert!(m.video.reason.as_deref().unwrap().contains("exceeds"));

    // A server answering 400 would answer it again: recorded as failed at once.
    let (_, request) = rig.create(video_spec(VerificationSpec::ekyc(), 1000));
    let bad_request = Fault::Error {
        status: 400,
        code: "InvalidArgument".to_owned(),
        message: None,
    };
    rig.emulator
        .set_faults(FaultEndpoint::Video, FaultPlan::rate(bad_request, 1.0))
        .unwrap();
    let m = rig.archiver().archive(&request).await.unwrap().manifest;
    rig.emulator.clear_faults();
    assert_eq!(m.video.fate, VideoFate::Failed);
    assert_eq!(m.video.fetch_attempts, 1);
    rig.assert_bundle_intact(&m).await;
}

#[tokio::test]
async fn a_video_server_failing_while_the_video_lives_fails_the_attempt_without_a_manifest() {
    let rig = rig().await;
    let (v, request) = rig.create(video_spec(VerificationSpec::ekyc(), 1000));
    rig.emulator
        .set_faults(
            FaultEndpoint::Video,
            FaultPlan::rate(Fault::InternalError, 1.0),
        )
        .unwrap();
    let err = rig
        .archiver_with(|s| s.video_limits.max_attempts = 3)
        .archive(&request)
        .await
        .unwrap_err();
    assert!(matches!(err, ArchiveError::VideoUnavailable(_)), "{err:?}");
    assert_eq!(err.class(), ErrorClass::RetrySoon);
    let videos = rig
        .emulator
        .requests()
        .iter()
        .filter(|r| r.endpoint == FaultEndpoint::Video)
        .count();
    assert_eq!(videos, 3);
    assert!(
        rig.store
            .get(&format!("{}/manifest.json", request.transaction_id))
            .await
            .unwrap()
            .is_none(),
        "nothing may be committed while the video may still be fetched"
    );

    // The server recovers: the next attempt archives the video.
    rig.emulator.clear_faults();
    let m = rig.archiver().archive(&request).await.unwrap().manifest;
    assert_eq!(m.video.fate, VideoFate::Archived);
    assert_eq!(
        m.artifact("video").unwrap().sha256,
        hex::encode(v.video_sha256().unwrap())
    );
    rig.assert_bundle_intact(&m).await;
}

#[tokio::test]
async fn a_second_run_finds_the_bundle_and_changes_nothing() {
    let rig = rig().await;
    let (_, request) = rig.create(video_spec(VerificationSpec::ekyc(), 50_000));
    let first = rig.archiver().archive(&request).await.unwrap();
    let manifest_bytes = rig.bytes(&first.manifest_key).await;
    let calls_before = rig.emulator.requests().len();
    let second = rig.archiver().archive(&request).await.unwrap();
    assert_eq!(second.outcome, Outcome::AlreadyArchived);
    assert_eq!(second.manifest, first.manifest);
    assert_eq!(rig.bytes(&first.manifest_key).await, manifest_bytes);
    assert_eq!(
        rig.emulator.requests().len(),
        calls_before,
        "a second run must not call the service"
    );
    rig.assert_bundle_intact(&first.manifest).await;
}

#[tokio::test]
async fn two_workers_racing_end_with_one_manifest_and_matching_artifacts() {
    let rig = rig().await;
    for _ in 0..3 {
        let (_, request) = rig.create(video_spec(VerificationSpec::ekyc(), 400_000));
        let (a, b) = (rig.archiver(), rig.archiver());
        let (ra, rb) = tokio::join!(a.archive(&request), b.archive(&request));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let archived = [ra.outcome, rb.outcome]
            .iter()
            .filter(|o| **o == Outcome::Archived)
            .count();
        assert_eq!(
            archived, 1,
            "exactly one run commits: {:?} {:?}",
            ra.outcome, rb.outcome
        );
        assert_eq!(
            ra.manifest, rb.manifest,
            "both report the committed manifest"
        );
        rig.assert_bundle_intact(&ra.manifest).await;
    }
}

#[tokio::test]
async fn a_crashed_attempt_is_cleaned_up_by_the_retry() {
    let rig = rig().await;
    let (_, request) = rig.create(video_spec(VerificationSpec::ekyc(), 10_000));
    // What a crash after the artifacts but before the manifest leaves behind.
    let stale = format!(
        "{}/20200101T000000Z-deadbeef/video.webm",
        request.transaction_id
    );
    rig.store
        .put(
            &stale,
            bytes::Bytes::from_static(b"partial"),
            &Default::default(),
        )
        .await
        .unwrap();
    let m = rig.archiver().archive(&request).await.unwrap().manifest;
    assert!(
        rig.store.get(&stale).await.unwrap().is_none(),
        "stale attempt not removed"
    );
    rig.assert_bundle_intact(&m).await;
}

#[tokio::test]
async fn process_not_completed_is_waited_for_then_reported_not_ready() {
    let rig = rig().await;
    let spec = VerificationSpec {
        not_completed_for: Some(Duration::from_secs(2)),
        ..VerificationSpec::id_ocr()
    };
    let (_, request) = rig.create(spec);
    let err = rig
        .archiver_with(|s| s.not_ready_wait = Duration::from_millis(300))
        .archive(&request)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::RetryLater, "{err}");
    let report = rig
        .archiver_with(|s| s.not_ready_wait = Duration::from_secs(20))
        .archive(&request)
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Archived);
}

#[tokio::test]
async fn service_errors_keep_their_class() {
    let rig = rig().await;
    let request = ArchiveRequest {
        transaction_id: "hksunknown".to_owned(),
        merchant_biz_id: "M1".to_owned(),
        ..ArchiveRequest::default()
    };
    let err = rig.archiver().archive(&request).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent, "{err}");
    let (_, request) = rig.create(VerificationSpec::id_ocr());
    rig.emulator
        .set_faults(
            FaultEndpoint::CheckResult,
            FaultPlan::script([Fault::RamUserAccessDenied]),
        )
        .unwrap();
    let err = rig.archiver().archive(&request).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Configuration, "{err}");
    let bad = ArchiveRequest {
        merchant_biz_id: "not valid!".to_owned(),
        ..request
    };
    assert_eq!(
        rig.archiver().archive(&bad).await.unwrap_err().class(),
        ErrorClass::Permanent
    );
}

#[tokio::test]
async fn verify_recomputes_hashes_and_reports_tampering() {
    let rig = rig().await;
    let (_, request) = rig.create(video_spec(VerificationSpec::ekyc(), 64_000));
    let m = rig.archiver().archive(&request).await.unwrap().manifest;
    let (_, other) = rig.create(VerificationSpec::id_ocr());
    rig.archiver().archive(&other).await.unwrap();

    let clean = verify_store(rig.store.as_ref(), &Selection::All, |_, _| {})
        .await
        .unwrap();
    assert_eq!(clean.bundles.len(), 2);
    assert_eq!(clean.finding_count(), 0, "{clean:?}");

    // Flip one byte of the stored video, behind the store's back.
    let video = m.artifact("video").unwrap();
    let path = rig.dir.path().join(&video.key);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    // Add an object nobody named.
    rig.store
        .put(
            &format!("{}/extra.bin", m.transaction_id),
            bytes::Bytes::from_static(b"x"),
            &Default::default(),
        )
        .await
        .unwrap();

    let report = verify_store(
        rig.store.as_ref(),
        &Selection::Transaction(m.transaction_id.clone()),
        |_, _| {},
    )
    .await
    .unwrap();
    let findings = &report.bundles[0].findings;
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, Finding::Altered { key, .. } if *key == video.key)),
        "{findings:?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, Finding::Extra { key } if key.ends_with("extra.bin"))),
        "{findings:?}"
    );
    let all = verify_store(rig.store.as_ref(), &Selection::All, |_, _| {})
        .await
        .unwrap();
    assert_eq!(all.finding_count(), 2);
}
