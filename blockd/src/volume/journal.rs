//! A volume's write journal: files `DIR/<generation>.log` of checksummed
//! records (data written at an offset, or a range zeroed), written one
//! after another from the start of the file. Appends are plain writes;
//! `sync` (fdatasync) makes them durable, which the device does on FLUSH
//! and FUA. At start, `replay` reads every generation in order and stops
//! at the first record that does not verify (cutting the file there), so
//! a record is either whole or absent. An append that fails part way cuts
//! the file back to its last whole record, so the records appended after
//! it are not lost behind a torn one; if even that fails, the journal
//! refuses every later append.
//!
//! Packed generations are recycled: one is kept as `DIR/spare.jnl` and
//! becomes the next generation's file, so appends overwrite blocks the
//! file system has already allocated and an fdatasync flushes data
//! without a metadata commit (about half the cost on ext4). What the
//! spare held before is never replayed: each record's checksum covers
//! its generation, and the rename is made durable before any record is
//! written. A quiet volume gives the space back (`drop_spare`, `trim`).
//!
//! Record: magic `u32`, kind `u32`, offset `u64`, length `u64`, checksum
//! `u64` (the first 8 bytes of BLAKE3 over generation, kind, offset,
//! length and payload), then the payload (data records only).
//! Big-endian. Files of the first format (magic `CJR1`, no generation
//! in the checksum, never recycled) still replay.

use std::fs::File;
use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: u32 = 0x434a_5232; // "CJR2"
/// Records of the first format, which never shared a file with older ones.
const MAGIC_UNSTAMPED: u32 = 0x434a_5231; // "CJR1"
const HEADER: usize = 32;
const KIND_DATA: u32 = 1;
const KIND_ZERO: u32 = 2;
/// The packed generation kept for reuse.
const SPARE: &str = "spare.jnl";

/// One replayed change.
#[derive(Debug, PartialEq, Eq)]
pub enum Record {
    Data { offset: u64, data: Vec<u8> },
    Zero { offset: u64, len: u64 },
}

/// The record checksum; `generation` is `None` for the first format.
fn checksum(generation: Option<u64>, kind: u32, offset: u64, len: u64, payload: &[u8]) -> u64 {
    let mut h = blake3::Hasher::new();
    if let Some(g) = generation {
        h.update(&g.to_be_bytes());
    }
    h.update(&kind.to_be_bytes());
    h.update(&offset.to_be_bytes());
    h.update(&len.to_be_bytes());
    h.update(payload);
    u64::from_be_bytes(h.finalize().as_bytes()[..8].try_into().expect("8 bytes"))
}

fn header(generation: u64, kind: u32, offset: u64, len: u64, payload: &[u8]) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0..4].copy_from_slice(&MAGIC.to_be_bytes());
    h[4..8].copy_from_slice(&kind.to_be_bytes());
    h[8..16].copy_from_slice(&offset.to_be_bytes());
    h[16..24].copy_from_slice(&len.to_be_bytes());
    let sum = checksum(Some(generation), kind, offset, len, payload);
    h[24..32].copy_from_slice(&sum.to_be_bytes());
    h
}

/// The path of generation `generation` in `dir`.
pub fn path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("{generation:016x}.log"))
}

