//! The operator-facing commands of the real binary against the real broker: `enqueue` from a
//! file, `queue replay`, `config check`, and the worker's HTTP ways in (`/readyz`, the
//! completion callback).

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use cloudauth_emulator::{Emulator, EmulatorConfig, VerificationSpec};
use evidence::message::ArchiveRequestV1;
use kyc_archiver::queue::Topology;
use kyc_archiver_tests::amqp::Broker;
use kyc_archiver_tests::worker::{WorkerProcess, worker_env};
use kyc_archiver_tests::{amqp_url, bin};
use lapin::BasicProperties;
use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

fn kyc(env: &BTreeMap<String, String>, args: &[&str]) -> Output {
    Command::new(bin("kyc-archiver", "kyc-archiver"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .output()
        .expect("run kyc-archiver")
}

fn queue_env(prefix: &str) -> BTreeMap<String, String> {
    [
        ("KYC_ARCHIVER_AMQP_URL".to_owned(), amqp_url()),
        ("KYC_ARCHIVER_QUEUE_PREFIX".to_owned(), prefix.to_owned()),
        ("KYC_ARCHIVER_RETRY_DELAYS".to_owned(), "1s,2s".to_owned()),
    ]
    .into_iter()
    .collect()
}

async fn fresh_topology() -> (String, Topology, Broker) {
    let prefix = format!("kyc-cli-{}", uuid::Uuid::new_v4().simple());
    let topology = Topology::new(&prefix, &[Duration::from_secs(1), Duration::from_secs(2)]);
    let broker = Broker::connect().await;
    topology.declare(&broker.channel).await.unwrap();
    (prefix, topology, broker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_publishes_valid_rows_and_names_bad_lines() {
    let (prefix, topology, broker) = fresh_topology().await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("backfill.csv");
    std::fs::write(
        &csv,
        "transaction_id,merchant_biz_id,completed_at,product,team\n\
         tx-1,M1,2026-11-21T10:00:00Z,eKYC,onboarding\n\
         tx-2,bad id,,,\n\
         tx-3,M3,,ID_OCR,\n",
    )
    .unwrap();
    let out = kyc(
        &queue_env(&prefix),
        &["enqueue", "--file", csv.to_str().unwrap(), "--quiet"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("line 3: invalid message: merchant_biz_id must be"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("enqueued 2 requests"));
    let taken = broker.drain(&topology.work).await;
    let ids: Vec<String> = taken
        .iter()
        .map(|t| ArchiveRequestV1::parse(&t.body).unwrap().transaction_id)
        .collect();
    assert_eq!(ids, ["tx-1", "tx-3"]);
    let first = ArchiveRequestV1::parse(&taken[0].body).unwrap();
    assert_eq!(
        first.labels.get("team").map(String::as_str),
        Some("onboarding")
    );

    let jsonl = dir.path().join("more.jsonl");
    let lines: Vec<String> = (0..300)
        .map(|i| String::from_utf8(ArchiveRequestV1::new(format!("j{i}"), "M1").to_json()).unwrap())
        .collect();
    std::fs::write(&jsonl, lines.join("\n")).unwrap();
    let out = kyc(
        &queue_env(&prefix),
        &["enqueue", "--file", jsonl.to_str().unwrap(), "--quiet"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(broker.count(&topology.work).await, 300);

    let out = kyc(
        &queue_env(&prefix),
        &[
            "enqueue",
            "--transaction-id",
            "single",
            "--merchant-biz-id",
            "M9",
        ],
    );
    assert!(out.status.success());
    assert_eq!(broker.count(&topology.work).await, 301);
    broker.delete_topology(&topology).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_moves_parked_messages_back_to_work() {
    let (prefix, topology, broker) = fresh_topology().await;
    for i in 0..3 {
        let mut headers = FieldTable::default();
        headers.insert(
            ShortString::from("x-kyc-reason"),
            AMQPValue::LongString(LongString::from("access denied".to_owned())),
        );
        headers.insert(
            ShortString::from("x-kyc-attempt"),
            AMQPValue::LongLongInt(3),
        );
        let body = ArchiveRequestV1::new(format!("p{i}"), "M1").to_json();
        broker
            .channel
            .basic_publish(
                "",
                &topology.parked,
                BasicPublishOptions::default(),
                &body,
                BasicProperties::default().with_headers(headers),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let out = kyc(
        &queue_env(&prefix),
        &["queue", "replay", "--from", "parked", "--limit", "2"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("moved 2 messages"));
    assert_eq!(broker.count(&topology.parked).await, 1);
    let moved = broker.drain(&topology.work).await;
    assert_eq!(moved.len(), 2);
    for m in &moved {
        assert!(
            !m.headers.contains_key("x-kyc-attempt"),
            "attempts restart: {:?}",
            m.headers
        );
        assert_eq!(
            m.headers.get("x-kyc-replayed-reason").map(String::as_str),
            Some("access denied")
        );
        assert_eq!(m.headers.get("x-kyc-replayed-from"), Some(&topology.parked));
    }
    broker.delete_topology(&topology).await;
}

#[test]
fn config_check_masks_secrets_and_names_bad_settings() {
    let mut env: BTreeMap<String, String> = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI5tExampleId"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "secret-do-not-print"),
        (
            "KYC_ARCHIVER_AMQP_URL",
            "amqp://user:amqp-password@broker:5672/%2f",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let out = kyc(&env, &["config", "check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("LTAI5tExampleId") && stdout.contains("configuration is valid"));
    assert!(
        !stdout.contains("secret-do-not-print") && !stdout.contains("amqp-password"),
        "{stdout}"
    );

    env.insert("KYC_ARCHIVER_CLOUDAUTH_QPS".to_owned(), "lots".to_owned());
    env.insert("KYC_ARCHIVER_S3_CHECKSUM".to_owned(), "crc7".to_owned());
    env.insert("KYC_ARCHIVER_S3_BUCKET".to_owned(), "b".to_owned());
    let out = kyc(&env, &["config", "check"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("cloudauth.qps (KYC_ARCHIVER_CLOUDAUTH_QPS)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("store.s3_checksum (KYC_ARCHIVER_S3_CHECKSUM)"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret-do-not-print"));

    // `run` refuses to start without credentials before connecting anywhere.
    let out = kyc(&BTreeMap::new(), &["run"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ALIBABA_CLOUD_ACCESS_KEY_ID"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_completion_callback_becomes_an_archive_request() {
    let emulator = Emulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (prefix, topology, broker) = fresh_topology().await;
    let mut env = worker_env(&emulator.base_url(), dir.path(), &prefix, &amqp_url());
    env.insert(
        "KYC_ARCHIVER_CALLBACK_TOKEN".to_owned(),
        "tok-1000004826".to_owned(),
    );
    let worker = WorkerProcess::start(&env);
    assert_eq!(worker.get("/readyz").unwrap().0, 200);
    assert_eq!(worker.get("/healthz").unwrap().0, 200);

    let v = emulator
        .create_verification(VerificationSpec {
            video_size: Some(4096),
            ..VerificationSpec::face_liveness()
        })
        .unwrap();
    let base = format!(
        "/v1/callback?transactionId={}&passed=Y&subCode=200&merchantBizId={}",
        v.transaction_id, v.merchant_biz_id
    );
    assert_eq!(
        worker
            .get(&format!("{base}&callbackToken=wrong"))
            .unwrap()
            .0,
        403
    );
    assert_eq!(
        worker.get(&base).unwrap().0,
        403,
        "a missing token is refused"
    );
    let (code, body) = worker
        .get(&format!("{base}&callbackToken=tok-1000004826"))
        .unwrap();
    assert_eq!(code, 202, "{body}");

    let manifest = dir.path().join(&v.transaction_id).join("manifest.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !manifest.exists() {
        assert!(Instant::now() < deadline, "callback request never archived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let m = evidence::manifest::Manifest::from_json(&std::fs::read(&manifest).unwrap()).unwrap();
    assert_eq!(m.video.fate, evidence::manifest::VideoFate::Archived);
    assert_eq!(
        m.labels.get("callback.passed").map(String::as_str),
        Some("Y")
    );
    assert!(
        m.completed_at.is_some(),
        "the callback time stands in for completion"
    );
    drop(worker);
    broker.delete_topology(&topology).await;
}
