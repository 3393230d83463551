//! The real `kyc-archiver run` binary through the real RabbitMQ broker, with the emulator
//! in this process and a local-directory store: happy path for every product, every
//! disposition read back from the queues, malformed messages, a broker connection cut,
//! SIGTERM with work in flight, and kill -9 during uploads followed by a restart.

use std::time::{Duration, Instant};

use cloudauth_emulator::{Fault, FaultPlan, ScriptStep, VerificationSpec};
use evidence::manifest::VideoFate;
use evidence::message::ArchiveRequestV1;
use kyc_archiver_tests::proxy::Proxy;
use kyc_archiver_tests::rig::Rig;
use kyc_archiver_tests::worker::{WorkerProcess, run_to_exit};

/// Emulator in this process, a local-directory store, fresh queues: the shared rig.
async fn setup() -> Rig {
    Rig::local().await
}

fn video(spec: VerificationSpec, size: u64) -> VerificationSpec {
    VerificationSpec {
        video_size: Some(size),
        ..spec
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_product_is_archived_through_the_queue() {
    let s = setup().await;
    let worker = WorkerProcess::start(&s.env());
    let requests = [
        s.verification(video(VerificationSpec::ekyc(), 300_000)),
        s.verification(VerificationSpec::id_ocr()),
        s.verification(video(VerificationSpec::face_liveness(), 200_000)),
        s.verification(video(VerificationSpec::ekyc().failed(205), 10_000)),
        s.verification(VerificationSpec {
            completed_ago: Some(Duration::from_secs(35 * 60)),
            ..video(VerificationSpec::ekyc(), 10_000)
        }),
    ];
    for r in &requests {
        s.publish(r).await;
    }
    let ids: Vec<&str> = requests.iter().map(|r| r.transaction_id.as_str()).collect();
    let manifests = s.wait_for_manifests(&ids, Duration::from_secs(60)).await;
    let fates: Vec<VideoFate> = manifests.iter().map(|m| m.video.fate).collect();
    assert_eq!(
        fates,
        [
            VideoFate::Archived,
            VideoFate::Absent,
            VideoFate::Archived,
            VideoFate::Archived,
            VideoFate::Deleted
        ]
    );
    assert_eq!(manifests[3].verdict.sub_code.as_deref(), Some("205"));
    assert_eq!(manifests[0].product.as_deref(), Some("eKYC"));
    assert_eq!(s.audit().await.bundles, 5);
    // Every message was acknowledged: nothing waits, nothing was dead-lettered or parked.
    let deadline = Instant::now() + Duration::from_secs(10);
    while worker.metric("kyc_archiver_requests_total{outcome=\"archived\"}") < 5.0 {
        assert!(
            Instant::now() < deadline,
            "archived counter never reached 5"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.broker.count(&s.topology.work).await, 0);
    assert_eq!(s.broker.count(&s.topology.dead).await, 0);
    assert_eq!(s.broker.count(&s.topology.parked).await, 0);
    // The metrics the dashboards use count what really happened.
    assert!(worker.metric("kyc_archiver_checkresult_calls_total{code=\"Success\"}") >= 5.0);
    assert_eq!(
        worker.metric("kyc_archiver_videos_total{fate=\"deleted\"}"),
        1.0
    );
    assert_eq!(
        worker.metric("kyc_archiver_videos_total{fate=\"archived\"}"),
        3.0
    );
    let video_bytes: u64 = manifests
        .iter()
        .filter_map(|m| m.artifact("video"))
        .map(|a| a.bytes)
        .sum();
    assert_eq!(
        worker.metric("kyc_archiver_bytes_archived_total{kind=\"video\"}"),
        video_bytes as f64
    );
    assert!(worker.metric("kyc_archiver_video_deadline_slack_seconds_count") >= 4.0);
    drop(worker);
    s.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_are_dead_lettered_with_the_reason() {
    let s = setup().await;
    let _worker = WorkerProcess::start(&s.env());
    let bodies: Vec<(&[u8], &str)> = vec![
        (b"not json at all", "not JSON"),
        (b"", "not JSON"),
        (b"[]", "not a JSON object"),
        (
            br#"{"transaction_id":"t1","merchant_biz_id":"M1"}"#,
            "no integer version",
        ),
        (
            br#"{"version":9,"transaction_id":"t1","merchant_biz_id":"M1"}"#,
            "version 9 is not supported",
        ),
        (
            br#"{"version":1,"transaction_id":"t1"}"#,
            "missing field `merchant_biz_id`",
        ),
        (
            br#"{"version":1,"transaction_id":"t1","merchant_biz_id":"M1","extra":1}"#,
            "unknown field `extra`",
        ),
        (
            br#"{"version":1,"transaction_id":"a/b","merchant_biz_id":"M1"}"#,
            "transaction_id must be",
        ),
        (
            br#"{"version":1,"transaction_id":"t1","merchant_biz_id":true}"#,
            "invalid type: boolean",
        ),
    ];
    let oversize = format!(
        r#"{{"version":1,"transaction_id":"t1","merchant_biz_id":"M1","merchant_user_ref":"{}"}}"#,
        "x".repeat(20_000)
    );
    for (body, _) in &bodies {
        s.publish_raw(body).await;
    }
    s.publish_raw(oversize.as_bytes()).await;
    s.wait_for_queue(
        &s.topology.dead,
        bodies.len() as u32 + 1,
        Duration::from_secs(30),
    )
    .await;
    let dead = s.broker.drain(&s.topology.dead).await;
    assert_eq!(dead.len(), bodies.len() + 1);
    for (taken, (body, reason)) in dead.iter().zip(&bodies) {
        assert_eq!(&taken.body, body, "the message is kept byte for byte");
        assert_eq!(
            taken.headers.get("x-kyc-error-class").map(String::as_str),
            Some("invalid_message")
        );
        let got = taken
            .headers
            .get("x-kyc-reason")
            .cloned()
            .unwrap_or_default();
        assert!(got.contains(reason), "reason {got:?} lacks {reason:?}");
        assert!(taken.headers.contains_key("x-kyc-failed-at"));
    }
    assert!(dead.last().unwrap().headers["x-kyc-reason"].contains("more than the 16384 allowed"));
    s.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_class_has_its_disposition() {
    let s = setup().await;
    let worker = WorkerProcess::start(&s.env());

    // Permanent: the service does not know the transaction.
    let unknown = ArchiveRequestV1::new("hks0000unknown", "M1");
    s.publish(&unknown).await;
    // Configuration: access denied → parked.
    let denied = s.verification(VerificationSpec::id_ocr());
    let step = ScriptStep {
        fault: Fault::RamUserAccessDenied,
        times: 100,
        transaction_id: Some(denied.transaction_id.clone()),
        access_key_id: None,
    };
    s.emulator
        .set_faults(
            cloudauth_emulator::Endpoint::CheckResult,
            FaultPlan {
                script: vec![step],
                rules: vec![],
            },
        )
        .unwrap();
    s.publish(&denied).await;
    // Retry later: not completed for 3 s, the worker waits 1 s per attempt, the delay queues
    // bring it back until it is archived.
    let late = s.verification(VerificationSpec {
        not_completed_for: Some(Duration::from_secs(3)),
        ..VerificationSpec::id_ocr()
    });
    s.publish(&late).await;

    s.wait_for_queue(&s.topology.dead, 1, Duration::from_secs(30))
        .await;
    s.wait_for_queue(&s.topology.parked, 1, Duration::from_secs(30))
        .await;
    s.wait_for_manifests(&[&late.transaction_id], Duration::from_secs(60))
        .await;

    let dead = s.broker.drain(&s.topology.dead).await;
    assert_eq!(ArchiveRequestV1::parse(&dead[0].body).unwrap(), unknown);
    assert_eq!(dead[0].headers["x-kyc-error-class"], "permanent");
    assert!(
        dead[0].headers["x-kyc-reason"].contains("TransactionIdInvalid"),
        "{:?}",
        dead[0].headers
    );
    assert_eq!(dead[0].headers["x-kyc-attempt"], "1");
    let parked = s.broker.drain(&s.topology.parked).await;
    assert_eq!(ArchiveRequestV1::parse(&parked[0].body).unwrap(), denied);
    assert_eq!(parked[0].headers["x-kyc-error-class"], "configuration");
    assert!(parked[0].headers["x-kyc-reason"].contains("Forbidden.RAMUserAccessDenied"));
    assert!(worker.metric("kyc_archiver_queue_dispositions_total{queue=\"retry\"}") >= 1.0);
    assert!(worker.metric("kyc_archiver_queue_dispositions_total{queue=\"parked\"}") >= 1.0);
    assert!(s.manifest(&denied.transaction_id).await.is_none());

    // Fix the cause, replay the parking queue: the request is archived.
    s.emulator.clear_faults();
    s.publish_raw(&parked[0].body).await;
    s.wait_for_manifests(&[&denied.transaction_id], Duration::from_secs(30))
        .await;
    s.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_connection_cut_loses_nothing() {
    let s = setup().await;
    let upstream: std::net::SocketAddr = "127.0.0.1:5672".parse().unwrap();
    let proxy = Proxy::start(upstream).await;
    let amqp_via_proxy =
        kyc_archiver_tests::amqp_url().replace("127.0.0.1:5672", &proxy.addr().to_string());
    let mut env = s.env();
    env.insert("KYC_ARCHIVER_AMQP_URL".to_owned(), amqp_via_proxy);
    let worker = WorkerProcess::start(&env);

    let mut ids = Vec::new();
    for i in 0..12 {
        let r = s.verification(video(VerificationSpec::face_liveness(), 200_000 + i));
        s.publish(&r).await;
        ids.push(r.transaction_id);
        if i == 4 || i == 8 {
            proxy.cut();
        }
    }
    // Cut once more while work is in flight, and keep the broker away for a moment.
    proxy.refuse(true);
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.refuse(false);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    s.wait_for_manifests(&refs, Duration::from_secs(90)).await;
    assert_eq!(s.audit().await.bundles, 12);
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.broker.count(&s.topology.work).await > 0 {
        assert!(Instant::now() < deadline, "work queue never drained");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(s.broker.count(&s.topology.dead).await, 0);
    assert!(
        worker.metric("kyc_archiver_broker_connects_total") >= 2.0,
        "the worker reconnected"
    );
    s.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_work_and_returns_the_rest() {
    let s = setup().await;
    let mut env = s.env();
    env.insert("KYC_ARCHIVER_CONCURRENCY".to_owned(), "1".to_owned());
    env.insert("KYC_ARCHIVER_PREFETCH".to_owned(), "4".to_owned());
    let mut worker = WorkerProcess::start(&env);
    // The first video streams slowly (about 2 s); three more wait behind it.
    s.emulator
        .set_faults(
            cloudauth_emulator::Endpoint::Video,
            FaultPlan::script([Fault::SlowStream {
                bytes_per_second: 500_000,
            }]),
        )
        .unwrap();
    let requests: Vec<ArchiveRequestV1> = (0..4)
        .map(|_| s.verification(video(VerificationSpec::face_liveness(), 1_000_000)))
        .collect();
    for r in &requests {
        s.publish(r).await;
    }
    // Wait until the slow download is under way.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s
        .emulator
        .requests()
        .iter()
        .any(|r| r.endpoint == cloudauth_emulator::Endpoint::Video)
    {
        assert!(Instant::now() < deadline, "no video download started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.signal(15);
    let status = worker.wait(Duration::from_secs(40));
    assert!(status.success(), "worker exited with {status}");
    let mut archived: Vec<&ArchiveRequestV1> = Vec::new();
    for r in &requests {
        if s.manifest(&r.transaction_id).await.is_some() {
            archived.push(r);
        }
    }
    assert!(!archived.is_empty(), "the in-flight request was finished");
    // Everything not archived went back to the work queue, nothing was lost.
    let left = s.broker.count(&s.topology.work).await as usize;
    assert_eq!(
        archived.len() + left,
        requests.len(),
        "archived {} + queued {left}",
        archived.len()
    );
    // A new worker takes the rest.
    let _worker = WorkerProcess::start(&env);
    let ids: Vec<&str> = requests.iter().map(|r| r.transaction_id.as_str()).collect();
    s.wait_for_manifests(&ids, Duration::from_secs(60)).await;
    s.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_uploads_then_restart_archives_everything_exactly_once() {
    let s = setup().await;
    let env = s.env();
    s.emulator
        .set_faults(
            cloudauth_emulator::Endpoint::Video,
            FaultPlan::rate(
                Fault::SlowStream {
                    bytes_per_second: 4_000_000,
                },
                1.0,
            ),
        )
        .unwrap();
    let requests: Vec<ArchiveRequestV1> = (0..10)
        .map(|_| s.verification(video(VerificationSpec::ekyc(), 1_500_000)))
        .collect();
    for r in &requests {
        s.publish(r).await;
    }
    for round in 0..3 {
        let mut worker = WorkerProcess::start(&env);
        tokio::time::sleep(Duration::from_millis(400 + 300 * round)).await;
        worker.signal(9);
        worker.wait(Duration::from_secs(10));
    }
    s.emulator.clear_faults();
    let _worker = WorkerProcess::start(&env);
    let ids: Vec<&str> = requests.iter().map(|r| r.transaction_id.as_str()).collect();
    let manifests = s.wait_for_manifests(&ids, Duration::from_secs(90)).await;
    for (m, r) in manifests.iter().zip(&requests) {
        let v = s.emulator.verification(&r.transaction_id).unwrap();
        assert_eq!(
            m.artifact("video").unwrap().sha256,
            hex::encode(v.video_sha256().unwrap())
        );
    }
    // Exactly once: one manifest per transaction, no leftover attempt, every hash verified.
    // (The audit also fails on any object no manifest names.)
    assert_eq!(s.audit().await.bundles, 10);
    assert_eq!(s.broker.count(&s.topology.dead).await, 0);
    s.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_video_deleted_soonest_is_archived_first() {
    let s = setup().await;
    let mut env = s.env();
    env.insert("KYC_ARCHIVER_CONCURRENCY".to_owned(), "1".to_owned());
    env.insert("KYC_ARCHIVER_PREFETCH".to_owned(), "16".to_owned());
    // A slow first request keeps the single worker busy while the others arrive.
    s.emulator
        .set_faults(
            cloudauth_emulator::Endpoint::Video,
            FaultPlan::script([Fault::SlowStream {
                bytes_per_second: 200_000,
            }]),
        )
        .unwrap();
    let blocker = s.verification(video(VerificationSpec::face_liveness(), 600_000));
    let _worker = WorkerProcess::start(&env);
    s.publish(&blocker).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s
        .emulator
        .requests()
        .iter()
        .any(|r| r.endpoint == cloudauth_emulator::Endpoint::Video)
    {
        assert!(Instant::now() < deadline, "the blocker never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Completed 25, 5, 20, 10 and 15 minutes ago: deleted in 5, 25, 10, 20 and 15 minutes,
    // plus one whose video is already gone and one without a completion time (both last).
    let mut requests = Vec::new();
    for ago in [25u64, 5, 20, 10, 15, 45] {
        let spec = VerificationSpec {
            completed_ago: Some(Duration::from_secs(ago * 60)),
            ..video(VerificationSpec::face_liveness(), 1000)
        };
        requests.push((Some(ago), s.verification(spec)));
    }
    let mut unknown = s.verification(video(VerificationSpec::face_liveness(), 1000));
    unknown.completed_at = None;
    requests.insert(2, (None, unknown));
    for (_, r) in &requests {
        s.publish(r).await;
    }
    let ids: Vec<&str> = requests
        .iter()
        .map(|(_, r)| r.transaction_id.as_str())
        .collect();
    s.wait_for_manifests(&ids, Duration::from_secs(60)).await;
    // The order of CheckResult calls after the blocker's is the processing order.
    let order: Vec<String> = s
        .emulator
        .requests()
        .iter()
        .filter(|r| r.endpoint == cloudauth_emulator::Endpoint::CheckResult)
        .filter_map(|r| r.params.get("TransactionId").cloned())
        .filter(|t| *t != blocker.transaction_id)
        .collect();
    let position = |ago: Option<u64>| {
        let tx = &requests
            .iter()
            .find(|(a, _)| *a == ago)
            .unwrap()
            .1
            .transaction_id;
        order.iter().position(|t| t == tx).unwrap()
    };
    let urgent: Vec<usize> = [25, 20, 15, 10, 5]
        .iter()
        .map(|a| position(Some(*a)))
        .collect();
    assert!(
        urgent.windows(2).all(|w| w[0] < w[1]),
        "deadline order violated: {urgent:?} in {order:?}"
    );
    assert!(
        position(Some(45)) > urgent[4] && position(None) > urgent[4],
        "gone or unknown videos go last: {order:?}"
    );
    s.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_declared_with_other_arguments_stops_the_worker_with_a_clear_error() {
    let s = setup().await;
    let request = s.verification(VerificationSpec::ekyc());
    s.publish(&request).await;
    let mut env = s.env();
    // The work queue exists with the default delivery limit; asking for another is a
    // configuration error the broker refuses (PRECONDITION_FAILED), not an outage.
    env.insert("KYC_ARCHIVER_DELIVERY_LIMIT".to_owned(), "7".to_owned());
    let (status, stderr) =
        tokio::task::spawn_blocking(move || run_to_exit(&env, Duration::from_secs(60)))
            .await
            .unwrap();
    assert!(!status.success(), "{status}");
    assert!(
        stderr.contains("PRECONDITION_FAILED") || stderr.contains("other arguments"),
        "{stderr}"
    );
    // Nothing was consumed: the request still waits, and a worker with the queue's own
    // settings archives it.
    assert_eq!(s.broker.count(&s.topology.work).await, 1);
    let _worker = WorkerProcess::start(&s.env());
    s.wait_for_manifests(&[&request.transaction_id], Duration::from_secs(60))
        .await;
    s.teardown().await;
}
