//! Deterministic evidence-video bodies of any size, generated as a stream.
//!
//! A video is identified by a seed (by default its transaction id) and a size. Its bytes are:
//!
//! - a 57-byte WebM/EBML prefix: the EBML header (`1A 45 DF A3`, DocType `webm`), a `Segment`
//!   whose size covers the rest of the file, and inside it one `Void` element holding the
//!   payload, so the body sniffs as WebM and is structurally valid EBML;
//! - then pseudo-random payload: 64 KiB blocks, each a window of a shared 1 MiB pseudo-random
//!   pool at an offset derived from the seed and the block number.
//!
//! Producing a block is a reference-counted slice of the pool (no copying, no arithmetic per
//! byte), so generation runs far faster than any network or hash, memory per stream is
//! constant, and a test knows the exact SHA-256 without HTTP ([`expected_sha256`]).

use std::ops::{Bound, RangeBounds};
use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use sha2::{Digest, Sha256};

/// Size of the generated blocks (and of most stream chunks).
pub const BLOCK_SIZE: usize = 64 * 1024;

/// Length of the WebM/EBML prefix ([`header`]).
pub const HEADER_LEN: usize = 57;

/// The MIME type the video is served with.
pub const CONTENT_TYPE: &str = "video/webm";

/// Distinct window offsets in the pool.
const POOL_WINDOWS: usize = 1024 * 1024;
/// The pool: every window `[o, o + BLOCK_SIZE)` with `o < POOL_WINDOWS` is in bounds.
const POOL_LEN: usize = POOL_WINDOWS + BLOCK_SIZE;

fn pool() -> &'static Bytes {
    static POOL: OnceLock<Bytes> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut state = 0x243F_6A88_85A3_08D3_u64; // fixed: the pool is the same in every process
        let mut buf = Vec::with_capacity(POOL_LEN);
        while buf.len() < POOL_LEN {
            buf.extend_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        buf.truncate(POOL_LEN);
        Bytes::from(buf)
    })
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn seed_key(seed: &str) -> u64 {
    let digest = Sha256::digest(seed.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

fn block_offset(key: u64, block: u64) -> usize {
    let mut state = key ^ block.wrapping_mul(0xD1B5_4A32_D192_ED03);
    (splitmix64(&mut state) % POOL_WINDOWS as u64) as usize
}

/// The first [`HEADER_LEN`] bytes of a video of `size` bytes (only the first `size` of them are
/// used when the video is shorter).
pub fn header(size: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    let ebml: [u8; 36] = [
        0x1A, 0x45, 0xDF, 0xA3, 0x9F, // EBML, size 31
        0x42, 0x86, 0x81, 0x01, // EBMLVersion 1
        0x42, 0xF7, 0x81, 0x01, // EBMLReadVersion 1
        0x42, 0xF2, 0x81, 0x04, // EBMLMaxIDLength 4
        0x42, 0xF3, 0x81, 0x08, // EBMLMaxSizeLength 8
        0x42, 0x82, 0x84, b'w', b'e', b'b', b'm', // DocType "webm"
        0x42, 0x87, 0x81, 0x04, // DocTypeVersion 4
        0x42, 0x85, 0x81, 0x02, // DocTypeReadVersion 2
    ];
    h[..36].copy_from_slice(&ebml);
    // Segment (18 53 80 67) with an 8-byte size, holding one Void element (EC) with an 8-byte size.
    let void_payload = size.saturating_sub(HEADER_LEN as u64);
    let segment_size = void_payload + 9;
    h[36..40].copy_from_slice(&[0x18, 0x53, 0x80, 0x67]);
    h[40..48].copy_from_slice(&vint8(segment_size));
    h[48] = 0xEC;
    h[49..57].copy_from_slice(&vint8(void_payload));
    h
}

/// An 8-byte EBML variable-size integer (`01` marker, 7 value bytes).
fn vint8(value: u64) -> [u8; 8] {
    let v = value.min((1u64 << 56) - 2);
    let mut out = v.to_be_bytes();
    out[0] = 0x01;
    out
}

/// Resolves a byte range against a size into a half-open `[start, end)`, clamped to the size.
pub fn resolve_range(size: u64, range: impl RangeBounds<u64>) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.saturating_add(1),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => size,
    };
    let end = end.min(size);
    (start.min(end), end)
}

/// The bytes of a video (or of a range of it) as an iterator of chunks of at most
/// [`BLOCK_SIZE`] bytes.
#[derive(Debug, Clone)]
pub struct Chunks {
    key: u64,
    header: [u8; HEADER_LEN],
    pos: u64,
    end: u64,
}

impl Chunks {
    /// Chunks of the video `(seed, size)` restricted to `range`.
    pub fn new(seed: &str, size: u64, range: impl RangeBounds<u64>) -> Self {
        let (pos, end) = resolve_range(size, range);
        Self {
            key: seed_key(seed),
            header: header(size),
            pos,
            end,
        }
    }

    /// Bytes not yet produced.
    pub fn remaining(&self) -> u64 {
        self.end - self.pos
    }
}

