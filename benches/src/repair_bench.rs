//! The `repair` benchmark: how fast the all-in-one heals a wiped device.
//!
//! It starts `cairn up` on a fresh temporary directory (replicator every
//! second, unthrottled; auditor out of the way), uploads small and large
//! objects, stops it with SIGTERM, measures and deletes `devices/d1`,
//! starts it again and polls `GET /recon/replication` every 100 ms until
//! the replicator has pushed records and then finished a pass that pushed
//! nothing (see [`RepairWatch`]). Then it reads a random sample of objects
//! back (status and MD5) and stops cairn. The process is killed on every
//! other way out (see [`CairnProcess`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http::{Method, StatusCode};
use md5::{Digest, Md5};
use objectd::ring::Ring;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde::Deserialize;

use crate::cairn_process::CairnProcess;
use crate::report::{ErrorTally, Report};
use crate::swift_client::{authenticate, BodyMode, Conn, Endpoint, ReqBody, Session};
use crate::units::size_human;

/// The device that is wiped.
pub const WIPED_DEVICE: &str = "d1";
/// The container the objects go to.
pub const CONTAINER: &str = "repair-bench";
/// The config file given to `cairn up`.
pub const CAIRN_CONFIG: &str = "[objectd]\nreplicator_interval_secs = 1\n\
    auditor_interval_secs = 3600\nreplicator_bytes_per_sec = 0\n";
/// How often the replication stats are polled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Lines of the cairn log shown when something goes wrong.
pub const LOG_TAIL_LINES: usize = 40;

const MIB: f64 = (1u64 << 20) as f64;

/// Tunables of the repair benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct RepairConfig {
    /// The `cairn` executable.
    pub cairn_bin: PathBuf,
    pub small_count: usize,
    pub small_size: u64,
    pub large_count: usize,
    pub large_size: u64,
    /// Uploads in flight at once.
    pub concurrency: usize,
    /// Objects read back after the repair.
    pub verify: usize,
    /// Longest wait for the repair, from ready.
    pub timeout: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Leave the temporary directory (data, config, log) in place.
    pub keep: bool,
}

impl RepairConfig {
    /// The defaults: 2000 × 4 KiB and 100 × 1 MiB objects.
    pub fn new(cairn_bin: PathBuf) -> Self {
        RepairConfig {
            cairn_bin,
            small_count: 2000,
            small_size: 4 << 10,
            large_count: 100,
            large_size: 1 << 20,
            concurrency: 16,
            verify: 50,
            timeout: Duration::from_secs(600),
            request_timeout: Duration::from_secs(120),
            keep: false,
        }
    }

    /// A quick run: 200 small and 10 × 128 KiB objects.
    pub fn smoke(cairn_bin: PathBuf) -> Self {
        RepairConfig {
            small_count: 200,
            large_count: 10,
            large_size: 128 << 10,
            ..RepairConfig::new(cairn_bin)
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.small_count + self.large_count == 0 {
            bail!("nothing to upload: --small and --large are both 0");
        }
        if self.concurrency == 0 {
            bail!("concurrency must be at least 1");
        }
        if usize::try_from(self.large_size).is_err() || usize::try_from(self.small_size).is_err() {
            bail!("object size does not fit in memory");
        }
        Ok(())
    }

    /// Every object to upload: (name, size), large ones first.
    pub fn objects(&self) -> Vec<(String, u64)> {
        let large = (0..self.large_count).map(|i| (format!("large-{i:06}"), self.large_size));
        let small = (0..self.small_count).map(|i| (format!("small-{i:06}"), self.small_size));
        large.chain(small).collect()
    }

    /// Total bytes uploaded.
    pub fn total_bytes(&self) -> u64 {
        self.small_count as u64 * self.small_size + self.large_count as u64 * self.large_size
    }
}

/// The counters of `GET /recon/replication` (since the process started).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ReplicationStats {
    pub passes: u64,
    pub records_pushed: u64,
    pub bytes_moved: u64,
    pub last_pass_pushed: u64,
    pub last_pass_ms: u64,
    pub errors: u64,
}

