//! Image format inspection, before any byte is stored: the first bytes of
//! an upload must be what its `disk_format` says. A `raw` image that is
//! really a qcow2 (or another container format), a `qcow2` that names a
//! backing file or an external data file, or a header that does not parse
//! is refused: QEMU would otherwise open files on the host on the image's
//! say-so (the class of Glance's CVE-2022-47951 and CVE-2024-32498).
//! Pure; the upload path calls `inspect` on the head of the body.

/// Bytes of the upload's head that are inspected.
pub const HEAD_LEN: usize = 64 * 1024;

/// The disk formats accepted at image creation.
pub const DISK_FORMATS: &[&str] = &[
    "raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso", "ami", "ari", "aki",
];

/// The container formats accepted at image creation.
pub const CONTAINER_FORMATS: &[&str] = &[
    "bare",
    "ovf",
    "ova",
    "aki",
    "ari",
    "ami",
    "docker",
    "compressed",
];

/// What the head of an image looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detected {
    Raw,
    Qcow2,
    Vmdk,
    VmdkDescriptor,
    Vhd,
    Vhdx,
    Vdi,
    Iso,
    Luks,
}

impl Detected {
    fn name(self) -> &'static str {
        match self {
            Detected::Raw => "raw",
            Detected::Qcow2 => "qcow2",
            Detected::Vmdk | Detected::VmdkDescriptor => "vmdk",
            Detected::Vhd => "vhd",
            Detected::Vhdx => "vhdx",
            Detected::Vdi => "vdi",
            Detected::Iso => "iso",
            Detected::Luks => "luks",
        }
    }
}

const QCOW2_MAGIC: &[u8] = b"QFI\xfb";
/// qcow2 incompatible feature bit: the guest data lives in another file.
const QCOW2_EXTERNAL_DATA: u64 = 1 << 2;
/// qcow2 header extension naming the external data file.
const QCOW2_EXT_DATA_FILE: u32 = 0x4441_5441;

/// Recognises the format of an image from its head.
pub fn detect(head: &[u8]) -> Detected {
    let at = |off: usize, magic: &[u8]| head.get(off..off + magic.len()) == Some(magic);
    if at(0, QCOW2_MAGIC) {
        Detected::Qcow2
    } else if at(0, b"KDMV") {
        Detected::Vmdk
    } else if at(0, b"# Disk DescriptorFile") {
        Detected::VmdkDescriptor
    } else if at(0, b"conectix") {
        Detected::Vhd
    } else if at(0, b"vhdxfile") {
        Detected::Vhdx
    } else if at(0x40, &0xbeda_107f_u32.to_le_bytes()) {
        Detected::Vdi
    } else if at(0, b"LUKS\xba\xbe") {
        Detected::Luks
    } else if at(0x8001, b"CD001") {
        Detected::Iso
    } else {
        Detected::Raw
    }
}

