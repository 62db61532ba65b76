//! Whether stored bytes are what their metadata says: the BLAKE3 of the
//! whole body, or, for a fragment archive stored without one, the check of
//! every fragment in it (`ec::archive`), which readers verify anyway.

use std::io::{self, Read};

use super::record::ObjectMeta;
use crate::ec::archive::{self, Layout};

/// How a body is checked.
enum Check {
    /// The BLAKE3 of the whole body.
    Whole,
    /// Every fragment's own check (a fragment archive without a BLAKE3).
    Archive(Layout),
    /// A fragment record whose scheme cannot describe any archive (a
    /// damaged record): never intact.
    Impossible,
}

fn check_of(meta: &ObjectMeta) -> Check {
    match meta.fragment.as_ref().filter(|_| meta.blake3.is_empty()) {
        None => Check::Whole,
        Some(f) if f.k == 0 || f.segment_size < u64::from(f.k) => Check::Impossible,
        Some(f) => Check::Archive(Layout {
            k: f.k as usize,
            segment_size: f.segment_size,
            object_size: f.object_size,
        }),
    }
}

/// Whether a whole body in memory is intact.
pub fn intact(meta: &ObjectMeta, body: &[u8]) -> bool {
    match check_of(meta) {
        Check::Impossible => false,
        Check::Archive(layout) => {
            body.len() as u64 == layout.archive_len()
                && archive::verify_archive(&layout, body).is_ok_and(|(_, ok)| ok)
        }
        Check::Whole => blake3::hash(body).to_hex().as_str() == meta.blake3,
    }
}

/// Reads `meta.size` bytes from `reader` and says whether they are intact;
/// answers the bytes read.
pub fn check_reader(meta: &ObjectMeta, reader: impl Read) -> io::Result<(u64, bool)> {
    let mut limited = reader.take(meta.size);
    match check_of(meta) {
        Check::Impossible => Ok((0, false)),
        Check::Archive(layout) => {
            let (read, ok) = archive::verify_archive(&layout, &mut limited)?;
            Ok((
                read,
                ok && read == meta.size && read == layout.archive_len(),
            ))
        }
        Check::Whole => {
            let mut hasher = blake3::Hasher::new();
            let copied = io::copy(&mut limited, &mut hasher)?;
            Ok((
                copied,
                copied == meta.size && hasher.finalize().to_hex().as_str() == meta.blake3,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec::EcScheme;
    use crate::store::record::Fragment;
    use crate::timestamp::Timestamp;

    #[test]
    fn archives_are_checked_fragment_by_fragment() {
        let scheme = EcScheme::new(4, 2, 1000).unwrap();
        let body: Vec<u8> = (0..3500u32).map(|i| (i * 7) as u8).collect();
        let archive = archive::encode_all(&scheme, &body)
            .unwrap()
            .remove(1)
            .to_vec();
        let meta = ObjectMeta {
            size: archive.len() as u64,
            fragment: Some(Fragment {
                index: 1,
                object_size: body.len() as u64,
                k: 4,
                m: 2,
                segment_size: 1000,
            }),
            ..ObjectMeta::tombstone("a/c/o".into(), Timestamp(1))
        };
        assert!(intact(&meta, &archive));
        assert_eq!(
            check_reader(&meta, &archive[..]).unwrap(),
            (archive.len() as u64, true)
        );
        let mut bad = archive.clone();
        bad[300] ^= 1;
        assert!(!intact(&meta, &bad));
        assert!(!check_reader(&meta, &bad[..]).unwrap().1);
        assert!(!intact(&meta, &archive[..archive.len() - 1]));
        assert!(
            !check_reader(&meta, &archive[..archive.len() - 1])
                .unwrap()
                .1
        );
        // With a whole-body BLAKE3, that is what counts.
        let hashed = ObjectMeta {
            blake3: blake3::hash(&archive).to_hex().to_string(),
            ..meta
        };
        assert!(intact(&hashed, &archive) && !intact(&hashed, &bad));
        // A damaged record naming an impossible scheme is corrupt, not a panic.
        for (k, segment_size) in [(0, 1000), (4, 0), (4, 3)] {
            let mut broken = hashed.clone();
            broken.blake3.clear();
            if let Some(f) = &mut broken.fragment {
                f.k = k;
                f.segment_size = segment_size;
            }
            assert!(!intact(&broken, &archive));
            assert!(!check_reader(&broken, &archive[..]).unwrap().1);
        }
    }
}
