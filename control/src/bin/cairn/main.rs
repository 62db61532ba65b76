//! `cairn up --data-dir DIR`: the all-in-one launcher. It lays out the data
//! directory on first start (devices, ring, admin credentials), starts every
//! service (object store, identity, images, volumes with their NBD
//! server) in this process on 127.0.0.1 (the object store accepting
//! identity's tokens and EC2 keys; the image and volume services storing
//! their bytes in the object store as their own users), writes
//! `DIR/openrc` and `DIR/clouds.yaml` once they answer,
//! logs `ready`, and stops cleanly on SIGINT or SIGTERM.

mod config;
mod layout;
mod openrc;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing::info;

#[derive(Parser)]
#[command(name = "cairn", about = "Cairn all-in-one cloud appliance")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start every service in one process.
    Up(UpArgs),
}

/// Flags of `cairn up`; each overrides the config file.
#[derive(Args, Debug)]
pub struct UpArgs {
    /// Where devices, rings, credentials and `openrc` live.
    #[arg(long, env = "CAIRN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// A TOML config file (see README).
    #[arg(long, env = "CAIRN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address of the object service (Swift API); port 0 picks a free one.
    #[arg(long)]
    pub object_bind: Option<std::net::SocketAddr>,
    /// Address of the identity service (Keystone v3); port 0 picks a free one.
    #[arg(long)]
    pub identity_bind: Option<std::net::SocketAddr>,
    /// Address of the image service (Glance v2); port 0 picks a free one.
    #[arg(long)]
    pub image_bind: Option<std::net::SocketAddr>,
    /// Address of the volume API (Cinder v3); port 0 picks a free one.
    #[arg(long)]
    pub volume_bind: Option<std::net::SocketAddr>,
    /// Address of the NBD server; port 0 picks a free one.
    #[arg(long)]
    pub nbd_bind: Option<std::net::SocketAddr>,
    /// Ring partition power (first start only).
    #[arg(long)]
    pub part_power: Option<u32>,
    /// Replica count (first start only).
    #[arg(long)]
    pub replicas: Option<u32>,
    /// Number of device directories (first start only).
    #[arg(long)]
    pub devices: Option<u32>,
}

