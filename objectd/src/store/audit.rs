//! The device side of auditing: checking inline bodies against their BLAKE3
//! and quarantining bad data files. A quarantined object's index row is
//! dropped so that replication restores it from a good replica.

use std::path::Path;

use super::device::spawn_blocking;
use super::record::{self, Placement};
use super::{DeviceStore, StoreError};
use crate::timestamp::Timestamp;

/// What an inline audit found.
#[derive(Debug, Default)]
pub struct InlineAudit {
    pub checked: u64,
    pub bytes: u64,
    pub bad: u64,
}

impl DeviceStore {
    /// Checks every inline body; drops the rows whose bytes do not match.
    pub async fn audit_inline(&self) -> Result<InlineAudit, StoreError> {
        let db = self.db.clone();
        let (mut report, bad) = spawn_blocking(move || {
            let mut report = InlineAudit::default();
            let mut bad = Vec::new();
            let mut it = db.raw_iterator();
            it.seek(b"o");
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                if k.first() != Some(&b'o') {
                    break;
                }
                let Some((meta, off)) = record::decode_object(v) else {
                    it.next();
                    continue;
                };
                if meta.placement == Placement::Inline && !meta.deleted {
                    report.checked += 1;
                    report.bytes += (v.len() - off) as u64;
                    if !super::integrity::intact(&meta, &v[off..]) {
                        let part = u32::from_be_bytes(
                            k[1..5].try_into().expect("object keys hold a partition"),
                        );
                        let hash: [u8; 16] = k[5..21].try_into().expect("object keys hold a hash");
                        bad.push((part, hash, meta.ts));
                    }
                }
                it.next();
            }
            it.status()?;
            Ok((report, bad))
        })
        .await?;
        for (part, hash, ts) in bad {
            tracing::warn!(device = self.id, part, hash = %hex::encode(hash), "quarantining inline object: checksum mismatch");
            if self.purge_object(part, hash, ts).await?.is_some() {
                report.bad += 1;
            }
        }
        Ok(report)
    }

    /// Moves a bad data file to `quarantined/` and drops its index row if
    /// the row names this version.
    pub async fn quarantine_file(
        &self,
        part: u32,
        hash: [u8; 16],
        ts: Timestamp,
        path: &Path,
    ) -> Result<(), StoreError> {
        let dir = self.root().join("quarantined").join("objects");
        let dest = dir.join(format!("{}-{ts}.data", hex::encode(hash)));
        let from = path.to_path_buf();
        spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            std::fs::rename(&from, &dest)?;
            Ok(())
        })
        .await?;
        self.purge_object(part, hash, ts).await?;
        Ok(())
    }
}
