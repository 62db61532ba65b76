//! The `ec` benchmark: pure computation on `objectd::ec::EcScheme` on one
//! core: encode GiB/s of whole segments, and decode GiB/s of segments
//! with `m` data fragments missing (the degraded-read worst case). Bytes
//! counted are body bytes.

use std::time::{Duration, Instant};

use anyhow::Result;
use objectd::ec::EcScheme;

use crate::Report;

/// What to measure.
#[derive(Debug, Clone)]
pub struct EcConfig {
    pub k: usize,
    pub m: usize,
    pub segment_size: usize,
    pub duration: Duration,
}

/// Runs encode and degraded decode for `duration` each.
pub fn run_ec(cfg: &EcConfig, report: &mut Report) -> Result<()> {
    let s = EcScheme::new(cfg.k, cfg.m, cfg.segment_size)?;
    let segment: Vec<u8> = (0..cfg.segment_size).map(|i| (i * 7) as u8).collect();
    let started = Instant::now();
    let mut bytes = 0u64;
    let mut fragments = vec![Vec::new(); s.width()];
    while started.elapsed() < cfg.duration {
        s.encode_into(&segment, &mut fragments)?;
        bytes += segment.len() as u64;
    }
    let gib = |b: u64, t: Duration| b as f64 / (1u64 << 30) as f64 / t.as_secs_f64();
    report.push("ec.encode_gib_per_s", gib(bytes, started.elapsed()), 2);
    let mut shards = fragments.clone();
    let present: Vec<bool> = (0..s.width()).map(|i| i >= cfg.m).collect();
    let started = Instant::now();
    let mut bytes = 0u64;
    while started.elapsed() < cfg.duration {
        // The first m (data) fragments are lost: the worst-case decode.
        for shard in shards.iter_mut().take(cfg.m) {
            shard.fill(0);
        }
        s.decode_in_place(&mut shards, &present, segment.len())?;
        bytes += segment.len() as u64;
    }
    anyhow::ensure!(
        shards[..cfg.k].concat()[..segment.len()] == segment[..],
        "decode returned different bytes"
    );
    report.push(
        "ec.decode_degraded_gib_per_s",
        gib(bytes, started.elapsed()),
        2,
    );
    Ok(())
}
