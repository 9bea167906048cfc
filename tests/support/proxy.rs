//! A TCP proxy on loopback that can cut every connection through it, to
//! test what clients do when the network drops under them.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// A running proxy.
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    cut: Arc<Notify>,
}

impl Proxy {
    /// Proxies a free loopback port to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(Notify::new());
        let cutter = cut.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let cut = cutter.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = cut.notified() => {}
                    }
                });
            }
        });
        Self { addr, cut }
    }

    /// Drops every connection open now; new ones are accepted.
    pub fn cut(&self) {
        self.cut.notify_waiters();
    }

    /// The base URL through the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
