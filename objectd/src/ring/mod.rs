//! The consistent-hashing ring (read side): path hashing, partition lookup,
//! primary and handoff devices, and loading a ring from its file.
//!
//! The model follows OpenStack Swift: a ring has `2^P` partitions, each
//! assigned to `R` devices (one per replica slot). A path
//! `/account[/container[/object]]` is hashed with a keyed blake3 hash; the top
//! `P` bits of the hash select the partition. Rings are built and rebalanced
//! by [`RingBuilder`]; one file holds both the builder state and the
//! assignment table (see `file.rs` for the format).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

mod builder;
pub mod cli;
mod file;
mod rebalance;
#[cfg(test)]
mod tests;

pub use builder::{DeviceSpec, DeviceStats, RebalanceReport, RingBuilder};
pub use cli::RingCommand;

/// Largest supported partition power.
pub const MAX_PART_POWER: u32 = 22;
/// Largest supported replica count.
pub const MAX_REPLICAS: u32 = 16;
/// Table entry of a replica slot that is not assigned to any device.
pub(crate) const NONE_DEV: u32 = u32::MAX;

/// Errors from loading, saving or building a ring.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not a Cairn ring file (bad magic)")]
    BadMagic,
    #[error("unsupported ring file format version {found} (this build reads {expected})")]
    UnsupportedFormat { found: u32, expected: u32 },
    #[error("ring file truncated: expected {expected} bytes, found {found}")]
    Truncated { expected: u64, found: u64 },
    #[error("ring file checksum mismatch (file corrupted)")]
    ChecksumMismatch,
    #[error("ring file corrupt: {0}")]
    Corrupt(String),
    #[error("invalid ring parameter: {0}")]
    InvalidParameter(String),
    #[error("no such device: {0}")]
    NoSuchDevice(u32),
    #[error("ring has no device with a weight > 0")]
    NoActiveDevices,
    #[error("{} already exists", .0.display())]
    AlreadyExists(PathBuf),
}

/// Result type of the ring module.
pub type Result<T, E = RingError> = std::result::Result<T, E>;

/// A storage device in the ring.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// Stable id, never reused.
    pub id: u32,
    pub region: u32,
    pub zone: u32,
    /// `address:port` of the object server holding the device.
    pub host: String,
    /// Device (mount) name on that host, e.g. `d0`.
    pub device: String,
    /// Relative capacity; 0 means "drain" (no partitions after a rebalance).
    pub weight: f64,
}

