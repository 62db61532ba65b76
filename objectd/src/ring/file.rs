//! The versioned on-disk ring format: encoding, decoding/validation and the
//! atomic (temp file + fsync + rename) write.
//!
//! Layout (all integers little-endian):
//!
//! | bytes                | content                                              |
//! |----------------------|------------------------------------------------------|
//! | 10                   | magic `b"CAIRNRING\n"`                               |
//! | 4                    | format version (`u32`, currently 1)                  |
//! | 4                    | header length `H` (`u32`)                            |
//! | H                    | JSON [`Header`] (scalars + device list)              |
//! | 4 × R × 2^P          | assignment table, replica-major: `table[r][p]` (`u32` device id, `u32::MAX` = unassigned) |
//! | 8 × 2^P              | per-partition last-moved time (`u64` unix seconds, 0 = never) |
//! | 32                   | blake3 hash of every preceding byte                  |
//!
//! A reader rejects a wrong magic, an unknown format version, a short file,
//! trailing bytes, a checksum mismatch and any semantically invalid content.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Device, RingError, MAX_PART_POWER, MAX_REPLICAS, NONE_DEV};
use crate::ring::Result;

/// File magic, first bytes of every ring file.
pub(crate) const MAGIC: &[u8; 10] = b"CAIRNRING\n";
/// The only format version this code reads and writes.
pub(crate) const FORMAT_VERSION: u32 = 1;
const CHECKSUM_LEN: usize = 32;
/// Magic + format version + header length.
const PREAMBLE_LEN: usize = MAGIC.len() + 4 + 4;

/// One device as stored in the JSON header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeviceRecord {
    pub id: u32,
    pub region: u32,
    pub zone: u32,
    pub host: String,
    pub device: String,
    pub weight: f64,
    /// Removed by the operator, still holding partitions until the next
    /// rebalance.
    #[serde(default)]
    pub removed: bool,
}

impl From<&DeviceRecord> for Device {
    /// The lookup view of a device (a removed device has weight 0).
    fn from(d: &DeviceRecord) -> Device {
        Device {
            id: d.id,
            region: d.region,
            zone: d.zone,
            host: d.host.clone(),
            device: d.device.clone(),
            weight: d.weight,
        }
    }
}

/// The JSON header: every scalar field plus the device list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    part_power: u32,
    replicas: u32,
    min_part_hours: u32,
    /// 64 hex digits.
    hash_key: String,
    version: u64,
    next_dev_id: u32,
    devices: Vec<DeviceRecord>,
}

/// Everything a ring file holds, decoded and validated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RingData {
    pub part_power: u32,
    pub replicas: u32,
    pub min_part_hours: u32,
    pub hash_key: [u8; 32],
    pub version: u64,
    pub next_dev_id: u32,
    /// Sorted by id.
    pub devices: Vec<DeviceRecord>,
    /// `table[replica][partition]` = device id or [`NONE_DEV`].
    pub table: Vec<Vec<u32>>,
    /// Unix seconds of the last move of each partition (0 = never).
    pub last_moved: Vec<u64>,
}

impl RingData {
    fn parts(&self) -> usize {
        1usize << self.part_power
    }
}

