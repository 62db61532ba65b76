//! What replication reads from a device: which partitions it holds, a
//! partition's summary (every record's key and version), raw records, and
//! applying a record received from another replica with the merge rules.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::device::spawn_blocking;
use super::merge::PARTITION_KINDS;
use super::record::{self, AccountInfo, ContainerInfo, ContainerRow, ObjectRow, Placement};
use super::upload::FileUpload;
use super::writer::WriteOp;
use super::{DeviceStore, StoreError};

/// A record's version: equal versions mean equal records.
pub type Version = [u64; 3];

/// Every record of a partition, by key.
pub type Summary = BTreeMap<Vec<u8>, Version>;

/// The version of a raw record of the given kind.
pub(super) fn version(kind: u8, raw: &[u8]) -> Option<Version> {
    Some(match kind {
        b'o' => {
            let (m, _) = record::decode_object(raw)?;
            [m.ts.0, m.meta_ts.0, u64::from(m.deleted)]
        }
        b'c' => {
            let r: ObjectRow = record::decode(raw)?;
            [r.ts.0, u64::from(r.deleted), 0]
        }
        b'C' => {
            let i: ContainerInfo = record::decode(raw)?;
            [i.put_ts.0, i.delete_ts.0, i.meta_ts.0]
        }
        b'a' => {
            let r: ContainerRow = record::decode(raw)?;
            [r.put_ts.0, r.delete_ts.0, r.stats_ts.0]
        }
        b'A' => {
            let i: AccountInfo = record::decode(raw)?;
            [i.put_ts.0, i.meta_ts.0, 0]
        }
        _ => return None,
    })
}

/// Splits the names after a key's kind and partition at NUL bytes.
fn names(key: &[u8], count: usize) -> Option<Vec<String>> {
    let rest = key.get(5..)?;
    let parts: Vec<&[u8]> = rest.splitn(count, |b| *b == 0).collect();
    if parts.len() != count {
        return None;
    }
    parts
        .into_iter()
        .map(|p| String::from_utf8(p.to_vec()).ok())
        .collect()
}

/// The partition of a partition-scoped key.
pub fn key_partition(key: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(key.get(1..5)?.try_into().ok()?))
}

fn object_hash(key: &[u8]) -> Result<[u8; 16], StoreError> {
    key.get(5..21)
        .and_then(|h| h.try_into().ok())
        .ok_or(StoreError::Corrupt)
}

/// For a replicated object record whose body lives in a data file: its
/// partition, hash and metadata (the body must travel with the record).
pub fn replica_body(
    key: &[u8],
    raw: &[u8],
) -> Result<Option<(u32, [u8; 16], record::ObjectMeta)>, StoreError> {
    if key.first() != Some(&b'o') {
        return Ok(None);
    }
    let part = key_partition(key).ok_or(StoreError::Corrupt)?;
    let hash = object_hash(key)?;
    let (meta, _) = record::decode_object(raw).ok_or(StoreError::Corrupt)?;
    Ok((meta.placement == Placement::File && !meta.deleted).then_some((part, hash, meta)))
}

/// Copies the first `size` bytes of a data file (its body) into an upload.
fn copy_body(
    from: &std::path::Path,
    size: u64,
    mut upload: FileUpload,
) -> Result<FileUpload, StoreError> {
    use std::io::Read;
    let mut file = std::fs::File::open(from)?;
    let mut buf = vec![0u8; 1024 * 1024];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        file.read_exact(&mut buf[..n])?;
        upload.write(&buf[..n])?;
        left -= n as u64;
    }
    Ok(upload)
}

impl DeviceStore {
    /// The partitions this device holds any record of.
    pub async fn partitions(&self) -> Result<BTreeSet<u32>, StoreError> {
        let db = self.db.clone();
        spawn_blocking(move || {
            let mut parts = BTreeSet::new();
            for kind in PARTITION_KINDS {
                let mut it = db.raw_iterator();
                it.seek([kind]);
                while let Some(k) = it.key() {
                    if k.first() != Some(&kind) {
                        break;
                    }
                    let Some(part) = key_partition(k) else { break };
                    parts.insert(part);
                    match part.checked_add(1) {
                        Some(next) => {
                            let mut seek = vec![kind];
                            seek.extend_from_slice(&next.to_be_bytes());
                            it.seek(seek);
                        }
                        None => break,
                    }
                }
                it.status()?;
            }
            Ok(parts)
        })
        .await
    }

