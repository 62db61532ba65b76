//! What a range of a volume maps to: `Written` (in the journal overlay:
//! bytes held in memory, or zeroed) and `Located` (in the extent map: a
//! place in a segment object). Unmapped ranges read as zeros.

use bytes::Bytes;

use super::rangemap::Piece;

/// Journal overlay value.
#[derive(Clone, Debug)]
pub enum Written {
    /// Bytes written (the entry's length may be shorter than the buffer).
    Data(Bytes),
    /// Zeroed or trimmed: a hole.
    Zero,
}

impl Piece for Written {
    fn advance(&self, skip: u64) -> Self {
        match self {
            Written::Data(b) => Written::Data(b.slice(skip as usize..)),
            Written::Zero => Written::Zero,
        }
    }
}

/// Extent map value: the bytes live in `segment` from `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Located {
    pub segment: u64,
    pub offset: u64,
}

impl Piece for Located {
    fn advance(&self, skip: u64) -> Self {
        Located {
            segment: self.segment,
            offset: self.offset + skip,
        }
    }
}

/// The object name of a segment.
pub fn segment_name(segment: u64) -> String {
    format!("{segment:016x}")
}
