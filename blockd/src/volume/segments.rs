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

    /// Copies `buf.len()` bytes of `segment` from `offset` into `buf`.
    pub async fn read(&self, segment: u64, offset: u64, buf: &mut [u8]) -> anyhow::Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let index = at / PIECE;
            let piece = match self.cache.get(segment, index) {
                Some(p) => p,
                None => {
                    let p = self.store.get(segment, index * PIECE, PIECE).await?;
                    self.cache.insert(segment, index, p.clone());
                    p
                }
            };
            let within = (at - index * PIECE) as usize;
            anyhow::ensure!(
                within < piece.len(),
                "segment {segment} is shorter than its extents"
            );
            let n = (piece.len() - within).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&piece[within..within + n]);
            done += n;
        }
        Ok(())
    }
}
