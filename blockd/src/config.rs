//! blockd's configuration: the `[blockd]` table of a TOML file. Exports of
//! local files are always possible; `[blockd.volumes]` adds the volume API
//! and volumes stored in the object store.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// The `[blockd]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address of the NBD server (the IANA port is 10809).
    #[serde(default = "default_bind")]
    pub nbd_bind: SocketAddr,
    /// Devices served, each under its export name.
    #[serde(default)]
    pub exports: Vec<ExportConfig>,
    /// The volume service, if this blockd runs one.
    #[serde(default)]
    pub volumes: Option<VolumesConfig>,
    /// TLS for NBD, if any.
    #[serde(default)]
    pub nbd_tls: Option<crate::nbd::tls::TlsConfig>,
    /// Microseconds an NBD connection busy-polls for its next request
    /// (0: never; 30 if absent).
    #[serde(default)]
    pub nbd_busy_poll_us: Option<u64>,
    /// TCP congestion control of NBD connections (`cubic` if absent;
    /// empty for the system's default).
    #[serde(default)]
    pub nbd_tcp_congestion: Option<String>,
}

/// One export kept in a sparse local file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportConfig {
    pub name: String,
    pub path: PathBuf,
    /// Size in bytes (the file is created sparse, or grown, to this size).
    pub size: u64,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub description: String,
}

/// The volume service: its API, local state and where segments go.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumesConfig {
    /// Address of the volume API (Cinder's port is 8776).
    #[serde(default = "default_api_bind")]
    pub api_bind: SocketAddr,
    /// Journals and metadata live here.
    pub data_dir: PathBuf,
    /// Identity, whose tokens the API accepts (`http://host:5000`).
    pub identity_url: String,
    /// The object store's v1.0 auth URL (`http://host:8080/auth/v1.0`).
    pub object_auth_url: String,
    /// The service user (`account:user`) and key segments are stored as.
    pub object_user: String,
    pub object_key: String,
    /// Container of the segment objects.
    #[serde(default = "default_container")]
    pub segment_container: String,
    /// Storage policy of that container (the store's default if absent).
    #[serde(default)]
    pub segment_policy: Option<String>,
    /// Read cache size, in MiB.
    #[serde(default = "default_cache_mib")]
    pub cache_mib: u64,
    /// Read cache on the local disk (4 MiB chunks of segments), in MiB;
    /// 0 turns it off.
    #[serde(default = "default_disk_cache_mib")]
    pub disk_cache_mib: u64,
    /// The image service volumes may be made from.
    #[serde(default)]
    pub images: Option<ImagesConfig>,
}

/// The image service, and where it keeps image bytes (a raw image's
/// volume shares them).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagesConfig {
    /// The image API (`http://host:9292`).
    pub url: String,
    /// The object store account of image bytes (`AUTH_glance`).
    pub account: String,
    /// Its container of image segment objects (`{image}/{n}`).
    pub container: String,
    /// Its container of clone markers.
    pub clone_container: String,
}

fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 10809))
}

/// The default address of the volume API.
pub fn default_api_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8776))
}

/// The default container of segment objects.
pub fn default_container() -> String {
    "blockd-segments".into()
}

/// The default read cache size (MiB).
pub fn default_cache_mib() -> u64 {
    256
}

/// The default disk read cache size (MiB).
pub fn default_disk_cache_mib() -> u64 {
    2048
}

impl Config {
    /// Reads `[blockd]` from a TOML file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        #[derive(Deserialize)]
        struct Root {
            blockd: Config,
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("read config {}", path.display()))?;
        let root: Root =
            toml::from_str(&text).with_context(|| format!("parse config {}", path.display()))?;
        Ok(root.blockd)
    }
}
