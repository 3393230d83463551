//! `kyc-bench hash-file`: SHA-256 of one page-cached file with `sha2` (as the archiver hashes)
//! against the machine's `sha256sum`, on the same file. Both digests must agree.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, ensure};
use kyc_archiver::config::parse_size;
use kyc_bench::MIB;
use kyc_bench::machine::MachineInfo;
use kyc_bench::report::{Report, Table, num};
use kyc_bench::stats::median;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::write_report;

/// Read buffer of the `sha2` side (the archiver hashes chunks of about this size).
const CHUNK: usize = 1 << 20;

/// Arguments of `hash-file`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// File size.
    #[arg(long, default_value = "1GiB")]
    pub size: String,
    /// Runs of each side; medians are reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Directory for the scratch file (deleted afterwards).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    pub dir: PathBuf,
    /// Write the report here as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Settings {
    file_bytes: u64,
    runs: usize,
    read_chunk_bytes: usize,
    sha256sum_version: Option<String>,
}

#[derive(Debug, Serialize)]
struct Results {
    sha2_mib_per_s: Vec<f64>,
    sha256sum_mib_per_s: Vec<f64>,
    median_sha2_mib_per_s: Option<f64>,
    median_sha256sum_mib_per_s: Option<f64>,
    /// `sha2` over `sha256sum`.
    ratio: Option<f64>,
}

/// Writes `bytes` of pseudo-random data (xorshift; incompressible, not sparse).
fn write_file(path: &std::path::Path, bytes: u64) -> anyhow::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut block = vec![0u8; CHUNK];
    let mut left = bytes;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = usize::try_from(left.min(CHUNK as u64))?;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    Ok(())
}

fn sha2_file(path: &std::path::Path) -> anyhow::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn sha256sum_file(path: &std::path::Path) -> anyhow::Result<String> {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .context("cannot run sha256sum")?;
    ensure!(out.status.success(), "sha256sum failed");
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// Runs the benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    let machine = MachineInfo::collect();
    let bytes = parse_size(&args.size).map_err(anyhow::Error::msg)?;
    ensure!(args.runs >= 1, "--runs must be at least 1");
    let path = args
        .dir
        .join(format!("kyc-bench-hash-{}.bin", std::process::id()));
    write_file(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    let result = measure(&path, bytes, args.runs);
    let _ = std::fs::remove_file(&path);
    let (sha2_rates, sum_rates) = result?;

    let med_sha2 = median(&sha2_rates);
    let med_sum = median(&sum_rates);
    let results = Results {
        ratio: med_sha2.zip(med_sum).map(|(a, b)| a / b),
        median_sha2_mib_per_s: med_sha2,
        median_sha256sum_mib_per_s: med_sum,
        sha2_mib_per_s: sha2_rates,
        sha256sum_mib_per_s: sum_rates,
    };
    println!(
        "\nhash-file {}, {} runs (medians), page-cached",
        args.size, args.runs
    );
    println!("{}", machine.summary_line());
    let mut t = Table::new(["SHA-256 of a file", "MiB/s"]);
    t.row(["sha2 (kyc-archiver)".to_owned(), num(med_sha2, 1)])
        .row(["sha256sum".to_owned(), num(med_sum, 1)]);
    print!("{}", t.render());
    println!("ratio sha2/sha256sum: {}", num(results.ratio, 2));
    let headline = vec![format!(
        "hash-file {}: sha2 {} MiB/s, sha256sum {} MiB/s, ratio {}{}",
        args.size,
        num(med_sha2, 1),
        num(med_sum, 1),
        num(results.ratio, 2),
        if machine.cpu_sha_ni {
            " (cpu has sha_ni)"
        } else {
            " (cpu without sha_ni)"
        }
    )];
    let report = Report {
        benchmark: "hash-file".to_owned(),
        machine,
        settings: Settings {
            file_bytes: bytes,
            runs: args.runs,
            read_chunk_bytes: CHUNK,
            sha256sum_version: Command::new("sha256sum")
                .arg("--version")
                .output()
                .ok()
                .and_then(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .next()
                        .map(str::to_owned)
                }),
        },
        results,
        headline,
    };
    write_report(&report, args.json.as_deref())
}

fn measure(
    path: &std::path::Path,
    bytes: u64,
    runs: usize,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    // Warm the page cache (and check both tools agree) before timing.
    let want = sha256sum_file(path)?;
    ensure!(sha2_file(path)? == want, "sha2 and sha256sum disagree");
    let mib = bytes as f64 / MIB;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        ensure!(sha2_file(path)? == want, "sha2 digest changed");
        a.push(mib / t.elapsed().as_secs_f64());
        let t = Instant::now();
        ensure!(sha256sum_file(path)? == want, "sha256sum digest changed");
        b.push(mib / t.elapsed().as_secs_f64());
    }
    Ok((a, b))
}