/// Keyed blake3 hash of `/account[/container[/object]]`, truncated to 16
/// bytes. An object without a container hashes as `/account//object`.
pub fn hash_path(
    key: &[u8; 32],
    account: &str,
    container: Option<&str>,
    object: Option<&str>,
) -> [u8; 16] {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(b"/");
    h.update(account.as_bytes());
    if container.is_some() || object.is_some() {
        h.update(b"/");
        h.update(container.unwrap_or("").as_bytes());
    }
    if let Some(o) = object {
        h.update(b"/");
        h.update(o.as_bytes());
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    out
}

/// splitmix64 finalizer: a cheap, well-mixed deterministic hash.
pub(crate) fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The lookup view of a ring: immutable, cheap to query.
#[derive(Debug, Clone)]
pub struct Ring {
    part_power: u32,
    replicas: u32,
    hash_key: [u8; 32],
    version: u64,
    /// Sorted by id.
    devs: Vec<Device>,
    /// `table[replica][partition]` = device id or [`NONE_DEV`].
    table: Vec<Vec<u32>>,
}

impl Ring {
    /// Load the ring stored in `path` (a file written by [`RingBuilder`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Ring> {
        let data = file::read(path.as_ref())?;
        Ok(Ring::from_data(data))
    }

    pub(crate) fn from_data(data: file::RingData) -> Ring {
        let devs = data.devices.iter().map(Device::from).collect();
        Ring {
            part_power: data.part_power,
            replicas: data.replicas,
            hash_key: data.hash_key,
            version: data.version,
            devs,
            table: data.table,
        }
    }

    /// Partition power `P` (the ring has `2^P` partitions).
    pub fn part_power(&self) -> u32 {
        self.part_power
    }

    /// Number of partitions, `2^P`.
    pub fn partition_count(&self) -> u32 {
        1u32 << self.part_power
    }

    /// Replica count `R`.
    pub fn replicas(&self) -> u32 {
        self.replicas
    }

    /// Ring version, bumped by every written builder change and rebalance.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// All devices, sorted by id (devices removed but not yet rebalanced
    /// away appear with weight 0).
    pub fn devices(&self) -> &[Device] {
        &self.devs
    }

    /// The device with this id.
    pub fn device(&self, id: u32) -> Option<&Device> {
        self.devs
            .binary_search_by_key(&id, |d| d.id)
            .ok()
            .map(|i| &self.devs[i])
    }

    /// Keyed hash of `/account[/container[/object]]` with this ring's key.
    pub fn hash_path(
        &self,
        account: &str,
        container: Option<&str>,
        object: Option<&str>,
    ) -> [u8; 16] {
        hash_path(&self.hash_key, account, container, object)
    }

    /// The partition of a path hash: the top `P` bits of its first 4 bytes.
    pub fn partition_for_hash(&self, hash: &[u8; 16]) -> u32 {
        let top = u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]);
        top >> (32 - self.part_power)
    }

    /// The partition of `/account[/container[/object]]`.
    pub fn partition(&self, account: &str, container: Option<&str>, object: Option<&str>) -> u32 {
        self.partition_for_hash(&self.hash_path(account, container, object))
    }

    /// The primary devices of `part` in replica order. Exactly `R` distinct
    /// devices once the ring is rebalanced with at least `R` active devices;
    /// duplicates and unassigned slots are skipped. Empty for an
    /// out-of-range partition.
    pub fn primaries(&self, part: u32) -> Vec<&Device> {
        let mut out: Vec<&Device> = Vec::with_capacity(self.table.len());
        for row in &self.table {
            let Some(&id) = row.get(part as usize) else {
                continue;
            };
            if out.iter().any(|d| d.id == id) {
                continue;
            }
            if let Some(d) = self.device(id) {
                out.push(d);
            }
        }
        out
    }

    /// Every active (weight > 0) device that is not a primary of `part`, in
    /// a deterministic per-partition order that first yields devices in
    /// regions not yet used (by primaries or earlier handoffs), then in
    /// unused zones, then on unused hosts, then the rest — like Swift's
    /// `get_more_nodes`.
    pub fn handoffs(&self, part: u32) -> impl Iterator<Item = &Device> + '_ {
        self.handoff_list(part).into_iter()
    }

    fn handoff_list(&self, part: u32) -> Vec<&Device> {
        let primaries = self.primaries(part);
        let mut regions: HashSet<u32> = HashSet::new();
        let mut zones: HashSet<(u32, u32)> = HashSet::new();
        let mut hosts: HashSet<(u32, u32, &str)> = HashSet::new();
        for d in &primaries {
            regions.insert(d.region);
            zones.insert((d.region, d.zone));
            hosts.insert((d.region, d.zone, d.host.as_str()));
        }
        let seed = u64::from_le_bytes([
            self.hash_key[0],
            self.hash_key[1],
            self.hash_key[2],
            self.hash_key[3],
            self.hash_key[4],
            self.hash_key[5],
            self.hash_key[6],
            self.hash_key[7],
        ]) ^ (u64::from(part) << 32);
        let mut cands: Vec<(u64, &Device)> = self
            .devs
            .iter()
            .filter(|d| d.weight > 0.0 && !primaries.iter().any(|p| p.id == d.id))
            .map(|d| (mix64(seed ^ u64::from(d.id)), d))
            .collect();
        cands.sort_by_key(|&(k, d)| (k, d.id));
        let mut taken = vec![false; cands.len()];
        let mut out = Vec::with_capacity(cands.len());
        for pass in 0..4 {
            for (i, &(_, d)) in cands.iter().enumerate() {
                if taken[i] {
                    continue;
                }
                let host = (d.region, d.zone, d.host.as_str());
                let fresh = match pass {
                    0 => !regions.contains(&d.region),
                    1 => !zones.contains(&(d.region, d.zone)),
                    2 => !hosts.contains(&host),
                    _ => true,
                };
                if fresh {
                    taken[i] = true;
                    regions.insert(d.region);
                    zones.insert((d.region, d.zone));
                    hosts.insert(host);
                    out.push(d);
                }
            }
        }
        out
    }
}
