//! The conformance suite every [`ObjectStore`] must pass, plus body generators for tests.
//!
//! Each property is an async function that panics (with the store's description) when the store
//! misbehaves; [`run_all`] runs them all on one store. Properties use disjoint key prefixes, so
//! they may share a store, but each expects its own keys to be absent at the start. The unit
//! tests run the suite against [`super::LocalDirStore`] and `tests/tests/store_s3.rs` against
//! [`super::S3Store`] on SeaweedFS.
//!
//! Compiled always (it is small and has no extra dependencies) so that the end-to-end tests
//! crate can use it without a feature flag. It is test-support code: it panics by design.

use std::io;

use futures::StreamExt as _;
use sha2::{Digest as _, Sha256};

use super::{
    ByteStream, Bytes, DEFAULT_CONTENT_TYPE, ObjectStore, PutOptions, SHA256_METADATA_KEY,
    StoreError, Stored,
};

/// Sizes the suite uses for one store.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The store's streaming part size (the S3 store's `part_size`; any size, such as 1 MiB,
    /// for stores without parts). Streams are generated around multiples of it.
    pub part_size: usize,
    /// Number of keys for the listing test (more than 1000 to cross an S3 page).
    pub list_keys: usize,
    /// Number of concurrent create-if-absent puts of one key.
    pub concurrent_creates: usize,
    /// Whether create-if-absent is atomic for multipart (streamed) objects too. AWS S3 and the
    /// local store: yes. SeaweedFS checks `If-None-Match` on CompleteMultipartUpload without
    /// serialising concurrent completions, so two racing streamed creates can both succeed
    /// (seen 1 run in 3). kyc-archiver does not depend on it: artifacts go to keys unique to
    /// their attempt, and the manifest, the one create-if-absent write, is a single put.
    pub atomic_stream_creates: bool,
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// `len` deterministic pseudo-random bytes (xorshift64*, seeded).
pub fn pattern_bytes(len: usize, seed: u64) -> Bytes {
    let mut out = Vec::with_capacity(len + 8);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

/// Streams `data` in chunks whose sizes cycle through `sizes` (zero-sized entries yield empty
/// chunks, which stores must tolerate).
pub fn chunked_stream(data: Bytes, sizes: &[usize]) -> ByteStream {
    let sizes = if sizes.iter().all(|&s| s == 0) {
        vec![64 << 10]
    } else {
        sizes.to_vec()
    };
    let mut chunks = Vec::new();
    let (mut at, mut i) = (0, 0);
    while at < data.len() {
        let n = sizes[i % sizes.len()].min(data.len() - at);
        chunks.push(Ok(data.slice(at..at + n)));
        at += n;
        i += 1;
    }
    futures::stream::iter(chunks).boxed()
}

/// Streams the first `fail_after` bytes of `data` in 64 KiB chunks, then fails with an I/O
/// error (as a broken download would).
pub fn failing_stream(data: Bytes, fail_after: usize) -> ByteStream {
    let head = data.slice(..fail_after.min(data.len()));
    chunked_stream(head, &[64 << 10])
        .chain(futures::stream::once(async {
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "simulated download failure",
            ))
        }))
        .boxed()
}

/// Streams `data` in 1 MiB chunks and then stalls forever (a download that hangs), for
/// cancellation tests.
pub fn stalling_stream(data: Bytes) -> ByteStream {
    chunked_stream(data, &[1 << 20])
        .chain(futures::stream::pending())
        .boxed()
}

/// Lazily generates `len` pseudo-random bytes in chunks of `chunk` bytes (constant memory, for
/// throughput measurements), returning the stream.
pub fn generated_stream(len: u64, chunk: usize) -> ByteStream {
    let block = pattern_bytes(chunk.max(1), 42);
    futures::stream::unfold(0u64, move |sent| {
        let block = block.clone();
        async move {
            if sent >= len {
                return None;
            }
            let n = usize::try_from((len - sent).min(block.len() as u64)).unwrap_or(block.len());
            // Vary the content per chunk so that no store can deduplicate it.
            let mut data = block[..n].to_vec();
            data[..n.min(8)].copy_from_slice(&sent.to_le_bytes()[..n.min(8)]);
            Some((Ok(Bytes::from(data)), sent + n as u64))
        }
    })
    .boxed()
}

