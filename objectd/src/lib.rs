//! objectd: a Swift-compatible object store. Rings place accounts,
//! containers and objects on devices (`ring`); storage nodes keep them
//! (`store`); the proxy fans requests out over replicas (`proxy`); the HTTP
//! front end speaks Swift v1 (`api`); background daemons keep data whole
//! (`daemons`). `run` starts it all.

pub mod api;
pub mod config;
pub mod daemons;
pub mod ec;
pub mod node;
pub mod policy;
pub mod proxy;
pub mod ring;
pub mod ring_reload;
pub mod store;
pub mod timestamp;

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use config::{Config, FileConfig};

/// The sockets a process serves: the Swift API (proxy role) and the
/// storage protocol (storage role, when other hosts reach its devices).
#[derive(Default)]
pub struct Listeners {
    pub proxy: Option<TcpListener>,
    pub storage: Option<TcpListener>,
}

/// Opens the devices this host holds, then serves the Swift API and the
/// storage protocol on `listeners` and runs the background daemons (storage
/// role) until `shutdown`.
pub async fn run(
    cfg: Config,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let cluster = Arc::new(proxy::Cluster::with_policies(
        cfg.policies.clone(),
        cfg.max_object_size,
    ));
    for policy in cfg.policies.all() {
        let path = cfg.ring_path(policy.index);
        let ring =
            ring::Ring::load(&path).with_context(|| format!("load ring {}", path.display()))?;
        if let Some(ec) = &policy.ec {
            anyhow::ensure!(
                ring.replicas() as usize == ec.width(),
                "ring {} has {} replicas; policy {} needs {}",
                path.display(),
                ring.replicas(),
                policy.name,
                ec.width()
            );
        }
        let devices = ring_reload::open_local_devices(&ring, policy.index, &cfg, |_| false).await?;
        info!(
            policy = %policy.name,
            devices = devices.len(),
            part_power = ring.part_power(),
            replicas = ring.replicas(),
            proxy = cfg.proxy,
            storage = cfg.storage,
            "object store opened"
        );
        cluster.install(policy.index, ring, devices);
    }
    let stats = Arc::new(daemons::Stats::default());
    let mut tasks = if cfg.storage {
        daemons::spawn(
            cluster.clone(),
            cfg.daemons.clone(),
            stats.clone(),
            shutdown.clone(),
        )
    } else {
        tokio::task::JoinSet::new()
    };
    tasks.spawn(ring_reload::watch(
        cluster.clone(),
        cfg.clone(),
        shutdown.clone(),
    ));
    if let Some(listener) = listeners.storage {
        let state = Arc::new(node::server::StorageState {
            cluster: cluster.clone(),
            stats: stats.clone(),
        });
        tasks.spawn(common::http::serve(
            listener,
            move |req| {
                let state = state.clone();
                async move { node::server::handle(&state, req).await }
            },
            shutdown.clone(),
        ));
    }
    if let Some(listener) = listeners.proxy {
        let keystone = match &cfg.identity_url {
            Some(url) => Some(api::keystone::KeystoneAuth::new(
                url,
                cfg.identity_service_secret.clone(),
            )?),
            None => None,
        };
        if let Some(k) = &keystone {
            tasks.spawn(k.verifier().refresh_loop(shutdown.clone()));
        }
        let users = if cfg.tempauth {
            cfg.users.clone()
        } else {
            Vec::new()
        };
        let app = Arc::new(api::App {
            cluster,
            auth: api::auth::TempAuth::new(users, cfg.token_ttl),
            keystone,
            s3: api::s3::S3Config {
                keys: api::s3::keys::S3Keys::new(cfg.s3_keys.clone()),
                domains: cfg.s3_domains.clone(),
                signing_keys: Default::default(),
            },
            stats,
        });
        tasks.spawn(api::serve(listener, app, shutdown));
    }
    while tasks.join_next().await.is_some() {}
    info!("object store stopped");
    Ok(())
}
