//! blockd's metadata in RocksDB (`DATA/blockd/meta`): volume, snapshot and
//! attachment records (JSON), every extent map (a volume's or a
//! snapshot's), the segments written, and per-volume journal progress.
//! Calls block: callers in async code use `spawn_blocking`.
//!
//! Keys: `v/{volume}`, `n/{snapshot}` (records); `m/{map}/{start BE u64}`
//! → length, segment, offset (3 × BE u64); `s/{segment BE u64}` → the map
//! that wrote it; `f/{segment BE u64}` → the other account's object a
//! shared segment is (JSON); `g/{volume}` → last packed journal
//! generation; `k/next_segment` → the next segment id.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use anyhow::Context;
use rocksdb::{Direction, IteratorMode, WriteBatch, DB};
use serde::{de::DeserializeOwned, Serialize};

use crate::volume::extent::Located;
use crate::volume::rangemap::RangeMap;
use crate::volume::shared::SharedObject;

const NEXT_SEGMENT: &[u8] = b"k/next_segment";

/// The metadata database.
pub struct Store {
    db: DB,
    next_segment: AtomicU64,
    /// Segments allocated and not yet recorded (or abandoned).
    in_flight: Mutex<HashSet<u64>>,
    /// Test hook: so many next pack commits fail (as on a full disk).
    #[cfg(test)]
    pub failing_commits: AtomicU64,
}

fn map_prefix(map: &str) -> Vec<u8> {
    format!("m/{map}/").into_bytes()
}

fn map_key(map: &str, start: u64) -> Vec<u8> {
    let mut k = map_prefix(map);
    k.extend_from_slice(&start.to_be_bytes());
    k
}

fn segment_key(segment: u64) -> Vec<u8> {
    let mut k = b"s/".to_vec();
    k.extend_from_slice(&segment.to_be_bytes());
    k
}

fn shared_key(segment: u64) -> Vec<u8> {
    let mut k = b"f/".to_vec();
    k.extend_from_slice(&segment.to_be_bytes());
    k
}

fn u64_at(b: &[u8], i: usize) -> Option<u64> {
    Some(u64::from_be_bytes(
        b.get(i * 8..i * 8 + 8)?.try_into().ok()?,
    ))
}

impl Store {
    pub fn open(path: &Path) -> anyhow::Result<Store> {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        let db = DB::open(&opts, path).with_context(|| format!("open {}", path.display()))?;
        let next = db
            .get(NEXT_SEGMENT)?
            .and_then(|b| u64_at(&b, 0))
            .unwrap_or(1);
        Ok(Store {
            db,
            next_segment: AtomicU64::new(next),
            in_flight: Mutex::new(HashSet::new()),
            #[cfg(test)]
            failing_commits: AtomicU64::new(0),
        })
    }

    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> anyhow::Result<Option<T>> {
        match self.db.get(key.as_bytes())? {
            Some(b) => Ok(Some(serde_json::from_slice(&b).context("decode record")?)),
            None => Ok(None),
        }
    }

    pub fn put_json<T: Serialize>(&self, key: &str, value: &T) -> anyhow::Result<()> {
        let mut opts = rocksdb::WriteOptions::default();
        opts.set_sync(true);
        self.db
            .put_opt(key.as_bytes(), serde_json::to_vec(value)?, &opts)?;
        Ok(())
    }

    pub fn delete(&self, key: &str) -> anyhow::Result<()> {
        let mut opts = rocksdb::WriteOptions::default();
        opts.set_sync(true);
        self.db.delete_opt(key.as_bytes(), &opts)?;
        Ok(())
    }

