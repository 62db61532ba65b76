//! Issuing and checking tokens inside identity: the Ed25519 signing key
//! (made on first start, kept in the database), the roles a token carries,
//! and the revocation list (kept in the database and in memory, served to
//! other services by `GET /v3/cairn/token-verification`).

use std::sync::RwLock;
use std::time::Duration;

use common::token::{self, Claims, Revocations, VerificationDocument, Verifier};
use ed25519_dalek::SigningKey;

use super::error::{Error, Result};
use super::model::{Assignment, Project, Role, User};
use super::store::{Kind, Store};

const SIGNING_KEY: &str = "signing_key";
const REVOCATIONS: &str = "revocations";

/// Token state: the key and the revocations.
pub struct Tokens {
    key: SigningKey,
    revocations: RwLock<Revocations>,
    /// How long a new token lives.
    pub ttl: Duration,
    /// The cloud's admin project (set by bootstrap): tokens scoped to it
    /// say so (`is_admin_project`).
    admin_project_id: RwLock<Option<String>>,
}

/// What a new token is made from, beside the user and project.
#[derive(Default)]
pub struct Issue {
    pub methods: Vec<String>,
    /// The token ends no later than this (ms).
    pub cap_ms: Option<u64>,
    pub application_credential_id: Option<String>,
    /// A system-scoped token (no project).
    pub system: bool,
    /// The domain of a domain-scoped token (no project).
    pub domain_id: Option<String>,
}

impl Tokens {
    /// Loads the key and revocations, making the key on first start.
    pub async fn load(store: &Store, ttl: Duration) -> anyhow::Result<Tokens> {
        let key = match store.get::<String>(Kind::Meta, SIGNING_KEY).await? {
            Some(hex_key) => {
                let raw: [u8; 32] = hex::decode(hex_key)?
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("signing key is not 32 bytes"))?;
                SigningKey::from_bytes(&raw)
            }
            None => {
                let raw = rand::random::<[u8; 32]>();
                store
                    .put(Kind::Meta, SIGNING_KEY, &hex::encode(raw))
                    .await?;
                SigningKey::from_bytes(&raw)
            }
        };
        let revocations = store
            .get::<Revocations>(Kind::Meta, REVOCATIONS)
            .await?
            .unwrap_or_default();
        Ok(Tokens {
            key,
            revocations: RwLock::new(revocations),
            ttl,
            admin_project_id: RwLock::new(None),
        })
    }

    /// Names the cloud's admin project.
    pub fn set_admin_project(&self, project_id: &str) {
        *self.admin_project_id.write().expect("admin project lock") = Some(project_id.to_string());
    }

    /// Whether `project_id` is the cloud's admin project.
    pub fn is_admin_project(&self, project_id: &str) -> bool {
        self.admin_project_id
            .read()
            .expect("admin project lock")
            .as_deref()
            == Some(project_id)
    }

    /// The public half and the revocations, for services that verify locally.
    pub fn document(&self) -> VerificationDocument {
        let mut revocations = self.revocations.read().expect("revocations lock").clone();
        revocations.prune(token::now_ms());
        VerificationDocument {
            algorithm: "EdDSA".into(),
            public_key: Verifier::public_key_text(&self.key.verifying_key()),
            revocations,
        }
    }

    /// Signature, expiry and revocation checks.
    pub fn check(&self, token: &str) -> std::result::Result<Claims, token::TokenError> {
        let claims = token::verify(token, &self.key.verifying_key(), token::now_ms())?;
        if self
            .revocations
            .read()
            .expect("revocations lock")
            .revokes(&claims)
        {
            return Err(token::TokenError::Revoked);
        }
        Ok(claims)
    }

    /// A new token for `user` on `project` (unscoped if `None`) with
    /// `roles`; it expires after the ttl, or at `how.cap_ms` if sooner.
    pub fn issue(
        &self,
        user: &User,
        project: Option<&Project>,
        roles: &[Role],
        how: Issue,
    ) -> (String, Claims) {
        let now = token::now_ms();
        let mut expires = now + self.ttl.as_millis() as u64;
        if let Some(cap) = how.cap_ms {
            expires = expires.min(cap);
        }
        let claims = Claims {
            user_id: user.id.clone(),
            project_id: project.map(|p| p.id.clone()),
            roles: roles.iter().map(|r| r.name.clone()).collect(),
            methods: how.methods,
            issued_at_ms: now,
            expires_at_ms: expires,
            audit_id: rand::random(),
            is_admin_project: project.is_some_and(|p| self.is_admin_project(&p.id)),
            system_scope: how.system,
            domain_id: how.domain_id,
            application_credential_id: how.application_credential_id,
        };
        (token::sign(&claims, &self.key), claims)
    }

    /// Changes the revocation list and persists it.
    async fn revise(&self, store: &Store, f: impl FnOnce(&mut Revocations)) -> Result<()> {
        let _guard = store.write_lock().await;
        let snapshot = {
            let mut r = self.revocations.write().expect("revocations lock");
            f(&mut r);
            r.prune(token::now_ms());
            r.clone()
        };
        store.put(Kind::Meta, REVOCATIONS, &snapshot).await?;
        Ok(())
    }

    /// Revokes one token.
    pub async fn revoke_token(&self, store: &Store, claims: &Claims) -> Result<()> {
        let (id, exp) = (claims.audit_id_text(), claims.expires_at_ms);
        self.revise(store, |r| {
            r.audit_ids.insert(id, exp);
        })
        .await
    }

    /// Revokes every token of `user_id` issued until now.
    pub async fn revoke_user(&self, store: &Store, user_id: &str) -> Result<()> {
        let now = token::now_ms();
        self.revise(store, |r| {
            r.users.insert(user_id.to_string(), now);
        })
        .await
    }

    /// Revokes every token made from application credential `id` until now.
    pub async fn revoke_application_credential(&self, store: &Store, id: &str) -> Result<()> {
        let now = token::now_ms();
        self.revise(store, |r| {
            r.application_credentials.insert(id.to_string(), now);
        })
        .await
    }

    /// Revokes every token scoped to `project_id` issued until now.
    pub async fn revoke_project(&self, store: &Store, project_id: &str) -> Result<()> {
        let now = token::now_ms();
        self.revise(store, |r| {
            r.projects.insert(project_id.to_string(), now);
        })
        .await
    }
}

/// The roles `user_id` holds on `project_id`, directly or through a
/// group (sorted by name).
pub async fn roles_on(store: &Store, project_id: &str, user_id: &str) -> Result<Vec<Role>> {
    let grants: Vec<Assignment> = store
        .list(Kind::Assignment, &format!("{project_id}/{user_id}/"))
        .await?;
    let mut role_ids: Vec<String> = grants.into_iter().map(|g| g.role_id).collect();
    role_ids.extend(super::groups::role_ids_via_groups(store, project_id, user_id).await?);
    role_ids.sort();
    role_ids.dedup();
    let mut roles = Vec::new();
    for id in role_ids {
        if let Some(r) = store.get::<Role>(Kind::Role, &id).await? {
            roles.push(r);
        }
    }
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(roles)
}

/// Maps a failed check of a caller's own token to 401.
pub fn unauthorized(_: token::TokenError) -> Error {
    Error::Unauthorized
}
