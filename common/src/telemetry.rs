//! Tracing setup for binaries: `RUST_LOG` filter (default `info`), text or
//! JSON (`CAIRN_LOG_FORMAT=json`) on stderr.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; call once, from a binary.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if std::env::var("CAIRN_LOG_FORMAT").is_ok_and(|f| f == "json") {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}
