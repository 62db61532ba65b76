//! Reading erasure-coded objects. Every primary is asked for its archive's
//! index row at once; the newest version with at least `k` distinct
//! fragments wins (a newer version with fewer is a write that failed, a
//! newer tombstone means deleted). Small objects arrive inline with the rows
//! and are decoded at once. Larger ones stream: `k` archives are read in
//! parallel, data fragments first (then nothing is decoded), a segment at a
//! time; a fragment whose check fails, or an archive that cannot be read,
//! is replaced by a spare from the same segment on, and its device is told
//! to quarantine it. A range reads only the segments it touches.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tracing::warn;

use super::object::{Found, ObjectBody};
use super::put::BodyStream;
use super::{Placement, ProxyError};
use crate::ec::archive::{self, Layout, CHECK_LEN};
use crate::ec::EcScheme;
use crate::node::Node;
use crate::store::device::StoredObject;
use crate::store::record::{ObjectMeta, Placement as Where};
use crate::timestamp::Timestamp;

/// One erasure-coded object version and where its archives are.
pub struct EcObject {
    pub part: u32,
    pub hash: [u8; 16],
    pub ts: Timestamp,
    pub scheme: Arc<EcScheme>,
    pub layout: Layout,
    /// (fragment index, device holding it), data fragments first.
    pub sources: Vec<(usize, Node)>,
}

/// The scheme an archive was written with (the policy's own when equal).
pub fn scheme_of(meta: &ObjectMeta, policy: &Arc<EcScheme>) -> Result<Arc<EcScheme>, ProxyError> {
    let f = meta
        .fragment
        .as_ref()
        .ok_or_else(|| ProxyError::Store(io::Error::other("not a fragment archive").into()))?;
    if f.k as usize == policy.k
        && f.m as usize == policy.m
        && f.segment_size == policy.segment_size as u64
    {
        return Ok(policy.clone());
    }
    EcScheme::new(f.k as usize, f.m as usize, f.segment_size as usize)
        .map(Arc::new)
        .map_err(|e| ProxyError::Store(io::Error::other(e).into()))
}

/// The newest readable version among the archives' rows: `Ok(None)` when
/// the newest version is deleted or expired; `Err` (503) when no version
/// has `k` fragments.
fn choose(found: &[(Node, StoredObject)], k: usize) -> Result<Option<Vec<usize>>, ProxyError> {
    let mut versions: Vec<Timestamp> = found.iter().map(|(_, s)| s.meta.ts).collect();
    versions.sort_unstable_by(|a, b| b.cmp(a));
    versions.dedup();
    for ts in versions {
        let group: Vec<usize> = (0..found.len())
            .filter(|i| found[*i].1.meta.ts == ts)
            .collect();
        if found[group[0]].1.meta.deleted {
            return Ok(None);
        }
        let mut indexes: Vec<u32> = group
            .iter()
            .filter_map(|i| found[*i].1.meta.fragment.as_ref().map(|f| f.index))
            .collect();
        indexes.sort_unstable();
        indexes.dedup();
        if indexes.len() >= k {
            return Ok(Some(group));
        }
    }
    if found.is_empty() {
        return Ok(None);
    }
    Err(ProxyError::Store(
        io::Error::other("fewer than k fragments of any version").into(),
    ))
}