fn main() -> anyhow::Result<()> {
    let Command::Up(args) = Cli::parse().command;
    common::telemetry::init();
    let rt = tokio::runtime::Runtime::new().context("start runtime")?;
    rt.block_on(up(args))
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let mut cfg = config::load(&args)?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("create {}", cfg.data_dir.display()))?;
    openrc::remove(&cfg.data_dir)?;
    let creds = layout::credentials(&cfg.data_dir)?;
    let service_secret = cfg
        .identity
        .service_secret
        .get_or_insert_with(|| creds.service_secret.clone())
        .clone();
    let identity_listener = tokio::net::TcpListener::bind(cfg.identity.bind)
        .await
        .with_context(|| format!("bind identity {}", cfg.identity.bind))?;
    let identity_addr = identity_listener.local_addr()?;
    let object_cfg = layout::object_config(
        &cfg,
        &creds,
        &format!("http://{identity_addr}"),
        &service_secret,
    )?;
    let listener = tokio::net::TcpListener::bind(object_cfg.bind)
        .await
        .with_context(|| format!("bind {}", object_cfg.bind))?;
    let object_addr = listener.local_addr()?;
    info!(addr = %object_addr, "object service listening");
    let shutdown = CancellationToken::new();
    common::shutdown::cancel_on_signal(shutdown.clone());
    let listeners = objectd::Listeners {
        proxy: Some(listener),
        storage: None,
    };
    let image_listener = tokio::net::TcpListener::bind(cfg.imaged.bind)
        .await
        .with_context(|| format!("bind image service {}", cfg.imaged.bind))?;
    let image_addr = image_listener.local_addr()?;
    let volume_listener = tokio::net::TcpListener::bind(cfg.blockd.api_bind)
        .await
        .with_context(|| format!("bind volume API {}", cfg.blockd.api_bind))?;
    let volume_addr = volume_listener.local_addr()?;
    let nbd_listener = tokio::net::TcpListener::bind(cfg.blockd.nbd_bind)
        .await
        .with_context(|| format!("bind NBD {}", cfg.blockd.nbd_bind))?;
    info!(addr = %nbd_listener.local_addr()?, "NBD server listening");
    let identity = start_identity(
        &cfg,
        &creds,
        identity_addr,
        object_addr,
        image_addr,
        volume_addr,
    )
    .await?;
    info!(addr = %identity_addr, "identity service listening");
    info!(addr = %volume_addr, "volume service listening");
    let nbd_options = blockd::nbd_options(blockd::NbdTuning {
        tls: cfg.blockd.nbd_tls.as_ref(),
        busy_poll_us: cfg.blockd.nbd_busy_poll_us,
        tcp_congestion: cfg.blockd.nbd_tcp_congestion.as_deref(),
    })?;
    let volumes_cfg = blockd::VolumesConfig {
        api_bind: volume_addr,
        data_dir: cfg.data_dir.join("blockd"),
        identity_url: format!("http://{identity_addr}"),
        object_auth_url: format!("http://{object_addr}/auth/v1.0"),
        object_user: format!("{}:{}", layout::BLOCKD_ACCOUNT, layout::BLOCKD_USER),
        object_key: creds.blockd_key.clone(),
        segment_container: cfg.blockd.segment_container.clone(),
        segment_policy: cfg.blockd.segment_policy.clone(),
        cache_mib: cfg.blockd.cache_mib,
        disk_cache_mib: cfg.blockd.disk_cache_mib,
        images: Some(blockd::ImagesConfig {
            url: format!("http://{image_addr}"),
            account: format!("AUTH_{}", layout::IMAGE_ACCOUNT),
            container: cfg.imaged.container.clone(),
            clone_container: cfg.imaged.clone_container.clone(),
        }),
    };
    let mut object = tokio::spawn(objectd::run(object_cfg, listeners, shutdown.clone()));
    let image_cfg = layout::image_config(&cfg, &creds, identity_addr, object_addr);
    info!(addr = %image_addr, "image service listening");
    let mut image_task = tokio::spawn(imaged::run(image_cfg, image_listener, shutdown.clone()));
    let mut identity_task = tokio::spawn(control::identity::api::serve(
        identity_listener,
        identity,
        shutdown.clone(),
    ));
    let mut volume_task = tokio::spawn(blockd::run_volumes(
        volumes_cfg,
        volume_listener,
        nbd_listener,
        std::sync::Arc::new(blockd::nbd::Exports::default()),
        nbd_options,
        shutdown.clone(),
    ));
    tokio::select! {
        answered = async {
            openrc::wait_until_answering(object_addr).await?;
            openrc::wait_until_answering(identity_addr).await?;
            openrc::wait_until_answering(image_addr).await?;
            openrc::wait_until_answering(volume_addr).await
        } => {
            answered?;
            openrc::write(&cfg.data_dir, object_addr, identity_addr, &creds)?;
            info!("ready");
        }
        _ = shutdown.cancelled() => {}
        ended = &mut object => {
            shutdown.cancel();
            return ended.context("object service task")?;
        }
        _ = &mut identity_task => {
            shutdown.cancel();
            anyhow::bail!("identity service stopped unexpectedly");
        }
        ended = &mut image_task => {
            shutdown.cancel();
            ended.context("image service task")??;
            anyhow::bail!("image service stopped unexpectedly");
        }
        ended = &mut volume_task => {
            shutdown.cancel();
            ended.context("volume service task")??;
            anyhow::bail!("volume service stopped unexpectedly");
        }
    }
    let result = object.await.context("object service task")?;
    identity_task.await.context("identity service task")?;
    image_task.await.context("image service task")??;
    volume_task.await.context("volume service task")??;
    info!("stopped");
    result
}

/// Opens identity on `DATA_DIR/identity` and bootstraps the admin and the
/// catalog (identity, the object store and the volume service at this
/// start's addresses).
async fn start_identity(
    cfg: &config::UpConfig,
    creds: &layout::Credentials,
    identity_addr: std::net::SocketAddr,
    object_addr: std::net::SocketAddr,
    image_addr: std::net::SocketAddr,
    volume_addr: std::net::SocketAddr,
) -> anyhow::Result<std::sync::Arc<control::identity::Identity>> {
    use control::identity::{bootstrap, Identity};
    let base_url = format!("http://{identity_addr}/v3");
    let identity = Identity::open(
        &cfg.data_dir.join("identity"),
        &cfg.identity,
        base_url.clone(),
    )
    .await
    .context("open identity")?;
    let spec = bootstrap::Spec {
        admin_password: creds.os_password.clone(),
        catalog: vec![
            bootstrap::CatalogEntry {
                kind: "identity".into(),
                name: "keystone".into(),
                url: base_url,
            },
            bootstrap::CatalogEntry {
                kind: "object-store".into(),
                name: "swift".into(),
                url: format!("http://{object_addr}/v1/AUTH_%(project_id)s"),
            },
            bootstrap::CatalogEntry {
                kind: "image".into(),
                name: "glance".into(),
                url: format!("http://{image_addr}/image"),
            },
            bootstrap::CatalogEntry {
                kind: "volumev3".into(),
                name: "cinderv3".into(),
                url: format!("http://{volume_addr}/volume/v3/%(project_id)s"),
            },
            bootstrap::CatalogEntry {
                kind: "block-storage".into(),
                name: "cinder".into(),
                url: format!("http://{volume_addr}/volume/v3/%(project_id)s"),
            },
        ],
        admin_ec2: Some(control::identity::credentials::Ec2Keys {
            access: creds.s3_access_key.clone(),
            secret: creds.s3_secret_key.clone(),
        }),
    };
    bootstrap::run(&identity, &spec)
        .await
        .map_err(|e| anyhow::anyhow!("bootstrap identity: {e}"))?;
    Ok(std::sync::Arc::new(identity))
}
