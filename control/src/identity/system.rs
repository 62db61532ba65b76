//! Roles on the system (Keystone's system scope, `"system": {"all": true}`):
//! a user's system roles make a system-scoped token, which acts on the
//! whole cloud rather than one project. Bootstrap gives the admin `admin`
//! on the system. Keys are `user/role`.
//!
//! **Format:** `SystemAssignment` is on disk; add fields with
//! `#[serde(default)]`.

use serde::{Deserialize, Serialize};

use super::error::Result;
use super::model::Role;
use super::store::{Kind, Store};

/// A role a user holds on the system.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemAssignment {
    pub user_id: String,
    pub role_id: String,
}

impl SystemAssignment {
    pub fn key(&self) -> String {
        format!("{}/{}", self.user_id, self.role_id)
    }
}

/// System assignments, optionally of one user and one role.
pub async fn assignments(
    store: &Store,
    user_id: Option<&str>,
    role_id: Option<&str>,
) -> Result<Vec<SystemAssignment>> {
    let prefix = user_id.map(|u| format!("{u}/")).unwrap_or_default();
    let all: Vec<SystemAssignment> = store.list(Kind::SystemAssignment, &prefix).await?;
    Ok(all
        .into_iter()
        .filter(|a| role_id.is_none_or(|r| a.role_id == r))
        .collect())
}

/// The roles `user_id` holds on the system (sorted by name).
pub async fn roles_of(store: &Store, user_id: &str) -> Result<Vec<Role>> {
    let mut roles = Vec::new();
    for a in assignments(store, Some(user_id), None).await? {
        if let Some(r) = store.get::<Role>(Kind::Role, &a.role_id).await? {
            roles.push(r);
        }
    }
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(roles)
}
