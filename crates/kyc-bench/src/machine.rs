//! What a benchmark ran on, recorded in every JSON report (best effort: unknown values are
//! `None`, never an error).

use std::process::Command;

use serde::Serialize;

/// The machine and the source tree at the start of a benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct MachineInfo {
    /// Logical CPUs available to this process.
    pub nproc: usize,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: Option<String>,
    /// Whether the CPU has the SHA extensions (`sha_ni`), which `sha2` uses when present.
    pub cpu_sha_ni: bool,
    /// Total memory, KiB.
    pub mem_total_kib: Option<u64>,
    /// `/proc/sys/kernel/osrelease`.
    pub kernel: Option<String>,
    /// 1, 5 and 15-minute load averages just before the benchmark.
    pub load_average_before: Option<[f64; 3]>,
    /// `git rev-parse HEAD` of the working tree.
    pub git_commit: Option<String>,
    /// Whether the working tree had uncommitted changes.
    pub git_dirty: Option<bool>,
    /// `rustc --version`.
    pub rustc: Option<String>,
    /// When the benchmark started (UTC).
    pub started_at: chrono::DateTime<chrono::Utc>,
}

fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn cpuinfo_field(cpuinfo: &str, name: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

/// The current load averages (`/proc/loadavg`).
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

impl MachineInfo {
    /// Collects everything now.
    pub fn collect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Self {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: cpuinfo_field(&cpuinfo, "model name"),
            cpu_sha_ni: cpuinfo_field(&cpuinfo, "flags")
                .is_some_and(|f| f.split_whitespace().any(|x| x == "sha_ni")),
            mem_total_kib: meminfo
                .lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok()),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .map(|s| s.trim().to_owned()),
            load_average_before: load_average(),
            git_commit: command_line("git", &["rev-parse", "HEAD"]),
            git_dirty: command_line("git", &["status", "--porcelain", "--untracked-files=no"])
                .map(|s| !s.is_empty()),
            rustc: command_line("rustc", &["--version"]),
            started_at: chrono::Utc::now(),
        }
    }

    /// One line for the top of a printed report.
    pub fn summary_line(&self) -> String {
        let load = self
            .load_average_before
            .map(|l| format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2]))
            .unwrap_or_else(|| "?".to_owned());
        let commit = self
            .git_commit
            .as_deref()
            .map(|c| &c[..c.len().min(12)])
            .unwrap_or("?");
        format!(
            "{} cpus ({}{}), kernel {}, load {load}, commit {commit}{}",
            self.nproc,
            self.cpu_model.as_deref().unwrap_or("unknown cpu"),
            if self.cpu_sha_ni { ", sha_ni" } else { "" },
            self.kernel.as_deref().unwrap_or("?"),
            if self.git_dirty == Some(true) {
                " (dirty)"
            } else {
                ""
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_something() {
        let m = MachineInfo::collect();
        assert!(m.nproc >= 1);
        assert!(m.kernel.is_some());
        assert!(!m.summary_line().is_empty());
    }
}
