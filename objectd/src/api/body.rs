//! Object bodies for responses, the one place that knows how they are
//! read: inline bytes, data files (checksum verified on full reads), and
//! manifests, whose segments are fetched one after the other as the body
//! streams. Shared by the Swift and S3 APIs.

use std::io;
use std::sync::Arc;

use futures::StreamExt;

use crate::proxy::manifest::{self, Manifest};
use crate::proxy::object::Found;
use crate::proxy::put::BodyStream;
use crate::proxy::{Cluster, ProxyError};
use crate::store::record::ObjectMeta;

/// An object opened for reading: the metadata clients see and its bytes.
pub struct Object {
    /// Size and ETag are the logical ones for a manifest.
    pub meta: ObjectMeta,
    source: Source,
}

enum Source {
    Plain(Box<Found>),
    Manifest {
        manifest: Arc<Manifest>,
        cluster: Arc<Cluster>,
        account: String,
    },
}

/// Opens a found object; a manifest's segment list is read unless the
/// object was found for a HEAD (`head`), which never streams.
pub async fn open(
    cluster: &Arc<Cluster>,
    account: &str,
    found: Found,
    head: bool,
) -> Result<Object, ProxyError> {
    if manifest::logical(&found.meta).is_none() || head {
        return Ok(Object {
            meta: manifest::presented(&found.meta),
            source: Source::Plain(Box::new(found)),
        });
    }
    let list = cluster.read_manifest(&found).await?;
    Ok(Object {
        meta: manifest::presented(&found.meta),
        source: Source::Manifest {
            manifest: Arc::new(list),
            cluster: cluster.clone(),
            account: account.to_string(),
        },
    })
}

impl Object {
    /// Whether the object is a manifest.
    pub fn is_manifest(&self) -> bool {
        matches!(self.source, Source::Manifest { .. })
    }

    /// The segments of a manifest object.
    pub fn segments(&self) -> &[manifest::Segment] {
        match &self.source {
            Source::Manifest { manifest, .. } => &manifest.segments,
            Source::Plain(_) => &[],
        }
    }

    /// The whole body.
    pub fn full(&self) -> BodyStream {
        match &self.source {
            Source::Plain(found) => full(found),
            Source::Manifest { .. } if self.meta.size == 0 => Box::pin(futures::stream::empty()),
            Source::Manifest { .. } => self.slice(0, self.meta.size - 1),
        }
    }

    /// Bytes `start..=end` of the body.
    pub fn slice(&self, start: u64, end: u64) -> BodyStream {
        match &self.source {
            Source::Plain(found) => slice(found, start, end),
            Source::Manifest {
                manifest,
                cluster,
                account,
            } => segments(cluster.clone(), account.clone(), manifest, start, end),
        }
    }
}

/// The whole body of a found object, checksum verified.
pub fn full(found: &Found) -> BodyStream {
    found.body()
}

/// Bytes `start..=end` of a found object's body.
pub fn slice(found: &Found, start: u64, end: u64) -> BodyStream {
    found.body_range(start, end - start + 1)
}

/// Streams bytes `start..=end` of a manifest's content, fetching each
/// segment when the previous one is done. A segment that is gone or was
/// replaced since the manifest was written ends the stream with an error.
fn segments(
    cluster: Arc<Cluster>,
    account: String,
    manifest: &Manifest,
    start: u64,
    end: u64,
) -> BodyStream {
    let pieces: Vec<_> = manifest
        .pieces(start, end)
        .into_iter()
        .map(|(s, a, b)| (s.clone(), a, b))
        .collect();
    let stream = futures::stream::iter(pieces)
        .then(move |(seg, a, b)| {
            let cluster = cluster.clone();
            let account = account.clone();
            async move {
                let found = cluster
                    .get_object(&account, &seg.container, &seg.object)
                    .await
                    .map_err(|e| io::Error::other(format!("segment {}: {e}", seg.object)))?;
                if found.meta.etag != seg.etag || found.meta.size != seg.size {
                    return Err(io::Error::other(format!(
                        "segment {} changed since the manifest was written",
                        seg.object
                    )));
                }
                Ok(if a == 0 && b + 1 == seg.size {
                    full(&found)
                } else {
                    slice(&found, a, b)
                })
            }
        })
        .map(|r: io::Result<BodyStream>| match r {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("manifest read failed: {e}");
                Box::pin(futures::stream::iter([Err(e)])) as BodyStream
            }
        })
        .flatten();
    Box::pin(stream)
}
