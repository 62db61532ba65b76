//! Optional TLS for NBD (`NBD_OPT_STARTTLS`), through OpenSSL: the
//! server's certificate chain and key (PEM files) and, optionally, a CA
//! whose certificates clients must present (as qemu-nbd's `tls-creds-x509`
//! with `verify-peer`). With `required` (the default) a client gets
//! nothing but `ERR_TLS_REQD` until it starts TLS.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;

use anyhow::Context;
use openssl::ssl::{Ssl, SslAcceptor, SslFiletype, SslMethod, SslVerifyMode};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_openssl::SslStream;

/// TLS settings of the NBD server (`[blockd.nbd_tls]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server's certificate chain (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// If set, clients must present a certificate this CA signed.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// Whether plaintext clients are refused (otherwise TLS is offered).
    #[serde(default = "required_by_default")]
    pub required: bool,
}

fn required_by_default() -> bool {
    true
}

/// A loaded TLS configuration.
pub struct Tls {
    acceptor: SslAcceptor,
    pub required: bool,
}

impl Tls {
    /// Loads the certificate and key (and CA) named by `cfg`.
    pub fn load(cfg: &TlsConfig) -> anyhow::Result<Tls> {
        let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
        b.set_certificate_chain_file(&cfg.cert)
            .with_context(|| format!("NBD TLS certificate {}", cfg.cert.display()))?;
        b.set_private_key_file(&cfg.key, SslFiletype::PEM)
            .with_context(|| format!("NBD TLS key {}", cfg.key.display()))?;
        b.check_private_key()
            .context("the NBD TLS key does not match its certificate")?;
        if let Some(ca) = &cfg.client_ca {
            b.set_ca_file(ca)
                .with_context(|| format!("NBD TLS client CA {}", ca.display()))?;
            b.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
            // Without one, OpenSSL refuses to resume a TLS 1.2 session of
            // a verified client.
            b.set_session_id_context(b"cairn-nbd")?;
        }
        Ok(Tls {
            acceptor: b.build(),
            required: cfg.required,
        })
    }

    /// Runs the server side of the TLS handshake over `stream`.
    pub async fn accept<S>(&self, stream: S) -> io::Result<SslStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let ssl = Ssl::new(self.acceptor.context()).map_err(io::Error::other)?;
        let mut tls = SslStream::new(ssl, stream).map_err(io::Error::other)?;
        Pin::new(&mut tls)
            .accept()
            .await
            .map_err(|e| io::Error::other(format!("TLS handshake: {e}")))?;
        Ok(tls)
    }
}
