//! `RemoteVerifier`: token checks for services other than identity. It
//! keeps identity's verification document (the Ed25519 public key and the
//! revocation list from `GET /v3/cairn/token-verification`), refreshes it
//! every couple of seconds in a background loop, and checks each token
//! locally: signature, expiry, revocation. A revoked token is refused
//! within one refresh interval.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::identity_http::IdentityHttp;
use crate::token::{self, Claims, TokenError, VerificationDocument, Verifier};

/// How often the document is fetched again.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(2);

/// The path of identity's verification document.
const DOCUMENT_PATH: &str = "/v3/cairn/token-verification";

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckError {
    /// The token itself is bad: malformed, forged, expired or revoked.
    #[error(transparent)]
    Refused(#[from] TokenError),
    /// Identity has never answered, so nothing can be verified yet.
    #[error("identity's verification document is not available")]
    Unavailable,
}

/// Token checks against a remote identity service.
pub struct RemoteVerifier {
    http: IdentityHttp,
    current: RwLock<Option<Arc<Verifier>>>,
    /// Serializes fetches made on demand (before the first document).
    fetch: tokio::sync::Mutex<()>,
}

impl RemoteVerifier {
    /// A verifier of identity at `identity_url`; nothing is fetched yet.
    pub fn new(identity_url: &str) -> anyhow::Result<Arc<RemoteVerifier>> {
        Ok(Arc::new(RemoteVerifier {
            http: IdentityHttp::new(identity_url)?,
            current: RwLock::new(None),
            fetch: tokio::sync::Mutex::new(()),
        }))
    }

    /// Fetches the document now and installs it.
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let doc: VerificationDocument = self
            .http
            .get_json(DOCUMENT_PATH, &[])
            .await?
            .ok_or_else(|| anyhow::anyhow!("identity has no verification document"))?;
        let verifier = doc
            .verifier()
            .ok_or_else(|| anyhow::anyhow!("identity's verification key is not Ed25519"))?;
        *self.current.write().expect("verifier lock") = Some(Arc::new(verifier));
        Ok(())
    }

    /// Refreshes every `REFRESH_INTERVAL` until `shutdown`. A failure is
    /// logged once (and its end once); the last document stays in use.
    pub async fn refresh_loop(self: Arc<Self>, shutdown: CancellationToken) {
        let mut failing = false;
        loop {
            match self.refresh().await {
                Ok(()) if failing => {
                    tracing::info!(identity = self.http.base(), "identity answers again");
                    failing = false;
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    tracing::warn!(
                        identity = self.http.base(),
                        "cannot refresh token revocations: {e:#}"
                    );
                    failing = true;
                }
                Err(_) => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(REFRESH_INTERVAL) => {}
            }
        }
    }

    /// The current verifier, fetching the document first if there is none.
    async fn verifier(&self) -> Option<Arc<Verifier>> {
        if let Some(v) = self.current.read().expect("verifier lock").clone() {
            return Some(v);
        }
        let _one_at_a_time = self.fetch.lock().await;
        if let Some(v) = self.current.read().expect("verifier lock").clone() {
            return Some(v);
        }
        if let Err(e) = self.refresh().await {
            tracing::debug!("cannot fetch the verification document: {e:#}");
        }
        self.current.read().expect("verifier lock").clone()
    }

    /// Signature, expiry and revocation checks of `token`, now.
    pub async fn check(&self, token: &str) -> Result<Claims, CheckError> {
        let verifier = self.verifier().await.ok_or(CheckError::Unavailable)?;
        Ok(verifier.check(token, token::now_ms())?)
    }
}