    /// How many live (not deleted) object versions the device indexes.
    pub async fn object_count(&self) -> Result<u64, StoreError> {
        let db = self.db.clone();
        spawn_blocking(move || {
            let mut n = 0;
            let mut it = db.raw_iterator();
            it.seek(b"o");
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                if k.first() != Some(&b'o') {
                    break;
                }
                if record::decode_object(v).is_some_and(|(m, _)| !m.deleted) {
                    n += 1;
                }
                it.next();
            }
            it.status()?;
            Ok(n)
        })
        .await
    }

    /// Every record of a partition with its version.
    pub async fn partition_summary(&self, part: u32) -> Result<Summary, StoreError> {
        let db = self.db.clone();
        spawn_blocking(move || {
            let mut out = Summary::new();
            for kind in PARTITION_KINDS {
                let mut prefix = vec![kind];
                prefix.extend_from_slice(&part.to_be_bytes());
                let mut it = db.raw_iterator();
                it.seek(&prefix);
                while let (Some(k), Some(v)) = (it.key(), it.value()) {
                    if !k.starts_with(&prefix) {
                        break;
                    }
                    out.insert(k.to_vec(), version(kind, v).ok_or(StoreError::Corrupt)?);
                    it.next();
                }
                it.status()?;
            }
            Ok(out)
        })
        .await
    }

    /// A record as stored.
    pub async fn raw_record(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>, StoreError> {
        let db = self.db.clone();
        spawn_blocking(move || Ok(db.get(key)?)).await
    }

    /// Applies a record copied from `source` with the merge rules; returns
    /// the body bytes moved. A record older than what is here changes nothing.
    pub async fn apply_replica(
        &self,
        key: &[u8],
        raw: &[u8],
        source: &DeviceStore,
    ) -> Result<u64, StoreError> {
        let upload = match replica_body(key, raw)? {
            Some((part, hash, meta)) => {
                let upload = self.start_upload(true)?;
                let from = source.data_path(part, &hash, meta.ts);
                let size = meta.size;
                Some(spawn_blocking(move || copy_body(&from, size, upload)).await?)
            }
            None => None,
        };
        self.apply_received(key, raw, upload).await
    }

    /// Applies a record received from another replica, with its body in
    /// `upload` when it is a data-file object (see `replica_body`).
    pub async fn apply_received(
        &self,
        key: &[u8],
        raw: &[u8],
        upload: Option<FileUpload>,
    ) -> Result<u64, StoreError> {
        let part = key_partition(key).ok_or(StoreError::Corrupt)?;
        match key.first() {
            Some(b'o') => {
                let hash = object_hash(key)?;
                let (meta, off) = record::decode_object(raw).ok_or(StoreError::Corrupt)?;
                let result = match (replica_body(key, raw)?, upload) {
                    (Some(_), Some(upload)) => {
                        let moved = meta.size;
                        self.put_file_object(part, hash, meta, upload)
                            .await
                            .map(|_| moved)
                    }
                    (Some(_), None) => return Err(StoreError::Corrupt),
                    (None, _) => self
                        .put_object(part, hash, meta, Bytes::copy_from_slice(&raw[off..]))
                        .await
                        .map(|_| (raw.len() - off) as u64),
                };
                match result {
                    Ok(moved) => Ok(moved),
                    Err(StoreError::Conflict) => Ok(0),
                    Err(e) => Err(e),
                }
            }
            Some(b'c') => {
                let n = names(key, 3).ok_or(StoreError::Corrupt)?;
                let row: ObjectRow = record::decode(raw).ok_or(StoreError::Corrupt)?;
                self.container_row(part, &n[0], &n[1], &n[2], row)
                    .await
                    .map(|_| 0)
            }
            Some(b'C') => {
                let n = names(key, 2).ok_or(StoreError::Corrupt)?;
                let info: ContainerInfo = record::decode(raw).ok_or(StoreError::Corrupt)?;
                let (account, container) = (n[0].clone(), n[1].clone());
                self.submit(|reply| WriteOp::ContainerMerge {
                    part,
                    account,
                    container,
                    info,
                    reply,
                })
                .await
                .map(|_| 0)
            }
            Some(b'a') => {
                let n = names(key, 2).ok_or(StoreError::Corrupt)?;
                let row: ContainerRow = record::decode(raw).ok_or(StoreError::Corrupt)?;
                self.account_row(part, &n[0], &n[1], row, true)
                    .await
                    .map(|_| 0)
            }
            Some(b'A') => {
                let n = names(key, 1).ok_or(StoreError::Corrupt)?;
                let info: AccountInfo = record::decode(raw).ok_or(StoreError::Corrupt)?;
                let account = n[0].clone();
                self.submit(|reply| WriteOp::AccountMerge {
                    part,
                    account,
                    info,
                    reply,
                })
                .await
                .map(|_| 0)
            }
            _ => Err(StoreError::Corrupt),
        }
    }

    /// Drops records handed off to their primaries (those still at the
    /// version in `expected`) and their data files; returns how many.
    pub async fn purge_records(&self, part: u32, expected: Summary) -> Result<usize, StoreError> {
        let removed = self
            .submit(|reply| WriteOp::PurgeRecords { expected, reply })
            .await?;
        let count = removed.len();
        let files: Vec<_> = removed
            .into_iter()
            .filter_map(|(key, m)| {
                let m = m.filter(|m| m.placement == Placement::File && !m.deleted)?;
                let hash: [u8; 16] = key.get(5..21)?.try_into().ok()?;
                Some(self.data_path(part, &hash, m.ts))
            })
            .collect();
        spawn_blocking(move || {
            for f in files {
                if let Err(e) = std::fs::remove_file(&f) {
                    tracing::warn!(file = %f.display(), "cannot remove handed-off data file: {e}");
                }
            }
            Ok(())
        })
        .await?;
        Ok(count)
    }
}

