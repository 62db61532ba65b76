//! The data directory of the all-in-one: `devices/d0..dN` (object devices),
//! `rings/object.ring`, `identity/` (identity's database), `blockd/`
//! (volume journals and metadata) and `credentials.toml` (the admin's
//! Swift key, S3 key pair and identity password, the secret objectd
//! presents to identity and the volume service's object store key;
//! generated on first start and kept, mode 0600).

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::config::UpConfig;
use objectd::api::auth::UserConfig;
use objectd::policy::{PolicyConfig, PolicyType};
use objectd::ring::{DeviceSpec, RingBuilder};

/// The object-store account (and v1.0 user) of the image service.
pub const IMAGE_ACCOUNT: &str = "glance";

/// The admin user of the v1.0 auth, the admin's S3 key pair and the
/// identity admin's password.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Credentials {
    pub account: String,
    pub user: String,
    pub key: String,
    /// Absent in data directories made before S3; generated then.
    #[serde(default)]
    pub s3_access_key: String,
    #[serde(default)]
    pub s3_secret_key: String,
    /// The password of the identity `admin` user (added to older files on start).
    #[serde(default)]
    pub os_password: String,
    /// What the object store presents to identity to look up EC2
    /// credentials (added to older files on start).
    #[serde(default)]
    pub service_secret: String,
    /// The image service's key for its object-store account (added to
    /// older files on start).
    #[serde(default)]
    pub image_key: String,
    /// The key of the volume service's object store user (added to older
    /// files on start).
    #[serde(default)]
    pub blockd_key: String,
}

/// The object store account and user the volume service stores segments as.
pub const BLOCKD_ACCOUNT: &str = "blockd";
pub const BLOCKD_USER: &str = "volumes";

/// Loads the admin credentials, generating them on first start (and the S3
/// key pair on the first start that lacks one).
pub fn credentials(dir: &Path) -> anyhow::Result<Credentials> {
    let path = dir.join("credentials.toml");
    let mut creds = if path.exists() {
        let text = std::fs::read_to_string(&path).context("read credentials")?;
        let creds: Credentials = toml::from_str(&text).context("parse credentials")?;
        if !creds.s3_access_key.is_empty()
            && !creds.s3_secret_key.is_empty()
            && !creds.os_password.is_empty()
            && !creds.service_secret.is_empty()
            && !creds.image_key.is_empty()
            && !creds.blockd_key.is_empty()
        {
            return Ok(creds);
        }
        creds
    } else {
        Credentials {
            account: "admin".into(),
            user: "admin".into(),
            key: hex::encode(rand::random::<[u8; 24]>()),
            s3_access_key: String::new(),
            s3_secret_key: String::new(),
            os_password: String::new(),
            service_secret: String::new(),
            image_key: String::new(),
            blockd_key: String::new(),
        }
    };
    if creds.image_key.is_empty() {
        creds.image_key = hex::encode(rand::random::<[u8; 24]>());
    }
    if creds.s3_access_key.is_empty() || creds.s3_secret_key.is_empty() {
        creds.s3_access_key = hex::encode_upper(rand::random::<[u8; 10]>());
        creds.s3_secret_key = hex::encode(rand::random::<[u8; 20]>());
    }
    if creds.os_password.is_empty() {
        creds.os_password = hex::encode(rand::random::<[u8; 24]>());
    }
    if creds.service_secret.is_empty() {
        creds.service_secret = hex::encode(rand::random::<[u8; 24]>());
    }
    if creds.blockd_key.is_empty() {
        creds.blockd_key = hex::encode(rand::random::<[u8; 24]>());
    }
    let tmp = dir.join("credentials.toml.tmp");
    let mut f = crate::openrc::open_private(&tmp)?;
    f.write_all(toml::to_string(&creds)?.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path).context("install credentials")?;
    Ok(creds)
}

/// The policies `cairn up` offers: `replicated` (policy 0, the default)
/// and, with at least six devices, `ec42` (Reed–Solomon 4+2, 1 MiB segments).
fn default_policies(devices: u32) -> Vec<PolicyConfig> {
    let mut list = vec![PolicyConfig {
        index: 0,
        name: "replicated".into(),
        aliases: vec!["Policy-0".into()],
        policy_type: PolicyType::Replication,
        default: true,
        ec_k: 0,
        ec_m: 0,
        ec_segment_size: 1 << 20,
    }];
    if devices >= 6 {
        list.push(PolicyConfig {
            index: 1,
            name: "ec42".into(),
            aliases: Vec::new(),
            policy_type: PolicyType::ErasureCoding,
            default: false,
            ec_k: 4,
            ec_m: 2,
            ec_segment_size: 1 << 20,
        });
    }
    list
}

