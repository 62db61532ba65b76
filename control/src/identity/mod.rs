//! Identity: a Keystone v3 API (`api/`) over RocksDB (`store.rs`) with
//! domains, projects, users (argon2 passwords), roles and assignments,
//! the service catalog, and Ed25519-signed tokens that other services
//! verify on their own with `common::token` (`tokens.rs`). `policy.rs` says
//! who may do what; `bootstrap.rs` makes the admin, the roles and the
//! catalog on start.

pub mod api;
pub mod bootstrap;
pub mod catalog;
pub mod directory;
pub mod error;
pub mod model;
pub mod password;
pub mod policy;
pub mod store;
pub mod tokens;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use store::Store;
use tokens::Tokens;

/// The `[identity]` table of the launcher's config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// Listener address; port 0 picks a free one.
    pub bind: SocketAddr,
    /// Lifetime of a new token.
    pub token_ttl_secs: u64,
    /// The region of the catalog's endpoints.
    pub region: String,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 5000)),
            token_ttl_secs: 3600,
            region: "RegionOne".into(),
        }
    }
}

/// The identity service's state, shared by every request.
pub struct Identity {
    pub store: Store,
    pub tokens: Tokens,
    /// The region of bootstrapped endpoints.
    pub region: String,
    /// The public URL of the v3 API, without a trailing slash
    /// (`http://127.0.0.1:5000/v3`); links are built from it.
    pub base_url: String,
}

impl Identity {
    /// Opens the database in `dir` and loads the signing key and
    /// revocations; `base_url` is where the API is served.
    pub async fn open(dir: &Path, cfg: &FileConfig, base_url: String) -> anyhow::Result<Identity> {
        anyhow::ensure!(
            cfg.token_ttl_secs >= 1,
            "identity token_ttl_secs must be at least 1"
        );
        std::fs::create_dir_all(dir)?;
        let store = Store::open(dir)?;
        let tokens = Tokens::load(&store, Duration::from_secs(cfg.token_ttl_secs)).await?;
        Ok(Identity {
            store,
            tokens,
            region: cfg.region.clone(),
            base_url,
        })
    }
}
