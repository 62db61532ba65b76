//! Where segment objects live: the `SegmentStore` trait (put, ranged get,
//! delete), `SwiftSegments` (a container in the object store, reached
//! with `common::swift::SwiftClient`) and `MemSegments` (in memory, for
//! tests). `Segments` puts the read cache in front of a store (pieces in
//! memory, then 4 MiB chunks on the local disk, `disk_cache.rs`; a miss
//! fetches the whole chunk once, however many reads wait for it), and
//! routes the segments that are shared objects of another account
//! (`shared.rs`) to those objects.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::OnceCell;

use super::cache::{ReadCache, PIECE};
use super::disk_cache::{DiskCache, CHUNK};
use super::extent::segment_name;
use super::shared::{Marker, SharedObject};

/// Immutable objects named by segment id.
pub trait SegmentStore: Send + Sync + 'static {
    fn put(&self, segment: u64, data: Bytes) -> BoxFuture<'_, anyhow::Result<()>>;
    /// Up to `len` bytes from `offset` (fewer at the object's end).
    fn get(&self, segment: u64, offset: u64, len: u64) -> BoxFuture<'_, anyhow::Result<Bytes>>;
    fn delete(&self, segment: u64) -> BoxFuture<'_, anyhow::Result<()>>;
    /// Up to `len` bytes from `offset` of another account's object.
    fn get_shared<'a>(
        &'a self,
        object: &'a SharedObject,
        offset: u64,
        len: u64,
    ) -> BoxFuture<'a, anyhow::Result<Bytes>>;
    /// Makes a clone marker (an empty object).
    fn mark<'a>(&'a self, marker: &'a Marker) -> BoxFuture<'a, anyhow::Result<()>>;
    /// Removes a clone marker (gone already is fine).
    fn unmark<'a>(&'a self, marker: &'a Marker) -> BoxFuture<'a, anyhow::Result<()>>;
    /// Every segment object stored, with its size.
    fn list_own(&self) -> BoxFuture<'_, anyhow::Result<Vec<(u64, u64)>>>;
    /// Names and sizes of another account's objects under `prefix`, in
    /// name order (from every replica of the container's listing).
    fn list_shared<'a>(
        &'a self,
        account: &'a str,
        container: &'a str,
        prefix: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<(String, u64)>>>;
}

/// Segments in one container of the object store.
pub struct SwiftSegments {
    client: common::swift::SwiftClient,
    container: String,
    policy: Option<String>,
    created: OnceCell<()>,
}

impl SwiftSegments {
    pub fn new(
        client: common::swift::SwiftClient,
        container: String,
        policy: Option<String>,
    ) -> SwiftSegments {
        SwiftSegments {
            client,
            container,
            policy,
            created: OnceCell::new(),
        }
    }

    async fn container(&self) -> anyhow::Result<()> {
        self.created
            .get_or_try_init(|| async {
                self.client
                    .put_container(&self.container, self.policy.as_deref())
                    .await
            })
            .await
            .map(|_| ())
    }
}

impl SegmentStore for SwiftSegments {
    fn put(&self, segment: u64, data: Bytes) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            self.container().await?;
            // blockd caches segments itself: the store need not keep a
            // replica in its page cache as well.
            let no_cache = [("X-Cairn-Cache", "none".to_string())];
            self.client
                .put_object_with(&self.container, &segment_name(segment), data, &no_cache)
                .await
        })
    }

    fn get(&self, segment: u64, offset: u64, len: u64) -> BoxFuture<'_, anyhow::Result<Bytes>> {
        Box::pin(async move {
            self.client
                .get_range(&self.container, &segment_name(segment), offset, len)
                .await
        })
    }

    fn delete(&self, segment: u64) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            self.client
                .delete_object(&self.container, &segment_name(segment))
                .await
        })
    }

    fn list_own(&self) -> BoxFuture<'_, anyhow::Result<Vec<(u64, u64)>>> {
        Box::pin(async move {
            let listed = self.client.list(&self.container, "").await?;
            Ok(listed
                .into_iter()
                .filter(|l| l.name.len() == 16)
                .filter_map(|l| Some((u64::from_str_radix(&l.name, 16).ok()?, l.bytes)))
                .collect())
        })
    }

    fn get_shared<'a>(
        &'a self,
        o: &'a SharedObject,
        offset: u64,
        len: u64,
    ) -> BoxFuture<'a, anyhow::Result<Bytes>> {
        Box::pin(async move {
            self.client
                .in_account(&o.account)
                .get_range(&o.container, &o.object, offset, len)
                .await
        })
    }

    fn mark<'a>(&'a self, m: &'a Marker) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.client
                .in_account(&m.account)
                .put_object(&m.container, &m.object, Bytes::new())
                .await
        })
    }

    fn unmark<'a>(&'a self, m: &'a Marker) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.client
                .in_account(&m.account)
                .delete_object(&m.container, &m.object)
                .await
        })
    }

    fn list_shared<'a>(
        &'a self,
        account: &'a str,
        container: &'a str,
        prefix: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<(String, u64)>>> {
        Box::pin(async move {
            let listed = self
                .client
                .in_account(account)
                .list_all_replicas(container, prefix)
                .await?;
            Ok(listed.into_iter().map(|l| (l.name, l.bytes)).collect())
        })
    }
}

