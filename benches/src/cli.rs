//! Command-line interface of `cairn-bench`: clap definitions and their
//! resolution (explicit flag > `--smoke` preset > default) into an
//! [`ObjectConfig`].

use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};

use crate::object_bench::{Credentials, ObjectConfig};
use crate::units::parse_size;

#[derive(Debug, Parser)]
#[command(
    name = "cairn-bench",
    version,
    about = "Benchmarks a Swift v1 compatible object endpoint",
    long_about = "Benchmarks a Swift v1 compatible object endpoint.\n\n\
        Figures go to stdout, one `name value` line each, then one JSON line \
        with all of them. Progress goes to stderr. Exit status: 0 on success, \
        1 if any request failed, 2 on a setup error (auth, container creation, \
        bad arguments)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Small-object PUT/GET ops/s, large-object MiB/s and listing time.
    Object(ObjectArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ObjectArgs {
    /// Swift v1.0 auth URL, e.g. http://127.0.0.1:8080/auth/v1.0
    #[arg(long = "auth", env = "ST_AUTH")]
    pub auth_url: String,
    /// "account:user"
    #[arg(long, env = "ST_USER")]
    pub user: String,
    /// Key (password) for the user
    #[arg(long, env = "ST_KEY", hide_env_values = true)]
    pub key: String,

    /// Workers (one keep-alive connection each) for small objects [default: 16]
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Small object size, e.g. 4096, 4KiB [default: 4096]
    #[arg(long)]
    pub small_size: Option<String>,
    /// Seconds each small-object phase runs [default: 10; smoke: 1]
    #[arg(long)]
    pub duration_secs: Option<f64>,
    /// Large object size, e.g. 64MiB [default: 64MiB; smoke: 2MiB]
    #[arg(long)]
    pub large_size: Option<String>,
    /// Large objects written then read [default: 8; smoke: 4]
    #[arg(long)]
    pub large_count: Option<usize>,
    /// Large objects in flight at once [default: 4]
    #[arg(long)]
    pub large_parallel: Option<usize>,
    /// Objects in the listed container [default: 10000; smoke: 200]
    #[arg(long)]
    pub list_count: Option<usize>,
    /// Timed listings; the median is reported [default: 3]
    #[arg(long)]
    pub list_repeats: Option<usize>,
    /// Container to use instead of a fresh `cairn-bench-XXXXXXXX`
    /// (the listing uses NAME-list)
    #[arg(long, value_name = "NAME")]
    pub container: Option<String>,
    /// Per-request timeout in seconds [default: 120]
    #[arg(long)]
    pub timeout_secs: Option<f64>,
    /// Leave objects and containers behind (no cleanup)
    #[arg(long)]
    pub keep: bool,
    /// Tiny run for tests: 1 s phases, 2 MiB large objects, 200-object listing
    #[arg(long)]
    pub smoke: bool,
}

fn seconds(value: f64, flag: &str) -> Result<Duration> {
    if !value.is_finite() || value < 0.0 {
        bail!("{flag} must be a non-negative number of seconds");
    }
    Ok(Duration::from_secs_f64(value))
}

impl ObjectArgs {
    pub fn credentials(&self) -> Credentials {
        Credentials {
            auth_url: self.auth_url.clone(),
            user: self.user.clone(),
            key: self.key.clone(),
        }
    }

    /// Flags given explicitly win over the `--smoke` preset, which wins
    /// over the defaults.
    pub fn config(&self) -> Result<ObjectConfig> {
        let mut cfg = if self.smoke {
            ObjectConfig::smoke()
        } else {
            ObjectConfig::default()
        };
        if let Some(v) = self.concurrency {
            cfg.concurrency = v;
        }
        if let Some(v) = &self.small_size {
            cfg.small_size = parse_size(v)?;
        }
        if let Some(v) = self.duration_secs {
            cfg.duration = seconds(v, "--duration-secs")?;
        }
        if let Some(v) = &self.large_size {
            cfg.large_size = parse_size(v)?;
        }
        if let Some(v) = self.large_count {
            cfg.large_count = v;
        }
        if let Some(v) = self.large_parallel {
            cfg.large_parallel = v;
        }
        if let Some(v) = self.list_count {
            cfg.list_count = v;
        }
        if let Some(v) = self.list_repeats {
            cfg.list_repeats = v;
        }
        if let Some(v) = self.timeout_secs {
            cfg.timeout = seconds(v, "--timeout-secs")?;
        }
        cfg.container.clone_from(&self.container);
        cfg.keep = self.keep;
        cfg.validate()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> ObjectArgs {
        let mut argv = vec![
            "cairn-bench",
            "object",
            "--auth",
            "http://127.0.0.1:1/auth/v1.0",
            "--user",
            "a:u",
            "--key",
            "k",
        ];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Object(args) => args,
        }
    }

    #[test]
    fn defaults_match_the_spec() {
        let cfg = parse(&[]).config().unwrap();
        assert_eq!(cfg, ObjectConfig::default());
        assert_eq!(cfg.concurrency, 16);
        assert_eq!(cfg.small_size, 4096);
        assert_eq!(cfg.large_size, 64 << 20);
        assert_eq!(cfg.list_count, 10_000);
    }

    #[test]
    fn explicit_flags_override_smoke() {
        let cfg = parse(&[
            "--smoke",
            "--large-size",
            "3MiB",
            "--duration-secs",
            "0.5",
            "--container",
            "mine",
        ])
        .config()
        .unwrap();
        assert_eq!(cfg.large_size, 3 << 20);
        assert_eq!(cfg.duration, Duration::from_millis(500));
        assert_eq!(cfg.list_count, 200);
        assert_eq!(cfg.container.as_deref(), Some("mine"));
        assert!(parse(&["--small-size", "4 parsecs"]).config().is_err());
        assert!(parse(&["--duration-secs=-1"]).config().is_err());
    }
}
