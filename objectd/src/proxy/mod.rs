//! The proxy: maps accounts, containers and objects to devices through the
//! ring, fans writes out to every primary and answers on quorum, replaces a
//! failed primary with a handoff, and reads the newest version. It speaks in
//! domain types only; the HTTP front ends translate.

pub mod account;
pub mod container;
pub mod manifest;
pub mod object;
pub mod put;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::ring::Ring;
use crate::store::{DeviceStore, StoreError};

/// Why a proxy operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("not found")]
    NotFound,
    #[error("conflict")]
    Conflict,
    #[error("container not empty")]
    NotEmpty,
    #[error("precondition failed")]
    PreconditionFailed,
    /// The body's MD5 does not match the `ETag` the client sent.
    #[error("etag mismatch")]
    EtagMismatch,
    /// The body is larger than the largest object allowed.
    #[error("object too large")]
    TooLarge,
    /// The body ended before (or ran past) its declared length.
    #[error("body length does not match content-length")]
    LengthMismatch,
    /// The client stopped sending.
    #[error("client disconnected or timed out: {0}")]
    ClientBody(std::io::Error),
    /// Fewer replicas answered than a quorum needs.
    #[error("quorum not reached: {ok} of {needed}")]
    Quorum { ok: usize, needed: usize },
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

/// The cluster as the proxy sees it: the ring and the devices it can reach.
pub struct Cluster {
    ring: RwLock<Arc<Ring>>,
    devices: RwLock<HashMap<u32, Arc<DeviceStore>>>,
    /// Largest object accepted, in bytes.
    pub max_object_size: u64,
}

/// Bodies up to this size are stored inline in the metadata database.
pub const INLINE_MAX: usize = 64 * 1024;

impl Cluster {
    /// A cluster over `ring` whose devices are the given local stores.
    pub fn new(ring: Ring, devices: Vec<Arc<DeviceStore>>, max_object_size: u64) -> Self {
        Cluster {
            ring: RwLock::new(Arc::new(ring)),
            devices: RwLock::new(devices.into_iter().map(|d| (d.id, d)).collect()),
            max_object_size,
        }
    }

    /// The current ring.
    pub fn ring(&self) -> Arc<Ring> {
        self.ring.read().expect("ring lock never poisoned").clone()
    }

    /// Installs a newer ring.
    pub fn set_ring(&self, ring: Ring) {
        *self.ring.write().expect("ring lock never poisoned") = Arc::new(ring);
    }

    /// A local device by ring id.
    pub fn device(&self, id: u32) -> Option<Arc<DeviceStore>> {
        self.devices
            .read()
            .expect("device lock never poisoned")
            .get(&id)
            .cloned()
    }

    /// The local devices.
    pub fn devices(&self) -> Vec<Arc<DeviceStore>> {
        self.devices
            .read()
            .expect("device lock never poisoned")
            .values()
            .cloned()
            .collect()
    }

    /// Whether a device with this ring id is open here.
    pub fn has_device(&self, id: u32) -> bool {
        self.devices
            .read()
            .expect("device lock never poisoned")
            .contains_key(&id)
    }

    /// Adds newly opened local devices (a new ring named them).
    pub fn add_devices(&self, added: Vec<Arc<DeviceStore>>) {
        let mut devices = self.devices.write().expect("device lock never poisoned");
        for d in added {
            devices.insert(d.id, d);
        }
    }

    /// The partition and reachable primary devices of a path.
    pub fn primaries(
        &self,
        account: &str,
        container: Option<&str>,
        object: Option<&str>,
    ) -> Placement {
        let ring = self.ring();
        let hash = ring.hash_path(account, container, object);
        let part = ring.partition_for_hash(&hash);
        let replicas = ring.replicas() as usize;
        let devices = self.devices.read().expect("device lock never poisoned");
        let nodes = ring
            .primaries(part)
            .iter()
            .filter_map(|d| devices.get(&d.id).cloned())
            .collect();
        let handoffs = ring
            .handoffs(part)
            .filter_map(|d| devices.get(&d.id).cloned())
            .collect();
        Placement {
            part,
            hash,
            replicas,
            nodes,
            handoffs,
        }
    }
}

/// Where a path lives: its partition, hash, primaries and handoffs.
pub struct Placement {
    pub part: u32,
    pub hash: [u8; 16],
    pub replicas: usize,
    pub nodes: Vec<Arc<DeviceStore>>,
    pub handoffs: Vec<Arc<DeviceStore>>,
}

impl Placement {
    /// Successes needed for a write (a majority of replicas).
    pub fn quorum(&self) -> usize {
        self.replicas / 2 + 1
    }
}

/// Counts successes of a fan-out and keeps the first result and error seen.
pub fn tally<T>(results: Vec<Result<T, StoreError>>, needed: usize) -> Result<Vec<T>, ProxyError> {
    let mut ok = Vec::new();
    let mut first_err = None;
    for r in results {
        match r {
            Ok(v) => ok.push(v),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if ok.len() >= needed {
        return Ok(ok);
    }
    match first_err {
        Some(StoreError::NotFound) => Err(ProxyError::NotFound),
        Some(StoreError::Conflict) => Err(ProxyError::Conflict),
        Some(StoreError::NotEmpty) => Err(ProxyError::NotEmpty),
        _ => Err(ProxyError::Quorum {
            ok: ok.len(),
            needed,
        }),
    }
}
