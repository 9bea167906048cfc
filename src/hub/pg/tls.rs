//! TLS to PostgreSQL, meaning what libpq's `sslmode` means, with the
//! rustls the hub already serves HTTPS with:
//!
//! | sslmode | encrypted | certificate checked |
//! |---|---|---|
//! | `disable` | no | — |
//! | `prefer` (default) | when the server offers it | no |
//! | `require` | yes, or no connection | no |
//! | `verify-ca` | yes | issued by `sslrootcert` |
//! | `verify-full` | yes | issued by `sslrootcert`, for the host connected to |
//!
//! `sslrootcert` (or `PGSSLROOTCERT`, default `~/.postgresql/root.crt`)
//! is a PEM file of CA certificates. `tokio-postgres` knows only
//! `disable`, `prefer` and `require`, so [`split_url`] takes `sslmode` and
//! `sslrootcert` out of the URL before it parses the rest.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::Socket;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    CryptoProvider, verify_tls12_signature, verify_tls13_signature,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::hub::store::StoreError;

/// What libpq's `sslmode` asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, certificate unchecked.
    Prefer,
    /// TLS or no connection, certificate unchecked.
    Require,
    /// TLS, the certificate issued by a trusted CA.
    VerifyCa,
    /// TLS, the certificate issued by a trusted CA for the host.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, StoreError> {
        Ok(match value {
            "disable" => Self::Disable,
            "allow" | "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(StoreError(format!(
                    "the --db PostgreSQL URL: sslmode={other:?} is not one of disable, prefer, require, verify-ca, verify-full"
                )));
            }
        })
    }

    /// The mode `tokio-postgres` is given: it encrypts, we verify.
    pub fn driver_mode(self) -> tokio_postgres::config::SslMode {
        use tokio_postgres::config::SslMode as Driver;
        match self {
            Self::Disable => Driver::Disable,
            Self::Prefer => Driver::Prefer,
            Self::Require | Self::VerifyCa | Self::VerifyFull => Driver::Require,
        }
    }
}

/// A URL with `sslmode` and `sslrootcert` taken out (the rest for the
/// driver), and what they said (else `PGSSLMODE`, `PGSSLROOTCERT`).
pub fn split_url(url: &str) -> Result<(String, SslMode, Option<PathBuf>), StoreError> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut mode = None;
    let mut root = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| StoreError(format!("the --db PostgreSQL URL: {key} is not UTF-8")))?;
        match key {
            "sslmode" => mode = Some(SslMode::parse(&value)?),
            "sslrootcert" => root = Some(PathBuf::from(value.as_ref())),
            _ => kept.push(pair),
        }
    }
    let mode = match mode {
        Some(mode) => mode,
        None => match std::env::var("PGSSLMODE") {
            Ok(value) if !value.is_empty() => SslMode::parse(&value)?,
            _ => SslMode::Prefer,
        },
    };
    let root = root.or_else(|| std::env::var_os("PGSSLROOTCERT").map(PathBuf::from));
    let rebuilt = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rebuilt, mode, root))
}

/// The rustls side of a connection for `mode`, trusting the CAs in
/// `root` (or `~/.postgresql/root.crt`) when it verifies.
pub fn connector(mode: SslMode, root: Option<&Path>) -> Result<PgTls, StoreError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = match mode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => None,
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let roots = Arc::new(load_roots(root)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| StoreError(format!("PostgreSQL TLS: {e}")))?;
            Some(webpki)
        }
    };
    let verifier = Arc::new(PgVerifier {
        provider: provider.clone(),
        chain,
        name: mode == SslMode::VerifyFull,
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError(format!("PostgreSQL TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(PgTls {
        connector: TlsConnector::from(Arc::new(config)),
    })
}

fn load_roots(root: Option<&Path>) -> Result<RootCertStore, StoreError> {
    let path = match root {
        Some(path) => path.to_path_buf(),
        None => std::env::var_os("HOME")
            .map(|home| Path::new(&home).join(".postgresql/root.crt"))
            .ok_or_else(|| {
                StoreError("sslmode=verify-ca/verify-full needs sslrootcert=PATH (a PEM file of CA certificates)".into())
            })?,
    };
    let pem = std::fs::read(&path).map_err(|e| {
        StoreError(format!(
            "sslmode=verify-ca/verify-full: cannot read the CA file {} ({e}); give sslrootcert=PATH",
            path.display()
        ))
    })?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert
            .map_err(|e| StoreError(format!("{}: not a PEM certificate ({e})", path.display())))?;
        roots
            .add(cert)
            .map_err(|e| StoreError(format!("{}: {e}", path.display())))?;
    }
    if roots.is_empty() {
        return Err(StoreError(format!(
            "{}: no -----BEGIN CERTIFICATE----- block",
            path.display()
        )));
    }
    Ok(roots)
}

/// Checks the server's certificate as far as the mode asks. The
/// handshake's signatures are always checked; with no `chain` (`require`,
/// `prefer`) not who signed the certificate (libpq's meaning: protection
/// from eavesdropping, not from impersonation); with `chain` but not
/// `name` (`verify-ca`) the issuer and not the host name.
#[derive(Debug)]
struct PgVerifier {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
    name: bool,
}

impl ServerCertVerifier for PgVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What `tokio-postgres` connects through.
#[derive(Clone)]
pub struct PgTls {
    connector: TlsConnector,
}

impl MakeTlsConnect<Socket> for PgTls {
    type Stream = PgTlsStream;
    type TlsConnect = PgTlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<PgTlsConnect, io::Error> {
        // Asked for every connection, a Unix socket's too (with no name),
        // before the server says whether it speaks TLS at all (it never
        // does on a socket): a name TLS cannot use fails only if a
        // handshake is really attempted.
        let name = ServerName::try_from(domain.to_string())
            .map_err(|e| format!("{domain:?} cannot be checked by TLS ({e})"));
        Ok(PgTlsConnect {
            connector: self.connector.clone(),
            name,
        })
    }
}

/// One connection's handshake.
pub struct PgTlsConnect {
    connector: TlsConnector,
    name: Result<ServerName<'static>, String>,
}

impl TlsConnect<Socket> for PgTlsConnect {
    type Stream = PgTlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<PgTlsStream>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        Box::pin(async move {
            let name = self
                .name
                .map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
            let stream = self.connector.connect(name, stream).await?;
            Ok(PgTlsStream(Box::new(stream)))
        })
    }
}

/// An encrypted connection to PostgreSQL.
pub struct PgTlsStream(Box<tokio_rustls::client::TlsStream<Socket>>);

impl tokio_postgres::tls::TlsStream for PgTlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM without channel binding (as libpq's default `prefer` does
        // when the client offers none).
        ChannelBinding::none()
    }
}

impl AsyncRead for PgTlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for PgTlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_leave_the_url_for_the_driver() {
        let (url, mode, root) = split_url(
            "postgres://u@db:5432/agentdeck?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem",
        )
        .unwrap();
        assert_eq!(url, "postgres://u@db:5432/agentdeck?application_name=x");
        assert_eq!(mode, SslMode::VerifyFull);
        assert_eq!(root.as_deref(), Some(Path::new("/etc/ca.pem")));
        let (url, mode, _) = split_url("postgres://u@db/agentdeck?sslmode=disable").unwrap();
        assert_eq!(url, "postgres://u@db/agentdeck");
        assert_eq!(mode, SslMode::Disable);
        let e = split_url("postgres://u@db/a?sslmode=sometimes").unwrap_err();
        assert!(e.0.contains("\"sometimes\" is not one of"), "{}", e.0);
    }
}
