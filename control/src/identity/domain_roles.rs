//! Roles of users on domains: a user's roles on a domain make a
//! domain-scoped token (`"scope": {"domain": ...}`). Keys are
//! `domain/user/role`.
//!
//! **Format:** `DomainAssignment` is on disk; add fields with
//! `#[serde(default)]`.

use serde::{Deserialize, Serialize};

use super::error::Result;
use super::model::Role;
use super::store::{Kind, Store};

/// A role a user holds on a domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainAssignment {
    pub domain_id: String,
    pub user_id: String,
    pub role_id: String,
}

impl DomainAssignment {
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.domain_id, self.user_id, self.role_id)
    }
}

/// Domain assignments matching the filters.
pub async fn assignments(
    store: &Store,
    domain_id: Option<&str>,
    user_id: Option<&str>,
    role_id: Option<&str>,
) -> Result<Vec<DomainAssignment>> {
    let prefix = match (domain_id, user_id) {
        (Some(d), Some(u)) => format!("{d}/{u}/"),
        (Some(d), None) => format!("{d}/"),
        _ => String::new(),
    };
    let all: Vec<DomainAssignment> = store.list(Kind::DomainAssignment, &prefix).await?;
    Ok(all
        .into_iter()
        .filter(|a| user_id.is_none_or(|u| a.user_id == u))
        .filter(|a| role_id.is_none_or(|r| a.role_id == r))
        .collect())
}

/// The roles `user_id` holds on `domain_id` (sorted by name).
pub async fn roles_on(store: &Store, domain_id: &str, user_id: &str) -> Result<Vec<Role>> {
    let mut roles = Vec::new();
    for a in assignments(store, Some(domain_id), Some(user_id), None).await? {
        if let Some(r) = store.get::<Role>(Kind::Role, &a.role_id).await? {
            roles.push(r);
        }
    }
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(roles)
}
