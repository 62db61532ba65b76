//! Object operations: PUT (through the upload pipeline), HEAD/GET (newest
//! version among the replicas), DELETE, POST, and the container listing
//! updates that follow every change.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;

use bytes::Bytes;
use tracing::warn;

use super::put::{self, BodySpec, BodyStream};
use super::{tally, Cluster, ProxyError};
use crate::store::device::StoredObject;
use crate::store::record::{ObjectMeta, ObjectRow, Placement as Where};
use crate::store::writer::ObjectPost;
use crate::timestamp::Timestamp;

/// Data files up to this size are checked before the first byte is sent.
pub const VERIFY_BEFORE_SEND: u64 = 4 * 1024 * 1024;

/// Reads a data file's body and checks it against the metadata's BLAKE3.
async fn read_verified(path: PathBuf, meta: &ObjectMeta) -> Option<Bytes> {
    let (size, want) = (meta.size as usize, meta.blake3.clone());
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(path).ok()?;
        let mut buf = vec![0u8; size];
        file.read_exact(&mut buf).ok()?;
        (blake3::hash(&buf).to_hex().as_str() == want).then(|| Bytes::from(buf))
    })
    .await
    .ok()
    .flatten()
}

/// Read buffer of a data file stream.
const READ_CHUNK: usize = 1024 * 1024;

/// A live object version and where its bytes are.
pub struct Found {
    pub meta: ObjectMeta,
    pub body: ObjectBody,
}

/// The bytes of a found object.
pub enum ObjectBody {
    Inline(Bytes),
    File(PathBuf),
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
        let place = self.primaries(account, Some(container), Some(object));
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
                    warn!(device = place.nodes[i].id, "object read failed: {e}");
                    None
                }
            })
            .collect();
        let mut devices = place.nodes.clone();
        if found.is_empty() {
            // After a ring change the data may still sit on former primaries.
            for (i, dev) in place.handoffs.iter().enumerate() {
                if let Ok(Some(s)) = dev.get_object(place.part, place.hash).await {
                    found.push((devices.len() + i, s));
                }
            }
            devices.extend(place.handoffs.iter().cloned());
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
            let body = match (stored.meta.placement.clone(), stored.inline) {
                (Where::Inline, Some(b)) => ObjectBody::Inline(b),
                _ => {
                    // Fail over before the first byte when a replica's file is
                    // missing or short (quarantined, wiped, truncated).
                    let path = devices[i].data_path(place.part, &place.hash, stored.meta.ts);
                    let (p, size) = (path.clone(), stored.meta.size);
                    let usable = tokio::task::spawn_blocking(move || {
                        std::fs::metadata(&p).is_ok_and(|m| m.len() >= size + 12)
                    })
                    .await
                    .unwrap_or(false);
                    if !usable {
                        warn!(device = devices[i].id, path = %path.display(), "data file missing or short; trying another replica");
                        continue;
                    }
                    if read && size <= VERIFY_BEFORE_SEND {
                        match read_verified(path.clone(), &stored.meta).await {
                            Some(bytes) => ObjectBody::Inline(bytes),
                            None => {
                                warn!(device = devices[i].id, path = %path.display(), "checksum mismatch; quarantining and trying another replica");
                                if let Err(e) = devices[i]
                                    .quarantine_file(place.part, place.hash, stored.meta.ts, &path)
                                    .await
                                {
                                    warn!("cannot quarantine: {e}");
                                }
                                continue;
                            }
                        }
                    } else {
                        ObjectBody::File(path)
                    }
                }
            };
            return Ok(Found {
                meta: stored.meta,
                body,
            });
        }
        Err(ProxyError::Store(crate::store::StoreError::Io(
            io::Error::other("no readable replica"),
        )))
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
        let account = template
            .path
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let place = self.primaries(&account, Some(container), Some(object));
        let (meta, _) = put::store(&place, spec, template, body).await?;
        let row = ObjectRow {
            ts: meta.ts,
            deleted: false,
            size: meta.size,
            etag: meta.etag.clone(),
            content_type: meta.content_type.clone(),
        };
        self.update_container(&account, container, object, row)
            .await;
        Ok(meta)
    }

    /// Deletes an object: a tombstone on every replica; `NotFound` if it was not live.
    pub async fn delete_object(
        &self,
        account: &str,
        container: &str,
        object: &str,
    ) -> Result<(), ProxyError> {
        let existed = self.head_object(account, container, object).await;
        let place = self.primaries(account, Some(container), Some(object));
        let ts = Timestamp::now();
        let path = format!("{account}/{container}/{object}");
        let writes = place.nodes.iter().map(|d| {
            d.put_object(
                place.part,
                place.hash,
                ObjectMeta::tombstone(path.clone(), ts),
                Bytes::new(),
            )
        });
        match tally(futures::future::join_all(writes).await, place.quorum()) {
            // A newer write superseded this delete on the replicas: nothing left to do.
            Err(ProxyError::Conflict) => return existed.map(|_| ()),
            r => r.map(|_| ())?,
        }
        let row = ObjectRow {
            ts,
            deleted: true,
            size: 0,
            etag: String::new(),
            content_type: String::new(),
        };
        self.update_container(account, container, object, row).await;
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
        let place = self.primaries(account, Some(container), Some(object));
        let writes = place
            .nodes
            .iter()
            .map(|d| d.post_object(place.part, place.hash, post()));
        let metas = tally(futures::future::join_all(writes).await, place.quorum())?;
        let meta = metas.into_iter().next().ok_or(ProxyError::NotFound)?;
        // The listing shows the content type as of the newest POST.
        let row = ObjectRow {
            ts: meta.meta_ts,
            deleted: false,
            size: meta.size,
            etag: meta.etag.clone(),
            content_type: meta.content_type.clone(),
        };
        self.update_container(account, container, object, row).await;
        Ok(meta)
    }

    /// Removes expired objects from this host's devices and their listings;
    /// returns how many were removed.
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
                let Ok(Some(meta)) = dev.purge_object(part, hash, ts).await else {
                    continue;
                };
                removed += 1;
                let mut parts = meta.path.splitn(3, '/');
                if let (Some(a), Some(c), Some(o)) = (parts.next(), parts.next(), parts.next()) {
                    let at = Timestamp::from_secs(meta.delete_at.unwrap_or(0));
                    let row = ObjectRow {
                        ts: at.max(Timestamp(meta.ts.0 + 1)),
                        deleted: true,
                        size: 0,
                        etag: String::new(),
                        content_type: String::new(),
                    };
                    self.update_container(a, c, o, row).await;
                }
            }
        }
        removed
    }

    /// Sends an object row to the container's replicas and the new stats on to the account.
    async fn update_container(&self, account: &str, container: &str, object: &str, row: ObjectRow) {
        let place = self.primaries(account, Some(container), None);
        let writes = place
            .nodes
            .iter()
            .map(|d| d.container_row(place.part, account, container, object, row.clone()));
        let results = futures::future::join_all(writes).await;
        let mut newest = None;
        for r in results {
            match r {
                Ok(info) => newest = Some(info),
                Err(e) => warn!(account, container, "container update failed: {e}"),
            }
        }
        if let Some(info) = newest {
            self.update_account(account, container, &info, Timestamp::now())
                .await;
        }
    }
}

