//! `cloudauth-emulator`: serve the CheckResult emulator until Ctrl-C / SIGTERM.

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use cloudauth_emulator::{AccessKey, EmulatorConfig};

const AFTER_HELP: &str = r#"ADMIN API (JSON, no signature, loopback peers only unless admin_allow_remote = true):
  GET    /admin/health                           liveness and emulator time
  GET    /admin/verifications                    list verifications
  POST   /admin/verifications                    create one (body: a verification spec, see below)
  DELETE /admin/verifications                    delete all
  GET    /admin/verifications/{id}               one verification (with video sha256)
  DELETE /admin/verifications/{id}               delete one
  GET    /admin/verifications/{id}/video-url     a fresh signed docVideoUrl
  GET    /admin/requests[?endpoint=checkresult|video&since=N]   the request log
  DELETE /admin/requests                         clear the request log
  GET    /admin/clock                            {"now","real_now","speed","offset_ms"}
  POST   /admin/clock                            {"advance":"16m"} | {"offset_ms":-5000} | {"speed":60} | {"now":"2025-01-15T08:30:00Z"}
  GET    /admin/faults                           all fault plans
  DELETE /admin/faults                           remove all faults
  GET|PUT|DELETE /admin/faults/{checkresult|video}
         PUT body: {"script":[{"fault":{"kind":"throttling"},"times":2}],
                    "rules":[{"fault":{"kind":"latency","delay":"200ms"},"rate":0.1,"transaction_id":"hks..."}]}
         kinds: pass, throttling, internal_error, service_unavailable, ram_user_access_denied,
                account_access_denied, error{status,code,message}, latency{delay},
                slow_stream{bytes_per_second}, cut_after{bytes}, short_body{bytes},
                wrong_content_type{content_type}

EXAMPLE SCENARIO (--config scenarios.toml; see crates/cloudauth-emulator/examples/scenarios.toml):
  check_timestamps = true
  bucket = "cloudauth-evidence"

  [[access_keys]]
  id = "testid"
  secret = "testsecret"

  [[verifications]]
  transaction_id = "hks00000000000000000000000000001"
  product = "eKYC"            # eKYC | ID_OCR | FACE_LIVENESS
  doc_type = "00000008"       # HK ID 2018
  passed = "Y"
  sub_code = "200"
  video_size = 10485760       # bytes; 0 or absent = no video
  completed_ago = "2m"        # or completed_at = "2025-01-15T08:30:00Z"

  [[verifications]]
  product = "FACE_LIVENESS"
  passed = "N"
  sub_code = "205"
  not_completed_for = "5m"    # ProcessNotCompleted for 5 minutes

  [[verifications]]            # hostile input for client tests
  product = "FACE_LIVENESS"
  doc_video_url = "http://169.254.169.254/latest/meta-data/"   # returned verbatim
  ext_fields = { "ExtFaceInfo.faceImg" = "not*base64" }        # set inside the Ext* JSON
  ext_raw = { ExtIdInfo = "{\"ocrIdInfo\":" }                  # whole Ext* string, verbatim

Clients sign with their own clock: with --clock-speed other than 1 (or a shifted clock), pass
--no-timestamp-check or sign with the emulator's time (GET /admin/clock)."#;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Local emulator of Alibaba Cloud ID Verification CheckResult (cloudauth-intl 2022-08-09)
/// and of its OSS-signed evidence video URLs.
#[derive(Debug, Parser)]
#[command(name = "cloudauth-emulator", version, after_help = AFTER_HELP)]
struct Args {
    /// Address to listen on (CheckResult at POST /, videos at GET /<bucket>/<id>.webm,
    /// admin API under /admin/).
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,

    /// TOML scenario file: access keys, clock, verifications, faults (see below).
    #[arg(long, value_name = "TOML")]
    config: Option<PathBuf>,

    /// Access key id to accept. Without --config it replaces the default testid/testsecret
    /// pair; with --config it is added to the file's keys.
    #[arg(
        long,
        env = "ALIBABA_CLOUD_ACCESS_KEY_ID",
        requires = "access_key_secret"
    )]
    access_key_id: Option<String>,

    /// Secret of --access-key-id.
    #[arg(
        long,
        env = "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        hide_env_values = true,
        requires = "access_key_id"
    )]
    access_key_secret: Option<String>,

    /// Makes --access-key-id an STS key: requests must carry exactly this security token.
    #[arg(
        long,
        env = "ALIBABA_CLOUD_SECURITY_TOKEN",
        hide_env_values = true,
        requires = "access_key_id"
    )]
    security_token: Option<String>,

    /// Emulated seconds per real second (e.g. 60: the 15-minute URL validity passes in 15 s).
    #[arg(long)]
    clock_speed: Option<f64>,

    /// Accept any x-acs-date / Timestamp (needed when the clock is accelerated or shifted).
    #[arg(long)]
    no_timestamp_check: bool,

    /// Serve the admin API to non-loopback peers too.
    #[arg(long)]
    admin_allow_remote: bool,

    /// Base URL written into docVideoUrl (default: http://<listen address>).
    #[arg(long, value_name = "URL")]
    public_base_url: Option<String>,

    /// Log line format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

fn config_from(args: &Args) -> anyhow::Result<EmulatorConfig> {
    let mut config = match &args.config {
        Some(path) => EmulatorConfig::from_toml_file(path)?,
        None => EmulatorConfig::default(),
    };
    if let (Some(id), Some(secret)) = (&args.access_key_id, &args.access_key_secret) {
        let key = AccessKey {
            id: id.clone(),
            secret: secret.clone(),
            security_token: args.security_token.clone(),
        };
        if args.config.is_none() {
            config.access_keys.clear();
        }
        config.access_keys.retain(|k| k.id != key.id);
        config.access_keys.push(key);
    }
    if let Some(speed) = args.clock_speed {
        config.clock.speed = speed;
    }
    if args.no_timestamp_check {
        config.check_timestamps = false;
    }
    if args.admin_allow_remote {
        config.admin_allow_remote = true;
    }
    if let Some(base) = &args.public_base_url {
        config.public_base_url = Some(base.clone());
    }
    config.validate()?;
    Ok(config)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match args.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    let config = config_from(&args).context("invalid configuration")?;
    tracing::info!(
        access_keys = config.access_keys.len(),
        verifications = config.verifications.len(),
        check_timestamps = config.check_timestamps,
        clock_speed = config.clock.speed,
        "starting"
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    cloudauth_emulator::serve(config, listener, shutdown_signal()).await?;
    Ok(())
}
