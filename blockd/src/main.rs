//! The `blockd` binary: `blockd serve --config FILE` serves the configured
//! exports over NBD.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "blockd", about = "Cairn block service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve NBD exports from a config file.
    Serve {
        #[arg(long, env = "BLOCKD_CONFIG")]
        config: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve { config } => {
            common::telemetry::init();
            let cfg = blockd::Config::load(&config)?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(cfg.nbd_bind).await?;
                tracing::info!(addr = %listener.local_addr()?, "NBD server listening");
                let shutdown = CancellationToken::new();
                common::shutdown::cancel_on_signal(shutdown.clone());
                blockd::run(cfg, listener, shutdown).await
            })
        }
    }
}