/// SHA-256 and length of what [`generated_stream`] yields, computed without storing it.
pub async fn generated_sha256(len: u64, chunk: usize) -> ([u8; 32], u64) {
    let mut s = generated_stream(len, chunk);
    let mut h = Sha256::new();
    let mut n = 0u64;
    while let Some(c) = s.next().await {
        let Ok(c) = c else { break };
        n += c.len() as u64;
        h.update(&c);
    }
    (h.finalize().into(), n)
}

/// Reads a whole stream into memory.
pub async fn read_stream(mut stream: ByteStream) -> io::Result<Bytes> {
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(Bytes::from(out))
}

fn opts(content_type: &str) -> PutOptions {
    PutOptions::with_content_type(content_type)
}

fn create_only() -> PutOptions {
    PutOptions {
        if_none_match: true,
        ..PutOptions::default()
    }
}

fn ok<T>(store: &dyn ObjectStore, what: &str, r: Result<T, StoreError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{}: {what} failed: {e}", store.describe()),
    }
}

async fn get_bytes(store: &dyn ObjectStore, key: &str) -> Option<Bytes> {
    ok(store, &format!("get {key}"), store.get(key).await)
}

async fn get_stream_bytes(store: &dyn ObjectStore, key: &str) -> Option<Bytes> {
    let stream = ok(
        store,
        &format!("get_stream {key}"),
        store.get_stream(key).await,
    )?;
    match read_stream(stream).await {
        Ok(b) => Some(b),
        Err(e) => panic!("{}: reading {key} failed: {e}", store.describe()),
    }
}

fn check_stored(store: &dyn ObjectStore, stored: &Stored, key: &str, data: &[u8]) {
    let d = store.describe();
    assert_eq!(stored.key, key, "{d}: returned key");
    assert_eq!(
        stored.bytes,
        data.len() as u64,
        "{d}: returned size of {key}"
    );
    assert_eq!(stored.sha256, sha256(data), "{d}: returned sha256 of {key}");
}

/// Checks that `key` holds exactly `data`, through `get`, `get_stream` and `head` (size and the
/// recorded `sha256`).
pub async fn assert_holds(store: &dyn ObjectStore, key: &str, data: &[u8]) {
    let d = store.describe();
    let got = get_bytes(store, key).await;
    assert!(got.is_some(), "{d}: {key} missing");
    assert!(got.as_deref() == Some(data), "{d}: get {key}: bytes differ");
    let streamed = get_stream_bytes(store, key).await;
    assert!(
        streamed.as_deref() == Some(data),
        "{d}: get_stream {key}: bytes differ"
    );
    let info = ok(store, "head", store.head(key).await);
    let Some(info) = info else {
        panic!("{d}: head {key}: missing")
    };
    assert_eq!(info.key, key, "{d}: head key");
    assert_eq!(info.bytes, data.len() as u64, "{d}: head size of {key}");
    assert_eq!(
        info.metadata.get(SHA256_METADATA_KEY),
        Some(&hex::encode(sha256(data))),
        "{d}: head sha256 of {key}"
    );
}

/// Checks that nothing is visible at `key`.
pub async fn assert_absent(store: &dyn ObjectStore, key: &str) {
    let d = store.describe();
    assert!(get_bytes(store, key).await.is_none(), "{d}: {key} exists");
    assert!(
        ok(store, "head", store.head(key).await).is_none(),
        "{d}: head {key} found it"
    );
    assert!(
        ok(store, "get_stream", store.get_stream(key).await).is_none(),
        "{d}: get_stream {key} found it"
    );
}

/// `put` then `get`/`get_stream`/`head`: same bytes, size and SHA-256, for empty, small and
/// 1 MiB bodies.
pub async fn put_get_round_trip(store: &dyn ObjectStore) {
    for (i, len) in [0usize, 1, 1000, 1 << 20].into_iter().enumerate() {
        let key = format!("roundtrip/{i}/body.bin");
        let data = pattern_bytes(len, i as u64);
        let stored = ok(
            store,
            "put",
            store.put(&key, data.clone(), &PutOptions::default()).await,
        );
        check_stored(store, &stored, &key, &data);
        assert_holds(store, &key, &data).await;
    }
}

