//! Erasure coding, pure: an object body is cut into segments; each segment
//! is split into `k` data fragments (zero-padded to equal length) and `m`
//! parity fragments computed with Reed–Solomon over GF(2^8)
//! (`reed-solomon-erasure`, SIMD). Fragment archive `i` is fragment `i` of
//! every segment, in order; node `i` of a partition stores archive `i`.
//! Any `k` archives give back the body. No I/O here.

pub mod archive;

use reed_solomon_erasure::galois_8::ReedSolomon;

/// Why coding failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EcError {
    #[error("invalid scheme: {0}")]
    Scheme(String),
    #[error("fewer than k fragments present")]
    TooFewFragments,
    #[error("fragment sizes do not match the scheme")]
    FragmentSize,
}

/// A Reed–Solomon scheme: `k` data and `m` parity fragments per segment of
/// `segment_size` bytes.
pub struct EcScheme {
    pub k: usize,
    pub m: usize,
    pub segment_size: usize,
    codec: ReedSolomon,
}

impl std::fmt::Debug for EcScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EcScheme({}+{}, {} B segments)",
            self.k, self.m, self.segment_size
        )
    }
}

impl EcScheme {
    pub fn new(k: usize, m: usize, segment_size: usize) -> Result<Self, EcError> {
        if k == 0 || m == 0 || k + m > 32 {
            return Err(EcError::Scheme(format!(
                "k={k} m={m}: need 1..32 fragments"
            )));
        }
        if segment_size < k {
            return Err(EcError::Scheme(format!("segment size {segment_size} < k")));
        }
        let codec = ReedSolomon::new(k, m).map_err(|e| EcError::Scheme(format!("{e:?}")))?;
        Ok(EcScheme {
            k,
            m,
            segment_size,
            codec,
        })
    }

    /// Fragments per segment (`k + m`).
    pub fn width(&self) -> usize {
        self.k + self.m
    }

    /// The length of each fragment of a segment of `len` bytes.
    pub fn fragment_len(&self, len: usize) -> usize {
        len.div_ceil(self.k)
    }

