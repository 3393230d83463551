//! Benchmark harness for kyc-archiver (issue 6, benchmarks), run by `scripts/bench`.
//!
//! The `kyc-bench` binary drives the release `kyc-archiver` binary as a child process against
//! the in-process `cloudauth-emulator`, the machine's RabbitMQ and a throwaway SeaweedFS, and
//! prints what it measured. Benchmarks report; they never assert timings. They do assert
//! correctness (hashes equal to the emulator's, every manifest present, queues empty), so a
//! benchmark cannot silently measure a failure.
//!
//! This library holds the measuring pieces the subcommands share:
//!
//! - [`measure`]: CPU seconds and peak RSS of a process from `/proc` (children are measured
//!   without `unsafe`: exact CPU from the parent's `cutime`/`cstime`, peak RSS from `VmHWM`
//!   sampled while the child runs);
//! - [`stats`]: medians, percentiles, the busiest one-second window;
//! - [`machine`]: what the numbers were measured on (cores, kernel, load, git commit);
//! - [`report`]: the JSON document every subcommand writes and the plain-text tables it prints.
//!
//! See `docs/benchmarks.md` for what each number means.

pub mod machine;
pub mod measure;
pub mod report;
pub mod stats;

/// Bytes in a mebibyte. Every rate this crate reports is in MiB/s and labelled so.
pub const MIB: f64 = 1024.0 * 1024.0;

/// Bytes in a gibibyte.
pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
