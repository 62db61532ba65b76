//! A data file being written: a temporary file in the device's `tmp/` that
//! becomes visible only by `commit` (trailer, fsync, rename, directory fsync).
//! Dropping an uncommitted upload removes its temporary file, so an aborted
//! PUT leaves nothing behind.
//!
//! Pieces that are 4 KiB-aligned in memory, length and file offset are
//! written with `O_DIRECT` (where the filesystem allows it): three replicas
//! of a large body would otherwise cost three copies into the page cache and
//! a long writeback at fsync. The rest (the tail, the trailer) is buffered.
//! The proxy writes one replica buffered (so fresh objects are read from
//! memory); that upload syncs every `WRITEBACK_STEP` bytes so writeback runs
//! alongside the upload rather than all at commit.

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::data_file;
use super::record::ObjectMeta;
use super::StoreError;

/// Chunks buffered between the request and a device's file writer.
const PIPE_DEPTH: usize = 8;

/// An uncommitted data file.
#[derive(Debug)]
pub struct FileUpload {
    tmp_path: PathBuf,
    file: Option<File>,
    /// The same file opened with `O_DIRECT`, when the filesystem supports it.
    direct: Option<File>,
    /// Bytes written so far.
    len: u64,
    /// Bytes written through the page cache since the last `sync_data`.
    unsynced: u64,
}

/// A buffered upload is synced every this many bytes, so writeback runs
/// alongside the upload instead of all at commit.
const WRITEBACK_STEP: u64 = 8 * 1024 * 1024;

/// Alignment `O_DIRECT` needs of buffers, lengths and offsets.
pub const DIRECT_ALIGN: usize = 4096;

impl FileUpload {
    /// Creates a new temporary file in `tmp_dir`; `direct` asks for
    /// `O_DIRECT` writes (bypassing the page cache) where possible.
    pub fn create(tmp_dir: &Path, direct: bool) -> Result<Self, StoreError> {
        let tmp_path = tmp_dir.join(format!("{:032x}.tmp", rand::random::<u128>()));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&tmp_path)?;
        let direct = direct
            .then(|| {
                File::options()
                    .write(true)
                    .custom_flags(libc::O_DIRECT)
                    .open(&tmp_path)
                    .ok()
            })
            .flatten();
        Ok(FileUpload {
            tmp_path,
            file: Some(file),
            direct,
            len: 0,
            unsynced: 0,
        })
    }

    /// Body bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends body bytes.
    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        let aligned = chunk.as_ptr().align_offset(DIRECT_ALIGN) == 0
            && chunk.len().is_multiple_of(DIRECT_ALIGN)
            && self.len.is_multiple_of(DIRECT_ALIGN as u64);
        match &self.direct {
            Some(direct) if aligned => direct.write_all_at(chunk, self.len)?,
            _ => {
                let file = self.file.as_ref().expect("file open until commit");
                file.write_all_at(chunk, self.len)?;
                self.unsynced += chunk.len() as u64;
                if self.unsynced >= WRITEBACK_STEP {
                    file.sync_data()?;
                    self.unsynced = 0;
                }
            }
        }
        self.len += chunk.len() as u64;
        Ok(())
    }

    /// Moves the writing to a blocking thread fed by a channel: send chunks,
    /// drop the sender, and await the handle to get the upload back.
    pub fn into_pipe(
        mut self,
    ) -> (
        mpsc::Sender<Bytes>,
        tokio::task::JoinHandle<io::Result<FileUpload>>,
    ) {
        let (tx, mut rx) = mpsc::channel::<Bytes>(PIPE_DEPTH);
        let handle = tokio::task::spawn_blocking(move || {
            while let Some(chunk) = rx.blocking_recv() {
                self.write(&chunk)?;
            }
            Ok(self)
        });
        (tx, handle)
    }

    /// Writes the trailer, makes the file durable and renames it to `dest`.
    pub fn commit(mut self, dest: &Path, meta: &ObjectMeta) -> Result<(), StoreError> {
        self.direct = None;
        let mut file = self.file.take().expect("file open until commit");
        file.seek(SeekFrom::Start(self.len))?;
        data_file::write_trailer(&mut file, meta)?;
        file.sync_all()?;
        drop(file);
        let dir = dest.parent().expect("data paths have a parent");
        fs::create_dir_all(dir)?;
        fs::rename(&self.tmp_path, dest)?;
        File::open(dir)?.sync_all()?;
        self.tmp_path = PathBuf::new();
        Ok(())
    }
}

/// An empty buffer of `capacity` bytes whose start is aligned for `O_DIRECT`.
pub fn aligned_buffer(capacity: usize) -> bytes::BytesMut {
    let mut buf = bytes::BytesMut::with_capacity(capacity + DIRECT_ALIGN);
    let off = buf.as_ptr().align_offset(DIRECT_ALIGN);
    buf.resize(off, 0);
    let _ = buf.split_to(off);
    buf
}

impl Drop for FileUpload {
    fn drop(&mut self) {
        if !self.tmp_path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}