/// Serialize `data` into the on-disk byte layout.
pub(crate) fn encode(data: &RingData) -> Result<Vec<u8>> {
    let header = Header {
        part_power: data.part_power,
        replicas: data.replicas,
        min_part_hours: data.min_part_hours,
        hash_key: hex::encode(data.hash_key),
        version: data.version,
        next_dev_id: data.next_dev_id,
        devices: data.devices.clone(),
    };
    let json = serde_json::to_vec(&header)
        .map_err(|e| RingError::Corrupt(format!("cannot encode header: {e}")))?;
    let header_len = u32::try_from(json.len())
        .map_err(|_| RingError::InvalidParameter("ring header too large".into()))?;
    let parts = data.parts();
    let mut out = Vec::with_capacity(
        PREAMBLE_LEN + json.len() + parts * (4 * data.table.len() + 8) + CHECKSUM_LEN,
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(&json);
    for row in &data.table {
        for id in row {
            out.extend_from_slice(&id.to_le_bytes());
        }
    }
    for t in &data.last_moved {
        out.extend_from_slice(&t.to_le_bytes());
    }
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    Ok(out)
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

fn truncated(expected: usize, found: usize) -> RingError {
    RingError::Truncated {
        expected: expected as u64,
        found: found as u64,
    }
}

/// Parse and validate the on-disk byte layout.
pub(crate) fn decode(bytes: &[u8]) -> Result<RingData> {
    let found = bytes.len();
    if found < MAGIC.len() {
        return Err(if MAGIC.starts_with(bytes) {
            truncated(PREAMBLE_LEN, found)
        } else {
            RingError::BadMagic
        });
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        return Err(RingError::BadMagic);
    }
    if found < PREAMBLE_LEN {
        return Err(truncated(PREAMBLE_LEN, found));
    }
    let format = read_u32(bytes, MAGIC.len());
    if format != FORMAT_VERSION {
        return Err(RingError::UnsupportedFormat {
            found: format,
            expected: FORMAT_VERSION,
        });
    }
    let header_len = read_u32(bytes, MAGIC.len() + 4) as usize;
    let header_end = PREAMBLE_LEN + header_len;
    if found < header_end {
        return Err(truncated(header_end, found));
    }
    let header: Header = serde_json::from_slice(&bytes[PREAMBLE_LEN..header_end])
        .map_err(|e| RingError::Corrupt(format!("bad header: {e}")))?;
    if !(1..=MAX_PART_POWER).contains(&header.part_power) {
        return Err(RingError::Corrupt(format!(
            "part power {} out of range",
            header.part_power
        )));
    }
    if !(1..=MAX_REPLICAS).contains(&header.replicas) {
        return Err(RingError::Corrupt(format!(
            "replica count {} out of range",
            header.replicas
        )));
    }
    let parts = 1usize << header.part_power;
    let replicas = header.replicas as usize;
    let table_end = header_end + 4 * replicas * parts;
    let moved_end = table_end + 8 * parts;
    let expected = moved_end + CHECKSUM_LEN;
    if found < expected {
        return Err(truncated(expected, found));
    }
    if found > expected {
        return Err(RingError::Corrupt(format!(
            "{} unexpected trailing bytes",
            found - expected
        )));
    }
    if blake3::hash(&bytes[..moved_end]).as_bytes()[..] != bytes[moved_end..] {
        return Err(RingError::ChecksumMismatch);
    }
    let table: Vec<Vec<u32>> = (0..replicas)
        .map(|r| {
            let base = header_end + 4 * r * parts;
            (0..parts).map(|p| read_u32(bytes, base + 4 * p)).collect()
        })
        .collect();
    let last_moved = (0..parts)
        .map(|p| read_u64(bytes, table_end + 8 * p))
        .collect();
    let mut key = [0u8; 32];
    hex::decode_to_slice(&header.hash_key, &mut key)
        .map_err(|e| RingError::Corrupt(format!("bad hash_key: {e}")))?;
    let data = RingData {
        part_power: header.part_power,
        replicas: header.replicas,
        min_part_hours: header.min_part_hours,
        hash_key: key,
        version: header.version,
        next_dev_id: header.next_dev_id,
        devices: header.devices,
        table,
        last_moved,
    };
    validate(&data)?;
    Ok(data)
}

/// Semantic checks shared by every reader.
fn validate(data: &RingData) -> Result<()> {
    let corrupt = |m: String| Err(RingError::Corrupt(m));
    let mut prev: Option<u32> = None;
    for d in &data.devices {
        if prev.is_some_and(|p| p >= d.id) {
            return corrupt(format!("device ids not strictly increasing at {}", d.id));
        }
        prev = Some(d.id);
        if d.id >= data.next_dev_id || d.id == NONE_DEV {
            return corrupt(format!("device id {} >= next_dev_id", d.id));
        }
        if !d.weight.is_finite() || d.weight < 0.0 {
            return corrupt(format!("device {} has invalid weight", d.id));
        }
        if d.removed && d.weight != 0.0 {
            return corrupt(format!("removed device {} has a weight", d.id));
        }
    }
    for row in &data.table {
        for &id in row {
            if id != NONE_DEV && data.devices.binary_search_by_key(&id, |d| d.id).is_err() {
                return corrupt(format!("table refers to unknown device {id}"));
            }
        }
    }
    Ok(())
}

/// Read and decode a ring file.
pub(crate) fn read(path: &Path) -> Result<RingData> {
    let bytes = fs::read(path).map_err(|source| RingError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode(&bytes)
}

/// Atomically write `data` to `path`: write a temp file in the same
/// directory, fsync it, then rename it over `path` (or, when `overwrite` is
/// false, hard-link it so an existing file is never replaced) and fsync the
/// directory.
pub(crate) fn write(path: &Path, data: &RingData, overwrite: bool) -> Result<()> {
    let bytes = encode(data)?;
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| RingError::Io { path: p, source }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        RingError::InvalidParameter(format!("{} is not a file path", path.display()))
    })?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}.{:016x}",
        name.to_string_lossy(),
        std::process::id(),
        rand::random::<u64>()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(&bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        if overwrite {
            fs::rename(&tmp, path).map_err(io(path))
        } else {
            let linked = fs::hard_link(&tmp, path).map_err(|source| {
                if source.kind() == std::io::ErrorKind::AlreadyExists {
                    RingError::AlreadyExists(path.to_path_buf())
                } else {
                    RingError::Io {
                        path: path.to_path_buf(),
                        source,
                    }
                }
            });
            let _ = fs::remove_file(&tmp);
            linked
        }
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io(&dir))
}