/// Finds an erasure-coded object (see the module doc).
pub async fn find(place: &Placement, policy: &Arc<EcScheme>) -> Result<Option<Found>, ProxyError> {
    let mut found = rows(&place.nodes, place).await;
    let enough = |found: &[(Node, StoredObject)]| matches!(choose(found, policy.k), Ok(Some(_)));
    if !enough(&found) {
        // After a ring change, or with primaries down during the write,
        // archives may sit on handoffs.
        found.extend(rows(&place.handoffs, place).await);
    }
    let Some(group) = choose(&found, policy.k)? else {
        return Err(ProxyError::NotFound);
    };
    let newest_meta = group
        .iter()
        .map(|i| &found[*i].1.meta)
        .max_by_key(|m| m.meta_ts)
        .expect("a chosen group is never empty")
        .clone();
    if !newest_meta.is_live(Timestamp::now_secs()) {
        return Err(ProxyError::NotFound);
    }
    let scheme = scheme_of(&newest_meta, policy)?;
    let mut meta = newest_meta;
    meta.size = meta.object_size();
    let layout = Layout::new(&scheme, meta.size);
    let all_inline = group
        .iter()
        .all(|i| found[*i].1.meta.placement == Where::Inline && found[*i].1.inline.is_some());
    if all_inline {
        let mut archives: Vec<Option<Bytes>> = vec![None; scheme.width()];
        for i in &group {
            let stored = &found[*i].1;
            if let (Some(f), Some(body)) = (&stored.meta.fragment, &stored.inline) {
                if let Some(slot) = archives.get_mut(f.index as usize) {
                    *slot = Some(body.clone());
                }
            }
        }
        // Decoded even for a HEAD: callers may read the body of what they
        // found, and a small body costs microseconds.
        let body = archive::decode_all(&scheme, meta.size, &archives)
            .map(Bytes::from)
            .map_err(|e| ProxyError::Store(io::Error::other(e).into()))?;
        return Ok(Some(Found {
            meta,
            body: ObjectBody::Inline(body),
        }));
    }
    let mut sources: Vec<(usize, Node)> = group
        .iter()
        .filter_map(|i| {
            let (node, stored) = &found[*i];
            let f = stored.meta.fragment.as_ref()?;
            Some((f.index as usize, node.clone()))
        })
        .collect();
    sources.sort_by_key(|(index, _)| *index);
    sources.dedup_by_key(|(index, _)| *index);
    Ok(Some(Found {
        body: ObjectBody::Erasure(Arc::new(EcObject {
            part: place.part,
            hash: place.hash,
            ts: meta.ts,
            scheme,
            layout,
            sources,
        })),
        meta,
    }))
}

/// The index rows of `nodes`, in parallel; failures are logged and skipped.
async fn rows(nodes: &[Node], place: &Placement) -> Vec<(Node, StoredObject)> {
    let reads = nodes.iter().map(|n| n.get_object(place.part, place.hash));
    futures::future::join_all(reads)
        .await
        .into_iter()
        .zip(nodes)
        .filter_map(|(r, n)| match r {
            Ok(Some(s)) => Some((n.clone(), s)),
            Ok(None) => None,
            Err(e) => {
                warn!(device = n.id(), "fragment row read failed: {e}");
                None
            }
        })
        .collect()
}

/// An archive being read from segment `next_segment` on.
struct ArchiveReader {
    index: usize,
    node: Node,
    stream: BodyStream,
    /// Bytes read past the last frame.
    carry: Bytes,
}

impl ArchiveReader {
    fn open(obj: &EcObject, index: usize, node: Node, from_segment: u64, to_segment: u64) -> Self {
        let start = obj.layout.archive_offset(from_segment);
        let end = if to_segment + 1 >= obj.layout.segment_count() {
            obj.layout.archive_len()
        } else {
            obj.layout.archive_offset(to_segment + 1)
        };
        let stream = node.stream_file(obj.part, obj.hash, obj.ts, start, end - start, None);
        ArchiveReader {
            index,
            node,
            stream,
            carry: Bytes::new(),
        }
    }

    /// The next framed fragment of `len` bytes (fragment and check); a
    /// slice of what was read when one chunk holds it, else gathered.
    async fn next_framed(&mut self, len: usize) -> io::Result<Bytes> {
        if self.carry.len() >= len {
            return Ok(self.carry.split_to(len));
        }
        let mut buf = BytesMut::with_capacity(len);
        buf.extend_from_slice(&std::mem::take(&mut self.carry));
        while buf.len() < len {
            let chunk = match self.stream.next().await {
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => return Err(e),
                None => return Err(io::ErrorKind::UnexpectedEof.into()),
            };
            let need = len - buf.len();
            if buf.is_empty() && chunk.len() >= len {
                self.carry = chunk;
                return Ok(self.carry.split_to(len));
            }
            if chunk.len() <= need {
                buf.extend_from_slice(&chunk);
            } else {
                buf.extend_from_slice(&chunk[..need]);
                self.carry = chunk.slice(need..);
            }
        }
        Ok(buf.freeze())
    }
}

