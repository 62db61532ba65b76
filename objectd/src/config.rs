//! objectd's configuration: the TOML file (`FileConfig`) and the validated
//! form the service runs with (`Config`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::api::auth::UserConfig;
use crate::api::s3::keys::S3KeyConfig;
use crate::api::swift::constraints::MAX_FILE_SIZE;
use crate::policy::{Policies, PolicyConfig};

/// What a process of objectd does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The Swift API: maps requests to devices and fans them out.
    Proxy,
    /// The account, container and object servers of this host's devices,
    /// and the daemons that keep them whole.
    Storage,
}

/// The `[objectd]` table of a config file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// What this process runs: `proxy`, `storage` or both (the default).
    pub roles: Vec<Role>,
    /// Address of the proxy (Swift API).
    pub bind: SocketAddr,
    /// Address of the storage server that other hosts reach this host's
    /// devices on (as the ring names it). Unset: devices are only used in
    /// this process (a single-process store).
    pub storage_bind: Option<SocketAddr>,
    /// The ring file.
    pub ring: PathBuf,
    /// Directory holding one subdirectory per device, named as in the ring.
    pub devices_dir: PathBuf,
    /// Ring hosts (`ip:port`) whose devices are on this machine; empty means
    /// `storage_bind` if set, else every device of the ring.
    pub local_hosts: Vec<String>,
    /// Largest object in bytes.
    pub max_object_size: u64,
    /// Lifetime of v1.0 auth tokens, in seconds.
    pub token_ttl_secs: u64,
    /// Seconds between expirer passes.
    pub expirer_interval_secs: u64,
    /// Seconds between replicator passes.
    pub replicator_interval_secs: u64,
    /// Bytes per second the replicator may move (0: unlimited).
    pub replicator_bytes_per_sec: u64,
    /// Seconds between updater passes (async pendings).
    pub updater_interval_secs: u64,
    /// Seconds between auditor passes.
    pub auditor_interval_secs: u64,
    /// Bytes per second the auditor may read (0: unlimited).
    pub auditor_bytes_per_sec: u64,
    /// Seconds after which tombstones are removed (Swift's reclaim_age).
    pub reclaim_age_secs: u64,
    /// Users of the v1.0 auth.
    pub users: Vec<UserConfig>,
    /// S3 access/secret key pairs (`[[objectd.s3_keys]]`).
    pub s3_keys: Vec<S3KeyConfig>,
    /// Domains under which `bucket.<domain>` addresses a bucket
    /// (virtual-hosted-style S3).
    pub s3_domains: Vec<String>,
    /// Storage policies (`[[objectd.policies]]`); none means policy 0,
    /// replicated, alone.
    pub policies: Vec<PolicyConfig>,
    /// Whether Swift's v1.0 auth (`users`, `/auth/v1.0`) is served.
    pub tempauth: bool,
    /// Identity's URL (`http://host:port`): its tokens are accepted and S3
    /// keys not in `s3_keys` are looked up there as EC2 credentials.
    pub identity_url: Option<String>,
    /// The secret shared with identity for EC2 credential lookups.
    pub identity_service_secret: Option<String>,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            roles: vec![Role::Proxy, Role::Storage],
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            storage_bind: None,
            ring: PathBuf::from("object.ring"),
            devices_dir: PathBuf::from("devices"),
            local_hosts: Vec::new(),
            max_object_size: MAX_FILE_SIZE,
            token_ttl_secs: 86_400,
            expirer_interval_secs: 30,
            replicator_interval_secs: 30,
            updater_interval_secs: 30,
            replicator_bytes_per_sec: 200 * 1024 * 1024,
            auditor_interval_secs: 60,
            auditor_bytes_per_sec: 20 * 1024 * 1024,
            reclaim_age_secs: 7 * 86_400,
            users: Vec::new(),
            s3_keys: Vec::new(),
            s3_domains: vec!["localhost".to_string()],
            policies: Vec::new(),
            tempauth: true,
            identity_url: None,
            identity_service_secret: None,
        }
    }
}

/// Validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub proxy: bool,
    pub storage: bool,
    pub bind: SocketAddr,
    pub storage_bind: Option<SocketAddr>,
    pub ring: PathBuf,
    pub devices_dir: PathBuf,
    pub local_hosts: Vec<String>,
    pub max_object_size: u64,
    pub token_ttl: Duration,
    pub daemons: crate::daemons::Settings,
    pub users: Vec<UserConfig>,
    pub s3_keys: Vec<S3KeyConfig>,
    pub s3_domains: Vec<String>,
    pub policies: Arc<Policies>,
    pub tempauth: bool,
    pub identity_url: Option<String>,
    pub identity_service_secret: Option<String>,
}

