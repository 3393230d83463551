//! A worker rig for end-to-end fault tests: the emulator in this process, a store (a fresh
//! local directory or a fresh S3 bucket), a unique queue topology on the real broker, and
//! optionally fault-injecting proxies in front of the broker, the emulator (CheckResult *and*
//! the video URLs it hands out) and S3. It publishes requests, waits for manifests or queue
//! depths with generous deadlines, reads the queues back and audits the store.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudauth_emulator::{
    Emulator, EmulatorConfig, Endpoint, RequestLogEntry, RunningEmulator, VerificationSpec,
};
use evidence::manifest::{Manifest, VideoFate};
use evidence::message::ArchiveRequestV1;
use kyc_archiver::queue::Topology;
use kyc_archiver::store::{LocalDirStore, ObjectStore, S3Store};
use kyc_archiver::verify::{Selection, verify_store};
use lapin::BasicProperties;
use lapin::options::BasicPublishOptions;

use crate::amqp::{Broker, Taken};
use crate::proxy::Proxy;
use crate::worker::worker_env;

/// Where the rig's worker stores bundles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// A fresh temporary directory.
    Local,
    /// A fresh bucket on the test S3 server (`KYC_TEST_S3_*`).
    S3,
}

/// How to build a [`Rig`].
#[derive(Debug, Clone)]
pub struct RigOptions {
    /// The store.
    pub store: StoreKind,
    /// Put the broker, the emulator and (with S3) the store behind [`Proxy`]s.
    pub proxies: bool,
    /// Delays of the retry queues (short, so that retried requests come back quickly).
    pub retry_delays: Vec<Duration>,
}

impl Default for RigOptions {
    fn default() -> Self {
        Self {
            store: StoreKind::Local,
            proxies: false,
            retry_delays: vec![Duration::from_secs(1), Duration::from_secs(2)],
        }
    }
}

/// The proxies of a rig built with [`RigOptions::proxies`].
#[derive(Debug)]
pub struct Proxies {
    /// In front of RabbitMQ.
    pub broker: Proxy,
    /// In front of the emulator: CheckResult and every `docVideoUrl`.
    pub emulator: Proxy,
    /// In front of S3 (S3 stores only).
    pub s3: Option<Proxy>,
}

/// Messages waiting in each queue of the topology (ready, not unacknowledged).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepths {
    /// The work queue.
    pub work: u32,
    /// All retry queues together.
    pub retry: u32,
    /// The dead-letter queue.
    pub dead: u32,
    /// The parking queue.
    pub parked: u32,
}

impl QueueDepths {
    /// Every queue together.
    pub fn total(&self) -> u32 {
        self.work + self.retry + self.dead + self.parked
    }
}

/// What [`Rig::audit`] found: it panics on every violation, so these are counts to report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Audit {
    /// Committed bundles (manifests).
    pub bundles: usize,
    /// Objects in the store, manifests included.
    pub objects: usize,
    /// Bytes re-hashed by `verify_store`.
    pub bytes_verified: u64,
    /// Videos compared with the emulator's SHA-256.
    pub videos_checked: usize,
    /// Hidden temporary files a killed worker left in a local store (invisible to listings).
    pub hidden_temp_files: usize,
}

/// Counts from the emulator's request log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmulatorCounts {
    /// CheckResult calls.
    pub checkresult: usize,
    /// CheckResult calls answered `Throttling.Api`.
    pub throttled: usize,
    /// CheckResult calls answered with a 5xx status.
    pub server_errors: usize,
    /// Video requests (first downloads, resumptions and refreshed URLs).
    pub video: usize,
    /// Video requests that got a body fault (slow, cut, short) or an error fault.
    pub video_faults: usize,
}

impl EmulatorCounts {
    /// Counts `log`.
    pub fn of(log: &[RequestLogEntry]) -> Self {
        let mut c = Self::default();
        for e in log {
            match e.endpoint {
                Endpoint::CheckResult => {
                    c.checkresult += 1;
                    c.throttled += usize::from(e.code == "Throttling.Api");
                    c.server_errors += usize::from(e.status >= 500);
                }
                Endpoint::Video => {
                    c.video += 1;
                    c.video_faults += usize::from(e.fault.is_some());
                }
            }
        }
        c
    }
}

