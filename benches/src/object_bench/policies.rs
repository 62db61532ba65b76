//! The `policies` benchmark: for each named storage policy, a container of
//! that policy gets the small-object PUT phase and the large-object PUT/GET
//! phases; the store's data directory is measured for bytes on disk per
//! byte stored; then the data files of two devices written by the run are
//! removed and the large objects are read again (degraded GET).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{bail, Result};
use bytes::Bytes;
use http::Method;
use md5::{Digest, Md5};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use super::cleanup::cleanup;
use super::large_objects::{large_get_phase, large_put_phase};
use super::small_objects::{push_ops, small_put_phase};
use super::{log, Created, Ctx, ObjectConfig, Outcome, MIB};
use crate::report::{ErrorTally, Report};
use crate::stats::rate;
use crate::swift_client::{BodyMode, ReqBody, Session};
use crate::units::size_label;

/// Devices whose files are removed for the degraded read (the parity
/// count of a 4+2 policy).
const MISSING_DEVICES: usize = 2;

/// Every data file under `dir`, with its size and modification time.
fn data_files(dir: &Path) -> Vec<(PathBuf, u64, SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                if !path.ends_with("quarantined") && !path.ends_with("tmp") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|x| x == "data") {
                let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                out.push((path, meta.len(), modified));
            }
        }
    }
    out
}

fn disk_bytes(devices: &Path) -> u64 {
    data_files(devices).iter().map(|(_, len, _)| *len).sum()
}

/// Removes the data files written since `since` on the first devices (by
/// name), standing in for devices that are gone.
fn remove_recent(devices: &Path, since: SystemTime) -> usize {
    let mut names: Vec<PathBuf> = std::fs::read_dir(devices)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    names.sort();
    let mut removed = 0;
    for dev in names.into_iter().take(MISSING_DEVICES) {
        for (path, _, modified) in data_files(&dev) {
            if modified >= since && std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

async fn create_container(ctx: &Ctx, name: &Arc<str>, policy: &str) -> Result<()> {
    let mut conn = ctx.conn();
    let target = ctx.session.storage.container_target(name, None);
    let header = (
        http::HeaderName::from_static("x-storage-policy"),
        http::HeaderValue::from_str(policy)?,
    );
    let reply = conn
        .request(
            Method::PUT,
            &target,
            &[header],
            ReqBody::Empty,
            BodyMode::Drain,
        )
        .await?;
    if !reply.status.is_success() {
        bail!(
            "creating container {name} with policy {policy} failed: {}",
            reply.status
        );
    }
    Ok(())
}

/// Runs the phases for each policy; `devices` is the store's devices
/// directory (a store used only by this run: files are removed from it).
pub async fn run_policies(
    session: Session,
    cfg: &ObjectConfig,
    policies: &[String],
    devices: &Path,
    report: &mut Report,
) -> Result<Outcome> {
    cfg.validate()?;
    let size = cfg.large_size as usize;
    let (buffer, md5) = tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; size];
        StdRng::from_entropy().fill_bytes(&mut buf);
        let md5 = hex::encode(Md5::digest(&buf));
        (Bytes::from(buf), md5)
    })
    .await?;
    let md5: Arc<str> = Arc::from(md5);
    let mut outcome = Outcome::default();
    for policy in policies {
        let ctx = Arc::new(Ctx {
            session: session.clone(),
            prefix: policy.clone(),
            cfg: cfg.clone(),
            errors: ErrorTally::default(),
        });
        let p = policy.as_str();
        let container: Arc<str> =
            Arc::from(format!("cairn-bench-{p}-{:08x}", rand::random::<u32>()));
        create_container(&ctx, &container, p).await?;
        let mut created = Created {
            containers: vec![container.to_string()],
            objects: Vec::new(),
        };
        log(format!("{p}: small PUT"));
        let put = small_put_phase(&ctx, &container).await;
        created
            .objects
            .extend(put.attempted.iter().map(|n| (container.clone(), n.clone())));
        push_ops(
            report,
            &format!("{p}.put_{}", size_label(cfg.small_size)),
            &put.timing,
        );

        let large = size_label(cfg.large_size);
        let before = disk_bytes(devices);
        let started = SystemTime::now() - std::time::Duration::from_secs(1);
        log(format!("{p}: large PUT/GET"));
        let large_put = large_put_phase(&ctx, &container, buffer.clone(), md5.clone()).await;
        created.objects.extend(
            large_put
                .attempted
                .iter()
                .map(|n| (container.clone(), n.clone())),
        );
        report.push(
            format!("{p}.put_{large}_mib_per_s"),
            rate(large_put.bytes as f64 / MIB, large_put.elapsed),
            1,
        );
        let stored = disk_bytes(devices).saturating_sub(before);
        report.push(
            format!("{p}.disk_bytes_per_byte"),
            stored as f64 / large_put.bytes.max(1) as f64,
            2,
        );
        let names = Arc::new(large_put.written);
        let healthy = large_get_phase(&ctx, &container, names.clone()).await;
        report.push(
            format!("{p}.get_{large}_mib_per_s"),
            rate(healthy.bytes as f64 / MIB, healthy.elapsed),
            1,
        );
        let removed = remove_recent(devices, started);
        log(format!(
            "{p}: removed {removed} data files of {MISSING_DEVICES} devices"
        ));
        let degraded = large_get_phase(&ctx, &container, names).await;
        report.push(
            format!("{p}.get_{large}_degraded_mib_per_s"),
            rate(degraded.bytes as f64 / MIB, degraded.elapsed),
            1,
        );
        report.push(format!("{p}.errors"), ctx.errors.count() as f64, 0);
        outcome.errors += ctx.errors.count();
        outcome.error_samples.extend(ctx.errors.samples());
        outcome.cleanup_errors += cleanup(&ctx, created).await;
    }
    Ok(outcome)
}