impl Config {
    /// The ring file of a storage policy.
    pub fn ring_path(&self, policy: u32) -> PathBuf {
        crate::policy::ring_path(&self.ring, policy)
    }
}

impl FileConfig {
    /// Reads `[objectd]` from a TOML file.
    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        #[derive(Deserialize)]
        struct Root {
            objectd: FileConfig,
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("read config {}", path.display()))?;
        let root: Root =
            toml::from_str(&text).with_context(|| format!("parse config {}", path.display()))?;
        Ok(root.objectd)
    }

    /// Checks ranges and makes the validated form.
    pub fn validate(self) -> anyhow::Result<Config> {
        if self.max_object_size == 0 {
            bail!("max_object_size must be positive");
        }
        if self.token_ttl_secs == 0 {
            bail!("token_ttl_secs must be positive");
        }
        for u in &self.users {
            if u.account.is_empty()
                || u.user.is_empty()
                || u.key.is_empty()
                || u.account.contains(['/', ':'])
                || u.user.contains(':')
            {
                bail!("invalid user entry for {}:{}", u.account, u.user);
            }
        }
        if self.roles.is_empty() {
            bail!("roles must name proxy, storage or both");
        }
        let storage = self.roles.contains(&Role::Storage);
        let mut local_hosts = self.local_hosts;
        if local_hosts.is_empty() {
            if let Some(addr) = self.storage_bind {
                local_hosts.push(addr.to_string());
            }
        }
        if storage && !self.roles.contains(&Role::Proxy) && self.storage_bind.is_none() {
            bail!("a storage-only process needs storage_bind");
        }
        if let Some(url) = &self.identity_url {
            common::identity_http::IdentityHttp::new(url).context("identity_url")?;
        }
        let mut seen = std::collections::HashSet::new();
        for k in &self.s3_keys {
            if k.access_key.is_empty()
                || k.secret_key.is_empty()
                || k.account.is_empty()
                || k.account.contains(['/', ':'])
            {
                bail!("invalid s3 key entry for {:?}", k.access_key);
            }
            if !seen.insert(k.access_key.as_str()) {
                bail!("s3 access key {:?} is configured twice", k.access_key);
            }
        }
        Ok(Config {
            proxy: self.roles.contains(&Role::Proxy),
            storage,
            bind: self.bind,
            storage_bind: self.storage_bind,
            ring: self.ring,
            devices_dir: self.devices_dir,
            local_hosts,
            max_object_size: self.max_object_size,
            token_ttl: Duration::from_secs(self.token_ttl_secs),
            daemons: crate::daemons::Settings {
                replicator_interval: Duration::from_secs(self.replicator_interval_secs.max(1)),
                replicator_bytes_per_sec: self.replicator_bytes_per_sec,
                auditor_interval: Duration::from_secs(self.auditor_interval_secs.max(1)),
                auditor_bytes_per_sec: self.auditor_bytes_per_sec,
                expirer_interval: Duration::from_secs(self.expirer_interval_secs.max(1)),
                updater_interval: Duration::from_secs(self.updater_interval_secs.max(1)),
                reclaim_age: Duration::from_secs(self.reclaim_age_secs),
            },
            users: self.users,
            s3_keys: self.s3_keys,
            s3_domains: self.s3_domains,
            policies: Arc::new(Policies::from_config(&self.policies)?),
            tempauth: self.tempauth,
            identity_url: self.identity_url,
            identity_service_secret: self.identity_service_secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_unknown_fields() {
        let cfg: FileConfig =
            toml::from_str("bind = \"127.0.0.1:0\"\nring = \"r\"\n").expect("valid");
        assert_eq!(cfg.bind.port(), 0);
        assert!(toml::from_str::<FileConfig>("bnd = 1").is_err());
        let bad = FileConfig {
            users: vec![UserConfig {
                account: "a:b".into(),
                user: "u".into(),
                key: "k".into(),
                groups: vec![],
            }],
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        let key = |ak: &str| S3KeyConfig {
            access_key: ak.into(),
            secret_key: "s".into(),
            account: "a".into(),
            admin: true,
        };
        let twice = FileConfig {
            s3_keys: vec![key("AK"), key("AK")],
            ..Default::default()
        };
        assert!(twice.validate().is_err());
        let cfg: FileConfig = toml::from_str(
            "[[s3_keys]]\naccess_key = \"AK\"\nsecret_key = \"s\"\naccount = \"a\"\nadmin = true\n",
        )
        .expect("valid");
        assert_eq!(cfg.validate().expect("valid").s3_keys, vec![key("AK")]);
    }
}
