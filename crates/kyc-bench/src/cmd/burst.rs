//! `kyc-bench burst`: many small jobs through one release `kyc-archiver run` worker.
//!
//! Creates N verifications in the in-process emulator (a small video and three images each,
//! completed now, so the 30-minute video deletion clock runs), starts one worker on fresh queues
//! and a fresh store prefix, waits until it is ready, publishes N archive requests (with
//! confirms, recording each enqueue time), and waits until the worker has archived all of them.
//!
//! Reported: jobs/s (first enqueue to last manifest), worker and SeaweedFS CPU per job, p50/p99
//! enqueue-to-manifest latency (the manifest's `archived_at`, set just before it is stored),
//! worker peak RSS, the achieved CheckResult rate against the QPS limit and the busiest
//! one-second window (emulator request log), and how many videos were archived before their
//! deletion with the smallest slack.
//!
//! Asserted (after the report is written): N manifests, every video archived with the
//! emulator's SHA-256, every queue empty after the worker stopped, `kyc-archiver verify` exits 0.
//! The queues are deleted at the end.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use chrono::{DateTime, Utc};
use cloudauth_emulator::{Endpoint, ImageSet, ImageSpec, Verification, VerificationSpec};
use evidence::manifest::{Manifest, VideoFate};
use evidence::message::ArchiveRequestV1;
use futures::{StreamExt as _, TryStreamExt as _};
use kyc_archiver::config::parse_size;
use kyc_archiver::queue::{Topology, confirm_channel, connect, publish};
use kyc_bench::machine::MachineInfo;
use kyc_bench::measure::ProcSample;
use kyc_bench::report::{Report, Table, mib_of_kib, num};
use kyc_bench::stats::{max_in_window, min_gap, percentile, rate_per_second};
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use serde::Serialize;

use super::{ArchiverEnv, S3Env, S3Opts, Tuning, run_id, start_emulator, write_report};

/// Arguments of `burst`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Archive requests in the burst.
    #[arg(long, default_value_t = 2000)]
    pub jobs: usize,
    /// The worker's CheckResult QPS limit (`KYC_ARCHIVER_CLOUDAUTH_QPS`).
    #[arg(long, default_value_t = 1000)]
    pub qps: u32,
    /// Video size per verification.
    #[arg(long, default_value = "1MiB")]
    pub video_size: String,
    /// Worker concurrency (`KYC_ARCHIVER_CONCURRENCY`).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Worker prefetch (`KYC_ARCHIVER_PREFETCH`).
    #[arg(long, default_value_t = 64)]
    pub prefetch: usize,
    /// RabbitMQ.
    #[arg(
        long,
        env = "KYC_BENCH_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub amqp_url: String,
    /// Give up after this many seconds of waiting for manifests (default: from jobs and QPS).
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Where the worker's log goes (default: a file in the temporary directory).
    #[arg(long)]
    pub worker_log: Option<PathBuf>,
    /// S3 and archiver options.
    #[command(flatten)]
    pub s3: S3Opts,
    /// Write the report here as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Settings {
    jobs: usize,
    qps_limit: u32,
    video_bytes: u64,
    images_per_job: usize,
    concurrency: usize,
    prefetch: usize,
    tuning: Tuning,
    queue_prefix: String,
    store_prefix: String,
}

#[derive(Debug, Default, Serialize)]
struct CheckResultRate {
    calls: usize,
    achieved_per_s: Option<f64>,
    achieved_over_limit: Option<f64>,
    max_in_any_1s_window: usize,
    min_gap_ms: Option<i64>,
}

#[derive(Debug, Default, Serialize)]
struct Deadlines {
    videos_archived: usize,
    archived_before_deletion: usize,
    min_slack_at_download_start_s: Option<i64>,
    min_slack_at_manifest_s: Option<f64>,
}

