//! Which storage policy a container's objects use, as the proxy remembers
//! it. A container's policy never changes while it exists, so an entry only
//! goes stale when the container is deleted and made again with another
//! policy; entries live a few seconds and this proxy forgets its own
//! container deletes at once (Swift's proxy caches container info likewise).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Cluster, ProxyError};

/// How long a looked-up policy is trusted.
const TTL: Duration = Duration::from_secs(10);
/// Entries kept before the cache is emptied and refilled.
const MAX_ENTRIES: usize = 65_536;

/// (account, container) → (policy index, when it was looked up).
#[derive(Default)]
pub struct PolicyCache {
    entries: Mutex<HashMap<(String, String), (u32, Instant)>>,
}

impl PolicyCache {
    fn get(&self, account: &str, container: &str) -> Option<u32> {
        let entries = self.entries.lock().expect("policy cache never poisoned");
        let key = (account.to_string(), container.to_string());
        entries
            .get(&key)
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(p, _)| *p)
    }

    fn put(&self, account: &str, container: &str, policy: u32) {
        let mut entries = self.entries.lock().expect("policy cache never poisoned");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            (account.to_string(), container.to_string()),
            (policy, Instant::now()),
        );
    }

    /// Forgets a container (deleted or re-created here).
    pub fn forget(&self, account: &str, container: &str) {
        self.entries
            .lock()
            .expect("policy cache never poisoned")
            .remove(&(account.to_string(), container.to_string()));
    }
}

impl Cluster {
    /// The policy index of a container's objects; the default policy when
    /// the container does not exist (its objects are then not found anyway).
    pub async fn object_policy(&self, account: &str, container: &str) -> Result<u32, ProxyError> {
        if self.policies().all().len() == 1 {
            return Ok(self.policies().all()[0].index);
        }
        if let Some(p) = self.container_policies.get(account, container) {
            return Ok(p);
        }
        match self.container_info(account, container).await {
            Ok(info) => {
                let index = self.policy_index(&info.policy);
                self.container_policies.put(account, container, index);
                Ok(index)
            }
            Err(ProxyError::NotFound) => Ok(self.policies().default_policy().index),
            Err(e) => Err(e),
        }
    }

    /// The index of a policy named in a container record (policy 0 for a
    /// name no longer configured).
    pub fn policy_index(&self, name: &str) -> u32 {
        self.policies().by_name(name).map_or(0, |p| p.index)
    }

    /// Forgets what this proxy remembers about a container's policy.
    pub fn forget_container_policy(&self, account: &str, container: &str) {
        self.container_policies.forget(account, container);
    }
}
