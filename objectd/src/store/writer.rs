//! The single writer of a device's metadata database. Requests queue on a
//! channel; one thread drains whatever is waiting, applies every change in
//! order against the database plus an overlay of the batch's own writes (so
//! read-modify-write is race free), commits the batch with one synced WAL
//! write, then answers every request. This is the group commit that lets many
//! small PUTs share one fsync.

use std::collections::HashMap;
use std::sync::Arc;

use rocksdb::{WriteBatch, WriteOptions, DB};
use tokio::sync::{mpsc, oneshot};
use tracing::error;

use super::keys;
use super::record::{self, AccountInfo, ContainerInfo, ContainerRow, ObjectMeta, ObjectRow};
use super::StoreError;
use crate::timestamp::Timestamp;

/// Most requests folded into one batch.
const MAX_BATCH: usize = 512;

/// A change to a container's own record.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum ContainerChange {
    /// Create (or re-create) the container, or update metadata if it exists.
    Put {
        ts: Timestamp,
        headers: Vec<(String, String)>,
        policy: String,
    },
    /// Merge metadata: empty values remove keys.
    Post {
        ts: Timestamp,
        headers: Vec<(String, String)>,
    },
    /// Delete the container if it is empty.
    Delete { ts: Timestamp },
}

/// Metadata replacing an object's user metadata (Swift's POST).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ObjectPost {
    pub ts: Timestamp,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
    pub delete_at: Option<u64>,
}

/// Object headers kept across POSTs.
const SYSMETA_PREFIX: &str = "x-object-sysmeta-";

/// Replies carry the record as it is after the change.
pub type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// One queued change.
#[derive(Debug)]
pub enum WriteOp {
    /// Store an object version (PUT or DELETE); replies with the previous version.
    Object {
        part: u32,
        hash: [u8; 16],
        meta: ObjectMeta,
        body: bytes::Bytes,
        reply: Reply<Option<ObjectMeta>>,
    },
    /// Update an object's metadata in place.
    ObjectPost {
        part: u32,
        hash: [u8; 16],
        post: ObjectPost,
        reply: Reply<ObjectMeta>,
    },
    /// Remove an object row and its expiry entry outright (expirer, cleanup).
    Purge {
        part: u32,
        hash: [u8; 16],
        ts: Timestamp,
        reply: Reply<Option<ObjectMeta>>,
    },
    /// An object row of a container listing; replies with the container's new record.
    ContainerRow {
        part: u32,
        account: String,
        container: String,
        name: String,
        row: ObjectRow,
        reply: Option<Reply<ContainerInfo>>,
    },
    /// A change to a container's own record.
    Container {
        part: u32,
        account: String,
        container: String,
        change: ContainerChange,
        reply: Reply<ContainerInfo>,
    },
    /// A container row of an account listing (merged by timestamps).
    AccountRow {
        part: u32,
        account: String,
        container: String,
        row: ContainerRow,
        /// Present when the caller waits for the row to be committed.
        reply: Option<Reply<()>>,
    },
    /// Merge a replica's container record (replication): field-wise newest.
    ContainerMerge {
        part: u32,
        account: String,
        container: String,
        info: ContainerInfo,
        reply: Reply<()>,
    },
    /// Merge a replica's account record (replication).
    AccountMerge {
        part: u32,
        account: String,
        info: AccountInfo,
        reply: Reply<()>,
    },
    /// Remove records handed off to their primaries, if unchanged since;
    /// replies with the object versions removed (the caller deletes their files).
    PurgeRecords {
        expected: super::scan::Summary,
        reply: Reply<Vec<super::merge::Purged>>,
    },
    /// Merge account metadata.
    AccountPost {
        part: u32,
        account: String,
        ts: Timestamp,
        headers: Vec<(String, String)>,
        reply: Reply<AccountInfo>,
    },
}

impl WriteOp {
    /// The partition the change touches (replication re-checks it).
    pub fn partition(&self) -> Option<u32> {
        match self {
            WriteOp::Object { part, .. }
            | WriteOp::ObjectPost { part, .. }
            | WriteOp::Purge { part, .. }
            | WriteOp::ContainerRow { part, .. }
            | WriteOp::Container { part, .. }
            | WriteOp::AccountRow { part, .. }
            | WriteOp::ContainerMerge { part, .. }
            | WriteOp::AccountMerge { part, .. }
            | WriteOp::AccountPost { part, .. } => Some(*part),
            WriteOp::PurgeRecords { .. } => None,
        }
    }
}

