//! Container operations across the container's replicas.

use super::{tally, Cluster, ProxyError};
use crate::node::Node;
use crate::store::listing::{Entry, ListParams, Listing};
use crate::store::record::{ContainerInfo, ObjectRow};
use crate::store::writer::ContainerChange;
use crate::store::StoreError;
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

    /// Lists a container from every replica that has it, as one listing:
    /// a row any of them holds is listed (`X-Newest`). A row written while
    /// one replica was unreachable reaches it only with replication, and a
    /// listing from that replica alone would not show it.
    pub async fn list_container_all_replicas(
        &self,
        account: &str,
        container: &str,
        params: ListParams,
    ) -> Result<Listing<ObjectRow>, ProxyError> {
        let place = self.primaries(account, Some(container), None);
        let pages = place
            .nodes
            .iter()
            .map(|d| replica_listing(d, place.part, account, container, params.clone()));
        let mut listed = Vec::new();
        let mut last = ProxyError::NotFound;
        for page in futures::future::join_all(pages).await {
            match page {
                Ok(Some(p)) => listed.push(p),
                Ok(None) => {}
                Err(e) => last = ProxyError::from(e),
            }
        }
        if listed.is_empty() {
            return Err(last);
        }
        Ok(merge_pages(listed, params.limit, params.reverse))
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
            match replica_listing(d, place.part, account, container, params.clone()).await {
                Ok(Some(l)) => return Ok(l),
                Ok(None) => {}
                Err(e) => last = e.into(),
            }
        }
        Err(last)
    }
}

/// One replica's page of a container listing; `None` if that replica
/// does not hold the container.
async fn replica_listing(
    d: &Node,
    part: u32,
    account: &str,
    container: &str,
    params: ListParams,
) -> Result<Option<Listing<ObjectRow>>, StoreError> {
    match d.container_info(part, account, container).await? {
        Some(info) if info.exists() => d
            .list_container(part, account, container, params)
            .await
            .map(Some),
        _ => Ok(None),
    }
}

fn entry_name<T>(e: &Entry<T>) -> &str {
    match e {
        Entry::Row(n, _) | Entry::Subdir(n) => n,
    }
}

/// One listing page from several replicas' pages (each in listing order,
/// each at most `limit` long): their entries merged by name, without
/// repeats (a row listed by several replicas in its newest version), up
/// to `limit`. A full page may have stopped short of entries
/// another page holds, so nothing past the end of the shortest-reaching
/// full page is listed; the client's next page starts there.
/// A listing row that may exist in several versions, one per replica.
trait Versioned {
    /// Whether `self` is a later version than `other`.
    fn newer_than(&self, other: &Self) -> bool;
}

impl Versioned for ObjectRow {
    fn newer_than(&self, other: &Self) -> bool {
        self.ts > other.ts
    }
}

fn merge_pages<T: Clone + Versioned>(
    pages: Vec<Listing<T>>,
    limit: usize,
    reverse: bool,
) -> Listing<T> {
    let before = |a: &str, b: &str| if reverse { a > b } else { a < b };
    let mut horizon: Option<String> = None;
    for p in pages.iter().filter(|p| p.len() >= limit) {
        if let Some(last) = p.last().map(entry_name) {
            if horizon.as_deref().is_none_or(|h| before(last, h)) {
                horizon = Some(last.to_string());
            }
        }
    }
    let mut merged: std::collections::BTreeMap<String, Entry<T>> = Default::default();
    for e in pages.into_iter().flatten() {
        let name = entry_name(&e);
        if horizon.as_deref().is_some_and(|h| before(h, name)) {
            continue;
        }
        match merged.entry(name.to_string()) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(e);
            }
            // A replica that missed an update lists the older version.
            std::collections::btree_map::Entry::Occupied(mut o) => {
                if let (Entry::Row(_, new), Entry::Row(_, old)) = (&e, o.get()) {
                    if new.newer_than(old) {
                        o.insert(e);
                    }
                }
            }
        }
    }
    let mut page: Listing<T> = merged.into_values().collect();
    if reverse {
        page.reverse();
    }
    page.truncate(limit);
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Versioned for u32 {
        fn newer_than(&self, other: &Self) -> bool {
            self > other
        }
    }

    fn page(names: &[&str]) -> Listing<u32> {
        names.iter().map(|n| Entry::Row(n.to_string(), 0)).collect()
    }

    fn names(l: &Listing<u32>) -> Vec<&str> {
        l.iter().map(entry_name).collect()
    }

    #[test]
    fn a_row_listed_by_several_replicas_shows_its_newest_version() {
        let row = |n: &str, v: u32| Entry::Row(n.to_string(), v);
        for pages in [
            vec![vec![row("a", 1)], vec![row("a", 2)]],
            vec![vec![row("a", 2)], vec![row("a", 1)]],
        ] {
            let got = merge_pages(pages, 10, false);
            assert!(matches!(got.as_slice(), [Entry::Row(n, 2)] if n == "a"));
        }
    }

    #[test]
    fn merged_pages_list_every_replica_s_rows_once_and_in_order() {
        let got = merge_pages(vec![page(&["a", "c"]), page(&["a", "b", "c"])], 10, false);
        assert_eq!(names(&got), ["a", "b", "c"]);
        let got = merge_pages(vec![page(&["c", "a"]), page(&["c", "b"])], 10, true);
        assert_eq!(names(&got), ["c", "b", "a"]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_row_one_replica_missed_is_listed_from_all_replicas() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = Cluster::on_local_devices(dir.path(), 3);
        c.put_container("AUTH_a", "c", vec![], None)
            .await
            .expect("create");
        // The row reaches every replica but the one listings ask first (as
        // when that one was down during the upload).
        let place = c.primaries("AUTH_a", Some("c"), None);
        let row = ObjectRow {
            ts: Timestamp::now(),
            deleted: false,
            size: 1,
            etag: "e".into(),
            content_type: "x".into(),
        };
        for d in &place.nodes[1..] {
            d.container_row(place.part, "AUTH_a", "c", "m", row.clone())
                .await
                .expect("row");
        }
        let params = ListParams {
            limit: 100,
            ..ListParams::default()
        };
        let first = c
            .list_container("AUTH_a", "c", params.clone())
            .await
            .expect("list");
        assert!(first.is_empty(), "the first replica lacks the row");
        let all = c
            .list_container_all_replicas("AUTH_a", "c", params)
            .await
            .expect("list");
        let listed: Vec<&str> = all.iter().map(entry_name).collect();
        assert_eq!(listed, ["m"]);
    }

    #[test]
    fn a_full_page_bounds_what_is_listed() {
        // The first replica's page is full at "b": it may hold rows between
        // "b" and "x" that it did not send, so "x" waits for the next page.
        let got = merge_pages(vec![page(&["a", "b"]), page(&["a", "x"])], 2, false);
        assert_eq!(names(&got), ["a", "b"]);
        let got = merge_pages(vec![page(&["a", "b", "c"]), page(&["b", "d"])], 3, false);
        assert_eq!(names(&got), ["a", "b", "c"]);
        let got = merge_pages(vec![page(&["z", "y"]), page(&["z", "b"])], 2, true);
        assert_eq!(names(&got), ["z", "y"]);
    }
}