/// Decides from successive replication stats when the repair is done: at
/// the first observation where records have been pushed, the last pass
/// pushed nothing, and `passes` has grown since the observation where
/// `records_pushed` was last seen growing (so a whole pass found nothing
/// left to push).
#[derive(Debug, Clone, Default)]
pub struct RepairWatch {
    pushed: u64,
    /// `passes` at the observation where `records_pushed` last grew.
    passes_at_growth: Option<u64>,
    /// When (since ready) `records_pushed` last grew.
    last_growth: Option<Duration>,
}

impl RepairWatch {
    /// Feeds one observation made `at` after ready; true once done.
    pub fn observe(&mut self, stats: &ReplicationStats, at: Duration) -> bool {
        if stats.records_pushed > self.pushed {
            self.pushed = stats.records_pushed;
            self.passes_at_growth = Some(stats.passes);
            self.last_growth = Some(at);
            return false;
        }
        stats.records_pushed > 0
            && stats.last_pass_pushed == 0
            && self.passes_at_growth.is_some_and(|p| stats.passes > p)
    }

    /// When (since ready) pushes were last seen growing.
    pub fn last_growth(&self) -> Option<Duration> {
        self.last_growth
    }
}

/// Files and bytes under a directory (symlinks are not followed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirUsage {
    /// Regular files.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// Object data files (`*.data`).
    pub data_files: u64,
    /// Their total size.
    pub data_bytes: u64,
}

/// Walks `dir` and counts its regular files and bytes.
pub fn dir_usage(dir: &Path) -> Result<DirUsage> {
    let mut usage = DirUsage::default();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("read {}", d.display()))? {
            let entry = entry.with_context(|| format!("read {}", d.display()))?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                usage.files += 1;
                usage.bytes += meta.len();
                if entry.path().extension().is_some_and(|x| x == "data") {
                    usage.data_files += 1;
                    usage.data_bytes += meta.len();
                }
            }
        }
    }
    Ok(usage)
}

/// The account of a storage URL path: its last segment
/// (`/v1/AUTH_admin` -> `AUTH_admin`).
pub fn account_of(base_path: &str) -> Result<String> {
    base_path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("storage path {base_path:?} names no account"))
}

/// How many of `names` (in `account`/`container`) have `device` among
/// their primaries.
pub fn objects_on_device<'a>(
    ring: &Ring,
    account: &str,
    container: &str,
    names: impl IntoIterator<Item = &'a str>,
    device: &str,
) -> u64 {
    names
        .into_iter()
        .filter(|name| {
            let part = ring.partition(account, Some(container), Some(name));
            ring.primaries(part).iter().any(|d| d.device == device)
        })
        .count() as u64
}

/// `http://HOST:PORT/recon/replication` for the server of an auth URL.
pub fn recon_url(auth_url: &str) -> Result<String> {
    let ep = Endpoint::parse(auth_url)?;
    Ok(format!("http://{}/recon/replication", ep.authority))
}

/// `bytes` per second over `seconds`, in MiB/s (0 without time).
pub fn mib_per_s(bytes: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        bytes as f64 / MIB / seconds
    } else {
        0.0
    }
}

fn log(message: impl AsRef<str>) {
    eprintln!("# {}", message.as_ref());
}

