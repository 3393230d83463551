//! Running the real `kyc-archiver` binary as a worker process.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `kyc-archiver run` process.
#[derive(Debug)]
pub struct WorkerProcess {
    child: Child,
    /// Its HTTP port.
    pub http: String,
}

/// Environment for a worker that archives from `emulator_url` into the local directory
/// `store_dir`, consuming queues under `prefix` on the test broker (or `amqp_url`).
pub fn worker_env(
    emulator_url: &str,
    store_dir: &Path,
    prefix: &str,
    amqp_url: &str,
) -> BTreeMap<String, String> {
    let emulator_host = emulator_url.trim_start_matches("http://").to_owned();
    [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "testid"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "testsecret"),
        ("KYC_ARCHIVER_CLOUDAUTH_ENDPOINT", emulator_url),
        ("KYC_ARCHIVER_CLOUDAUTH_ALLOW_HTTP", "true"),
        ("KYC_ARCHIVER_CLOUDAUTH_QPS", "200"),
        ("KYC_ARCHIVER_VIDEO_ALLOW_HTTP_HOSTS", &emulator_host),
        ("KYC_ARCHIVER_STORE", "local"),
        ("KYC_ARCHIVER_LOCAL_DIR", &store_dir.display().to_string()),
        ("KYC_ARCHIVER_AMQP_URL", amqp_url),
        ("KYC_ARCHIVER_QUEUE_PREFIX", prefix),
        ("KYC_ARCHIVER_RETRY_DELAYS", "1s,2s"),
        ("KYC_ARCHIVER_NOT_READY_WAIT", "1s"),
        ("KYC_ARCHIVER_SHUTDOWN_GRACE", "30s"),
        ("KYC_ARCHIVER_LOG", "warn"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl WorkerProcess {
    /// Starts `kyc-archiver run` with exactly `env` (plus PATH) and waits for `/readyz`.
    pub fn start(env: &BTreeMap<String, String>) -> Self {
        let port = crate::free_port();
        let http = format!("127.0.0.1:{port}");
        let child = Command::new(crate::bin("kyc-archiver", "kyc-archiver"))
            .arg("run")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .env("KYC_ARCHIVER_HTTP_LISTEN", &http)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start kyc-archiver run");
        let mut worker = Self { child, http };
        worker.wait_ready(Duration::from_secs(60));
        worker
    }

    fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("kyc-archiver run exited early with {status}");
            }
            if self.get("/readyz").is_some_and(|(code, _)| code == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "worker not ready within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A blocking GET on the worker's HTTP port: (status, body).
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&self.http).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.http
        )
        .ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).ok()?;
        let code = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Some((code, body))
    }

    /// The value of a Prometheus sample line starting with `series` (e.g.
    /// `kyc_archiver_requests_total{outcome="archived"}`), 0 when absent.
    pub fn metric(&self, series: &str) -> f64 {
        let (_, body) = self.get("/metrics").unwrap_or_default();
        body.lines()
            .filter(|l| l.starts_with(series))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Sends a signal (SIGTERM, SIGKILL, ...).
    pub fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).unwrap();
        let rc = send_signal(pid, signal);
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
    }

    /// Waits for the process to exit, at most `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "worker did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Runs `kyc-archiver run` with exactly `env` (plus PATH) for a run expected to end on its
/// own; returns its exit status and standard error. Panics if it is still running after
/// `timeout`.
pub fn run_to_exit(
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    let mut child = Command::new(crate::bin("kyc-archiver", "kyc-archiver"))
        .arg("run")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .env(
            "KYC_ARCHIVER_HTTP_LISTEN",
            format!("127.0.0.1:{}", crate::free_port()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kyc-archiver run");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kyc-archiver run still running after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status, reader.join().unwrap_or_default())
}

/// `kill -<signal> <pid>` (the command keeps the workspace free of unsafe code).
fn send_signal(pid: i32, signal: i32) -> i32 {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    if status.success() { 0 } else { 1 }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
