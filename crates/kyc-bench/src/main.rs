//! The `kyc-bench` binary: parses arguments and runs one benchmark. Errors meet `anyhow` here.
//!
//! ```text
//! kyc-bench large-video --size 1GiB --runs 3 --json docs/bench/large-video-1GiB.json
//! kyc-bench burst --jobs 2000 --qps 1000 --json docs/bench/burst-qps1000.json
//! kyc-bench hash-file --size 1GiB --json docs/bench/hash-file.json
//! kyc-bench criterion-summary --dir target/criterion --json docs/bench/criterion.json
//! kyc-bench summary docs/bench
//! ```
//!
//! `large-video` and `burst` need an S3 server in the `AWS_*` variables (see `scripts/bench`).

mod cmd;

use clap::{Parser, Subcommand};

/// Benchmarks of kyc-archiver on loopback: large videos against a plain multipart upload,
/// bursts of small jobs through the worker, and SHA-256 against sha256sum.
#[derive(Debug, Parser)]
#[command(name = "kyc-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One large video through `kyc-archiver archive`, against a plain multipart upload.
    LargeVideo(cmd::large_video::Args),
    /// A plain multipart upload of a URL into S3 (the baseline; run by large-video).
    BaselineUpload(cmd::baseline::Args),
    /// A burst of small archive requests through one `kyc-archiver run` worker.
    Burst(cmd::burst::Args),
    /// SHA-256 of a page-cached file: sha2 against sha256sum.
    HashFile(cmd::hash_file::Args),
    /// Criterion's results as one table and JSON report.
    CriterionSummary(cmd::criterion_summary::Args),
    /// The headline lines of every JSON report in a directory.
    Summary(cmd::summary::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::HashFile(args) => cmd::hash_file::run(args),
        Command::CriterionSummary(args) => cmd::criterion_summary::run(args),
        Command::Summary(args) => cmd::summary::run(args),
        command => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                match command {
                    Command::LargeVideo(args) => cmd::large_video::run(args).await,
                    Command::BaselineUpload(args) => cmd::baseline::run(args).await,
                    Command::Burst(args) => cmd::burst::run(args).await,
                    _ => unreachable!("handled above"),
                }
            })
        }
    }
}
