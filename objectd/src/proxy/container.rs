//! Container operations across the container's replicas.

use super::{tally, Cluster, ProxyError};
use crate::store::listing::{ListParams, Listing};
use crate::store::record::{ContainerInfo, ObjectRow};
use crate::store::writer::ContainerChange;
use crate::timestamp::Timestamp;

/// Whether a PUT created the container or updated an existing one.
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    New,
    Existing,
}

impl Cluster {
    /// Creates a container (or updates the metadata of an existing one).
    /// A new container gets storage policy `policy` (the default when
    /// `None`); asking an existing one for another policy is a `Conflict`.
    pub async fn put_container(
        &self,
        account: &str,
        container: &str,
        headers: Vec<(String, String)>,
        policy: Option<u32>,
    ) -> Result<Created, ProxyError> {
        let existing = match self.container_info(account, container).await {
            Ok(info) => Some(info),
            Err(ProxyError::NotFound) => None,
            Err(e) => return Err(e),
        };
        if let (Some(info), Some(p)) = (&existing, policy) {
            if self.policy_index(&info.policy) != p {
                return Err(ProxyError::Conflict);
            }
        }
        let policies = self.policies();
        let name = policy
            .and_then(|p| policies.get(p))
            .unwrap_or_else(|| policies.default_policy())
            .name
            .clone();
        self.forget_container_policy(account, container);
        let place = self.primaries(account, Some(container), None);
        let ts = Timestamp::now();
        let writes = place.nodes.iter().map(|d| {
            let change = ContainerChange::Put {
                ts,
                headers: headers.clone(),
                policy: name.clone(),
            };
            d.container_change(place.part, account, container, change)
        });
        let infos = tally(futures::future::join_all(writes).await, place.quorum())?;
        if let Some(info) = infos.first() {
            self.update_account(account, container, info, ts, true)
                .await;
        }
        Ok(if existing.is_some() {
            Created::Existing
        } else {
            Created::New
        })
    }

    /// Merges container metadata.
    pub async fn post_container(
        &self,
        account: &str,
        container: &str,
        headers: Vec<(String, String)>,
    ) -> Result<(), ProxyError> {
        let place = self.primaries(account, Some(container), None);
        let ts = Timestamp::now();
        let writes = place.nodes.iter().map(|d| {
            d.container_change(
                place.part,
                account,
                container,
                ContainerChange::Post {
                    ts,
                    headers: headers.clone(),
                },
            )
        });
        tally(futures::future::join_all(writes).await, place.quorum())?;
        Ok(())
    }

    /// Deletes an empty container.
    pub async fn delete_container(&self, account: &str, container: &str) -> Result<(), ProxyError> {
        self.forget_container_policy(account, container);
        let place = self.primaries(account, Some(container), None);
        let ts = Timestamp::now();
        let writes = place.nodes.iter().map(|d| {
            d.container_change(
                place.part,
                account,
                container,
                ContainerChange::Delete { ts },
            )
        });
        let infos = tally(futures::future::join_all(writes).await, place.quorum())?;
        if let Some(info) = infos.first() {
            self.update_account(account, container, info, ts, true)
                .await;
        }
        Ok(())
    }

    /// The newest record of an existing container.
    pub async fn container_info(
        &self,
        account: &str,
        container: &str,
    ) -> Result<ContainerInfo, ProxyError> {
        let place = self.primaries(account, Some(container), None);
        let reads = place
            .nodes
            .iter()
            .map(|d| d.container_info(place.part, account, container));
        futures::future::join_all(reads)
            .await
            .into_iter()
            .filter_map(|r| r.ok().flatten())
            .filter(ContainerInfo::exists)
            .max_by_key(|i| (i.put_ts, i.meta_ts, i.object_count))
            .ok_or(ProxyError::NotFound)
    }

    /// Lists a container from the first replica that has it.
    pub async fn list_container(
        &self,
        account: &str,
        container: &str,
        params: ListParams,
    ) -> Result<Listing<ObjectRow>, ProxyError> {
        let place = self.primaries(account, Some(container), None);
        let mut last = ProxyError::NotFound;
        for d in &place.nodes {
            match d.container_info(place.part, account, container).await {
                Ok(Some(info)) if info.exists() => match d
                    .list_container(place.part, account, container, params.clone())
                    .await
                {
                    Ok(l) => return Ok(l),
                    Err(e) => last = e.into(),
                },
                Ok(_) => {}
                Err(e) => last = e.into(),
            }
        }
        Err(last)
    }
}
