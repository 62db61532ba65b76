//! `ReadCache`: an LRU of segment pieces (fixed-size, aligned chunks of
//! segment objects) bounded in bytes. Segments never change once written,
//! so a cached piece never goes stale.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use bytes::Bytes;

/// Size of a cached piece of a segment (a miss reads whole pieces).
pub const PIECE: u64 = 64 * 1024;

type Key = (u64, u64);

#[derive(Default)]
struct Inner {
    pieces: HashMap<Key, (Bytes, u64)>,
    by_use: BTreeMap<u64, Key>,
    tick: u64,
    bytes: usize,
}

/// Least-recently-used segment pieces.
pub struct ReadCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl ReadCache {
    pub fn new(capacity: usize) -> ReadCache {
        ReadCache {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Piece `index` of `segment`, if cached.
    pub fn get(&self, segment: u64, index: u64) -> Option<Bytes> {
        let mut g = self.inner.lock().expect("cache lock");
        g.tick += 1;
        let tick = g.tick;
        let (data, used) = g.pieces.get_mut(&(segment, index))?;
        let (data, old) = (data.clone(), std::mem::replace(used, tick));
        g.by_use.remove(&old);
        g.by_use.insert(tick, (segment, index));
        Some(data)
    }

    pub fn insert(&self, segment: u64, index: u64, data: Bytes) {
        let mut g = self.inner.lock().expect("cache lock");
        g.tick += 1;
        let tick = g.tick;
        g.bytes += data.len();
        if let Some((old, used)) = g.pieces.insert((segment, index), (data, tick)) {
            g.bytes -= old.len();
            g.by_use.remove(&used);
        }
        g.by_use.insert(tick, (segment, index));
        while g.bytes > self.capacity {
            let Some((_, key)) = g.by_use.pop_first() else {
                break;
            };
            if let Some((old, _)) = g.pieces.remove(&key) {
                g.bytes -= old.len();
            }
        }
    }

    /// Caches every piece of a whole segment (slices of `data`, no copy).
    pub fn insert_segment(&self, segment: u64, data: &Bytes) {
        let piece = PIECE as usize;
        for (index, start) in (0..data.len()).step_by(piece).enumerate() {
            let end = (start + piece).min(data.len());
            self.insert(segment, index as u64, data.slice(start..end));
        }
    }

    /// Copies `buf.len()` bytes of `segment` from `offset` out of cached
    /// pieces; false if any piece needed is not cached (or is short).
    pub fn copy_out(&self, segment: u64, offset: u64, buf: &mut [u8]) -> bool {
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let index = at / PIECE;
            let Some(piece) = self.get(segment, index) else {
                return false;
            };
            let within = (at - index * PIECE) as usize;
            if within >= piece.len() {
                return false;
            }
            let n = (piece.len() - within).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&piece[within..within + n]);
            done += n;
        }
        true
    }

    /// Drops every piece of `segment` (it was deleted).
    pub fn forget(&self, segment: u64) {
        let mut g = self.inner.lock().expect("cache lock");
        let keys: Vec<Key> = g
            .pieces
            .keys()
            .filter(|(s, _)| *s == segment)
            .copied()
            .collect();
        for k in keys {
            if let Some((old, used)) = g.pieces.remove(&k) {
                g.bytes -= old.len();
                g.by_use.remove(&used);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used() {
        let c = ReadCache::new(10);
        c.insert(1, 0, Bytes::from(vec![0; 4]));
        c.insert(2, 0, Bytes::from(vec![0; 4]));
        assert!(c.get(1, 0).is_some());
        c.insert(3, 0, Bytes::from(vec![0; 4]));
        assert!(c.get(2, 0).is_none(), "least recently used goes first");
        assert!(c.get(1, 0).is_some());
        assert!(c.get(3, 0).is_some());
        c.forget(1);
        assert!(c.get(1, 0).is_none());
    }
}
