//! `VolumeDevice`: a log-structured volume served as a `BlockDevice`.
//! Writes append to the journal and land in the in-memory overlay; FLUSH
//! and FUA make the journal durable (fdatasync). `pack` seals the overlay
//! (the journal moves to a new generation), writes its data as one
//! immutable segment object, folds it into the extent map, commits the
//! map to RocksDB and retires the sealed journal files (one is kept
//! for the next generation to reuse). Two packs may store segments at
//! once; they commit in generation order, and a pack that failed is
//! retried before any newer one commits. Reads resolve through the
//! overlay, then the sealed overlays (newest first), then the extent map
//! (segment pieces through the read cache); anything unmapped is a hole.
//! A pack whose RocksDB commit fails stops the volume (memory and disk
//! would disagree) until a restart replays the journal.
//!
//! Device calls block (they run on blocking threads); segment I/O inside
//! them runs on the runtime through its `Handle`. The `try_` calls never
//! wait: reads served from the overlays and cached segment pieces, writes
//! while the journal has room. A zeroing that must not leave a hole
//! writes zeros as data. `pack` is async and
//! does its file and RocksDB work with `spawn_blocking`; a packed
//! segment's pieces go into the read cache as it is stored.

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, RwLockReadGuard, TryLockError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::runtime::Handle;
use tokio::sync::Notify;

use super::buffers::WriteBuffers;
use super::compactor::Moves;
use super::extent::{Located, Written};
use super::journal::{self, JournalFile, Record};
use super::rangemap::RangeMap;
use super::segments::Segments;
use crate::device::{BlockDevice, Extent};
use crate::store::Store;

/// Journal bytes that make a pack worth doing now.
pub const PACK_BYTES: u64 = 16 << 20;
/// Journal bytes at which writers wait for the packer.
const WRITE_LIMIT: u64 = 64 << 20;
/// The first window of a block-status plan (reads, at most 32 MiB, take
/// one); later windows double.
const FIRST_EXTENT_WINDOW: u64 = 1 << 30;
/// Extents after which a block-status plan stops (replies hold fewer).
const ENOUGH_EXTENTS: usize = 1024;
/// Zeros written as data by a zeroing that must not leave a hole.
static ZEROS: [u8; 1 << 20] = [0; 1 << 20];

struct State {
    active: RangeMap<Written>,
    /// Bytes appended to the active generation(s).
    active_bytes: u64,
    journal: JournalFile,
    /// What `flush` syncs (the current generation's file).
    sync: Arc<std::fs::File>,
    /// Sealed overlays not yet committed, oldest first.
    sealed: VecDeque<Sealed>,
    map: RangeMap<Located>,
    last_write: Instant,
}

/// An overlay sealed for packing: what it holds, the newest journal
/// generation it covers, and that generation's file, which a FLUSH must
/// sync too until the pack commits (sealing does not wait for it).
struct Sealed {
    generation: u64,
    overlay: Arc<RangeMap<Written>>,
    sync: Arc<std::fs::File>,
    /// A pack is storing it now (false again if that pack failed).
    in_flight: bool,
    /// What it counts in the service's write buffers.
    bytes: u64,
}

/// Sealed overlays at most (each up to `WRITE_LIMIT` bytes): so many
/// packs store their segments at once, and commit in order.
const MAX_SEALED: usize = 2;

/// Whether writers must wait for packs: the volume's journal is full, or
/// the service's write buffers are and this volume holds some of them (a
/// volume holding nothing may always write, so none starves).
fn over_limit(st: &State, buffers: &WriteBuffers) -> bool {
    st.active_bytes >= WRITE_LIMIT || (st.active_bytes > 0 && buffers.full())
}

/// Segment stretches a read still has to fetch, with where they go.
type Missing<'b> = Vec<(Located, &'b mut [u8])>;

/// Where one stretch of a read comes from.
enum Source {
    Bytes(Bytes),
    Zero,
    Segment(Located),
}

