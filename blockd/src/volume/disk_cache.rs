//! `DiskCache`: the second tier of the read cache, on the local disk. It
//! keeps 4 MiB chunks of segments (aligned; a segment's last chunk may be
//! shorter) in slots of one sparse file (`DATA/blockd/cache/chunks`),
//! least recently used first out. Segments never change, so a chunk never
//! goes stale; the file is emptied at every start. Reads `pread` under the
//! index's read lock, and a slot is refilled only after its entry left the
//! index under the write lock, so no read ever sees a slot being rewritten.
//! Calls block (file I/O) and run on blocking threads, except
//! `read_nowait`, which reads only what the page cache holds (RWF_NOWAIT)
//! and so may run inline.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Mutex, RwLock};

use anyhow::Context;
use bytes::Bytes;

/// Bytes per chunk (and per slot).
pub const CHUNK: u64 = 4 << 20;

type Key = (u64, u64);

#[derive(Default)]
struct Index {
    /// (segment, chunk) → (slot, length, last use).
    chunks: HashMap<Key, (u64, u64, u64)>,
    by_use: BTreeMap<u64, Key>,
    tick: u64,
}

/// Segment chunks kept on the local disk.
pub struct DiskCache {
    file: File,
    slots: u64,
    index: RwLock<Index>,
    /// Slots no chunk uses.
    free: Mutex<Vec<u64>>,
}

impl DiskCache {
    /// A cache of `bytes` (rounded down to whole chunks) in `dir`,
    /// emptied; `None` when that is less than one chunk.
    pub fn open(dir: &Path, bytes: u64) -> anyhow::Result<Option<DiskCache>> {
        let slots = bytes / CHUNK;
        if slots == 0 {
            return Ok(None);
        }
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let path = dir.join("chunks");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .with_context(|| format!("open {}", path.display()))?;
        Ok(Some(DiskCache {
            file,
            slots,
            index: RwLock::new(Index::default()),
            free: Mutex::new((0..slots).rev().collect()),
        }))
    }

    /// Copies bytes of chunk `chunk` of `segment` from `within` into
    /// `buf`; answers how many (`None` if the chunk is not cached).
    pub fn read(&self, segment: u64, chunk: u64, within: u64, buf: &mut [u8]) -> Option<usize> {
        let index = self.index.read().expect("disk cache lock");
        let &(slot, len, used) = index.chunks.get(&(segment, chunk))?;
        // A chunk used lately is near the young end already: only older
        // ones take the write lock to move there.
        let stale = index.tick - used > self.slots / 4;
        let n = (len.saturating_sub(within) as usize).min(buf.len());
        self.file
            .read_exact_at(&mut buf[..n], slot * CHUNK + within)
            .ok()?;
        drop(index);
        if stale {
            self.touch((segment, chunk));
        }
        Some(n)
    }

    /// As `read`, without waiting for the disk: only what the page cache
    /// holds of the chunk (`None` otherwise, or if not cached).
    pub fn read_nowait(
        &self,
        segment: u64,
        chunk: u64,
        within: u64,
        buf: &mut [u8],
    ) -> Option<usize> {
        let index = self.index.try_read().ok()?;
        let &(slot, len, _) = index.chunks.get(&(segment, chunk))?;
        let n = (len.saturating_sub(within) as usize).min(buf.len());
        let mut bufs = [std::io::IoSliceMut::new(&mut buf[..n])];
        let flags = rustix::io::ReadWriteFlags::NOWAIT;
        match rustix::io::preadv2(&self.file, &mut bufs, slot * CHUNK + within, flags) {
            Ok(got) if got == n => Some(n),
            _ => None,
        }
    }

    fn touch(&self, key: Key) {
        let mut index = self.index.write().expect("disk cache lock");
        index.tick += 1;
        let tick = index.tick;
        if let Some(entry) = index.chunks.get_mut(&key) {
            let old = std::mem::replace(&mut entry.2, tick);
            index.by_use.remove(&old);
            index.by_use.insert(tick, key);
        }
    }

    /// Stores chunk `chunk` of `segment` (at most `CHUNK` bytes).
    pub fn insert(&self, segment: u64, chunk: u64, data: &Bytes) -> anyhow::Result<()> {
        let key = (segment, chunk);
        let len = (data.len() as u64).min(CHUNK);
        if self
            .index
            .read()
            .expect("disk cache lock")
            .chunks
            .contains_key(&key)
        {
            return Ok(());
        }
        let slot = match self.free.lock().expect("free slots lock").pop() {
            Some(s) => s,
            None => self.evict().context("no slot to evict")?,
        };
        if let Err(e) = self.file.write_all_at(&data[..len as usize], slot * CHUNK) {
            self.free.lock().expect("free slots lock").push(slot);
            return Err(e.into());
        }
        let mut index = self.index.write().expect("disk cache lock");
        index.tick += 1;
        let tick = index.tick;
        if index.chunks.contains_key(&key) {
            drop(index);
            self.free.lock().expect("free slots lock").push(slot);
            return Ok(());
        }
        index.chunks.insert(key, (slot, len, tick));
        index.by_use.insert(tick, key);
        Ok(())
    }

    /// Takes the least recently used chunk's slot.
    fn evict(&self) -> Option<u64> {
        let mut index = self.index.write().expect("disk cache lock");
        let (_, key) = index.by_use.pop_first()?;
        index.chunks.remove(&key).map(|(slot, _, _)| slot)
    }

    /// Drops every chunk of `segment` (it was deleted).
    pub fn forget(&self, segment: u64) {
        let mut index = self.index.write().expect("disk cache lock");
        let keys: Vec<Key> = index
            .chunks
            .keys()
            .filter(|k| k.0 == segment)
            .copied()
            .collect();
        let mut freed = Vec::new();
        for k in keys {
            if let Some((slot, _, tick)) = index.chunks.remove(&k) {
                index.by_use.remove(&tick);
                freed.push(slot);
            }
        }
        drop(index);
        self.free.lock().expect("free slots lock").extend(freed);
    }

    /// How many chunks it can hold.
    pub fn slots(&self) -> u64 {
        self.slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_read_back_and_the_oldest_goes_first() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), 2 * CHUNK).unwrap().unwrap();
        assert_eq!(cache.slots(), 2);
        let a = Bytes::from(vec![1u8; CHUNK as usize]);
        let b = Bytes::from(vec![2u8; 100]);
        cache.insert(7, 0, &a).unwrap();
        cache.insert(7, 1, &b).unwrap();
        let mut buf = [0u8; 200];
        assert_eq!(
            cache.read(7, 1, 50, &mut buf),
            Some(50),
            "a short last chunk"
        );
        assert!(buf[..50].iter().all(|&x| x == 2));
        assert_eq!(cache.read(7, 0, 10, &mut buf), Some(200));
        assert!(buf.iter().all(|&x| x == 1));
        // Chunk (7, 1) is now the least recently used: it makes room.
        cache.insert(8, 0, &Bytes::from(vec![3u8; 10])).unwrap();
        assert_eq!(cache.read(7, 1, 0, &mut buf), None);
        assert_eq!(cache.read(8, 0, 0, &mut buf), Some(10));
        assert!(buf[..10].iter().all(|&x| x == 3));
        cache.forget(7);
        assert_eq!(cache.read(7, 0, 0, &mut buf), None);
        cache.insert(9, 0, &b).unwrap();
        cache.insert(9, 1, &b).unwrap();
        assert_eq!(cache.read(8, 0, 0, &mut buf), None, "evicted for 9/1");
        assert!(DiskCache::open(dir.path(), CHUNK - 1).unwrap().is_none());
    }
}
