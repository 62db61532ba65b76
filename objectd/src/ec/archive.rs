//! The on-disk layout of a fragment archive: for every segment of the
//! object, in order, its fragment followed by an 8-byte check (the first
//! bytes of the fragment's BLAKE3). Readers verify each fragment before
//! using it, so a corrupt fragment is replaced by another one and never
//! decoded into data, even in the middle of a large streamed read.
//! Positions follow from the object size and the scheme alone.

use bytes::{Bytes, BytesMut};

use super::{EcError, EcScheme};

/// Bytes of the check after each fragment.
pub const CHECK_LEN: usize = 8;

/// The geometry of one object's archives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub k: usize,
    pub segment_size: u64,
    pub object_size: u64,
}

impl Layout {
    pub fn new(scheme: &EcScheme, object_size: u64) -> Self {
        Layout {
            k: scheme.k,
            segment_size: scheme.segment_size as u64,
            object_size,
        }
    }

    /// Segments of the object (none when it is empty).
    pub fn segment_count(&self) -> u64 {
        self.object_size.div_ceil(self.segment_size)
    }

    /// Bytes of the object in segment `s`.
    pub fn segment_len(&self, s: u64) -> usize {
        let start = s * self.segment_size;
        (self.object_size.saturating_sub(start)).min(self.segment_size) as usize
    }

    /// Length of each fragment of segment `s`.
    pub fn fragment_len(&self, s: u64) -> usize {
        self.segment_len(s).div_ceil(self.k).max(1)
    }

    /// Offset of segment `s`'s framed fragment in an archive.
    pub fn archive_offset(&self, s: u64) -> u64 {
        let full = (self.segment_size as usize).div_ceil(self.k) + CHECK_LEN;
        s * full as u64
    }

    /// Length of every archive of the object.
    pub fn archive_len(&self) -> u64 {
        match self.segment_count() {
            0 => 0,
            n => self.archive_offset(n - 1) + (self.fragment_len(n - 1) + CHECK_LEN) as u64,
        }
    }

    /// The segments that bytes `start..=end` of the object touch.
    pub fn segments_for(&self, start: u64, end: u64) -> std::ops::RangeInclusive<u64> {
        (start / self.segment_size)..=(end / self.segment_size)
    }
}

/// The check of a fragment.
pub fn check(fragment: &[u8]) -> [u8; CHECK_LEN] {
    let hash = blake3::hash(fragment);
    let mut out = [0u8; CHECK_LEN];
    out.copy_from_slice(&hash.as_bytes()[..CHECK_LEN]);
    out
}

/// Encodes one segment into its `k + m` framed fragments (fragment, check).
/// `shards` is scratch space reused between segments.
pub fn encode_segment(
    scheme: &EcScheme,
    segment: &[u8],
    shards: &mut [Vec<u8>],
) -> Result<Vec<Bytes>, EcError> {
    scheme.encode_into(segment, shards)?;
    Ok(shards
        .iter()
        .map(|s| {
            let mut framed = BytesMut::with_capacity(s.len() + CHECK_LEN);
            framed.extend_from_slice(s);
            framed.extend_from_slice(&check(s));
            framed.freeze()
        })
        .collect())
}

/// The fragment of a framed fragment of `fragment_len` bytes, if its check holds.
pub fn verified(framed: &[u8], fragment_len: usize) -> Option<&[u8]> {
    if framed.len() != fragment_len + CHECK_LEN {
        return None;
    }
    let (fragment, sum) = framed.split_at(fragment_len);
    (check(fragment) == sum).then_some(fragment)
}

/// Whether an archive of `layout` read from `reader` is whole: every
/// fragment's check holds and nothing is missing or left over. Answers the
/// bytes read.
pub fn verify_archive(
    layout: &Layout,
    mut reader: impl std::io::Read,
) -> std::io::Result<(u64, bool)> {
    let mut buf = Vec::new();
    let mut read = 0u64;
    for s in 0..layout.segment_count() {
        let flen = layout.fragment_len(s);
        buf.resize(flen + CHECK_LEN, 0);
        if let Err(e) = reader.read_exact(&mut buf) {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                return Ok((read, false));
            }
            return Err(e);
        }
        read += buf.len() as u64;
        if verified(&buf, flen).is_none() {
            return Ok((read, false));
        }
    }
    Ok((read, true))
}

