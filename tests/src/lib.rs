//! Support for the end-to-end tests: where the real services are.
//!
//! `scripts/test` starts RabbitMQ and SeaweedFS, creates the Python virtual environment and
//! exports the variables read here. A test that needs a service and finds its variable unset
//! fails with a message saying how to provide it; it never skips.

use std::path::PathBuf;

fn required(var: &str, what: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{var} is not set: this test needs {what}; run it through `scripts/test` \
             (which starts every service the tests need) or export {var} yourself"
        ),
    }
}

/// AMQP URL of the real RabbitMQ broker (`KYC_TEST_AMQP_URL`).
pub fn amqp_url() -> String {
    required("KYC_TEST_AMQP_URL", "a running RabbitMQ broker")
}

/// Connection details of the real S3-compatible server started by `scripts/seaweedfs`.
#[derive(Debug, Clone)]
pub struct S3Env {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// Access key id accepted by the server.
    pub access_key: String,
    /// Secret access key accepted by the server.
    pub secret_key: String,
    /// Region to sign for.
    pub region: String,
}

impl S3Env {
    /// An S3 store configuration for `bucket` on this server (path style, static keys).
    pub fn store_config(&self, bucket: impl Into<String>) -> kyc_archiver::store::S3Config {
        let mut cfg = kyc_archiver::store::S3Config::new(bucket);
        cfg.endpoint_url = Some(self.endpoint.clone());
        cfg.region = Some(self.region.clone());
        cfg.force_path_style = true;
        cfg.credentials = kyc_archiver::store::S3Credentials::from_static(
            self.access_key.clone(),
            self.secret_key.clone(),
        );
        cfg
    }
}

/// The S3 server of this test run (`KYC_TEST_S3_ENDPOINT`, `KYC_TEST_S3_ACCESS_KEY`,
/// `KYC_TEST_S3_SECRET_KEY`).
pub fn s3_env() -> S3Env {
    S3Env {
        endpoint: required("KYC_TEST_S3_ENDPOINT", "a running S3 server (SeaweedFS)"),
        access_key: required("KYC_TEST_S3_ACCESS_KEY", "the S3 server's access key"),
        secret_key: required("KYC_TEST_S3_SECRET_KEY", "the S3 server's secret key"),
        region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned()),
    }
}

/// The project's virtual-environment Python, with the official Alibaba Cloud SDK installed
/// (`KYC_TEST_PYTHON`).
pub fn python() -> PathBuf {
    let path = PathBuf::from(required(
        "KYC_TEST_PYTHON",
        "the project's Python virtual environment (scripts/venv)",
    ));
    assert!(
        path.exists(),
        "KYC_TEST_PYTHON points to {} which does not exist",
        path.display()
    );
    path
}

/// Root of the repository (for scripts and example files).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A fresh bucket name unique to this process and call, valid for S3 naming rules.
pub fn unique_bucket(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id()).to_ascii_lowercase()
}

/// Path of a workspace binary, built on first use (`cargo build --bin <name>`), so the tests
/// drive the real executable.
pub fn bin(package: &str, name: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // Only the variables a plain `cargo build` in a shell would see: the test harness sets
    // dozens more (CARGO_PKG_*, CARGO_MANIFEST_DIR, nextest's own), and build scripts that
    // watch the environment would then rebuild half the tree, and rebuild it back on the
    // next `cargo test`.
    const PASSED: [&str; 12] = [
        "PATH",
        "HOME",
        "USER",
        "TMPDIR",
        "LANG",
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_JOBS",
        "RUSTUP_HOME",
        "RUSTUP_TOOLCHAIN",
        "RUSTFLAGS",
        "CARGO_TERM_COLOR",
    ];
    let status = std::process::Command::new(cargo)
        .args(["build", "--quiet", "-p", package, "--bin", name])
        .current_dir(repo_root())
        .env_clear()
        .envs(
            PASSED
                .iter()
                .filter_map(|k| Some((*k, std::env::var_os(k)?))),
        )
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build --bin {name} failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo_root().join("target"), PathBuf::from);
    let path = target.join("debug").join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A free TCP port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub mod amqp;
pub mod http_stub;
pub mod proxy;
pub mod rig;
pub mod worker;
