//! Manifest objects: an object whose body lists other objects (segments)
//! whose concatenation is its content, as Swift's static large objects do.
//! Completing a multipart upload writes one, so no part is copied. The
//! manifest's own metadata carries a marker with the logical size and ETag,
//! and its container row shows them, so HEAD and listings need not read it.

use std::io;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::object::{Found, ObjectBody};
use super::put::{self, BodySpec, BodyStream};
use super::{Cluster, ProxyError};
use crate::store::record::{ObjectMeta, ObjectRow};

/// Stored header marking a manifest: `<logical size> <logical etag>`.
pub const MARKER: &str = "x-object-sysmeta-cairn-manifest";

/// Format version of the manifest body.
const MANIFEST_V1: u32 = 1;

/// One segment: an object of the same account, its size and ETag when the
/// manifest was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub container: String,
    pub object: String,
    pub size: u64,
    pub etag: String,
}

/// A manifest body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub segments: Vec<Segment>,
}

impl Manifest {
    pub fn new(segments: Vec<Segment>) -> Manifest {
        Manifest {
            version: MANIFEST_V1,
            segments,
        }
    }

    /// The total size of the segments.
    pub fn size(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// The segments a byte range (inclusive) touches, each with the range
    /// within it (inclusive).
    pub fn pieces(&self, start: u64, end: u64) -> Vec<(&Segment, u64, u64)> {
        let mut out = Vec::new();
        let mut offset = 0u64;
        for s in &self.segments {
            let (lo, hi) = (offset, offset + s.size);
            offset = hi;
            if s.size == 0 || hi <= start || lo > end {
                continue;
            }
            out.push((s, start.max(lo) - lo, end.min(hi - 1) - lo));
        }
        out
    }
}

/// The newest live version among those the replicas replaced.
fn newest_live(old: Vec<Option<ObjectMeta>>) -> Option<ObjectMeta> {
    let now = crate::timestamp::Timestamp::now_secs();
    old.into_iter()
        .flatten()
        .filter(|m| m.is_live(now))
        .max_by_key(|m| (m.ts, m.meta_ts))
}

/// The logical size and ETag of a manifest object; `None` for plain ones.
pub fn logical(meta: &ObjectMeta) -> Option<(u64, String)> {
    let (_, v) = meta.headers.iter().find(|(n, _)| n == MARKER)?;
    let (size, etag) = v.split_once(' ')?;
    Some((size.parse().ok()?, etag.to_string()))
}

/// The metadata clients see (and copies inherit): a manifest's logical
/// size and ETag, system metadata (the marker among it) left out.
pub fn presented(meta: &ObjectMeta) -> ObjectMeta {
    let mut m = meta.clone();
    if let Some((size, etag)) = logical(meta) {
        m.size = size;
        m.etag = etag;
    }
    m.headers
        .retain(|(n, _)| !n.starts_with("x-object-sysmeta-"));
    m
}

impl Cluster {
    /// Stores an object as `put_object` does and also answers the newest
    /// live version it replaced, so a replaced manifest's segments can be
    /// removed without reading the object first.
    pub async fn put_object_replacing(
        &self,
        container: &str,
        object: &str,
        template: ObjectMeta,
        spec: &BodySpec,
        body: BodyStream,
    ) -> Result<(ObjectMeta, Option<ObjectMeta>), ProxyError> {
        let account = template
            .path
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let put::Stored {
            meta,
            nodes,
            replaced,
        } = self
            .store_object(&account, container, object, spec, template, body)
            .await?;
        let row = ObjectRow {
            ts: meta.ts,
            deleted: false,
            size: meta.size,
            etag: meta.etag.clone(),
            content_type: meta.content_type.clone(),
        };
        self.update_container(&account, container, object, row, &nodes)
            .await;
        Ok((meta, newest_live(replaced)))
    }