/// The rig.
pub struct Rig {
    /// The emulator (in this process).
    pub emulator: RunningEmulator,
    /// Queue name prefix, unique to this rig.
    pub prefix: String,
    /// The queues under `prefix`.
    pub topology: Topology,
    /// A connection of the test's own (not proxied).
    pub broker: Broker,
    /// Direct access to the worker's store (not proxied).
    pub store: Arc<dyn ObjectStore>,
    /// The proxies, when asked for.
    pub proxies: Option<Proxies>,
    kind: StoreKind,
    dir: tempfile::TempDir,
    bucket: Option<String>,
}

impl std::fmt::Debug for Rig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rig")
            .field("prefix", &self.prefix)
            .field("store", &self.kind)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

/// `host:port` of a URL like `http://127.0.0.1:5672/...` or `amqp://u:p@127.0.0.1:5672/%2f`.
fn authority(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split('/').next().unwrap_or(rest);
    rest.rsplit_once('@').map_or(rest, |(_, a)| a).to_owned()
}

fn socket_addr(authority: &str) -> SocketAddr {
    use std::net::ToSocketAddrs as _;
    authority
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("cannot resolve {authority}"))
}

/// Polls `probe` every 100 ms until it returns `Ok`, panicking with `what` and the last `Err`
/// (the state seen) after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(state) => assert!(
                Instant::now() < deadline,
                "{what}: not reached within {timeout:?} ({state})"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Rig {
    /// A rig with a local store and no proxies.
    pub async fn local() -> Self {
        Self::new(RigOptions::default()).await
    }

    /// Builds the rig: emulator, store, topology declared on the broker.
    pub async fn new(options: RigOptions) -> Self {
        let (emulator, emulator_proxy) = if options.proxies {
            // The proxy's address is the emulator's public base, so every docVideoUrl goes
            // through the proxy too.
            let bound = Proxy::bind().await;
            let config = EmulatorConfig {
                public_base_url: Some(format!("http://{}", bound.addr())),
                ..EmulatorConfig::default()
            };
            let emulator = Emulator::start(config, "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            let proxy = bound.forward_to(emulator.addr());
            (emulator, Some(proxy))
        } else {
            let emulator =
                Emulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
                    .await
                    .unwrap();
            (emulator, None)
        };
        let prefix = format!("kyc-test-{}", uuid::Uuid::new_v4().simple());
        let topology = Topology::new(&prefix, &options.retry_delays);
        let broker = Broker::connect().await;
        topology
            .declare(&broker.channel)
            .await
            .expect("declare the test topology");
        let dir = tempfile::tempdir().unwrap();
        let (store, bucket): (Arc<dyn ObjectStore>, Option<String>) = match options.store {
            StoreKind::Local => {
                let store = LocalDirStore::new(dir.path()).await.unwrap();
                (Arc::new(store) as Arc<dyn ObjectStore>, None)
            }
            StoreKind::S3 => {
                let bucket = crate::unique_bucket("chaos");
                let cfg = crate::s3_env().store_config(bucket.clone());
                let store = S3Store::new(cfg).await.unwrap();
                store.create_bucket(false).await.expect("create a bucket");
                (Arc::new(store) as Arc<dyn ObjectStore>, Some(bucket))
            }
        };
        let proxies = match emulator_proxy {
            Some(emulator_proxy) => Some(Proxies {
                broker: Proxy::start(socket_addr(&authority(&crate::amqp_url()))).await,
                emulator: emulator_proxy,
                s3: match options.store {
                    StoreKind::S3 => {
                        Some(Proxy::start(socket_addr(&authority(&crate::s3_env().endpoint))).await)
                    }
                    StoreKind::Local => None,
                },
            }),
            None => None,
        };
        Self {
            emulator,
            prefix,
            topology,
            broker,
            store,
            proxies,
            kind: options.store,
            dir,
            bucket,
        }
    }

    /// The local store's directory (a scratch directory with S3).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The environment of a worker for this rig, through the proxies when there are some.
    pub fn env(&self) -> BTreeMap<String, String> {
        let amqp = crate::amqp_url();
        let (emulator_url, amqp_url) = match &self.proxies {
            Some(p) => (
                format!("http://{}", p.emulator.addr()),
                amqp.replace(&authority(&amqp), &p.broker.addr().to_string()),
            ),
            None => (self.emulator.base_url(), amqp),
        };
        let mut env = worker_env(&emulator_url, self.dir.path(), &self.prefix, &amqp_url);
        let delays: Vec<String> = self
            .topology
            .retries
            .iter()
            .map(|(_, d)| format!("{}s", d.as_secs().max(1)))
            .collect();
        env.insert("KYC_ARCHIVER_RETRY_DELAYS".into(), delays.join(","));
        if let (StoreKind::S3, Some(bucket)) = (self.kind, &self.bucket) {
            let s3 = crate::s3_env();
            let endpoint = match self.proxies.as_ref().and_then(|p| p.s3.as_ref()) {
                Some(proxy) => format!("http://{}", proxy.addr()),
                None => s3.endpoint,
            };
            env.remove("KYC_ARCHIVER_LOCAL_DIR");
            for (k, v) in [
                ("KYC_ARCHIVER_STORE", "s3".to_owned()),
                ("KYC_ARCHIVER_S3_BUCKET", bucket.clone()),
                ("KYC_ARCHIVER_S3_PATH_STYLE", "true".to_owned()),
                ("AWS_ENDPOINT_URL", endpoint),
                ("AWS_ACCESS_KEY_ID", s3.access_key),
                ("AWS_SECRET_ACCESS_KEY", s3.secret_key),
                ("AWS_REGION", s3.region),
            ] {
                env.insert(k.to_owned(), v);
            }
        }
        env
    }

    /// Creates a verification in the emulator and the archive request for it.
    pub fn verification(&self, spec: VerificationSpec) -> ArchiveRequestV1 {
        let v = self.emulator.create_verification(spec).unwrap();
        let mut r = ArchiveRequestV1::new(v.transaction_id, v.merchant_biz_id);
        r.completed_at = Some(v.completed_at);
        r.product = Some(v.product.to_string());
        r
    }

    /// Publishes `body` to the work queue (persistent, confirmed by the broker).
    pub async fn publish_raw(&self, body: &[u8]) {
        self.broker
            .channel
            .basic_publish(
                "",
                &self.topology.work,
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// Publishes an archive request.
    pub async fn publish(&self, request: &ArchiveRequestV1) {
        self.publish_raw(&request.to_json()).await;
    }

    /// The committed manifest of `transaction_id`, if any.
    pub async fn manifest(&self, transaction_id: &str) -> Option<Manifest> {
        let bytes = self
            .store
            .get(&format!("{transaction_id}/manifest.json"))
            .await
            .expect("read a manifest")?;
        Some(Manifest::from_json(&bytes).expect("a manifest that parses"))
    }

    /// Waits until every transaction in `ids` has a manifest; returns them in order.
    pub async fn wait_for_manifests(&self, ids: &[&str], timeout: Duration) -> Vec<Manifest> {
        wait_for("manifests", timeout, || async {
            let mut found = Vec::new();
            for id in ids {
                if let Some(m) = self.manifest(id).await {
                    found.push(m);
                }
            }
            if found.len() == ids.len() {
                Ok(found)
            } else {
                Err(format!("{} of {} stored", found.len(), ids.len()))
            }
        })
        .await
    }

    /// Ready messages in every queue of the topology.
    pub async fn depths(&self) -> QueueDepths {
        let mut retry = 0;
        for (name, _) in &self.topology.retries {
            retry += self.broker.count(name).await;
        }
        QueueDepths {
            work: self.broker.count(&self.topology.work).await,
            retry,
            dead: self.broker.count(&self.topology.dead).await,
            parked: self.broker.count(&self.topology.parked).await,
        }
    }

    /// Waits until `queue` holds at least `n` ready messages.
    pub async fn wait_for_queue(&self, queue: &str, n: u32, timeout: Duration) {
        wait_for(&format!("{n} messages in {queue}"), timeout, || async {
            let have = self.broker.count(queue).await;
            if have >= n {
                Ok(())
            } else {
                Err(format!("{have} there"))
            }
        })
        .await;
    }

    /// Takes every message of `queue`.
    pub async fn drain(&self, queue: &str) -> Vec<Taken> {
        self.broker.drain(queue).await
    }

    /// The transaction ids of the manifests in the store.
    pub async fn manifest_ids(&self) -> BTreeSet<String> {
        self.store
            .list("")
            .await
            .expect("list the store")
            .into_iter()
            .filter_map(|o| o.key.strip_suffix("/manifest.json").map(str::to_owned))
            .collect()
    }

    /// Checks the whole store and panics on any violation:
    /// - `verify_store` re-hashes every artifact and finds nothing;
    /// - every object is a manifest or named by its transaction's manifest (no leftover
    ///   attempt, no partial bundle without a manifest);
    /// - every archived video has the emulator's SHA-256 (byte-identical), every other fate
    ///   carries a reason.
    pub async fn audit(&self) -> Audit {
        let report = verify_store(self.store.as_ref(), &Selection::All, |_, _| {})
            .await
            .expect("verify the store");
        assert_eq!(
            report.finding_count(),
            0,
            "verify found problems: {report:?}"
        );
        let objects = self.store.list("").await.expect("list the store");
        let mut manifests = BTreeMap::new();
        for tx in self.manifest_ids().await {
            let m = self.manifest(&tx).await.expect("listed manifest");
            manifests.insert(tx, m);
        }
        for o in &objects {
            let tx = o.key.split('/').next().unwrap_or_default();
            let manifest = manifests
                .get(tx)
                .unwrap_or_else(|| panic!("{} belongs to no committed bundle", o.key));
            let named = o.key == format!("{tx}/manifest.json")
                || manifest.artifacts.iter().any(|a| a.key == o.key);
            assert!(named, "{} is not named by its manifest", o.key);
        }
        let mut videos_checked = 0;
        for m in manifests.values() {
            match m.video.fate {
                VideoFate::Archived => {
                    let want = self
                        .emulator
                        .verification(&m.transaction_id)
                        .and_then(|v| v.video_sha256())
                        .map(hex::encode);
                    if let Some(want) = want {
                        let got = &m.artifact("video").expect("an archived video").sha256;
                        assert_eq!(got, &want, "{}: video differs", m.transaction_id);
                        videos_checked += 1;
                    }
                }
                _ => assert!(
                    m.video.reason.is_some(),
                    "{}: video {:?} without a reason",
                    m.transaction_id,
                    m.video.fate
                ),
            }
        }
        Audit {
            bundles: manifests.len(),
            objects: objects.len(),
            bytes_verified: report.bundles.iter().map(|b| b.bytes_hashed).sum(),
            videos_checked,
            hidden_temp_files: match self.kind {
                StoreKind::Local => count_temp_files(self.dir.path()),
                StoreKind::S3 => 0,
            },
        }
    }

    /// Counts from the emulator's request log.
    pub fn emulator_counts(&self) -> EmulatorCounts {
        EmulatorCounts::of(&self.emulator.requests())
    }

    /// Deletes the topology's queues (the store goes with the rig; S3 buckets stay, named
    /// after the process, on the throwaway server).
    pub async fn teardown(self) {
        self.broker.delete_topology(&self.topology).await;
    }
}

fn count_temp_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            match e.file_type() {
                Ok(t) if t.is_dir() => count_temp_files(&e.path()),
                _ => usize::from(name.contains(".tmp-")),
            }
        })
        .sum()
}

/// A random seed from the environment variable `var` when set (to replay a failure), else
/// fresh; printed so a failing run can be repeated.
pub fn seed(var: &str) -> u64 {
    let seed = std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("seed {seed} (replay with {var}={seed})");
    seed
}

/// An integer setting from the environment, else `default`.
pub fn env_u64(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