    /// Segment lengths of a body of `size` bytes (an empty body has none).
    pub fn segments(&self, size: u64) -> impl Iterator<Item = usize> + '_ {
        let full = size / self.segment_size as u64;
        let tail = (size % self.segment_size as u64) as usize;
        (0..full)
            .map(|_| self.segment_size)
            .chain((tail > 0).then_some(tail))
    }

    /// Length of each fragment archive of a body of `size` bytes.
    pub fn archive_len(&self, size: u64) -> u64 {
        self.segments(size)
            .map(|s| self.fragment_len(s) as u64)
            .sum()
    }

    /// Encodes one segment into `k + m` fragments.
    pub fn encode(&self, segment: &[u8]) -> Result<Vec<Vec<u8>>, EcError> {
        let mut shards = vec![Vec::new(); self.width()];
        self.encode_into(segment, &mut shards)?;
        Ok(shards)
    }

    /// Encodes one segment into `shards` (`k + m` buffers, reused: large
    /// fresh allocations cost page faults on every segment).
    pub fn encode_into(&self, segment: &[u8], shards: &mut [Vec<u8>]) -> Result<(), EcError> {
        if shards.len() != self.width() {
            return Err(EcError::FragmentSize);
        }
        let flen = self.fragment_len(segment.len()).max(1);
        for (i, f) in shards.iter_mut().enumerate() {
            f.clear();
            if i < self.k {
                let start = (i * flen).min(segment.len());
                let end = ((i + 1) * flen).min(segment.len());
                f.extend_from_slice(&segment[start..end]);
            }
            f.resize(flen, 0);
        }
        self.codec.encode(shards).map_err(|_| EcError::FragmentSize)
    }

    /// Rebuilds a segment of `len` bytes from its fragments (`None` where
    /// missing); needs any `k`. With all data fragments present nothing is
    /// decoded.
    pub fn decode(
        &self,
        fragments: &mut [Option<Vec<u8>>],
        len: usize,
    ) -> Result<Vec<u8>, EcError> {
        let present: Vec<bool> = fragments.iter().map(Option::is_some).collect();
        let mut shards: Vec<Vec<u8>> = fragments
            .iter_mut()
            .map(|f| f.take().unwrap_or_default())
            .collect();
        let result = self.decode_in_place(&mut shards, &present, len);
        for (f, (s, p)) in fragments.iter_mut().zip(shards.into_iter().zip(&present)) {
            if *p || result.is_ok() {
                *f = Some(s);
            }
        }
        result?;
        let mut out = Vec::with_capacity(len);
        for f in fragments[..self.k].iter().flatten() {
            out.extend_from_slice(f);
        }
        out.truncate(len);
        Ok(out)
    }

    /// Rebuilds the missing data fragments of a segment of `len` bytes in
    /// place: `shards[i]` is fragment `i` where `present[i]`, else a buffer
    /// (reused; resized here). Afterwards `shards[..k]` hold the segment.
    pub fn decode_in_place(
        &self,
        shards: &mut [Vec<u8>],
        present: &[bool],
        len: usize,
    ) -> Result<(), EcError> {
        if shards.len() != self.width() || present.len() != self.width() {
            return Err(EcError::FragmentSize);
        }
        let flen = self.fragment_len(len).max(1);
        if shards
            .iter()
            .zip(present)
            .any(|(s, p)| *p && s.len() != flen)
        {
            return Err(EcError::FragmentSize);
        }
        if present.iter().filter(|p| **p).count() < self.k {
            return Err(EcError::TooFewFragments);
        }
        if present[..self.k].iter().all(|p| *p) {
            return Ok(());
        }
        let mut pairs: Vec<(Vec<u8>, bool)> = shards
            .iter_mut()
            .zip(present)
            .map(|(s, p)| {
                let mut v = std::mem::take(s);
                if !*p {
                    v.resize(flen, 0);
                }
                (v, *p)
            })
            .collect();
        let result = self
            .codec
            .reconstruct_data(&mut pairs)
            .map_err(|_| EcError::TooFewFragments);
        for (s, (v, _)) in shards.iter_mut().zip(pairs) {
            *s = v;
        }
        result
    }

    /// Rebuilds every missing fragment of a segment (the reconstructor).
    pub fn rebuild(&self, fragments: &mut [Option<Vec<u8>>]) -> Result<(), EcError> {
        if fragments.iter().flatten().count() < self.k {
            return Err(EcError::TooFewFragments);
        }
        self.codec
            .reconstruct(fragments)
            .map_err(|_| EcError::FragmentSize)
    }

    /// The segments a byte range `start..=end` of a body of `size` touches,
    /// as (first segment index, last segment index).
    pub fn segments_for_range(&self, start: u64, end: u64) -> (u64, u64) {
        let s = self.segment_size as u64;
        (start / s, end / s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn body(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    /// Encodes a whole body into archives, drops `lost` archives, decodes.
    fn round_trip(s: &EcScheme, data: &[u8], lost: &[usize]) -> Vec<u8> {
        let mut archives = vec![Vec::new(); s.width()];
        let mut lens = Vec::new();
        let mut at = 0;
        for len in s.segments(data.len() as u64) {
            for (i, f) in s
                .encode(&data[at..at + len])
                .unwrap()
                .into_iter()
                .enumerate()
            {
                archives[i].extend_from_slice(&f);
            }
            lens.push(len);
            at += len;
        }
        for a in &archives {
            assert_eq!(a.len() as u64, s.archive_len(data.len() as u64));
        }
        let mut out = Vec::new();
        let mut off = 0;
        for len in lens {
            let flen = s.fragment_len(len);
            let mut frags: Vec<Option<Vec<u8>>> = (0..s.width())
                .map(|i| (!lost.contains(&i)).then(|| archives[i][off..off + flen].to_vec()))
                .collect();
            out.extend(s.decode(&mut frags, len).unwrap());
            off += flen;
        }
        out
    }

    #[test]
    fn sizes_around_a_segment() {
        let s = EcScheme::new(4, 2, 1024).unwrap();
        for len in [0, 1, 3, 4, 5, 1023, 1024, 1025, 4096 + 7] {
            let data = body(len, 9);
            assert_eq!(round_trip(&s, &data, &[]), data, "len {len}");
            assert_eq!(round_trip(&s, &data, &[0, 5]), data, "len {len}, two lost");
            assert_eq!(round_trip(&s, &data, &[2, 3]), data, "len {len}, data lost");
        }
        assert_eq!(s.archive_len(0), 0);
        assert_eq!(s.archive_len(1025), 256 + 1);
    }

    #[test]
    fn more_than_m_lost_is_an_error() {
        let s = EcScheme::new(4, 2, 64).unwrap();
        let frags = s.encode(&body(64, 1)).unwrap();
        let mut some: Vec<Option<Vec<u8>>> = frags.into_iter().map(Some).collect();
        some[0] = None;
        some[1] = None;
        some[2] = None;
        assert_eq!(s.decode(&mut some, 64), Err(EcError::TooFewFragments));
    }

    #[test]
    fn rebuild_restores_parity_and_data() {
        let s = EcScheme::new(4, 2, 4096).unwrap();
        let frags = s.encode(&body(4000, 3)).unwrap();
        let mut some: Vec<Option<Vec<u8>>> = frags.iter().cloned().map(Some).collect();
        some[1] = None;
        some[5] = None;
        s.rebuild(&mut some).unwrap();
        let rebuilt: Vec<Vec<u8>> = some.into_iter().map(Option::unwrap).collect();
        assert_eq!(rebuilt, frags);
    }

    #[test]
    fn bad_schemes_are_refused() {
        assert!(EcScheme::new(0, 2, 1024).is_err());
        assert!(EcScheme::new(4, 0, 1024).is_err());
        assert!(EcScheme::new(30, 3, 1024).is_err());
        assert!(EcScheme::new(4, 2, 3).is_err());
    }

    proptest! {
        #[test]
        fn any_m_losses_decode(len in 0usize..20_000, seg in 16usize..5000, lost in proptest::collection::btree_set(0usize..6, 0..=2)) {
            let s = EcScheme::new(4, 2, seg).unwrap();
            let data = body(len, len as u8);
            let lost: Vec<usize> = lost.into_iter().collect();
            prop_assert_eq!(round_trip(&s, &data, &lost), data);
        }
    }
}
