//! blockd: block volumes exported over NBD. `nbd/` is the protocol server
//! (handshake, transmission, the export registry); `device.rs` is what an
//! export serves (`BlockDevice`, and `FileDevice`, a sparse local file);
//! `config.rs` and `run` start the server from a TOML file. The volume API
//! and the data path in the object store build on these.

pub mod config;
pub mod device;
pub mod nbd;

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{Config, ExportConfig};

/// Opens the configured exports and serves NBD on `listener` until `shutdown`.
pub async fn run(
    cfg: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let exports = Arc::new(nbd::Exports::default());
    for e in cfg.exports {
        let device = device::FileDevice::open(&e.path, e.size)
            .with_context(|| format!("open export {} at {}", e.name, e.path.display()))?;
        exports.insert(
            e.name,
            nbd::Export {
                device: Arc::new(device),
                read_only: e.read_only,
                description: e.description,
            },
        );
    }
    nbd::serve(listener, exports, shutdown).await;
    Ok(())
}