/// Segments kept in memory.
#[derive(Default)]
pub struct MemSegments {
    pub objects: Mutex<HashMap<u64, Bytes>>,
    /// Other accounts' objects, by `account/container/object`.
    pub shared: Mutex<HashMap<String, Bytes>>,
    pub markers: Mutex<HashSet<Marker>>,
    /// Test hooks: so many next puts fail, and each put first waits this
    /// many milliseconds (taken by the next put only).
    pub failing_puts: std::sync::atomic::AtomicUsize,
    pub slow_put_ms: std::sync::atomic::AtomicU64,
}

fn slice_of(b: &Bytes, offset: u64, len: u64) -> Bytes {
    let start = (offset as usize).min(b.len());
    let end = ((offset + len) as usize).min(b.len());
    b.slice(start..end)
}

impl SegmentStore for MemSegments {
    fn put(&self, segment: u64, data: Bytes) -> BoxFuture<'_, anyhow::Result<()>> {
        use std::sync::atomic::Ordering::SeqCst;
        let delay = self.slow_put_ms.swap(0, SeqCst);
        let fail = self
            .failing_puts
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok();
        Box::pin(async move {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
            anyhow::ensure!(!fail, "segment store unavailable");
            self.objects
                .lock()
                .expect("segments lock")
                .insert(segment, data);
            Ok(())
        })
    }

    fn get(&self, segment: u64, offset: u64, len: u64) -> BoxFuture<'_, anyhow::Result<Bytes>> {
        let found = self
            .objects
            .lock()
            .expect("segments lock")
            .get(&segment)
            .cloned();
        Box::pin(async move {
            let b = found.ok_or_else(|| anyhow::anyhow!("no segment {segment}"))?;
            Ok(slice_of(&b, offset, len))
        })
    }

    fn delete(&self, segment: u64) -> BoxFuture<'_, anyhow::Result<()>> {
        self.objects.lock().expect("segments lock").remove(&segment);
        Box::pin(async { Ok(()) })
    }

    fn list_own(&self) -> BoxFuture<'_, anyhow::Result<Vec<(u64, u64)>>> {
        let mut out: Vec<(u64, u64)> = self
            .objects
            .lock()
            .expect("segments lock")
            .iter()
            .map(|(id, b)| (*id, b.len() as u64))
            .collect();
        out.sort_unstable();
        Box::pin(async move { Ok(out) })
    }

    fn get_shared<'a>(
        &'a self,
        o: &'a SharedObject,
        offset: u64,
        len: u64,
    ) -> BoxFuture<'a, anyhow::Result<Bytes>> {
        let path = format!("{}/{}/{}", o.account, o.container, o.object);
        let found = self.shared.lock().expect("shared lock").get(&path).cloned();
        Box::pin(async move {
            let b = found.ok_or_else(|| anyhow::anyhow!("no object {path}"))?;
            Ok(slice_of(&b, offset, len))
        })
    }

    fn mark<'a>(&'a self, m: &'a Marker) -> BoxFuture<'a, anyhow::Result<()>> {
        self.markers.lock().expect("markers lock").insert(m.clone());
        Box::pin(async { Ok(()) })
    }

    fn unmark<'a>(&'a self, m: &'a Marker) -> BoxFuture<'a, anyhow::Result<()>> {
        self.markers.lock().expect("markers lock").remove(m);
        Box::pin(async { Ok(()) })
    }

    fn list_shared<'a>(
        &'a self,
        account: &'a str,
        container: &'a str,
        prefix: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<(String, u64)>>> {
        let full = format!("{account}/{container}/{prefix}");
        let skip = full.len() - prefix.len();
        let mut out: Vec<(String, u64)> = self
            .shared
            .lock()
            .expect("shared lock")
            .iter()
            .filter(|(k, _)| k.starts_with(&full))
            .map(|(k, v)| (k[skip..].to_string(), v.len() as u64))
            .collect();
        out.sort();
        Box::pin(async move { Ok(out) })
    }
}

/// One chunk being fetched, for every read that wants it.
type ChunkFetch = Arc<OnceCell<Bytes>>;

