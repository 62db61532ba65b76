//! Image and member records, and their Glance v2 JSON. An image's extra
//! properties are kept as strings and shown as top-level keys, as Glance does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Statuses an image moves through.
pub mod status {
    pub const QUEUED: &str = "queued";
    pub const SAVING: &str = "saving";
    pub const ACTIVE: &str = "active";
    pub const DEACTIVATED: &str = "deactivated";
    /// Being deleted: no new clone may share its bytes.
    pub const PENDING_DELETE: &str = "pending_delete";
}

/// One segment object of an image's bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub object: String,
    pub size: u64,
}

/// An image as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub id: String,
    pub name: Option<String>,
    pub status: String,
    pub visibility: String,
    pub protected: bool,
    pub os_hidden: bool,
    /// The owning project.
    pub owner: String,
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    pub size: Option<u64>,
    pub virtual_size: Option<u64>,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub min_disk: u64,
    pub min_ram: u64,
    pub tags: Vec<String>,
    /// Extra properties (string values), shown as top-level keys.
    pub properties: BTreeMap<String, String>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    /// Where the bytes are, once uploaded.
    pub segments: Vec<Segment>,
}

/// Keys of the image body that are not extra properties.
pub const CORE_KEYS: &[&str] = &[
    "id",
    "name",
    "status",
    "visibility",
    "protected",
    "os_hidden",
    "owner",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "size",
    "virtual_size",
    "disk_format",
    "container_format",
    "min_disk",
    "min_ram",
    "tags",
    "created_at",
    "updated_at",
    "self",
    "file",
    "schema",
    "locations",
    "direct_url",
];

/// Core keys a client may never set.
pub const READ_ONLY: &[&str] = &[
    "status",
    "owner",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "size",
    "virtual_size",
    "created_at",
    "updated_at",
    "self",
    "file",
    "schema",
    "locations",
    "direct_url",
];

/// Glance's timestamp form, `2026-11-25T16:12:07Z`.
pub fn timestamp(ms: u64) -> String {
    let full = common::token::iso8601(ms);
    format!("{}Z", &full[..19])
}

impl Image {
    /// The image as the API shows it.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "visibility": self.visibility,
            "protected": self.protected,
            "os_hidden": self.os_hidden,
            "owner": self.owner,
            "checksum": self.checksum,
            "os_hash_algo": self.os_hash_algo,
            "os_hash_value": self.os_hash_value,
            "size": self.size,
            "virtual_size": self.virtual_size,
            "disk_format": self.disk_format,
            "container_format": self.container_format,
            "min_disk": self.min_disk,
            "min_ram": self.min_ram,
            "tags": self.tags,
            "created_at": timestamp(self.created_at_ms),
            "updated_at": timestamp(self.updated_at_ms),
            "self": format!("/v2/images/{}", self.id),
            "file": format!("/v2/images/{}/file", self.id),
            "schema": "/v2/schemas/image",
            "locations": [],
        });
        let obj = v.as_object_mut().expect("an object");
        for (k, val) in &self.properties {
            obj.insert(k.clone(), Value::String(val.clone()));
        }
        v
    }
}

/// A project an image is shared with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub image_id: String,
    pub member_id: String,
    /// `pending`, `accepted` or `rejected`.
    pub status: String,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

impl Member {
    pub fn to_json(&self) -> Value {
        json!({
            "image_id": self.image_id,
            "member_id": self.member_id,
            "status": self.status,
            "created_at": timestamp(self.created_at_ms),
            "updated_at": timestamp(self.updated_at_ms),
            "schema": "/v2/schemas/member",
        })
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A property value as Glance stores it: strings as they are, anything
/// else as its JSON text.
pub fn property_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The JSON object of extra properties of a create request.
pub fn extra_properties(body: &Map<String, Value>) -> BTreeMap<String, String> {
    body.iter()
        .filter(|(k, _)| !CORE_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), property_text(v)))
        .collect()
}