/// objectd's validated config for this data directory, using identity at
/// `identity_url` with `service_secret` unless the config names others;
/// makes the ring on first start. The admin's S3 key pair is not a
/// configured key: it is the admin's EC2 credential in identity.
pub fn object_config(
    cfg: &UpConfig,
    creds: &Credentials,
    identity_url: &str,
    service_secret: &str,
) -> anyhow::Result<objectd::Config> {
    let rings = cfg.data_dir.join("rings");
    std::fs::create_dir_all(&rings)?;
    let ring_path = rings.join("object.ring");
    if !ring_path.exists() {
        let r = &cfg.ring;
        let mut builder = RingBuilder::new(r.part_power, r.replicas, r.min_part_hours)?;
        for i in 0..r.devices {
            builder.add_device(DeviceSpec {
                region: 1,
                zone: i % r.replicas.max(1) + 1,
                host: "127.0.0.1:6200".into(),
                device: format!("d{i}"),
                weight: 100.0,
            })?;
        }
        builder.rebalance()?;
        builder.save(&ring_path)?;
    }
    let mut file = cfg.objectd.clone();
    if file.policies.is_empty() {
        file.policies = default_policies(cfg.ring.devices);
    }
    for p in &file.policies {
        if p.policy_type != PolicyType::ErasureCoding {
            continue;
        }
        let path = objectd::policy::ring_path(&ring_path, p.index);
        if path.exists() {
            continue;
        }
        let r = &cfg.ring;
        let width = (p.ec_k + p.ec_m) as u32;
        let mut builder = RingBuilder::new(r.part_power, width, r.min_part_hours)?;
        for i in 0..r.devices {
            builder.add_device(DeviceSpec {
                region: 1,
                zone: i % width.max(1) + 1,
                host: "127.0.0.1:6200".into(),
                device: format!("d{i}"),
                weight: 100.0,
            })?;
        }
        builder.rebalance()?;
        builder.save(&path)?;
    }
    file.ring = ring_path;
    file.devices_dir = cfg.data_dir.join("devices");
    file.local_hosts.clear();
    file.users
        .retain(|u| !(u.account == creds.account && u.user == creds.user));
    file.users.push(UserConfig {
        account: creds.account.clone(),
        user: creds.user.clone(),
        key: creds.key.clone(),
        groups: vec![".admin".into(), ".reseller_admin".into()],
    });
    file.users
        .retain(|u| !(u.account == IMAGE_ACCOUNT && u.user == IMAGE_ACCOUNT));
    file.users.push(UserConfig {
        account: IMAGE_ACCOUNT.into(),
        user: IMAGE_ACCOUNT.into(),
        key: creds.image_key.clone(),
        groups: vec![".admin".into()],
    });
    file.users
        .retain(|u| !(u.account == BLOCKD_ACCOUNT && u.user == BLOCKD_USER));
    file.users.push(UserConfig {
        account: BLOCKD_ACCOUNT.into(),
        user: BLOCKD_USER.into(),
        key: creds.blockd_key.clone(),
        groups: vec![".admin".into()],
    });
    file.s3_keys.retain(|k| k.access_key != creds.s3_access_key);
    file.identity_url
        .get_or_insert_with(|| identity_url.to_string());
    file.identity_service_secret
        .get_or_insert_with(|| service_secret.to_string());
    file.validate()
}

/// The image service's config for this data directory: records in
/// `DATA_DIR/images`, bytes in the object store's `glance` account.
pub fn image_config(
    cfg: &UpConfig,
    creds: &Credentials,
    identity_addr: std::net::SocketAddr,
    object_addr: std::net::SocketAddr,
) -> imaged::Config {
    imaged::Config {
        data_dir: cfg.data_dir.join("images"),
        identity_url: format!("http://{identity_addr}"),
        object_auth_url: format!("http://{object_addr}/auth/v1.0"),
        object_user: format!("{IMAGE_ACCOUNT}:{IMAGE_ACCOUNT}"),
        object_key: creds.image_key.clone(),
        clone_accounts: vec![BLOCKD_ACCOUNT.to_string()],
        ..cfg.imaged.clone()
    }
}