/// Reads the fragments of an object's archives a segment at a time: `k`
/// archives at once, data fragments first, a spare archive taking over from
/// one that fails or whose fragment does not check.
pub struct FragmentReader {
    obj: Arc<EcObject>,
    segment: u64,
    last_segment: u64,
    active: Vec<ArchiveReader>,
    spares: VecDeque<(usize, Node)>,
    /// Fragment `i` of the last segment read, verified (at least `k`).
    pub fragments: Vec<Option<Bytes>>,
}

impl FragmentReader {
    /// A reader of segments `first..=last` over the object's sources.
    pub fn open(obj: &Arc<EcObject>, first: u64, last: u64) -> Self {
        let k = obj.scheme.k;
        let mut sources: VecDeque<(usize, Node)> = obj.sources.iter().cloned().collect();
        let active = sources
            .drain(..k.min(sources.len()))
            .map(|(index, node)| ArchiveReader::open(obj, index, node, first, last))
            .collect();
        FragmentReader {
            obj: obj.clone(),
            segment: first,
            last_segment: last,
            active,
            spares: sources,
            fragments: vec![None; obj.scheme.width()],
        }
    }

    /// Reads the next segment's fragments (at least `k` verified ones in
    /// `fragments`); answers its index, or `None` after the last.
    pub async fn next(&mut self) -> io::Result<Option<u64>> {
        if self.segment > self.last_segment {
            return Ok(None);
        }
        let s = self.segment;
        let flen = self.obj.layout.fragment_len(s);
        self.fragments.iter_mut().for_each(|f| *f = None);
        let reads = self
            .active
            .iter_mut()
            .map(|r| async move { r.next_framed(flen + CHECK_LEN).await });
        let results = futures::future::join_all(reads).await;
        let mut failed = Vec::new();
        for (i, r) in results.into_iter().enumerate() {
            let index = self.active[i].index;
            match r {
                Ok(framed) if archive::verified(&framed, flen).is_some() => {
                    self.fragments[index] = Some(framed.slice(..flen));
                }
                Ok(_) => failed.push((i, format!("segment {s}: fragment check failed"))),
                Err(e) => failed.push((i, format!("segment {s}: {e}"))),
            }
        }
        for (i, why) in failed.into_iter().rev() {
            let bad = self.active.remove(i);
            self.drop_source(bad, &why);
        }
        while self.fragments.iter().flatten().count() < self.obj.scheme.k {
            let Some((index, node)) = self.spares.pop_front() else {
                return Err(io::Error::other(format!(
                    "segment {s}: fewer than {} readable fragments",
                    self.obj.scheme.k
                )));
            };
            let mut reader = ArchiveReader::open(&self.obj, index, node, s, self.last_segment);
            match reader.next_framed(flen + CHECK_LEN).await {
                Ok(framed) if archive::verified(&framed, flen).is_some() => {
                    self.fragments[index] = Some(framed.slice(..flen));
                    self.active.push(reader);
                }
                Ok(_) => self.drop_source(reader, &format!("segment {s}: fragment check failed")),
                Err(e) => self.drop_source(reader, &format!("segment {s}: {e}")),
            }
        }
        self.segment += 1;
        Ok(Some(s))
    }

