//! Fault injection through the real `kyc-archiver run` binary and the real RabbitMQ broker
//! (issue 6): `kill -9` at random moments across many runs, network outages of the broker,
//! the emulator and S3 behind fault-injecting proxies together with emulator faults, and the
//! crash-loop guard. Every test asserts outcomes (what is stored, what is queued), never
//! timings; deadlines are generous.
//!
//! Settings (defaults keep CI short; `scripts/chaos` runs the long version):
//! - `KYC_CHAOS_RUNS`: worker runs killed with SIGKILL (default 6);
//! - `KYC_CHAOS_S3_OUTAGE_SECS`: how long S3 is unreachable (default 5);
//! - `KYC_CHAOS_SEED`: replays a run's random choices (printed at the start).
//!
//! Each test prints a `chaos:` line with its counts, which `scripts/chaos` collects.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cloudauth_emulator::{Endpoint, Fault, FaultPlan, FaultRule, ScriptStep, VerificationSpec};
use evidence::manifest::VideoFate;
use evidence::message::ArchiveRequestV1;
use kyc_archiver_tests::rig::{QueueDepths, Rig, RigOptions, StoreKind, env_u64, seed, wait_for};
use kyc_archiver_tests::worker::WorkerProcess;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;

fn rule(fault: Fault, rate: f64) -> FaultRule {
    FaultRule {
        fault,
        rate,
        transaction_id: None,
        access_key_id: None,
    }
}

/// Transactions with objects but no manifest, in a local store.
fn partial_bundles(rig: &Rig) -> usize {
    let Ok(entries) = std::fs::read_dir(rig.dir()) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter(|e| !e.path().join("manifest.json").exists())
        .filter(|e| attempts_with_objects(&e.path()) > 0)
        .count()
}

