//! The proxy: maps accounts, containers and objects to devices through the
//! ring, fans writes out to every primary and answers on quorum, replaces a
//! failed primary with a handoff, and reads the newest version. It speaks in
//! domain types only; the HTTP front ends translate.

pub mod account;
pub mod container;
pub mod ec_get;
pub mod ec_put;
pub mod manifest;
pub mod object;
pub mod policy_cache;
pub mod put;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::ec::EcScheme;
use crate::node;
use crate::policy::Policies;

use crate::node::client::{HostHealth, HttpClient};
use crate::node::{Node, RemoteDevice};
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

/// The cluster as this process sees it: every storage policy's ring, and
/// every ring device as a `Node` (open here, or on another storage host).
pub struct Cluster {
    policies: Arc<Policies>,
    rings: RwLock<HashMap<u32, Arc<Ring>>>,
    /// When this process installed each policy's current ring.
    ring_since: RwLock<HashMap<u32, std::time::Instant>>,
    /// Devices by (policy, ring id).
    nodes: RwLock<HashMap<(u32, u32), Node>>,
    http: HttpClient,
    hosts: RwLock<HashMap<String, Arc<HostHealth>>>,
    /// Largest object accepted, in bytes.
    pub max_object_size: u64,
    container_policies: policy_cache::PolicyCache,
}

/// Bodies up to this size are stored inline in the metadata database.
pub const INLINE_MAX: usize = 64 * 1024;

impl Cluster {
    /// A cluster of the given policies, without rings yet (see `install`).
    pub fn with_policies(policies: Arc<Policies>, max_object_size: u64) -> Self {
        Cluster {
            policies,
            rings: RwLock::new(HashMap::new()),
            ring_since: RwLock::new(HashMap::new()),
            nodes: RwLock::new(HashMap::new()),
            http: node::client::http_client(),
            hosts: RwLock::new(HashMap::new()),
            max_object_size,
            container_policies: Default::default(),
        }
    }

    /// A cluster of policy 0 alone over `ring` whose devices are the given
    /// local stores and, for every other device of the ring, its storage host.
    pub fn new(ring: Ring, local: Vec<Arc<DeviceStore>>, max_object_size: u64) -> Self {
        let cluster =
            Cluster::with_policies(Arc::new(Policies::replicated_only()), max_object_size);
        cluster.install(0, ring, local);
        cluster
    }

    /// For tests: a three-replica cluster over `devices` local devices in
    /// `dir`, one zone each.
    #[cfg(test)]
    pub fn on_local_devices(dir: &std::path::Path, devices: u32) -> Cluster {
        use crate::ring::{DeviceSpec, RingBuilder};
        let mut b = RingBuilder::new(4, 3, 0).expect("builder");
        for i in 0..devices {
            let spec = DeviceSpec {
                region: 1,
                zone: i + 1,
                host: "127.0.0.1:6200".into(),
                device: format!("d{i}"),
                weight: 1.0,
            };
            b.add_device(spec).expect("add device");
        }
        b.rebalance().expect("rebalance");
        let ring = b.ring();
        let stores = ring
            .devices()
            .iter()
            .map(|d| Arc::new(DeviceStore::open(d.id, &dir.join(&d.device)).expect("open")))
            .collect();
        Cluster::new(ring, stores, 1 << 30)
    }

    /// The storage policies.
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// Policy 0's ring (accounts, containers and replicated objects).
    pub fn ring(&self) -> Arc<Ring> {
        self.ring_of(0).expect("policy 0 always has a ring")
    }

    /// A policy's ring, once installed.
    pub fn ring_of(&self, policy: u32) -> Option<Arc<Ring>> {
        self.rings
            .read()
            .expect("ring lock never poisoned")
            .get(&policy)
            .cloned()
    }

