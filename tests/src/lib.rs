//! System-test harness for Cairn: starts the real `cairn up` binary on a
//! temporary data directory (`Appliance`), talks Swift v1 to it through an
//! ordinary client (`client::Swift`) or byte-exact raw requests (`raw`), and
//! inspects what it left on disk (`tmp_files`, `data_files`). `keystone`
//! drives identity (Keystone v3) and the object store with its tokens;
//! `nbd_server` runs `blockd serve` for the NBD tests.
//!
//! The tests need the binary built first: `cargo build --bins`, or point
//! `CAIRN_BIN` at one. `CAIRN_TEST_KEEP=1` keeps each test's directory.

pub mod appliance;
pub mod client;
pub mod keystone;
pub mod multihost;
pub mod nbd_server;
pub mod placement;
pub mod raw;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use rand::RngCore;

pub use appliance::{cairn_bin, Appliance, OpenRc};
pub use client::{Listed, Response, Swift};
pub use raw::{RawConn, RawResponse};

/// Lowercase hex MD5 of `data` (a Swift ETag).
pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// `n` random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut v);
    v
}

/// Every regular file below `dir` (none if it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(_) => out.push(p),
                Err(_) => {}
            }
        }
    }
    out.sort();
    out
}

/// The device directories `DATA/devices/*`.
pub fn device_dirs(data_dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(data_dir.join("devices"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Files in every device's `tmp/` (uploads in progress or left behind).
pub fn tmp_files(data_dir: &Path) -> Vec<PathBuf> {
    device_dirs(data_dir)
        .iter()
        .flat_map(|d| files_under(&d.join("tmp")))
        .collect()
}

/// Committed data files (`*.data`) under every device's `objects/`.
pub fn data_files(data_dir: &Path) -> Vec<PathBuf> {
    device_dirs(data_dir)
        .iter()
        .flat_map(|d| files_under(&d.join("objects")))
        .filter(|p| p.extension().is_some_and(|e| e == "data"))
        .collect()
}

/// Polls `check` every 100 ms until it returns true or `timeout` passes;
/// returns whether it became true.
pub async fn wait_until<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return true;
        }
        if started.elapsed() >= timeout {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits up to `timeout` for every device's `tmp/` to be empty; panics with
/// the leftovers otherwise.
pub async fn assert_tmp_empties(data_dir: &Path, timeout: Duration) {
    let emptied = wait_until(timeout, || async { tmp_files(data_dir).is_empty() }).await;
    assert!(
        emptied,
        "temporary files left behind after {timeout:?}: {:?}",
        tmp_files(data_dir)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_of_empty() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn walks_files() {
        let d = tempfile::tempdir().expect("tempdir");
        let dev = d.path().join("devices/d0");
        std::fs::create_dir_all(dev.join("tmp")).expect("mkdir");
        std::fs::create_dir_all(dev.join("objects/1/abc/hash")).expect("mkdir");
        std::fs::write(dev.join("tmp/x.tmp"), b"x").expect("write");
        std::fs::write(dev.join("objects/1/abc/hash/1.data"), b"x").expect("write");
        std::fs::write(dev.join("objects/1/abc/hash/1.meta"), b"x").expect("write");
        assert_eq!(tmp_files(d.path()).len(), 1);
        assert_eq!(data_files(d.path()).len(), 1);
        assert!(tmp_files(&d.path().join("nope")).is_empty());
    }
}
