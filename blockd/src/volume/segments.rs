//! Where segment objects live: the `SegmentStore` trait (put, ranged get,
//! delete), `SwiftSegments` (a container in the object store, reached
//! with `common::swift::SwiftClient`) and `MemSegments` (in memory, for
//! tests). `Segments` puts the read cache in front of a store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::OnceCell;

use super::cache::{ReadCache, PIECE};
use super::extent::segment_name;

/// Immutable objects named by segment id.
pub trait SegmentStore: Send + Sync + 'static {
    fn put(&self, segment: u64, data: Bytes) -> BoxFuture<'_, anyhow::Result<()>>;
    /// Up to `len` bytes from `offset` (fewer at the object's end).
    fn get(&self, segment: u64, offset: u64, len: u64) -> BoxFuture<'_, anyhow::Result<Bytes>>;
    fn delete(&self, segment: u64) -> BoxFuture<'_, anyhow::Result<()>>;
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
            self.client
                .put_object(&self.container, &segment_name(segment), data)
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
}

/// Segments kept in memory.
#[derive(Default)]
pub struct MemSegments {
    pub objects: Mutex<HashMap<u64, Bytes>>,
}

impl SegmentStore for MemSegments {
    fn put(&self, segment: u64, data: Bytes) -> BoxFuture<'_, anyhow::Result<()>> {
        self.objects
            .lock()
            .expect("segments lock")
            .insert(segment, data);
        Box::pin(async { Ok(()) })
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
            let start = (offset as usize).min(b.len());
            let end = ((offset + len) as usize).min(b.len());
            Ok(b.slice(start..end))
        })
    }

    fn delete(&self, segment: u64) -> BoxFuture<'_, anyhow::Result<()>> {
        self.objects.lock().expect("segments lock").remove(&segment);
        Box::pin(async { Ok(()) })
    }
}

/// A segment store with the read cache in front.
pub struct Segments {
    pub store: Arc<dyn SegmentStore>,
    pub cache: ReadCache,
}

impl Segments {
    pub fn new(store: Arc<dyn SegmentStore>, cache_bytes: usize) -> Segments {
        Segments {
            store,
            cache: ReadCache::new(cache_bytes),
        }
    }

    /// Copies `buf.len()` bytes of `segment` from `offset` into `buf`:
    /// cached pieces from memory, each run of missing pieces with one
    /// ranged GET.
    pub async fn read(&self, segment: u64, offset: u64, buf: &mut [u8]) -> anyhow::Result<()> {
        if buf.is_empty() {
            return Ok(());
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
            let data = self
                .store
                .get(segment, start, (j - i) as u64 * PIECE)
                .await?;
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