    /// Installs a (newer) ring of `policy` with the local devices newly
    /// opened for it; every other device it names is reached through its host.
    pub fn install(&self, policy: u32, ring: Ring, added_local: Vec<Arc<DeviceStore>>) {
        {
            let mut nodes = self.nodes.write().expect("node lock never poisoned");
            for d in added_local {
                nodes.insert((policy, d.id), Node::Local(d));
            }
            let mut hosts = self.hosts.write().expect("host lock never poisoned");
            for d in ring.devices() {
                let stale = match nodes.get(&(policy, d.id)) {
                    None => true,
                    Some(Node::Remote(r)) => r.host != d.host,
                    Some(Node::Local(_)) => false,
                };
                if stale {
                    let health = hosts.entry(d.host.clone()).or_default().clone();
                    let remote =
                        RemoteDevice::new(d.id, policy, d.host.clone(), self.http.clone(), health);
                    nodes.insert((policy, d.id), Node::Remote(Arc::new(remote)));
                }
            }
        }
        self.rings
            .write()
            .expect("ring lock never poisoned")
            .insert(policy, Arc::new(ring));
        self.ring_since
            .write()
            .expect("ring lock never poisoned")
            .insert(policy, std::time::Instant::now());
    }

    /// How long this process has run `policy`'s current ring.
    pub fn ring_age(&self, policy: u32) -> std::time::Duration {
        self.ring_since
            .read()
            .expect("ring lock never poisoned")
            .get(&policy)
            .map(std::time::Instant::elapsed)
            .unwrap_or_default()
    }

    /// A policy-0 device by ring id.
    pub fn node(&self, id: u32) -> Option<Node> {
        self.node_in(0, id)
    }

    /// A device of a policy by ring id.
    pub fn node_in(&self, policy: u32, id: u32) -> Option<Node> {
        self.nodes
            .read()
            .expect("node lock never poisoned")
            .get(&(policy, id))
            .cloned()
    }

    /// The stores open in this process, of every policy.
    pub fn devices(&self) -> Vec<Arc<DeviceStore>> {
        self.nodes
            .read()
            .expect("node lock never poisoned")
            .values()
            .filter_map(|n| n.local().cloned())
            .collect()
    }

    /// Whether a device of `policy` with this ring id is open in this process.
    pub fn has_device(&self, policy: u32, id: u32) -> bool {
        self.node_in(policy, id)
            .is_some_and(|n| n.local().is_some())
    }

    /// The partition, primary devices and handoffs of a path on policy 0's
    /// ring (accounts, containers, replicated objects).
    pub fn primaries(
        &self,
        account: &str,
        container: Option<&str>,
        object: Option<&str>,
    ) -> Placement {
        self.placement(0, account, container, object)
    }

    /// The partition, primary devices and handoffs of a path on a policy's ring.
    pub fn placement(
        &self,
        policy: u32,
        account: &str,
        container: Option<&str>,
        object: Option<&str>,
    ) -> Placement {
        let ring = self.ring_of(policy).unwrap_or_else(|| self.ring());
        let hash = ring.hash_path(account, container, object);
        let part = ring.partition_for_hash(&hash);
        let replicas = ring.replicas() as usize;
        let nodes = self.nodes.read().expect("node lock never poisoned");
        let primaries = ring
            .primaries(part)
            .iter()
            .filter_map(|d| nodes.get(&(policy, d.id)).cloned())
            .collect();
        let handoffs = ring
            .handoffs(part)
            .filter_map(|d| nodes.get(&(policy, d.id)).cloned())
            .collect();
        Placement {
            part,
            hash,
            replicas,
            nodes: primaries,
            handoffs,
            ec: self.policies.get(policy).and_then(|p| p.ec.clone()),
        }
    }
}

/// Where a path lives: its partition, hash, primaries and handoffs.
pub struct Placement {
    pub part: u32,
    pub hash: [u8; 16],
    pub replicas: usize,
    pub nodes: Vec<Node>,
    pub handoffs: Vec<Node>,
    /// The erasure-coding scheme, when the path's policy has one: then
    /// primary `i` holds fragment archive `i`.
    pub ec: Option<Arc<EcScheme>>,
}

impl Placement {
    /// Successes needed for a write: a majority of replicas, or for erasure
    /// coding `k` fragments and one more (Swift's EC quorum).
    pub fn quorum(&self) -> usize {
        match &self.ec {
            Some(ec) => (ec.k + 1).min(ec.width()),
            None => self.replicas / 2 + 1,
        }
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
