//! The one-shot `kyc-archiver archive` and `kyc-archiver verify` binaries against real S3
//! (SeaweedFS from `scripts/seaweedfs`) and the emulator: every product, tampering found by
//! verify, COMPLIANCE object lock enforced, and a multi-GiB video with bounded memory.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use aws_sdk_s3::types::ObjectLockRetentionMode;
use cloudauth_emulator::{Emulator, EmulatorConfig, RunningEmulator, VerificationSpec};
use evidence::manifest::{Manifest, VideoFate};
use kyc_archiver::store::{ObjectStore, S3Store};
use kyc_archiver_tests::{bin, s3_env, unique_bucket};
use sha2::{Digest, Sha256};

struct S3Rig {
    emulator: RunningEmulator,
    store: S3Store,
    bucket: String,
}

async fn rig(lock: bool) -> S3Rig {
    let emulator = Emulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let env = s3_env();
    let bucket = unique_bucket("archive");
    let store = S3Store::new(env.store_config(bucket.clone()))
        .await
        .unwrap();
    store.create_bucket(lock).await.unwrap();
    S3Rig {
        emulator,
        store,
        bucket,
    }
}

impl S3Rig {
    /// The environment a deployment would set: standard AWS variables plus ours.
    fn env(&self) -> BTreeMap<String, String> {
        let s3 = s3_env();
        let emulator = self.emulator.base_url();
        [
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "testid".to_owned()),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "testsecret".to_owned()),
            ("KYC_ARCHIVER_CLOUDAUTH_ENDPOINT", emulator.clone()),
            ("KYC_ARCHIVER_CLOUDAUTH_ALLOW_HTTP", "true".to_owned()),
            (
                "KYC_ARCHIVER_VIDEO_ALLOW_HTTP_HOSTS",
                emulator.trim_start_matches("http://").to_owned(),
            ),
            ("KYC_ARCHIVER_S3_BUCKET", self.bucket.clone()),
            ("KYC_ARCHIVER_S3_PATH_STYLE", "true".to_owned()),
            ("AWS_ENDPOINT_URL", s3.endpoint),
            ("AWS_ACCESS_KEY_ID", s3.access_key),
            ("AWS_SECRET_ACCESS_KEY", s3.secret_key),
            ("AWS_REGION", s3.region),
            ("KYC_ARCHIVER_LOG", "warn".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn run(&self, env: &BTreeMap<String, String>, args: &[&str]) -> Output {
        Command::new(bin("kyc-archiver", "kyc-archiver"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .output()
            .expect("run kyc-archiver")
    }

    fn archive(
        &self,
        env: &BTreeMap<String, String>,
        v: &cloudauth_emulator::Verification,
    ) -> Output {
        let completed = v.completed_at.to_rfc3339();
        let product = v.product.to_string();
        self.run(
            env,
            &[
                "archive",
                "--transaction-id",
                &v.transaction_id,
                "--merchant-biz-id",
                &v.merchant_biz_id,
                "--completed-at",
                &completed,
                "--product",
                &product,
            ],
        )
    }

    async fn manifest(&self, transaction_id: &str) -> Manifest {
        let bytes = self
            .store
            .get(&format!("{transaction_id}/manifest.json"))
            .await
            .unwrap()
            .expect("manifest stored");
        Manifest::from_json(&bytes).unwrap()
    }

    async fn sha256(&self, key: &str) -> String {
        let bytes = self.store.get(key).await.unwrap().expect("object stored");
        hex::encode(Sha256::digest(&bytes))
    }
}

fn ok(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "exit {}: {stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_archives_every_product_into_s3_and_verify_finds_tampering() {
    let rig = rig(false).await;
    let env = rig.env();
    let specs = [
        VerificationSpec {
            video_size: Some(6 * 1024 * 1024 + 3),
            ..VerificationSpec::ekyc()
        },
        VerificationSpec::id_ocr(),
        VerificationSpec {
            video_size: Some(40_000),
            ..VerificationSpec::face_liveness()
        },
        VerificationSpec {
            video_size: Some(9_000),
            ..VerificationSpec::ekyc().failed(212)
        },
    ];
    let mut archived = Vec::new();
    for spec in specs {
        let v = rig.emulator.create_verification(spec).unwrap();
        let stdout = ok(&rig.archive(&env, &v));
        assert!(
            stdout.starts_with(&format!("archived: {}", v.transaction_id)),
            "{stdout}"
        );
        let m = rig.manifest(&v.transaction_id).await;
        for a in &m.artifacts {
            assert_eq!(rig.sha256(&a.key).await, a.sha256, "{}", a.key);
            let head = rig.store.head(&a.key).await.unwrap().unwrap();
            assert_eq!(
                head.metadata.get("sha256"),
                Some(&a.sha256),
                "sha256 recorded on {}",
                a.key
            );
        }
        if let Some(video) = m.artifact("video") {
            assert_eq!(video.sha256, hex::encode(v.video_sha256().unwrap()));
        }
        archived.push((v, m));
    }
    assert_eq!(archived[1].1.video.fate, VideoFate::Absent);
    assert_eq!(archived[3].1.verdict.sub_code.as_deref(), Some("212"));

    // A second run is idempotent.
    let stdout = ok(&rig.archive(&env, &archived[0].0));
    assert!(stdout.starts_with("already archived"), "{stdout}");

    let stdout = ok(&rig.run(&env, &["verify", "--quiet"]));
    assert!(
        stdout.contains("verified 4 bundles") && stdout.contains(" 0 findings"),
        "{stdout}"
    );

    // Overwrite the eKYC face image with other bytes: verify must name it and fail.
    let face = archived[0].1.artifact("faceImg").unwrap().key.clone();
    rig.store
        .put(
            &face,
            bytes::Bytes::from_static(b"\xff\xd8\xff tampered"),
            &Default::default(),
        )
        .await
        .unwrap();
    let out = rig.run(&env, &["verify", "--quiet"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(&face), "{stdout}");
    let out = rig.run(
        &env,
        &[
            "verify",
            "--quiet",
            "--json",
            "--transaction-id",
            &archived[1].0.transaction_id,
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success());
    assert_eq!(
        report["bundles"][0]["findings"].as_array().unwrap().len(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compliance_locked_evidence_cannot_be_deleted() {
    let rig = rig(true).await;
    let mut env = rig.env();
    env.insert("KYC_ARCHIVER_LOCK_MODE".to_owned(), "compliance".to_owned());
    env.insert("KYC_ARCHIVER_RETENTION".to_owned(), "1mo".to_owned());
    let v = rig
        .emulator
        .create_verification(VerificationSpec {
            video_size: Some(7 * 1024 * 1024),
            ..VerificationSpec::ekyc()
        })
        .unwrap();
    ok(&rig.archive(&env, &v));
    let m = rig.manifest(&v.transaction_id).await;
    assert_eq!(m.retention.mode, evidence::retention::LockMode::Compliance);
    let expected_until = v
        .completed_at
        .checked_add_months(chrono::Months::new(1))
        .unwrap();
    assert_eq!(m.retention.retain_until, expected_until);
    for a in &m.artifacts {
        let client = rig.store.client();
        let retention = client
            .get_object_retention()
            .bucket(&rig.bucket)
            .key(&a.key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("retention of {}: {e:?}", a.key));
        assert_eq!(
            retention.retention().and_then(|r| r.mode()),
            Some(&ObjectLockRetentionMode::Compliance),
            "{}",
            a.key
        );
        let version = a
            .version_id
            .clone()
            .expect("versioned bucket records the version in the manifest");
        let refused = rig.store.delete_version(&a.key, &version).await;
        assert!(refused.is_err(), "deleting locked {} must fail", a.key);
        assert_eq!(
            rig.sha256(&a.key).await,
            a.sha256,
            "{} still readable and intact",
            a.key
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_gib_video_streams_through_with_bounded_memory() {
    let rig = rig(false).await;
    let env = rig.env();
    let size = 2u64 << 30;
    let v = rig
        .emulator
        .create_verification(VerificationSpec {
            video_size: Some(size),
            ..VerificationSpec::face_liveness()
        })
        .unwrap();
    let started = std::time::Instant::now();
    let stdout = ok(&rig.archive(&env, &v));
    let elapsed = started.elapsed();
    let m = rig.manifest(&v.transaction_id).await;
    let video = m.artifact("video").unwrap();
    assert_eq!(video.bytes, size);
    assert_eq!(video.sha256, hex::encode(v.video_sha256().unwrap()));
    let head = rig.store.head(&video.key).await.unwrap().unwrap();
    assert_eq!(head.bytes, size);
    let peak_kib: u64 = stdout
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("peak memory ")?
                .strip_suffix(" KiB")?
                .parse()
                .ok()
        })
        .expect("archive reports its peak memory");
    println!(
        "2 GiB video: {:.1} s, {:.0} MB/s, archiver peak RSS {} MiB",
        elapsed.as_secs_f64(),
        size as f64 / 1e6 / elapsed.as_secs_f64(),
        peak_kib / 1024
    );
    // Memory is bounded by part size x (concurrency + 1) plus the runtime, not by the video.
    assert!(
        peak_kib < 256 * 1024,
        "peak RSS {peak_kib} KiB for a 2 GiB video"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_archivers_racing_on_s3_leave_one_manifest_and_matching_objects() {
    let rig = rig(true).await;
    let env = rig.env();
    for _ in 0..3 {
        let v = rig
            .emulator
            .create_verification(VerificationSpec {
                video_size: Some(6 * 1024 * 1024),
                ..VerificationSpec::ekyc()
            })
            .unwrap();
        let spawn = || {
            let completed = v.completed_at.to_rfc3339();
            Command::new(bin("kyc-archiver", "kyc-archiver"))
                .args([
                    "archive",
                    "--transaction-id",
                    &v.transaction_id,
                    "--merchant-biz-id",
                    &v.merchant_biz_id,
                    "--completed-at",
                    &completed,
                ])
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .envs(&env)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let outs = [ok(&a), ok(&b)];
        let committed = outs.iter().filter(|o| o.starts_with("archived:")).count();
        assert_eq!(committed, 1, "exactly one run commits: {outs:?}");
        let m = rig.manifest(&v.transaction_id).await;
        for a in &m.artifacts {
            assert_eq!(rig.sha256(&a.key).await, a.sha256, "{}", a.key);
        }
        let listed = rig
            .store
            .list(&format!("{}/", v.transaction_id))
            .await
            .unwrap();
        assert_eq!(
            listed.len(),
            m.artifacts.len() + 1,
            "the losing attempt was removed: {listed:?}"
        );
    }
}
