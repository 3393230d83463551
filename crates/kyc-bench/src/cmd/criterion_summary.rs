//! `kyc-bench criterion-summary`: collects criterion's results (`target/criterion/**/new/`)
//! into one table and one JSON report, with throughput as MiB/s or operations/s.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use kyc_bench::MIB;
use kyc_bench::machine::MachineInfo;
use kyc_bench::report::{Report, Table, num};
use serde::{Deserialize, Serialize};

use super::write_report;

/// Arguments of `criterion-summary`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Criterion's output directory (`<target dir>/criterion`).
    #[arg(long, default_value = "target/criterion")]
    pub dir: PathBuf,
    /// Write the report here as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct BenchmarkId {
    full_id: String,
    throughput: Option<Throughput>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
enum Throughput {
    Bytes(u64),
    BytesDecimal(u64),
    Elements(u64),
}

#[derive(Debug, Deserialize)]
struct Estimate {
    point_estimate: f64,
}

#[derive(Debug, Deserialize)]
struct Estimates {
    mean: Estimate,
    median: Estimate,
}

/// One benchmark's result.
#[derive(Debug, Serialize)]
struct Entry {
    id: String,
    median_ns: f64,
    mean_ns: f64,
    throughput: Option<Throughput>,
    mib_per_s: Option<f64>,
    per_s: Option<f64>,
}

fn find(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "new") && path.join("benchmark.json").is_file()
            {
                out.push(path);
            } else {
                find(&path, out)?;
            }
        }
    }
    Ok(())
}

fn read_entry(dir: &Path) -> anyhow::Result<Entry> {
    let id: BenchmarkId = serde_json::from_slice(&std::fs::read(dir.join("benchmark.json"))?)?;
    let est: Estimates = serde_json::from_slice(&std::fs::read(dir.join("estimates.json"))?)?;
    let secs = est.median.point_estimate / 1e9;
    let (mib_per_s, per_s) = match id.throughput {
        Some(Throughput::Bytes(b) | Throughput::BytesDecimal(b)) => {
            (Some(b as f64 / MIB / secs), None)
        }
        Some(Throughput::Elements(n)) => (None, Some(n as f64 / secs)),
        None => (None, Some(1.0 / secs)),
    };
    Ok(Entry {
        id: id.full_id,
        median_ns: est.median.point_estimate,
        mean_ns: est.mean.point_estimate,
        throughput: id.throughput,
        mib_per_s,
        per_s,
    })
}

/// Runs the summary.
pub fn run(args: Args) -> anyhow::Result<()> {
    let machine = MachineInfo::collect();
    let mut dirs = Vec::new();
    find(&args.dir, &mut dirs)
        .with_context(|| format!("cannot read {} (run cargo bench first)", args.dir.display()))?;
    let mut entries = dirs
        .iter()
        .map(|d| read_entry(d))
        .collect::<anyhow::Result<Vec<_>>>()?;
    entries.sort_by(|a, b| a.id.cmp(&b.id));
    println!("\ncriterion micro-benchmarks (medians)");
    println!("{}", machine.summary_line());
    let mut t = Table::new(["benchmark", "median", "MiB/s", "per s"]);
    for e in &entries {
        t.row([
            e.id.clone(),
            format!("{:.0} ns", e.median_ns),
            num(e.mib_per_s, 1),
            num(e.per_s, 0),
        ]);
    }
    print!("{}", t.render());
    let headline = entries
        .iter()
        .map(|e| match (e.mib_per_s, e.per_s) {
            (Some(r), _) => format!("criterion {}: {r:.1} MiB/s", e.id),
            (_, Some(r)) => format!("criterion {}: {r:.0} per s", e.id),
            _ => format!("criterion {}: {:.0} ns", e.id, e.median_ns),
        })
        .collect();
    let report = Report {
        benchmark: "criterion".to_owned(),
        machine,
        settings: serde_json::json!({ "dir": args.dir }),
        results: entries,
        headline,
    };
    write_report(&report, args.json.as_deref())
}
