//! Response bodies with injected faults: slow streaming, a cut connection, a short body.

use std::io;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::time::Instant;

use crate::faults::Effects;

/// Pause before cutting or ending a body early, so that the bytes before it reach the client.
const FLUSH_PAUSE: Duration = Duration::from_millis(150);

struct Shaper<S> {
    inner: S,
    pending: Option<Bytes>,
    sent: u64,
    limit: Option<u64>,
    cut: bool,
    rate: Option<u64>,
    started: Option<Instant>,
    done: bool,
}

/// Wraps `stream` with the body faults of `effects` (none: the stream as is).
pub(crate) fn shaped<S>(stream: S, effects: &Effects) -> Body
where
    S: Stream<Item = Bytes> + Send + Unpin + 'static,
{
    if !effects.alters_body() {
        return Body::from_stream(stream.map(Ok::<_, io::Error>));
    }
    let (limit, cut) = match (effects.cut_after, effects.short_body) {
        (Some(c), Some(s)) if s < c => (Some(s), false),
        (Some(c), _) => (Some(c), true),
        (None, Some(s)) => (Some(s), false),
        (None, None) => (None, false),
    };
    let shaper = Shaper {
        inner: stream,
        pending: None,
        sent: 0,
        limit,
        cut,
        rate: effects.bytes_per_second,
        started: None,
        done: false,
    };
    Body::from_stream(futures::stream::unfold(shaper, step))
}

async fn step<S>(mut s: Shaper<S>) -> Option<(Result<Bytes, io::Error>, Shaper<S>)>
where
    S: Stream<Item = Bytes> + Unpin,
{
    if s.done {
        return None;
    }
    if let Some(limit) = s.limit
        && s.sent >= limit
    {
        s.done = true;
        // Let the server flush what was sent: hyper drops its write buffer when the body
        // fails or ends early, and the client must receive exactly `limit` bytes first.
        tokio::time::sleep(FLUSH_PAUSE).await;
        if s.cut {
            return Some((
                Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "connection cut by fault injection",
                )),
                s,
            ));
        }
        return None;
    }
    let mut piece = match s.pending.take() {
        Some(p) => p,
        None => s.inner.next().await?,
    };
    if let Some(limit) = s.limit {
        let room = (limit - s.sent) as usize;
        if piece.len() > room {
            piece.truncate(room);
        }
    }
    if let Some(rate) = s.rate {
        // Slices of ~50 ms, paced against the start time.
        let slice = ((rate / 20).max(1) as usize).min(64 * 1024);
        if piece.len() > slice {
            s.pending = Some(piece.split_off(slice));
        }
        let started = *s.started.get_or_insert_with(Instant::now);
        let due =
            started + Duration::from_secs_f64((s.sent + piece.len() as u64) as f64 / rate as f64);
        tokio::time::sleep_until(due).await;
    }
    s.sent += piece.len() as u64;
    Some((Ok(piece), s))
}
