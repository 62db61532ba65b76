//! Object operations: PUT (through the upload pipeline), HEAD/GET (newest
//! version among the replicas), DELETE, POST, and the container listing
//! updates that follow every change.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use tracing::warn;

use super::ec_get::EcObject;
use super::put::{BodySpec, BodyStream, Stored};
use super::{tally, Cluster, ProxyError};
use crate::node::Node;
use crate::store::device::StoredObject;
use crate::store::pending::PendingUpdate;
use crate::store::record::{ObjectMeta, ObjectRow, Placement as Where};
use crate::store::writer::ObjectPost;
use crate::timestamp::Timestamp;

/// Data files up to this size are checked before the first byte is sent.
pub const VERIFY_BEFORE_SEND: u64 = 4 * 1024 * 1024;

/// A live object version and where its bytes are.
pub struct Found {
    pub meta: ObjectMeta,
    pub body: ObjectBody,
}

/// The bytes of a found object.
pub enum ObjectBody {
    Inline(Bytes),
    /// A data file on a device, not yet read.
    File {
        node: Node,
        part: u32,
        hash: [u8; 16],
    },
    /// Fragment archives of an erasure-coded object, decoded as they stream.
    Erasure(Arc<EcObject>),
}

impl Found {
    /// Streams `len` body bytes from `offset`. A whole-body read of a data
    /// file is checked against its BLAKE3 as it streams; a mismatch ends
    /// the stream with an error, so the response is aborted, not finished.
    pub fn body_range(&self, offset: u64, len: u64) -> BodyStream {
        match &self.body {
            ObjectBody::Inline(b) => {
                let end = (offset + len).min(b.len() as u64) as usize;
                let start = (offset as usize).min(end);
                Box::pin(futures::stream::iter([Ok(b.slice(start..end))]))
            }
            ObjectBody::File { node, part, hash } => {
                let whole = offset == 0 && len == self.meta.size;
                let verify = whole.then(|| self.meta.blake3.clone());
                node.stream_file(*part, *hash, self.meta.ts, offset, len, verify)
            }
            ObjectBody::Erasure(obj) => super::ec_get::stream_range(obj, offset, len),
        }
    }

    /// Streams the whole body.
    pub fn body(&self) -> BodyStream {
        self.body_range(0, self.meta.size)
    }
}

impl Cluster {
    /// Finds the newest version of an object; `NotFound` if it is deleted or expired.
    pub async fn head_object(
        &self,
        account: &str,
        container: &str,
        object: &str,
    ) -> Result<Found, ProxyError> {
        self.find_object(account, container, object, false).await
    }

    /// Finds the newest version of an object to read its body. Data files up
    /// to `VERIFY_BEFORE_SEND` bytes are read and checked before answering,
    /// so a corrupt replica is quarantined and another one served; larger
    /// ones are checked as they stream, and a mismatch aborts the response.
    pub async fn get_object(
        &self,
        account: &str,
        container: &str,
        object: &str,
    ) -> Result<Found, ProxyError> {
        self.find_object(account, container, object, true).await
    }

    async fn find_object(
        &self,
        account: &str,
        container: &str,
        object: &str,
        read: bool,
    ) -> Result<Found, ProxyError> {
        // A concurrent overwrite may remove the newest version's data file
        // between reading the index and reading the file: look again, and
        // the index shows the version that replaced it.
        for _ in 0..2 {
            if let Some(found) = self
                .find_object_once(account, container, object, read)
                .await?
            {
                return Ok(found);
            }
        }
        self.find_object_once(account, container, object, read)
            .await?
            .ok_or_else(|| {
                ProxyError::Store(crate::store::StoreError::Io(io::Error::other(
                    "no readable replica",
                )))
            })
    }