/// Starts the writer thread for `db`; returns its queue and the thread, which
/// ends (releasing the database) once every sender is dropped.
pub fn spawn(name: String, db: Arc<DB>) -> (mpsc::Sender<WriteOp>, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(4096);
    let thread = std::thread::Builder::new()
        .name(format!("writer-{name}"))
        .spawn(move || run(&db, rx))
        .expect("spawn device writer thread");
    (tx, thread)
}

/// A reply waiting for the batch to be durable.
enum Pending {
    Object(
        Reply<Option<ObjectMeta>>,
        Result<Option<ObjectMeta>, StoreError>,
    ),
    Meta(Reply<ObjectMeta>, Result<ObjectMeta, StoreError>),
    Container(Reply<ContainerInfo>, Result<ContainerInfo, StoreError>),
    Account(Reply<AccountInfo>, Result<AccountInfo, StoreError>),
    Unit(Reply<()>, Result<(), StoreError>),
    Purged(
        Reply<Vec<super::merge::Purged>>,
        Result<Vec<super::merge::Purged>, StoreError>,
    ),
}

fn run(db: &DB, mut rx: mpsc::Receiver<WriteOp>) {
    let mut ops = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        ops.push(first);
        while ops.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        let mut batch = Batch {
            db,
            overlay: HashMap::new(),
            wb: WriteBatch::default(),
        };
        let pending: Vec<Pending> = ops.drain(..).filter_map(|op| batch.apply(op)).collect();
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        let outcome = db.write_opt(batch.wb, &opts);
        if let Err(e) = &outcome {
            error!("failed to commit metadata batch: {e}");
        }
        for p in pending {
            match p {
                Pending::Object(tx, r) => drop(tx.send(if outcome.is_ok() { r } else { failed() })),
                Pending::Meta(tx, r) => drop(tx.send(if outcome.is_ok() { r } else { failed() })),
                Pending::Container(tx, r) => {
                    drop(tx.send(if outcome.is_ok() { r } else { failed() }))
                }
                Pending::Account(tx, r) => {
                    drop(tx.send(if outcome.is_ok() { r } else { failed() }))
                }
                Pending::Unit(tx, r) => drop(tx.send(if outcome.is_ok() { r } else { failed() })),
                Pending::Purged(tx, r) => drop(tx.send(if outcome.is_ok() { r } else { failed() })),
            }
        }
    }
}

/// The answer every request of a batch gets when its commit failed.
fn failed<T>() -> Result<T, StoreError> {
    Err(StoreError::Io(std::io::Error::other(
        "metadata commit failed",
    )))
}

/// One batch in construction: the write batch and what it has written so far.
pub(super) struct Batch<'a> {
    pub(super) db: &'a DB,
    overlay: HashMap<Vec<u8>, Option<Vec<u8>>>,
    wb: WriteBatch,
}

