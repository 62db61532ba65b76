//! `MultiHost`: an object store of separate processes on loopback: several
//! storage hosts (`objectd serve` with the storage role, each with its own
//! devices directory and storage port) and one proxy (`objectd serve` with
//! the proxy role), sharing one ring file. Hosts can be killed (SIGKILL),
//! stopped, restarted and added; their `/recon` answers say what each holds.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use objectd::ring::{DeviceSpec, RingBuilder};

use crate::client::{self, Swift};

/// Admin user of the proxy's v1.0 auth.
pub const ADMIN: (&str, &str, &str) = ("admin", "admin", "multihost-secret");

/// Partition power of the test ring: small, so passes are quick.
const PART_POWER: u32 = 6;

/// Longest wait for a process to answer `/healthcheck`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The `objectd` binary, beside `cairn`.
pub fn objectd_bin() -> PathBuf {
    crate::cairn_bin().with_file_name("objectd")
}

/// A free loopback port (bound, read and released).
fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("pick a free port")
}

/// One `objectd serve` process with its config and log.
struct Proc {
    config: PathBuf,
    log: PathBuf,
    addr: SocketAddr,
    child: Option<Child>,
}

impl Proc {
    fn spawn(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open log");
        let log2 = log.try_clone().expect("clone log handle");
        let child = Command::new(objectd_bin())
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .env("NO_COLOR", "1")
            .env_remove("OBJECTD_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .expect("spawn objectd");
        self.child = Some(child);
    }

    async fn wait_healthy(&mut self) {
        let started = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "objectd exited during start with {status}; log:\n{}",
                    self.log_text()
                );
            }
            let req = client::build(self.addr, "GET", "/healthcheck", &[], Bytes::new());
            if client::send(self.addr, req)
                .await
                .is_ok_and(|r| r.status == StatusCode::OK)
            {
                return;
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "{} not healthy within {START_TIMEOUT:?}; log:\n{}",
                self.addr,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let started = Instant::now();
        while child.try_wait().expect("wait for objectd").is_none() {
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("objectd did not stop on SIGTERM; log:\n{}", self.log_text());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A storage host: its storage address and device names.
pub struct Host {
    proc: Proc,
    pub devices_dir: PathBuf,
    pub devices: Vec<String>,
}

impl Host {
    /// The address of its storage server (as the ring names it).
    pub fn addr(&self) -> SocketAddr {
        self.proc.addr
    }

    pub fn is_running(&self) -> bool {
        self.proc.child.is_some()
    }
}

/// The erasure-coded policy a `MultiHost` may offer beside policy 0.
pub const EC_POLICY: &str = "ec42";

/// The segment size of `EC_POLICY`: small, so that a few hundred KiB
/// already span several segments.
pub const EC_SEGMENT: usize = 64 * 1024;

/// The `[[objectd.policies]]` of an erasure-coded store: replicated policy
/// 0 (the default) and `EC_POLICY` (4+2).
fn policies_config(ec: bool) -> String {
    if !ec {
        return String::new();
    }
    format!(
        "[[objectd.policies]]\nindex = 0\nname = \"replicated\"\ntype = \"replication\"\n\
         default = true\n[[objectd.policies]]\nindex = 1\nname = \"{EC_POLICY}\"\n\
         type = \"erasure_coding\"\nec_k = 4\nec_m = 2\nec_segment_size = {EC_SEGMENT}\n"
    )
}

/// Storage hosts and a proxy as separate processes.
pub struct MultiHost {
    root: tempfile::TempDir,
    pub ring_path: PathBuf,
    ec: bool,
    pub hosts: Vec<Host>,
    proxy: Proc,
    swift: Swift,
}

fn storage_config(ring: &Path, addr: SocketAddr, devices_dir: &Path, ec: bool) -> String {
    format!(
        "[objectd]\nroles = [\"storage\"]\nstorage_bind = \"{addr}\"\nring = \"{}\"\n\
         devices_dir = \"{}\"\nreplicator_interval_secs = 1\nupdater_interval_secs = 1\n\
         auditor_interval_secs = 1\nauditor_bytes_per_sec = 0\nexpirer_interval_secs = 1\n{}",
        ring.display(),
        devices_dir.display(),
        policies_config(ec)
    )
}

/// Adds a host's devices to the ring in zone `h + 1`.
fn add_devices(builder: &mut RingBuilder, host: &Host, h: usize) {
    for name in &host.devices {
        builder
            .add_device(DeviceSpec {
                region: 1,
                zone: h as u32 + 1,
                host: host.addr().to_string(),
                device: name.clone(),
                weight: 100.0,
            })
            .expect("add device");
    }
}

impl MultiHost {
    /// Starts `hosts` storage hosts of `devices` devices each (one zone per
    /// host, three replicas) and a proxy, and logs in as the admin.
    pub async fn start(hosts: usize, devices: usize) -> MultiHost {
        Self::start_with(hosts, devices, false).await
    }

    /// As `start`, with the erasure-coded policy `EC_POLICY` too: its ring
    /// places six fragment archives over the same devices.
    pub async fn start_ec(hosts: usize, devices: usize) -> MultiHost {
        Self::start_with(hosts, devices, true).await
    }

    async fn start_with(hosts: usize, devices: usize, ec: bool) -> MultiHost {
        let root = tempfile::Builder::new()
            .prefix("cairn-multihost-")
            .tempdir()
            .expect("create temp dir");
        let ring_path = root.path().join("object.ring");
        let mut builder = RingBuilder::new(PART_POWER, 3, 0).expect("ring builder");
        let mut cluster_hosts = Vec::new();
        for h in 0..hosts {
            let host = Self::make_host(root.path(), &ring_path, h, devices, ec);
            add_devices(&mut builder, &host, h);
            cluster_hosts.push(host);
        }
        builder.rebalance().expect("rebalance");
        builder.save_new(&ring_path).expect("save ring");
        if ec {
            let mut ec_builder = RingBuilder::new(PART_POWER, 6, 0).expect("ring builder");
            for (h, host) in cluster_hosts.iter().enumerate() {
                add_devices(&mut ec_builder, host, h);
            }
            ec_builder.rebalance().expect("rebalance");
            ec_builder
                .save_new(objectd::policy::ring_path(&ring_path, 1))
                .expect("save ring");
        }
        let proxy_addr = free_addr();
        let proxy_config = root.path().join("proxy.toml");
        std::fs::write(
            &proxy_config,
            format!(
                "[objectd]\nroles = [\"proxy\"]\nbind = \"{proxy_addr}\"\nring = \"{}\"\n\
                 [[objectd.users]]\naccount = \"{}\"\nuser = \"{}\"\nkey = \"{}\"\n\
                 groups = [\".admin\", \".reseller_admin\"]\n{}",
                ring_path.display(),
                ADMIN.0,
                ADMIN.1,
                ADMIN.2,
                policies_config(ec)
            ),
        )
        .expect("write proxy config");
        let mut proxy = Proc {
            config: proxy_config,
            log: root.path().join("proxy.log"),
            addr: proxy_addr,
            child: None,
        };
        for host in &mut cluster_hosts {
            host.proc.spawn();
        }
        proxy.spawn();
        for host in &mut cluster_hosts {
            host.proc.wait_healthy().await;
        }
        proxy.wait_healthy().await;
        let (token, url) = client::login(
            proxy_addr,
            "/auth/v1.0",
            &format!("{}:{}", ADMIN.0, ADMIN.1),
            ADMIN.2,
        )
        .await
        .expect("admin login");
        MultiHost {
            root,
            ring_path,
            ec,
            hosts: cluster_hosts,
            proxy,
            swift: Swift::new(&url, &token).expect("storage URL"),
        }
    }

    fn make_host(root: &Path, ring_path: &Path, h: usize, devices: usize, ec: bool) -> Host {
        let addr = free_addr();
        let dir = root.join(format!("host{h}"));
        let devices_dir = dir.join("devices");
        std::fs::create_dir_all(&devices_dir).expect("create devices dir");
        let config = dir.join("objectd.toml");
        std::fs::write(&config, storage_config(ring_path, addr, &devices_dir, ec))
            .expect("write host config");
        Host {
            proc: Proc {
                config,
                log: dir.join("objectd.log"),
                addr,
                child: None,
            },
            devices_dir,
            devices: (0..devices).map(|d| format!("h{h}d{d}")).collect(),
        }
    }

    /// An authenticated client of the admin's account, through the proxy.
    pub fn swift(&self) -> &Swift {
        &self.swift
    }

    /// The temporary directory holding every host.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The config file of host `h` (read again when it starts).
    pub fn host_config(&self, h: usize) -> &Path {
        &self.hosts[h].proc.config
    }

    /// Kills host `h` with SIGKILL (nothing flushed, nothing cleaned up).
    pub fn kill(&mut self, h: usize) {
        self.hosts[h].proc.kill();
    }

    /// Stops host `h` with SIGTERM.
    pub async fn stop(&mut self, h: usize) {
        self.hosts[h].proc.stop().await;
    }

    /// Starts host `h` again on its devices and port.
    pub async fn start_host(&mut self, h: usize) {
        let host = &mut self.hosts[h];
        assert!(!host.is_running(), "host {h} is running");
        host.proc.spawn();
        host.proc.wait_healthy().await;
    }

    /// Starts a new host of `devices` devices (not yet in the ring);
    /// answers its index.
    pub async fn add_host(&mut self, devices: usize) -> usize {
        let h = self.hosts.len();
        let mut host = Self::make_host(self.root.path(), &self.ring_path, h, devices, self.ec);
        host.proc.spawn();
        host.proc.wait_healthy().await;
        self.hosts.push(host);
        h
    }

    /// Adds host `h`'s devices to the ring (zone `h + 1`) and rebalances;
    /// every process picks the new ring up within seconds.
    pub fn add_to_ring(&self, h: usize) {
        let mut builder = RingBuilder::load(&self.ring_path).expect("load ring builder");
        add_devices(&mut builder, &self.hosts[h], h);
        builder.rebalance().expect("rebalance");
        builder.save(&self.ring_path).expect("save ring");
    }

    /// `/recon/devices` of every running host: one JSON object per device
    /// (`id`, `objects`, `partitions`, `handoff_partitions`).
    pub async fn devices(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for host in self.hosts.iter().filter(|h| h.is_running()) {
            match client::recon(host.addr(), "devices").await {
                serde_json::Value::Array(devs) => out.extend(devs),
                other => panic!("recon/devices answered {other}"),
            }
        }
        out
    }

    /// The sum of a `/recon/{which}` counter over every running host.
    pub async fn recon_sum(&self, which: &str, field: &str) -> u64 {
        let mut sum = 0;
        for host in self.hosts.iter().filter(|h| h.is_running()) {
            sum += client::recon(host.addr(), which).await[field]
                .as_u64()
                .unwrap_or(0);
        }
        sum
    }

    /// Whether the running hosts hold exactly `replicas` copies of
    /// `objects` objects of policy 0 in all, none of them on a handoff.
    pub async fn settled(&self, objects: u64, replicas: u64) -> bool {
        self.settled_in(0, objects, replicas).await
    }

    /// Whether the running hosts hold exactly `copies` records (replicas or
    /// fragment archives) of each of `objects` objects of `policy`, none of
    /// them on a handoff.
    pub async fn settled_in(&self, policy: u64, objects: u64, copies: u64) -> bool {
        let devs: Vec<_> = self
            .devices()
            .await
            .into_iter()
            .filter(|d| d["policy"].as_u64().unwrap_or(0) == policy)
            .collect();
        let total: u64 = devs
            .iter()
            .map(|d| d["objects"].as_u64().unwrap_or(0))
            .sum();
        let handoffs: u64 = devs
            .iter()
            .map(|d| d["handoff_partitions"].as_u64().unwrap_or(0))
            .sum();
        total == objects * copies && handoffs == 0
    }

    /// The log of host `h`.
    pub fn host_log(&self, h: usize) -> String {
        self.hosts[h].proc.log_text()
    }

    /// The proxy's log.
    pub fn proxy_log(&self) -> String {
        self.proxy.log_text()
    }

    /// The directory of a device, by name.
    pub fn device_dir(&self, name: &str) -> PathBuf {
        self.hosts
            .iter()
            .find(|h| h.devices.iter().any(|d| d == name))
            .map(|h| h.devices_dir.join(name))
            .unwrap_or_else(|| panic!("no device {name}"))
    }
}

impl Drop for MultiHost {
    fn drop(&mut self) {
        for host in &mut self.hosts {
            host.proc.kill();
        }
        self.proxy.kill();
        if std::env::var_os("CAIRN_TEST_KEEP").is_some() {
            let kept = std::mem::replace(
                &mut self.root,
                tempfile::tempdir().expect("placeholder temp dir"),
            );
            eprintln!("kept {}", kept.keep().display());
        }
    }
}
