//! One device: its directory, metadata database and writer queue, and the
//! read side of objects, containers and accounts stored on it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use rocksdb::{Options, DB};
use tokio::sync::{mpsc, oneshot};

use super::listing::{self, ListParams, Listing};
use super::record::{self, AccountInfo, ContainerInfo, ContainerRow, ObjectMeta};
use super::upload::FileUpload;
use super::writer::{self, ContainerChange, ObjectPost, WriteOp};
use super::{keys, StoreError};
use crate::timestamp::Timestamp;

/// A device of this host, as the ring names it by id.
pub struct DeviceStore {
    pub id: u32,
    /// The storage policy whose objects this store keeps (0 also keeps
    /// accounts and containers).
    pub policy: u32,
    root: PathBuf,
    pub(super) db: Arc<DB>,
    writer: mpsc::Sender<WriteOp>,
    writer_thread: Option<std::thread::JoinHandle<()>>,
    /// Partitions changed since the replicator last looked.
    dirty: std::sync::Mutex<std::collections::BTreeSet<u32>>,
}

/// An object version read from a device: its metadata and, when stored
/// inline, its body.
pub struct StoredObject {
    pub meta: ObjectMeta,
    pub inline: Option<Bytes>,
}

impl DeviceStore {
    /// Opens (creating if needed) the device rooted at `root`; removes
    /// leftovers of uploads that never completed.
    pub fn open(id: u32, root: &Path) -> Result<Self, StoreError> {
        Self::open_for_policy(id, 0, root)
    }

    /// Opens the store of storage policy `policy` rooted at `root` (see
    /// `policy::device_dir`).
    pub fn open_for_policy(id: u32, policy: u32, root: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(root.join("objects"))?;
        let tmp = root.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_max_background_jobs(2);
        opts.set_keep_log_file_num(2);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let db = Arc::new(DB::open(&opts, root.join("meta.db"))?);
        let (writer, writer_thread) = writer::spawn(format!("d{id}p{policy}"), db.clone());
        Ok(DeviceStore {
            id,
            policy,
            root: root.to_path_buf(),
            db,
            writer,
            writer_thread: Some(writer_thread),
            dirty: Default::default(),
        })
    }

    /// The device's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the data file of an object version lives.
    pub fn data_path(&self, part: u32, hash: &[u8; 16], ts: Timestamp) -> PathBuf {
        let hex = hex::encode(hash);
        self.root
            .join("objects")
            .join(part.to_string())
            .join(&hex[hex.len() - 3..])
            .join(&hex)
            .join(format!("{ts}.data"))
    }

    /// Starts writing a data file in the device's temporary directory
    /// (with `O_DIRECT` when `direct`).
    pub fn start_upload(&self, direct: bool) -> Result<FileUpload, StoreError> {
        FileUpload::create(&self.root.join("tmp"), direct)
    }

