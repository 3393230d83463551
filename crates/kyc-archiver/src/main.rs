//! The `kyc-archiver` binary: parses arguments, loads and validates the configuration, wires
//! resources and calls the library. Errors meet `anyhow` here and nowhere else.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Parser, Subcommand};
use cloudauth::ErrorClass;
use std::sync::Arc;

use evidence::message::ArchiveRequestV1;
use kyc_archiver::config::{Config, RawConfig, reference_markdown};
use kyc_archiver::enqueue::{read_csv, read_jsonl};
use kyc_archiver::http::{CallbackSettings, HttpState, Publisher};
use kyc_archiver::pipeline::{ArchiveRequest, Outcome};
use kyc_archiver::queue::{Topology, WorkerSettings, WorkerState};
use kyc_archiver::verify::{Selection, verify_store};
use kyc_archiver::{app, config};

/// Keeps Alibaba Cloud ID Verification evidence (result, images, video) before the cloud
/// deletes it, in S3-compatible storage or a local directory, hashed and manifested.
///
/// Configuration comes from `--config <file.toml>` and the environment
/// (`ALIBABA_CLOUD_*`, `AWS_*`, `KYC_ARCHIVER_*`); see `kyc-archiver config reference`.
#[derive(Debug, Parser)]
#[command(name = "kyc-archiver", version, about, long_about)]
struct Cli {
    /// TOML configuration file (environment variables override it).
    #[arg(long, global = true, env = "KYC_ARCHIVER_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the worker: consume archive requests from RabbitMQ until SIGTERM/SIGINT, and serve
    /// /healthz, /readyz, /metrics, POST /v1/archive-requests and GET /v1/callback.
    Run,
    /// Publish archive requests (one, or many from a CSV or JSON-lines file) with confirms.
    Enqueue(EnqueueArgs),
    /// Manage the queues.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Archive one transaction now (also for backfills within the 30-day window).
    Archive(ArchiveArgs),
    /// Re-read stored bundles, recompute every hash, report missing, altered or extra objects.
    Verify(VerifyArgs),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, clap::Args)]