/// A segment store with the read cache in front.
pub struct Segments {
    pub store: Arc<dyn SegmentStore>,
    pub cache: ReadCache,
    /// The second tier, if configured.
    disk: Option<Arc<DiskCache>>,
    /// Chunk fetches in flight, shared by the reads that wait for them.
    fetching: Mutex<HashMap<(u64, u64), ChunkFetch>>,
    /// Segments that are other accounts' objects.
    shared: RwLock<HashMap<u64, Arc<SharedObject>>>,
}

impl Segments {
    pub fn new(store: Arc<dyn SegmentStore>, cache_bytes: usize) -> Segments {
        Segments {
            store,
            cache: ReadCache::new(cache_bytes),
            disk: None,
            fetching: Mutex::new(HashMap::new()),
            shared: RwLock::new(HashMap::new()),
        }
    }

    /// Adds the disk tier.
    pub fn with_disk_cache(mut self, disk: DiskCache) -> Segments {
        self.disk = Some(Arc::new(disk));
        self
    }

    /// Copies bytes of `segment` from `offset` into `buf` without waiting:
    /// from memory, or from disk chunks the page cache holds; false if
    /// any byte needs a wait.
    pub fn try_copy(&self, segment: u64, offset: u64, buf: &mut [u8]) -> bool {
        if self.cache.copy_out(segment, offset, buf) {
            return true;
        }
        let Some(disk) = &self.disk else {
            return false;
        };
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let chunk = at / CHUNK;
            let within = at - chunk * CHUNK;
            let want = (buf.len() - done).min((CHUNK - within) as usize);
            match disk.read_nowait(segment, chunk, within, &mut buf[done..done + want]) {
                Some(n) if n == want => done += n,
                _ => return false,
            }
        }
        true
    }

    /// Keeps a segment just stored in both tiers (what was just written
    /// is the likeliest to be read next); the disk write runs in the
    /// background.
    pub fn stored(&self, segment: u64, data: &Bytes) {
        self.cache.insert_segment(segment, data);
        let Some(disk) = &self.disk else { return };
        let (disk, data) = (disk.clone(), data.clone());
        tokio::task::spawn_blocking(move || {
            for (chunk, start) in (0..data.len()).step_by(CHUNK as usize).enumerate() {
                let end = (start + CHUNK as usize).min(data.len());
                if let Err(e) = disk.insert(segment, chunk as u64, &data.slice(start..end)) {
                    tracing::debug!(segment, "cannot cache a new segment on disk: {e:#}");
                    return;
                }
            }
        });
    }

    /// Forgets every cached piece and chunk of `segment` (it was deleted).
    pub fn forget(&self, segment: u64) {
        self.cache.forget(segment);
        if let Some(d) = &self.disk {
            d.forget(segment);
        }
    }

    /// Chunk `chunk` of `segment` (shorter at the segment's end): fetched
    /// once however many reads want it, then kept on disk.
    async fn chunk(
        &self,
        disk: &Arc<DiskCache>,
        segment: u64,
        chunk: u64,
    ) -> anyhow::Result<Bytes> {
        let cell = self
            .fetching
            .lock()
            .expect("fetching lock")
            .entry((segment, chunk))
            .or_default()
            .clone();
        let got = cell
            .get_or_try_init(|| async {
                let data = self.fetch(segment, chunk * CHUNK, CHUNK).await?;
                let (disk, data2) = (disk.clone(), data.clone());
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = disk.insert(segment, chunk, &data2) {
                        tracing::debug!(segment, chunk, "cannot cache chunk on disk: {e:#}");
                    }
                });
                anyhow::Ok(data)
            })
            .await
            .cloned();
        self.fetching
            .lock()
            .expect("fetching lock")
            .remove(&(segment, chunk));
        got
    }

    /// Copies bytes of `segment` from `offset` into `buf` through the disk
    /// tier: chunks on disk are read in place, missing ones fetched whole.
    async fn read_through_disk(
        &self,
        disk: &Arc<DiskCache>,
        segment: u64,
        offset: u64,
        buf: &mut [u8],
    ) -> anyhow::Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let chunk = at / CHUNK;
            let within = at - chunk * CHUNK;
            let want = (buf.len() - done).min((CHUNK - within) as usize);
            let here = &mut buf[done..done + want];
            let n = match disk.read(segment, chunk, within, here) {
                Some(n) => n,
                None => {
                    let data = self.chunk(disk, segment, chunk).await?;
                    let from = (within as usize).min(data.len());
                    let n = (data.len() - from).min(want);
                    here[..n].copy_from_slice(&data[from..from + n]);
                    n
                }
            };
            if n < want {
                anyhow::bail!("segment {segment} is shorter than its extents");
            }
            done += n;
        }
        Ok(())
    }

    /// Routes `segment` to another account's object from now on.
    pub fn add_shared(&self, segment: u64, object: SharedObject) {
        self.shared
            .write()
            .expect("shared lock")
            .insert(segment, Arc::new(object));
    }

    /// Forgets a shared segment; answers what it was.
    pub fn remove_shared(&self, segment: u64) -> Option<Arc<SharedObject>> {
        self.shared.write().expect("shared lock").remove(&segment)
    }

    /// The shared object behind `segment`, if it is one.
    pub fn shared(&self, segment: u64) -> Option<Arc<SharedObject>> {
        self.shared
            .read()
            .expect("shared lock")
            .get(&segment)
            .cloned()
    }

    /// Whether a shared segment outside `except` names `marker`.
    pub fn marker_in_use_beyond(&self, marker: &Marker, except: &HashSet<u64>) -> bool {
        self.shared
            .read()
            .expect("shared lock")
            .iter()
            .any(|(seg, o)| &o.marker == marker && !except.contains(seg))
    }

    /// A ranged read of a segment, from its own object or a shared one.
    async fn fetch(&self, segment: u64, offset: u64, len: u64) -> anyhow::Result<Bytes> {
        match self.shared(segment) {
            Some(o) => self.store.get_shared(&o, offset, len).await,
            None => self.store.get(segment, offset, len).await,
        }
    }

    /// Copies `buf.len()` bytes of `segment` from `offset` into `buf`:
    /// from memory if all there, else through the disk tier; without one,
    /// cached pieces from memory and each run of missing pieces with one
    /// ranged GET (kept in memory).
    pub async fn read(&self, segment: u64, offset: u64, buf: &mut [u8]) -> anyhow::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(disk) = &self.disk {
            // Memory holds what was just written; everything read is on disk.
            if self.cache.copy_out(segment, offset, buf) {
                return Ok(());
            }
            return self.read_through_disk(disk, segment, offset, buf).await;
        }
        let first = offset / PIECE;
        let last = (offset + buf.len() as u64 - 1) / PIECE;
        let mut pieces: Vec<Option<Bytes>> =
            (first..=last).map(|i| self.cache.get(segment, i)).collect();
        let mut i = 0;
        while i < pieces.len() {
            if pieces[i].is_some() {
                i += 1;
                continue;
            }
            let mut j = i;
            while j < pieces.len() && pieces[j].is_none() {
                j += 1;
            }
            let start = (first + i as u64) * PIECE;
            let data = self.fetch(segment, start, (j - i) as u64 * PIECE).await?;
            for (k, piece) in pieces.iter_mut().enumerate().take(j).skip(i) {
                let lo = (k - i) * PIECE as usize;
                if lo >= data.len() {
                    break;
                }
                let p = data.slice(lo..(lo + PIECE as usize).min(data.len()));
                self.cache.insert(segment, first + k as u64, p.clone());
                *piece = Some(p);
            }
            i = j;
        }
        let mut done = 0usize;
        for (k, piece) in pieces.iter().enumerate() {
            let piece_start = (first + k as u64) * PIECE;
            let within = (offset + done as u64 - piece_start) as usize;
            let piece = piece.as_ref().filter(|p| within < p.len());
            let Some(piece) = piece else {
                anyhow::bail!("segment {segment} is shorter than its extents");
            };
            let n = (piece.len() - within).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&piece[within..within + n]);
            done += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn misses_fetch_whole_chunks_that_the_disk_then_serves() {
        let dir = tempfile::tempdir().unwrap();
        let mem = Arc::new(MemSegments::default());
        let disk = DiskCache::open(dir.path(), 4 * CHUNK).unwrap().unwrap();
        let segments = Segments::new(mem.clone(), 1 << 20).with_disk_cache(disk);
        let body: Vec<u8> = (0..CHUNK + 5000).map(|i| (i % 251) as u8).collect();
        mem.put(3, Bytes::from(body.clone())).await.unwrap();
        let mut buf = vec![0u8; 8192];
        segments.read(3, CHUNK - 4096, &mut buf).await.unwrap();
        assert_eq!(buf, body[(CHUNK - 4096) as usize..(CHUNK + 4096) as usize]);
        // The store loses the object and memory forgets it: both chunks
        // were kept on disk by the one read.
        mem.objects.lock().unwrap().clear();
        segments.cache.forget(3);
        for _ in 0..50 {
            let mut again = vec![0u8; 4096];
            if segments.read(3, 100, &mut again).await.is_ok() {
                assert_eq!(again, body[100..4196]);
                let mut tail = vec![0u8; 5000];
                segments.read(3, CHUNK, &mut tail).await.unwrap();
                assert_eq!(tail, body[CHUNK as usize..]);
                segments.forget(3);
                assert!(segments.read(3, 100, &mut again).await.is_err());
                return;
            }
            // The disk write runs in the background.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the chunks never reached the disk cache");
    }
}
