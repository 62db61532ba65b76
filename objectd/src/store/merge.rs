//! The writer's replication operations: merging a replica's container and
//! account records field by field (newest wins), and dropping a partition
//! once it has been handed off to its primaries.

use super::keys;
use super::record::{self, AccountInfo, ContainerInfo, ObjectMeta};
use super::writer::Batch;
use super::StoreError;

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

    pub(super) fn purge_partition(&mut self, part: u32) -> Result<Vec<ObjectMeta>, StoreError> {
        let mut removed = Vec::new();
        let mut doomed = Vec::new();
        for kind in PARTITION_KINDS {
            let mut prefix = vec![kind];
            prefix.extend_from_slice(&part.to_be_bytes());
            let mut it = self.db.raw_iterator();
            it.seek(&prefix);
            while let Some(k) = it.key() {
                if !k.starts_with(&prefix) {
                    break;
                }
                if kind == b'o' {
                    let raw = it.value().expect("iterator positioned on a key");
                    if let Some((meta, _)) = record::decode_object(raw) {
                        if let Some(at) = meta.delete_at {
                            doomed.push(keys::expiry(at, k));
                        }
                        removed.push(meta);
                    }
                }
                doomed.push(k.to_vec());
                it.next();
            }
            it.status()?;
        }
        for key in doomed {
            self.delete(key);
        }
        Ok(removed)
    }
}
