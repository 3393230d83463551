//! The JSON document every subcommand writes, and plain-text tables for the terminal.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::machine::MachineInfo;

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Serialising failed.
    #[error("cannot serialise the report: {0}")]
    Json(#[from] serde_json::Error),
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// One benchmark's results with the context needed to compare runs.
#[derive(Debug, Serialize)]
pub struct Report<S: Serialize, R: Serialize> {
    /// Which benchmark (`large-video`, `burst`, `hash-file`, `criterion`).
    pub benchmark: String,
    /// The machine, measured before the run.
    pub machine: MachineInfo,
    /// The settings the benchmark ran with (sizes, part size, concurrency, QPS, ...).
    pub settings: S,
    /// What it measured.
    pub results: R,
    /// The lines `kyc-bench summary` prints for this report.
    pub headline: Vec<String>,
}

impl<S: Serialize, R: Serialize> Report<S, R> {
    /// Writes the report as pretty JSON, creating parent directories.
    pub fn write(&self, path: &Path) -> Result<(), ReportError> {
        let write_err = |source| ReportError::Write {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        std::fs::write(path, text).map_err(write_err)
    }
}

/// A table of text cells printed with aligned columns (numbers right-aligned).
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(header: I) -> Self {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells print empty).
    pub fn row<I: IntoIterator<Item = S>, S: Into<String>>(&mut self, cells: I) -> &mut Self {
        self.rows.push(cells.into_iter().map(Into::into).collect());
        self
    }

    /// The table as text, one line per row, columns separated by two spaces.
    pub fn render(&self) -> String {
        let cols = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.header.len()])
            .max()
            .unwrap_or(0);
        let cell = |row: &[String], i: usize| row.get(i).cloned().unwrap_or_default();
        let widths: Vec<usize> = (0..cols)
            .map(|i| {
                self.rows
                    .iter()
                    .chain([&self.header])
                    .map(|r| cell(r, i).chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let numeric = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit() || c == '-' || c == '+')
        };
        let mut out = String::new();
        for (n, row) in [&self.header].into_iter().chain(&self.rows).enumerate() {
            let mut line = String::new();
            for (i, w) in widths.iter().enumerate() {
                let c = cell(row, i);
                if i > 0 {
                    line.push_str("  ");
                }
                if n > 0 && i > 0 && numeric(&c) {
                    let _ = write!(line, "{c:>w$}");
                } else {
                    let _ = write!(line, "{c:<w$}");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
            if n == 0 {
                let total = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
                out.push_str(&"-".repeat(total));
                out.push('\n');
            }
        }
        out
    }
}

/// `x` with `digits` decimals, or `-` when unknown.
pub fn num(x: Option<f64>, digits: usize) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => "-".to_owned(),
    }
}

/// KiB as MiB with one decimal.
pub fn mib_of_kib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_aligned() {
        let mut t = Table::new(["what", "MiB/s"]);
        t.row(["archiver", "123.4"]).row(["baseline", "7.0"]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "what      MiB/s");
        assert_eq!(lines[2], "archiver  123.4");
        assert_eq!(lines[3], "baseline    7.0");
        assert_eq!(num(None, 2), "-");
        assert_eq!(num(Some(1.234), 1), "1.2");
        assert_eq!(mib_of_kib(2048), "2.0");
    }
}
