//! Account operations: metadata, the container listing, and the rows that
//! container changes push into it.

use std::collections::BTreeMap;

use super::{tally, Cluster, ProxyError};
use crate::store::listing::{Entry, ListParams, Listing};
use crate::store::record::{AccountInfo, ContainerInfo, ContainerRow};
use crate::timestamp::Timestamp;

/// An account's totals, summed over its containers.
#[derive(Debug, Default)]
pub struct AccountStats {
    pub containers: u64,
    pub objects: u64,
    pub bytes: u64,
    /// Containers, objects and bytes per storage policy (by name).
    pub per_policy: BTreeMap<String, [u64; 3]>,
    pub info: AccountInfo,
}

impl Cluster {
    /// Pushes a container's existence and stats to the account's replicas;
    /// `durable` waits for the rows to be committed (see
    /// `DeviceStore::account_row`).
    pub async fn update_account(
        &self,
        account: &str,
        container: &str,
        info: &ContainerInfo,
        stats_ts: Timestamp,
        durable: bool,
    ) {
        let place = self.primaries(account, None, None);
        // The container's own count-change time orders its reports; a
        // container whose counts never changed reports at `stats_ts`.
        let stats_ts = if info.stats_ts.0 > 0 {
            info.stats_ts
        } else {
            stats_ts
        };
        let row = ContainerRow {
            put_ts: info.put_ts,
            delete_ts: info.delete_ts,
            stats_ts,
            object_count: info.object_count,
            bytes_used: info.bytes_used,
            policy: info.policy.clone(),
        };
        for d in &place.nodes {
            if let Err(e) = d
                .account_row(place.part, account, container, row.clone(), durable)
                .await
            {
                tracing::warn!(account, container, "account update failed: {e}");
            }
        }
    }

    /// Merges account metadata.
    pub async fn post_account(
        &self,
        account: &str,
        headers: Vec<(String, String)>,
    ) -> Result<(), ProxyError> {
        let place = self.primaries(account, None, None);
        let ts = Timestamp::now();
        let writes = place
            .nodes
            .iter()
            .map(|d| d.account_post(place.part, account, ts, headers.clone()));
        tally(futures::future::join_all(writes).await, place.quorum())?;
        Ok(())
    }

    /// Lists an account's containers from the first replica that answers.
    pub async fn list_account(
        &self,
        account: &str,
        params: ListParams,
    ) -> Result<Listing<ContainerRow>, ProxyError> {
        let place = self.primaries(account, None, None);
        let mut last = ProxyError::NotFound;
        for d in &place.nodes {
            match d.list_account(place.part, account, params.clone()).await {
                Ok(l) => return Ok(l),
                Err(e) => last = e.into(),
            }
        }
        Err(last)
    }

    /// The account's metadata and totals (accounts exist implicitly, as with
    /// Swift's `account_autocreate`).
    pub async fn account_stats(&self, account: &str) -> Result<AccountStats, ProxyError> {
        let place = self.primaries(account, None, None);
        let mut stats = AccountStats::default();
        for d in &place.nodes {
            if let Ok(Some(info)) = d.account_info(place.part, account).await {
                if info.meta_ts >= stats.info.meta_ts {
                    stats.info = info;
                }
            }
        }
        let all = ListParams {
            limit: usize::MAX,
            ..Default::default()
        };
        for entry in self.list_account(account, all).await? {
            if let Entry::Row(_, row) = entry {
                stats.containers += 1;
                stats.objects += row.object_count;
                stats.bytes += row.bytes_used;
                let policies = self.policies();
                let policy = policies
                    .by_name(&row.policy)
                    .or_else(|| policies.get(0))
                    .map_or_else(|| row.policy.clone(), |p| p.name.clone());
                let sums = stats.per_policy.entry(policy).or_default();
                sums[0] += 1;
                sums[1] += row.object_count;
                sums[2] += row.bytes_used;
            }
        }
        Ok(stats)
    }
}