/// Runs the repair benchmark, pushing figures into `report` as they are
/// measured. Any failure is an `Err` that ends with the tail of the cairn
/// log; cairn is not left running.
pub async fn run_repair(cfg: &RepairConfig, report: &mut Report) -> Result<()> {
    cfg.validate()?;
    if !cfg.cairn_bin.is_file() {
        bail!(
            "{} not found: build it (`cargo build --release --bins`) or pass --cairn-bin",
            cfg.cairn_bin.display()
        );
    }
    let root = tempfile::Builder::new()
        .prefix("cairn-bench-repair-")
        .tempdir()
        .context("create temporary directory")?;
    let config = root.path().join("cairn.toml");
    std::fs::write(&config, CAIRN_CONFIG).context("write cairn config")?;
    let mut cairn = CairnProcess::new(
        cfg.cairn_bin.clone(),
        root.path().join("data"),
        config,
        root.path().join("cairn.log"),
    );
    log(format!(
        "repair: {} in {}, log {}",
        cfg.cairn_bin.display(),
        root.path().display(),
        cairn.log_path().display()
    ));
    let result = measure(cfg, &mut cairn, report).await;
    cairn.kill();
    let result = result.map_err(|err| {
        anyhow!(
            "{err:#}\n--- cairn log ({}), last {LOG_TAIL_LINES} lines ---\n{}",
            cairn.log_path().display(),
            cairn.log_tail(LOG_TAIL_LINES)
        )
    });
    if cfg.keep {
        log(format!("--keep: leaving {}", root.keep().display()));
    }
    result
}

/// What was uploaded.
#[derive(Debug, Clone)]
struct Uploaded {
    name: String,
    md5: String,
}

async fn measure(cfg: &RepairConfig, cairn: &mut CairnProcess, report: &mut Report) -> Result<()> {
    // 1. Fill.
    log("starting cairn");
    let rc = cairn.start().await?;
    let session = authenticate(&rc.auth_url, &rc.user, &rc.key, cfg.request_timeout).await?;
    log(format!("storage url {}", session.storage_url));
    let account = account_of(&session.storage.base_path)?;
    create_container(&session, cfg).await?;
    log(format!(
        "uploading {} × {} and {} × {} ({}), {} at a time",
        cfg.small_count,
        size_human(cfg.small_size),
        cfg.large_count,
        size_human(cfg.large_size),
        size_human(cfg.total_bytes()),
        cfg.concurrency
    ));
    let started = Instant::now();
    let uploaded = upload(&session, cfg).await?;
    log(format!(
        "uploaded {} objects in {:.1} s",
        uploaded.len(),
        started.elapsed().as_secs_f64()
    ));
    log("stopping cairn (SIGTERM)");
    cairn.stop().await?;

    // 2. Wipe.
    let data_dir = cairn.data_dir().to_path_buf();
    let wiped = data_dir.join("devices").join(WIPED_DEVICE);
    let usage = dir_usage(&wiped)?;
    let ring_path = data_dir.join("rings").join("object.ring");
    let ring =
        Ring::load(&ring_path).with_context(|| format!("load ring {}", ring_path.display()))?;
    let on_device = objects_on_device(
        &ring,
        &account,
        CONTAINER,
        uploaded.iter().map(|u| u.name.as_str()),
        WIPED_DEVICE,
    );
    report.push("repair.objects_on_wiped_device", on_device as f64, 0);
    report.push("repair.wiped_data_files", usage.data_files as f64, 0);
    report.push("repair.wiped_bytes", usage.bytes as f64, 0);
    log(format!(
        "wiping {}: {} files, {} ({} data files, {})",
        wiped.display(),
        usage.files,
        size_human(usage.bytes),
        usage.data_files,
        size_human(usage.data_bytes)
    ));
    std::fs::remove_dir_all(&wiped).with_context(|| format!("rm -rf {}", wiped.display()))?;

    // 3. Repair.
    log("starting cairn again");
    let rc = cairn.start().await?;
    let ready = Instant::now();
    let (stats, done, last_growth) = wait_for_repair(cfg, cairn, &rc.auth_url, ready).await?;
    let seconds = done.as_secs_f64();
    report.push("repair.seconds", seconds, 2);
    report.push("repair.records_pushed", stats.records_pushed as f64, 0);
    report.push("repair.bytes_moved", stats.bytes_moved as f64, 0);
    report.push("repair.mib_per_s", mib_per_s(stats.bytes_moved, seconds), 1);
    report.push(
        "repair.last_push_seconds",
        last_growth.unwrap_or(done).as_secs_f64(),
        2,
    );
    if stats.errors > 0 {
        log(format!(
            "warning: replicator counted {} errors",
            stats.errors
        ));
    }

    // 4. Verify.
    let session = authenticate(&rc.auth_url, &rc.user, &rc.key, cfg.request_timeout).await?;
    let verified = verify(&session, cfg, &uploaded).await?;
    report.push("repair.verified_objects", verified as f64, 0);
    log("stopping cairn (SIGTERM)");
    cairn.stop().await?;
    Ok(())
}

