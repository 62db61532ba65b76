//! imaged's configuration (the `[imaged]` table).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where imaged listens, keeps its records and stores image bytes.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address of the image API.
    pub bind: SocketAddr,
    /// Directory of the image records database.
    pub data_dir: PathBuf,
    /// Identity's URL (`http://host:port`), whose tokens are checked.
    pub identity_url: String,
    /// The object store's v1.0 auth URL (`http://host:port/auth/v1.0`).
    pub object_auth_url: String,
    /// The object store user (`account:user`) and key of the service.
    pub object_user: String,
    pub object_key: String,
    /// Container of image bytes in the service's account.
    pub container: String,
    /// Storage policy of that container when it is created (default policy if unset).
    pub storage_policy: Option<String>,
    /// Accounts (`AUTH_x` without the prefix) of services that share
    /// image bytes, as the volume service does for volumes cloned from
    /// images: they may read the image container and mark clones in
    /// `clone_container`.
    pub clone_accounts: Vec<String>,
    /// Container of clone markers: an object `{image}/...` there means
    /// the image's bytes are in use, and the image cannot be deleted.
    pub clone_container: String,
    /// Bytes per segment object of an image.
    pub segment_size: u64,
    /// Largest image accepted, in bytes.
    pub max_image_size: u64,
    /// A rules file (JSON, `{"action": "rule"}`) overriding the default
    /// policy (`api::DEFAULT_RULES`, Glance's action names).
    pub policy_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 9292)),
            data_dir: PathBuf::from("images"),
            identity_url: "http://127.0.0.1:5000".into(),
            object_auth_url: "http://127.0.0.1:8080/auth/v1.0".into(),
            object_user: "glance:glance".into(),
            object_key: String::new(),
            container: "images".into(),
            storage_policy: None,
            clone_accounts: Vec::new(),
            clone_container: "image-clones".into(),
            segment_size: 1 << 30,
            max_image_size: 1 << 40,
            policy_file: None,
        }
    }
}