/// Encodes a whole (small) body into its `k + m` archives.
pub fn encode_all(scheme: &EcScheme, body: &[u8]) -> Result<Vec<BytesMut>, EcError> {
    let layout = Layout::new(scheme, body.len() as u64);
    let mut archives = vec![BytesMut::with_capacity(layout.archive_len() as usize); scheme.width()];
    let mut shards = vec![Vec::new(); scheme.width()];
    for s in 0..layout.segment_count() {
        let start = (s * layout.segment_size) as usize;
        let seg = &body[start..start + layout.segment_len(s)];
        for (a, f) in archives
            .iter_mut()
            .zip(encode_segment(scheme, seg, &mut shards)?)
        {
            a.extend_from_slice(&f);
        }
    }
    Ok(archives)
}

/// Decodes a whole (small) body from its archives (`None` where missing or
/// unusable). A fragment whose check fails counts as missing.
pub fn decode_all(
    scheme: &EcScheme,
    object_size: u64,
    archives: &[Option<Bytes>],
) -> Result<Vec<u8>, EcError> {
    let layout = Layout::new(scheme, object_size);
    let mut out = Vec::with_capacity(object_size as usize);
    for s in 0..layout.segment_count() {
        let flen = layout.fragment_len(s);
        let at = layout.archive_offset(s) as usize;
        let mut frags: Vec<Option<Vec<u8>>> = archives
            .iter()
            .map(|a| {
                let framed = a.as_ref()?.get(at..at + flen + CHECK_LEN)?;
                verified(framed, flen).map(<[u8]>::to_vec)
            })
            .collect();
        out.extend_from_slice(&scheme.decode(&mut frags, layout.segment_len(s))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn archives_round_trip_with_losses_and_corruption() {
        let scheme = EcScheme::new(4, 2, 1000).unwrap();
        for len in [0usize, 1, 999, 1000, 1001, 4321] {
            let data = body(len);
            let archives = encode_all(&scheme, &data).unwrap();
            let layout = Layout::new(&scheme, len as u64);
            for a in &archives {
                assert_eq!(a.len() as u64, layout.archive_len(), "len {len}");
            }
            let mut some: Vec<Option<Bytes>> =
                archives.into_iter().map(|a| Some(a.freeze())).collect();
            assert_eq!(decode_all(&scheme, len as u64, &some).unwrap(), data);
            some[0] = None;
            if let Some(Some(a)) = some.get(2) {
                if !a.is_empty() {
                    let mut bad = a.to_vec();
                    bad[0] ^= 1;
                    some[2] = Some(Bytes::from(bad));
                }
            }
            // One lost, one corrupt: still k good ones.
            assert_eq!(decode_all(&scheme, len as u64, &some).unwrap(), data);
            some[5] = None;
            if len > 0 {
                assert_eq!(
                    decode_all(&scheme, len as u64, &some),
                    Err(EcError::TooFewFragments)
                );
            }
        }
    }

    #[test]
    fn offsets_follow_segments() {
        let scheme = EcScheme::new(4, 2, 1 << 20).unwrap();
        let l = Layout::new(&scheme, (3 << 20) + 5);
        assert_eq!(l.segment_count(), 4);
        assert_eq!(l.fragment_len(3), 2);
        assert_eq!(l.archive_offset(3), 3 * ((1 << 18) + 8));
        assert_eq!(l.archive_len(), 3 * ((1 << 18) + 8) + 10);
        assert_eq!(l.segments_for(0, (1 << 20) - 1), 0..=0);
        assert_eq!(l.segments_for(1 << 20, 1 << 20), 1..=1);
    }
}
