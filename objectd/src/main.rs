//! The `objectd` binary: `objectd serve --config FILE` runs a proxy, a
//! storage host or both; `objectd ring ...` builds and inspects ring files.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "objectd", about = "Cairn object store")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the object service from a config file.
    Serve {
        #[arg(long, env = "OBJECTD_CONFIG")]
        config: PathBuf,
    },
    /// Build and inspect ring files.
    Ring {
        #[command(subcommand)]
        command: objectd::ring::cli::RingCommand,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Ring { command } => objectd::ring::cli::run(command),
        Command::Serve { config } => {
            common::telemetry::init();
            let cfg = objectd::FileConfig::load(&config)?.validate()?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async move {
                let mut listeners = objectd::Listeners::default();
                if cfg.proxy {
                    let l = tokio::net::TcpListener::bind(cfg.bind).await?;
                    tracing::info!(addr = %l.local_addr()?, "proxy listening");
                    listeners.proxy = Some(l);
                }
                if let Some(addr) = cfg.storage_bind.filter(|_| cfg.storage) {
                    let l = tokio::net::TcpListener::bind(addr).await?;
                    tracing::info!(addr = %l.local_addr()?, "storage server listening");
                    listeners.storage = Some(l);
                }
                let shutdown = CancellationToken::new();
                common::shutdown::cancel_on_signal(shutdown.clone());
                objectd::run(cfg, listeners, shutdown).await
            })
        }
    }
}