impl Iterator for Chunks {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.pos >= self.end {
            return None;
        }
        let block = self.pos / BLOCK_SIZE as u64;
        let within = (self.pos % BLOCK_SIZE as u64) as usize;
        let len = ((BLOCK_SIZE - within) as u64).min(self.end - self.pos) as usize;
        let window = block_offset(self.key, block);
        let chunk = if self.pos < HEADER_LEN as u64 {
            // Block 0 carries the header: copy it once.
            let mut buf = BytesMut::with_capacity(len);
            let head_end = HEADER_LEN.min(within + len);
            buf.extend_from_slice(&self.header[within..head_end]);
            if within + len > HEADER_LEN {
                let from = window + HEADER_LEN;
                buf.extend_from_slice(&pool()[from..window + within + len]);
            }
            buf.freeze()
        } else {
            pool().slice(window + within..window + within + len)
        };
        self.pos += len as u64;
        Some(chunk)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining().div_ceil(BLOCK_SIZE as u64) as usize;
        (n, Some(n + 1))
    }
}

/// The body of the video `(seed, size)`, or of `range` of it (`..` for all), as a stream of
/// chunks of at most [`BLOCK_SIZE`] bytes. Never holds the video in memory.
pub fn body(
    seed: &str,
    size: u64,
    range: impl RangeBounds<u64>,
) -> impl Stream<Item = Bytes> + Send + Unpin + 'static {
    futures::stream::iter(Chunks::new(seed, size, range))
}

/// The SHA-256 of the whole video `(seed, size)`.
pub fn expected_sha256(seed: &str, size: u64) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for chunk in Chunks::new(seed, size, ..) {
        hasher.update(&chunk);
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn collect(seed: &str, size: u64, range: impl RangeBounds<u64>) -> Vec<u8> {
        Chunks::new(seed, size, range)
            .flat_map(|c| c.to_vec())
            .collect()
    }

    #[test]
    fn starts_with_a_webm_ebml_header() {
        let v = collect("tx", 1000, ..);
        assert_eq!(v.len(), 1000);
        assert_eq!(&v[..4], &[0x1A, 0x45, 0xDF, 0xA3]);
        assert_eq!(&v[24..28], b"webm");
        assert_eq!(&v[36..40], &[0x18, 0x53, 0x80, 0x67]);
        // Segment size covers everything after its own 12-byte header.
        assert_eq!(
            u64::from_be_bytes(v[40..48].try_into().unwrap()) & ((1 << 56) - 1),
            1000 - 48
        );
        assert_eq!(v[48], 0xEC);
        assert_eq!(
            u64::from_be_bytes(v[49..57].try_into().unwrap()) & ((1 << 56) - 1),
            1000 - 57
        );
    }

    #[test]
    fn deterministic_and_seed_dependent() {
        let size = 3 * BLOCK_SIZE as u64 + 123;
        assert_eq!(collect("a", size, ..), collect("a", size, ..));
        assert_ne!(
            collect("a", size, ..)[HEADER_LEN..],
            collect("b", size, ..)[HEADER_LEN..]
        );
        assert_eq!(expected_sha256("a", size), expected_sha256("a", size));
        assert_ne!(expected_sha256("a", size), expected_sha256("b", size));
        // Blocks differ from each other.
        let v = collect("a", size, ..);
        assert_ne!(
            v[BLOCK_SIZE..2 * BLOCK_SIZE],
            v[2 * BLOCK_SIZE..3 * BLOCK_SIZE]
        );
    }

    #[test]
    fn ranges_are_slices_of_the_whole() {
        let size = 5 * BLOCK_SIZE as u64 + 77;
        let whole = collect("seed", size, ..);
        for (s, e) in [
            (0u64, 10u64),
            (3, 60),
            (56, 58),
            (100, 70_000),
            (65_535, 65_537),
            (size - 5, size),
        ] {
            assert_eq!(
                collect("seed", size, s..e),
                whole[s as usize..e as usize],
                "{s}..{e}"
            );
        }
        assert_eq!(collect("seed", size, 200_000..), whole[200_000..]);
        assert_eq!(collect("seed", size, ..=9), whole[..10]);
        assert!(collect("seed", size, size + 10..).is_empty());
        assert_eq!(collect("seed", size, 10..size + 100), whole[10..]);
    }

    #[test]
    fn tiny_videos_are_header_prefixes() {
        assert!(collect("x", 0, ..).is_empty());
        assert_eq!(collect("x", 4, ..), vec![0x1A, 0x45, 0xDF, 0xA3]);
        assert_eq!(collect("x", 57, ..), header(57).to_vec());
    }

    #[test]
    fn sha256_matches_the_stream() {
        let size = 2 * BLOCK_SIZE as u64 + 5;
        let bytes = collect("s", size, ..);
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(digest, expected_sha256("s", size));
        let streamed = futures::executor::block_on(body("s", size, ..).fold(
            Vec::new(),
            |mut acc, c| async move {
                acc.extend_from_slice(&c);
                acc
            },
        ));
        assert_eq!(streamed, bytes);
    }
}
