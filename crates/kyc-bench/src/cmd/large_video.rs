//! `kyc-bench large-video`: one large evidence video through the release archiver, against a
//! plain multipart upload of the same bytes from the same URL into the same S3.
//!
//! Per run, both run as child processes (`kyc-archiver archive` and `kyc-bench
//! baseline-upload`), alternating which goes first; each is measured for wall time, CPU and
//! peak RSS, and SeaweedFS's CPU during it. The archived video's SHA-256 (manifest) must equal
//! the emulator's, and the baseline object must have the video's size. Objects are deleted
//! after each run.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, bail, ensure};
use cloudauth_emulator::{RunningEmulator, Verification, VerificationSpec};
use evidence::manifest::{Manifest, VideoFate};
use kyc_archiver::config::parse_size;
use kyc_bench::machine::MachineInfo;
use kyc_bench::measure::{Measured, ProcSample, run_measured};
use kyc_bench::report::{Report, Table, mib_of_kib, num};
use kyc_bench::stats::median;
use kyc_bench::{GIB, MIB};
use serde::Serialize;

use super::{
    ArchiverEnv, S3Env, S3Opts, Tuning, delete_prefix, run_id, start_emulator, write_report,
};

/// Arguments of `large-video`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Video size (e.g. 1GiB, 64MiB).
    #[arg(long, default_value = "1GiB")]
    pub size: String,
    /// Runs of each side; medians are reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Keep the uploaded objects (default: delete them after each run).
    #[arg(long)]
    pub keep: bool,
    /// S3 and archiver options.
    #[command(flatten)]
    pub s3: S3Opts,
    /// Write the report here as JSON.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

#[derive(Debug, Serialize)]
struct Settings {
    video_bytes: u64,
    runs: usize,
    tuning: Tuning,
    bucket: String,
    archiver_checksum: &'static str,
}

