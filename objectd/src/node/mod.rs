//! A device as the proxy and the daemons reach it: open in this process
//! (`Local`) or on another storage host through the storage protocol
//! (`Remote`). Both answer the same operations with the same results, so
//! the proxy's fan-out, the replicator and the updater do not care where a
//! device lives. `server` is the storage host's HTTP side of the protocol,
//! `client` the caller's, `wire` the message shapes.

pub mod client;
pub mod server;
pub mod wire;

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

pub use client::RemoteDevice;

use crate::store::device::StoredObject;
use crate::store::listing::{ListParams, Listing};
use crate::store::pending::PendingUpdate;
use crate::store::record::{AccountInfo, ContainerInfo, ContainerRow, ObjectMeta, ObjectRow};
use crate::store::scan::Summary;
use crate::store::stream::BodyStream;
use crate::store::upload::FileUpload;
use crate::store::writer::{ContainerChange, ObjectPost};
use crate::store::{DeviceStore, StoreError};
use crate::timestamp::Timestamp;

/// A device of the ring, wherever it is.
#[derive(Clone)]
pub enum Node {
    Local(Arc<DeviceStore>),
    Remote(Arc<RemoteDevice>),
}

/// A data file being uploaded to a device: feed body pieces to `sender`,
/// drop it, then `commit` with the final metadata. Dropping an uncommitted
/// upload discards it on the device.
pub struct Upload {
    pub sender: Option<mpsc::Sender<Bytes>>,
    finish: Finish,
}

enum Finish {
    Local {
        dev: Arc<DeviceStore>,
        part: u32,
        hash: [u8; 16],
        writer: tokio::task::JoinHandle<io::Result<FileUpload>>,
    },
    Remote(client::RemoteUpload),
}

impl Upload {
    /// Waits for the body to be written, then makes it the data file of `meta`.
    pub async fn commit(self, meta: ObjectMeta) -> Result<Option<ObjectMeta>, StoreError> {
        drop(self.sender);
        match self.finish {
            Finish::Local {
                dev,
                part,
                hash,
                writer,
            } => {
                let upload = writer.await.map_err(io::Error::other)??;
                dev.put_file_object(part, hash, meta, upload).await
            }
            Finish::Remote(remote) => remote.commit(meta).await,
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $local:ident => $l:expr, $remote:ident => $r:expr) => {
        match $self {
            Node::Local($local) => $l,
            Node::Remote($remote) => $r,
        }
    };
}

impl Node {
    /// The device's ring id.
    pub fn id(&self) -> u32 {
        dispatch!(self, d => d.id, r => r.id)
    }

    /// The device, if it is open in this process.
    pub fn local(&self) -> Option<&Arc<DeviceStore>> {
        match self {
            Node::Local(d) => Some(d),
            Node::Remote(_) => None,
        }
    }

    pub async fn get_object(
        &self,
        part: u32,
        hash: [u8; 16],
    ) -> Result<Option<StoredObject>, StoreError> {
        dispatch!(self, d => d.get_object(part, hash).await, r => r.get_object(part, hash).await)
    }

    /// Stores an inline object version or a tombstone.
    pub async fn put_object(
        &self,
        part: u32,
        hash: [u8; 16],
        meta: ObjectMeta,
        body: Bytes,
    ) -> Result<Option<ObjectMeta>, StoreError> {
        dispatch!(self,
            d => d.put_object(part, hash, meta, body).await,
            r => r.put_object(part, hash, meta, body).await)
    }

    /// Starts a data-file upload (`direct`: bypass the page cache).
    pub fn open_upload(
        &self,
        part: u32,
        hash: [u8; 16],
        direct: bool,
    ) -> Result<Upload, StoreError> {
        match self {
            Node::Local(d) => {
                let (tx, writer) = d.start_upload(direct)?.into_pipe();
                Ok(Upload {
                    sender: Some(tx),
                    finish: Finish::Local {
                        dev: d.clone(),
                        part,
                        hash,
                        writer,
                    },
                })
            }
            Node::Remote(r) => {
                let (tx, remote) = r.open_upload(part, hash, direct)?;
                Ok(Upload {
                    sender: Some(tx),
                    finish: Finish::Remote(remote),
                })
            }
        }
    }

    pub async fn post_object(
        &self,
        part: u32,
        hash: [u8; 16],
        post: ObjectPost,
    ) -> Result<ObjectMeta, StoreError> {
        dispatch!(self,
            d => d.post_object(part, hash, post).await,
            r => r.call(wire::Call::PostObject { part, hash, post }).await)
    }

    /// Whether a version's data file is present and holds its body.
    pub async fn file_usable(&self, part: u32, hash: [u8; 16], ts: Timestamp, size: u64) -> bool {
        dispatch!(self,
            d => d.file_usable(part, hash, ts, size).await,
            r => r.call(wire::Call::FileUsable { part, hash, ts, size }).await.unwrap_or(false))
    }

