//! SHA-256 throughput of `sha2` (the archiver's hasher) on in-memory buffers of 64 KiB to
//! 8 MiB, reported as bytes per second. Compare with `kyc-bench hash-file`, which runs the
//! machine's `sha256sum` on the same file.

use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use sha2::{Digest as _, Sha256};

fn sha256(c: &mut Criterion) {
    let mut group = c.benchmark_group("sha256");
    for size in [64 << 10, 256 << 10, 1 << 20, 8 << 20] {
        let data: Vec<u8> = (0..size)
            .map(|i: usize| (i.wrapping_mul(31) >> 3) as u8)
            .collect();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("sha2", size), &data, |b, data| {
            b.iter(|| Sha256::digest(black_box(data)));
        });
    }
    group.finish();
}

criterion_group!(benches, sha256);
criterion_main!(benches);
