//! blockd: block volumes exported over NBD. `nbd/` is the protocol server
//! (handshake, transmission, the export registry); `device.rs` is what an
//! export serves (`BlockDevice`, and `FileDevice`, a sparse local file);
//! `volume/` is the log-structured data path (journal, extent map,
//! segments in the object store); `store.rs` keeps metadata in RocksDB;
//! `service.rs` is the volume service's core, `attaching.rs` its
//! attachments and `api/` its Cinder v3 API;
//! `images.rs` reaches the image service and `from_image.rs` makes volumes
//! from images; `config.rs` and `run` start it all from a TOML file.

pub mod api;
pub mod attaching;
pub mod config;
pub mod device;
pub mod from_image;
pub mod images;
pub mod nbd;
pub mod records;
pub mod service;
pub mod store;
pub mod volume;

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{Config, ExportConfig, ImagesConfig, VolumesConfig};

/// Opens the configured exports (and the volume service, if configured)
/// and serves NBD on `listener` until `shutdown`.
pub async fn run(
    cfg: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let exports = Arc::new(nbd::Exports::default());
    let options = nbd_options(NbdTuning {
        tls: cfg.nbd_tls.as_ref(),
        busy_poll_us: cfg.nbd_busy_poll_us,
        tcp_congestion: cfg.nbd_tcp_congestion.as_deref(),
    })?;
    for e in cfg.exports {
        let device = device::FileDevice::open(&e.path, e.size)
            .with_context(|| format!("open export {} at {}", e.name, e.path.display()))?;
        exports.insert(
            e.name,
            nbd::Export::new(Arc::new(device), e.read_only, e.description),
        );
    }
    match cfg.volumes {
        Some(v) => {
            let api = TcpListener::bind(v.api_bind)
                .await
                .with_context(|| format!("bind volume API {}", v.api_bind))?;
            tracing::info!(addr = %api.local_addr()?, "volume API listening");
            run_volumes(v, api, listener, exports, options, shutdown).await
        }
        None => {
            nbd::serve(listener, exports, options, shutdown).await;
            Ok(())
        }
    }
}

/// Longest busy polling the configuration may ask for, in microseconds.
const MAX_BUSY_POLL_US: u64 = 1000;

/// How the `[blockd]` table tunes the NBD server.
#[derive(Clone, Copy, Default)]
pub struct NbdTuning<'a> {
    pub tls: Option<&'a nbd::tls::TlsConfig>,
    /// Microseconds of busy polling (the default if absent).
    pub busy_poll_us: Option<u64>,
    /// Congestion control of connections (`DEFAULT_TCP_CONGESTION` if
    /// absent; empty for the system's default).
    pub tcp_congestion: Option<&'a str>,
}

/// The NBD server's options: default limits (busy polling as given, in
/// microseconds), TLS if configured, and the congestion control, which
/// must be one the system allows if named (the default is left out,
/// with a warning, if it is not).
pub fn nbd_options(tuning: NbdTuning<'_>) -> anyhow::Result<nbd::Options> {
    let mut limits = nbd::Limits::default();
    if let Some(us) = tuning.busy_poll_us {
        // Longer would spin a core for nothing between requests.
        anyhow::ensure!(
            us <= MAX_BUSY_POLL_US,
            "nbd_busy_poll_us is {us}; at most {MAX_BUSY_POLL_US} makes sense"
        );
        limits.busy_poll = std::time::Duration::from_micros(us);
    }
    let tcp_congestion = match tuning.tcp_congestion {
        Some("") => None,
        Some(name) => {
            nbd::tcp_congestion_available(name)
                .with_context(|| format!("nbd_tcp_congestion {name:?}"))?;
            Some(name)
        }
        None => match nbd::tcp_congestion_available(nbd::DEFAULT_TCP_CONGESTION) {
            Ok(()) => Some(nbd::DEFAULT_TCP_CONGESTION),
            Err(e) => {
                let name = nbd::DEFAULT_TCP_CONGESTION;
                tracing::warn!(
                    "NBD connections keep the system's congestion control ({name}: {e})"
                );
                None
            }
        },
    };
    Ok(nbd::Options {
        limits,
        tls: tuning
            .tls
            .map(nbd::tls::Tls::load)
            .transpose()?
            .map(Arc::new),
        tcp_congestion: tcp_congestion.map(Arc::from),
    })
}

/// Runs the volume service: the API on `api`, NBD on `nbd` (serving
/// `exports` and attached volumes), and the packer and cleaner, until
/// `shutdown`. Nothing is asked of the object store before it is needed.
pub async fn run_volumes(
    cfg: VolumesConfig,
    api: TcpListener,
    nbd: TcpListener,
    exports: Arc<nbd::Exports>,
    nbd_options: nbd::Options,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let client =
        common::swift::SwiftClient::new(&cfg.object_auth_url, &cfg.object_user, &cfg.object_key);
    let segments = Arc::new(volume::segments::SwiftSegments::new(
        client,
        cfg.segment_container.clone(),
        cfg.segment_policy.clone(),
    ));
    let service = service::BlockService::open(
        cfg.data_dir.clone(),
        segments,
        (cfg.cache_mib as usize) << 20,
        cfg.disk_cache_mib << 20,
        exports.clone(),
        service::NbdEndpoint {
            addr: nbd.local_addr()?,
            tls: nbd_options.tls.is_some(),
        },
        cfg.images.clone().map(images::Images::new),
    )
    .await
    .context("open the volume service")?;
    let verifier = common::token_verifier::RemoteVerifier::new(&cfg.identity_url)?;
    let refresh = tokio::spawn(verifier.clone().refresh_loop(shutdown.clone()));
    let background = tokio::spawn(service.clone().run_background(shutdown.clone()));
    let nbd_task = tokio::spawn(nbd::serve(nbd, exports, nbd_options, shutdown.clone()));
    let state = Arc::new(api::VolumeApi { service, verifier });
    common::http::serve(
        api,
        move |req| api::handle(state.clone(), req),
        shutdown.clone(),
    )
    .await;
    nbd_task.await.context("NBD server task")?;
    background.await.context("volume background task")?;
    refresh.await.context("token refresh task")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn busy_polling_is_bounded_by_the_configuration() {
        let busy = |us| super::NbdTuning {
            busy_poll_us: us,
            ..Default::default()
        };
        let off = super::nbd_options(busy(Some(0))).unwrap();
        assert!(off.limits.busy_poll.is_zero());
        assert_eq!(
            super::nbd_options(busy(None)).unwrap().limits.busy_poll,
            super::nbd::Limits::default().busy_poll
        );
        let e = super::nbd_options(busy(Some(5_000)))
            .err()
            .expect("refused");
        assert!(e.to_string().contains("at most 1000"), "{e}");
    }

    #[test]
    fn congestion_control_is_the_default_the_system_s_or_a_known_one() {
        let cc = |name| super::NbdTuning {
            tcp_congestion: name,
            ..Default::default()
        };
        let default = super::nbd_options(cc(None)).unwrap().tcp_congestion;
        assert_eq!(default.as_deref(), Some(super::nbd::DEFAULT_TCP_CONGESTION));
        assert!(super::nbd_options(cc(Some("")))
            .unwrap()
            .tcp_congestion
            .is_none());
        let reno = super::nbd_options(cc(Some("reno"))).unwrap().tcp_congestion;
        assert_eq!(reno.as_deref(), Some("reno"));
        let e = super::nbd_options(cc(Some("no-such-algorithm")))
            .err()
            .expect("refused");
        assert!(format!("{e:#}").contains("no-such-algorithm"), "{e:#}");
    }
}