    /// A version's whole body, checked; `None` if it was corrupt (the
    /// device quarantined it).
    pub async fn read_verified(
        &self,
        part: u32,
        hash: [u8; 16],
        meta: &ObjectMeta,
    ) -> Result<Option<Bytes>, StoreError> {
        dispatch!(self,
            d => d.read_verified(part, hash, meta).await,
            r => r.read_verified(part, hash, meta).await)
    }

    /// Quarantines a version's data file.
    pub async fn quarantine(
        &self,
        part: u32,
        hash: [u8; 16],
        ts: Timestamp,
    ) -> Result<(), StoreError> {
        dispatch!(self,
            d => d.quarantine_version(part, hash, ts).await,
            r => r.call(wire::Call::Quarantine { part, hash, ts }).await)
    }

    /// Streams body bytes of a version's data file (see `store::stream`).
    pub fn stream_file(
        &self,
        part: u32,
        hash: [u8; 16],
        ts: Timestamp,
        offset: u64,
        len: u64,
        verify: Option<String>,
    ) -> BodyStream {
        dispatch!(self,
            d => d.stream_file(part, hash, ts, offset, len, verify),
            r => r.stream_file(part, hash, ts, offset, len, verify))
    }

    pub async fn container_row(
        &self,
        part: u32,
        account: &str,
        container: &str,
        object: &str,
        row: ObjectRow,
    ) -> Result<ContainerInfo, StoreError> {
        dispatch!(self,
            d => d.container_row(part, account, container, object, row).await,
            r => r.call(wire::Call::ContainerRow {
                part,
                account: account.into(),
                container: container.into(),
                object: object.into(),
                row,
            }).await)
    }

    pub async fn container_change(
        &self,
        part: u32,
        account: &str,
        container: &str,
        change: ContainerChange,
    ) -> Result<ContainerInfo, StoreError> {
        dispatch!(self,
            d => d.container_change(part, account, container, change).await,
            r => r.call(wire::Call::ContainerChange {
                part,
                account: account.into(),
                container: container.into(),
                change,
            }).await)
    }

    pub async fn container_info(
        &self,
        part: u32,
        account: &str,
        container: &str,
    ) -> Result<Option<ContainerInfo>, StoreError> {
        dispatch!(self,
            d => d.container_info(part, account, container).await,
            r => r.call(wire::Call::ContainerInfo {
                part,
                account: account.into(),
                container: container.into(),
            }).await)
    }

    pub async fn list_container(
        &self,
        part: u32,
        account: &str,
        container: &str,
        params: ListParams,
    ) -> Result<Listing<ObjectRow>, StoreError> {
        dispatch!(self,
            d => d.list_container(part, account, container, params).await,
            r => r.call(wire::Call::ListContainer {
                part,
                account: account.into(),
                container: container.into(),
                params,
            }).await)
    }

    pub async fn account_row(
        &self,
        part: u32,
        account: &str,
        container: &str,
        row: ContainerRow,
        durable: bool,
    ) -> Result<(), StoreError> {
        dispatch!(self,
            d => d.account_row(part, account, container, row, durable).await,
            r => r.call(wire::Call::AccountRow {
                part,
                account: account.into(),
                container: container.into(),
                row,
                durable,
            }).await)
    }

    pub async fn account_post(
        &self,
        part: u32,
        account: &str,
        ts: Timestamp,
        headers: Vec<(String, String)>,
    ) -> Result<AccountInfo, StoreError> {
        dispatch!(self,
            d => d.account_post(part, account, ts, headers).await,
            r => r.call(wire::Call::AccountPost {
                part,
                account: account.into(),
                ts,
                headers,
            }).await)
    }

    pub async fn account_info(
        &self,
        part: u32,
        account: &str,
    ) -> Result<Option<AccountInfo>, StoreError> {
        dispatch!(self,
            d => d.account_info(part, account).await,
            r => r.call(wire::Call::AccountInfo { part, account: account.into() }).await)
    }

    pub async fn list_account(
        &self,
        part: u32,
        account: &str,
        params: ListParams,
    ) -> Result<Listing<ContainerRow>, StoreError> {
        dispatch!(self,
            d => d.list_account(part, account, params).await,
            r => r.call(wire::Call::ListAccount { part, account: account.into(), params }).await)
    }

    /// Every record of a partition with its version.
    pub async fn partition_summary(&self, part: u32) -> Result<Summary, StoreError> {
        match self {
            Node::Local(d) => d.partition_summary(part).await,
            Node::Remote(r) => {
                wire::summary_from_wire(r.call(wire::Call::PartitionSummary { part }).await?)
            }
        }
    }

    /// Applies a record of `source` (with its data file) on this device;
    /// returns the body bytes moved.
    pub async fn apply_replica(
        &self,
        key: &[u8],
        raw: &[u8],
        source: &DeviceStore,
    ) -> Result<u64, StoreError> {
        dispatch!(self,
            d => d.apply_replica(key, raw, source).await,
            r => r.apply_replica(key, raw, source).await)
    }

    /// Records a listing update this device's host will deliver later.
    pub async fn record_pending(&self, update: PendingUpdate) -> Result<(), StoreError> {
        dispatch!(self,
            d => d.record_pending(update).await,
            r => r.call(wire::Call::RecordPending { update }).await)
    }
}