#[derive(Debug, Default, Serialize)]
struct Results {
    publish_seconds: f64,
    drain_seconds: f64,
    jobs_per_s: Option<f64>,
    worker_cpu_seconds: f64,
    worker_cpu_ms_per_job: f64,
    worker_peak_rss_kib: u64,
    seaweedfs_cpu_ms_per_job: Option<f64>,
    harness_cpu_ms_per_job: f64,
    latency_p50_s: Option<f64>,
    latency_p99_s: Option<f64>,
    latency_max_s: Option<f64>,
    checkresult: CheckResultRate,
    deadlines: Deadlines,
    verify_seconds: Option<f64>,
    /// Correctness checks that failed (empty when all passed).
    failures: Vec<String>,
}

fn spec(video: u64) -> VerificationSpec {
    VerificationSpec::ekyc()
        .with_video(video)
        .with_images(ImageSet {
            face: Some(ImageSpec::jpeg(480, 640)),
            id: Some(ImageSpec::jpeg(856, 540)),
            id_back: Some(ImageSpec::png(856, 540)),
        })
}

/// A free loopback port for the worker's HTTP listener.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The worker's request counters by outcome (`kyc_archiver_requests_total`).
async fn outcomes(http: &reqwest::Client, base: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Ok(resp) = http.get(format!("{base}/metrics")).send().await else {
        return out;
    };
    let Ok(text) = resp.text().await else {
        return out;
    };
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(kyc_archiver::metrics::REQUESTS) else {
            continue;
        };
        let outcome = rest
            .split("outcome=\"")
            .nth(1)
            .and_then(|s| s.split('"').next());
        let value = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        if let (Some(o), Some(v)) = (outcome, value) {
            *out.entry(o.to_owned()).or_default() += v;
        }
    }
    out
}

