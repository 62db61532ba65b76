//! Application credentials: a secret a user makes for one of their
//! projects so that programs log in without the user's password. The
//! secret is shown once and kept as an argon2 hash; the credential carries
//! a subset of the user's roles on the project and may expire. A token
//! made from one holds exactly those roles (while the user still has them),
//! ends no later than the credential, and is revoked with it.
//!
//! **Format:** `AppCredential` is on disk (key `user/id`); add fields with
//! `#[serde(default)]`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::{Error, Result};
use super::model::{Project, Role, User};
use super::store::{Kind, Store};
use super::{directory, password, tokens};
use common::token::iso8601;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppCredential {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub project_id: String,
    #[serde(default)]
    pub description: Option<String>,
    /// argon2 PHC string of the secret.
    pub secret_hash: String,
    /// Ids of the roles a token made from it carries.
    pub role_ids: Vec<String>,
    #[serde(default)]
    pub expires_at_ms: Option<u64>,
    /// Whether its tokens may make further application credentials.
    #[serde(default)]
    pub unrestricted: bool,
}

impl AppCredential {
    /// The store key.
    pub fn key(&self) -> String {
        format!("{}/{}", self.user_id, self.id)
    }

    /// Keystone's shape; `roles` are the credential's roles.
    pub fn to_json(&self, base: &str, roles: &[Role]) -> Value {
        json!({"id": self.id, "name": self.name, "description": self.description,
               "user_id": self.user_id, "project_id": self.project_id,
               "roles": roles.iter().map(|r| json!({"id": r.id, "name": r.name, "domain_id": null}))
                   .collect::<Vec<_>>(),
               "expires_at": self.expires_at_ms.map(iso8601),
               "unrestricted": self.unrestricted, "system": null, "access_rules": [],
               "links": {"self": format!("{base}/users/{}/application_credentials/{}",
                                         self.user_id, self.id)}})
    }

    /// Whether it has expired at `now_ms`.
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_some_and(|e| now_ms >= e)
    }
}

/// A new secret: 64 random bytes, base64url (86 characters).
pub fn new_secret() -> String {
    // A secret starting with `-` would be taken for an option by command
    // lines (`--os-application-credential-secret -x...`): draw again.
    loop {
        let secret =
            B64.encode(rand::random::<[u8; 32]>()) + &B64.encode(rand::random::<[u8; 32]>());
        if !secret.starts_with('-') {
            return secret;
        }
    }
}

/// The roles of `ids`, in order (missing ones are skipped).
pub async fn roles_of(store: &Store, ids: &[String]) -> Result<Vec<Role>> {
    let mut out = Vec::new();
    for id in ids {
        if let Some(r) = store.get::<Role>(Kind::Role, id).await? {
            out.push(r);
        }
    }
    Ok(out)
}

/// Every application credential of `user_id`.
pub async fn of_user(store: &Store, user_id: &str) -> Result<Vec<AppCredential>> {
    Ok(store
        .list(Kind::AppCredential, &format!("{user_id}/"))
        .await?)
}

/// The credential a login names: `{"id"}`, or `{"name", "user": {...}}`.
async fn named(store: &Store, r: &Value) -> Result<Option<AppCredential>> {
    if let Some(id) = r.get("id").and_then(Value::as_str) {
        let all: Vec<AppCredential> = store.list(Kind::AppCredential, "").await?;
        return Ok(all.into_iter().find(|a| a.id == id));
    }
    let (Some(name), Some(user)) = (r.get("name").and_then(Value::as_str), r.get("user")) else {
        return Ok(None);
    };
    let Some(user) = directory::user_ref(store, user).await? else {
        return Ok(None);
    };
    Ok(of_user(store, &user.id)
        .await?
        .into_iter()
        .find(|a| a.name == name))
}

/// What a successful application credential login yields.
pub struct Login {
    pub credential: AppCredential,
    pub user: User,
    pub project: Project,
    pub roles: Vec<Role>,
}

/// Checks an `application_credential` login; 401 for every failure
/// (unknown, wrong secret, expired, user disabled, project disabled, a
/// role the user no longer holds). An unknown credential costs an argon2
/// check like a known one.
pub async fn login(store: &Store, r: &Value, now_ms: u64) -> Result<Login> {
    let given = r
        .get("secret")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let found = named(store, r).await?;
    let phc = found
        .as_ref()
        .map(|a| a.secret_hash.clone())
        .unwrap_or_else(|| password::decoy().to_string());
    let ok = tokio::task::spawn_blocking(move || password::verify(&given, &phc))
        .await
        .map_err(anyhow::Error::from)?;
    let credential = match found {
        Some(a) if ok && !a.expired(now_ms) => a,
        _ => return Err(Error::Unauthorized),
    };
    let user = match store.get::<User>(Kind::User, &credential.user_id).await? {
        Some(u) if u.enabled => u,
        _ => return Err(Error::Unauthorized),
    };
    let project = match store
        .get::<Project>(Kind::Project, &credential.project_id)
        .await?
    {
        Some(p) if p.enabled => p,
        _ => return Err(Error::Unauthorized),
    };
    let held = tokens::roles_on(store, &project.id, &user.id).await?;
    let roles: Vec<Role> = held
        .into_iter()
        .filter(|r| credential.role_ids.contains(&r.id))
        .collect();
    if roles.is_empty() || roles.len() != credential.role_ids.len() {
        return Err(Error::Unauthorized);
    }
    Ok(Login {
        credential,
        user,
        project,
        roles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_and_distinct() {
        let a = new_secret();
        assert_eq!(a.len(), 86);
        assert_ne!(a, new_secret());
        let c = AppCredential {
            id: "i".into(),
            name: "n".into(),
            user_id: "u".into(),
            project_id: "p".into(),
            description: None,
            secret_hash: String::new(),
            role_ids: vec![],
            expires_at_ms: Some(10),
            unrestricted: false,
        };
        assert!(!c.expired(9) && c.expired(10));
        assert_eq!(c.key(), "u/i");
        let j = c.to_json("http://h/v3", &[]);
        assert_eq!(j["expires_at"], "1970-01-01T00:00:00.010000Z");
        assert!(j.get("secret").is_none() && j.get("secret_hash").is_none());
    }
}