async fn create_container(session: &Session, cfg: &RepairConfig) -> Result<()> {
    let mut conn = session.conn(cfg.request_timeout);
    let target = session.storage.container_target(CONTAINER, None);
    let reply = conn
        .request(Method::PUT, &target, &[], ReqBody::Empty, BodyMode::Drain)
        .await?;
    if !reply.status.is_success() {
        bail!("creating container {CONTAINER} failed: {}", reply.status);
    }
    Ok(())
}

/// Uploads every object with random bytes, `concurrency` at a time; each
/// must answer 201 with the body's MD5 as ETag. Stops at the first failure.
async fn upload(session: &Session, cfg: &RepairConfig) -> Result<Vec<Uploaded>> {
    let jobs = Arc::new(cfg.objects());
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(ErrorTally::default());
    let workers = cfg.concurrency.min(jobs.len());
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (jobs, next, errors) = (jobs.clone(), next.clone(), errors.clone());
            let mut conn = session.conn(cfg.request_timeout);
            tokio::spawn(async move {
                let mut rng = StdRng::from_entropy();
                let mut done = Vec::new();
                while errors.count() == 0 {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some((name, size)) = jobs.get(index) else {
                        break;
                    };
                    let mut buf = vec![0u8; *size as usize];
                    rng.fill_bytes(&mut buf);
                    let md5 = hex::encode(Md5::digest(&buf));
                    let target = conn.endpoint().object_target(CONTAINER, name);
                    let result = conn
                        .request(
                            Method::PUT,
                            &target,
                            &[],
                            ReqBody::chunked(Bytes::from(buf)),
                            BodyMode::Drain,
                        )
                        .await;
                    match result {
                        Ok(reply) if reply.status == StatusCode::CREATED => match reply.etag() {
                            Some(etag) if etag == md5 => done.push(Uploaded {
                                name: name.clone(),
                                md5,
                            }),
                            other => errors
                                .record(format!("PUT {target}: ETag {other:?}, expected {md5}")),
                        },
                        Ok(reply) => {
                            errors.record(format!("PUT {target}: status {}", reply.status))
                        }
                        Err(err) => errors.record(format!("{err:#}")),
                    }
                }
                done
            })
        })
        .collect();
    let mut uploaded = Vec::with_capacity(jobs.len());
    for task in futures::future::join_all(tasks).await {
        match task {
            Ok(part) => uploaded.extend(part),
            Err(err) => errors.record(format!("upload worker failed: {err}")),
        }
    }
    if errors.count() > 0 {
        bail!(
            "{} uploads failed: {}",
            errors.count(),
            errors.samples().join("; ")
        );
    }
    if uploaded.len() != jobs.len() {
        bail!("uploaded {} of {} objects", uploaded.len(), jobs.len());
    }
    Ok(uploaded)
}

async fn fetch_stats(conn: &mut Conn) -> Result<ReplicationStats> {
    let target = conn.endpoint().path_and_query.clone();
    let reply = conn
        .request(Method::GET, &target, &[], ReqBody::Empty, BodyMode::Collect)
        .await?;
    if reply.status != StatusCode::OK {
        bail!("GET {target}: status {}", reply.status);
    }
    serde_json::from_slice(&reply.body).with_context(|| format!("GET {target}: bad JSON"))
}

