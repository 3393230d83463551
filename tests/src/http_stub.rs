//! A tiny scripted HTTP/1.1 server for hostile-input tests: answers each path with a fixed
//! reply (a redirect, a body with or without `Content-Length`, a lying `Content-Length`) and
//! records every request it receives, so a test can prove that a refused URL was never
//! fetched. One request per connection (`Connection: close`); plain tokio, no HTTP library.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// What the server answers on one path.
#[derive(Debug, Clone)]
pub enum Reply {
    /// `302 Found` with this `Location`.
    Redirect(String),
    /// `200 OK` with the body and its `Content-Length`.
    Body {
        /// `Content-Type`.
        content_type: String,
        /// The body.
        body: Vec<u8>,
    },
    /// `200 OK` announcing `content_length` bytes, then sending `send` bytes (of a WebM-like
    /// pattern) and closing.
    Announce {
        /// The `Content-Length` header.
        content_length: u64,
        /// Bytes actually sent.
        send: u64,
    },
    /// `200 OK` with `Transfer-Encoding: chunked` and no length: `total` bytes in 64 KiB
    /// chunks (the first four bytes are the WebM magic), as long as the client reads.
    Chunked {
        /// Bytes sent in all.
        total: u64,
    },
}

/// A request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Headers, names lowercased.
    pub headers: BTreeMap<String, String>,
}

/// A running stub server (stops when dropped).
#[derive(Debug)]
pub struct Stub {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

fn pattern(offset: u64, len: usize) -> Vec<u8> {
    const MAGIC: [u8; 4] = [0x1A, 0x45, 0xDF, 0xA3];
    (0..len as u64)
        .map(|i| {
            let at = offset + i;
            if at < 4 {
                MAGIC[at as usize]
            } else {
                (at % 251) as u8
            }
        })
        .collect()
}

async fn serve_one(
    mut stream: tokio::net::TcpStream,
    routes: Arc<BTreeMap<String, Reply>>,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > 64 * 1024 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let target = first.next().unwrap_or_default().to_owned();
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    seen.lock().unwrap().push(Seen {
        method,
        target: target.clone(),
        headers,
    });
    let path = target.split('?').next().unwrap_or_default();
    let Some(reply) = routes.get(path) else {
        stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await?;
        return Ok(());
    };
    match reply {
        Reply::Redirect(location) => {
            let head = format!(
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
        }
        Reply::Body { content_type, body } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(body).await?;
        }
        Reply::Announce {
            content_length,
            send,
        } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: video/webm\r\nContent-Length: {content_length}\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
            let mut sent = 0u64;
            while sent < *send {
                let n = (*send - sent).min(64 * 1024) as usize;
                stream.write_all(&pattern(sent, n)).await?;
                sent += n as u64;
            }
        }
        Reply::Chunked { total } => {
            stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: video/webm\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                )
                .await?;
            let mut sent = 0u64;
            while sent < *total {
                let n = (*total - sent).min(64 * 1024) as usize;
                stream.write_all(format!("{n:x}\r\n").as_bytes()).await?;
                stream.write_all(&pattern(sent, n)).await?;
                stream.write_all(b"\r\n").await?;
                sent += n as u64;
            }
            stream.write_all(b"0\r\n\r\n").await?;
        }
    }
    stream.flush().await?;
    let _ = stream.shutdown().await;
    Ok(())
}

impl Stub {
    /// Listens on 127.0.0.1:0 and answers `routes` (path without query → reply); other paths
    /// get 404. Must be called inside a Tokio runtime.
    pub async fn start(routes: impl IntoIterator<Item = (String, Reply)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let routes = Arc::new(routes.into_iter().collect::<BTreeMap<_, _>>());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let connections = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(serve_one(stream, Arc::clone(&routes), Arc::clone(&log)));
            }
        });
        Self {
            addr,
            seen,
            connections,
            task,
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request received so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// TCP connections accepted so far (a TLS handshake or a broken request counts too).
    pub fn connections(&self) -> u64 {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Targets (path and query) of the requests received so far.
    pub fn targets(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.target).collect()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}