struct Worker {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Worker {
    async fn start(env: &ArchiverEnv, bin: &std::path::Path, log: PathBuf) -> anyhow::Result<Self> {
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let child = env
            .command(bin)
            .arg("run")
            .env("KYC_ARCHIVER_HTTP_LISTEN", &listen)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .context("cannot start kyc-archiver run")?;
        let mut worker = Self {
            child,
            base: format!("http://{listen}"),
            log,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = worker.child.try_wait()? {
                bail!(
                    "worker exited early ({status}); see {}",
                    worker.log.display()
                );
            }
            let ready = http
                .get(format!("{}/readyz", worker.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(worker);
            }
            ensure!(
                Instant::now() < deadline,
                "worker not ready within 60 s; see {}",
                worker.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM (through `kill`, keeping the workspace free of unsafe code), then waits.
    async fn stop(&mut self, timeout: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()?;
        ensure!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                bail!("worker did not stop within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn queue_depths(
    channel: &lapin::Channel,
    topology: &Topology,
) -> anyhow::Result<Vec<(String, u32)>> {
    let mut out = Vec::new();
    for name in topology.queues() {
        let q = channel
            .queue_declare(
                name,
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("queue {name}"))?;
        out.push((name.to_owned(), q.message_count()));
    }
    Ok(out)
}

async fn delete_queues(channel: &lapin::Channel, topology: &Topology) {
    for name in topology.queues() {
        if let Err(e) = channel
            .queue_delete(name, QueueDeleteOptions::default())
            .await
        {
            eprintln!("warning: cannot delete queue {name}: {e}");
        }
    }
}

/// Creates the verifications on the blocking pool (video hashing), in creation order.
async fn create_verifications(
    emulator: &cloudauth_emulator::RunningEmulator,
    jobs: usize,
    video: u64,
) -> anyhow::Result<Vec<Verification>> {
    tokio::task::block_in_place(|| {
        (0..jobs)
            .map(|_| emulator.create_verification(spec(video)))
            .collect::<Result<Vec<_>, _>>()
    })
    .context("cannot create verifications")
}

/// Runs the benchmark.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let machine = MachineInfo::collect();
    ensure!(args.jobs >= 1, "--jobs must be at least 1");
    let video = parse_size(&args.video_size).map_err(anyhow::Error::msg)?;
    let tuning = args.s3.tuning()?;
    let s3 = S3Env::from_env()?;
    let bin = args.s3.archiver_bin()?;
    let weed = args.s3.seaweedfs_pid()?;
    let id = run_id();
    let queue_prefix = format!("kyc-bench-{id}");
    let store_prefix = format!("bench-{id}/burst-qps{}", args.qps);

    let emulator = start_emulator(args.jobs * 4 + 1000).await?;
    let mut env = ArchiverEnv::new(&emulator, &s3, &args.s3, &store_prefix, args.qps);
    env.set("KYC_ARCHIVER_AMQP_URL", &args.amqp_url)
        .set("KYC_ARCHIVER_QUEUE_PREFIX", &queue_prefix)
        .set("KYC_ARCHIVER_CONCURRENCY", args.concurrency.to_string())
        .set("KYC_ARCHIVER_PREFETCH", args.prefetch.to_string())
        .set("KYC_ARCHIVER_RETRY_DELAYS", "1s,5s")
        .set("KYC_ARCHIVER_SHUTDOWN_GRACE", "30s");
    let config = env.config()?;
    env.ensure_bucket().await?;
    let topology = Topology::new(&config.queue_prefix, &config.retry_delays);

    eprintln!("creating {} verifications", args.jobs);
    let verifications = create_verifications(&emulator, args.jobs, video).await?;
    let by_tx: HashMap<&str, &Verification> = verifications
        .iter()
        .map(|v| (v.transaction_id.as_str(), v))
        .collect();

    let connection = connect(&args.amqp_url).await?;
    let channel = confirm_channel(&connection).await?;
    topology.declare(&channel).await?;

    // Everything from here on runs in a block so that the queues are deleted whatever happens.
    let outcome = async {
        let log = args
            .worker_log
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(format!("kyc-bench-worker-{id}.log")));
        let mut worker = Worker::start(&env, &bin, log).await?;
        emulator.clear_requests();

        // The burst.
        let worker_before = ProcSample::read(worker.pid())?;
        let weed_before = weed.map(ProcSample::read).transpose()?;
        let own_before = ProcSample::own()?;
        let started = Instant::now();
        let enqueued: HashMap<String, DateTime<Utc>> = futures::stream::iter(&verifications)
            .map(|v| {
                let channel = &channel;
                let work = &topology.work;
                async move {
                    let mut m = ArchiveRequestV1::new(&v.transaction_id, &v.merchant_biz_id);
                    m.completed_at = Some(v.completed_at);
                    m.product = Some(v.product.code().to_owned());
                    let at = Utc::now();
                    publish(channel, work, &m.to_json(), FieldTable::default()).await?;
                    anyhow::Ok((v.transaction_id.clone(), at))
                }
            })
            .buffer_unordered(64)
            .try_collect()
            .await?;
        let publish_seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "published {} requests in {publish_seconds:.2}s; waiting for the worker",
            args.jobs
        );

        // Wait for the worker.
        let timeout = Duration::from_secs(
            args.timeout
                .unwrap_or(120 + 3 * args.jobs as u64 / u64::from(args.qps.clamp(1, 100))),
        );
        let http = reqwest::Client::new();
        let bar = indicatif::ProgressBar::new(args.jobs as u64).with_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} archived {pos}/{len} {wide_bar} {elapsed} ({per_sec})",
            )?,
        );
        let mut worker_peak_rss_kib = 0;
        loop {
            let counts = outcomes(&http, &worker.base).await;
            let done = counts.get("archived").copied().unwrap_or(0.0)
                + counts.get("already_archived").copied().unwrap_or(0.0);
            bar.set_position(done as u64);
            if done as usize >= args.jobs {
                break;
            }
            let lost: f64 = ["dead_lettered", "parked"]
                .iter()
                .filter_map(|k| counts.get(*k))
                .sum();
            if lost > 0.0 {
                bar.abandon();
                bail!(
                    "{lost} requests were dead-lettered or parked; see {}",
                    worker.log.display()
                );
            }
            if let Some(status) = worker.child.try_wait()? {
                bail!("worker exited ({status}); see {}", worker.log.display());
            }
            if started.elapsed() > timeout {
                bar.abandon();
                bail!(
                    "timed out after {timeout:?} with {done} of {} archived",
                    args.jobs
                );
            }
            worker_peak_rss_kib = ProcSample::read(worker.pid())?.peak_rss_kib;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        bar.finish_and_clear();
        let drain_seconds = started.elapsed().as_secs_f64();
        let worker_after = ProcSample::read(worker.pid())?;
        let weed_after = weed.map(ProcSample::read).transpose()?;
        let own_after = ProcSample::own()?;
        worker_peak_rss_kib = worker_peak_rss_kib.max(worker_after.peak_rss_kib);

        let n = args.jobs as f64;
        let worker_cpu = worker_after.cpu_seconds - worker_before.cpu_seconds;
        let mut results = Results {
            publish_seconds,
            drain_seconds,
            worker_cpu_seconds: worker_cpu,
            worker_cpu_ms_per_job: worker_cpu * 1000.0 / n,
            worker_peak_rss_kib,
            seaweedfs_cpu_ms_per_job: weed_before
                .zip(weed_after)
                .map(|(a, b)| (b.cpu_seconds - a.cpu_seconds) * 1000.0 / n),
            harness_cpu_ms_per_job: (own_after.cpu_seconds - own_before.cpu_seconds) * 1000.0 / n,
            ..Results::default()
        };
        let failures = &mut results.failures;

        // Stop the worker: what it held unacknowledged would return to the queue.
        let status = worker.stop(Duration::from_secs(60)).await?;
        if !status.success() {
            failures.push(format!("worker exited with {status}"));
        }
        for (name, depth) in queue_depths(&channel, &topology).await? {
            if depth != 0 {
                failures.push(format!("queue {name} holds {depth} messages"));
            }
        }

        // Manifests: one per request, every video archived with the emulator's hash.
        let store = env.store().await?;
        let listed = store.list("").await?;
        let manifest_keys: Vec<String> = listed
            .iter()
            .filter(|o| evidence::layout::transaction_of_manifest_key(&o.key).is_some())
            .map(|o| o.key.clone())
            .collect();
        if manifest_keys.len() != args.jobs {
            failures.push(format!(
                "{} manifests stored for {} requests",
                manifest_keys.len(),
                args.jobs
            ));
        }
        let manifests: Vec<Manifest> = futures::stream::iter(manifest_keys)
            .map(|key| {
                let store = &store;
                async move {
                    let body = store.get(&key).await?.context("manifest vanished")?;
                    anyhow::Ok(Manifest::from_json(&body)?)
                }
            })
            .buffer_unordered(32)
            .try_collect()
            .await?;
        let mut latencies = Vec::new();
        let mut last_manifest: Option<DateTime<Utc>> = None;
        let mut slack_at_manifest = Vec::new();
        for m in &manifests {
            let Some(v) = by_tx.get(m.transaction_id.as_str()) else {
                failures.push("a manifest for an unknown transaction".to_owned());
                continue;
            };
            let video = v.video.as_ref().context("verification without video")?;
            let archived = m.video.fate == VideoFate::Archived
                && m.artifact("video").is_some_and(|a| {
                    a.sha256 == hex::encode(video.sha256) && a.bytes == video.size
                });
            if archived {
                results.deadlines.videos_archived += 1;
                if m.archived_at < video.deleted_at {
                    results.deadlines.archived_before_deletion += 1;
                }
            } else {
                failures.push(format!(
                    "{}: video {:?}, not archived with the emulator's sha256",
                    m.transaction_id, m.video.fate
                ));
            }
            if let Some(s) = m.video.slack_seconds {
                let min = &mut results.deadlines.min_slack_at_download_start_s;
                *min = Some(min.map_or(s, |x: i64| x.min(s)));
            }
            slack_at_manifest.push((video.deleted_at - m.archived_at).as_seconds_f64());
            if let Some(at) = enqueued.get(&m.transaction_id) {
                latencies.push((m.archived_at - *at).as_seconds_f64());
            }
            last_manifest = Some(last_manifest.map_or(m.archived_at, |t| t.max(m.archived_at)));
        }
        results.deadlines.min_slack_at_manifest_s =
            slack_at_manifest.iter().copied().min_by(f64::total_cmp);
        results.latency_p50_s = percentile(&latencies, 50.0);
        results.latency_p99_s = percentile(&latencies, 99.0);
        results.latency_max_s = percentile(&latencies, 100.0);
        let first_enqueue = enqueued.values().min().copied();
        results.jobs_per_s = first_enqueue
            .zip(last_manifest)
            .map(|(a, b)| (b - a).as_seconds_f64())
            .filter(|s| *s > 0.0)
            .map(|s| n / s);

        // CheckResult calls as the emulator saw them.
        let calls: Vec<i64> = emulator
            .requests()
            .iter()
            .filter(|e| e.endpoint == Endpoint::CheckResult)
            .map(|e| e.time.timestamp_millis())
            .collect();
        results.checkresult = CheckResultRate {
            calls: calls.len(),
            achieved_per_s: rate_per_second(&calls),
            achieved_over_limit: rate_per_second(&calls).map(|r| r / f64::from(args.qps)),
            max_in_any_1s_window: max_in_window(&calls, 1000),
            min_gap_ms: min_gap(&calls),
        };
        emulator.shutdown().await;

        // The archiver's own verification of everything it stored.
        let verify_started = Instant::now();
        let verify = tokio::task::block_in_place(|| {
            env.command(&bin)
                .args(["verify", "--quiet"])
                .stdin(Stdio::null())
                .output()
        })?;
        results.verify_seconds = Some(verify_started.elapsed().as_secs_f64());
        if !verify.status.success() {
            results.failures.push(format!(
                "kyc-archiver verify exited with {}: {}",
                verify.status,
                String::from_utf8_lossy(&verify.stdout)
                    .lines()
                    .last()
                    .unwrap_or_default()
            ));
        }
        anyhow::Ok(results)
    }
    .await;
    delete_queues(&channel, &topology).await;
    let _ = connection.close(200, "done").await;
    let results = outcome?;

    print_and_write(
        &args,
        machine,
        tuning,
        queue_prefix,
        store_prefix,
        video,
        results,
    )
}

fn print_and_write(
    args: &Args,
    machine: MachineInfo,
    tuning: Tuning,
    queue_prefix: String,
    store_prefix: String,
    video: u64,
    results: Results,
) -> anyhow::Result<()> {
    let r = &results;
    println!(
        "\nburst: {} jobs, CheckResult QPS limit {}, worker concurrency {} prefetch {}, part {} MiB x {}",
        args.jobs,
        args.qps,
        args.concurrency,
        args.prefetch,
        tuning.part_size >> 20,
        tuning.upload_concurrency
    );
    println!("{}", machine.summary_line());
    let mut t = Table::new(["burst", "value"]);
    t.row([
        "jobs/s (first enqueue to last manifest)".to_owned(),
        num(r.jobs_per_s, 1),
    ])
    .row(["publish s".to_owned(), num(Some(r.publish_seconds), 2)])
    .row(["drain s".to_owned(), num(Some(r.drain_seconds), 2)])
    .row([
        "worker CPU ms/job".to_owned(),
        num(Some(r.worker_cpu_ms_per_job), 2),
    ])
    .row([
        "SeaweedFS CPU ms/job".to_owned(),
        num(r.seaweedfs_cpu_ms_per_job, 2),
    ])
    .row([
        "harness (emulator) CPU ms/job".to_owned(),
        num(Some(r.harness_cpu_ms_per_job), 2),
    ])
    .row([
        "enqueue->manifest p50 s".to_owned(),
        num(r.latency_p50_s, 3),
    ])
    .row([
        "enqueue->manifest p99 s".to_owned(),
        num(r.latency_p99_s, 3),
    ])
    .row([
        "worker peak RSS MiB".to_owned(),
        mib_of_kib(r.worker_peak_rss_kib),
    ])
    .row([
        "CheckResult calls".to_owned(),
        r.checkresult.calls.to_string(),
    ])
    .row([
        "CheckResult achieved/s".to_owned(),
        num(r.checkresult.achieved_per_s, 2),
    ])
    .row([
        "achieved / limit".to_owned(),
        num(r.checkresult.achieved_over_limit, 3),
    ])
    .row([
        "min gap between calls ms".to_owned(),
        num(r.checkresult.min_gap_ms.map(|g| g as f64), 0),
    ])
    .row([
        "most calls in any 1 s".to_owned(),
        r.checkresult.max_in_any_1s_window.to_string(),
    ])
    .row([
        "videos archived before deletion".to_owned(),
        format!("{}/{}", r.deadlines.archived_before_deletion, args.jobs),
    ])
    .row([
        "min slack at download start s".to_owned(),
        num(
            r.deadlines.min_slack_at_download_start_s.map(|s| s as f64),
            0,
        ),
    ])
    .row([
        "min slack at manifest s".to_owned(),
        num(r.deadlines.min_slack_at_manifest_s, 1),
    ])
    .row(["kyc-archiver verify s".to_owned(), num(r.verify_seconds, 2)]);
    print!("{}", t.render());
    let checks = if r.failures.is_empty() {
        "all correctness checks passed".to_owned()
    } else {
        format!("{} correctness checks FAILED", r.failures.len())
    };
    println!("{checks}");
    for f in r.failures.iter().take(20) {
        println!("  FAIL {f}");
    }
    let headline = vec![
        format!(
            "burst {} jobs @ qps {}: {} jobs/s, worker CPU {} ms/job, SeaweedFS CPU {} ms/job, p50 {} s, p99 {} s, worker peak RSS {} MiB",
            args.jobs,
            args.qps,
            num(r.jobs_per_s, 1),
            num(Some(r.worker_cpu_ms_per_job), 2),
            num(r.seaweedfs_cpu_ms_per_job, 2),
            num(r.latency_p50_s, 3),
            num(r.latency_p99_s, 3),
            mib_of_kib(r.worker_peak_rss_kib)
        ),
        format!(
            "burst {} jobs @ qps {}: CheckResult {}/s = {} of the limit (max {} in 1 s); {}/{} videos archived before deletion, min slack {} s; {checks}",
            args.jobs,
            args.qps,
            num(r.checkresult.achieved_per_s, 2),
            num(r.checkresult.achieved_over_limit, 3),
            r.checkresult.max_in_any_1s_window,
            r.deadlines.archived_before_deletion,
            args.jobs,
            num(r.deadlines.min_slack_at_manifest_s, 0),
        ),
    ];
    let failed = !r.failures.is_empty();
    let report = Report {
        benchmark: "burst".to_owned(),
        machine,
        settings: Settings {
            jobs: args.jobs,
            qps_limit: args.qps,
            video_bytes: video,
            images_per_job: 3,
            concurrency: args.concurrency,
            prefetch: args.prefetch,
            tuning,
            queue_prefix,
            store_prefix,
        },
        results,
        headline,
    };
    write_report(&report, args.json.as_deref())?;
    if failed {
        bail!("burst: correctness checks failed (see above)");
    }
    Ok(())
}