/// Makes the names in `dir` durable (a created or renamed file).
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes the spare file, if any (its volume has gone quiet).
pub fn drop_spare(dir: &Path) -> io::Result<()> {
    match std::fs::remove_file(dir.join(SPARE)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Done with packed generation `generation`: its file becomes the spare
/// if there is none, or is removed. A file of the first format is never
/// a spare: its records do not name their generation. A file already
/// gone (two commits retiring at once) is done.
pub fn retire(dir: &Path, generation: u64) -> io::Result<()> {
    let from = path(dir, generation);
    let spare = dir.join(SPARE);
    let retired = (|| {
        if spare.exists() || first_magic(&from)? == Some(MAGIC_UNSTAMPED) {
            return std::fs::remove_file(&from);
        }
        std::fs::rename(&from, &spare)
    })();
    match retired {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// The magic of the first record in the file at `p`, if it has one.
fn first_magic(p: &Path) -> io::Result<Option<u32>> {
    let mut magic = [0u8; 4];
    match File::open(p)?.read_exact(&mut magic) {
        Ok(()) => Ok(Some(u32::from_be_bytes(magic))),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// An open journal file being appended to.
pub struct JournalFile {
    pub generation: u64,
    file: File,
    /// Bytes of whole records in the file (where the next one goes).
    len: u64,
    /// Set when a failed append could not be cut off.
    broken: bool,
    /// Test hook: the next append fails after writing this many bytes.
    #[cfg(test)]
    fail_after: Option<usize>,
}

impl JournalFile {
    /// Opens generation `generation` in `dir`: an existing file is
    /// appended to after its last whole record (anything after it is cut
    /// off: a torn record, or a recycled file's older ones); otherwise
    /// the spare (or a new file) takes its name.
    pub fn open(dir: &Path, generation: u64) -> io::Result<JournalFile> {
        std::fs::create_dir_all(dir)?;
        let at = path(dir, generation);
        let existing = at.exists();
        if existing {
            replay(dir, generation)?;
        } else {
            match std::fs::rename(dir.join(SPARE), &at) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    File::create(&at)?;
                }
                r => r?,
            }
            // Before any record is acknowledged, the file must be found
            // under this name after a crash.
            sync_dir(dir)?;
        }
        let mut file = File::options().write(true).open(&at)?;
        let len = if existing {
            file.seek(SeekFrom::End(0))?
        } else {
            0
        };
        Ok(JournalFile {
            generation,
            file,
            len,
            broken: false,
            #[cfg(test)]
            fail_after: None,
        })
    }

    /// Appends a data record (not yet durable).
    pub fn append_data(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let h = header(self.generation, KIND_DATA, offset, data.len() as u64, data);
        self.append(&h, data)
    }

    /// Appends a zeroed-range record (not yet durable).
    pub fn append_zero(&mut self, offset: u64, len: u64) -> io::Result<()> {
        let h = header(self.generation, KIND_ZERO, offset, len, &[]);
        self.append(&h, &[])
    }

    /// Appends one record, or leaves the file as it was.
    fn append(&mut self, header: &[u8], payload: &[u8]) -> io::Result<()> {
        if self.broken {
            return Err(io::Error::other("journal unusable after a failed append"));
        }
        match self.write_record(header, payload) {
            Ok(()) => {
                self.len += (header.len() + payload.len()) as u64;
                Ok(())
            }
            Err(e) => {
                let cut = self
                    .file
                    .set_len(self.len)
                    .and_then(|()| self.file.seek(SeekFrom::Start(self.len)));
                if let Err(cut) = cut {
                    tracing::error!("cannot cut a failed journal append: {cut}");
                    self.broken = true;
                }
                Err(e)
            }
        }
    }

    fn write_record(&mut self, header: &[u8], payload: &[u8]) -> io::Result<()> {
        #[cfg(test)]
        if let Some(n) = self.fail_after.take() {
            let whole = [header, payload].concat();
            self.file.write_all(&whole[..n.min(whole.len())])?;
            return Err(io::ErrorKind::StorageFull.into());
        }
        // Header and data in one write where the kernel takes both, with
        // no copy of the data into a record buffer.
        let mut done = 0;
        while done < header.len() {
            let bufs = [IoSlice::new(&header[done..]), IoSlice::new(payload)];
            match self.file.write_vectored(&bufs)? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => done += n,
            }
        }
        self.file.write_all(&payload[done - header.len()..])
    }

    /// Cuts off what the file held beyond its records (a recycled
    /// file's older ones), giving the space back.
    pub fn trim(&mut self) -> io::Result<()> {
        if self.file.metadata()?.len() > self.len {
            self.file.set_len(self.len)?;
        }
        Ok(())
    }

    /// A handle that can sync this file without holding the journal.
    pub fn handle(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// Makes every appended record durable.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// The generations present in `dir`, oldest first.
pub fn generations(dir: &Path) -> io::Result<Vec<u64>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(g) = name
            .strip_suffix(".log")
            .and_then(|h| u64::from_str_radix(h, 16).ok())
        {
            out.push(g);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Reads the whole records of one generation, cutting the file at the
/// first record that does not verify (a torn one, or what the file held
/// in an earlier generation); what it answers is durable.
pub fn replay(dir: &Path, generation: u64) -> io::Result<Vec<Record>> {
    let p = path(dir, generation);
    let mut bytes = Vec::new();
    File::open(&p)?.read_to_end(&mut bytes)?;
    let mut records = Vec::new();
    let mut at = 0usize;
    // The first record says which format the file is in.
    let mut format: Option<u32> = None;
    while bytes.len() - at >= HEADER {
        let h = &bytes[at..at + HEADER];
        let word = |r: std::ops::Range<usize>| u64::from_be_bytes(h[r].try_into().expect("8"));
        let magic = u32::from_be_bytes(h[0..4].try_into().expect("4"));
        let kind = u32::from_be_bytes(h[4..8].try_into().expect("4"));
        let (offset, len, sum) = (word(8..16), word(16..24), word(24..32));
        let stamp = match magic {
            MAGIC => Some(generation),
            MAGIC_UNSTAMPED => None,
            _ => break,
        };
        if *format.get_or_insert(magic) != magic {
            break;
        }
        let payload_len = if kind == KIND_DATA { len as usize } else { 0 };
        if bytes.len() - at - HEADER < payload_len {
            break;
        }
        let payload = &bytes[at + HEADER..at + HEADER + payload_len];
        if checksum(stamp, kind, offset, len, payload) != sum {
            break;
        }
        records.push(match kind {
            KIND_DATA => Record::Data {
                offset,
                data: payload.to_vec(),
            },
            KIND_ZERO => Record::Zero { offset, len },
            _ => break,
        });
        at += HEADER + payload_len;
    }
    if at < bytes.len() {
        tracing::info!(
            journal = %p.display(),
            kept = at,
            dropped = bytes.len() - at,
            "journal replay ends at a record that does not verify (torn, or older); cutting it off"
        );
        let f = File::options().write(true).open(&p)?;
        f.set_len(at as u64)?;
        f.sync_all()?;
    } else if !records.is_empty() {
        // A process killed before its FLUSH-less writes reached the disk
        // left them in the page cache: what replays is made durable, as
        // a later FLUSH syncs only the newer generation.
        File::open(&p)?.sync_data()?;
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_whole_records_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = JournalFile::open(dir.path(), 3).unwrap();
        j.append_data(4096, b"hello").unwrap();
        j.append_zero(0, 512).unwrap();
        j.append_data(10, &[7u8; 100]).unwrap();
        j.sync().unwrap();
        let p = path(dir.path(), 3);
        let full = std::fs::metadata(&p).unwrap().len();
        // Tear the last record.
        File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(full - 30)
            .unwrap();
        let records = replay(dir.path(), 3).unwrap();
        assert_eq!(
            records,
            vec![
                Record::Data {
                    offset: 4096,
                    data: b"hello".to_vec()
                },
                Record::Zero {
                    offset: 0,
                    len: 512
                }
            ]
        );
        assert_eq!(
            std::fs::metadata(&p).unwrap().len(),
            (HEADER * 2 + 5) as u64
        );
        assert_eq!(generations(dir.path()).unwrap(), vec![3]);
    }

    #[test]
    fn a_failed_append_loses_nothing_written_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = JournalFile::open(dir.path(), 1).unwrap();
        j.append_data(0, b"first").unwrap();
        j.fail_after = Some(HEADER + 2);
        assert!(j.append_data(8, b"torn").is_err());
        j.append_zero(16, 4096).unwrap();
        j.append_data(32, b"last").unwrap();
        j.sync().unwrap();
        let records = replay(dir.path(), 1).unwrap();
        assert_eq!(
            records,
            vec![
                Record::Data {
                    offset: 0,
                    data: b"first".to_vec()
                },
                Record::Zero {
                    offset: 16,
                    len: 4096
                },
                Record::Data {
                    offset: 32,
                    data: b"last".to_vec()
                },
            ]
        );
    }

    #[test]
    fn a_recycled_file_replays_only_its_own_generation() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = JournalFile::open(dir.path(), 1).unwrap();
        for i in 0..3u64 {
            j.append_data(i * 8, b"older").unwrap();
        }
        j.sync().unwrap();
        drop(j);
        retire(dir.path(), 1).unwrap();
        assert!(dir.path().join(SPARE).exists());
        assert_eq!(generations(dir.path()).unwrap(), Vec::<u64>::new());
        // Retired already (by a commit racing this one): done, spare kept.
        retire(dir.path(), 1).unwrap();
        assert!(dir.path().join(SPARE).exists());
        // The next generation takes the spare and overwrites it from the
        // start; the older records that follow, aligned on the same
        // boundaries, are not replayed.
        let mut j = JournalFile::open(dir.path(), 2).unwrap();
        assert!(!dir.path().join(SPARE).exists());
        j.append_data(100, b"newer").unwrap();
        j.sync().unwrap();
        assert_eq!(
            std::fs::metadata(path(dir.path(), 2)).unwrap().len(),
            3 * (HEADER as u64 + 5),
            "the spare's blocks are reused"
        );
        // A quiet volume gives the older records' space back.
        j.trim().unwrap();
        assert_eq!(
            std::fs::metadata(path(dir.path(), 2)).unwrap().len(),
            HEADER as u64 + 5
        );
        assert_eq!(
            replay(dir.path(), 2).unwrap(),
            vec![Record::Data {
                offset: 100,
                data: b"newer".to_vec()
            }]
        );
        // A second retired file is removed: one spare is kept.
        retire(dir.path(), 2).unwrap();
        let mut j = JournalFile::open(dir.path(), 3).unwrap();
        j.append_zero(0, 4096).unwrap();
        drop(j);
        JournalFile::open(dir.path(), 4).unwrap();
        retire(dir.path(), 3).unwrap();
        retire(dir.path(), 4).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        drop_spare(dir.path()).unwrap();
        drop_spare(dir.path()).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn reopening_a_generation_appends_after_its_last_whole_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = JournalFile::open(dir.path(), 1).unwrap();
        for i in 0..3u64 {
            j.append_data(i * 8, b"older").unwrap();
        }
        drop(j);
        retire(dir.path(), 1).unwrap();
        // The spare is renamed, then the open fails before anything is
        // written; a second open of that generation finds the old records.
        std::fs::rename(dir.path().join(SPARE), path(dir.path(), 2)).unwrap();
        let mut j = JournalFile::open(dir.path(), 2).unwrap();
        j.append_data(64, b"newer").unwrap();
        j.sync().unwrap();
        assert_eq!(
            replay(dir.path(), 2).unwrap(),
            vec![Record::Data {
                offset: 64,
                data: b"newer".to_vec()
            }]
        );
    }

    #[test]
    fn a_file_of_the_first_format_is_never_a_spare() {
        let dir = tempfile::tempdir().unwrap();
        let mut old = MAGIC_UNSTAMPED.to_be_bytes().to_vec();
        old.extend_from_slice(&[0u8; HEADER - 4]);
        std::fs::write(path(dir.path(), 4), &old).unwrap();
        retire(dir.path(), 4).unwrap();
        assert!(!dir.path().join(SPARE).exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn files_of_the_first_format_replay() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        for (offset, data) in [(0u64, &b"abc"[..]), (512, &b"defg"[..])] {
            bytes.extend_from_slice(&MAGIC_UNSTAMPED.to_be_bytes());
            bytes.extend_from_slice(&KIND_DATA.to_be_bytes());
            bytes.extend_from_slice(&offset.to_be_bytes());
            bytes.extend_from_slice(&(data.len() as u64).to_be_bytes());
            let sum = checksum(None, KIND_DATA, offset, data.len() as u64, data);
            bytes.extend_from_slice(&sum.to_be_bytes());
            bytes.extend_from_slice(data);
        }
        std::fs::write(path(dir.path(), 7), &bytes).unwrap();
        let records = replay(dir.path(), 7).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(
            records[1],
            Record::Data {
                offset: 512,
                data: b"defg".to_vec()
            }
        );
    }

    #[test]
    fn a_flipped_byte_ends_the_replay() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = JournalFile::open(dir.path(), 0).unwrap();
        j.append_data(0, b"abc").unwrap();
        j.append_data(3, b"def").unwrap();
        let p = path(dir.path(), 0);
        let mut bytes = std::fs::read(&p).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(replay(dir.path(), 0).unwrap().len(), 1);
    }
}
