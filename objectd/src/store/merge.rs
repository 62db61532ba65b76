//! The writer's replication operations: merging a replica's container and
//! account records field by field (newest wins), and dropping a partition
//! once it has been handed off to its primaries.

use super::keys;
use super::record::{self, AccountInfo, ContainerInfo, ObjectMeta};
use super::scan::Summary;
use super::writer::Batch;
use super::StoreError;

/// A removed record's key, with the metadata when it was an object.
pub type Purged = (Vec<u8>, Option<ObjectMeta>);

/// Key kinds that belong to a partition (expiry entries follow their objects).
pub const PARTITION_KINDS: [u8; 5] = [b'o', b'c', b'C', b'a', b'A'];

impl Batch<'_> {
    pub(super) fn merge_container(
        &mut self,
        part: u32,
        account: &str,
        container: &str,
        theirs: ContainerInfo,
    ) -> Result<(), StoreError> {
        let key = keys::container_info(part, account, container);
        let mut info: ContainerInfo = self.get_record(&key)?.unwrap_or_default();
        let before = info.clone();
        info.put_ts = info.put_ts.max(theirs.put_ts);
        info.delete_ts = info.delete_ts.max(theirs.delete_ts);
        if theirs.meta_ts > info.meta_ts {
            info.meta_ts = theirs.meta_ts;
            info.headers = theirs.headers;
        }
        if info.policy.is_empty() {
            info.policy = theirs.policy;
        }
        if info != before {
            self.put(key, record::encode(&info));
        }
        Ok(())
    }

    pub(super) fn merge_account(
        &mut self,
        part: u32,
        account: &str,
        theirs: AccountInfo,
    ) -> Result<(), StoreError> {
        let key = keys::account_info(part, account);
        let mut info: AccountInfo = self.get_record(&key)?.unwrap_or_default();
        let before = info.clone();
        if info.put_ts.0 == 0 || (theirs.put_ts.0 != 0 && theirs.put_ts < info.put_ts) {
            info.put_ts = theirs.put_ts;
        }
        if theirs.meta_ts > info.meta_ts {
            info.meta_ts = theirs.meta_ts;
            info.headers = theirs.headers;
        }
        if info != before {
            self.put(key, record::encode(&info));
        }
        Ok(())
    }

    /// Removes the records of `expected` that still have the version it
    /// gives (a record changed since stays); answers every removed key, with
    /// the metadata of removed objects.
    pub(super) fn purge_records(&mut self, expected: &Summary) -> Result<Vec<Purged>, StoreError> {
        let mut removed = Vec::new();
        for (key, version) in expected {
            let Some(raw) = self.get(key)? else { continue };
            let kind = key.first().copied().unwrap_or_default();
            if super::scan::version(kind, &raw).as_ref() != Some(version) {
                continue;
            }
            let meta = (kind == b'o')
                .then(|| record::decode_object(&raw))
                .flatten()
                .map(|(m, _)| m);
            if let Some(at) = meta.as_ref().and_then(|m| m.delete_at) {
                self.delete(keys::expiry(at, key));
            }
            self.delete(key.clone());
            removed.push((key.clone(), meta));
        }
        Ok(removed)
    }
}