/// Where each stretch of a range comes from: the first of `layers`
/// (overlays, newest first) that holds it, else the extent map.
fn resolve(
    layers: &[&RangeMap<Written>],
    map: &RangeMap<Located>,
    start: u64,
    len: u64,
    out: &mut Vec<(u64, Source)>,
) {
    let Some((top, below)) = layers.split_first() else {
        for m in map.lookup(start, len) {
            out.push((
                m.len,
                match m.value {
                    Some(l) => Source::Segment(l),
                    None => Source::Zero,
                },
            ));
        }
        return;
    };
    for a in top.lookup(start, len) {
        match a.value {
            Some(Written::Data(b)) => out.push((a.len, Source::Bytes(b.slice(..a.len as usize)))),
            Some(Written::Zero) => out.push((a.len, Source::Zero)),
            None => resolve(below, map, a.start, a.len, out),
        }
    }
}

/// A volume: journal, overlay and extent map.
pub struct VolumeDevice {
    pub id: String,
    dir: PathBuf,
    size: AtomicU64,
    state: RwLock<State>,
    store: Arc<Store>,
    segments: Arc<Segments>,
    rt: Handle,
    /// One permit per pack that may run; `close` takes them all.
    packs: tokio::sync::Semaphore,
    /// Woken when a pack commits or gives up.
    committed: Notify,
    room: (Mutex<()>, Condvar),
    /// Held while a pack seals the overlay (see `take_work`).
    sealing: Mutex<()>,
    /// Journal records appended (counting from one at open, so that the
    /// first FLUSH also syncs what was replayed).
    appended: AtomicU64,
    /// Held while FLUSH syncs the journal; the count of records the last
    /// sync covered (group commit, see `flush`).
    synced: Mutex<u64>,
    /// Journal syncs made by FLUSH.
    syncs: AtomicU64,
    buffers: Arc<WriteBuffers>,
    closed: AtomicBool,
    /// Set when a pack could not commit its map: the memory and RocksDB
    /// disagree, so the volume serves nothing more until a restart
    /// (which replays the journal onto the last committed map).
    failed: AtomicBool,
}

fn io_err(e: anyhow::Error) -> io::Error {
    io::Error::other(format!("{e:#}"))
}

impl VolumeDevice {
    /// Opens volume `id` of `size` bytes: loads its map and replays the
    /// journal generations not yet packed (blocking).
    pub fn open(
        id: &str,
        size: u64,
        journals: PathBuf,
        store: Arc<Store>,
        segments: Arc<Segments>,
        rt: Handle,
        buffers: Arc<WriteBuffers>,
    ) -> anyhow::Result<VolumeDevice> {
        let dir = journals.join(id);
        let map = store.load_map(id)?;
        let packed = store.packed_generation(id)?;
        let mut active = RangeMap::new();
        let mut active_bytes = 0u64;
        let mut newest = packed.unwrap_or(0);
        let mut replayed = 0usize;
        for g in journal::generations(&dir)? {
            newest = newest.max(g);
            if packed.is_some_and(|p| g <= p) {
                journal::retire(&dir, g)?;
                continue;
            }
            for r in journal::replay(&dir, g)? {
                replayed += 1;
                match r {
                    Record::Data { offset, data } => {
                        active_bytes += data.len() as u64;
                        active.insert(offset, data.len() as u64, Written::Data(data.into()));
                    }
                    Record::Zero { offset, len } => {
                        active_bytes += 32;
                        active.insert(offset, len, Written::Zero);
                    }
                }
            }
        }
        if replayed > 0 {
            tracing::info!(volume = id, records = replayed, "journal replayed");
        }
        let journal = JournalFile::open(&dir, newest + 1)?;
        let sync = Arc::new(journal.handle()?);
        buffers.hold(active_bytes);
        Ok(VolumeDevice {
            id: id.to_string(),
            dir,
            size: AtomicU64::new(size),
            state: RwLock::new(State {
                active,
                active_bytes,
                journal,
                sync,
                sealed: VecDeque::new(),
                map,
                last_write: Instant::now(),
            }),
            store,
            segments,
            rt,
            packs: tokio::sync::Semaphore::new(MAX_SEALED),
            committed: Notify::new(),
            room: (Mutex::new(()), Condvar::new()),
            sealing: Mutex::new(()),
            appended: AtomicU64::new(1),
            synced: Mutex::new(0),
            syncs: AtomicU64::new(0),
            buffers,
            closed: AtomicBool::new(false),
            failed: AtomicBool::new(false),
        })
    }

