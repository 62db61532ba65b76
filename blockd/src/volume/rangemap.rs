//! `RangeMap`: disjoint byte ranges of a device mapped to values (journal
//! data, or where in a segment the bytes live). Inserting over a range
//! splits or drops what was there; lookups answer the pieces and gaps of
//! a range in order. Changes are remembered so they can be persisted as a
//! batch (`take_changes`).

use std::collections::{BTreeMap, BTreeSet};

/// A value that can describe the tail of itself.
pub trait Piece: Clone {
    /// The same value, `skip` bytes further in.
    fn advance(&self, skip: u64) -> Self;
}

/// One stretch of a lookup: `value` is `None` for a gap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stretch<V> {
    pub start: u64,
    pub len: u64,
    pub value: Option<V>,
}

/// Disjoint ranges, keyed by start, each with its length and value.
#[derive(Clone, Debug, Default)]
pub struct RangeMap<V> {
    entries: BTreeMap<u64, (u64, V)>,
    /// Starts whose entry changed (put or removed) since the last `take_changes`.
    changed: BTreeSet<u64>,
}

impl<V: Piece> RangeMap<V> {
    pub fn new() -> Self {
        RangeMap {
            entries: BTreeMap::new(),
            changed: BTreeSet::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Maps `start..start+len` to `value`, replacing whatever was there.
    pub fn insert(&mut self, start: u64, len: u64, value: V) {
        if len == 0 {
            return;
        }
        self.remove(start, len);
        self.entries.insert(start, (len, value));
        self.changed.insert(start);
    }

    /// Unmaps `start..start+len`.
    pub fn remove(&mut self, start: u64, len: u64) {
        let end = start + len;
        if let Some((&s, (l, v))) = self.entries.range(..start).next_back() {
            let (l, v) = (*l, v.clone());
            if s + l > start {
                self.entries.insert(s, (start - s, v.clone()));
                self.changed.insert(s);
                if s + l > end {
                    self.entries.insert(end, (s + l - end, v.advance(end - s)));
                    self.changed.insert(end);
                }
            }
        }
        let inside: Vec<u64> = self.entries.range(start..end).map(|(k, _)| *k).collect();
        for s in inside {
            let (l, v) = self.entries.remove(&s).expect("key just listed");
            self.changed.insert(s);
            if s + l > end {
                self.entries.insert(end, (s + l - end, v.advance(end - s)));
                self.changed.insert(end);
            }
        }
    }

    /// The pieces and gaps covering `start..start+len`, in order.
    pub fn lookup(&self, start: u64, len: u64) -> Vec<Stretch<V>> {
        let end = start + len;
        let mut out = Vec::new();
        let mut at = start;
        let first = self
            .entries
            .range(..=start)
            .next_back()
            .filter(|(s, (l, _))| **s + *l > start)
            .map(|(s, _)| *s)
            .unwrap_or(start);
        for (&s, (l, v)) in self.entries.range(first..end) {
            if s > at {
                out.push(Stretch {
                    start: at,
                    len: s - at,
                    value: None,
                });
                at = s;
            }
            let piece_end = (s + l).min(end);
            if piece_end > at {
                out.push(Stretch {
                    start: at,
                    len: piece_end - at,
                    value: Some(v.advance(at - s)),
                });
                at = piece_end;
            }
        }
        if at < end {
            out.push(Stretch {
                start: at,
                len: end - at,
                value: None,
            });
        }
        out
    }

    /// Every entry, in order: (start, len, value).
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64, &V)> {
        self.entries.iter().map(|(s, (l, v))| (*s, *l, v))
    }

    /// The entry starting at `start`, if any.
    pub fn get(&self, start: u64) -> Option<(u64, &V)> {
        self.entries.get(&start).map(|(l, v)| (*l, v))
    }

    /// Starts changed since the last call (each now holds an entry or not).
    pub fn take_changes(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.changed).into_iter().collect()
    }

    /// Loads an entry without recording a change (for maps read from disk).
    pub fn load(&mut self, start: u64, len: u64, value: V) {
        self.entries.insert(start, (len, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Piece for u64 {
        fn advance(&self, skip: u64) -> Self {
            self + skip
        }
    }

    fn pieces(m: &RangeMap<u64>, start: u64, len: u64) -> Vec<(u64, u64, Option<u64>)> {
        m.lookup(start, len)
            .into_iter()
            .map(|s| (s.start, s.len, s.value))
            .collect()
    }

    #[test]
    fn overwrites_split_and_gaps_show() {
        let mut m = RangeMap::new();
        m.insert(0, 100, 1000);
        m.insert(40, 10, 5000);
        assert_eq!(
            pieces(&m, 0, 120),
            vec![
                (0, 40, Some(1000)),
                (40, 10, Some(5000)),
                (50, 50, Some(1050)),
                (100, 20, None)
            ]
        );
        m.remove(30, 30);
        assert_eq!(
            pieces(&m, 20, 50),
            vec![(20, 10, Some(1020)), (30, 30, None), (60, 10, Some(1060))]
        );
        m.insert(0, 200, 7);
        assert_eq!(pieces(&m, 10, 10), vec![(10, 10, Some(17))]);
        assert_eq!(m.iter().count(), 1);
    }

    #[test]
    fn changes_name_every_touched_start() {
        let mut m = RangeMap::new();
        m.load(0, 100, 0);
        m.insert(50, 10, 9);
        assert_eq!(m.take_changes(), vec![0, 50, 60]);
        assert!(m.take_changes().is_empty());
        m.remove(0, 200);
        assert_eq!(m.take_changes(), vec![0, 50, 60]);
        assert!(m.is_empty());
    }

    proptest::proptest! {
        /// Any sequence of inserts and removes answers what a byte-by-byte
        /// model answers, and lookups cover exactly the range asked.
        #[test]
        fn matches_a_byte_model(ops in proptest::collection::vec((0u64..200, 1u64..60, proptest::bool::ANY), 1..40)) {
            let mut m = RangeMap::new();
            let mut model: Vec<Option<u64>> = vec![None; 300];
            for (i, (start, len, insert)) in ops.into_iter().enumerate() {
                let base = (i as u64 + 1) * 1000;
                if insert {
                    m.insert(start, len, base);
                    for b in start..start + len {
                        model[b as usize] = Some(base + b - start);
                    }
                } else {
                    m.remove(start, len);
                    for b in start..start + len {
                        model[b as usize] = None;
                    }
                }
            }
            let stretches = m.lookup(0, 300);
            let mut at = 0;
            for s in stretches {
                proptest::prop_assert_eq!(s.start, at);
                for b in 0..s.len {
                    let want = model[(s.start + b) as usize];
                    proptest::prop_assert_eq!(s.value.map(|v| v + b), want);
                }
                at += s.len;
            }
            proptest::prop_assert_eq!(at, 300);
        }
    }

    #[test]
    fn lookup_inside_one_entry() {
        let mut m = RangeMap::new();
        m.insert(100, 100, 0);
        assert_eq!(pieces(&m, 150, 10), vec![(150, 10, Some(50))]);
        assert_eq!(pieces(&m, 0, 50), vec![(0, 50, None)]);
    }
}
