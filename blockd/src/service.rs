//! `BlockService`: volumes, snapshots and attachments without HTTP. It
//! keeps the records, opens every volume's device at start (replaying
//! journals), serves attached volumes as NBD exports under unguessable
//! names, and runs the packer and the cleaner in the background. Record
//! changes are serialized by one lock; RocksDB and file work runs on
//! blocking threads. Volumes made from images are in `from_image.rs`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::images::Images;
use crate::nbd::{Export, Exports};
use crate::records::{SnapshotRecord, VolumeRecord};
use crate::store::Store;
use crate::volume::buffers::WriteBuffers;
use crate::volume::cleaner::Cleaner;
use crate::volume::compactor;
use crate::volume::disk_cache::DiskCache;
use crate::volume::extent::Located;
use crate::volume::rangemap::RangeMap;
use crate::volume::segments::{SegmentStore, Segments};
use crate::volume::shared::SharedObject;
use crate::volume::VolumeDevice;

/// Idle time after which a partly filled journal is packed anyway.
const PACK_IDLE: Duration = Duration::from_secs(2);
/// How often the packer looks at the volumes.
const PACK_TICK: Duration = Duration::from_millis(500);
/// How often the cleaner runs.
const CLEAN_INTERVAL: Duration = Duration::from_secs(30);
/// Quiet time after which a volume's recycled journal space is given back.
const JOURNAL_IDLE: Duration = Duration::from_secs(60);
/// Longest wait for the last pack at shutdown (what is left stays in
/// the journal for the next start).
const FINAL_PACK: Duration = Duration::from_secs(5);
/// How soon the cleaner looks again at segments it found unreferenced.
const CLEAN_GRACE: Duration = Duration::from_secs(3);
/// How often segments are surveyed for compaction and orphans.
const COMPACT_INTERVAL: Duration = Duration::from_secs(120);

/// Where clients reach the NBD server, and whether it speaks TLS.
#[derive(Clone, Copy, Debug)]
pub struct NbdEndpoint {
    pub addr: SocketAddr,
    pub tls: bool,
}

/// A change the volume's state does not allow; the API answers it as a
/// bad request with this message.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Where a new volume's contents come from.
pub enum Source {
    Empty,
    Snapshot(String),
    Volume(String),
    /// A map onto shared segments (other accounts' objects).
    Shared(RangeMap<Located>, Vec<(u64, SharedObject)>),
}

/// The volume service's core.
pub struct BlockService {
    pub(crate) store: Arc<Store>,
    pub(crate) segments: Arc<Segments>,
    journals: PathBuf,
    /// Scratch space (images being converted).
    pub(crate) scratch: PathBuf,
    devices: Mutex<HashMap<String, Arc<VolumeDevice>>>,
    pub(crate) exports: Arc<Exports>,
    nbd: NbdEndpoint,
    /// Unpacked writes of all volumes, and the packer's wake-up.
    buffers: Arc<WriteBuffers>,
    clean_wanted: Arc<Notify>,
    /// Packs running in the background.
    packing: tokio_util::task::TaskTracker,
    /// The image service, if volumes may be made from images.
    pub(crate) images: Option<Images>,
    /// Serializes record changes.
    pub(crate) changes: tokio::sync::Mutex<()>,
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f).await?
}

pub(crate) fn volume_key(id: &str) -> String {
    format!("v/{id}")
}

fn snapshot_key(id: &str) -> String {
    format!("n/{id}")
}

