//! `kyc-bench summary`: the headline lines of every JSON report in a directory.

use std::path::PathBuf;

use anyhow::Context as _;

/// Arguments of `summary`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory of JSON reports (as written with `--json`).
    pub dir: PathBuf,
}

/// Prints the summary.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&args.dir)
        .with_context(|| format!("cannot read {}", args.dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut machine_line = None;
    for path in &files {
        let value: serde_json::Value = serde_json::from_slice(&std::fs::read(path)?)
            .with_context(|| format!("{} is not json", path.display()))?;
        if machine_line.is_none() {
            machine_line = value["machine"].as_object().map(|m| {
                format!(
                    "machine: {} cpus, kernel {}, commit {}",
                    m.get("nproc").map(ToString::to_string).unwrap_or_default(),
                    m.get("kernel").and_then(|k| k.as_str()).unwrap_or("?"),
                    m.get("git_commit")
                        .and_then(|k| k.as_str())
                        .map(|c| &c[..c.len().min(12)])
                        .unwrap_or("?"),
                )
            });
            if let Some(line) = &machine_line {
                println!("{line}");
            }
        }
        for line in value["headline"].as_array().into_iter().flatten() {
            if let Some(text) = line.as_str() {
                println!("{text}");
            }
        }
    }
    Ok(())
}