    /// How many journal syncs FLUSH has made (flushes covered by another
    /// one's sync make none).
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// Grows the volume.
    pub fn resize(&self, size: u64) {
        self.size.store(size, Ordering::SeqCst);
    }

    /// Stops serving: later calls fail, and once this returns no pack
    /// is running or will commit.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.committed.notify_waiters();
        let _no_pack_in_flight = self.packs.acquire_many(MAX_SEALED as u32).await;
    }

    /// Removes the journal files (the volume is deleted).
    pub fn remove_journal(&self) -> io::Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn check_open(&self) -> io::Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(io::Error::other("volume is deleted"));
        }
        if self.failed.load(Ordering::SeqCst) {
            return Err(io::Error::other(
                "volume stopped after a failed metadata commit",
            ));
        }
        Ok(())
    }

    /// Whether a pack could start and has work: a sealed overlay whose
    /// pack failed, or an overlay worth sealing (enough bytes, or any
    /// bytes after `idle` without writes).
    pub fn wants_pack(&self, idle: Duration) -> bool {
        if self.packs.available_permits() == 0 || self.check_open().is_err() {
            return false;
        }
        let st = self.state.read().expect("volume lock");
        st.sealed.iter().any(|s| !s.in_flight)
            || (st.sealed.len() < MAX_SEALED
                && (st.active_bytes >= PACK_BYTES
                    || (st.active_bytes > 0
                        && (self.buffers.full() || st.last_write.elapsed() >= idle))))
    }

    /// The state, read-locked; without `wait`, `None` if a writer holds it
    /// (a pack sealing or committing, a write being recorded).
    fn read_state(&self, wait: bool) -> Option<RwLockReadGuard<'_, State>> {
        if wait {
            return Some(self.state.read().expect("volume lock"));
        }
        match self.state.try_read() {
            Ok(st) => Some(st),
            Err(TryLockError::WouldBlock) => None,
            Err(TryLockError::Poisoned(_)) => panic!("volume lock poisoned"),
        }
    }

    /// Where each stretch of the range comes from; without `wait`, `None`
    /// if the state is locked.
    fn plan(&self, offset: u64, len: u64, wait: bool) -> Option<Vec<(u64, Source)>> {
        let st = self.read_state(wait)?;
        // Overlays newest first, on the stack (there are at most
        // `1 + MAX_SEALED`): no allocation on the read path.
        let mut layers = [&st.active; 1 + MAX_SEALED];
        let mut n = 1;
        for s in st.sealed.iter().rev() {
            layers[n] = s.overlay.as_ref();
            n += 1;
        }
        let mut out = Vec::new();
        resolve(&layers[..n], &st.map, offset, len, &mut out);
        Some(out)
    }

    /// Copies into `buf` what memory holds of the range at `offset`
    /// (overlay bytes, zeros, cached segment pieces); answers the stretches
    /// of segments that are not cached, left for the caller to fetch.
    /// Without `wait`, `None` if the state is locked.
    fn fill<'b>(
        &self,
        buf: &'b mut [u8],
        offset: u64,
        wait: bool,
    ) -> io::Result<Option<Missing<'b>>> {
        self.check_open()?;
        let Some(plan) = self.plan(offset, buf.len() as u64, wait) else {
            return Ok(None);
        };
        let mut missing = Vec::new();
        let mut rest = buf;
        for (len, source) in plan {
            let (here, tail) = rest.split_at_mut(len as usize);
            rest = tail;
            match source {
                Source::Bytes(b) => here.copy_from_slice(&b),
                Source::Zero => here.fill(0),
                Source::Segment(l) => {
                    if !self.segments.try_copy(l.segment, l.offset, here) {
                        missing.push((l, here));
                    }
                }
            }
        }
        Ok(Some(missing))
    }

    /// The data and holes of a range; without `wait`, `None` if the state
    /// is locked.
    fn map_extents(&self, offset: u64, len: u64, wait: bool) -> io::Result<Option<Vec<Extent>>> {
        self.check_open()?;
        // Planned in windows that double in size, stopping once enough
        // extents are found: a block-status query over a huge range
        // costs what its answer holds, not what the range holds.
        let end = offset + len;
        let mut at = offset;
        let mut window = FIRST_EXTENT_WINDOW;
        let mut out: Vec<Extent> = Vec::new();
        while at < end && out.len() < ENOUGH_EXTENTS {
            let n = window.min(end - at);
            let Some(plan) = self.plan(at, n, wait) else {
                return Ok(None);
            };
            for (len, source) in plan {
                let hole = matches!(source, Source::Zero);
                match out.last_mut() {
                    Some(e) if e.hole == hole => e.len += len,
                    _ => out.push(Extent { len, hole }),
                }
            }
            at += n;
            window = window.saturating_mul(2);
        }
        Ok(Some(out))
    }

    /// Waits while this volume may not take more writes; fails if no pack
    /// will free room (the volume is closed or stopped, or packing ended).
    fn wait_for_room(&self) -> io::Result<()> {
        let over = || over_limit(&self.state.read().expect("volume lock"), &self.buffers);
        while over() {
            self.check_open()?;
            if self.buffers.packing_stopped() {
                return Err(io::Error::other("the volume service is stopping"));
            }
            self.buffers.pack_wanted.notify_one();
            let g = self.room.0.lock().expect("room lock");
            let _ = self
                .room
                .1
                .wait_timeout(g, Duration::from_millis(50))
                .expect("room lock");
        }
        // Room may have come from the volume stopping.
        self.check_open()
    }

    /// Appends a change to the journal and the overlay. With `wait`, first
    /// waits for the packer to make room if the journal is full; without,
    /// answers false (recording nothing) if it is.
    fn record(&self, offset: u64, len: u64, value: Written, wait: bool) -> io::Result<bool> {
        self.check_open()?;
        if wait {
            self.wait_for_room()?;
        }
        let mut st = match self.state.try_write() {
            Ok(st) => st,
            Err(TryLockError::WouldBlock) if !wait => return Ok(false),
            _ => self.state.write().expect("volume lock"),
        };
        // A pack's commit may have failed since the check above.
        self.check_open()?;
        if !wait && over_limit(&st, &self.buffers) {
            return Ok(false);
        }
        match &value {
            Written::Data(b) => st.journal.append_data(offset, b)?,
            Written::Zero => st.journal.append_zero(offset, len)?,
        }
        let held = match &value {
            Written::Data(_) => len,
            Written::Zero => 32,
        };
        st.active_bytes += held;
        self.buffers.hold(held);
        st.active.insert(offset, len, value);
        st.last_write = Instant::now();
        self.appended.fetch_add(1, Ordering::SeqCst);
        if st.active_bytes >= PACK_BYTES {
            self.buffers.pack_wanted.notify_one();
        }
        Ok(true)
    }

    /// What a pack should store: the oldest sealed overlay no pack is
    /// storing (one whose pack failed), else the overlay, sealed now
    /// (the journal moves to a new generation) if there is room.
    fn take_work(&self) -> io::Result<Option<(u64, Arc<RangeMap<Written>>)>> {
        // One seal at a time: the generation read here stays current while
        // the next file is made, outside the volume lock (a rename and a
        // directory sync), and neither reads nor writes wait for that.
        let _sealing = self.sealing.lock().expect("sealing lock");
        let generation = {
            let mut st = self.state.write().expect("volume lock");
            if let Some(s) = st.sealed.iter_mut().find(|s| !s.in_flight) {
                s.in_flight = true;
                return Ok(Some((s.generation, s.overlay.clone())));
            }
            if st.active_bytes == 0 || st.sealed.len() >= MAX_SEALED {
                return Ok(None);
            }
            st.journal.generation
        };
        let next = JournalFile::open(&self.dir, generation + 1)?;
        // Meanwhile the overlay only grew and sealed ones only committed.
        let mut st = self.state.write().expect("volume lock");
        debug_assert_eq!(st.journal.generation, generation);
        // Until the pack commits, the sealed data lives only in the
        // journal; FLUSH syncs the sealed file as well as the new one.
        let sync = std::mem::replace(&mut st.sync, Arc::new(next.handle()?));
        st.journal = next;
        let overlay = Arc::new(std::mem::replace(&mut st.active, RangeMap::new()));
        let bytes = std::mem::take(&mut st.active_bytes);
        st.sealed.push_back(Sealed {
            generation,
            overlay: overlay.clone(),
            sync,
            in_flight: true,
            bytes,
        });
        Ok(Some((generation, overlay)))
    }

    /// The sealed overlay of `generation` is no longer being stored.
    fn release(&self, generation: u64) {
        let mut st = self.state.write().expect("volume lock");
        if let Some(s) = st.sealed.iter_mut().find(|s| s.generation == generation) {
            s.in_flight = false;
        }
        drop(st);
        self.committed.notify_waiters();
    }

    /// Whether `generation` is the oldest sealed overlay (its turn to
    /// commit); `None` if an older one has no pack storing it (so this
    /// one cannot commit before a retry of that one).
    fn turn(&self, generation: u64) -> Option<bool> {
        let st = self.state.read().expect("volume lock");
        match st.sealed.front() {
            Some(s) if s.generation == generation => Some(true),
            Some(s) if !s.in_flight => None,
            _ => Some(false),
        }
    }

    fn commit(
        &self,
        generation: u64,
        segment: Option<u64>,
        placed: Vec<(u64, u64, Option<u64>)>,
    ) -> anyhow::Result<()> {
        let mut st = self.state.write().expect("volume lock");
        debug_assert_eq!(st.sealed.front().map(|s| s.generation), Some(generation));
        for (start, len, at) in placed {
            match (segment, at) {
                (Some(segment), Some(offset)) => {
                    st.map.insert(start, len, Located { segment, offset })
                }
                _ => st.map.remove(start, len),
            }
        }
        if let Err(e) = self
            .store
            .commit_pack(&self.id, &mut st.map, segment, generation)
        {
            tracing::error!(volume = %self.id, "pack commit failed; the volume stops: {e:#}");
            self.stop(st);
            return Err(e);
        }
        if let Some(s) = st.sealed.pop_front() {
            self.buffers.give_back(s.bytes);
        }
        drop(st);
        // The pack is committed: a journal file left behind is only space
        // (a later pack or the next start retires it), not a failure.
        if let Err(e) = self.retire_through(generation) {
            tracing::warn!(volume = %self.id, "cannot retire packed journal files: {e}");
        }
        self.room.1.notify_all();
        self.committed.notify_waiters();
        Ok(())
    }

    /// Stops the volume after a failure that leaves memory and disk
    /// disagreeing: it serves nothing more until a restart replays its
    /// journal, its memory goes back to the other volumes, and writers and
    /// packs waiting on it give up.
    fn stop(&self, mut st: std::sync::RwLockWriteGuard<'_, State>) {
        self.failed.store(true, Ordering::SeqCst);
        let mut sealed = 0;
        for s in st.sealed.iter_mut() {
            sealed += std::mem::take(&mut s.bytes);
            s.overlay = Arc::new(RangeMap::new());
        }
        st.active = RangeMap::new();
        self.buffers
            .give_back(std::mem::take(&mut st.active_bytes) + sealed);
        drop(st);
        self.room.1.notify_all();
        self.committed.notify_waiters();
    }

    /// Retires the journal files of generations up to `generation`.
    fn retire_through(&self, generation: u64) -> io::Result<()> {
        for g in journal::generations(&self.dir)? {
            if g <= generation {
                journal::retire(&self.dir, g)?;
            }
        }
        Ok(())
    }

    /// Packs an overlay into a segment (retrying one whose pack failed,
    /// or sealing the current one); answers whether it did. Up to
    /// `MAX_SEALED` packs store their segments at once; each commits in
    /// generation order.
    pub async fn pack(self: &Arc<Self>) -> anyhow::Result<bool> {
        let _slot = self.packs.acquire().await.expect("never closed");
        if self.check_open().is_err() {
            return Ok(false);
        }
        let started = Instant::now();
        let this = self.clone();
        let Some((generation, sealed)) =
            tokio::task::spawn_blocking(move || this.take_work()).await??
        else {
            return Ok(false);
        };
        match self.store_and_commit(generation, &sealed, started).await {
            Ok(()) => Ok(true),
            Err(e) => {
                self.release(generation);
                Err(e)
            }
        }
    }

    async fn store_and_commit(
        self: &Arc<Self>,
        generation: u64,
        sealed: &RangeMap<Written>,
        started: Instant,
    ) -> anyhow::Result<()> {
        // Sized once: growing it would copy and fault in pages again.
        let total: usize = sealed
            .iter()
            .map(|(_, len, w)| match w {
                Written::Data(_) => len as usize,
                Written::Zero => 0,
            })
            .sum();
        let mut data = BytesMut::with_capacity(total);
        let mut placed = Vec::new();
        for (start, len, w) in sealed.iter() {
            match w {
                Written::Data(b) => {
                    placed.push((start, len, Some(data.len() as u64)));
                    data.extend_from_slice(&b[..len as usize]);
                }
                Written::Zero => placed.push((start, len, None)),
            }
        }
        let bytes = data.len();
        let sealed_at = started.elapsed();
        let segment = if data.is_empty() {
            None
        } else {
            let id = self.store.allocate_segment();
            let data = data.freeze();
            if let Err(e) = self.segments.store.put(id, data.clone()).await {
                self.store.abandon_segment(id);
                return Err(e);
            }
            self.segments.stored(id, &data);
            Some(id)
        };
        let stored_at = started.elapsed();
        // Commits go in generation order: wait for older packs.
        loop {
            let committed = self.committed.notified();
            tokio::pin!(committed);
            committed.as_mut().enable();
            let gave_up = match self.turn(generation) {
                Some(true) => break,
                None => Some("an older pack failed; this one is retried after it"),
                Some(false) if self.closed.load(Ordering::SeqCst) => Some("the volume is closed"),
                Some(false) => None,
            };
            if let Some(why) = gave_up {
                // The stored segment is an orphan; the compactor removes it.
                if let Some(id) = segment {
                    self.store.abandon_segment(id);
                }
                anyhow::bail!("{why}");
            }
            committed.await;
        }
        let this = self.clone();
        let committed =
            tokio::task::spawn_blocking(move || this.commit(generation, segment, placed))
                .await
                .map_err(anyhow::Error::from)
                .and_then(|r| r);
        if let Err(e) = committed {
            if let Some(id) = segment {
                self.store.abandon_segment(id);
            }
            return Err(e);
        }
        tracing::debug!(
            volume = %self.id,
            ?segment,
            bytes,
            ?sealed_at,
            ?stored_at,
            took = ?started.elapsed(),
            "journal packed"
        );
        Ok(())
    }

    /// Whether everything written up to journal generation `target` is in
    /// the extent map.
    fn settled(&self, target: u64) -> bool {
        let st = self.state.read().expect("volume lock");
        st.sealed.front().is_none_or(|s| s.generation > target)
            && (st.journal.generation > target || st.active_bytes == 0)
    }

    /// For a volume without writes for `idle`: removes its spare journal
    /// file and cuts the current one to its records, so quiet volumes
    /// hold no recycled space.
    pub fn shrink_journal_if_idle(&self, idle: Duration) -> io::Result<()> {
        // A busy volume is told apart without blocking its readers.
        if self.state.read().expect("volume lock").last_write.elapsed() < idle {
            return Ok(());
        }
        let mut st = self.state.write().expect("volume lock");
        if st.last_write.elapsed() < idle || self.closed.load(Ordering::SeqCst) {
            return Ok(());
        }
        st.journal.trim()?;
        drop(st);
        journal::drop_spare(&self.dir)
    }

    /// Points the map's moved stretches at their copies and commits them.
    pub fn remap(&self, moves: &Moves) -> anyhow::Result<()> {
        let mut st = self.state.write().expect("volume lock");
        if moves.apply(&mut st.map) {
            self.store.commit_map(&self.id, &mut st.map)?;
        }
        Ok(())
    }

    /// Packs everything written so far and answers a copy of the extent map.
    pub async fn frozen_map(self: &Arc<Self>) -> anyhow::Result<RangeMap<Located>> {
        let target = self.state.read().expect("volume lock").journal.generation;
        loop {
            let committed = self.committed.notified();
            tokio::pin!(committed);
            committed.as_mut().enable();
            self.check_open()?;
            if self.settled(target) {
                break;
            }
            // Nothing to take means other packs hold it all: wait for them.
            if !self.pack().await? {
                committed.await;
            }
        }
        let st = self.state.read().expect("volume lock");
        let mut copy = RangeMap::new();
        for (s, l, v) in st.map.iter() {
            copy.load(s, l, *v);
        }
        Ok(copy)
    }
}

