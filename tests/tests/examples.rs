//! The publisher examples of `docs/examples/` run as real subprocesses against the real
//! broker, exactly as a service would run them: Python (pika), Node (amqplib) and shell
//! (amqp-tools) publishing to a freshly declared topology, and the curl variant posting to a
//! real `kyc-archiver run` worker.
//!
//! Each AMQP example must deliver a message that parses as the expected archive request,
//! persistent and typed `application/json`; must fail clearly (non-zero, naming the queue)
//! when the queue does not exist, without creating it; and must fail when the broker cannot
//! be reached. The shell example cannot detect a missing queue (amqp-publish neither waits
//! for confirms nor publishes `mandatory`): its test pins that documented limitation.
//!
//! Needs `node`, `npm ci` in docs/examples/node, `amqp-publish` and `curl`: run
//! `scripts/ensure-example-tools`. Never skips.

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use chrono::SecondsFormat;
use cloudauth_emulator::{Emulator, EmulatorConfig, VerificationSpec};
use evidence::manifest::Manifest;
use evidence::message::ArchiveRequestV1;
use kyc_archiver::queue::Topology;
use kyc_archiver_tests::amqp::Broker;
use kyc_archiver_tests::worker::{WorkerProcess, worker_env};
use kyc_archiver_tests::{amqp_url, free_port, python, repo_root};
use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use tokio::process::Command;

const MERCHANT: &str = "e0c34a77f5ac40a5aa5e6ed20c350001";
const HINT: &str = "run scripts/ensure-example-tools";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Example {
    Python,
    Node,
    Shell,
}

impl Example {
    fn name(self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::Node => "node",
            Self::Shell => "shell",
        }
    }

    /// The command running the example, before its flags.
    fn command(self) -> Command {
        let examples = repo_root().join("docs/examples");
        let mut command = match self {
            Self::Python => {
                let mut c = Command::new(python());
                c.arg(examples.join("python/publish.py"));
                c
            }
            Self::Node => {
                let amqplib = examples.join("node/node_modules/amqplib/package.json");
                assert!(
                    amqplib.is_file(),
                    "{} is missing (npm ci not run): {HINT}",
                    amqplib.display()
                );
                let mut c = Command::new(on_path("node"));
                c.arg(examples.join("node/publish.js"));
                c
            }
            Self::Shell => {
                on_path("amqp-publish");
                let mut c = Command::new("bash");
                c.arg(examples.join("shell/publish.sh"));
                c
            }
        };
        command.kill_on_drop(true);
        command
    }

    /// What the example says on stderr when it cannot reach the broker.
    fn connection_error(self) -> &'static str {
        match self {
            Self::Python => "publish.py: broker connection failed",
            Self::Node => "publish.js: cannot connect to the broker",
            Self::Shell => "publish.sh: amqp-publish failed",
        }
    }
}

/// Full path of `program` on PATH; panics with the install hint when it is not there.
fn on_path(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("{program} is not on PATH: {HINT}"))
}

fn unique_transaction_id() -> String {
    format!("tx-example-{}", uuid::Uuid::new_v4().simple())
}

