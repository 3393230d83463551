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