    /// Writes a manifest object: its body lists the segments, its metadata
    /// (from `template`) gets the marker, and its container row the
    /// logical size and `etag`. Answers the newest live version replaced.
    pub async fn put_manifest(
        &self,
        container: &str,
        object: &str,
        mut template: ObjectMeta,
        manifest: &Manifest,
        etag: &str,
    ) -> Result<(ObjectMeta, Option<ObjectMeta>), ProxyError> {
        let account = template
            .path
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let size = manifest.size();
        template.headers.retain(|(n, _)| n != MARKER);
        template
            .headers
            .push((MARKER.to_string(), format!("{size} {etag}")));
        template.headers.sort();
        let body = Bytes::from(serde_json::to_vec(manifest).expect("manifests serialize"));
        let spec = BodySpec {
            content_length: Some(body.len() as u64),
            expected_etag: None,
            max_size: u64::MAX,
            page_cache: true,
        };
        let stream: BodyStream = Box::pin(futures::stream::iter([Ok(body)]));
        let put::Stored {
            meta,
            nodes,
            replaced,
        } = self
            .store_object(&account, container, object, &spec, template, stream)
            .await?;
        let row = ObjectRow {
            ts: meta.ts,
            deleted: false,
            size,
            etag: etag.to_string(),
            content_type: meta.content_type.clone(),
        };
        self.update_container(&account, container, object, row, &nodes)
            .await;
        Ok((meta, newest_live(replaced)))
    }

    /// Reads the segment list of a manifest object found with `get_object`.
    pub async fn read_manifest(&self, found: &Found) -> Result<Manifest, ProxyError> {
        let bytes = match &found.body {
            ObjectBody::Inline(b) => b.clone(),
            ObjectBody::File { .. } | ObjectBody::Erasure(_) => {
                let mut body = found.body();
                let mut buf = Vec::with_capacity(found.meta.size as usize);
                while let Some(chunk) = futures::StreamExt::next(&mut body).await {
                    buf.extend_from_slice(&chunk.map_err(|e| ProxyError::Store(e.into()))?);
                }
                Bytes::from(buf)
            }
        };
        serde_json::from_slice::<Manifest>(&bytes)
            .ok()
            .filter(|m| m.version == MANIFEST_V1)
            .ok_or_else(|| {
                ProxyError::Store(
                    io::Error::new(io::ErrorKind::InvalidData, "unreadable manifest").into(),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::Timestamp;

    fn seg(name: &str, size: u64) -> Segment {
        Segment {
            container: "b+segments".into(),
            object: name.into(),
            size,
            etag: "e".into(),
        }
    }

    #[test]
    fn ranges_map_to_segments() {
        let m = Manifest::new(vec![seg("1", 10), seg("2", 0), seg("3", 5), seg("4", 10)]);
        assert_eq!(m.size(), 25);
        let names = |v: Vec<(&Segment, u64, u64)>| {
            v.into_iter()
                .map(|(s, a, b)| (s.object.clone(), a, b))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(m.pieces(0, 24)),
            vec![("1".into(), 0, 9), ("3".into(), 0, 4), ("4".into(), 0, 9)]
        );
        assert_eq!(
            names(m.pieces(9, 10)),
            vec![("1".into(), 9, 9), ("3".into(), 0, 0)]
        );
        assert_eq!(names(m.pieces(15, 15)), vec![("4".into(), 0, 0)]);
        assert_eq!(
            names(m.pieces(12, 20)),
            vec![("3".into(), 2, 4), ("4".into(), 0, 5)]
        );
    }

    #[test]
    fn marker_gives_logical_size_and_hides_itself() {
        let mut meta = ObjectMeta::tombstone("a/c/o".into(), Timestamp(1));
        meta.size = 300;
        meta.etag = "json-md5".into();
        assert_eq!(logical(&meta), None);
        meta.headers = vec![
            (MARKER.into(), "15728640 0123abcd-3".into()),
            ("x-object-meta-k".into(), "v".into()),
            ("x-object-sysmeta-other".into(), "x".into()),
        ];
        assert_eq!(logical(&meta), Some((15_728_640, "0123abcd-3".into())));
        let shown = presented(&meta);
        assert_eq!(
            (shown.size, shown.etag.as_str()),
            (15_728_640, "0123abcd-3")
        );
        assert_eq!(
            shown.headers,
            vec![("x-object-meta-k".to_string(), "v".to_string())]
        );
    }
}