impl BlockService {
    /// Opens the service on `dir` (RocksDB in `meta/`, journals in
    /// `journals/`, the disk read cache in `cache/`, scratch files in
    /// `scratch/`), serving exports through `exports` at `nbd`.
    pub async fn open(
        dir: PathBuf,
        segment_store: Arc<dyn SegmentStore>,
        cache_bytes: usize,
        disk_cache_bytes: u64,
        exports: Arc<Exports>,
        nbd: NbdEndpoint,
        images: Option<Images>,
    ) -> anyhow::Result<Arc<BlockService>> {
        let meta = dir.join("meta");
        let scratch = dir.join("scratch");
        // Scratch files of conversions a stop interrupted are worthless.
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("create {}", scratch.display()))?;
        let store = Arc::new(blocking(move || Store::open(&meta)).await?);
        let mut segments = Segments::new(segment_store, cache_bytes);
        let cache_dir = dir.join("cache");
        let disk = blocking(move || DiskCache::open(&cache_dir, disk_cache_bytes)).await?;
        if let Some(disk) = disk {
            segments = segments.with_disk_cache(disk);
        }
        let segments = Arc::new(segments);
        let s = store.clone();
        for (seg, object) in blocking(move || s.shared_segments()).await? {
            segments.add_shared(seg, object);
        }
        let service = Arc::new(BlockService {
            store,
            segments,
            journals: dir.join("journals"),
            scratch,
            devices: Mutex::new(HashMap::new()),
            exports,
            nbd,
            buffers: Arc::new(WriteBuffers::default()),
            clean_wanted: Arc::new(Notify::new()),
            packing: tokio_util::task::TaskTracker::new(),
            images,
            changes: tokio::sync::Mutex::new(()),
        });
        for mut v in service.volumes(None).await? {
            if v.status == "creating" || v.status == "downloading" {
                tracing::warn!(volume = %v.id, "volume creation was interrupted by a stop");
                v.status = "error".into();
                service.put_volume(&v).await?;
            }
            let device = service.open_device(&v.id, v.bytes()).await?;
            for a in &v.attachments {
                if let Some(name) = &a.export_name {
                    service.serve(name, &device, a.read_only, &v.id);
                }
            }
        }
        Ok(service)
    }

    /// The NBD server (what connection info names).
    pub fn nbd(&self) -> NbdEndpoint {
        self.nbd
    }

    async fn open_device(&self, id: &str, size: u64) -> anyhow::Result<Arc<VolumeDevice>> {
        let (id2, journals, store, segments) = (
            id.to_string(),
            self.journals.clone(),
            self.store.clone(),
            self.segments.clone(),
        );
        let (rt, wanted) = (Handle::current(), self.buffers.clone());
        let device =
            blocking(move || VolumeDevice::open(&id2, size, journals, store, segments, rt, wanted))
                .await
                .with_context(|| format!("open volume {id}"))?;
        let device = Arc::new(device);
        self.devices
            .lock()
            .expect("devices lock")
            .insert(id.to_string(), device.clone());
        Ok(device)
    }

    pub(crate) fn device(&self, id: &str) -> anyhow::Result<Arc<VolumeDevice>> {
        self.devices
            .lock()
            .expect("devices lock")
            .get(id)
            .cloned()
            .with_context(|| format!("volume {id} has no device"))
    }

    pub(crate) fn serve(
        &self,
        name: &str,
        device: &Arc<VolumeDevice>,
        read_only: bool,
        volume: &str,
    ) {
        self.exports.insert(
            name.to_string(),
            Export::new(device.clone(), read_only, format!("volume {volume}")),
        );
    }

    // Records.

    pub async fn volume(&self, id: &str) -> anyhow::Result<Option<VolumeRecord>> {
        let (s, k) = (self.store.clone(), volume_key(id));
        blocking(move || s.get_json(&k)).await
    }

    /// Every volume, or those of `project`.
    pub async fn volumes(&self, project: Option<&str>) -> anyhow::Result<Vec<VolumeRecord>> {
        let s = self.store.clone();
        let mut all: Vec<VolumeRecord> = blocking(move || s.scan_json("v/")).await?;
        all.retain(|v| project.is_none_or(|p| v.project_id == p));
        Ok(all)
    }

    pub(crate) async fn put_volume(&self, v: &VolumeRecord) -> anyhow::Result<()> {
        let (s, k, v) = (self.store.clone(), volume_key(&v.id), v.clone());
        blocking(move || s.put_json(&k, &v)).await
    }

    pub async fn snapshot(&self, id: &str) -> anyhow::Result<Option<SnapshotRecord>> {
        let (s, k) = (self.store.clone(), snapshot_key(id));
        blocking(move || s.get_json(&k)).await
    }

    pub async fn snapshots(&self, project: Option<&str>) -> anyhow::Result<Vec<SnapshotRecord>> {
        let s = self.store.clone();
        let mut all: Vec<SnapshotRecord> = blocking(move || s.scan_json("n/")).await?;
        all.retain(|v| project.is_none_or(|p| v.project_id == p));
        Ok(all)
    }

    // Volumes.

    /// Creates a volume (its map copied from `source`); it is available at once.
    pub async fn create_volume(
        &self,
        v: VolumeRecord,
        source: Source,
    ) -> anyhow::Result<VolumeRecord> {
        self.make_volume(v, source, "available").await
    }

    /// Creates a volume from `source` with status `status`.
    pub(crate) async fn make_volume(
        &self,
        mut v: VolumeRecord,
        source: Source,
        status: &str,
    ) -> anyhow::Result<VolumeRecord> {
        let _serial = self.changes.lock().await;
        let map = match source {
            Source::Empty => None,
            Source::Snapshot(id) => {
                let s = self.store.clone();
                Some(blocking(move || s.load_map(&id)).await?)
            }
            Source::Volume(id) => Some(self.device(&id)?.frozen_map().await?),
            Source::Shared(map, shared) => {
                for (seg, object) in &shared {
                    self.segments.add_shared(*seg, object.clone());
                }
                let (s, id) = (self.store.clone(), v.id.clone());
                let ids: Vec<u64> = shared.iter().map(|(seg, _)| *seg).collect();
                let saved = blocking(move || s.save_shared_map(&id, &map, &shared)).await;
                if saved.is_err() {
                    for seg in ids {
                        self.segments.remove_shared(seg);
                    }
                }
                saved?;
                None
            }
        };
        if let Some(map) = map {
            let (s, id) = (self.store.clone(), v.id.clone());
            blocking(move || s.save_map(&id, &map)).await?;
        }
        self.open_device(&v.id, v.bytes()).await?;
        v.status = status.into();
        self.put_volume(&v).await?;
        Ok(v)
    }

    /// Changes a volume's own fields (name, description, metadata, flags,
    /// status) with `change`, applied to the record as stored now, so a
    /// change made meanwhile (an attachment, say) is kept; answers the
    /// record saved.
    pub async fn update_volume(
        &self,
        id: &str,
        change: impl FnOnce(&mut VolumeRecord),
    ) -> anyhow::Result<VolumeRecord> {
        let _serial = self.changes.lock().await;
        let mut v = self.volume(id).await?.context("no such volume")?;
        change(&mut v);
        v.updated_at = Some(crate::records::now_text());
        self.put_volume(&v).await?;
        Ok(v)
    }

    /// Grows a volume to `size` GiB.
    pub async fn extend_volume(&self, id: &str, size: u64) -> anyhow::Result<()> {
        let _serial = self.changes.lock().await;
        let mut v = self.volume(id).await?.context("no such volume")?;
        v.size = size;
        v.updated_at = Some(crate::records::now_text());
        self.device(id)?.resize(v.bytes());
        self.put_volume(&v).await
    }

    /// Deletes a volume: its exports, device, journal and map; the
    /// cleaner then deletes segments nothing else shares.
    pub async fn delete_volume(&self, id: &str) -> anyhow::Result<()> {
        let _serial = self.changes.lock().await;
        let Some(v) = self.volume(id).await? else {
            return Ok(());
        };
        for a in &v.attachments {
            if let Some(name) = &a.export_name {
                self.exports.remove(name);
            }
        }
        let device = self.devices.lock().expect("devices lock").remove(id);
        if let Some(d) = device {
            d.close().await;
            blocking(move || Ok(d.remove_journal()?)).await?;
        }
        let (s, id2) = (self.store.clone(), id.to_string());
        blocking(move || {
            s.delete_map(&id2)?;
            s.delete(&volume_key(&id2))
        })
        .await?;
        self.clean_wanted.notify_one();
        Ok(())
    }

    // Snapshots.

    /// Freezes the volume's map as snapshot `snap` (available at once).
    pub async fn create_snapshot(
        &self,
        mut snap: SnapshotRecord,
    ) -> anyhow::Result<SnapshotRecord> {
        let _serial = self.changes.lock().await;
        let map = self.device(&snap.volume_id)?.frozen_map().await?;
        let (s, id) = (self.store.clone(), snap.id.clone());
        blocking(move || s.save_map(&id, &map)).await?;
        snap.status = "available".into();
        let (s, k, v) = (self.store.clone(), snapshot_key(&snap.id), snap.clone());
        blocking(move || s.put_json(&k, &v)).await?;
        Ok(snap)
    }

    /// Changes a snapshot's name or description with `change`, applied to
    /// the record as stored now (one deleted meanwhile stays deleted);
    /// answers the record saved.
    pub async fn update_snapshot(
        &self,
        id: &str,
        change: impl FnOnce(&mut SnapshotRecord),
    ) -> anyhow::Result<SnapshotRecord> {
        let _serial = self.changes.lock().await;
        let mut snap = self.snapshot(id).await?.context("no such snapshot")?;
        change(&mut snap);
        snap.updated_at = Some(crate::records::now_text());
        let (s, k, v) = (self.store.clone(), snapshot_key(id), snap.clone());
        blocking(move || s.put_json(&k, &v)).await?;
        Ok(snap)
    }

    pub async fn delete_snapshot(&self, id: &str) -> anyhow::Result<()> {
        let _serial = self.changes.lock().await;
        let (s, id) = (self.store.clone(), id.to_string());
        blocking(move || {
            s.delete_map(&id)?;
            s.delete(&snapshot_key(&id))
        })
        .await?;
        self.clean_wanted.notify_one();
        Ok(())
    }

    // Background work.

    /// Packs journals and cleans segments until `shutdown`, then packs
    /// what is left.
    pub async fn run_background(self: Arc<Self>, shutdown: CancellationToken) {
        let mut cleaner = Cleaner::default();
        let mut next_clean = tokio::time::Instant::now() + CLEAN_INTERVAL;
        let mut next_compact = tokio::time::Instant::now() + CLEAN_INTERVAL;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.buffers.pack_wanted.notified() => {}
                _ = self.clean_wanted.notified() => next_clean = tokio::time::Instant::now(),
                _ = tokio::time::sleep(PACK_TICK) => {}
            }
            self.pack_due(PACK_IDLE);
            if tokio::time::Instant::now() >= next_clean {
                self.shrink_idle_journals().await;
                if let Err(e) = cleaner.sweep(&self.store, &self.segments).await {
                    tracing::warn!("segment cleaner failed: {e:#}");
                }
                if tokio::time::Instant::now() >= next_compact {
                    next_compact = tokio::time::Instant::now() + COMPACT_INTERVAL;
                    if let Err(e) = self.compact().await {
                        tracing::warn!("segment compaction failed: {e:#}");
                    }
                }
                let wait = if cleaner.has_candidates() {
                    CLEAN_GRACE
                } else {
                    CLEAN_INTERVAL
                };
                next_clean = tokio::time::Instant::now() + wait;
            }
        }
        if tokio::time::timeout(FINAL_PACK, self.drain_packs())
            .await
            .is_err()
        {
            tracing::info!("journals left unpacked at shutdown; they replay at the next start");
        }
        // No pack runs any more: writers waiting for room would wait forever.
        self.buffers.stop_packing();
    }

    /// One compaction pass: orphans deleted, sparse segments rewritten
    /// and every map pointed at the copies (the cleaner then deletes the
    /// old segments). Answers (orphans deleted, segments rewritten).
    pub async fn compact(&self) -> anyhow::Result<(usize, usize)> {
        let found = compactor::survey(&self.store, &self.segments).await?;
        let mut orphans = 0;
        for seg in &found.orphans {
            match self.segments.store.delete(*seg).await {
                Ok(()) => orphans += 1,
                Err(e) => tracing::warn!(segment = seg, "cannot delete orphan segment: {e:#}"),
            }
        }
        if found.sparse.is_empty() {
            return Ok((orphans, 0));
        }
        let moves = compactor::copy_live(&self.store, &self.segments, &found.sparse).await?;
        // Maps change only under the record lock: no snapshot or volume
        // is made or deleted meanwhile.
        let _serial = self.changes.lock().await;
        let devices = self.open_devices(|_| true);
        let snapshots: Vec<String> = self
            .snapshots(None)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect();
        let (s, moves) = (self.store.clone(), Arc::new(moves));
        let m = moves.clone();
        blocking(move || {
            for d in devices {
                d.remap(&m)?;
            }
            for id in snapshots {
                let mut map = s.load_map(&id)?;
                if m.apply(&mut map) {
                    s.commit_map(&id, &mut map)?;
                }
            }
            Ok(())
        })
        .await?;
        let rewritten = moves.sources().count();
        tracing::info!(orphans, rewritten, "segments compacted");
        self.clean_wanted.notify_one();
        Ok((orphans, rewritten))
    }

    /// Gives back the recycled journal space of volumes gone quiet.
    async fn shrink_idle_journals(&self) {
        let devices = self.open_devices(|_| true);
        let shrunk = tokio::task::spawn_blocking(move || {
            for d in devices {
                if let Err(e) = d.shrink_journal_if_idle(JOURNAL_IDLE) {
                    tracing::warn!(volume = %d.id, "cannot shrink the journal: {e}");
                }
            }
        });
        let _ = shrunk.await;
    }

    /// The open volume devices that `keep` picks.
    fn open_devices(&self, keep: impl Fn(&VolumeDevice) -> bool) -> Vec<Arc<VolumeDevice>> {
        self.devices
            .lock()
            .expect("devices lock")
            .values()
            .filter(|d| keep(d))
            .cloned()
            .collect()
    }

    fn devices_wanting_pack(&self, idle: Duration) -> Vec<Arc<VolumeDevice>> {
        self.open_devices(|d| d.wants_pack(idle))
    }

    /// Starts a pack of each volume that wants one; packs run beside each
    /// other and beside the cleaner.
    fn pack_due(&self, idle: Duration) {
        for d in self.devices_wanting_pack(idle) {
            self.packing.spawn(async move {
                if let Err(e) = d.pack().await {
                    tracing::warn!(volume = %d.id, "cannot pack journal: {e:#}");
                }
            });
        }
    }

    /// At shutdown: lets running packs finish, then packs what is left.
    async fn drain_packs(&self) {
        self.packing.close();
        self.packing.wait().await;
        for d in self.devices_wanting_pack(Duration::ZERO) {
            loop {
                match d.pack().await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        tracing::warn!(volume = %d.id, "cannot pack journal: {e:#}");
                        break;
                    }
                }
            }
        }
    }
}