fn be32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn be64(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

/// Checks a qcow2 header; answers its virtual size.
fn qcow2(head: &[u8]) -> Result<u64, String> {
    let bad = || "qcow2 header is truncated or invalid".to_string();
    let version = be32(head, 4).ok_or_else(bad)?;
    if version != 2 && version != 3 {
        return Err(format!("qcow2 version {version} is not supported"));
    }
    if be64(head, 8).ok_or_else(bad)? != 0 || be32(head, 16).ok_or_else(bad)? != 0 {
        return Err("qcow2 images with a backing file are not allowed".into());
    }
    let cluster_bits = be32(head, 20).ok_or_else(bad)?;
    if !(9..=21).contains(&cluster_bits) {
        return Err(format!("qcow2 cluster_bits {cluster_bits} is invalid"));
    }
    let size = be64(head, 24).ok_or_else(bad)?;
    let ext_start = if version == 3 {
        if be64(head, 72).ok_or_else(bad)? & QCOW2_EXTERNAL_DATA != 0 {
            return Err("qcow2 images with an external data file are not allowed".into());
        }
        be32(head, 100).ok_or_else(bad)? as usize
    } else {
        72
    };
    // Header extensions, up to the end marker.
    let mut off = ext_start;
    loop {
        let kind = be32(head, off).ok_or_else(bad)?;
        if kind == 0 {
            break;
        }
        if kind == QCOW2_EXT_DATA_FILE {
            return Err("qcow2 images naming an external data file are not allowed".into());
        }
        let len = be32(head, off + 4).ok_or_else(bad)? as usize;
        off = off
            .checked_add(8 + len.div_ceil(8) * 8)
            .filter(|o| *o < head.len())
            .ok_or_else(bad)?;
    }
    Ok(size)
}

/// Checks an upload's head (`head`, the first `HEAD_LEN` bytes or all of a
/// smaller image) against its declared disk format; answers the virtual
/// size when the format tells it (the file size for raw and iso).
pub fn inspect(
    disk_format: &str,
    head: &[u8],
    size_hint: Option<u64>,
) -> Result<Option<u64>, String> {
    let detected = detect(head);
    let mismatch = || {
        format!(
            "Image content is {}, which does not match disk_format {disk_format}",
            detected.name()
        )
    };
    match disk_format {
        "raw" | "ami" | "ari" | "aki" => match detected {
            Detected::Raw | Detected::Iso => Ok(size_hint),
            _ => Err(mismatch()),
        },
        "qcow2" => match detected {
            Detected::Qcow2 => qcow2(head).map(Some),
            _ => Err(mismatch()),
        },
        "iso" => match detected {
            Detected::Iso => Ok(size_hint),
            _ => Err(mismatch()),
        },
        "vmdk" => match detected {
            Detected::Vmdk => Ok(None),
            Detected::VmdkDescriptor => {
                Err("vmdk descriptor files name other files and are not allowed".into())
            }
            _ => Err(mismatch()),
        },
        "vhd" | "vhdx" | "vdi" => {
            if detected.name() == disk_format {
                Ok(None)
            } else {
                Err(mismatch())
            }
        }
        other => Err(format!("disk_format {other} cannot be inspected")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal qcow2 v3 header of a 1 GiB disk.
    fn qcow2_header() -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[0..4].copy_from_slice(QCOW2_MAGIC);
        h[4..8].copy_from_slice(&3u32.to_be_bytes());
        h[20..24].copy_from_slice(&16u32.to_be_bytes());
        h[24..32].copy_from_slice(&(1u64 << 30).to_be_bytes());
        h[100..104].copy_from_slice(&104u32.to_be_bytes());
        h
    }

    #[test]
    fn qcow2_reports_virtual_size() {
        assert_eq!(
            inspect("qcow2", &qcow2_header(), Some(512)),
            Ok(Some(1 << 30))
        );
    }

    #[test]
    fn qcow2_with_backing_or_data_file_is_refused() {
        let mut backing = qcow2_header();
        backing[8..16].copy_from_slice(&200u64.to_be_bytes());
        backing[16..20].copy_from_slice(&9u32.to_be_bytes());
        assert!(inspect("qcow2", &backing, None)
            .unwrap_err()
            .contains("backing"));
        let mut data_bit = qcow2_header();
        data_bit[72..80].copy_from_slice(&QCOW2_EXTERNAL_DATA.to_be_bytes());
        assert!(inspect("qcow2", &data_bit, None)
            .unwrap_err()
            .contains("data file"));
        let mut data_ext = qcow2_header();
        data_ext[104..108].copy_from_slice(&QCOW2_EXT_DATA_FILE.to_be_bytes());
        data_ext[108..112].copy_from_slice(&8u32.to_be_bytes());
        assert!(inspect("qcow2", &data_ext, None)
            .unwrap_err()
            .contains("data file"));
    }

    #[test]
    fn formats_must_match_content() {
        let q = qcow2_header();
        assert!(inspect("raw", &q, Some(512)).is_err());
        assert!(inspect("qcow2", &[0u8; 4096], Some(4096)).is_err());
        assert_eq!(inspect("raw", &[7u8; 4096], Some(4096)), Ok(Some(4096)));
        assert!(inspect("vmdk", b"# Disk DescriptorFile\nparent", None).is_err());
        let mut truncated = q.clone();
        truncated.truncate(40);
        assert!(inspect("qcow2", &truncated, None).is_err());
        let mut bad_version = q;
        bad_version[4..8].copy_from_slice(&7u32.to_be_bytes());
        assert!(inspect("qcow2", &bad_version, None).is_err());
    }

    #[test]
    fn every_accepted_disk_format_can_be_inspected() {
        for format in DISK_FORMATS {
            if let Err(e) = inspect(format, &[0u8; 4096], None) {
                assert!(!e.contains("cannot be inspected"), "{format}: {e}");
            }
        }
    }
}