impl Drop for VolumeDevice {
    /// What it held in memory is freed with it.
    fn drop(&mut self) {
        if let Ok(st) = self.state.get_mut() {
            let sealed: u64 = st.sealed.iter().map(|s| s.bytes).sum();
            self.buffers.give_back(st.active_bytes + sealed);
        }
    }
}

impl BlockDevice for VolumeDevice {
    fn size(&self) -> u64 {
        self.size.load(Ordering::SeqCst)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let missing = self.fill(buf, offset, true)?.unwrap_or_default();
        if missing.is_empty() {
            return Ok(());
        }
        let segments = &self.segments;
        self.rt
            .block_on(futures::future::try_join_all(
                missing
                    .into_iter()
                    .map(|(l, here)| segments.read(l.segment, l.offset, here)),
            ))
            .map_err(io_err)?;
        Ok(())
    }

    fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        let len = data.len() as u64;
        let data = Written::Data(Bytes::copy_from_slice(data));
        self.record(offset, len, data, true).map(|_| ())
    }

    fn try_write_at(&self, data: &[u8], offset: u64) -> io::Result<bool> {
        let len = data.len() as u64;
        let data = Written::Data(Bytes::copy_from_slice(data));
        self.record(offset, len, data, false)
    }

    fn try_read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<bool> {
        Ok(self.fill(buf, offset, false)?.is_some_and(|m| m.is_empty()))
    }

    fn try_extents(&self, offset: u64, len: u64) -> io::Result<Option<Vec<Extent>>> {
        self.map_extents(offset, len, false)
    }

    fn zeroes_fast(&self, may_punch: bool) -> bool {
        // Allocated zeros are stored as data: no faster than writing.
        may_punch
    }

    /// Group commit: a FLUSH must cover every record appended before it
    /// began. A sync that starts later covers them, so flushes that queue
    /// behind one in progress mostly find themselves covered when it ends,
    /// and many concurrent flushes cost one or two syncs, not one each.
    fn flush(&self) -> io::Result<()> {
        self.check_open()?;
        let wanted = self.appended.load(Ordering::SeqCst);
        let mut synced = self.synced.lock().expect("sync lock");
        if *synced >= wanted {
            return Ok(());
        }
        // Read before the files are: every record it counts is in one of
        // them, or in a segment already committed.
        let covers = self.appended.load(Ordering::SeqCst);
        let files: Vec<Arc<std::fs::File>> = {
            let st = self.state.read().expect("volume lock");
            st.sealed
                .iter()
                .map(|s| s.sync.clone())
                .chain([st.sync.clone()])
                .collect()
        };
        for f in files {
            if let Err(e) = f.sync_data() {
                // The kernel may have dropped the pages it could not
                // write, and a later sync would succeed without them: the
                // volume stops until a restart replays what is on disk.
                tracing::error!(volume = %self.id, "journal sync failed; the volume stops: {e}");
                self.stop(self.state.write().expect("volume lock"));
                return Err(e);
            }
        }
        *synced = covers;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn trim(&self, offset: u64, len: u64) -> io::Result<()> {
        self.record(offset, len, Written::Zero, true).map(|_| ())
    }

    fn write_zeroes(&self, offset: u64, len: u64, may_punch: bool) -> io::Result<()> {
        if may_punch {
            // A hole reads as zeros; holes are how zeros are stored.
            return self.record(offset, len, Written::Zero, true).map(|_| ());
        }
        // The range must stay allocated: zeros are written as data (all
        // sharing one static buffer in memory).
        let end = offset + len;
        let mut at = offset;
        while at < end {
            let n = (end - at).min(ZEROS.len() as u64);
            let zeros = Written::Data(Bytes::from_static(&ZEROS[..n as usize]));
            self.record(at, n, zeros, true)?;
            at += n;
        }
        Ok(())
    }

    fn extents(&self, offset: u64, len: u64) -> io::Result<Vec<Extent>> {
        Ok(self.map_extents(offset, len, true)?.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests;