/// The examples' command-line flags for `request`.
fn flags(request: &ArchiveRequestV1) -> Vec<String> {
    let mut flags = vec![
        "--transaction-id".to_owned(),
        request.transaction_id.clone(),
        "--merchant-biz-id".to_owned(),
        request.merchant_biz_id.clone(),
    ];
    if let Some(t) = request.completed_at {
        flags.push("--completed-at".to_owned());
        flags.push(t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    }
    if let Some(p) = &request.product {
        flags.push("--product".to_owned());
        flags.push(p.clone());
    }
    flags
}

async fn output(mut command: Command) -> Output {
    tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the example did not finish within 60 s")
        .expect("start the example")
}

/// Runs an AMQP example publishing `request` to `queue` on the broker at `url`.
async fn run(example: Example, url: &str, queue: &str, request: &ArchiveRequestV1) -> Output {
    let mut command = example.command();
    command
        .args(["--amqp-url", url, "--queue", queue])
        .args(flags(request));
    output(command).await
}

fn describe(output: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A message read back from a queue, with the properties the examples must set.
#[derive(Debug)]
struct Received {
    request: ArchiveRequestV1,
    delivery_mode: Option<u8>,
    content_type: Option<String>,
}

/// Takes (and acknowledges) exactly `n` messages from `queue`, waiting up to 10 s for them
/// (amqp-publish does not wait for the broker, so its message may land just after it exits),
/// then checks that no further message is there.
async fn take(channel: &Channel, queue: &str, n: usize) -> Vec<Received> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    while out.len() < n {
        let Some(m) = channel
            .basic_get(queue, BasicGetOptions::default())
            .await
            .unwrap()
        else {
            assert!(
                Instant::now() < deadline,
                "only {} of {n} messages arrived in {queue}",
                out.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let properties = &m.delivery.properties;
        let request = ArchiveRequestV1::parse(&m.delivery.data).unwrap_or_else(|e| {
            panic!(
                "{queue} holds an invalid request ({e}): {}",
                String::from_utf8_lossy(&m.delivery.data)
            )
        });
        out.push(Received {
            request,
            delivery_mode: *properties.delivery_mode(),
            content_type: properties.content_type().as_ref().map(|c| c.to_string()),
        });
        m.delivery.ack(BasicAckOptions::default()).await.unwrap();
    }
    let extra = channel
        .basic_get(queue, BasicGetOptions::default())
        .await
        .unwrap();
    assert!(
        extra.is_none(),
        "unexpected extra message in {queue}: {:?}",
        extra.map(|m| String::from_utf8_lossy(&m.delivery.data).into_owned())
    );
    out
}

/// Fails if `queue` exists (checked on a channel of its own: a failed passive declare
/// closes the channel). Deletes it if it does, so a failure leaves nothing behind.
async fn assert_queue_absent(broker: &Broker, queue: &str) {
    let channel = broker.connection.create_channel().await.unwrap();
    let declared = channel
        .queue_declare(
            queue,
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await;
    if declared.is_ok() {
        let _ = channel
            .queue_delete(queue, QueueDeleteOptions::default())
            .await;
        panic!("{queue} exists: a publisher example declared it instead of a passive check");
    }
}

async fn amqp_example(example: Example) {
    // Fails fast with the install hint, before anything is declared on the broker.
    drop(example.command());
    let broker = Broker::connect().await;
    let prefix = format!(
        "kyc-test-example-{}-{}",
        example.name(),
        uuid::Uuid::new_v4().simple()
    );
    let topology = Topology::new(&prefix, &[Duration::from_secs(1)]);
    topology.declare(&broker.channel).await.unwrap();
    let url = amqp_url();

    // 1. A full and a minimal request arrive intact, persistent, typed application/json.
    let full = ArchiveRequestV1 {
        completed_at: Some("2026-11-21T10:00:00Z".parse().unwrap()),
        product: Some("eKYC".to_owned()),
        ..ArchiveRequestV1::new(unique_transaction_id(), MERCHANT)
    };
    let minimal = ArchiveRequestV1::new(unique_transaction_id(), MERCHANT);
    for request in [&full, &minimal] {
        let out = run(example, &url, &topology.work, request).await;
        assert!(out.status.success(), "{}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&request.transaction_id),
            "{}",
            describe(&out)
        );
    }
    let mut received = take(&broker.channel, &topology.work, 2).await;
    received.sort_by(|a, b| a.request.transaction_id.cmp(&b.request.transaction_id));
    let mut expected = [full, minimal];
    expected.sort_by(|a, b| a.transaction_id.cmp(&b.transaction_id));
    for (got, want) in received.iter().zip(&expected) {
        assert_eq!(&got.request, want);
        assert_eq!(got.delivery_mode, Some(2), "not persistent: {got:?}");
        assert_eq!(
            got.content_type.as_deref(),
            Some("application/json"),
            "{got:?}"
        );
    }

    // 2. The queue does not exist (the worker never ran, or a typo).
    let missing = format!("{prefix}.missing");
    let out = run(example, &url, &missing, &expected[0]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if example == Example::Shell {
        // Documented limitation: fire and forget, the broker drops the message silently.
        assert!(out.status.success(), "{}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("unconfirmed"),
            "{}",
            describe(&out)
        );
    } else {
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        for needle in [missing.as_str(), "NOT_FOUND", "is the worker running?"] {
            assert!(
                stderr.contains(needle),
                "no {needle:?} in {}",
                describe(&out)
            );
        }
    }
    assert_queue_absent(&broker, &missing).await;

    // 3. No broker there.
    let nowhere = format!("amqp://guest:guest@127.0.0.1:{}/%2f", free_port());
    let out = run(example, &nowhere, &topology.work, &expected[0]).await;
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(example.connection_error()),
        "{}",
        describe(&out)
    );

    // Neither failure left anything in the work queue.
    assert_eq!(broker.count(&topology.work).await, 0);
    broker.delete_topology(&topology).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_example_publishes_confirmed_and_detects_a_missing_queue() {
    amqp_example(Example::Python).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_example_publishes_confirmed_and_detects_a_missing_queue() {
    amqp_example(Example::Node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_example_publishes_but_cannot_detect_a_missing_queue() {
    amqp_example(Example::Shell).await;
}

/// `docs/examples/shell/publish-http.sh` against the real worker: 202 after the broker's
/// confirm, then the worker archives the transaction; with no worker there, it fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_example_is_accepted_and_archived_by_the_real_worker() {
    on_path("curl");
    let script = repo_root().join("docs/examples/shell/publish-http.sh");
    let post = |endpoint: String, request: &ArchiveRequestV1| {
        let mut command = Command::new("bash");
        command
            .arg(&script)
            .args(["--endpoint", &endpoint])
            .args(flags(request))
            .kill_on_drop(true);
        command
    };

    let emulator = Emulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let v = emulator
        .create_verification(VerificationSpec::id_ocr())
        .unwrap();
    let request = ArchiveRequestV1 {
        completed_at: Some(v.completed_at),
        product: Some(v.product.to_string()),
        ..ArchiveRequestV1::new(v.transaction_id, v.merchant_biz_id)
    };
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("kyc-test-example-http-{}", uuid::Uuid::new_v4().simple());
    // The delays of worker_env's KYC_ARCHIVER_RETRY_DELAYS, to name every queue for cleanup.
    let topology = Topology::new(&prefix, &[Duration::from_secs(1), Duration::from_secs(2)]);
    let worker = WorkerProcess::start(&worker_env(
        &emulator.base_url(),
        dir.path(),
        &prefix,
        &amqp_url(),
    ));

    let out = output(post(format!("http://{}", worker.http), &request)).await;
    assert!(out.status.success(), "{}", describe(&out));
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON reply");
    assert_eq!(reply["status"], "accepted", "{}", describe(&out));
    assert_eq!(reply["transaction_id"], request.transaction_id.as_str());

    let path = dir
        .path()
        .join(&request.transaction_id)
        .join("manifest.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} not written within 60 s",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let manifest = Manifest::from_json(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(manifest.transaction_id, request.transaction_id);

    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let out = output(post(nowhere, &request)).await;
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("publish-http.sh: the worker did not accept"),
        "{}",
        describe(&out)
    );

    drop(worker);
    Broker::connect().await.delete_topology(&topology).await;
}