/// Polls the replication stats until [`RepairWatch`] says done; returns the
/// final stats, the time from `ready` to done and to the last growth of
/// pushes.
async fn wait_for_repair(
    cfg: &RepairConfig,
    cairn: &mut CairnProcess,
    auth_url: &str,
    ready: Instant,
) -> Result<(ReplicationStats, Duration, Option<Duration>)> {
    let url = recon_url(auth_url)?;
    log(format!("polling {url} every {POLL_INTERVAL:?}"));
    let mut conn = Conn::new(
        Arc::new(Endpoint::parse(&url)?),
        None,
        cfg.request_timeout.min(Duration::from_secs(10)),
    );
    let mut watch = RepairWatch::default();
    let mut ticks = tokio::time::interval(POLL_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = ReplicationStats::default();
    let mut last_error: Option<String> = None;
    loop {
        ticks.tick().await;
        cairn.check_alive()?;
        let at = ready.elapsed();
        match fetch_stats(&mut conn).await {
            Ok(stats) => {
                if stats.passes != last.passes {
                    log(format!(
                        "{:.1} s: pass {} done in {} ms, pushed {} (total {} records, {})",
                        at.as_secs_f64(),
                        stats.passes,
                        stats.last_pass_ms,
                        stats.last_pass_pushed,
                        stats.records_pushed,
                        size_human(stats.bytes_moved)
                    ));
                }
                last = stats;
                if watch.observe(&stats, at) {
                    return Ok((stats, at, watch.last_growth()));
                }
            }
            Err(err) => last_error = Some(format!("{err:#}")),
        }
        if at > cfg.timeout {
            bail!(
                "repair not done within {:?}: last stats {last:?}{}",
                cfg.timeout,
                last_error
                    .map(|e| format!(", last error: {e}"))
                    .unwrap_or_default()
            );
        }
    }
}

/// Reads back a random sample of the objects; each must be 200 with the
/// right MD5. Returns how many were read.
async fn verify(session: &Session, cfg: &RepairConfig, uploaded: &[Uploaded]) -> Result<usize> {
    let n = cfg.verify.min(uploaded.len());
    let picks = rand::seq::index::sample(&mut rand::thread_rng(), uploaded.len(), n);
    log(format!("verifying {n} random objects"));
    let mut conn = session.conn(cfg.request_timeout);
    for index in picks.iter() {
        let object = &uploaded[index];
        let target = conn.endpoint().object_target(CONTAINER, &object.name);
        let reply = conn
            .request(Method::GET, &target, &[], ReqBody::Empty, BodyMode::Collect)
            .await?;
        if reply.status != StatusCode::OK {
            bail!("verify: GET {target}: status {}", reply.status);
        }
        let md5 = hex::encode(Md5::digest(&reply.body));
        if md5 != object.md5 {
            bail!("verify: GET {target}: MD5 {md5}, expected {}", object.md5);
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use objectd::ring::{DeviceSpec, RingBuilder};

    fn stats(passes: u64, pushed: u64, last_pass_pushed: u64) -> ReplicationStats {
        ReplicationStats {
            passes,
            records_pushed: pushed,
            last_pass_pushed,
            ..ReplicationStats::default()
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn watch_waits_for_a_clean_pass_after_the_pushes() {
        let mut w = RepairWatch::default();
        // Nothing pushed yet, clean passes: not done.
        assert!(!w.observe(&stats(0, 0, 0), ms(0)));
        assert!(!w.observe(&stats(1, 0, 0), ms(100)));
        // Pushes growing.
        assert!(!w.observe(&stats(2, 500, 500), ms(200)));
        assert!(!w.observe(&stats(3, 900, 400), ms(300)));
        // Same pass seen again.
        assert!(!w.observe(&stats(3, 900, 400), ms(400)));
        // A pass that pushed nothing after the last growth: done.
        assert!(w.observe(&stats(4, 900, 0), ms(500)));
        assert_eq!(w.last_growth(), Some(ms(300)));
    }

    #[test]
    fn watch_needs_a_pass_after_the_growth_it_saw() {
        let mut w = RepairWatch::default();
        // First sight already shows a clean last pass: one more pass needed.
        assert!(!w.observe(&stats(3, 900, 0), ms(0)));
        assert!(!w.observe(&stats(3, 900, 0), ms(100)));
        assert!(w.observe(&stats(4, 900, 0), ms(200)));
        // Never done without pushes.
        let mut w = RepairWatch::default();
        assert!(!w.observe(&stats(9, 0, 0), ms(0)));
        assert!(!w.observe(&stats(10, 0, 0), ms(100)));
    }

    #[test]
    fn parses_recon_json() {
        let s: ReplicationStats = serde_json::from_str(
            r#"{"passes":3,"partitions_done":10,"records_pushed":7,"bytes_moved":4096,
                "handoff_partitions_removed":0,"errors":0,"last_pass_ms":12,"last_pass_pushed":0}"#,
        )
        .unwrap();
        assert_eq!(s.passes, 3);
        assert_eq!(s.records_pushed, 7);
        assert_eq!(s.bytes_moved, 4096);
        assert_eq!(s.last_pass_ms, 12);
        assert_eq!(s.last_pass_pushed, 0);
    }

    #[test]
    fn urls_and_accounts() {
        assert_eq!(
            recon_url("http://127.0.0.1:8080/auth/v1.0").unwrap(),
            "http://127.0.0.1:8080/recon/replication"
        );
        assert!(recon_url("https://x/auth/v1.0").is_err());
        assert_eq!(account_of("/v1/AUTH_admin").unwrap(), "AUTH_admin");
        assert_eq!(account_of("/v1/AUTH_admin/").unwrap(), "AUTH_admin");
        assert!(account_of("").is_err());
    }

    #[test]
    fn rates() {
        assert_eq!(mib_per_s(10 << 20, 2.0), 5.0);
        assert_eq!(mib_per_s(10, 0.0), 0.0);
    }

    #[test]
    fn configs() {
        let cfg = RepairConfig::new("cairn".into());
        cfg.validate().unwrap();
        assert_eq!(cfg.total_bytes(), 2000 * 4096 + 100 * (1 << 20));
        let objects = cfg.objects();
        assert_eq!(objects.len(), 2100);
        assert_eq!(objects[0], ("large-000000".to_string(), 1 << 20));
        assert_eq!(objects[100], ("small-000000".to_string(), 4096));
        let smoke = RepairConfig::smoke("cairn".into());
        assert_eq!(
            (smoke.small_count, smoke.large_count, smoke.large_size),
            (200, 10, 128 << 10)
        );
        let empty = RepairConfig {
            small_count: 0,
            large_count: 0,
            ..smoke
        };
        assert!(empty.validate().is_err());
    }

    #[test]
    fn counts_directory_usage() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("objects").join("12").join("abc");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("1.data"), vec![0u8; 100]).unwrap();
        std::fs::write(sub.join("2.data"), vec![0u8; 50]).unwrap();
        std::fs::write(dir.path().join("db.sst"), vec![0u8; 7]).unwrap();
        let usage = dir_usage(dir.path()).unwrap();
        assert_eq!(
            usage,
            DirUsage {
                files: 3,
                bytes: 157,
                data_files: 2,
                data_bytes: 150
            }
        );
        assert!(dir_usage(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn counts_objects_placed_on_a_device() {
        let mut b = RingBuilder::new(6, 3, 0).unwrap();
        for i in 0..6 {
            b.add_device(DeviceSpec {
                region: 1,
                zone: i % 3 + 1,
                host: "127.0.0.1:6200".into(),
                device: format!("d{i}"),
                weight: 100.0,
            })
            .unwrap();
        }
        b.rebalance().unwrap();
        let ring = b.ring();
        let names: Vec<String> = (0..300).map(|i| format!("o{i}")).collect();
        let count = |dev: &str| {
            objects_on_device(&ring, "AUTH_a", "c", names.iter().map(String::as_str), dev)
        };
        let per_device: Vec<u64> = (0..6).map(|i| count(&format!("d{i}"))).collect();
        // Three replicas of each object over six devices: about half each.
        assert_eq!(per_device.iter().sum::<u64>(), 900);
        assert!(
            per_device.iter().all(|&n| (100..=200).contains(&n)),
            "{per_device:?}"
        );
        assert_eq!(count("d9"), 0);
    }
}