    pub(super) async fn submit<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> WriteOp,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let op = make(tx);
        let part = op.partition();
        self.writer
            .send(op)
            .await
            .map_err(|_| StoreError::Io(std::io::Error::other("device writer stopped")))?;
        let result = rx
            .await
            .map_err(|_| StoreError::Io(std::io::Error::other("device writer stopped")))?;
        if let (Ok(_), Some(part)) = (&result, part) {
            self.mark_dirty(part);
        }
        result
    }

    /// Marks a partition for the replicator's next pass.
    pub fn mark_dirty(&self, part: u32) {
        self.dirty
            .lock()
            .expect("dirty lock never poisoned")
            .insert(part);
    }

    /// The partitions changed since the last call (for the replicator).
    pub fn take_dirty(&self) -> std::collections::BTreeSet<u32> {
        std::mem::take(&mut *self.dirty.lock().expect("dirty lock never poisoned"))
    }

    /// Reads an object's index row (and inline body).
    pub async fn get_object(
        &self,
        part: u32,
        hash: [u8; 16],
    ) -> Result<Option<StoredObject>, StoreError> {
        let db = self.db.clone();
        spawn_blocking(move || {
            let Some(raw) = db.get(keys::object(part, &hash))? else {
                return Ok(None);
            };
            let (meta, off) = record::decode_object(&raw).ok_or(StoreError::Corrupt)?;
            let inline = (meta.placement == record::Placement::Inline && !meta.deleted)
                .then(|| Bytes::from(raw).slice(off..));
            if let Some(body) = &inline {
                if !super::integrity::intact(&meta, body) {
                    return Err(StoreError::Corrupt);
                }
            }
            Ok(Some(StoredObject { meta, inline }))
        })
        .await
    }

    /// Stores an object version whose body is inline (or whose data file is
    /// already committed); answers the replaced version.
    pub async fn put_object(
        &self,
        part: u32,
        hash: [u8; 16],
        meta: ObjectMeta,
        body: Bytes,
    ) -> Result<Option<ObjectMeta>, StoreError> {
        let old = self
            .submit(|reply| WriteOp::Object {
                part,
                hash,
                meta,
                body,
                reply,
            })
            .await?;
        self.remove_old_file(part, &hash, old.as_ref()).await;
        Ok(old)
    }

    /// Commits a finished upload as the data file of `meta`, then indexes it.
    pub async fn put_file_object(
        &self,
        part: u32,
        hash: [u8; 16],
        meta: ObjectMeta,
        upload: FileUpload,
    ) -> Result<Option<ObjectMeta>, StoreError> {
        if upload.len() != meta.size {
            return Err(StoreError::Io(std::io::Error::other(format!(
                "upload holds {} bytes, metadata says {}",
                upload.len(),
                meta.size
            ))));
        }
        let path = self.data_path(part, &hash, meta.ts);
        let trailer = meta.clone();
        spawn_blocking(move || upload.commit(&path, &trailer)).await?;
        match self
            .put_object(part, hash, meta.clone(), Bytes::new())
            .await
        {
            Ok(old) => Ok(old),
            Err(e) => {
                // The same version may have arrived twice at once (two
                // replicas pushing it): its file then belongs to the row
                // that won and must stay.
                let same_version_indexed = matches!(e, StoreError::Conflict)
                    && self
                        .get_object(part, hash)
                        .await
                        .is_ok_and(|s| s.is_some_and(|s| s.meta.ts == meta.ts));
                if !same_version_indexed {
                    let path = self.data_path(part, &hash, meta.ts);
                    let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await;
                }
                Err(e)
            }
        }
    }

    async fn remove_old_file(&self, part: u32, hash: &[u8; 16], old: Option<&ObjectMeta>) {
        if let Some(old) = old.filter(|o| o.placement == record::Placement::File && !o.deleted) {
            let path = self.data_path(part, hash, old.ts);
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await;
        }
    }

    /// Replaces an object's metadata (POST).
    pub async fn post_object(
        &self,
        part: u32,
        hash: [u8; 16],
        post: ObjectPost,
    ) -> Result<ObjectMeta, StoreError> {
        self.submit(|reply| WriteOp::ObjectPost {
            part,
            hash,
            post,
            reply,
        })
        .await
    }

    /// Removes an object version outright (expired objects); returns it if it was removed.
    pub async fn purge_object(
        &self,
        part: u32,
        hash: [u8; 16],
        ts: Timestamp,
    ) -> Result<Option<ObjectMeta>, StoreError> {
        let old = self
            .submit(|reply| WriteOp::Purge {
                part,
                hash,
                ts,
                reply,
            })
            .await?;
        self.remove_old_file(part, &hash, old.as_ref()).await;
        Ok(old)
    }

    /// Object keys whose `X-Delete-At` is at or before `now_secs`, with the version timestamp.
    pub async fn expired(
        &self,
        now_secs: u64,
        limit: usize,
    ) -> Result<Vec<(u32, [u8; 16], Timestamp)>, StoreError> {
        let db = self.db.clone();
        spawn_blocking(move || {
            let mut out = Vec::new();
            let mut it = db.raw_iterator();
            it.seek(b"x");
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                if k.first() != Some(&b'x') || k.len() != 9 + 21 || out.len() >= limit {
                    break;
                }
                let at = u64::from_be_bytes(k[1..9].try_into().expect("length checked"));
                if at > now_secs {
                    break;
                }
                let part = u32::from_be_bytes(k[10..14].try_into().expect("length checked"));
                let hash: [u8; 16] = k[14..30].try_into().expect("length checked");
                let ts = v
                    .try_into()
                    .map(|b: [u8; 8]| Timestamp(u64::from_be_bytes(b)))
                    .unwrap_or_default();
                out.push((part, hash, ts));
                it.next();
            }
            it.status()?;
            Ok(out)
        })
        .await
    }

    /// Adds, updates or removes an object row of a container listing.
    pub async fn container_row(
        &self,
        part: u32,
        account: &str,
        container: &str,
        name: &str,
        row: record::ObjectRow,
    ) -> Result<ContainerInfo, StoreError> {
        let (account, container, name) =
            (account.to_string(), container.to_string(), name.to_string());
        self.submit(|reply| WriteOp::ContainerRow {
            part,
            account,
            container,
            name,
            row,
            reply: Some(reply),
        })
        .await
    }

    /// Changes a container's own record.
    pub async fn container_change(
        &self,
        part: u32,
        account: &str,
        container: &str,
        change: ContainerChange,
    ) -> Result<ContainerInfo, StoreError> {
        let (account, container) = (account.to_string(), container.to_string());
        self.submit(|reply| WriteOp::Container {
            part,
            account,
            container,
            change,
            reply,
        })
        .await
    }

    /// Reads a container's record.
    pub async fn container_info(
        &self,
        part: u32,
        account: &str,
        container: &str,
    ) -> Result<Option<ContainerInfo>, StoreError> {
        let db = self.db.clone();
        let key = keys::container_info(part, account, container);
        spawn_blocking(move || match db.get(key)? {
            Some(raw) => record::decode(&raw).map(Some).ok_or(StoreError::Corrupt),
            None => Ok(None),
        })
        .await
    }

    /// Lists a container's objects.
    pub async fn list_container(
        &self,
        part: u32,
        account: &str,
        container: &str,
        params: ListParams,
    ) -> Result<Listing<record::ObjectRow>, StoreError> {
        let db = self.db.clone();
        let prefix = keys::container_rows(part, account, container);
        spawn_blocking(move || {
            listing::list(&db, &prefix, &params, |r: &record::ObjectRow| !r.deleted)
        })
        .await
    }

    /// Updates an account listing row. With `durable` the call returns once
    /// the row is committed (a container was created or deleted: listings
    /// must show it); otherwise it is queued and becomes durable with the
    /// next batch (stats of object changes).
    pub async fn account_row(
        &self,
        part: u32,
        account: &str,
        container: &str,
        row: ContainerRow,
        durable: bool,
    ) -> Result<(), StoreError> {
        let (account, container) = (account.to_string(), container.to_string());
        if durable {
            return self
                .submit(|reply| WriteOp::AccountRow {
                    part,
                    account,
                    container,
                    row,
                    reply: Some(reply),
                })
                .await;
        }
        self.mark_dirty(part);
        let op = WriteOp::AccountRow {
            part,
            account,
            container,
            row,
            reply: None,
        };
        self.writer
            .send(op)
            .await
            .map_err(|_| StoreError::Io(std::io::Error::other("device writer stopped")))
    }

    /// Merges account metadata.
    pub async fn account_post(
        &self,
        part: u32,
        account: &str,
        ts: Timestamp,
        headers: Vec<(String, String)>,
    ) -> Result<AccountInfo, StoreError> {
        let account = account.to_string();
        self.submit(|reply| WriteOp::AccountPost {
            part,
            account,
            ts,
            headers,
            reply,
        })
        .await
    }

    /// Reads an account's record.
    pub async fn account_info(
        &self,
        part: u32,
        account: &str,
    ) -> Result<Option<AccountInfo>, StoreError> {
        let db = self.db.clone();
        let key = keys::account_info(part, account);
        spawn_blocking(move || match db.get(key)? {
            Some(raw) => record::decode(&raw).map(Some).ok_or(StoreError::Corrupt),
            None => Ok(None),
        })
        .await
    }

    /// Lists an account's containers.
    pub async fn list_account(
        &self,
        part: u32,
        account: &str,
        params: ListParams,
    ) -> Result<Listing<ContainerRow>, StoreError> {
        let db = self.db.clone();
        let prefix = keys::account_rows(part, account);
        spawn_blocking(move || listing::list(&db, &prefix, &params, ContainerRow::exists)).await
    }
}

impl Drop for DeviceStore {
    /// Closes the writer queue and waits for the writer to commit what it
    /// holds, so RocksDB is closed in order rather than torn down at exit.
    fn drop(&mut self) {
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.writer, closed));
        if let Some(thread) = self.writer_thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs blocking storage work off the async runtime.
pub async fn spawn_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
}
