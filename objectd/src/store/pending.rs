//! Async pendings: container listing updates that could not be delivered
//! when an object changed (a container server was down). They are kept in
//! the device's metadata database under `p` keys until the updater delivers
//! them to every container replica.

use serde::{Deserialize, Serialize};

use super::device::spawn_blocking;
use super::record::{self, ObjectRow};
use super::{DeviceStore, StoreError};

/// A listing row still owed to a container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpdate {
    pub account: String,
    pub container: String,
    pub object: String,
    pub row: ObjectRow,
}

/// Key of a pending: `p` + row timestamp + a hash of the object path, so
/// a later update of the same object replaces an older one's slot only if
/// their timestamps match.
fn key(update: &PendingUpdate) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + 8 + 16);
    k.push(b'p');
    k.extend_from_slice(&update.row.ts.0.to_be_bytes());
    let path = format!("{}/{}/{}", update.account, update.container, update.object);
    k.extend_from_slice(&blake3::hash(path.as_bytes()).as_bytes()[..16]);
    k
}

fn sync_writes() -> rocksdb::WriteOptions {
    let mut opts = rocksdb::WriteOptions::default();
    opts.set_sync(true);
    opts
}

impl DeviceStore {
    /// Records an undelivered listing update durably.
    pub async fn record_pending(&self, update: PendingUpdate) -> Result<(), StoreError> {
        let db = self.db.clone();
        spawn_blocking(move || {
            db.put_opt(key(&update), record::encode(&update), &sync_writes())?;
            Ok(())
        })
        .await
    }

    /// Up to `limit` pendings, oldest first, with their keys.
    pub async fn pendings(
        &self,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, PendingUpdate)>, StoreError> {
        let db = self.db.clone();
        spawn_blocking(move || {
            let mut out = Vec::new();
            let mut it = db.raw_iterator();
            it.seek(b"p");
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                if k.first() != Some(&b'p') || out.len() >= limit {
                    break;
                }
                match record::decode(v) {
                    Some(update) => out.push((k.to_vec(), update)),
                    None => {
                        tracing::warn!(device_key = %hex::encode(k), "undecodable pending update")
                    }
                }
                it.next();
            }
            it.status()?;
            Ok(out)
        })
        .await
    }

    /// Drops a delivered pending.
    pub async fn remove_pending(&self, key: Vec<u8>) -> Result<(), StoreError> {
        let db = self.db.clone();
        spawn_blocking(move || {
            db.delete_opt(key, &sync_writes())?;
            Ok(())
        })
        .await
    }
}
