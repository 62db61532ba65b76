//! Command-line interface of `cairn-bench`: clap definitions and their
//! resolution (explicit flag > `--smoke` preset > default) into an
//! [`ObjectConfig`], a [`RingConfig`] or a [`RepairConfig`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::object_bench::{Credentials, ObjectConfig};
use crate::repair_bench::RepairConfig;
use crate::ring_bench::RingConfig;
use crate::s3_signer::S3Signer;
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
        bad arguments, or any failure of `ring` and `repair`)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Small-object PUT/GET ops/s, large-object MiB/s and listing time.
    Object(ObjectArgs),
    /// Ring rebalance: replicas moved when one host joins N (pure computation).
    Ring(RingArgs),
    /// Time for a `cairn up` all-in-one to rebuild a wiped device.
    Repair(RepairArgs),
    /// Sequential MiB/s and random 4 KiB IOPS/latency of an NBD export.
    Nbd(NbdArgs),
    /// Erasure-coding encode and degraded-decode GiB/s on one core.
    Ec(EcArgs),
    /// The `object` figures over Swift, then over S3 on the same store.
    S3(S3Args),
    /// Per storage policy: 4 KiB PUT ops/s, large PUT/GET MiB/s, bytes on
    /// disk per byte stored, and large GET MiB/s with two devices' files gone.
    Policies(PoliciesArgs),
    /// Token issue and validation rates, and the cost of token checks on a GET.
    Identity(IdentityArgs),
    /// Upload and download MiB/s of one image through the image API.
    Image(ImageArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ImageArgs {
    /// Keystone v3 URL, e.g. http://127.0.0.1:5000/v3
    #[arg(long = "os-auth-url", env = "OS_AUTH_URL")]
    pub auth_url: String,
    #[arg(long = "os-username", env = "OS_USERNAME")]
    pub username: String,
    #[arg(long = "os-password", env = "OS_PASSWORD", hide_env_values = true)]
    pub password: String,
    #[arg(long = "os-project-name", env = "OS_PROJECT_NAME")]
    pub project: String,
    /// Image size, e.g. 1GiB
    #[arg(long, default_value = "1GiB")]
    pub size: String,
}

impl ImageArgs {
    pub fn config(&self) -> Result<crate::image_bench::ImageConfig> {
        Ok(crate::image_bench::ImageConfig {
            auth_url: self.auth_url.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            project: self.project.clone(),
            size: parse_size(&self.size)?,
            timeout: Duration::from_secs(600),
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct PoliciesArgs {
    #[command(flatten)]
    pub object: ObjectArgs,
    /// Policies to measure, by name
    #[arg(long, value_delimiter = ',', default_value = "replicated,ec42")]
    pub policies: Vec<String>,
    /// The store's devices directory (`DATA_DIR/devices` of `cairn up`);
    /// the run removes data files from it, so use a store of its own
    #[arg(long)]
    pub devices_dir: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct IdentityArgs {
    /// Keystone v3 URL, e.g. http://127.0.0.1:5000/v3
    #[arg(long = "os-auth-url", env = "OS_AUTH_URL")]
    pub auth_url: String,
    #[arg(long = "os-username", env = "OS_USERNAME")]
    pub username: String,
    #[arg(long = "os-password", env = "OS_PASSWORD", hide_env_values = true)]
    pub password: String,
    #[arg(long = "os-project-name", env = "OS_PROJECT_NAME")]
    pub project: String,
    /// Swift v1.0 auth URL (the tempauth side of the GET comparison)
    #[arg(long = "auth", env = "ST_AUTH")]
    pub st_auth: String,
    #[arg(long, env = "ST_USER")]
    pub user: String,
    #[arg(long, env = "ST_KEY", hide_env_values = true)]
    pub key: String,
    /// Concurrent clients of the throughput phases
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Seconds each throughput phase runs
    #[arg(long, default_value_t = 5.0)]
    pub duration_secs: f64,
    /// Sequential 4 KiB GETs timed per token kind
    #[arg(long, default_value_t = 2000)]
    pub gets: usize,
}

impl IdentityArgs {
    pub fn config(&self) -> Result<crate::identity_bench::IdentityConfig> {
        if self.duration_secs.is_nan() || self.duration_secs <= 0.0 {
            bail!("--duration-secs must be positive");
        }
        Ok(crate::identity_bench::IdentityConfig {
            auth_url: self.auth_url.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            project: self.project.clone(),
            st_auth: self.st_auth.clone(),
            st_user: self.user.clone(),
            st_key: self.key.clone(),
            concurrency: self.concurrency.max(1),
            duration: Duration::from_secs_f64(self.duration_secs),
            gets: self.gets.max(1),
            timeout: Duration::from_secs(60),
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct EcArgs {
    /// Data fragments per segment
    #[arg(long, default_value_t = 4)]
    pub k: usize,
    /// Parity fragments per segment
    #[arg(long, default_value_t = 2)]
    pub m: usize,
    /// Segment size
    #[arg(long, default_value = "1MiB")]
    pub segment: String,
    /// Seconds of each phase
    #[arg(long, default_value_t = 3)]
    pub seconds: u64,
}

impl EcArgs {
    pub fn config(&self) -> Result<crate::ec_bench::EcConfig> {
        Ok(crate::ec_bench::EcConfig {
            k: self.k,
            m: self.m,
            segment_size: parse_size(&self.segment)? as usize,
            duration: Duration::from_secs(self.seconds.max(1)),
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct NbdArgs {
    /// The export, as `nbd://host:port/name`
    #[arg(long)]
    pub uri: String,
    /// Bytes the sequential phases cover (capped at the export size)
    #[arg(long, default_value = "1GiB")]
    pub span: String,
    /// Seconds of each random-access phase
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
}

impl NbdArgs {
    pub fn config(&self) -> Result<crate::nbd_bench::NbdConfig> {
        crate::nbd_bench::NbdConfig::from_uri(
            &self.uri,
            parse_size(&self.span)?,
            Duration::from_secs(self.seconds.max(1)),
        )
    }
}

#[derive(Debug, Clone, Args)]
pub struct S3Args {
    #[command(flatten)]
    pub object: ObjectArgs,
    /// S3 endpoint, e.g. http://127.0.0.1:8080
    #[arg(long = "s3-endpoint", env = "AWS_ENDPOINT_URL")]
    pub endpoint: String,
    #[arg(long = "access-key", env = "AWS_ACCESS_KEY_ID")]
    pub access_key: String,
    #[arg(
        long = "secret-key",
        env = "AWS_SECRET_ACCESS_KEY",
        hide_env_values = true
    )]
    pub secret_key: String,
    /// Sign each body's SHA-256 (as SDKs do over plain HTTP) instead of
    /// sending UNSIGNED-PAYLOAD
    #[arg(long)]
    pub signed_payload: bool,
    /// Run the S3 phase before the Swift one
    #[arg(long)]
    pub s3_first: bool,
}

impl S3Args {
    pub fn signer(&self) -> S3Signer {
        S3Signer {
            access_key: self.access_key.clone(),
            secret_key: self.secret_key.clone(),
            signed_payload: self.signed_payload,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct RingArgs {
    /// Partition power P (2^P partitions)
    #[arg(long, default_value_t = 14)]
    pub part_power: u32,
    /// Replicas R
    #[arg(long, default_value_t = 3)]
    pub replicas: u32,
    /// Host counts N to grow by one host each (comma-separated, each >= R)
    #[arg(long, value_delimiter = ',', default_value = "3,6,12,24")]
    pub devices: Vec<u32>,
}

impl RingArgs {
    pub fn config(&self) -> Result<RingConfig> {
        let cfg = RingConfig {
            part_power: self.part_power,
            replicas: self.replicas,
            devices: self.devices.clone(),
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

#[derive(Debug, Clone, Args)]
pub struct RepairArgs {
    /// The `cairn` executable [default: `cairn` next to cairn-bench]
    #[arg(long, env = "CAIRN_BIN", value_name = "PATH")]
    pub cairn_bin: Option<PathBuf>,
    /// Small objects uploaded [default: 2000; smoke: 200]
    #[arg(long)]
    pub small: Option<usize>,
    /// Large objects uploaded [default: 100; smoke: 10]
    #[arg(long)]
    pub large: Option<usize>,
    /// Small object size [default: 4KiB]
    #[arg(long)]
    pub small_size: Option<String>,
    /// Large object size [default: 1MiB; smoke: 128KiB]
    #[arg(long)]
    pub large_size: Option<String>,
    /// Longest wait for the repair, in seconds [default: 600]
    #[arg(long)]
    pub timeout_secs: Option<f64>,
    /// Leave the temporary directory (data, config, cairn log) in place
    #[arg(long)]
    pub keep: bool,
    /// Small run for tests: 200 small and 10 x 128 KiB objects
    #[arg(long)]
    pub smoke: bool,
}

impl RepairArgs {
    /// Flags given explicitly win over the `--smoke` preset, which wins
    /// over the defaults.
    pub fn config(&self) -> Result<RepairConfig> {
        let bin = match &self.cairn_bin {
            Some(path) => path.clone(),
            None => std::env::current_exe()
                .context("locate the cairn-bench executable")?
                .with_file_name("cairn"),
        };
        let mut cfg = if self.smoke {
            RepairConfig::smoke(bin)
        } else {
            RepairConfig::new(bin)
        };
        if let Some(v) = self.small {
            cfg.small_count = v;
        }
        if let Some(v) = self.large {
            cfg.large_count = v;
        }
        if let Some(v) = &self.small_size {
            cfg.small_size = parse_size(v)?;
        }
        if let Some(v) = &self.large_size {
            cfg.large_size = parse_size(v)?;
        }
        if let Some(v) = self.timeout_secs {
            cfg.timeout = seconds(v, "--timeout-secs")?;
        }
        cfg.keep = self.keep;
        cfg.validate()?;
        Ok(cfg)
    }
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
            other => panic!("not object: {other:?}"),
        }
    }

    fn ring(args: &[&str]) -> RingArgs {
        let argv = [&["cairn-bench", "ring"], args].concat();
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Ring(args) => args,
            other => panic!("not ring: {other:?}"),
        }
    }

    fn repair(args: &[&str]) -> RepairArgs {
        let argv = [&["cairn-bench", "repair"], args].concat();
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Repair(args) => args,
            other => panic!("not repair: {other:?}"),
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

    #[test]
    fn ring_flags() {
        assert_eq!(ring(&[]).config().unwrap(), RingConfig::default());
        let cfg = ring(&["--part-power", "8", "--devices", "3,6"])
            .config()
            .unwrap();
        assert_eq!(cfg.part_power, 8);
        assert_eq!(cfg.replicas, 3);
        assert_eq!(cfg.devices, vec![3, 6]);
        assert!(ring(&["--replicas", "4", "--devices", "3"])
            .config()
            .is_err());
    }

    #[test]
    fn repair_flags() {
        let cfg = repair(&["--cairn-bin", "/x/cairn"]).config().unwrap();
        assert_eq!(cfg, RepairConfig::new("/x/cairn".into()));
        let cfg = repair(&["--cairn-bin", "/x/cairn", "--smoke", "--small", "7"])
            .config()
            .unwrap();
        assert_eq!(cfg.small_count, 7);
        assert_eq!(cfg.large_count, 10);
        assert_eq!(cfg.large_size, 128 << 10);
        let cfg = repair(&[
            "--cairn-bin",
            "/x/cairn",
            "--large-size",
            "2MiB",
            "--small-size",
            "1k",
        ])
        .config()
        .unwrap();
        assert_eq!((cfg.large_size, cfg.small_size), (2 << 20, 1024));
        assert!(repair(&["--cairn-bin", "/x/cairn", "--large-size", "big"])
            .config()
            .is_err());
    }
}
