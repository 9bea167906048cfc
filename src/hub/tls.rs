//! HTTPS for the hub (`agentdeck serve --tls-cert PATH --tls-key PATH`):
//! a PEM certificate chain and key loaded into rustls, and a listener that
//! completes TLS handshakes beside the accept loop, so one slow or silent
//! client cannot hold up everyone else's connections.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::server::TlsStream;

/// A client that has not finished its handshake after this long is
/// dropped: an open socket that never speaks would otherwise hold a slot.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; further connections wait in the kernel's
/// backlog, which bounds the memory a flood of half-open clients can take.
pub const MAX_PENDING_HANDSHAKES: usize = 256;

/// Loads a PEM certificate chain (server certificate first, then any
/// intermediates) and its PEM private key (PKCS#8, PKCS#1 or SEC1) into a
/// server configuration. Every error names the flag, the file and what was
/// expected in it.
pub fn load(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let cert_pem = std::fs::read(cert)
        .map_err(|e| format!("cannot read --tls-cert {}: {e}", cert.display()))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            format!(
                "--tls-cert {}: not a PEM certificate chain ({e})",
                cert.display()
            )
        })?;
    if chain.is_empty() {
        return Err(format!(
            "--tls-cert {}: no -----BEGIN CERTIFICATE----- block; give the server certificate (then any intermediates) in PEM",
            cert.display()
        ));
    }
    let key_pem =
        std::fs::read(key).map_err(|e| format!("cannot read --tls-key {}: {e}", key.display()))?;
    let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        format!(
            "--tls-key {}: no PEM private key (PKCS#8, PKCS#1 or SEC1) ({e})",
            key.display()
        )
    })?;
    // The provider is named rather than taken from the process default:
    // with more than one rustls backend linked in, the default is ambiguous
    // and rustls would refuse to pick.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| {
            format!(
                "--tls-cert {} with --tls-key {}: {e} (is the key the one the certificate was issued for?)",
                cert.display(),
                key.display()
            )
        })?;
    // The hub speaks HTTP/1.1 only (the SSE stream and every route).
    // h2 for OTLP/gRPC exporters; HTTP/1.1 for everything else.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TCP listener whose connections come out TLS-terminated, for
/// [`axum::serve`]. Handshakes run in their own tasks (at most
/// [`MAX_PENDING_HANDSHAKES`] at once, each bounded by
/// [`HANDSHAKE_TIMEOUT`]); failed ones are logged and dropped, never handed
/// to the router.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: Result<SocketAddr, String>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `listener` with `config`.
    pub fn new(listener: TcpListener, config: Arc<ServerConfig>) -> Self {
        let local = listener.local_addr().map_err(|e| e.to_string());
        let (tx, ready) = mpsc::channel(64);
        let acceptor = tokio::spawn(accept_loop(listener, TlsAcceptor::from(config), tx));
        Self {
            ready,
            local,
            acceptor,
        }
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        // The TCP listener lives in the accept task: stopping it frees the
        // port as soon as the server lets go of this listener.
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept task only ends when this listener is dropped, so
            // this is not reached while serving; never hand out a
            // connection again if it is.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.local.clone().map_err(std::io::Error::other)
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let slots = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => return,
            },
            () = tx.closed() => return,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of
                    // spinning, as axum's own listener does.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = tx.closed() => return,
        };
        // Stream writes are small and latency matters: no Nagle delay.
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let _ = tx.send((stream, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}