    /// One lookup; `None` when no replica of the newest version could be read.
    async fn find_object_once(
        &self,
        account: &str,
        container: &str,
        object: &str,
        read: bool,
    ) -> Result<Option<Found>, ProxyError> {
        let policy = self.object_policy(account, container).await?;
        let place = self.placement(policy, account, Some(container), Some(object));
        if let Some(ec) = place.ec.clone() {
            return super::ec_get::find(&place, &ec).await;
        }
        let reads = place
            .nodes
            .iter()
            .map(|d| d.get_object(place.part, place.hash));
        let mut found: Vec<(usize, StoredObject)> = futures::future::join_all(reads)
            .await
            .into_iter()
            .enumerate()
            .filter_map(|(i, r)| match r {
                Ok(Some(s)) => Some((i, s)),
                Ok(None) => None,
                Err(e) => {
                    warn!(device = place.nodes[i].id(), "object read failed: {e}");
                    None
                }
            })
            .collect();
        let mut nodes = place.nodes.clone();
        if found.is_empty() {
            // After a ring change, or with a primary down during the write,
            // the data may sit on handoffs.
            for (i, node) in place.handoffs.iter().enumerate() {
                if let Ok(Some(s)) = node.get_object(place.part, place.hash).await {
                    found.push((nodes.len() + i, s));
                }
            }
            nodes.extend(place.handoffs.iter().cloned());
        }
        // Newest version first; among equals, primaries in ring order.
        found.sort_by_key(|(i, s)| {
            std::cmp::Reverse((s.meta.ts, s.meta.meta_ts, std::cmp::Reverse(*i)))
        });
        let Some((_, newest)) = found.first() else {
            return Err(ProxyError::NotFound);
        };
        if !newest.meta.is_live(Timestamp::now_secs()) {
            return Err(ProxyError::NotFound);
        }
        let version = (newest.meta.ts, newest.meta.meta_ts);
        for (i, stored) in found {
            if (stored.meta.ts, stored.meta.meta_ts) != version {
                break;
            }
            let node = &nodes[i];
            let body = match (stored.meta.placement.clone(), stored.inline) {
                (Where::Inline, Some(b)) => ObjectBody::Inline(b),
                _ if read && stored.meta.size <= VERIFY_BEFORE_SEND => {
                    // Small files are read and checked before the first byte:
                    // a missing, short or corrupt replica (quarantined by its
                    // device) is skipped for the next.
                    match node
                        .read_verified(place.part, place.hash, &stored.meta)
                        .await
                    {
                        Ok(Some(bytes)) => ObjectBody::Inline(bytes),
                        Ok(None) => {
                            warn!(
                                device = node.id(),
                                "checksum mismatch; trying another replica"
                            );
                            continue;
                        }
                        Err(e) => {
                            warn!(
                                device = node.id(),
                                "data file unreadable ({e}); trying another replica"
                            );
                            continue;
                        }
                    }
                }
                _ => {
                    // Fail over before the first byte when a replica's file is
                    // missing or short (quarantined, wiped, truncated).
                    if !node
                        .file_usable(place.part, place.hash, stored.meta.ts, stored.meta.size)
                        .await
                    {
                        warn!(
                            device = node.id(),
                            "data file missing or short; trying another replica"
                        );
                        continue;
                    }
                    ObjectBody::File {
                        node: node.clone(),
                        part: place.part,
                        hash: place.hash,
                    }
                }
            };
            return Ok(Some(Found {
                meta: stored.meta,
                body,
            }));
        }
        Ok(None)
    }

    /// Stores an object and updates its container listing.
    pub async fn put_object(
        &self,
        container: &str,
        object: &str,
        template: ObjectMeta,
        spec: &BodySpec,
        body: BodyStream,
    ) -> Result<ObjectMeta, ProxyError> {
        self.put_object_replacing(container, object, template, spec, body)
            .await
            .map(|(meta, _)| meta)
    }

    /// Stores a body on the primaries of the object's storage policy:
    /// replicas, or fragment archives for an erasure-coded policy.
    pub async fn store_object(
        &self,
        account: &str,
        container: &str,
        object: &str,
        spec: &BodySpec,
        template: ObjectMeta,
        body: BodyStream,
    ) -> Result<Stored, ProxyError> {
        let policy = self.object_policy(account, container).await?;
        let place = self.placement(policy, account, Some(container), Some(object));
        match place.ec.clone() {
            Some(ec) => super::ec_put::store(&place, &ec, spec, template, body).await,
            None => super::put::store(&place, spec, template, body).await,
        }
    }

    /// Deletes an object: a tombstone on every replica; `NotFound` if it was not live.
    pub async fn delete_object(
        &self,
        account: &str,
        container: &str,
        object: &str,
    ) -> Result<(), ProxyError> {
        let existed = self.head_object(account, container, object).await;
        let policy = self.object_policy(account, container).await?;
        let place = self.placement(policy, account, Some(container), Some(object));
        let ts = Timestamp::now();
        let path = format!("{account}/{container}/{object}");
        let writes = place.nodes.iter().map(|d| {
            let tombstone = ObjectMeta::tombstone(path.clone(), ts);
            async move {
                d.put_object(place.part, place.hash, tombstone, Bytes::new())
                    .await
                    .map(|_| d.clone())
            }
        });
        let nodes = match tally(futures::future::join_all(writes).await, place.quorum()) {
            // A newer write superseded this delete on the replicas: nothing left to do.
            Err(ProxyError::Conflict) => return existed.map(|_| ()),
            r => r?,
        };
        let row = ObjectRow {
            ts,
            deleted: true,
            size: 0,
            etag: String::new(),
            content_type: String::new(),
        };
        self.update_container(account, container, object, row, &nodes)
            .await;
        existed.map(|_| ())
    }

