//! A data file being written: a temporary file in the device's `tmp/` that
//! becomes visible only by `commit` (trailer, fsync, rename, directory fsync).
//! Dropping an uncommitted upload removes its temporary file, so an aborted
//! PUT leaves nothing behind.

use std::fs::{self, File};
use std::io::{self, Write};
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
}

impl FileUpload {
    /// Creates a new temporary file in `tmp_dir`.
    pub fn create(tmp_dir: &Path) -> Result<Self, StoreError> {
        let tmp_path = tmp_dir.join(format!("{:032x}.tmp", rand::random::<u128>()));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&tmp_path)?;
        Ok(FileUpload {
            tmp_path,
            file: Some(file),
        })
    }

    /// Appends body bytes.
    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.file
            .as_mut()
            .expect("file open until commit")
            .write_all(chunk)
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
        let mut file = self.file.take().expect("file open until commit");
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

impl Drop for FileUpload {
    fn drop(&mut self) {
        if !self.tmp_path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}
