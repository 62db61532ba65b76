//! The launcher's configuration: an optional TOML file with an `[objectd]`
//! table (objectd's own format), an `[identity]` table (identity's), an
//! `[imaged]` table (the image service's), a `[blockd]` table (the volume
//! service's addresses and segment storage) and a `[ring]` table for the
//! first start, overridden by command-line flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use serde::Deserialize;

use crate::UpArgs;

/// Shape of the ring made on first start.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RingSettings {
    pub part_power: u32,
    pub replicas: u32,
    pub devices: u32,
    pub min_part_hours: u32,
}

impl Default for RingSettings {
    fn default() -> Self {
        RingSettings {
            part_power: 10,
            replicas: 3,
            devices: 6,
            min_part_hours: 1,
        }
    }
}

/// The volume service of the all-in-one.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlockSettings {
    /// Address of the volume API (Cinder v3).
    pub api_bind: SocketAddr,
    /// Address of the NBD server.
    pub nbd_bind: SocketAddr,
    /// Container of segment objects, in blockd's own account.
    pub segment_container: String,
    /// Storage policy of that container (the store's default if absent).
    pub segment_policy: Option<String>,
    /// Read cache size, in MiB.
    pub cache_mib: u64,
    /// Read cache on the local disk, in MiB (0: none).
    pub disk_cache_mib: u64,
    /// TLS for NBD, if any.
    pub nbd_tls: Option<blockd::nbd::tls::TlsConfig>,
    /// Microseconds an NBD connection busy-polls for its next request.
    pub nbd_busy_poll_us: Option<u64>,
    /// TCP congestion control of NBD connections (empty: the system's).
    pub nbd_tcp_congestion: Option<String>,
}

impl Default for BlockSettings {
    fn default() -> Self {
        BlockSettings {
            api_bind: blockd::config::default_api_bind(),
            nbd_bind: SocketAddr::from(([127, 0, 0, 1], 10809)),
            segment_container: blockd::config::default_container(),
            segment_policy: None,
            cache_mib: blockd::config::default_cache_mib(),
            disk_cache_mib: blockd::config::default_disk_cache_mib(),
            nbd_tls: None,
            nbd_busy_poll_us: None,
            nbd_tcp_congestion: None,
        }
    }
}

/// The launcher's config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    pub objectd: Option<objectd::FileConfig>,
    pub identity: control::identity::FileConfig,
    pub imaged: Option<imaged::Config>,
    pub blockd: BlockSettings,
    pub ring: RingSettings,
}

/// Everything `cairn up` needs, flags applied.
pub struct UpConfig {
    pub data_dir: PathBuf,
    pub objectd: objectd::FileConfig,
    pub identity: control::identity::FileConfig,
    /// The image service; its addresses of identity and the object store,
    /// its data directory and its object-store login are set by `cairn up`.
    pub imaged: imaged::Config,
    pub blockd: BlockSettings,
    pub ring: RingSettings,
}

/// Reads the config file (if any) and applies the flags.
pub fn load(args: &UpArgs) -> anyhow::Result<UpConfig> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("read {}", path.display()))?;
            toml::from_str::<FileConfig>(&text)
                .with_context(|| format!("parse {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let data_dir = std::path::absolute(&args.data_dir).context("resolve data dir")?;
    let mut objectd = file.objectd.unwrap_or_default();
    if let Some(bind) = args.object_bind {
        objectd.bind = bind;
    }
    let mut identity = file.identity;
    if let Some(bind) = args.identity_bind {
        identity.bind = bind;
    }
    let mut imaged = file.imaged.unwrap_or_default();
    if let Some(bind) = args.image_bind {
        imaged.bind = bind;
    }
    let mut blockd = file.blockd;
    if let Some(bind) = args.volume_bind {
        blockd.api_bind = bind;
    }
    if let Some(bind) = args.nbd_bind {
        blockd.nbd_bind = bind;
    }
    let mut ring = file.ring;
    if let Some(p) = args.part_power {
        ring.part_power = p;
    }
    if let Some(r) = args.replicas {
        ring.replicas = r;
    }
    if let Some(d) = args.devices {
        ring.devices = d;
    }
    anyhow::ensure!(
        ring.devices >= 1 && ring.replicas >= 1,
        "need at least one device and one replica"
    );
    Ok(UpConfig {
        data_dir,
        objectd,
        identity,
        imaged,
        blockd,
        ring,
    })
}
