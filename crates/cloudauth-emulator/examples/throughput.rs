//! Measures the emulator's hot paths:
//!
//! ```text
//! cargo run --release -p cloudauth-emulator --example throughput [video_mib] [calls]
//! ```
//!
//! Prints the rate of (1) producing the video chunks, (2) producing and reading every byte,
//! (3) `expected_sha256`, (4) downloading the video over loopback HTTP from an in-process
//! emulator (reqwest client, bytes discarded), and (5) CheckResult calls with images through
//! the project's `cloudauth::Client` (V3), sequential and 32 at a time.

use std::time::Instant;

use cloudauth::{CheckResultRequest, Client, ClientConfig, Credentials, RetryPolicy};
use cloudauth_emulator::{Emulator, EmulatorConfig, VerificationSpec, video};

fn rate(bytes: u64, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64();
    format!("{:.2} GB/s ({:.3} s)", bytes as f64 / secs / 1e9, secs)
}

#[tokio::main]
async fn main() {
    let mib: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1024);
    let calls: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000);
    let size = mib * 1024 * 1024;
    println!("video of {mib} MiB");

    let t = Instant::now();
    let n: u64 = video::Chunks::new("seed", size, ..)
        .map(|c| c.len() as u64)
        .sum();
    assert_eq!(n, size);
    println!("generate chunks:            {}", rate(size, t));

    let t = Instant::now();
    let mut acc = 0u64;
    for chunk in video::Chunks::new("seed", size, ..) {
        for word in chunk.chunks_exact(8) {
            acc ^= u64::from_le_bytes(word.try_into().unwrap());
        }
    }
    println!(
        "generate and read each byte: {} (checksum {acc:x})",
        rate(size, t)
    );

    let t = Instant::now();
    let digest = video::expected_sha256("seed", size);
    println!(
        "expected_sha256:            {} ({})",
        rate(size, t),
        hex::encode(&digest[..8])
    );

    let emu = Emulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let v = emu
        .create_verification(VerificationSpec::ekyc().with_video(size))
        .unwrap();
    let url = emu.video_url(&v.transaction_id).unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let t = Instant::now();
    let mut r = http.get(&url).send().await.unwrap();
    let mut got = 0u64;
    while let Some(c) = r.chunk().await.unwrap() {
        got += c.len() as u64;
    }
    assert_eq!(got, size);
    println!("http download (loopback):   {}", rate(size, t));

    let endpoint = cloudauth::Endpoint::custom(&emu.base_url(), true).unwrap();
    let mut config = ClientConfig::new(endpoint, Credentials::new("testid", "testsecret", None));
    config.qps = None;
    config.retry = RetryPolicy::no_retries();
    let client = Client::new(config).unwrap();
    let specs: Vec<_> = (0..calls)
        .map(|_| emu.create_verification(VerificationSpec::ekyc()).unwrap())
        .collect();
    let requests: Vec<CheckResultRequest> = specs
        .iter()
        .map(|v| {
            CheckResultRequest::new(v.merchant_biz_id.clone(), v.transaction_id.clone())
                .unwrap()
                .return_image(true)
        })
        .collect();
    let t = Instant::now();
    for req in &requests {
        client.check_result(req).await.unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "checkresult with images, sequential: {:.0} calls/s ({calls} calls, {secs:.2} s)",
        calls as f64 / secs
    );
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in requests.chunks(calls.div_ceil(32)) {
        let (client, chunk) = (client.clone(), chunk.to_vec());
        tasks.spawn(async move {
            for req in &chunk {
                client.check_result(req).await.unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "checkresult with images, 32 at a time: {:.0} calls/s ({calls} calls, {secs:.2} s)",
        calls as f64 / secs
    );
    emu.shutdown().await;
}