struct ArchiveArgs {
    /// `TransactionId` returned by Initialize.
    #[arg(long)]
    transaction_id: String,
    /// `MerchantBizId` (1 to 32 letters and digits).
    #[arg(long)]
    merchant_biz_id: String,
    /// When the verification completed (RFC 3339); drives the video deadline.
    #[arg(long)]
    completed_at: Option<DateTime<Utc>>,
    /// Product code (eKYC, ID_OCR, FACE_LIVENESS, ...), recorded in the manifest.
    #[arg(long)]
    product: Option<String>,
    /// Document type code (e.g. 00000008), recorded in the manifest.
    #[arg(long)]
    document_type: Option<String>,
    /// Place a legal hold on every object of this bundle.
    #[arg(long)]
    legal_hold: bool,
    /// Retention period for this bundle (e.g. 7y), overriding the configured one.
    #[arg(long)]
    retention: Option<evidence::retention::RetentionPeriod>,
    /// Print the manifest as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct EnqueueArgs {
    /// `TransactionId` of a single request.
    #[arg(
        long,
        required_unless_present = "file",
        conflicts_with = "file",
        requires = "merchant_biz_id"
    )]
    transaction_id: Option<String>,
    /// `MerchantBizId` of a single request.
    #[arg(long)]
    merchant_biz_id: Option<String>,
    /// Completion time of a single request (RFC 3339).
    #[arg(long)]
    completed_at: Option<DateTime<Utc>>,
    /// Product code of a single request.
    #[arg(long)]
    product: Option<String>,
    /// A `.csv` (header row of field names) or `.jsonl` file of requests.
    #[arg(long)]
    file: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum QueueCommand {
    /// Move messages from the dead-letter or parking queue back to the work queue.
    Replay {
        /// Source: `dead` or `parked`.
        #[arg(long, value_parser = ["dead", "parked"])]
        from: String,
        /// Move at most this many.
        #[arg(long, default_value_t = u64::MAX)]
        limit: u64,
    },
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// Verify one transaction.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    transaction_id: Option<String>,
    /// Verify bundles completed on or after this date (YYYY-MM-DD or RFC 3339).
    #[arg(long)]
    from: Option<String>,
    /// Verify bundles completed before this date (YYYY-MM-DD or RFC 3339).
    #[arg(long)]
    to: Option<String>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print it, secrets masked.
    Check,
    /// Print the configuration reference (Markdown) generated from the settings table.
    Reference,
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

fn load(cli: &Cli) -> anyhow::Result<(RawConfig, Config)> {
    let env = |name: &str| std::env::var(name).ok();
    Ok(Config::load(cli.config.as_deref(), &env)?)
}

fn parse_date(s: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = s.parse::<DateTime<Utc>>() {
        return Ok(t);
    }
    let day = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .with_context(|| format!("{s:?} is not a date (YYYY-MM-DD or RFC 3339)"))?;
    Ok(day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
}

/// The process's peak resident set size (`VmHWM`), on Linux.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn exit_code(class: ErrorClass) -> ExitCode {
    ExitCode::from(match class {
        ErrorClass::RetrySoon => 2,
        ErrorClass::RetryLater => 3,
        ErrorClass::Permanent => 4,
        ErrorClass::Configuration => 5,
    })
}

async fn archive(config: &Config, args: ArchiveArgs) -> anyhow::Result<ExitCode> {
    let archiver = app::archiver(config).await?;
    let request = ArchiveRequest {
        transaction_id: args.transaction_id,
        merchant_biz_id: args.merchant_biz_id,
        completed_at: args.completed_at,
        product: args.product,
        document_type: args.document_type,
        legal_hold: args.legal_hold.then_some(true),
        retention: args.retention,
        ..ArchiveRequest::default()
    };
    match archiver.archive(&request).await {
        Ok(report) => {
            if args.json {
                println!(
                    "{}",
                    String::from_utf8_lossy(&report.manifest.to_json()).trim_end()
                );
            } else {
                let m = &report.manifest;
                let what = match report.outcome {
                    Outcome::Archived => "archived",
                    Outcome::AlreadyArchived => "already archived",
                };
                println!(
                    "{what}: {} in {}",
                    m.transaction_id,
                    archiver.store().describe()
                );
                println!("  manifest  {}", report.manifest_key);
                println!(
                    "  verdict   passed={} subcode={}",
                    m.verdict.passed.as_deref().unwrap_or("?"),
                    m.verdict.sub_code.as_deref().unwrap_or("?")
                );
                for a in &m.artifacts {
                    println!(
                        "  {:<11} {:>12} bytes  sha256 {}  {}",
                        a.name, a.bytes, a.sha256, a.key
                    );
                }
                println!(
                    "  video     {:?}{}",
                    m.video.fate,
                    m.video
                        .reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                );
                if let Some(kib) = peak_rss_kib() {
                    println!("  peak memory {kib} KiB");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("kyc-archiver: archive failed: {e}");
            Ok(exit_code(e.class()))
        }
    }
}

async fn verify(config: &Config, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let store = app::store(config).await?;
    let selection = match (args.transaction_id, args.from, args.to) {
        (Some(tx), _, _) => Selection::Transaction(tx),
        (None, None, None) => Selection::All,
        (None, from, to) => Selection::Range {
            from: from
                .as_deref()
                .map(parse_date)
                .transpose()?
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
            to: to
                .as_deref()
                .map(parse_date)
                .transpose()?
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        },
    };
    let bar = if args.quiet || args.json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} verifying {pos}/{len} bundles {wide_bar} {elapsed}",
            )
            .expect("static template"),
        )
    };
    let report = verify_store(store.as_ref(), &selection, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .await?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for bundle in &report.bundles {
            for finding in &bundle.findings {
                println!("{}: {finding}", bundle.transaction_id);
            }
        }
        let bytes: u64 = report.bundles.iter().map(|b| b.bytes_hashed).sum();
        println!(
            "verified {} bundles, {} bytes re-hashed, {} findings in {}",
            report.bundles.len(),
            bytes,
            report.finding_count(),
            store.describe()
        );
    }
    Ok(if report.finding_count() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn topology(config: &Config) -> Topology {
    Topology {
        delivery_limit: config.delivery_limit,
        ..Topology::new(&config.queue_prefix, &config.retry_delays)
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!(signal = "SIGINT", "shutdown requested"),
        _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutdown requested"),
    }
}

async fn run_worker(config: &Config) -> anyhow::Result<ExitCode> {
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&[
            0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0,
            1800.0,
        ])
        .context("prometheus buckets")?
        .install_recorder()
        .context("install the metrics recorder")?;
    kyc_archiver::metrics::describe();
    let archiver = app::archiver(config).await?;
    archiver
        .store()
        .check()
        .await
        .context("the object store is not reachable")?;
    let topology = topology(config);
    let settings = WorkerSettings {
        amqp_url: config.amqp_url.expose().to_owned(),
        topology: topology.clone(),
        concurrency: config.concurrency,
        prefetch: config.prefetch,
        shutdown_grace: config.shutdown_grace,
        max_attempts: config.max_attempts_queue,
        in_process_retries: config.in_process_retries,
        crash_limit: config.crash_limit,
    };
    let state = Arc::new(WorkerState::default());
    let publisher = Arc::new(Publisher::new(config.amqp_url.expose(), topology));
    let http_state = HttpState {
        worker: Some(Arc::clone(&state)),
        store: Arc::clone(archiver.store()),
        prometheus: Some(prometheus),
        publisher: Arc::clone(&publisher),
        callback: config.callback_token.as_ref().map(|t| CallbackSettings {
            token: t.expose().to_owned(),
            merchant_biz_id: config.callback_merchant_biz_id.clone(),
        }),
    };
    let listener = tokio::net::TcpListener::bind(config.http_listen)
        .await
        .with_context(|| format!("bind the http port {}", config.http_listen))?;
    tracing::info!(addr = %listener.local_addr()?, store = %archiver.store().describe(), "kyc-archiver worker starting");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut http_stop = stop_rx.clone();
    let server = tokio::spawn(
        axum::serve(listener, kyc_archiver::http::router(http_state))
            .with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|stop| *stop).await;
            })
            .into_future(),
    );
    let mut worker_stop = stop_rx;
    let shutdown = async move {
        let _ = worker_stop.wait_for(|stop| *stop).await;
    };
    let signals = tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    kyc_archiver::queue::run(archiver, settings, state, shutdown).await?;
    signals.abort();
    let _ = server.await;
    publisher.close().await;
    tracing::info!("kyc-archiver worker stopped");
    Ok(ExitCode::SUCCESS)
}

