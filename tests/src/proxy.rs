//! A fault-injecting TCP proxy: forwards connections to an upstream address, and can cut every
//! open connection or refuse new ones, to test what crosses the network without stopping the
//! machine's shared services.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running proxy.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    cut: watch::Sender<u64>,
    refusing: Arc<AtomicBool>,
}

impl Proxy {
    /// Listens on 127.0.0.1:0 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, _) = watch::channel(0u64);
        let refusing = Arc::new(AtomicBool::new(false));
        let (cut_tx, refuse) = (cut.clone(), Arc::clone(&refusing));
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if refuse.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let mut cut_rx = cut_tx.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut_rx.changed() => {}
                    }
                });
            }
        });
        Self {
            addr,
            cut,
            refusing,
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
        self.refusing.store(yes, Ordering::SeqCst);
    }
}
