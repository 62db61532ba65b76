//! The records identity stores (each a tag byte and JSON in RocksDB) and
//! their Keystone v3 JSON shapes.
//!
//! **Format:** these types are on disk; add fields with `#[serde(default)]`
//! and change them deliberately.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The domain every appliance has.
pub const DEFAULT_DOMAIN_ID: &str = "default";

/// A new random id: 32 lowercase hex digits, as Keystone's.
pub fn new_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Domain {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub enabled: bool,
}

impl Domain {
    pub fn to_json(&self, base: &str) -> Value {
        json!({"id": self.id, "name": self.name, "description": self.description,
               "enabled": self.enabled, "tags": [], "options": {},
               "links": {"self": format!("{base}/domains/{}", self.id)}})
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    #[serde(default)]
    pub description: String,
    pub enabled: bool,
}

impl Project {
    pub fn to_json(&self, base: &str) -> Value {
        json!({"id": self.id, "name": self.name, "domain_id": self.domain_id,
               "description": self.description, "enabled": self.enabled,
               "is_domain": false, "parent_id": self.domain_id, "tags": [], "options": {},
               "links": {"self": format!("{base}/projects/{}", self.id)}})
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub enabled: bool,
    /// The argon2 PHC string; `None` means password login is impossible.
    #[serde(default)]
    pub password_hash: Option<String>,
    #[serde(default)]
    pub default_project_id: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub email: Option<String>,
}

impl User {
    /// Never includes the password hash.
    pub fn to_json(&self, base: &str) -> Value {
        let mut v = json!({"id": self.id, "name": self.name, "domain_id": self.domain_id,
               "enabled": self.enabled, "password_expires_at": null, "options": {},
               "links": {"self": format!("{base}/users/{}", self.id)}});
        if let Some(p) = &self.default_project_id {
            v["default_project_id"] = json!(p);
        }
        if !self.description.is_empty() {
            v["description"] = json!(self.description);
        }
        if let Some(e) = &self.email {
            v["email"] = json!(e);
        }
        v
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Role {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

impl Role {
    pub fn to_json(&self, base: &str) -> Value {
        json!({"id": self.id, "name": self.name, "domain_id": null,
               "description": self.description, "options": {},
               "links": {"self": format!("{base}/roles/{}", self.id)}})
    }
}

/// A role held by a user on a project; its key is `project/user/role`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub project_id: String,
    pub user_id: String,
    pub role_id: String,
}

impl Assignment {
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.project_id, self.user_id, self.role_id)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Region {
    pub id: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub parent_region_id: Option<String>,
}

impl Region {
    pub fn to_json(&self, base: &str) -> Value {
        json!({"id": self.id, "description": self.description,
               "parent_region_id": self.parent_region_id,
               "links": {"self": format!("{base}/regions/{}", self.id)}})
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Service {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub enabled: bool,
}

impl Service {
    pub fn to_json(&self, base: &str) -> Value {
        json!({"id": self.id, "type": self.kind, "name": self.name,
               "description": self.description, "enabled": self.enabled,
               "links": {"self": format!("{base}/services/{}", self.id)}})
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub service_id: String,
    /// `public`, `internal` or `admin`.
    pub interface: String,
    pub region_id: Option<String>,
    pub url: String,
    pub enabled: bool,
}

impl Endpoint {
    pub fn to_json(&self, base: &str) -> Value {
        json!({"id": self.id, "service_id": self.service_id, "interface": self.interface,
               "region_id": self.region_id, "region": self.region_id, "url": self.url,
               "enabled": self.enabled,
               "links": {"self": format!("{base}/endpoints/{}", self.id)}})
    }
}
