//! `kyc-bench baseline-upload`: the yardstick for the archiver's video path.
//!
//! Streams a URL into S3 with a plain aws-sdk-s3 multipart upload: the same part size and parts
//! in flight as the archiver, but no checksums, no SHA-256 of any kind (payloads sent unsigned,
//! like the archiver's), no manifest. Run as a child process by `large-video`, so that its
//! memory and CPU are measured exactly as the archiver's are. Prints one JSON line.

use std::time::Instant;

use anyhow::{Context as _, bail};
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use kyc_archiver::config::parse_size;
use kyc_archiver::store::{ChecksumMode, S3Config, S3Credentials, S3Store};
use tokio::task::JoinSet;

/// Arguments of `baseline-upload`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The object to stream (the emulator's signed video URL).
    #[arg(long)]
    pub url: String,
    /// Target bucket.
    #[arg(long)]
    pub bucket: String,
    /// Target key.
    #[arg(long)]
    pub key: String,
    /// Part size (e.g. 16MiB).
    #[arg(long)]
    pub part_size: String,
    /// Parts in flight.
    #[arg(long)]
    pub concurrency: usize,
}

/// What the upload did (printed as JSON).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    /// Bytes uploaded.
    pub bytes: u64,
    /// Parts uploaded.
    pub parts: usize,
    /// Seconds from the download request to the completed upload.
    pub seconds: f64,
}

/// A client configured exactly as the archiver's: the project's `S3Store` builds it (path
/// style, "when required" checksums, endpoint and keys from `AWS_*`).
async fn client(bucket: &str) -> anyhow::Result<Client> {
    let mut cfg = S3Config::new(bucket);
    cfg.endpoint_url = std::env::var("AWS_ENDPOINT_URL").ok();
    cfg.region = std::env::var("AWS_REGION").ok();
    cfg.force_path_style = true;
    cfg.checksum_mode = ChecksumMode::None;
    cfg.credentials = S3Credentials::Default;
    Ok(S3Store::new(cfg).await?.client().clone())
}

async fn upload_part(
    client: Client,
    bucket: String,
    key: String,
    upload_id: String,
    number: i32,
    body: Bytes,
) -> anyhow::Result<CompletedPart> {
    let len = i64::try_from(body.len())?;
    let out = client
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(number)
        .content_length(len)
        .body(aws_sdk_s3::primitives::ByteStream::from(body))
        .customize()
        .disable_payload_signing()
        .send()
        .await
        .with_context(|| format!("upload part {number}"))?;
    Ok(CompletedPart::builder()
        .part_number(number)
        .set_e_tag(out.e_tag().map(str::to_owned))
        .build())
}

async fn stream_parts(
    args: &Args,
    client: &Client,
    upload_id: &str,
    part_size: usize,
) -> anyhow::Result<(u64, Vec<CompletedPart>)> {
    let response = reqwest::get(&args.url)
        .await
        .context("video request")?
        .error_for_status()
        .context("video request")?;
    let mut body = response.bytes_stream();
    let mut buf = BytesMut::with_capacity(part_size);
    let mut in_flight = JoinSet::new();
    let mut done = Vec::new();
    let mut bytes = 0u64;
    let mut number = 0i32;
    let mut eof = false;
    while !eof {
        match body.next().await {
            Some(chunk) => {
                let chunk = chunk.context("video download")?;
                bytes += chunk.len() as u64;
                buf.extend_from_slice(&chunk);
                if buf.len() < part_size {
                    continue;
                }
            }
            None => eof = true,
        }
        while buf.len() >= part_size || (eof && !buf.is_empty()) {
            let part = buf.split_to(buf.len().min(part_size)).freeze();
            if buf.capacity() < part_size {
                buf.reserve(part_size - buf.len());
            }
            while in_flight.len() >= args.concurrency.max(1) {
                done.push(in_flight.join_next().await.context("part task")???);
            }
            number += 1;
            in_flight.spawn(upload_part(
                client.clone(),
                args.bucket.clone(),
                args.key.clone(),
                upload_id.to_owned(),
                number,
                part,
            ));
        }
    }
    while let Some(part) = in_flight.join_next().await {
        done.push(part.context("part task")??);
    }
    done.sort_by_key(|p| p.part_number());
    Ok((bytes, done))
}

/// Runs the upload and prints the outcome as JSON.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let part_size = usize::try_from(parse_size(&args.part_size).map_err(anyhow::Error::msg)?)?;
    if part_size < kyc_archiver::store::MIN_PART_SIZE {
        bail!("part size must be at least 5 MiB");
    }
    let client = client(&args.bucket).await?;
    let started = Instant::now();
    let upload = client
        .create_multipart_upload()
        .bucket(&args.bucket)
        .key(&args.key)
        .send()
        .await
        .context("create multipart upload")?;
    let upload_id = upload
        .upload_id()
        .context("no upload id in the answer")?
        .to_owned();
    match stream_parts(&args, &client, &upload_id, part_size).await {
        Ok((bytes, parts)) => {
            let count = parts.len();
            client
                .complete_multipart_upload()
                .bucket(&args.bucket)
                .key(&args.key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .context("complete multipart upload")?;
            let outcome = Outcome {
                bytes,
                parts: count,
                seconds: started.elapsed().as_secs_f64(),
            };
            println!("{}", serde_json::to_string(&outcome)?);
            Ok(())
        }
        Err(e) => {
            let _ = client
                .abort_multipart_upload()
                .bucket(&args.bucket)
                .key(&args.key)
                .upload_id(&upload_id)
                .send()
                .await;
            Err(e)
        }
    }
}