/// Attempt directories under a transaction directory that hold at least one object.
fn attempts_with_objects(tx_dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(tx_dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter(|e| {
            std::fs::read_dir(e.path()).is_ok_and(|files| {
                files
                    .flatten()
                    .any(|f| !f.file_name().to_string_lossy().starts_with('.'))
            })
        })
        .count()
}

/// Waits until the worker has nothing left to do (no ready or delayed message and nothing in
/// flight, three samples in a row), stops it with SIGTERM and returns the queue depths after
/// it left: anything it had not acknowledged would be back in a queue.
async fn settle_and_stop(rig: &Rig, mut worker: WorkerProcess) -> QueueDepths {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut quiet = 0;
    while quiet < 3 {
        let d = rig.depths().await;
        let in_flight = worker.metric("kyc_archiver_in_flight");
        if d.work == 0 && d.retry == 0 && in_flight == 0.0 {
            quiet += 1;
        } else {
            quiet = 0;
            assert!(
                Instant::now() < deadline,
                "the worker is still busy after 120 s: {d:?}, {in_flight} in flight"
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    worker.signal(SIGTERM);
    let status = worker.wait(Duration::from_secs(60));
    assert!(status.success(), "worker exited with {status}");
    rig.depths().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_then_everything_is_archived_exactly_once() {
    let runs = env_u64("KYC_CHAOS_RUNS", 6);
    let seed = seed("KYC_CHAOS_SEED");
    let mut rng = StdRng::seed_from_u64(seed);
    let rig = Rig::local().await;
    let mut env = rig.env();
    env.insert(
        "KYC_ARCHIVER_CRASH_LIMIT".to_owned(),
        (runs + 1).to_string(),
    );
    // Videos stream at 1.5 MB/s, so a kill usually finds several uploads half done.
    rig.emulator
        .set_faults(
            Endpoint::Video,
            FaultPlan::rate(
                Fault::SlowStream {
                    bytes_per_second: 1_500_000,
                },
                1.0,
            ),
        )
        .unwrap();
    let count = (2 * runs + 4) as usize;
    let requests: Vec<ArchiveRequestV1> = (0..count)
        .map(|i| {
            let size = rng.gen_range(1_000_000..4_000_000);
            let spec = if i % 3 == 2 {
                VerificationSpec::face_liveness()
            } else {
                VerificationSpec::ekyc()
            };
            rig.verification(spec.with_video(size))
        })
        .collect();
    for r in &requests {
        rig.publish(r).await;
    }
    let ids: Vec<&str> = requests.iter().map(|r| r.transaction_id.as_str()).collect();

    let (mut kills, mut partial_seen, mut archived_before_kill) = (0, 0, 0);
    for run in 0..runs {
        let mut worker = WorkerProcess::start(&env);
        let delay = Duration::from_millis(rng.gen_range(50..1500));
        tokio::time::sleep(delay).await;
        worker.signal(SIGKILL);
        let status = worker.wait(Duration::from_secs(30));
        assert!(!status.success(), "run {run}: the worker was not killed");
        kills += 1;
        partial_seen += partial_bundles(&rig);
        archived_before_kill = rig.manifest_ids().await.len();
    }

    rig.emulator.clear_faults();
    let worker = WorkerProcess::start(&env);
    let manifests = rig.wait_for_manifests(&ids, Duration::from_secs(180)).await;
    let depths = settle_and_stop(&rig, worker).await;
    assert_eq!(
        depths,
        QueueDepths::default(),
        "every message acknowledged, none moved"
    );
    for (m, r) in manifests.iter().zip(&requests) {
        assert_eq!(m.transaction_id, r.transaction_id);
        assert_eq!(m.video.fate, VideoFate::Archived, "{}", m.transaction_id);
    }
    let audit = rig.audit().await;
    assert_eq!(audit.bundles, count, "one bundle per request, no other");
    assert_eq!(audit.videos_checked, count);
    println!(
        "chaos: kill_9 seed={seed} runs={runs} kills={kills} requests={count} \
         archived_before_last_kill={archived_before_kill} partial_bundles_seen={partial_seen} \
         bundles={} objects={} bytes_verified={} hidden_temp_files={}",
        audit.bundles, audit.objects, audit.bytes_verified, audit.hidden_temp_files
    );
    rig.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outages_and_emulator_faults_lose_nothing() {
    let outage = Duration::from_secs(env_u64("KYC_CHAOS_S3_OUTAGE_SECS", 5));
    let seed = seed("KYC_CHAOS_SEED");
    let mut rng = StdRng::seed_from_u64(seed);
    let rig = Rig::new(RigOptions {
        store: StoreKind::S3,
        proxies: true,
        retry_delays: vec![
            Duration::from_secs(1),
            Duration::from_secs(2),
            Duration::from_secs(4),
        ],
    })
    .await;
    let proxies = rig.proxies.as_ref().expect("proxies");
    let s3_proxy = proxies.s3.as_ref().expect("an s3 proxy");
    let mut env = rig.env();
    // Outages must end in an archive, not in `retries_exhausted`: attempts are plenty.
    env.insert("KYC_ARCHIVER_MAX_ATTEMPTS".to_owned(), "100".to_owned());
    env.insert("KYC_ARCHIVER_S3_PART_SIZE".to_owned(), "5MiB".to_owned());

    // Throttling on 30 % of CheckResult calls, 5xx on 5 %; slow, cut, short and refused
    // video downloads.
    rig.emulator
        .set_faults(
            Endpoint::CheckResult,
            FaultPlan {
                script: Vec::new(),
                rules: vec![
                    rule(Fault::Throttling, 0.30),
                    rule(Fault::InternalError, 0.05),
                ],
            },
        )
        .unwrap();
    rig.emulator
        .set_faults(
            Endpoint::Video,
            FaultPlan {
                script: Vec::new(),
                rules: vec![
                    rule(
                        Fault::SlowStream {
                            bytes_per_second: 2_000_000,
                        },
                        0.3,
                    ),
                    rule(Fault::CutAfter { bytes: 300_000 }, 0.15),
                    rule(Fault::ShortBody { bytes: 500_000 }, 0.15),
                    rule(Fault::Throttling, 0.1),
                ],
            },
        )
        .unwrap();

    let good = |rng: &mut StdRng| {
        let spec = match rng.gen_range(0..3) {
            0 => VerificationSpec::ekyc().with_video(rng.gen_range(500_000..3_000_000)),
            1 => VerificationSpec::face_liveness().with_video(rng.gen_range(500_000..7_000_000)),
            _ => VerificationSpec::id_ocr(),
        };
        rig.verification(spec)
    };
    // Requests that must end in the dead-letter and parking queues, whatever the faults.
    let unknown: Vec<ArchiveRequestV1> = (0..2)
        .map(|i| ArchiveRequestV1::new(format!("hks0000chaos{i}unknown"), "M1"))
        .collect();
    let denied = rig.verification(VerificationSpec::id_ocr());
    let mut plan = rig.emulator.faults(Endpoint::CheckResult);
    plan.script.push(ScriptStep {
        fault: Fault::RamUserAccessDenied,
        times: 1000,
        transaction_id: Some(denied.transaction_id.clone()),
        access_key_id: None,
    });
    rig.emulator
        .set_faults(Endpoint::CheckResult, plan)
        .unwrap();

    let worker = WorkerProcess::start(&env);
    let first: Vec<ArchiveRequestV1> = (0..12).map(|_| good(&mut rng)).collect();
    for r in first.iter().chain(&unknown).chain([&denied]) {
        rig.publish(r).await;
    }
    let progress = |n: usize| {
        let rig = &rig;
        async move {
            wait_for(
                &format!("{n} bundles"),
                Duration::from_secs(120),
                || async {
                    let have = rig.manifest_ids().await.len();
                    if have >= n {
                        Ok(())
                    } else {
                        Err(format!("{have}"))
                    }
                },
            )
            .await
        }
    };

    // 1. The broker connection is cut and the broker is away for 2 s.
    progress(2).await;
    proxies.broker.refuse_for(Duration::from_secs(2));
    // 2. The emulator (CheckResult and videos) is away for 3 s, then truncates every new
    //    connection after 256 KiB and crawls for a while.
    progress(4).await;
    proxies.emulator.refuse_for(Duration::from_secs(3));
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxies.emulator.cut_after(Some(256 * 1024));
    proxies.emulator.slow(Some(1_000_000));
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxies.emulator.heal();
    // 3. S3 is unreachable; more requests arrive meanwhile.
    progress(6).await;
    s3_proxy.refuse_for(outage);
    let second: Vec<ArchiveRequestV1> = (0..12).map(|_| good(&mut rng)).collect();
    for r in &second {
        rig.publish(r).await;
    }
    tokio::time::sleep(outage).await;
    // One more broker cut while the backlog drains.
    proxies.broker.cut();

    let ids: Vec<&str> = first
        .iter()
        .chain(&second)
        .map(|r| r.transaction_id.as_str())
        .collect();
    rig.wait_for_manifests(&ids, Duration::from_secs(240) + outage)
        .await;
    rig.wait_for_queue(&rig.topology.dead, 2, Duration::from_secs(60))
        .await;
    rig.wait_for_queue(&rig.topology.parked, 1, Duration::from_secs(60))
        .await;
    let metrics_retries = worker.metric("kyc_archiver_retries_total");
    let store_errors = worker.metric("kyc_archiver_store_errors_total");
    let connects = worker.metric("kyc_archiver_broker_connects_total");
    let depths = settle_and_stop(&rig, worker).await;
    assert_eq!(
        depths,
        QueueDepths {
            dead: 2,
            parked: 1,
            ..QueueDepths::default()
        },
        "nothing lost, nothing duplicated"
    );
    let dead = rig.drain(&rig.topology.dead).await;
    let dead_ids: BTreeSet<String> = dead
        .iter()
        .map(|t| ArchiveRequestV1::parse(&t.body).unwrap().transaction_id)
        .collect();
    let want: BTreeSet<String> = unknown.iter().map(|r| r.transaction_id.clone()).collect();
    assert_eq!(dead_ids, want);
    for t in &dead {
        assert_eq!(
            t.headers["x-kyc-error-class"], "permanent",
            "{:?}",
            t.headers
        );
        assert!(t.headers["x-kyc-reason"].contains("TransactionIdInvalid"));
    }
    let parked = rig.drain(&rig.topology.parked).await;
    assert_eq!(
        ArchiveRequestV1::parse(&parked[0].body).unwrap(),
        denied,
        "the parked request"
    );
    assert_eq!(parked[0].headers["x-kyc-error-class"], "configuration");
    assert!(parked[0].headers["x-kyc-reason"].contains("Forbidden.RAMUserAccessDenied"));
    assert!(rig.manifest(&denied.transaction_id).await.is_none());

    let audit = rig.audit().await;
    assert_eq!(
        audit.bundles,
        ids.len(),
        "one bundle per good request, no other"
    );
    let with_video = ids
        .iter()
        .filter(|id| {
            rig.emulator
                .verification(id)
                .is_some_and(|v| v.video.is_some())
        })
        .count();
    assert_eq!(
        audit.videos_checked, with_video,
        "every video byte-identical"
    );
    let counts = rig.emulator_counts();
    let (broker, emulator, s3) = (
        proxies.broker.stats(),
        proxies.emulator.stats(),
        s3_proxy.stats(),
    );
    println!(
        "chaos: outages seed={seed} s3_outage_secs={} requests={} archived={} dead={} parked={} \
         checkresult_calls={} throttled={} server_errors={} video_requests={} video_faults={} \
         worker_retries={metrics_retries} store_errors={store_errors} broker_connects={connects} \
         broker_cuts={} emulator_cuts={} emulator_refused={} s3_cuts={} s3_refused={} \
         bytes_verified={}",
        outage.as_secs(),
        ids.len() + 3,
        audit.bundles,
        dead.len(),
        parked.len(),
        counts.checkresult,
        counts.throttled,
        counts.server_errors,
        counts.video,
        counts.video_faults,
        broker.cut,
        emulator.cut,
        emulator.refused,
        s3.cut,
        s3.refused,
        audit.bytes_verified,
    );
    rig.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_keeps_killing_the_worker_is_dead_lettered_by_the_crash_loop_guard() {
    let rig = Rig::local().await;
    let mut env = rig.env();
    env.insert("KYC_ARCHIVER_CRASH_LIMIT".to_owned(), "3".to_owned());
    // The fatal request: the most urgent (its video is deleted soonest), and its video
    // crawls, so every worker is in the middle of it when it dies.
    let fatal = rig.verification(
        VerificationSpec::face_liveness()
            .with_video(2_000_000)
            .completed_ago(Duration::from_secs(20 * 60)),
    );
    rig.emulator
        .set_faults(
            Endpoint::Video,
            FaultPlan::rate(
                Fault::SlowStream {
                    bytes_per_second: 100_000,
                },
                1.0,
            )
            .for_transaction(&fatal.transaction_id),
        )
        .unwrap();
    let others: Vec<ArchiveRequestV1> = (0..4)
        .map(|_| rig.verification(VerificationSpec::ekyc().with_video(200_000)))
        .collect();
    rig.publish(&fatal).await;
    for r in &others {
        rig.publish(r).await;
    }
    let tx_dir = rig.dir().join(&fatal.transaction_id);
    // Three crashes make it a suspect (and any request in flight beside it); the fourth
    // worker runs it alone, and the crash while it is alone convicts it.
    for crash in 1..=4 {
        let mut worker = WorkerProcess::start(&env);
        wait_for(
            &format!("attempt {crash} of the fatal request storing objects"),
            Duration::from_secs(60),
            || async {
                let n = attempts_with_objects(&tx_dir);
                if n >= crash {
                    Ok(())
                } else {
                    Err(format!("{n} attempts with objects"))
                }
            },
        )
        .await;
        worker.signal(SIGKILL);
        worker.wait(Duration::from_secs(30));
    }
    let worker = WorkerProcess::start(&env);
    rig.wait_for_queue(&rig.topology.dead, 1, Duration::from_secs(60))
        .await;
    let ids: Vec<&str> = others.iter().map(|r| r.transaction_id.as_str()).collect();
    rig.wait_for_manifests(&ids, Duration::from_secs(90)).await;
    let depths = settle_and_stop(&rig, worker).await;
    assert_eq!(
        depths,
        QueueDepths {
            dead: 1,
            ..QueueDepths::default()
        }
    );
    let dead = rig.drain(&rig.topology.dead).await;
    assert_eq!(ArchiveRequestV1::parse(&dead[0].body).unwrap(), fatal);
    let headers = &dead[0].headers;
    assert_eq!(
        headers.get("x-kyc-error-class").map(String::as_str),
        Some("crash_loop"),
        "{headers:?}"
    );
    assert!(
        headers.get("x-kyc-reason").is_some_and(|r| !r.is_empty()),
        "{headers:?}"
    );
    assert!(
        !headers.contains_key("x-first-death-reason"),
        "dead-lettered by the worker, not by the broker's delivery limit: {headers:?}"
    );
    assert!(rig.manifest(&fatal.transaction_id).await.is_none());
    let audit_ids = rig.manifest_ids().await;
    assert_eq!(audit_ids.len(), others.len());
    println!(
        "chaos: crash_loop kills=4 crash_limit=3 dead_class=crash_loop others_archived={}",
        audit_ids.len()
    );
    rig.teardown().await;
}
