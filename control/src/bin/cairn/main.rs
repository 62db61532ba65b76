//! `cairn up --data-dir DIR`: the all-in-one launcher. It lays out the data
//! directory on first start (devices, ring, admin credentials), starts every
//! service in this process on 127.0.0.1, writes `DIR/openrc` once they answer,
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
    let cfg = config::load(&args)?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("create {}", cfg.data_dir.display()))?;
    openrc::remove(&cfg.data_dir)?;
    let creds = layout::credentials(&cfg.data_dir)?;
    let object_cfg = layout::object_config(&cfg, &creds)?;
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
    let mut object = tokio::spawn(objectd::run(object_cfg, listeners, shutdown.clone()));
    tokio::select! {
        answered = openrc::wait_until_answering(object_addr) => {
            answered?;
            openrc::write(&cfg.data_dir, object_addr, &creds)?;
            info!("ready");
        }
        _ = shutdown.cancelled() => {}
        ended = &mut object => return ended.context("object service task")?,
    }
    let result = object.await.context("object service task")?;
    info!("stopped");
    result
}
