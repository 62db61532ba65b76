//! Identity: a Keystone v3 API (`api/`) over RocksDB (`store.rs`) with
//! domains, projects, users (argon2 passwords), roles and assignments,
//! the service catalog, and Ed25519-signed tokens that other services
//! verify on their own with `common::token` (`tokens.rs`), EC2 and other
//! credentials (`credentials.rs`), application credentials
//! (`app_credentials.rs`), groups (`groups.rs`), system and domain roles
//! (`system.rs`, `domain_roles.rs`) and the lockout of users after failed logins
//! (`lockout.rs`). `policy.rs` says who may do what; `bootstrap.rs` makes
//! the admin, the roles and the catalog on start.

pub mod api;
pub mod app_credentials;
pub mod bootstrap;
pub mod catalog;
pub mod credentials;
pub mod directory;
pub mod domain_roles;
pub mod error;
pub mod groups;
pub mod lockout;
pub mod model;
pub mod password;
pub mod policy;
pub mod store;
pub mod system;
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
    /// The secret services present (`X-Service-Secret`) to look up EC2
    /// credentials; unset, no service may.
    pub service_secret: Option<String>,
    /// Failed password logins in a row after which a user is locked out
    /// (Keystone's `lockout_failure_attempts`); 0 turns lockout off.
    pub lockout_failure_attempts: u32,
    /// How long a locked-out user stays locked out, in seconds.
    pub lockout_duration_secs: u64,
    /// A rules file (JSON, `{"identity:action": "rule"}`) overriding the
    /// default policy.
    pub policy_file: Option<std::path::PathBuf>,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 5000)),
            token_ttl_secs: 3600,
            region: "RegionOne".into(),
            service_secret: None,
            lockout_failure_attempts: 6,
            lockout_duration_secs: 300,
            policy_file: None,
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
    /// Failed-login counts and locked-out users.
    pub lockout: lockout::Lockout,
    /// What services present to look up EC2 credentials.
    pub service_secret: Option<String>,
}

impl Identity {
    /// Opens the database in `dir` and loads the signing key and
    /// revocations; `base_url` is where the API is served.
    pub async fn open(dir: &Path, cfg: &FileConfig, base_url: String) -> anyhow::Result<Identity> {
        policy::install(cfg.policy_file.as_deref())?;
        anyhow::ensure!(
            cfg.token_ttl_secs >= 1,
            "identity token_ttl_secs must be at least 1"
        );
        std::fs::create_dir_all(dir)?;
        let store = Store::open(dir)?;
        let tokens = Tokens::load(&store, Duration::from_secs(cfg.token_ttl_secs)).await?;
        anyhow::ensure!(
            cfg.service_secret.as_ref().is_none_or(|s| s.len() >= 16),
            "identity service_secret must be at least 16 characters"
        );
        Ok(Identity {
            store,
            tokens,
            region: cfg.region.clone(),
            base_url,
            lockout: lockout::Lockout::new(
                cfg.lockout_failure_attempts,
                Duration::from_secs(cfg.lockout_duration_secs),
            ),
            service_secret: cfg.service_secret.clone(),
        })
    }
}