/// Streams `len` bytes of a data file from `offset`; when `verify` holds the
/// BLAKE3 of the whole body (a full read), a mismatch ends the stream with an
/// error so the response is aborted rather than completed with bad bytes.
pub fn file_stream(path: PathBuf, offset: u64, len: u64, verify: Option<String>) -> BodyStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let run = || -> io::Result<()> {
            let mut file = std::fs::File::open(&path)?;
            file.seek(SeekFrom::Start(offset))?;
            let mut left = len;
            let mut hasher = verify.as_ref().map(|_| blake3::Hasher::new());
            while left > 0 {
                let n = left.min(READ_CHUNK as u64) as usize;
                let mut buf = vec![0u8; n];
                file.read_exact(&mut buf)?;
                left -= n as u64;
                if let Some(h) = hasher.as_mut() {
                    h.update(&buf);
                }
                if left == 0 {
                    if let (Some(h), Some(want)) = (hasher.take(), verify.as_ref()) {
                        if h.finalize().to_hex().as_str() != want {
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                "object checksum mismatch",
                            ));
                        }
                    }
                }
                if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                    return Ok(());
                }
            }
            Ok(())
        };
        if let Err(e) = run() {
            warn!(path = %path.display(), "object read failed: {e}");
            let _ = tx.blocking_send(Err(e));
        }
    });
    Box::pin(tokio_stream_from(rx))
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
) -> impl futures::Stream<Item = io::Result<Bytes>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
