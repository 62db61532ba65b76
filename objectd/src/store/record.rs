//! On-disk records of a device's metadata database: object index rows (with
//! small bodies inline), container rows and stats, account rows. Every record
//! is versioned JSON behind a one-byte format tag so it can change deliberately.

use serde::{Deserialize, Serialize};

use crate::timestamp::Timestamp;

/// Format tag of every record written by this version.
const RECORD_V1: u8 = 1;

/// Where an object's bytes live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Placement {
    /// The body follows the metadata in the same database value.
    Inline,
    /// The body is the data file `objects/PART/SUFFIX/HASH/<ts>.data`.
    File,
}

/// The metadata of one object version (or its tombstone).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// The object's path, `account/container/object`.
    pub path: String,
    /// Timestamp of the PUT or DELETE that made this version.
    pub ts: Timestamp,
    /// Timestamp of the last POST (or `ts`).
    pub meta_ts: Timestamp,
    /// A tombstone left by DELETE.
    pub deleted: bool,
    pub size: u64,
    /// Hex MD5 of the body.
    pub etag: String,
    /// Hex BLAKE3 of the body, checked on full reads.
    pub blake3: String,
    pub content_type: String,
    /// User metadata and the other stored headers, as (lower-case name, value).
    pub headers: Vec<(String, String)>,
    /// Seconds since the epoch after which the object is gone.
    pub delete_at: Option<u64>,
    pub placement: Placement,
    /// Set when the body is one fragment archive of an erasure-coded
    /// object: then `size` and `blake3` are the archive's, `etag` the
    /// whole object's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragment: Option<Fragment>,
}

/// Which fragment archive of an erasure-coded object a body is, and the
/// scheme it was cut with (kept with every archive, so a later change of
/// the policy's settings never misreads older objects).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fragment {
    /// The archive's index: fragment `index` of every segment.
    pub index: u32,
    /// Size of the whole object.
    pub object_size: u64,
    pub k: u32,
    pub m: u32,
    pub segment_size: u64,
}

impl ObjectMeta {
    /// A tombstone at `ts`.
    pub fn tombstone(path: String, ts: Timestamp) -> Self {
        ObjectMeta {
            path,
            ts,
            meta_ts: ts,
            deleted: true,
            size: 0,
            etag: String::new(),
            blake3: String::new(),
            content_type: String::new(),
            headers: Vec::new(),
            delete_at: None,
            placement: Placement::Inline,
            fragment: None,
        }
    }

    /// Whether the version is live at `now` (not deleted, not expired).
    pub fn is_live(&self, now_secs: u64) -> bool {
        !self.deleted && self.delete_at.is_none_or(|at| at > now_secs)
    }

    /// The size of the object clients see (the whole object's for a fragment archive).
    pub fn object_size(&self) -> u64 {
        self.fragment.as_ref().map_or(self.size, |f| f.object_size)
    }

    /// The newest of the data and metadata timestamps.
    pub fn newest(&self) -> Timestamp {
        self.ts.max(self.meta_ts)
    }
}

/// Encodes an object row: tag, meta length, meta JSON, inline body.
pub fn encode_object(meta: &ObjectMeta, body: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(meta).expect("object metadata always serializes");
    let mut out = Vec::with_capacity(5 + json.len() + body.len());
    out.push(RECORD_V1);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(body);
    out
}

/// Decodes an object row into its metadata and the offset of the inline body.
pub fn decode_object(raw: &[u8]) -> Option<(ObjectMeta, usize)> {
    if raw.len() < 5 || raw[0] != RECORD_V1 {
        return None;
    }
    let len = u32::from_le_bytes(raw[1..5].try_into().ok()?) as usize;
    let end = 5usize.checked_add(len)?;
    let meta = serde_json::from_slice(raw.get(5..end)?).ok()?;
    Some((meta, end))
}

/// One object's row in a container listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRow {
    pub ts: Timestamp,
    pub deleted: bool,
    pub size: u64,
    pub etag: String,
    pub content_type: String,
}

/// A container's own record on a container server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    pub put_ts: Timestamp,
    pub delete_ts: Timestamp,
    /// Timestamp of the last metadata change.
    pub meta_ts: Timestamp,
    /// Container metadata and ACL headers, as (lower-case name, value).
    pub headers: Vec<(String, String)>,
    pub policy: String,
    pub object_count: u64,
    pub bytes_used: u64,
    /// When the counts last changed on this replica (strictly increasing):
    /// orders the stats reports sent to the account, so a report of older
    /// counts never overrides a newer one.
    #[serde(default)]
    pub stats_ts: Timestamp,
}

impl ContainerInfo {
    /// Whether the container exists (created after its last deletion).
    pub fn exists(&self) -> bool {
        self.put_ts > self.delete_ts
    }
}

/// One container's row in an account listing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRow {
    pub put_ts: Timestamp,
    pub delete_ts: Timestamp,
    /// When the stats were last changed.
    pub stats_ts: Timestamp,
    pub object_count: u64,
    pub bytes_used: u64,
    /// The container's storage policy (by name), as its servers report it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub policy: String,
}

impl ContainerRow {
    /// Whether the container exists.
    pub fn exists(&self) -> bool {
        self.put_ts > self.delete_ts
    }
}

/// An account's own record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub put_ts: Timestamp,
    pub meta_ts: Timestamp,
    pub headers: Vec<(String, String)>,
}

/// Encodes a JSON record with the format tag.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![RECORD_V1];
    serde_json::to_writer(&mut out, value).expect("records always serialize");
    out
}

/// Decodes a JSON record written by [`encode`].
pub fn decode<T: for<'de> Deserialize<'de>>(raw: &[u8]) -> Option<T> {
    match raw.split_first() {
        Some((&RECORD_V1, rest)) => serde_json::from_slice(rest).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_row_round_trip_keeps_body() {
        let mut meta = ObjectMeta::tombstone("a/c/o".into(), Timestamp(5));
        meta.deleted = false;
        meta.size = 3;
        let raw = encode_object(&meta, b"abc");
        let (back, off) = decode_object(&raw).expect("decodes");
        assert_eq!(back, meta);
        assert_eq!(&raw[off..], b"abc");
        assert!(decode_object(&raw[..4]).is_none());
        assert!(decode_object(&[9, 0, 0, 0, 0]).is_none());
    }

    #[test]
    fn expiry_makes_object_dead() {
        let mut meta = ObjectMeta::tombstone("a/c/o".into(), Timestamp(5));
        meta.deleted = false;
        meta.delete_at = Some(100);
        assert!(meta.is_live(99));
        assert!(!meta.is_live(100));
    }
}
