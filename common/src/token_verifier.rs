//! `RemoteVerifier`: token checks for services other than identity. It
//! keeps identity's verification document (the Ed25519 public key and the
//! revocation list from `GET /v3/cairn/token-verification`), refreshes it
//! every couple of seconds in a background loop, and checks each token
//! locally: signature, expiry, revocation. A revoked token is refused
//! within one refresh interval.
//!
//! Tokens whose signature verified are remembered (with the key that
//! verified them) so a token used again skips the Ed25519 check; expiry
//! and revocation are checked at every use.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::identity_http::IdentityHttp;
use crate::token::{self, Claims, TokenError, VerificationDocument, Verifier};

/// How often the document is fetched again.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(2);

/// Verified tokens remembered at most (the memory is emptied when full).
const VERIFIED_MAX: usize = 4096;

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
    /// Tokens whose signature verified, with the public key that did.
    verified: RwLock<HashMap<String, ([u8; 32], Claims)>>,
}

impl RemoteVerifier {
    /// A verifier of identity at `identity_url`; nothing is fetched yet.
    pub fn new(identity_url: &str) -> anyhow::Result<Arc<RemoteVerifier>> {
        Ok(Arc::new(RemoteVerifier {
            http: IdentityHttp::new(identity_url)?,
            current: RwLock::new(None),
            fetch: tokio::sync::Mutex::new(()),
            verified: RwLock::new(HashMap::new()),
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
        let now = token::now_ms();
        let key = verifier.key.to_bytes();
        let remembered = self
            .verified
            .read()
            .expect("verified tokens lock")
            .get(token)
            .filter(|(k, _)| *k == key)
            .map(|(_, c)| c.clone());
        let claims = match remembered {
            Some(c) => c,
            None => {
                let c = token::verify(token, &verifier.key, now)?;
                let mut verified = self.verified.write().expect("verified tokens lock");
                if verified.len() >= VERIFIED_MAX {
                    verified.clear();
                }
                verified.insert(token.to_string(), (key, c.clone()));
                c
            }
        };
        if now >= claims.expires_at_ms {
            return Err(TokenError::Expired.into());
        }
        if verifier.revocations.revokes(&claims) {
            return Err(TokenError::Revoked.into());
        }
        Ok(claims)
    }

    /// Installs `doc` as if fetched (for tests and benchmarks).
    pub fn install(&self, doc: &VerificationDocument) -> anyhow::Result<()> {
        let verifier = doc
            .verifier()
            .ok_or_else(|| anyhow::anyhow!("the verification key is not Ed25519"))?;
        *self.current.write().expect("verifier lock") = Some(Arc::new(verifier));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{sign, Revocations};
    use ed25519_dalek::SigningKey;

    fn doc(key: &SigningKey, revocations: Revocations) -> VerificationDocument {
        VerificationDocument {
            algorithm: "EdDSA".into(),
            public_key: Verifier::public_key_text(&key.verifying_key()),
            revocations,
        }
    }

    #[tokio::test]
    async fn remembered_tokens_are_still_checked_for_expiry_revocation_and_key() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let now = token::now_ms();
        let claims = Claims {
            user_id: "u".into(),
            project_id: Some("p".into()),
            issued_at_ms: now,
            expires_at_ms: now + 60_000,
            audit_id: [1; 16],
            ..Claims::default()
        };
        let t = sign(&claims, &key);
        let v = RemoteVerifier::new("http://127.0.0.1:1").expect("url");
        v.install(&doc(&key, Revocations::default()))
            .expect("install");
        assert_eq!(v.check(&t).await, Ok(claims.clone()));
        assert_eq!(v.check(&t).await, Ok(claims.clone()), "remembered");
        let mut revoked = Revocations::default();
        revoked
            .audit_ids
            .insert(claims.audit_id_text(), claims.expires_at_ms);
        v.install(&doc(&key, revoked)).expect("install");
        assert_eq!(v.check(&t).await, Err(TokenError::Revoked.into()));
        // Another key: the remembered verification does not count.
        let other = SigningKey::from_bytes(&[8; 32]);
        v.install(&doc(&other, Revocations::default()))
            .expect("install");
        assert_eq!(v.check(&t).await, Err(TokenError::BadSignature.into()));
        // Expiry is checked on remembered tokens too.
        let short = Claims {
            expires_at_ms: now + 50,
            ..claims
        };
        let t = sign(&short, &other);
        assert!(v.check(&t).await.is_ok());
        tokio::time::sleep(std::time::Duration::from_millis(80)).await;
        assert_eq!(v.check(&t).await, Err(TokenError::Expired.into()));
    }
}
