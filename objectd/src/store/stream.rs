//! Reading bodies out of a device: a data file streamed in chunks from a
//! blocking thread (checked against its BLAKE3 when read whole), small
//! files read and checked at once, and whether a version's file is usable.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;
use futures::Stream;
use tracing::warn;

use super::device::spawn_blocking;
use super::record::ObjectMeta;
use super::{DeviceStore, StoreError};
use crate::timestamp::Timestamp;

/// A body as a stream of chunks.
pub type BodyStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// Read buffer of a data file stream.
const READ_CHUNK: usize = 1024 * 1024;

/// Bytes a data file holds beyond its body, at least (trailer length and magic).
const TRAILER_MIN: u64 = 12;

impl DeviceStore {
    /// Whether the data file of a version is present and holds its body.
    pub async fn file_usable(&self, part: u32, hash: [u8; 16], ts: Timestamp, size: u64) -> bool {
        let path = self.data_path(part, &hash, ts);
        tokio::task::spawn_blocking(move || {
            std::fs::metadata(&path).is_ok_and(|m| m.len() >= size + TRAILER_MIN)
        })
        .await
        .unwrap_or(false)
    }

    /// Reads a version's whole body and checks its BLAKE3. A mismatch
    /// quarantines the file and answers `None`; a missing file is `NotFound`.
    pub async fn read_verified(
        &self,
        part: u32,
        hash: [u8; 16],
        meta: &ObjectMeta,
    ) -> Result<Option<Bytes>, StoreError> {
        let path = self.data_path(part, &hash, meta.ts);
        let (p, size, want) = (path.clone(), meta.size as usize, meta.clone());
        let read = spawn_blocking(move || {
            let mut file = match std::fs::File::open(p) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StoreError::NotFound),
                Err(e) => return Err(e.into()),
            };
            let mut buf = vec![0u8; size];
            if file.read_exact(&mut buf).is_err() {
                return Ok(None);
            }
            Ok(super::integrity::intact(&want, &buf).then(|| Bytes::from(buf)))
        })
        .await?;
        if read.is_none() {
            warn!(device = self.id, path = %path.display(), "checksum mismatch; quarantining");
            self.quarantine_file(part, hash, meta.ts, &path).await?;
        }
        Ok(read)
    }

    /// Quarantines the data file of a version (see `quarantine_file`).
    pub async fn quarantine_version(
        &self,
        part: u32,
        hash: [u8; 16],
        ts: Timestamp,
    ) -> Result<(), StoreError> {
        let path = self.data_path(part, &hash, ts);
        self.quarantine_file(part, hash, ts, &path).await
    }

    /// Streams `len` body bytes of a version's data file from `offset`.
    pub fn stream_file(
        &self,
        part: u32,
        hash: [u8; 16],
        ts: Timestamp,
        offset: u64,
        len: u64,
        verify: Option<String>,
    ) -> BodyStream {
        file_stream(self.data_path(part, &hash, ts), offset, len, verify)
    }
}

/// Streams `len` bytes of a data file from `offset`; when `verify` holds the
/// BLAKE3 of the whole body (a full read), a mismatch ends the stream with an
/// error so the response is aborted rather than completed with bad bytes.
pub fn file_stream(path: PathBuf, offset: u64, len: u64, verify: Option<String>) -> BodyStream {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
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
    Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}