    /// Gives up on an archive: it is read no further and its device is
    /// told to quarantine it (the reconstructor rebuilds it).
    fn drop_source(&self, bad: ArchiveReader, why: &str) {
        warn!(
            device = bad.node.id(),
            fragment = bad.index,
            "fragment archive unreadable or corrupt ({why}); reading another"
        );
        let (part, hash, ts) = (self.obj.part, self.obj.hash, self.obj.ts);
        tokio::spawn(async move {
            if let Err(e) = bad.node.quarantine(part, hash, ts).await {
                warn!(
                    device = bad.node.id(),
                    "cannot quarantine fragment archive: {e}"
                );
            }
        });
    }
}

/// The state of a streamed (ranged) read.
struct RangeRead {
    reader: FragmentReader,
    /// Object bytes `start..=end` are wanted.
    start: u64,
    end: u64,
    /// Decoding scratch space, reused between segments.
    shards: Vec<Vec<u8>>,
    /// Pieces of the current segment not yet sent.
    ready: VecDeque<Bytes>,
}

impl RangeRead {
    /// The next piece of the wanted bytes; reads and decodes a segment
    /// when the last one is used up.
    async fn next_piece(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            if let Some(piece) = self.ready.pop_front() {
                return Ok(Some(piece));
            }
            let Some(s) = self.reader.next().await? else {
                return Ok(None);
            };
            self.segment_pieces(s)?;
        }
    }

    /// Queues the wanted part of segment `s`: slices of the data fragments
    /// as read when they are all there, else the decoded bytes.
    fn segment_pieces(&mut self, s: u64) -> io::Result<()> {
        let obj = self.reader.obj.clone();
        let (k, layout) = (obj.scheme.k, obj.layout);
        let flen = layout.fragment_len(s);
        let seg_len = layout.segment_len(s);
        let seg_start = s * layout.segment_size;
        let from = (self.start.max(seg_start) - seg_start) as usize;
        let to = (self.end.min(seg_start + seg_len as u64 - 1) - seg_start) as usize;
        let fragments = &self.reader.fragments;
        if fragments[..k].iter().all(Option::is_some) {
            for (i, f) in fragments[..k].iter().flatten().enumerate() {
                let (at, shard_end) = (i * flen, (i + 1) * flen);
                let (a, b) = (from.max(at), (to + 1).min(shard_end));
                if a < b {
                    self.ready.push_back(f.slice(a - at..b - at));
                }
            }
            return Ok(());
        }
        let present: Vec<bool> = fragments.iter().map(Option::is_some).collect();
        for (shard, f) in self.shards.iter_mut().zip(fragments) {
            if let Some(f) = f {
                shard.clear();
                shard.extend_from_slice(f);
            }
        }
        obj.scheme
            .decode_in_place(&mut self.shards, &present, seg_len)
            .map_err(io::Error::other)?;
        let mut out = BytesMut::with_capacity(to - from + 1);
        for (i, shard) in self.shards[..k].iter().enumerate() {
            let (at, shard_end) = (i * flen, (i + 1) * flen);
            let (a, b) = (from.max(at), (to + 1).min(shard_end));
            if a < b {
                out.extend_from_slice(&shard[a - at..b - at]);
            }
        }
        self.ready.push_back(out.freeze());
        Ok(())
    }
}

/// Streams `len` bytes from `offset` of an erasure-coded object.
pub fn stream_range(obj: &Arc<EcObject>, offset: u64, len: u64) -> BodyStream {
    if len == 0 || offset >= obj.layout.object_size {
        return Box::pin(futures::stream::empty());
    }
    let end = (offset + len - 1).min(obj.layout.object_size - 1);
    let segments = obj.layout.segments_for(offset, end);
    let state = RangeRead {
        reader: FragmentReader::open(obj, *segments.start(), *segments.end()),
        start: offset,
        end,
        shards: vec![Vec::new(); obj.scheme.width()],
        ready: VecDeque::new(),
    };
    Box::pin(futures::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        match state.next_piece().await {
            Ok(Some(bytes)) => Some((Ok(bytes), Some(state))),
            Ok(None) => None,
            Err(e) => {
                warn!("erasure-coded read failed: {e}");
                Some((Err(e), None))
            }
        }
    }))
}
