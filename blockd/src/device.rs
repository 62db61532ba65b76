//! What an NBD export serves: a `BlockDevice` (size, reads, writes, flush,
//! trim, zeroing, and which ranges hold data). `FileDevice` keeps a device
//! in a sparse local file: trims punch holes, and `SEEK_DATA`/`SEEK_HOLE`
//! answer where data is. Calls block, and the server runs them on blocking
//! threads, except the `try_` calls: those only do what needs no waiting
//! (memory, the page cache) and decline otherwise, so the server makes
//! them inline.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use rustix::fs::{FallocateFlags, SeekFrom};

/// A contiguous range of a device and whether it holds data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    pub len: u64,
    /// True for a hole: it reads as zeros and stores nothing.
    pub hole: bool,
}

/// A block device an export serves. Ranges are checked by the caller.
pub trait BlockDevice: Send + Sync + 'static {
    fn size(&self) -> u64;
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()>;
    /// Makes every completed write durable.
    fn flush(&self) -> io::Result<()>;
    /// Forgets a range (it reads as zeros afterwards).
    fn trim(&self, offset: u64, len: u64) -> io::Result<()>;
    /// Zeroes a range; `may_punch` allows leaving a hole.
    fn write_zeroes(&self, offset: u64, len: u64, may_punch: bool) -> io::Result<()>;
    /// The data and holes of `offset..offset+len`, in order, covering it.
    fn extents(&self, offset: u64, len: u64) -> io::Result<Vec<Extent>>;

    /// `read_at` if the bytes are at hand; `Ok(false)` (and `buf` in any
    /// state) if getting them means waiting.
    fn try_read_at(&self, _buf: &mut [u8], _offset: u64) -> io::Result<bool> {
        Ok(false)
    }

    /// `write_at` (not durable) if it needs no waiting; `Ok(false)`, having
    /// written nothing, otherwise.
    fn try_write_at(&self, _data: &[u8], _offset: u64) -> io::Result<bool> {
        Ok(false)
    }

    /// `extents` if they are known without waiting.
    fn try_extents(&self, _offset: u64, _len: u64) -> io::Result<Option<Vec<Extent>>> {
        Ok(None)
    }

    /// Whether `write_zeroes` is faster than writing zeros would be.
    fn zeroes_fast(&self, _may_punch: bool) -> bool {
        true
    }
}

/// A device kept in a sparse file.
pub struct FileDevice {
    file: File,
    size: u64,
}

impl FileDevice {
    /// Opens (creating a sparse one of `size` bytes if missing) the file at `path`.
    pub fn open(path: &Path, size: u64) -> io::Result<Self> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        if file.metadata()?.len() < size {
            file.set_len(size)?;
        }
        Ok(FileDevice { file, size })
    }
}

impl BlockDevice for FileDevice {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    fn try_read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<bool> {
        // RWF_NOWAIT: only what the page cache holds; a short read or
        // EAGAIN (or a filesystem without it) means the disk is needed.
        let want = buf.len();
        let flags = rustix::io::ReadWriteFlags::NOWAIT;
        let mut bufs = [std::io::IoSliceMut::new(buf)];
        match rustix::io::preadv2(&self.file, &mut bufs, offset, flags) {
            Ok(n) => Ok(n == want),
            Err(_) => Ok(false),
        }
    }

    fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_all_at(data, offset)
    }

    fn flush(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn trim(&self, offset: u64, len: u64) -> io::Result<()> {
        let mode = FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE;
        rustix::fs::fallocate(&self.file, mode, offset, len).map_err(io::Error::from)
    }

    fn write_zeroes(&self, offset: u64, len: u64, may_punch: bool) -> io::Result<()> {
        let mode = if may_punch {
            FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE
        } else {
            FallocateFlags::ZERO_RANGE | FallocateFlags::KEEP_SIZE
        };
        match rustix::fs::fallocate(&self.file, mode, offset, len) {
            Ok(()) => Ok(()),
            // Filesystems without the fallocate mode: write the zeros.
            Err(_) => {
                let zeros = vec![0u8; len.min(1 << 20) as usize];
                let mut at = offset;
                while at < offset + len {
                    let n = (offset + len - at).min(zeros.len() as u64) as usize;
                    self.file.write_all_at(&zeros[..n], at)?;
                    at += n as u64;
                }
                Ok(())
            }
        }
    }

    fn extents(&self, offset: u64, len: u64) -> io::Result<Vec<Extent>> {
        let end = offset + len;
        let mut out = Vec::new();
        let mut at = offset;
        while at < end {
            // Where the next data starts (ENXIO: none before the end of file).
            let data = rustix::fs::seek(&self.file, SeekFrom::Data(at)).unwrap_or(end);
            if data > at {
                let hole_end = data.min(end);
                out.push(Extent {
                    len: hole_end - at,
                    hole: true,
                });
                at = hole_end;
                continue;
            }
            let hole = rustix::fs::seek(&self.file, SeekFrom::Hole(at)).unwrap_or(end);
            let data_end = hole.min(end).max(at + 1);
            out.push(Extent {
                len: data_end - at,
                hole: false,
            });
            at = data_end;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_file_reports_holes_and_data() {
        let dir = tempfile::tempdir().unwrap();
        let dev = FileDevice::open(&dir.path().join("v"), 4 << 20).unwrap();
        assert_eq!(
            dev.extents(0, 4 << 20).unwrap(),
            vec![Extent {
                len: 4 << 20,
                hole: true
            }]
        );
        dev.write_at(&[7u8; 8192], 1 << 20).unwrap();
        let ext = dev.extents(0, 4 << 20).unwrap();
        assert_eq!(ext.iter().map(|e| e.len).sum::<u64>(), 4 << 20);
        assert!(ext.iter().any(|e| !e.hole));
        let mut buf = [0u8; 16];
        dev.read_at(&mut buf, (1 << 20) + 100).unwrap();
        assert_eq!(buf, [7u8; 16]);
        dev.trim(1 << 20, 8192).unwrap();
        dev.read_at(&mut buf, (1 << 20) + 100).unwrap();
        assert_eq!(buf, [0u8; 16]);
        assert!(dev.extents(0, 4 << 20).unwrap().iter().all(|e| e.hole));
    }
}