/// Content type and caller metadata come back through `head`, with `sha256` added.
pub async fn head_reports_metadata(store: &dyn ObjectStore) {
    let d = store.describe();
    let key = "meta/response.json";
    let data = Bytes::from_static(br#"{"ok":true}"#);
    let mut o = opts("application/json");
    o.metadata.insert("transaction-id".into(), "tx-123".into());
    o.metadata.insert("kind".into(), "check-result".into());
    let stored = ok(store, "put", store.put(key, data.clone(), &o).await);
    let info = ok(store, "head", store.head(key).await).expect("head of a stored object");
    assert_eq!(
        info.content_type.as_deref(),
        Some("application/json"),
        "{d}: content type"
    );
    assert_eq!(
        info.metadata.get("transaction-id").map(String::as_str),
        Some("tx-123"),
        "{d}: metadata"
    );
    assert_eq!(
        info.metadata.get("kind").map(String::as_str),
        Some("check-result")
    );
    assert_eq!(info.sha256(), Some(stored.sha256), "{d}: sha256 metadata");
    assert!(info.last_modified.is_some(), "{d}: last modified");

    // Default content type, and the streamed path records metadata too.
    let key = "meta/streamed.bin";
    let mut o = PutOptions::default();
    o.metadata.insert("artifact".into(), "video".into());
    let data = pattern_bytes(10_000, 9);
    let stored = ok(
        store,
        "put_stream",
        store
            .put_stream(key, chunked_stream(data.clone(), &[333]), &o)
            .await,
    );
    let info = ok(store, "head", store.head(key).await).expect("head of a stored object");
    assert_eq!(info.content_type.as_deref(), Some(DEFAULT_CONTENT_TYPE));
    assert_eq!(
        info.metadata.get("artifact").map(String::as_str),
        Some("video")
    );
    assert_eq!(info.sha256(), Some(stored.sha256), "{d}: streamed sha256");
}

/// A plain put replaces an existing object.
pub async fn overwrite_replaces(store: &dyn ObjectStore) {
    let key = "overwrite/a.bin";
    let opts = PutOptions::default();
    ok(
        store,
        "put",
        store.put(key, pattern_bytes(500, 1), &opts).await,
    );
    let second = pattern_bytes(700, 2);
    ok(store, "put", store.put(key, second.clone(), &opts).await);
    assert_holds(store, key, &second).await;
    let third = pattern_bytes(900, 3);
    ok(
        store,
        "put_stream",
        store
            .put_stream(key, chunked_stream(third.clone(), &[100]), &opts)
            .await,
    );
    assert_holds(store, key, &third).await;
}

/// Create-if-absent: the second `put` and `put_stream` fail with `AlreadyExists` and the first
/// bytes stay.
pub async fn conditional_create(store: &dyn ObjectStore) {
    let d = store.describe();
    let key = "conditional/manifest.json";
    let first = Bytes::from_static(br#"{"attempt":"a"}"#);
    let stored = ok(
        store,
        "conditional put",
        store.put(key, first.clone(), &create_only()).await,
    );
    check_stored(store, &stored, key, &first);
    let second = Bytes::from_static(br#"{"attempt":"b"}"#);
    let err = store.put(key, second.clone(), &create_only()).await;
    assert!(
        matches!(err, Err(StoreError::AlreadyExists { ref key }) if key == "conditional/manifest.json"),
        "{d}: second conditional put: {err:?}"
    );
    let err = store
        .put_stream(key, chunked_stream(second, &[4]), &create_only())
        .await;
    assert!(
        matches!(err, Err(StoreError::AlreadyExists { .. })),
        "{d}: conditional put_stream: {err:?}"
    );
    assert_holds(store, key, &first).await;
}

/// `n` concurrent create-if-absent puts of one key: exactly one wins and its bytes are stored.
pub async fn concurrent_conditional_creates(store: &dyn ObjectStore, n: usize) {
    let d = store.describe();
    let key = "race/manifest.json";
    let bodies: Vec<Bytes> = (0..n)
        .map(|i| Bytes::from(format!(r#"{{"attempt":{i}}}"#)))
        .collect();
    let results = futures::future::join_all(
        bodies
            .iter()
            .map(|b| async { store.put(key, b.clone(), &create_only()).await }),
    )
    .await;
    let winners: Vec<usize> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.is_ok().then_some(i))
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "{d}: winners of {n} racing creates: {winners:?}"
    );
    for r in &results {
        if let Err(e) = r {
            assert!(
                matches!(
                    e,
                    StoreError::AlreadyExists { .. } | StoreError::Conflict { .. }
                ),
                "{d}: a losing create failed with {e}"
            );
        }
    }
    assert_holds(store, key, &bodies[winners[0]]).await;
}

/// `n` concurrent create-if-absent streamed (multipart) puts of one key: exactly one wins
/// (with [`Profile::atomic_stream_creates`]; otherwise at least one, and the object is exactly
/// one winner's bytes).
pub async fn concurrent_conditional_stream_creates(store: &dyn ObjectStore, p: &Profile, n: usize) {
    let d = store.describe();
    let key = "race-stream/video.mp4";
    let len = p.part_size * 2 + p.part_size / 2;
    let bodies: Vec<Bytes> = (0..n).map(|i| pattern_bytes(len, 100 + i as u64)).collect();
    let results = futures::future::join_all(bodies.iter().map(|b| async {
        store
            .put_stream(key, chunked_stream(b.clone(), &[256 << 10]), &create_only())
            .await
    }))
    .await;
    let winners: Vec<usize> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.is_ok().then_some(i))
        .collect();
    let errors: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(ToString::to_string))
        .collect();
    if p.atomic_stream_creates {
        assert_eq!(
            winners.len(),
            1,
            "{d}: winners of {n} racing streamed creates: {winners:?}; errors: {errors:?}"
        );
    } else {
        assert!(!winners.is_empty(), "{d}: no winner; errors: {errors:?}");
    }
    for r in &results {
        if let Err(e) = r {
            assert!(
                matches!(
                    e,
                    StoreError::AlreadyExists { .. } | StoreError::Conflict { .. }
                ),
                "{d}: a losing streamed create failed with {e}"
            );
        }
    }
    if p.atomic_stream_creates {
        assert_holds(store, key, &bodies[winners[0]]).await;
    } else {
        // Never a mix of two uploads. (The recorded sha256 tag may be the other winner's.)
        let stored = get_bytes(store, key).await;
        assert!(
            winners
                .iter()
                .any(|&w| stored.as_deref() == Some(&bodies[w][..])),
            "{d}: {key} holds none of the winners' bytes"
        );
    }
}

/// A 3.5-part stream in odd-sized chunks (including chunks larger than a part and empty ones)
/// round-trips with the exact SHA-256.
pub async fn stream_round_trip(store: &dyn ObjectStore, p: &Profile) {
    let key = "stream/attempt-1/video.mp4";
    let len = p.part_size * 3 + p.part_size / 2;
    let data = pattern_bytes(len, 7);
    let sizes = [1, 7919, 0, p.part_size + 13, 65_536, 3];
    let mut o = opts("video/mp4");
    o.size_hint = Some(len as u64);
    let stored = ok(
        store,
        "put_stream",
        store
            .put_stream(key, chunked_stream(data.clone(), &sizes), &o)
            .await,
    );
    check_stored(store, &stored, key, &data);
    assert_holds(store, key, &data).await;
    let info = ok(store, "head", store.head(key).await).expect("head of a stored object");
    assert_eq!(info.content_type.as_deref(), Some("video/mp4"));
}

/// Streams around the part size (one byte short, exact, one over, two parts) round-trip.
pub async fn stream_part_boundaries(store: &dyn ObjectStore, p: &Profile) {
    for len in [
        p.part_size - 1,
        p.part_size,
        p.part_size + 1,
        2 * p.part_size,
    ] {
        let key = format!("boundary/{len}.bin");
        let data = pattern_bytes(len, len as u64);
        let stored = ok(
            store,
            "put_stream",
            store
                .put_stream(
                    &key,
                    chunked_stream(data.clone(), &[1 << 20]),
                    &PutOptions::default(),
                )
                .await,
        );
        check_stored(store, &stored, &key, &data);
        assert_holds(store, &key, &data).await;
    }
}

/// An empty stream (and a stream of only empty chunks) stores an empty object.
pub async fn empty_stream(store: &dyn ObjectStore) {
    let key = "empty/none.bin";
    let stored = ok(
        store,
        "put_stream",
        store
            .put_stream(
                key,
                futures::stream::empty().boxed(),
                &PutOptions::default(),
            )
            .await,
    );
    check_stored(store, &stored, key, b"");
    assert_holds(store, key, b"").await;
    let key = "empty/chunks.bin";
    let chunks = futures::stream::iter(vec![Ok(Bytes::new()), Ok(Bytes::new())]).boxed();
    let stored = ok(
        store,
        "put_stream",
        store.put_stream(key, chunks, &PutOptions::default()).await,
    );
    check_stored(store, &stored, key, b"");
    assert_holds(store, key, b"").await;
}

/// A stream failing early (inside the first part) or late (after several parts) returns
/// [`StoreError::Body`], leaves nothing at a fresh key and leaves an existing object unchanged.
/// Returns the keys it used (the S3 runner also checks for leftover multipart uploads).
pub async fn stream_error_leaves_nothing(store: &dyn ObjectStore, p: &Profile) -> Vec<String> {
    let d = store.describe();
    let len = p.part_size * 3 + p.part_size / 2;
    let data = pattern_bytes(len, 11);
    let mut keys = Vec::new();
    for (name, fail_after) in [("early", 1000), ("late", p.part_size * 2 + p.part_size / 2)] {
        for conditional in [false, true] {
            let key = format!("broken/{name}-{conditional}.bin");
            let o = PutOptions {
                if_none_match: conditional,
                ..PutOptions::default()
            };
            let err = store
                .put_stream(&key, failing_stream(data.clone(), fail_after), &o)
                .await;
            assert!(
                matches!(err, Err(StoreError::Body { .. })),
                "{d}: {key}: broken stream gave {err:?}"
            );
            if let Err(e) = &err {
                assert!(
                    !e.is_retryable(),
                    "{d}: body errors are the caller's to retry"
                );
            }
            assert_absent(store, &key).await;
            keys.push(key);
        }
    }
    // A failed overwrite keeps the old object.
    let key = "broken/existing.bin";
    let old = pattern_bytes(2000, 12);
    ok(
        store,
        "put",
        store.put(key, old.clone(), &PutOptions::default()).await,
    );
    let err = store
        .put_stream(
            key,
            failing_stream(data.clone(), p.part_size * 2 + 5),
            &PutOptions::default(),
        )
        .await;
    assert!(matches!(err, Err(StoreError::Body { .. })), "{d}: {err:?}");
    assert_holds(store, key, &old).await;
    keys.push(key.to_owned());
    let listed = ok(store, "list", store.list("broken/").await);
    assert_eq!(
        listed.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
        [key],
        "{d}: broken streams left objects behind"
    );
    keys
}

/// Listing: exact prefix filtering (also within a segment), sorted keys, sizes, and more than
/// one S3 page (`n` > 1000).
pub async fn list_prefix_and_pagination(store: &dyn ObjectStore, n: usize) {
    let d = store.describe();
    let keys: Vec<String> = (0..n).map(|i| format!("list/k-{i:05}")).collect();
    let puts = futures::stream::iter(keys.iter().enumerate())
        .map(|(i, key)| async move {
            let body = Bytes::from(vec![b'x'; i % 7]);
            store.put(key, body, &PutOptions::default()).await
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    for r in puts {
        ok(store, "put", r);
    }
    for decoy in ["listx/a", "lis", "other/list/k-00001", "list-k"] {
        ok(
            store,
            "put",
            store
                .put(decoy, Bytes::from_static(b"d"), &PutOptions::default())
                .await,
        );
    }
    let listed = ok(store, "list", store.list("list/").await);
    let got: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(got.len(), n, "{d}: listed {} of {n} keys", got.len());
    assert!(
        got.iter().copied().eq(keys.iter().map(String::as_str)),
        "{d}: keys or order"
    );
    for (i, o) in listed.iter().enumerate() {
        assert_eq!(o.bytes, (i % 7) as u64, "{d}: size of {}", o.key);
        assert!(o.metadata.is_empty(), "{d}: listings carry no metadata");
    }
    // A prefix that ends inside a segment.
    if n > 20 {
        let listed = ok(store, "list", store.list("list/k-0001").await);
        let got: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
        let want: Vec<String> = (10..20).map(|i| format!("list/k-{i:05}")).collect();
        assert_eq!(got, want, "{d}: partial-segment prefix");
    }
    let listed = ok(store, "list", store.list("lis").await);
    assert_eq!(listed.len(), n + 3, "{d}: prefix 'lis'");
    assert!(
        ok(store, "list", store.list("nothing-here/").await).is_empty(),
        "{d}: empty listing"
    );
    let all = ok(store, "list", store.list("").await);
    assert!(all.len() > n, "{d}: listing everything");
    assert!(all.windows(2).all(|w| w[0].key < w[1].key), "{d}: sorted");
}

/// `delete` removes an object (and its metadata); deleting an absent key succeeds; a deleted
/// key can be created again with create-if-absent.
pub async fn delete_removes(store: &dyn ObjectStore) {
    let key = "delete/attempt-2/image.jpg";
    let mut o = opts("image/jpeg");
    o.metadata.insert("kind".into(), "portrait".into());
    ok(
        store,
        "put",
        store.put(key, pattern_bytes(3000, 5), &o).await,
    );
    ok(store, "delete", store.delete(key).await);
    assert_absent(store, key).await;
    assert!(
        ok(store, "list", store.list("delete/").await).is_empty(),
        "{} lists a deleted key",
        store.describe()
    );
    ok(store, "delete", store.delete(key).await);
    ok(store, "delete", store.delete("delete/never-existed").await);
    let again = pattern_bytes(10, 6);
    ok(
        store,
        "conditional put after delete",
        store.put(key, again.clone(), &create_only()).await,
    );
    assert_holds(store, key, &again).await;
    let info = ok(store, "head", store.head(key).await).expect("head after re-create");
    assert!(
        !info.metadata.contains_key("kind"),
        "{}: metadata of the deleted object survived",
        store.describe()
    );
}

/// Reads of absent keys give `None`.
pub async fn missing_keys(store: &dyn ObjectStore) {
    for key in ["missing/manifest.json", "missing", "roundtrip/0"] {
        assert_absent(store, key).await;
    }
}

/// Invalid keys and prefixes are rejected with [`StoreError::InvalidKey`] by every operation,
/// before anything is sent or written.
pub async fn invalid_keys_rejected(store: &dyn ObjectStore) {
    let d = store.describe();
    let bad = [
        "",
        "/abs",
        "a//b",
        "a/",
        "..",
        "a/../b",
        "./a",
        "a/.meta/b",
        "a\nb",
        "tab\there",
        "del\u{7f}",
    ];
    fn is_invalid<T>(r: &Result<T, StoreError>) -> bool {
        matches!(r, Err(StoreError::InvalidKey { .. }))
    }
    for key in bad {
        let body = Bytes::from_static(b"x");
        let r = store.put(key, body.clone(), &PutOptions::default()).await;
        assert!(is_invalid(&r), "{d}: put {key:?}: {r:?}");
        let r = store
            .put_stream(key, chunked_stream(body, &[1]), &PutOptions::default())
            .await;
        assert!(is_invalid(&r), "{d}: put_stream {key:?}: {r:?}");
        assert!(is_invalid(&store.get(key).await), "{d}: get {key:?}");
        assert!(
            matches!(
                store.get_stream(key).await,
                Err(StoreError::InvalidKey { .. })
            ),
            "{d}: get_stream {key:?}"
        );
        assert!(is_invalid(&store.head(key).await), "{d}: head {key:?}");
        assert!(is_invalid(&store.delete(key).await), "{d}: delete {key:?}");
    }
    for prefix in ["/", "a//", "../", "a/.meta/", "x\u{0}"] {
        assert!(
            is_invalid(&store.list(prefix).await),
            "{d}: list {prefix:?}"
        );
    }
    // Invalid options are rejected too.
    let mut o = PutOptions::default();
    o.metadata
        .insert(SHA256_METADATA_KEY.into(), "forged".into());
    let r = store.put("options/x", Bytes::from_static(b"x"), &o).await;
    assert!(
        matches!(r, Err(StoreError::InvalidOptions(_))),
        "{d}: reserved metadata key: {r:?}"
    );
    assert_absent(store, "options/x").await;
}

/// `check` succeeds on a usable store.
pub async fn check_succeeds(store: &dyn ObjectStore) {
    ok(store, "check", store.check().await);
}

/// Runs every property on `store`.
pub async fn run_all(store: &dyn ObjectStore, p: &Profile) {
    check_succeeds(store).await;
    put_get_round_trip(store).await;
    head_reports_metadata(store).await;
    overwrite_replaces(store).await;
    conditional_create(store).await;
    concurrent_conditional_creates(store, p.concurrent_creates).await;
    concurrent_conditional_stream_creates(store, p, 3).await;
    stream_round_trip(store, p).await;
    stream_part_boundaries(store, p).await;
    empty_stream(store).await;
    stream_error_leaves_nothing(store, p).await;
    list_prefix_and_pagination(store, p.list_keys).await;
    delete_removes(store).await;
    missing_keys(store).await;
    invalid_keys_rejected(store).await;
}
