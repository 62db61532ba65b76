//! The object data file: the body, then a trailer holding the object's
//! metadata (JSON, including its BLAKE3) so a file describes itself, then the
//! trailer length and a magic. Bodies start at offset 0, so ranged reads seek
//! straight to their bytes.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::record::ObjectMeta;

/// Magic ending every data file of format version 1.
const MAGIC_V1: &[u8; 8] = b"CAIRNOB1";

/// Appends the trailer after a fully written body.
pub fn write_trailer(file: &mut File, meta: &ObjectMeta) -> io::Result<()> {
    let json = serde_json::to_vec(meta).map_err(io::Error::other)?;
    file.write_all(&json)?;
    file.write_all(&(json.len() as u32).to_le_bytes())?;
    file.write_all(MAGIC_V1)
}

/// Reads the metadata stored in a data file's trailer.
pub fn read_trailer(path: &Path) -> io::Result<ObjectMeta> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    if len < 12 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "data file too short",
        ));
    }
    file.seek(SeekFrom::Start(len - 12))?;
    let mut tail = [0u8; 12];
    file.read_exact(&mut tail)?;
    if &tail[4..] != MAGIC_V1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad data file magic",
        ));
    }
    let json_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if json_len + 12 > len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad trailer length",
        ));
    }
    file.seek(SeekFrom::Start(len - 12 - json_len))?;
    let mut json = vec![0u8; json_len as usize];
    file.read_exact(&mut json)?;
    serde_json::from_slice(&json).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::Timestamp;

    #[test]
    fn trailer_round_trip_and_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.data");
        let mut meta = ObjectMeta::tombstone("a/c/o".into(), Timestamp(9));
        meta.size = 5;
        let mut f = File::create(&path).expect("create");
        f.write_all(b"hello").expect("write");
        write_trailer(&mut f, &meta).expect("trailer");
        drop(f);
        assert_eq!(read_trailer(&path).expect("read"), meta);
        std::fs::write(&path, b"hello world, no trailer").expect("write");
        assert!(read_trailer(&path).is_err());
    }
}