impl Batch<'_> {
    pub(super) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.overlay.get(key) {
            return Ok(v.clone());
        }
        self.db.get(key).map_err(StoreError::from)
    }

    pub(super) fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.wb.put(&key, &value);
        self.overlay.insert(key, Some(value));
    }

    pub(super) fn delete(&mut self, key: Vec<u8>) {
        self.wb.delete(&key);
        self.overlay.insert(key, None);
    }

    pub(super) fn get_record<T: for<'de> serde::Deserialize<'de>>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match self.get(key)? {
            Some(raw) => record::decode(&raw).map(Some).ok_or(StoreError::Corrupt),
            None => Ok(None),
        }
    }

    pub(super) fn get_object(
        &self,
        key: &[u8],
    ) -> Result<Option<(ObjectMeta, Vec<u8>)>, StoreError> {
        match self.get(key)? {
            Some(raw) => {
                let (meta, off) = record::decode_object(&raw).ok_or(StoreError::Corrupt)?;
                Ok(Some((meta, raw[off..].to_vec())))
            }
            None => Ok(None),
        }
    }

    fn apply(&mut self, op: WriteOp) -> Option<Pending> {
        match op {
            WriteOp::Object {
                part,
                hash,
                meta,
                body,
                reply,
            } => Some(Pending::Object(
                reply,
                self.put_object(part, &hash, meta, &body),
            )),
            WriteOp::ObjectPost {
                part,
                hash,
                post,
                reply,
            } => Some(Pending::Meta(reply, self.post_object(part, &hash, post))),
            WriteOp::Purge {
                part,
                hash,
                ts,
                reply,
            } => Some(Pending::Object(reply, self.purge_object(part, &hash, ts))),
            WriteOp::ContainerRow {
                part,
                account,
                container,
                name,
                row,
                reply,
            } => {
                let r = self.container_row(part, &account, &container, &name, row);
                reply.map(|tx| Pending::Container(tx, r))
            }
            WriteOp::Container {
                part,
                account,
                container,
                change,
                reply,
            } => Some(Pending::Container(
                reply,
                self.container(part, &account, &container, change),
            )),
            WriteOp::AccountRow {
                part,
                account,
                container,
                row,
                reply,
            } => {
                let r = self.account_row(part, &account, &container, row);
                match reply {
                    Some(tx) => Some(Pending::Unit(tx, r)),
                    None => {
                        if let Err(e) = r {
                            error!("failed to update account row: {e}");
                        }
                        None
                    }
                }
            }
            WriteOp::ContainerMerge {
                part,
                account,
                container,
                info,
                reply,
            } => Some(Pending::Unit(
                reply,
                self.merge_container(part, &account, &container, info),
            )),
            WriteOp::AccountMerge {
                part,
                account,
                info,
                reply,
            } => Some(Pending::Unit(
                reply,
                self.merge_account(part, &account, info),
            )),
            WriteOp::PurgeRecords { expected, reply } => {
                Some(Pending::Purged(reply, self.purge_records(&expected)))
            }
            WriteOp::AccountPost {
                part,
                account,
                ts,
                headers,
                reply,
            } => Some(Pending::Account(
                reply,
                self.account_post(part, &account, ts, headers),
            )),
        }
    }

    fn put_object(
        &mut self,
        part: u32,
        hash: &[u8; 16],
        meta: ObjectMeta,
        body: &[u8],
    ) -> Result<Option<ObjectMeta>, StoreError> {
        let key = keys::object(part, hash);
        let old = self.get_object(&key)?.map(|(m, _)| m);
        if let Some(old) = &old {
            // Newer data wins; at equal data timestamps, newer metadata (replication).
            if (old.ts, old.meta_ts) >= (meta.ts, meta.meta_ts) {
                return Err(StoreError::Conflict);
            }
            if let Some(at) = old.delete_at {
                self.delete(keys::expiry(at, &key));
            }
        }
        if let Some(at) = meta.delete_at {
            self.put(keys::expiry(at, &key), meta.ts.0.to_be_bytes().to_vec());
        }
        self.put(key, record::encode_object(&meta, body));
        Ok(old)
    }

    fn post_object(
        &mut self,
        part: u32,
        hash: &[u8; 16],
        post: ObjectPost,
    ) -> Result<ObjectMeta, StoreError> {
        let key = keys::object(part, hash);
        let (mut meta, body) = self.get_object(&key)?.ok_or(StoreError::NotFound)?;
        if meta.deleted {
            return Err(StoreError::NotFound);
        }
        if meta.newest() >= post.ts {
            return Err(StoreError::Conflict);
        }
        if let Some(at) = meta.delete_at {
            self.delete(keys::expiry(at, &key));
        }
        meta.meta_ts = post.ts;
        // A POST replaces user metadata; system metadata (such as the
        // manifest marker) stays, as in Swift.
        let mut headers = post.headers;
        for (name, value) in &meta.headers {
            if name.starts_with(SYSMETA_PREFIX) && !headers.iter().any(|(n, _)| n == name) {
                headers.push((name.clone(), value.clone()));
            }
        }
        headers.sort();
        meta.headers = headers;
        meta.delete_at = post.delete_at;
        if let Some(ct) = post.content_type {
            meta.content_type = ct;
        }
        if let Some(at) = meta.delete_at {
            self.put(keys::expiry(at, &key), meta.ts.0.to_be_bytes().to_vec());
        }
        self.put(key, record::encode_object(&meta, &body));
        Ok(meta)
    }

    fn purge_object(
        &mut self,
        part: u32,
        hash: &[u8; 16],
        ts: Timestamp,
    ) -> Result<Option<ObjectMeta>, StoreError> {
        let key = keys::object(part, hash);
        let Some((meta, _)) = self.get_object(&key)? else {
            return Ok(None);
        };
        if meta.ts != ts {
            return Ok(None);
        }
        if let Some(at) = meta.delete_at {
            self.delete(keys::expiry(at, &key));
        }
        self.delete(key);
        Ok(Some(meta))
    }

    fn container_row(
        &mut self,
        part: u32,
        account: &str,
        container: &str,
        name: &str,
        row: ObjectRow,
    ) -> Result<ContainerInfo, StoreError> {
        let info_key = keys::container_info(part, account, container);
        let mut info: ContainerInfo = self.get_record(&info_key)?.unwrap_or_default();
        let mut key = keys::container_rows(part, account, container);
        key.extend_from_slice(name.as_bytes());
        let old: Option<ObjectRow> = self.get_record(&key)?;
        if let Some(old) = &old {
            if old.ts >= row.ts {
                return Ok(info);
            }
            if !old.deleted {
                info.object_count = info.object_count.saturating_sub(1);
                info.bytes_used = info.bytes_used.saturating_sub(old.size);
            }
        }
        if !row.deleted {
            info.object_count += 1;
            info.bytes_used += row.size;
        }
        if old.is_none() && row.deleted {
            // A tombstone for a row never seen keeps the listing from resurrecting it later.
            self.put(key, record::encode(&row));
            return Ok(info);
        }
        self.put(key, record::encode(&row));
        info.stats_ts = Timestamp::now().max(Timestamp(info.stats_ts.0 + 1));
        self.put(info_key, record::encode(&info));
        Ok(info)
    }

    fn container(
        &mut self,
        part: u32,
        account: &str,
        container: &str,
        change: ContainerChange,
    ) -> Result<ContainerInfo, StoreError> {
        let info_key = keys::container_info(part, account, container);
        let mut info: ContainerInfo = self.get_record(&info_key)?.unwrap_or_default();
        match change {
            ContainerChange::Put {
                ts,
                headers,
                policy,
            } => {
                if info.exists() {
                    merge_headers(&mut info.headers, headers);
                    info.meta_ts = info.meta_ts.max(ts);
                } else {
                    if info.delete_ts >= ts {
                        return Err(StoreError::Conflict);
                    }
                    info.put_ts = ts;
                    info.meta_ts = ts;
                    info.headers.clear();
                    merge_headers(&mut info.headers, headers);
                    info.policy = policy;
                }
            }
            ContainerChange::Post { ts, headers } => {
                if !info.exists() {
                    return Err(StoreError::NotFound);
                }
                merge_headers(&mut info.headers, headers);
                info.meta_ts = info.meta_ts.max(ts);
            }
            ContainerChange::Delete { ts } => {
                if !info.exists() {
                    return Err(StoreError::NotFound);
                }
                if info.object_count > 0 {
                    return Err(StoreError::NotEmpty);
                }
                info.delete_ts = ts;
                info.headers.clear();
            }
        }
        self.put(info_key, record::encode(&info));
        Ok(info)
    }

    fn account_row(
        &mut self,
        part: u32,
        account: &str,
        container: &str,
        row: ContainerRow,
    ) -> Result<(), StoreError> {
        let mut key = keys::account_rows(part, account);
        key.extend_from_slice(container.as_bytes());
        let mut cur: ContainerRow = self.get_record(&key)?.unwrap_or_default();
        // The policy of the newest creation is the container's.
        if !row.policy.is_empty() && (row.put_ts >= cur.put_ts || cur.policy.is_empty()) {
            cur.policy = row.policy;
        }
        cur.put_ts = cur.put_ts.max(row.put_ts);
        cur.delete_ts = cur.delete_ts.max(row.delete_ts);
        if row.stats_ts >= cur.stats_ts {
            cur.stats_ts = row.stats_ts;
            cur.object_count = row.object_count;
            cur.bytes_used = row.bytes_used;
        }
        self.put(key, record::encode(&cur));
        Ok(())
    }

    fn account_post(
        &mut self,
        part: u32,
        account: &str,
        ts: Timestamp,
        headers: Vec<(String, String)>,
    ) -> Result<AccountInfo, StoreError> {
        let key = keys::account_info(part, account);
        let mut info: AccountInfo = self.get_record(&key)?.unwrap_or_default();
        if info.put_ts == Timestamp(0) {
            info.put_ts = ts;
        }
        merge_headers(&mut info.headers, headers);
        info.meta_ts = info.meta_ts.max(ts);
        self.put(key, record::encode(&info));
        Ok(info)
    }
}

/// Swift's metadata merge: set each given header; an empty value removes it.
pub fn merge_headers(current: &mut Vec<(String, String)>, updates: Vec<(String, String)>) {
    for (name, value) in updates {
        current.retain(|(n, _)| *n != name);
        if !value.is_empty() {
            current.push((name, value));
        }
    }
    current.sort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_sets_and_removes() {
        let mut cur = vec![("x-container-meta-a".to_string(), "1".to_string())];
        merge_headers(
            &mut cur,
            vec![
                ("x-container-meta-b".into(), "2".into()),
                ("x-container-meta-a".into(), String::new()),
            ],
        );
        assert_eq!(
            cur,
            vec![("x-container-meta-b".to_string(), "2".to_string())]
        );
    }
}
