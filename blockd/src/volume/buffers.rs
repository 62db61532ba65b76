//! `WriteBuffers`: what the volumes of one service share about writes
//! held in memory until packed (overlays, active and sealed): a byte
//! count bounded service-wide, and the signal that asks for packs. Each
//! volume holds at most three overlays of up to 64 MiB; without a shared
//! bound, many busy volumes at once could hold any amount of memory.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::Notify;

/// The service-wide bound on unpacked bytes.
pub const DEFAULT_LIMIT: u64 = 1 << 30;

pub struct WriteBuffers {
    /// Wakes the packer.
    pub pack_wanted: Notify,
    held: AtomicU64,
    limit: u64,
    /// Set once no pack will run any more (the service is stopping).
    stopped: AtomicBool,
}

impl WriteBuffers {
    pub fn new(limit: u64) -> WriteBuffers {
        WriteBuffers {
            pack_wanted: Notify::new(),
            held: AtomicU64::new(0),
            limit,
            stopped: AtomicBool::new(false),
        }
    }

    /// Says no pack will run any more: writers waiting for room give up
    /// (they look at least every 50 ms), and so do volumes opened later.
    pub fn stop_packing(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    /// Whether packing has stopped for good.
    pub fn packing_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Counts `n` more bytes held.
    pub fn hold(&self, n: u64) {
        self.held.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` bytes given back.
    pub fn give_back(&self, n: u64) {
        self.held.fetch_sub(n, Ordering::Relaxed);
    }

    /// Whether the bound is reached: volumes holding anything wait for
    /// their packs before taking more, and pack whatever they hold.
    pub fn full(&self) -> bool {
        self.held.load(Ordering::Relaxed) >= self.limit
    }

    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }
}

impl Default for WriteBuffers {
    fn default() -> WriteBuffers {
        WriteBuffers::new(DEFAULT_LIMIT)
    }
}