async fn enqueue(config: &Config, args: EnqueueArgs) -> anyhow::Result<ExitCode> {
    let rows = match (&args.file, args.transaction_id) {
        (Some(path), _) => {
            let file =
                std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
            let is_csv = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
            if is_csv {
                read_csv(file)
            } else {
                read_jsonl(std::io::BufReader::new(file))
            }
        }
        (None, Some(tx)) => {
            let mut request = ArchiveRequestV1::new(tx, args.merchant_biz_id.unwrap_or_default());
            request.completed_at = args.completed_at;
            request.product = args.product;
            let checked = request.validate().map(|()| request);
            vec![(1, checked)]
        }
        (None, None) => anyhow::bail!("give --transaction-id and --merchant-biz-id, or --file"),
    };
    let mut valid = Vec::with_capacity(rows.len());
    let mut rejected = 0;
    for (line, row) in rows {
        match row {
            Ok(r) => valid.push(r),
            Err(e) => {
                rejected += 1;
                eprintln!("line {line}: {e}");
            }
        }
    }
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(valid.len() as u64).with_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} enqueued {pos}/{len} {wide_bar} {per_sec} {eta}",
            )
            .expect("static template"),
        )
    };
    let confirmed = kyc_archiver::enqueue::publish_all(
        config.amqp_url.expose(),
        &topology(config),
        &valid,
        || bar.inc(1),
    )
    .await?;
    bar.finish_and_clear();
    println!("enqueued {confirmed} requests (confirmed by the broker), rejected {rejected}");
    Ok(if rejected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(4)
    })
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Config(ConfigCommand::Reference) = cli.command {
        print!("{}", reference_markdown());
        return Ok(ExitCode::SUCCESS);
    }
    let (raw, config) = load(&cli)?;
    if matches!(cli.command, Command::Run | Command::Archive(_)) {
        config.require_credentials()?;
    }
    init_tracing(&config);
    match cli.command {
        Command::Run => run_worker(&config).await,
        Command::Enqueue(args) => enqueue(&config, args).await,
        Command::Queue(QueueCommand::Replay { from, limit }) => {
            let topology = topology(&config);
            let source = if from == "dead" {
                topology.dead.clone()
            } else {
                topology.parked.clone()
            };
            let done = kyc_archiver::queue::replay::replay(
                config.amqp_url.expose(),
                &topology,
                &source,
                limit,
            )
            .await?;
            println!(
                "moved {} messages from {source} to {}",
                done.moved, topology.work
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Archive(args) => archive(&config, args).await,
        Command::Verify(args) => verify(&config, args).await,
        Command::Config(ConfigCommand::Check) => {
            print!("{}", raw.render());
            println!("configuration is valid");
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Reference) => unreachable!("handled above"),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            let e = match e.downcast::<config::ConfigError>() {
                Ok(c) => anyhow::Error::from(c).context("configuration is not valid"),
                Err(e) => e,
            };
            eprintln!("kyc-archiver: {e:#}");
            ExitCode::from(1)
        }
    }
}
