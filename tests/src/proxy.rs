//! A fault-injecting TCP proxy: forwards connections to an upstream address, and can cut every
//! open connection, refuse new ones (for a while), stall traffic, slow it down or cut each
//! connection after a number of bytes, to test what crosses the network without stopping the
//! machine's shared services.
//!
//! Faults apply to both directions. Counters ([`Proxy::stats`]) say what happened, so a test
//! can report how often it really hit the fault.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted (refused ones included).
    pub accepted: u64,
    /// Connections closed at once because the proxy was refusing.
    pub refused: u64,
    /// Connections broken by [`Proxy::cut`] or [`Proxy::cut_after`].
    pub cut: u64,
    /// Bytes forwarded from clients to the upstream.
    pub bytes_up: u64,
    /// Bytes forwarded from the upstream to clients.
    pub bytes_down: u64,
}

#[derive(Debug, Default)]
struct Shared {
    refusing: AtomicBool,
    /// Bumped by every `refuse_for`, so an older timer does not end a newer refusal.
    refusal: AtomicU64,
    /// Bytes per second per direction and connection; 0 = unlimited.
    rate: AtomicU64,
    /// Bytes per direction after which a new connection is cut; 0 = never.
    cut_after: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    cut: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
}

/// A running proxy (stops accepting when dropped; open connections end with their peers).
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    cut: watch::Sender<u64>,
    stalled: watch::Sender<bool>,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

/// A bound listener whose upstream is not chosen yet: lets a test learn the proxy's address
/// first (e.g. to give it to the upstream as its public URL).
#[derive(Debug)]
pub struct BoundProxy {
    listener: TcpListener,
}

impl BoundProxy {
    /// The address the proxy will listen on.
    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }

    /// Starts forwarding to `upstream`.
    pub fn forward_to(self, upstream: SocketAddr) -> Proxy {
        Proxy::serve(self.listener, upstream)
    }
}

/// Why one direction of a connection stopped.
enum Stop {
    /// The reader reached its end (the writer was shut down).
    Eof,
    /// An I/O error or a cut: the whole connection goes.
    Broken,
}

async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    shared: Arc<Shared>,
    mut stalled: watch::Receiver<bool>,
    cut_after: u64,
    up: bool,
) -> Stop {
    let mut buf = vec![0u8; 16 * 1024];
    let mut sent = 0u64;
    loop {
        let rate = shared.rate.load(Ordering::Relaxed);
        let want = if rate > 0 {
            buf.len().min((rate / 10).max(1) as usize)
        } else {
            buf.len()
        };
        let n = match from.read(&mut buf[..want]).await {
            Ok(0) => {
                let _ = to.shutdown().await;
                return Stop::Eof;
            }
            Ok(n) => n,
            Err(_) => return Stop::Broken,
        };
        if stalled.wait_for(|s| !*s).await.is_err() {
            return Stop::Broken;
        }
        let n = if cut_after > 0 {
            (n as u64).min(cut_after - sent) as usize
        } else {
            n
        };
        if to.write_all(&buf[..n]).await.is_err() {
            return Stop::Broken;
        }
        sent += n as u64;
        let counter = if up {
            &shared.bytes_up
        } else {
            &shared.bytes_down
        };
        counter.fetch_add(n as u64, Ordering::Relaxed);
        if cut_after > 0 && sent >= cut_after {
            let _ = to.flush().await;
            shared.cut.fetch_add(1, Ordering::Relaxed);
            return Stop::Broken;
        }
        if rate > 0 {
            tokio::time::sleep(Duration::from_secs_f64(n as f64 / rate as f64)).await;
        }
    }
}