    /// Replaces an object's metadata.
    pub async fn post_object(
        &self,
        account: &str,
        container: &str,
        object: &str,
        post: impl Fn() -> ObjectPost,
    ) -> Result<ObjectMeta, ProxyError> {
        let policy = self.object_policy(account, container).await?;
        let place = self.placement(policy, account, Some(container), Some(object));
        let writes = place.nodes.iter().map(|d| {
            let post = post();
            async move {
                d.post_object(place.part, place.hash, post)
                    .await
                    .map(|m| (m, d.clone()))
            }
        });
        let posted = tally(futures::future::join_all(writes).await, place.quorum())?;
        let mut meta = posted
            .first()
            .map(|(m, _)| m.clone())
            .ok_or(ProxyError::NotFound)?;
        meta.size = meta.object_size();
        let nodes: Vec<Node> = posted.into_iter().map(|(_, n)| n).collect();
        // The listing shows the content type as of the newest POST, and a
        // manifest's logical size and ETag (as its PUT did).
        let (size, etag) =
            super::manifest::logical(&meta).unwrap_or_else(|| (meta.size, meta.etag.clone()));
        let row = ObjectRow {
            ts: meta.meta_ts,
            deleted: false,
            size,
            etag,
            content_type: meta.content_type.clone(),
        };
        self.update_container(account, container, object, row, &nodes)
            .await;
        Ok(meta)
    }

    /// Replaces expired objects on this host's devices by tombstones
    /// (removing their data) and drops them from listings; returns how many.
    pub async fn expire_objects(&self, limit: usize) -> usize {
        let now = Timestamp::now_secs();
        let mut removed = 0;
        for dev in self.devices() {
            let expired = match dev.expired(now, limit).await {
                Ok(e) => e,
                Err(e) => {
                    warn!(device = dev.id, "expiry scan failed: {e}");
                    continue;
                }
            };
            for (part, hash, ts) in expired {
                let Ok(Some(stored)) = dev.get_object(part, hash).await else {
                    continue;
                };
                let meta = stored.meta;
                if meta.ts != ts || meta.deleted {
                    continue;
                }
                // Every replica's host expires its own copy with the same
                // tombstone (its time follows from the object), so replicas
                // agree without replication traffic, as Swift's expirer's
                // DELETE with X-If-Delete-At.
                let at = Timestamp::from_secs(meta.delete_at.unwrap_or(0))
                    .max(Timestamp(meta.newest().0 + 1));
                let tombstone = ObjectMeta::tombstone(meta.path.clone(), at);
                match dev.put_object(part, hash, tombstone, Bytes::new()).await {
                    Ok(_) => removed += 1,
                    Err(e) => {
                        warn!(device = dev.id, "cannot expire object: {e}");
                        continue;
                    }
                }
                let mut parts = meta.path.splitn(3, '/');
                if let (Some(a), Some(c), Some(o)) = (parts.next(), parts.next(), parts.next()) {
                    let row = ObjectRow {
                        ts: at,
                        deleted: true,
                        size: 0,
                        etag: String::new(),
                        content_type: String::new(),
                    };
                    self.update_container(a, c, o, row, &[Node::Local(dev.clone())])
                        .await;
                }
            }
        }
        removed
    }

    /// Sends an object row to the container's replicas and the new stats on
    /// to the account. A replica that cannot be reached is owed the row: it
    /// is recorded as an async pending on `object_nodes` (the devices that
    /// hold the object change), whose updater delivers it later.
    pub async fn update_container(
        &self,
        account: &str,
        container: &str,
        object: &str,
        row: ObjectRow,
        object_nodes: &[Node],
    ) {
        let place = self.primaries(account, Some(container), None);
        let writes = place
            .nodes
            .iter()
            .map(|d| d.container_row(place.part, account, container, object, row.clone()));
        let results = futures::future::join_all(writes).await;
        let mut newest = None;
        let mut failed = 0;
        for r in results {
            match r {
                Ok(info) => newest = Some(info),
                Err(e) => {
                    failed += 1;
                    warn!(account, container, "container update failed: {e}");
                }
            }
        }
        if failed > 0 || place.nodes.len() < place.replicas {
            let update = PendingUpdate {
                account: account.to_string(),
                container: container.to_string(),
                object: object.to_string(),
                row,
            };
            let records = object_nodes
                .iter()
                .map(|n| n.record_pending(update.clone()));
            for r in futures::future::join_all(records).await {
                if let Err(e) = r {
                    warn!(account, container, "cannot record async pending: {e}");
                }
            }
        }
        if let Some(info) = newest {
            self.update_account(account, container, &info, Timestamp::now(), false)
                .await;
        }
    }
}
