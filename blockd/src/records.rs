//! The volume service's records, as stored (JSON in RocksDB): volumes,
//! their attachments, and snapshots. The API renders them in Cinder's
//! shapes; these are the on-disk format (version 1).

use serde::{Deserialize, Serialize};

/// A volume.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Size in GiB.
    pub size: u64,
    /// `creating`, `available`, `in-use`, `extending`, `deleting`, `error`.
    pub status: String,
    pub volume_type: String,
    pub snapshot_id: Option<String>,
    pub source_volid: Option<String>,
    pub created_at: String,
    pub updated_at: Option<String>,
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub bootable: bool,
    /// What the image it was made from was (Cinder's `volume_image_metadata`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_metadata: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub attachments: Vec<AttachmentRecord>,
}

impl VolumeRecord {
    pub fn bytes(&self) -> u64 {
        self.size << 30
    }

    /// Whether an attachment holds the volume (a server uses it).
    pub fn in_use(&self) -> bool {
        self.attachments.iter().any(|a| a.status == "attached")
    }
}

/// An attachment: who uses the volume and the NBD export serving it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AttachmentRecord {
    pub id: String,
    pub volume_id: String,
    pub instance_uuid: Option<String>,
    pub host_name: Option<String>,
    pub mountpoint: Option<String>,
    /// `reserved`, `attaching` (connection made, not yet attached) or `attached`.
    pub status: String,
    pub read_only: bool,
    /// The unguessable export name, while a connection is open.
    pub export_name: Option<String>,
    pub attached_at: Option<String>,
}

impl AttachmentRecord {
    /// A new attachment of `volume_id` in `status`, with a fresh id and no
    /// server, host, export or attach time yet.
    pub fn new(volume_id: &str, status: &str, read_only: bool) -> AttachmentRecord {
        AttachmentRecord {
            id: new_uuid(),
            volume_id: volume_id.to_string(),
            instance_uuid: None,
            host_name: None,
            mountpoint: None,
            status: status.to_string(),
            read_only,
            export_name: None,
            attached_at: None,
        }
    }
}

/// A snapshot: a frozen extent map of its volume.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SnapshotRecord {
    pub id: String,
    pub volume_id: String,
    pub project_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub size: u64,
    pub status: String,
    pub created_at: String,
    pub updated_at: Option<String>,
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// A random UUID (version 4) in its text form.
pub fn new_uuid() -> String {
    common::ids::uuid4()
}

/// Now, as Cinder prints times (`2026-11-25T16:24:50.000000`).
pub fn now_text() -> String {
    common::token::iso8601(common::token::now_ms())
        .trim_end_matches('Z')
        .to_string()
}