async fn forward(
    client: TcpStream,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    mut cut: watch::Receiver<u64>,
    stalled: watch::Receiver<bool>,
) {
    let cut_after = shared.cut_after.load(Ordering::Relaxed);
    let mut waiting = stalled.clone();
    // A stalled proxy accepts but does not connect onwards: the client sees silence.
    if waiting.wait_for(|s| !*s).await.is_err() {
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(
        client_read,
        server_write,
        Arc::clone(&shared),
        stalled.clone(),
        cut_after,
        true,
    );
    let down = pump(
        server_read,
        client_write,
        Arc::clone(&shared),
        stalled,
        cut_after,
        false,
    );
    let both = async {
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        while !(up_done && down_done) {
            let stop = tokio::select! {
                s = &mut up, if !up_done => { up_done = true; s }
                s = &mut down, if !down_done => { down_done = true; s }
            };
            if matches!(stop, Stop::Broken) {
                return;
            }
        }
    };
    tokio::select! {
        () = both => {}
        _ = cut.changed() => { shared.cut.fetch_add(1, Ordering::Relaxed); }
    }
}

impl Proxy {
    /// Listens on 127.0.0.1:0 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        Self::bind().await.forward_to(upstream)
    }

    /// Binds 127.0.0.1:0 without forwarding yet (see [`BoundProxy::forward_to`]).
    pub async fn bind() -> BoundProxy {
        BoundProxy {
            listener: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        }
    }

    fn serve(listener: TcpListener, upstream: SocketAddr) -> Self {
        let addr = listener.local_addr().unwrap();
        let (cut, _) = watch::channel(0u64);
        let (stalled, _) = watch::channel(false);
        let shared = Arc::new(Shared::default());
        let (cut_tx, stall_tx, state) = (cut.clone(), stalled.clone(), Arc::clone(&shared));
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                state.accepted.fetch_add(1, Ordering::Relaxed);
                if state.refusing.load(Ordering::SeqCst) {
                    state.refused.fetch_add(1, Ordering::Relaxed);
                    drop(client);
                    continue;
                }
                tokio::spawn(forward(
                    client,
                    upstream,
                    Arc::clone(&state),
                    cut_tx.subscribe(),
                    stall_tx.subscribe(),
                ));
            }
        });
        Self {
            addr,
            cut,
            stalled,
            shared,
            task,
        }
    }

    /// The address to connect to instead of the upstream.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Breaks every open connection.
    pub fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    /// Refuses (closes at once) new connections while `yes`.
    pub fn refuse(&self, yes: bool) {
        self.shared.refusal.fetch_add(1, Ordering::SeqCst);
        self.shared.refusing.store(yes, Ordering::SeqCst);
    }

    /// An outage of `period`: cuts every open connection and refuses new ones, then accepts
    /// again by itself (unless another refusal began meanwhile).
    pub fn refuse_for(&self, period: Duration) {
        let generation = self.shared.refusal.fetch_add(1, Ordering::SeqCst) + 1;
        self.shared.refusing.store(true, Ordering::SeqCst);
        self.cut();
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move {
            tokio::time::sleep(period).await;
            if shared.refusal.load(Ordering::SeqCst) == generation {
                shared.refusing.store(false, Ordering::SeqCst);
            }
        });
    }

    /// While `yes`, forwards nothing: open connections go silent (without closing) and new
    /// ones are accepted but not connected onwards, like a network that drops packets.
    pub fn stall(&self, yes: bool) {
        self.stalled.send_replace(yes);
    }

    /// Limits each direction of every connection to `bytes_per_second` (`None`: unlimited).
    pub fn slow(&self, bytes_per_second: Option<u64>) {
        self.shared
            .rate
            .store(bytes_per_second.unwrap_or(0), Ordering::Relaxed);
    }

    /// Connections opened from now on are cut once `bytes` went through in one direction
    /// (`None`: never).
    pub fn cut_after(&self, bytes: Option<u64>) {
        self.shared.cut_after.store(
            bytes.unwrap_or(0).max(u64::from(bytes.is_some())),
            Ordering::Relaxed,
        );
    }

    /// Removes every fault: accepts, forwards at full speed, never cuts.
    pub fn heal(&self) {
        self.refuse(false);
        self.stall(false);
        self.slow(None);
        self.cut_after(None);
    }

    /// What the proxy has done so far.
    pub fn stats(&self) -> ProxyStats {
        let s = &self.shared;
        ProxyStats {
            accepted: s.accepted.load(Ordering::Relaxed),
            refused: s.refused.load(Ordering::Relaxed),
            cut: s.cut.load(Ordering::Relaxed),
            bytes_up: s.bytes_up.load(Ordering::Relaxed),
            bytes_down: s.bytes_down.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