impl DeviceStore {
    /// Removes tombstones older than `cutoff`: deleted objects, deleted
    /// listing rows, and deleted containers' records in accounts and on
    /// container servers. Replication runs far more often than the reclaim
    /// age, so every replica has seen a tombstone before it goes.
    pub async fn reclaim_tombstones(
        &self,
        cutoff: crate::timestamp::Timestamp,
    ) -> Result<usize, StoreError> {
        let db = self.db.clone();
        let expected = spawn_blocking(move || {
            let mut doomed = Summary::new();
            for kind in PARTITION_KINDS {
                let mut it = db.raw_iterator();
                it.seek([kind]);
                while let (Some(k), Some(v)) = (it.key(), it.value()) {
                    if k.first() != Some(&kind) {
                        break;
                    }
                    let old = match kind {
                        b'o' => record::decode_object(v)
                            .is_some_and(|(m, _)| m.deleted && m.newest() < cutoff),
                        b'c' => record::decode::<ObjectRow>(v)
                            .is_some_and(|r| r.deleted && r.ts < cutoff),
                        b'C' => record::decode::<ContainerInfo>(v).is_some_and(|i| {
                            !i.exists() && i.object_count == 0 && i.delete_ts < cutoff
                        }),
                        b'a' => record::decode::<ContainerRow>(v)
                            .is_some_and(|r| !r.exists() && r.delete_ts < cutoff),
                        _ => false,
                    };
                    if old {
                        if let Some(v) = version(kind, v) {
                            doomed.insert(k.to_vec(), v);
                        }
                    }
                    it.next();
                }
                it.status()?;
            }
            Ok(doomed)
        })
        .await?;
        if expected.is_empty() {
            return Ok(0);
        }
        let removed = self
            .submit(|reply| WriteOp::PurgeRecords { expected, reply })
            .await?;
        Ok(removed.len())
    }
}
