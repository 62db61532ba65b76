//! The auditor. At a bounded rate it reads every stored object, inline
//! bodies and data files alike, and checks the bytes against the BLAKE3 in
//! their metadata (and a data file's trailer against its name). What fails
//! is quarantined: a data file moves to `quarantined/` and its index row is
//! dropped, so the replicator restores the object from another replica.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::{info, info_span, warn, Instrument};

use super::stats::{add, Stats};
use super::Settings;
use crate::proxy::Cluster;
use crate::store::device::spawn_blocking;
use crate::store::{data_file, DeviceStore, StoreError};
use crate::timestamp::Timestamp;

/// Runs a pass every `auditor_interval` until `shutdown`.
pub async fn run(
    cluster: Arc<Cluster>,
    settings: Settings,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) {
    while super::pause(settings.auditor_interval, &shutdown).await {
        pass(&cluster, &settings, &stats, &shutdown)
            .instrument(info_span!("auditor"))
            .await;
    }
}

/// One audit pass over every local device; returns how many objects were quarantined.
pub async fn pass(
    cluster: &Cluster,
    settings: &Settings,
    stats: &Stats,
    shutdown: &CancellationToken,
) -> u64 {
    let mut quarantined = 0;
    let devices = cluster.devices();
    for dev in devices {
        match dev.audit_inline().await {
            Ok(report) => {
                add(&stats.audit_objects_checked, report.checked);
                add(&stats.audit_bytes_checked, report.bytes);
                quarantined += report.bad;
            }
            Err(e) => warn!(device = dev.id, "inline audit failed: {e}"),
        }
        let files = match list_data_files(dev.root().join("objects")).await {
            Ok(f) => f,
            Err(e) => {
                warn!(device = dev.id, "cannot list data files: {e}");
                continue;
            }
        };
        for file in files {
            if shutdown.is_cancelled() {
                return quarantined;
            }
            let (bytes, bad) = audit_file(&dev, file).await;
            add(&stats.audit_objects_checked, 1);
            add(&stats.audit_bytes_checked, bytes);
            quarantined += u64::from(bad);
            if !super::throttle(bytes, settings.auditor_bytes_per_sec, shutdown).await {
                return quarantined;
            }
        }
    }
    add(&stats.audit_passes, 1);
    add(&stats.audit_quarantined, quarantined);
    if quarantined > 0 {
        info!(quarantined, "audit pass done");
    }
    quarantined
}

/// Every `objects/PART/SUFFIX/HASH/TS.data` under a device.
async fn list_data_files(objects: PathBuf) -> Result<Vec<PathBuf>, StoreError> {
    spawn_blocking(move || {
        let mut out = Vec::new();
        let mut stack = vec![(objects, 0)];
        while let Some((dir, depth)) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if depth < 3 {
                    stack.push((path, depth + 1));
                } else if path.extension().is_some_and(|e| e == "data") {
                    out.push(path);
                }
            }
        }
        Ok(out)
    })
    .await
}

/// The partition, hash and timestamp a data file's path names.
fn parse_data_path(path: &Path) -> Option<(u32, [u8; 16], Timestamp)> {
    let ts = Timestamp::parse(path.file_stem()?.to_str()?)?;
    let hash_dir = path.parent()?;
    let hash: [u8; 16] = hex::decode(hash_dir.file_name()?.to_str()?)
        .ok()?
        .try_into()
        .ok()?;
    let part = hash_dir
        .parent()?
        .parent()?
        .file_name()?
        .to_str()?
        .parse()
        .ok()?;
    Some((part, hash, ts))
}

/// Checks one data file; quarantines it when bad. Returns (bytes read, bad).
async fn audit_file(dev: &Arc<DeviceStore>, path: PathBuf) -> (u64, bool) {
    let Some((part, hash, ts)) = parse_data_path(&path) else {
        return (0, false);
    };
    let check_path = path.clone();
    let checked = spawn_blocking(move || {
        let meta = match data_file::read_trailer(&check_path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, None)),
            Err(e) => return Ok((0, Some(format!("bad trailer: {e}")))),
        };
        if meta.ts != ts {
            return Ok((0, Some("trailer names another version".to_string())));
        }
        let file = std::fs::File::open(&check_path)?;
        let (copied, intact) = crate::store::integrity::check_reader(&meta, file)?;
        if !intact {
            return Ok((copied, Some("checksum mismatch".to_string())));
        }
        Ok((copied, None))
    })
    .await;
    let (bytes, problem) = match checked {
        Ok(r) => r,
        Err(e) => {
            warn!(file = %path.display(), "cannot audit: {e}");
            return (0, false);
        }
    };
    let Some(problem) = problem else {
        return (bytes, false);
    };
    warn!(device = dev.id, file = %path.display(), "quarantining object: {problem}");
    if let Err(e) = dev.quarantine_file(part, hash, ts, &path).await {
        warn!(file = %path.display(), "cannot quarantine: {e}");
    }
    (bytes, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_paths_parse() {
        let p =
            Path::new("/d/objects/17/abc/000102030405060708090a0b0c0d0abc/1700000000.12345.data");
        let (part, hash, ts) = parse_data_path(p).expect("valid path");
        assert_eq!(part, 17);
        assert_eq!(hash[1], 1);
        assert_eq!(ts.to_string(), "1700000000.12345");
        assert!(parse_data_path(Path::new("/d/objects/x/abc/zz/1.data")).is_none());
    }
}
