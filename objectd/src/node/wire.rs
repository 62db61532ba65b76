//! The storage-node protocol's message shapes. Small calls are one JSON
//! `Call` posted to `/rpc/{device}` and answered with a JSON `Result`;
//! bodies travel in frames (`[tag][u32 length][payload]`) so that the
//! metadata of an upload can follow its data in one request, as Swift's
//! object server receives footers after the body.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::store::listing::ListParams;
use crate::store::pending::PendingUpdate;
use crate::store::record::{ContainerRow, ObjectRow};
use crate::store::scan::{Summary, Version};
use crate::store::writer::{ContainerChange, ObjectPost};
use crate::store::StoreError;
use crate::timestamp::Timestamp;

/// A storage error as it crosses the wire.
#[derive(Debug, Serialize, Deserialize)]
pub enum WireError {
    NotFound,
    Conflict,
    NotEmpty,
    Corrupt,
    Io(String),
}

impl From<StoreError> for WireError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => WireError::NotFound,
            StoreError::Conflict => WireError::Conflict,
            StoreError::NotEmpty => WireError::NotEmpty,
            StoreError::Corrupt => WireError::Corrupt,
            other => WireError::Io(other.to_string()),
        }
    }
}

impl From<WireError> for StoreError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::NotFound => StoreError::NotFound,
            WireError::Conflict => StoreError::Conflict,
            WireError::NotEmpty => StoreError::NotEmpty,
            WireError::Corrupt => StoreError::Corrupt,
            WireError::Io(m) => StoreError::Io(std::io::Error::other(m)),
        }
    }
}

/// The answer to every call and upload.
pub type WireResult<T> = Result<T, WireError>;

/// A small operation on one device.
#[derive(Debug, Serialize, Deserialize)]
pub enum Call {
    PostObject {
        part: u32,
        hash: [u8; 16],
        post: ObjectPost,
    },
    /// Whether the data file of a version is present and long enough.
    FileUsable {
        part: u32,
        hash: [u8; 16],
        ts: Timestamp,
        size: u64,
    },
    Quarantine {
        part: u32,
        hash: [u8; 16],
        ts: Timestamp,
    },
    ContainerRow {
        part: u32,
        account: String,
        container: String,
        object: String,
        row: ObjectRow,
    },
    ContainerChange {
        part: u32,
        account: String,
        container: String,
        change: ContainerChange,
    },
    ContainerInfo {
        part: u32,
        account: String,
        container: String,
    },
    ListContainer {
        part: u32,
        account: String,
        container: String,
        params: ListParams,
    },
    AccountRow {
        part: u32,
        account: String,
        container: String,
        row: ContainerRow,
        durable: bool,
    },
    AccountPost {
        part: u32,
        account: String,
        ts: Timestamp,
        headers: Vec<(String, String)>,
    },
    AccountInfo {
        part: u32,
        account: String,
    },
    ListAccount {
        part: u32,
        account: String,
        params: ListParams,
    },
    PartitionSummary {
        part: u32,
    },
    RecordPending {
        update: PendingUpdate,
    },
}

/// A partition summary on the wire (JSON maps need string keys).
pub fn summary_to_wire(s: &Summary) -> Vec<(String, Version)> {
    s.iter().map(|(k, v)| (hex::encode(k), *v)).collect()
}

pub fn summary_from_wire(w: Vec<(String, Version)>) -> Result<Summary, StoreError> {
    w.into_iter()
        .map(|(k, v)| Ok((hex::decode(k).map_err(|_| StoreError::Corrupt)?, v)))
        .collect()
}

/// Frame tags of upload and replica bodies.
pub mod tag {
    /// Body bytes.
    pub const DATA: u8 = b'D';
    /// The object metadata (JSON); ends an upload.
    pub const META: u8 = b'M';
    /// A replicated record's key.
    pub const KEY: u8 = b'K';
    /// A replicated record as stored.
    pub const RAW: u8 = b'R';
    /// The sender finished; anything before it is complete.
    pub const END: u8 = b'E';
}

/// Largest frame accepted (a body piece is 1 MiB).
pub const MAX_FRAME: usize = 8 * 1024 * 1024;

/// The header of a frame carrying `len` bytes.
pub fn frame_header(tag: u8, len: usize) -> Bytes {
    let mut b = BytesMut::with_capacity(5);
    b.put_u8(tag);
    b.put_u32(len as u32);
    b.freeze()
}

/// A whole frame.
pub fn frame(tag: u8, payload: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + payload.len());
    b.put_u8(tag);
    b.put_u32(payload.len() as u32);
    b.put_slice(payload);
    b.freeze()
}

/// Splits frames out of arriving chunks.
#[derive(Default)]
pub struct FrameReader {
    buf: BytesMut,
}

impl FrameReader {
    /// Adds received bytes.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete frame, if one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<(u8, Bytes)>, StoreError> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let len = u32::from_be_bytes(self.buf[1..5].try_into().expect("checked")) as usize;
        if len > MAX_FRAME {
            return Err(StoreError::Corrupt);
        }
        if self.buf.len() < 5 + len {
            self.buf.reserve(5 + len - self.buf.len());
            return Ok(None);
        }
        let tag = self.buf.get_u8();
        self.buf.advance(4);
        Ok(Some((tag, self.buf.split_to(len).freeze())))
    }

    /// Whether bytes of an unfinished frame remain.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// An object read's answer: `[u32 meta length][meta JSON][inline body]`.
pub fn encode_stored(meta_json: &[u8], inline: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(4 + meta_json.len() + inline.len());
    b.put_u32(meta_json.len() as u32);
    b.put_slice(meta_json);
    b.put_slice(inline);
    b.freeze()
}

/// Splits an object read's answer into metadata JSON and inline body.
pub fn decode_stored(mut body: Bytes) -> Result<(Bytes, Bytes), StoreError> {
    if body.len() < 4 {
        return Err(StoreError::Corrupt);
    }
    let len = body.get_u32() as usize;
    if body.len() < len {
        return Err(StoreError::Corrupt);
    }
    let meta = body.split_to(len);
    Ok((meta, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_any_split() {
        let mut wire = BytesMut::new();
        wire.extend_from_slice(&frame(tag::DATA, &[7u8; 3000]));
        wire.extend_from_slice(&frame(tag::META, b"{}"));
        wire.extend_from_slice(&frame(tag::END, b""));
        for step in [1, 2, 5, 7, 4096] {
            let mut r = FrameReader::default();
            let mut got = Vec::new();
            for chunk in wire.chunks(step) {
                r.push(chunk);
                while let Some(f) = r.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert!(r.is_empty());
            assert_eq!(got.len(), 3);
            assert_eq!(got[0].0, tag::DATA);
            assert_eq!(got[0].1.len(), 3000);
            assert_eq!(&got[1].1[..], b"{}");
            assert_eq!(got[2].0, tag::END);
        }
    }

    #[test]
    fn oversized_frame_is_refused() {
        let mut r = FrameReader::default();
        r.push(&frame_header(tag::DATA, MAX_FRAME + 1));
        assert!(r.next_frame().is_err());
    }
}
