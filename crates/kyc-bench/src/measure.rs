//! CPU time and peak memory of processes, read from `/proc` (Linux only).
//!
//! - [`ProcSample::read`]: a process's own CPU seconds (`utime + stime`) and peak resident set
//!   (`VmHWM`), for long-running processes such as the worker and SeaweedFS.
//! - [`run_measured`]: runs a child to completion. Its CPU is exact: the growth of this
//!   process's `cutime + cstime` (the CPU of reaped children) across the wait, which is what
//!   `wait4` would report. Its peak RSS is `VmHWM` sampled every [`SAMPLE_INTERVAL`] while it
//!   runs: `VmHWM` is a high-water mark, so the last sample is the peak unless memory grew in
//!   the child's last few milliseconds.
//!
//! Only one child may be reaped at a time while [`run_measured`] waits (the harness runs them
//! one after another).

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a running child's `VmHWM` is sampled.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(10);

/// Why a measurement failed.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// A `/proc` file could not be read (the process is gone, or this is not Linux).
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A `/proc` file did not have the expected shape.
    #[error("unexpected format of {0}")]
    Format(String),
    /// The child could not be started or waited for.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`, 100 if unknown).
pub fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

fn read(path: &str) -> Result<String, MeasureError> {
    std::fs::read_to_string(path).map_err(|source| MeasureError::Read {
        path: path.to_owned(),
        source,
    })
}

/// The fields of `/proc/<pid>/stat` after the command name, starting with field 3 (state).
fn stat_fields(pid: &str) -> Result<Vec<u64>, MeasureError> {
    let path = format!("/proc/{pid}/stat");
    let text = read(&path)?;
    // The command name is in parentheses and may contain spaces and parentheses itself.
    let rest = text
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| MeasureError::Format(path.clone()))?;
    // Field 3 (state) is a letter; parse it as 0 to keep indices aligned.
    Ok(rest
        .split_whitespace()
        .map(|f| f.parse::<u64>().unwrap_or(0))
        .collect())
}

fn ticks_to_seconds(ticks: u64) -> f64 {
    ticks as f64 / clock_ticks()
}

/// CPU seconds (user + system) of `/proc/<pid>/stat`: fields 14 and 15, or with `children`
/// fields 16 and 17 (reaped children).
fn stat_cpu(pid: &str, children: bool) -> Result<f64, MeasureError> {
    let fields = stat_fields(pid)?;
    // Index 0 is field 3; utime is field 14 → index 11.
    let (a, b) = if children { (13, 14) } else { (11, 12) };
    match (fields.get(a), fields.get(b)) {
        (Some(u), Some(s)) => Ok(ticks_to_seconds(u + s)),
        _ => Err(MeasureError::Format(format!("/proc/{pid}/stat"))),
    }
}

/// Peak resident set (`VmHWM`, KiB) of a live process; `None` for a zombie (no memory left).
fn vm_hwm_kib(pid: &str) -> Result<Option<u64>, MeasureError> {
    let path = format!("/proc/{pid}/status");
    let text = read(&path)?;
    Ok(text
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok()))
}

/// CPU and peak memory of a process at one moment.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ProcSample {
    /// User plus system CPU seconds so far (all threads).
    pub cpu_seconds: f64,
    /// Peak resident set so far, KiB (`VmHWM`); 0 when the kernel no longer reports it.
    pub peak_rss_kib: u64,
}

impl ProcSample {
    /// Samples process `pid`.
    pub fn read(pid: u32) -> Result<Self, MeasureError> {
        let pid = pid.to_string();
        Ok(Self {
            cpu_seconds: stat_cpu(&pid, false)?,
            peak_rss_kib: vm_hwm_kib(&pid)?.unwrap_or(0),
        })
    }

    /// Samples this process.
    pub fn own() -> Result<Self, MeasureError> {
        Ok(Self {
            cpu_seconds: stat_cpu("self", false)?,
            peak_rss_kib: vm_hwm_kib("self")?.unwrap_or(0),
        })
    }
}

/// CPU seconds of this process's reaped children so far (`cutime + cstime`).
pub fn reaped_children_cpu() -> Result<f64, MeasureError> {
    stat_cpu("self", true)
}

/// The pid in a pid file such as SeaweedFS's `weed.pid`.
pub fn read_pid_file(path: &Path) -> Result<u32, MeasureError> {
    let text = std::fs::read_to_string(path).map_err(|source| MeasureError::Read {
        path: path.display().to_string(),
        source,
    })?;
    text.trim()
        .parse()
        .map_err(|_| MeasureError::Format(path.display().to_string()))
}

/// Samples a live process's `VmHWM` in a background thread until stopped.
#[derive(Debug)]
pub struct PeakRssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<Mutex<u64>>,
    thread: Option<JoinHandle<()>>,
}

impl PeakRssSampler {
    /// Starts sampling `pid` every [`SAMPLE_INTERVAL`].
    pub fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(Mutex::new(0u64));
        let thread = {
            let (stop, peak) = (Arc::clone(&stop), Arc::clone(&peak));
            let pid = pid.to_string();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match vm_hwm_kib(&pid) {
                        Ok(Some(kib)) => {
                            let mut p = peak.lock().unwrap_or_else(|e| e.into_inner());
                            *p = (*p).max(kib);
                        }
                        Ok(None) | Err(_) => break, // exited (zombie or reaped)
                    }
                    std::thread::sleep(SAMPLE_INTERVAL);
                }
            })
        };
        Self {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    /// The highest `VmHWM` seen so far, KiB.
    pub fn peak_kib(&self) -> u64 {
        *self.peak.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops sampling and returns the peak, KiB.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak_kib()
    }
}

impl Drop for PeakRssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What [`run_measured`] measured.
#[derive(Debug, Clone)]
pub struct Measured {
    /// How the child ended.
    pub status: ExitStatus,
    /// From spawn to exit.
    pub wall: Duration,
    /// User plus system CPU seconds of the child (exact).
    pub cpu_seconds: f64,
    /// Peak resident set of the child, KiB (sampled `VmHWM`).
    pub peak_rss_kib: u64,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Runs `command` to completion (stdout and stderr captured), measuring it. Blocking.
pub fn run_measured(mut command: Command) -> Result<Measured, MeasureError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let cpu_before = reaped_children_cpu()?;
    let started = Instant::now();
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| MeasureError::Spawn {
            program: program.clone(),
            source,
        })?;
    let sampler = PeakRssSampler::start(child.id());
    let output = child
        .wait_with_output()
        .map_err(|source| MeasureError::Spawn { program, source })?;
    let wall = started.elapsed();
    let peak_rss_kib = sampler.stop();
    let cpu_seconds = reaped_children_cpu()? - cpu_before;
    Ok(Measured {
        status: output.status,
        wall,
        cpu_seconds,
        peak_rss_kib,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_sample_is_plausible() {
        let s = ProcSample::own().unwrap();
        assert!(s.cpu_seconds >= 0.0);
        assert!(s.peak_rss_kib > 0);
    }

    #[test]
    fn measures_a_child() {
        let mut c = Command::new("sh");
        c.args([
            "-c",
            "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo done",
        ]);
        let m = run_measured(c).unwrap();
        assert!(m.status.success());
        assert_eq!(m.stdout.trim(), "done");
        assert!(m.cpu_seconds > 0.0, "{m:?}");
        assert!(m.wall > Duration::ZERO);
    }
}