    /// Every record whose key starts with `prefix`.
    pub fn scan_json<T: DeserializeOwned>(&self, prefix: &str) -> anyhow::Result<Vec<T>> {
        let mut out = Vec::new();
        let iter = self
            .db
            .iterator(IteratorMode::From(prefix.as_bytes(), Direction::Forward));
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(prefix.as_bytes()) {
                break;
            }
            out.push(serde_json::from_slice(&v).context("decode record")?);
        }
        Ok(out)
    }

    /// A fresh segment id (persisted with the batch that uses it); it is
    /// in flight until recorded or abandoned.
    pub fn allocate_segment(&self) -> u64 {
        let id = self.next_segment.fetch_add(1, Ordering::SeqCst);
        self.in_flight.lock().expect("in-flight lock").insert(id);
        id
    }

    /// Makes sure no later allocation hands out an id below `next` (ids
    /// of objects already stored, whose pack never committed).
    pub fn reserve_below(&self, next: u64) {
        self.next_segment.fetch_max(next, Ordering::SeqCst);
    }

    /// Gives up an allocated segment (its write failed).
    pub fn abandon_segment(&self, id: u64) {
        self.in_flight.lock().expect("in-flight lock").remove(&id);
    }

    /// Segments allocated and not yet recorded.
    pub fn in_flight(&self) -> HashSet<u64> {
        self.in_flight.lock().expect("in-flight lock").clone()
    }

    fn landed(&self, ids: impl IntoIterator<Item = u64>) {
        let mut g = self.in_flight.lock().expect("in-flight lock");
        for id in ids {
            g.remove(&id);
        }
    }

    /// Records segment `id` as written by `writer` (no map names it yet).
    pub fn record_segment(&self, id: u64, writer: &str) -> anyhow::Result<()> {
        let mut batch = WriteBatch::default();
        batch.put(segment_key(id), writer.as_bytes());
        let next = self.next_segment.load(Ordering::SeqCst).max(id + 1);
        batch.put(NEXT_SEGMENT, next.to_be_bytes());
        let mut opts = rocksdb::WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(batch, &opts)?;
        self.landed([id]);
        Ok(())
    }

    /// Commits the changed entries of map `id` (after a remap).
    pub fn commit_map(&self, id: &str, map: &mut RangeMap<Located>) -> anyhow::Result<()> {
        let mut batch = WriteBatch::default();
        let changes = map.take_changes();
        Self::stage_entries(&mut batch, id, map, &changes);
        let mut opts = rocksdb::WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(batch, &opts)?;
        Ok(())
    }

    /// Reads map `map`.
    pub fn load_map(&self, map: &str) -> anyhow::Result<RangeMap<Located>> {
        let prefix = map_prefix(map);
        let mut out = RangeMap::new();
        for item in self
            .db
            .iterator(IteratorMode::From(&prefix, Direction::Forward))
        {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            let start = u64_at(&k[prefix.len()..], 0).context("bad map key")?;
            let (len, segment, offset) = (u64_at(&v, 0), u64_at(&v, 1), u64_at(&v, 2));
            let (Some(len), Some(segment), Some(offset)) = (len, segment, offset) else {
                anyhow::bail!("bad map entry in {map}");
            };
            out.load(start, len, Located { segment, offset });
        }
        Ok(out)
    }

    /// Writes the entries of `map` at `starts` (as they now are) into `batch`.
    fn stage_entries(batch: &mut WriteBatch, id: &str, map: &RangeMap<Located>, starts: &[u64]) {
        for &s in starts {
            match map.get(s) {
                Some((len, l)) => {
                    let mut v = Vec::with_capacity(24);
                    v.extend_from_slice(&len.to_be_bytes());
                    v.extend_from_slice(&l.segment.to_be_bytes());
                    v.extend_from_slice(&l.offset.to_be_bytes());
                    batch.put(map_key(id, s), v);
                }
                None => batch.delete(map_key(id, s)),
            }
        }
    }

    /// Commits a pack: the changed entries of volume `id`'s map, the new
    /// segment (if any) and the journal generation now packed, atomically.
    pub fn commit_pack(
        &self,
        id: &str,
        map: &mut RangeMap<Located>,
        segment: Option<u64>,
        generation: u64,
    ) -> anyhow::Result<()> {
        #[cfg(test)]
        {
            let one_less = |n: u64| n.checked_sub(1);
            let failing =
                self.failing_commits
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, one_less);
            anyhow::ensure!(failing.is_err(), "No space left on device");
        }
        let mut batch = WriteBatch::default();
        let changes = map.take_changes();
        Self::stage_entries(&mut batch, id, map, &changes);
        if let Some(seg) = segment {
            batch.put(segment_key(seg), id.as_bytes());
            let next = self.next_segment.load(Ordering::SeqCst).max(seg + 1);
            batch.put(NEXT_SEGMENT, next.to_be_bytes());
        }
        batch.put(format!("g/{id}"), generation.to_be_bytes());
        let mut opts = rocksdb::WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(batch, &opts)?;
        self.landed(segment);
        Ok(())
    }

    /// The last journal generation of `volume` packed into segments.
    pub fn packed_generation(&self, volume: &str) -> anyhow::Result<Option<u64>> {
        Ok(self
            .db
            .get(format!("g/{volume}"))?
            .and_then(|b| u64_at(&b, 0)))
    }

    /// Writes `map` as map `id` (replacing nothing: `id` is new).
    pub fn save_map(&self, id: &str, map: &RangeMap<Located>) -> anyhow::Result<()> {
        let mut batch = WriteBatch::default();
        let starts: Vec<u64> = map.iter().map(|(s, _, _)| s).collect();
        Self::stage_entries(&mut batch, id, map, &starts);
        let mut opts = rocksdb::WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(batch, &opts)?;
        Ok(())
    }

    /// Writes `map` as the new map `id` together with the shared segments
    /// it refers to, atomically.
    pub fn save_shared_map(
        &self,
        id: &str,
        map: &RangeMap<Located>,
        shared: &[(u64, SharedObject)],
    ) -> anyhow::Result<()> {
        let mut batch = WriteBatch::default();
        let starts: Vec<u64> = map.iter().map(|(s, _, _)| s).collect();
        Self::stage_entries(&mut batch, id, map, &starts);
        let mut next = self.next_segment.load(Ordering::SeqCst);
        for (seg, object) in shared {
            batch.put(segment_key(*seg), id.as_bytes());
            batch.put(shared_key(*seg), serde_json::to_vec(object)?);
            next = next.max(seg + 1);
        }
        batch.put(NEXT_SEGMENT, next.to_be_bytes());
        let mut opts = rocksdb::WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(batch, &opts)?;
        self.landed(shared.iter().map(|(seg, _)| *seg));
        Ok(())
    }

    /// Every shared segment and its object.
    pub fn shared_segments(&self) -> anyhow::Result<Vec<(u64, SharedObject)>> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(b"f/", Direction::Forward))
        {
            let (k, v) = item?;
            if !k.starts_with(b"f/") {
                break;
            }
            let seg = u64_at(&k[2..], 0).context("bad shared segment key")?;
            out.push((
                seg,
                serde_json::from_slice(&v).context("decode shared segment")?,
            ));
        }
        Ok(out)
    }

    /// Removes map `id` (and, for a volume, its journal progress).
    pub fn delete_map(&self, id: &str) -> anyhow::Result<()> {
        let prefix = map_prefix(id);
        let mut end = prefix.clone();
        *end.last_mut().expect("prefix ends in /") += 1;
        let mut batch = WriteBatch::default();
        batch.delete_range(prefix, end);
        batch.delete(format!("g/{id}"));
        let mut opts = rocksdb::WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(batch, &opts)?;
        Ok(())
    }

    /// Every segment written, and those some map still refers to, read
    /// from one consistent view.
    pub fn segment_usage(&self) -> anyhow::Result<(Vec<u64>, HashSet<u64>)> {
        let (all, entries) = self.segment_entries()?;
        Ok((all, entries.into_iter().map(|(seg, _, _)| seg).collect()))
    }

    /// Every segment recorded, and every map entry as (segment, offset,
    /// length), read from one consistent view.
    #[allow(clippy::type_complexity)]
    pub fn segment_entries(&self) -> anyhow::Result<(Vec<u64>, Vec<(u64, u64, u64)>)> {
        let snap = self.db.snapshot();
        let mut recorded = Vec::new();
        for item in snap.iterator(IteratorMode::From(b"s/", Direction::Forward)) {
            let (k, _) = item?;
            if !k.starts_with(b"s/") {
                break;
            }
            recorded.push(u64_at(&k[2..], 0).context("bad segment key")?);
        }
        let mut entries = Vec::new();
        for item in snap.iterator(IteratorMode::From(b"m/", Direction::Forward)) {
            let (k, v) = item?;
            if !k.starts_with(b"m/") {
                break;
            }
            let (len, segment, offset) = (u64_at(&v, 0), u64_at(&v, 1), u64_at(&v, 2));
            let (Some(len), Some(segment), Some(offset)) = (len, segment, offset) else {
                anyhow::bail!("bad map entry");
            };
            entries.push((segment, offset, len));
        }
        Ok((recorded, entries))
    }

    /// Forgets segments (their objects are gone, or no longer shared).
    pub fn forget_segments(&self, segments: &[u64]) -> anyhow::Result<()> {
        let mut batch = WriteBatch::default();
        for &s in segments {
            batch.delete(segment_key(s));
            batch.delete(shared_key(s));
        }
        self.db.write(batch)?;
        Ok(())
    }
}
