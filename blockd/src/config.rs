//! blockd's configuration: the `[blockd]` table of a TOML file.

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

fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 10809))
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