/// One side of one run.
#[derive(Debug, Clone, Serialize)]
struct Side {
    wall_seconds: f64,
    mib_per_s: f64,
    cpu_seconds: f64,
    cpu_seconds_per_gib: f64,
    peak_rss_kib: u64,
    seaweedfs_cpu_seconds: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Run {
    run: usize,
    first: &'static str,
    archiver: Side,
    baseline: Side,
    ratio: f64,
}

#[derive(Debug, Serialize)]
struct SideSummary {
    median_mib_per_s: Option<f64>,
    median_wall_seconds: Option<f64>,
    median_cpu_seconds_per_gib: Option<f64>,
    median_peak_rss_kib: Option<f64>,
    max_peak_rss_kib: u64,
    median_seaweedfs_cpu_seconds_per_gib: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Results {
    runs: Vec<Run>,
    archiver: SideSummary,
    baseline: SideSummary,
    /// Median archiver MiB/s over median baseline MiB/s (goal: at least 0.8).
    ratio: Option<f64>,
    /// Archiver peak RSS below 64 MiB in every run (the goal at 1 GiB).
    archiver_peak_rss_under_64_mib: bool,
}

fn summarize(sides: &[&Side], bytes: u64) -> SideSummary {
    let pick = |f: fn(&Side) -> f64| median(&sides.iter().map(|s| f(s)).collect::<Vec<_>>());
    let gib = bytes as f64 / GIB;
    let weed: Vec<f64> = sides
        .iter()
        .filter_map(|s| s.seaweedfs_cpu_seconds.map(|c| c / gib))
        .collect();
    SideSummary {
        median_mib_per_s: pick(|s| s.mib_per_s),
        median_wall_seconds: pick(|s| s.wall_seconds),
        median_cpu_seconds_per_gib: pick(|s| s.cpu_seconds_per_gib),
        median_peak_rss_kib: pick(|s| s.peak_rss_kib as f64),
        max_peak_rss_kib: sides.iter().map(|s| s.peak_rss_kib).max().unwrap_or(0),
        median_seaweedfs_cpu_seconds_per_gib: median(&weed),
    }
}

/// Runs `command` measured, with SeaweedFS's CPU around it.
async fn measure_child(
    what: &str,
    command: Command,
    bytes: u64,
    weed: Option<u32>,
) -> anyhow::Result<(Side, Measured)> {
    let weed_before = weed.map(ProcSample::read).transpose()?;
    let m = tokio::task::spawn_blocking(move || run_measured(command)).await??;
    let weed_after = weed.map(ProcSample::read).transpose()?;
    if !m.status.success() {
        let tail: Vec<&str> = m.stderr.lines().rev().take(10).collect();
        bail!(
            "{what} failed ({}):\n{}",
            m.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let secs = m.wall.as_secs_f64();
    let side = Side {
        wall_seconds: secs,
        mib_per_s: bytes as f64 / MIB / secs,
        cpu_seconds: m.cpu_seconds,
        cpu_seconds_per_gib: m.cpu_seconds / (bytes as f64 / GIB),
        peak_rss_kib: m.peak_rss_kib,
        seaweedfs_cpu_seconds: weed_before
            .zip(weed_after)
            .map(|(a, b)| b.cpu_seconds - a.cpu_seconds),
    };
    Ok((side, m))
}

/// The archiver's own `peak memory N KiB` line (its `VmHWM` at exit), if printed.
fn self_reported_peak_kib(stdout: &str) -> Option<u64> {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("peak memory "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

async fn archiver_side(
    env: &ArchiverEnv,
    bin: &std::path::Path,
    v: &Verification,
    bytes: u64,
    weed: Option<u32>,
) -> anyhow::Result<Side> {
    let mut cmd = env.command(bin);
    cmd.args([
        "archive",
        "--transaction-id",
        &v.transaction_id,
        "--merchant-biz-id",
        &v.merchant_biz_id,
        "--completed-at",
        &v.completed_at.to_rfc3339(),
        "--product",
        v.product.code(),
    ]);
    let (mut side, m) = measure_child("kyc-archiver archive", cmd, bytes, weed).await?;
    if let Some(kib) = self_reported_peak_kib(&m.stdout) {
        side.peak_rss_kib = side.peak_rss_kib.max(kib);
    }
    // The benchmark must not measure a failure: check what was stored.
    let store = env.store().await?;
    let key = evidence::layout::BundleKeys::new(&v.transaction_id)?.manifest();
    let body = store
        .get(&key)
        .await?
        .context("the archiver reported success but no manifest is stored")?;
    let manifest = Manifest::from_json(&body)?;
    ensure!(
        manifest.video.fate == VideoFate::Archived,
        "video fate is {:?}, not archived",
        manifest.video.fate
    );
    let video = manifest
        .artifact("video")
        .context("the manifest names no video")?;
    let want = hex::encode(v.video_sha256().context("no video in the verification")?);
    ensure!(
        video.sha256 == want && video.bytes == bytes,
        "archived video differs from the emulator's (sha256 or size)"
    );
    Ok(side)
}

async fn baseline_side(
    env: &ArchiverEnv,
    emulator: &RunningEmulator,
    v: &Verification,
    opts: &S3Opts,
    bytes: u64,
    weed: Option<u32>,
) -> anyhow::Result<Side> {
    const KEY: &str = "baseline/video.webm";
    let prefix = env
        .vars
        .get("KYC_ARCHIVER_S3_PREFIX")
        .cloned()
        .unwrap_or_default();
    let me = std::env::current_exe()?;
    let mut cmd = Command::new(me);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(
            env.vars
                .iter()
                .filter(|(k, _)| k.starts_with("AWS_"))
                .map(|(k, v)| (k.clone(), v.clone())),
        )
        .args(["baseline-upload", "--url"])
        .arg(emulator.video_url(&v.transaction_id)?)
        .args(["--bucket", &opts.bucket, "--key"])
        .arg(format!("{prefix}/{KEY}"))
        .args([
            "--part-size",
            &opts.part_size,
            "--concurrency",
            &opts.upload_concurrency,
        ]);
    let (side, m) = measure_child("kyc-bench baseline-upload", cmd, bytes, weed).await?;
    let outcome: super::baseline::Outcome =
        serde_json::from_str(m.stdout.trim()).context("baseline output")?;
    let head = env.store().await?.head(KEY).await?;
    ensure!(
        outcome.bytes == bytes && head.is_some_and(|h| h.bytes == bytes),
        "the baseline upload stored the wrong number of bytes"
    );
    Ok(side)
}

/// Runs the benchmark.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let machine = MachineInfo::collect();
    let bytes = parse_size(&args.size).map_err(anyhow::Error::msg)?;
    ensure!(args.runs >= 1, "--runs must be at least 1");
    let tuning = args.s3.tuning()?;
    let s3 = S3Env::from_env()?;
    let bin = args.s3.archiver_bin()?;
    let weed = args.s3.seaweedfs_pid()?;
    let emulator = start_emulator(0).await?;
    let id = run_id();

    eprintln!("creating a verification with a {bytes}-byte video (hashing it takes a moment)");
    let spec = VerificationSpec::ekyc().with_video(bytes);
    let v = tokio::task::block_in_place(|| emulator.create_verification(spec))?;

    let mut runs = Vec::new();
    for i in 1..=args.runs {
        let prefix = format!("bench-{id}/large-video/run-{i}");
        let env = ArchiverEnv::new(&emulator, &s3, &args.s3, &prefix, 10);
        if i == 1 {
            env.ensure_bucket().await?;
        }
        let archiver_first = i % 2 == 1;
        let started = Instant::now();
        let (archiver, baseline) = if archiver_first {
            let a = archiver_side(&env, &bin, &v, bytes, weed).await?;
            let b = baseline_side(&env, &emulator, &v, &args.s3, bytes, weed).await?;
            (a, b)
        } else {
            let b = baseline_side(&env, &emulator, &v, &args.s3, bytes, weed).await?;
            let a = archiver_side(&env, &bin, &v, bytes, weed).await?;
            (a, b)
        };
        eprintln!(
            "run {i}/{}: archiver {:.1} MiB/s, baseline {:.1} MiB/s ({:.1}s)",
            args.runs,
            archiver.mib_per_s,
            baseline.mib_per_s,
            started.elapsed().as_secs_f64()
        );
        if !args.keep {
            delete_prefix(env.store().await?.as_ref(), "").await?;
        }
        runs.push(Run {
            run: i,
            first: if archiver_first {
                "archiver"
            } else {
                "baseline"
            },
            ratio: archiver.mib_per_s / baseline.mib_per_s,
            archiver,
            baseline,
        });
    }
    emulator.shutdown().await;

    let a = summarize(&runs.iter().map(|r| &r.archiver).collect::<Vec<_>>(), bytes);
    let b = summarize(&runs.iter().map(|r| &r.baseline).collect::<Vec<_>>(), bytes);
    let ratio = a
        .median_mib_per_s
        .zip(b.median_mib_per_s)
        .map(|(x, y)| x / y);
    let results = Results {
        archiver_peak_rss_under_64_mib: a.max_peak_rss_kib < 64 * 1024,
        archiver: a,
        baseline: b,
        ratio,
        runs,
    };

    let label = args.size.clone();
    let mut table = Table::new([
        "large video",
        "MiB/s",
        "wall s",
        "CPU s/GiB",
        "peak RSS MiB",
        "weed CPU s/GiB",
    ]);
    for (name, s) in [
        ("kyc-archiver archive", &results.archiver),
        ("baseline multipart", &results.baseline),
    ] {
        table.row([
            name.to_owned(),
            num(s.median_mib_per_s, 1),
            num(s.median_wall_seconds, 2),
            num(s.median_cpu_seconds_per_gib, 2),
            mib_of_kib(s.max_peak_rss_kib),
            num(s.median_seaweedfs_cpu_seconds_per_gib, 2),
        ]);
    }
    println!(
        "\nlarge-video {label}, {} runs (medians; peak RSS is the max), part {} MiB x {} in flight",
        args.runs,
        tuning.part_size >> 20,
        tuning.upload_concurrency
    );
    println!("{}", machine.summary_line());
    print!("{}", table.render());
    let headline = vec![
        format!(
            "large-video {label}: archiver {} MiB/s, baseline {} MiB/s, ratio {} (goal >= 0.8)",
            num(results.archiver.median_mib_per_s, 1),
            num(results.baseline.median_mib_per_s, 1),
            num(results.ratio, 2)
        ),
        format!(
            "large-video {label}: archiver peak RSS {} MiB (goal < 64 MiB at 1 GiB), baseline {} MiB; CPU s/GiB archiver {}, baseline {}; part {} MiB x {}",
            mib_of_kib(results.archiver.max_peak_rss_kib),
            mib_of_kib(results.baseline.max_peak_rss_kib),
            num(results.archiver.median_cpu_seconds_per_gib, 2),
            num(results.baseline.median_cpu_seconds_per_gib, 2),
            tuning.part_size >> 20,
            tuning.upload_concurrency
        ),
    ];
    println!("ratio archiver/baseline: {}", num(results.ratio, 2));
    let report = Report {
        benchmark: "large-video".to_owned(),
        machine,
        settings: Settings {
            video_bytes: bytes,
            runs: args.runs,
            tuning,
            bucket: args.s3.bucket.clone(),
            archiver_checksum: "sha256",
        },
        results,
        headline,
    };
    write_report(&report, args.json.as_deref())
}
