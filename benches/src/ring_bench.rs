//! The `ring` benchmark: pure computation on `objectd::ring::RingBuilder`.
//! For each host count N it builds a balanced ring of N hosts (one device
//! each, equal weights), adds one more host and rebalances, and reports the
//! fraction of replicas that moved against the ideal `1/(N+1)`, the balance
//! after the move and how long that rebalance took.
//!
//! Zones: host `i` is in zone `i % replicas + 1` (as `cairn up` lays out
//! its devices), so hosts spread over `replicas` zones; the added host
//! continues the pattern. All hosts are in region 1. `min_part_hours` is 0.
//! The builder moves at most one replica of a partition per rebalance (like
//! Swift), which never limits these figures because `N >= replicas` makes
//! the ideal fraction `1/(N+1)` smaller than `1/replicas`.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use objectd::ring::{DeviceSpec, RingBuilder, MAX_PART_POWER, MAX_REPLICAS};

use crate::report::Report;

/// Seconds between the two rebalances (only matters with `min_part_hours`
/// > 0; kept so the second rebalance is never pinned).
const REBALANCE_GAP_SECS: u64 = 3600;
/// Weight of every device.
const WEIGHT: f64 = 100.0;

/// What the ring benchmark computes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingConfig {
    pub part_power: u32,
    pub replicas: u32,
    /// Host counts N; each gets a ring of N hosts plus one added.
    pub devices: Vec<u32>,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            part_power: 14,
            replicas: 3,
            devices: vec![3, 6, 12, 24],
        }
    }
}

impl RingConfig {
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_PART_POWER).contains(&self.part_power) {
            bail!("--part-power must be in 1..={MAX_PART_POWER}");
        }
        if !(1..=MAX_REPLICAS).contains(&self.replicas) {
            bail!("--replicas must be in 1..={MAX_REPLICAS}");
        }
        if self.devices.is_empty() {
            bail!("--devices needs at least one host count");
        }
        if let Some(n) = self.devices.iter().find(|&&n| n < self.replicas) {
            bail!(
                "--devices: {n} hosts cannot hold {} distinct replicas (need N >= --replicas)",
                self.replicas
            );
        }
        Ok(())
    }
}

/// Replica slots of a ring: `2^P × R`.
pub fn replica_slots(part_power: u32, replicas: u32) -> u64 {
    (1u64 << part_power) * u64::from(replicas)
}

/// Fraction of all replica slots that moved.
pub fn moved_fraction(moved_replicas: u64, part_power: u32, replicas: u32) -> f64 {
    moved_replicas as f64 / replica_slots(part_power, replicas) as f64
}

/// The least fraction of replicas that must move when one host of equal
/// weight joins `n` hosts: the newcomer's share, `1/(n+1)`.
pub fn ideal_fraction(n: u32) -> f64 {
    1.0 / (f64::from(n) + 1.0)
}

/// The `i`-th host of a benchmark ring (0-based).
pub fn host_spec(i: u32, replicas: u32) -> DeviceSpec {
    DeviceSpec {
        region: 1,
        zone: i % replicas.max(1) + 1,
        host: format!("10.0.{}.{}:6200", i / 250, i % 250 + 1),
        device: "d0".into(),
        weight: WEIGHT,
    }
}

/// Figures of one host count.
#[derive(Debug, Clone, PartialEq)]
pub struct AddOne {
    pub hosts: u32,
    pub moved_replicas: u64,
    pub moved_fraction: f64,
    pub ideal: f64,
    pub balance_percent: f64,
    pub rebalance_ms: f64,
}

/// Builds a balanced ring of `n` hosts, adds one and rebalances.
pub fn add_one(part_power: u32, replicas: u32, n: u32) -> Result<AddOne> {
    let mut builder = RingBuilder::new(part_power, replicas, 0).context("new ring builder")?;
    for i in 0..n {
        builder.add_device(host_spec(i, replicas))?;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs());
    builder.rebalance_at(now).context("initial rebalance")?;
    builder.add_device(host_spec(n, replicas))?;
    let started = Instant::now();
    let rebalanced = builder
        .rebalance_at(now + REBALANCE_GAP_SECS)
        .context("rebalance after adding a host")?;
    let rebalance_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(AddOne {
        hosts: n,
        moved_replicas: rebalanced.moved_replicas,
        moved_fraction: moved_fraction(rebalanced.moved_replicas, part_power, replicas),
        ideal: ideal_fraction(n),
        balance_percent: rebalanced.balance_percent,
        rebalance_ms,
    })
}

fn log(message: impl AsRef<str>) {
    eprintln!("# {}", message.as_ref());
}

/// Runs the ring benchmark, pushing figures into `report`.
pub fn run_ring(cfg: &RingConfig, report: &mut Report) -> Result<()> {
    cfg.validate()?;
    log(format!(
        "ring: part power {}, {} replicas, {} replica slots; zone = host % {} + 1",
        cfg.part_power,
        cfg.replicas,
        replica_slots(cfg.part_power, cfg.replicas),
        cfg.replicas
    ));
    for &n in &cfg.devices {
        log(format!("ring: {n} hosts, adding 1"));
        let r = add_one(cfg.part_power, cfg.replicas, n)?;
        log(format!(
            "ring: {n} -> {}: {} replicas moved",
            n + 1,
            r.moved_replicas
        ));
        report.push(
            format!("ring.add_1_of_{n}_moved_fraction"),
            r.moved_fraction,
            4,
        );
        report.push(format!("ring.add_1_of_{n}_ideal"), r.ideal, 4);
        report.push(
            format!("ring.add_1_of_{n}_balance_pct"),
            r.balance_percent,
            2,
        );
        report.push(format!("ring.rebalance_{n}_ms"), r.rebalance_ms, 3);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions() {
        assert_eq!(replica_slots(14, 3), 49_152);
        assert_eq!(moved_fraction(12_288, 14, 3), 0.25);
        assert_eq!(ideal_fraction(3), 0.25);
        assert!((ideal_fraction(24) - 0.04).abs() < 1e-12);
    }

    #[test]
    fn hosts_are_distinct_and_spread_over_zones() {
        let specs: Vec<_> = (0..600).map(|i| host_spec(i, 3)).collect();
        let hosts: std::collections::BTreeSet<_> = specs.iter().map(|s| &s.host).collect();
        assert_eq!(hosts.len(), 600);
        assert_eq!(
            specs[..4].iter().map(|s| s.zone).collect::<Vec<_>>(),
            [1, 2, 3, 1]
        );
    }

    #[test]
    fn validates() {
        RingConfig::default().validate().unwrap();
        let few = RingConfig {
            devices: vec![2],
            ..RingConfig::default()
        };
        assert!(few.validate().is_err());
        let none = RingConfig {
            devices: vec![],
            ..RingConfig::default()
        };
        assert!(none.validate().is_err());
        let big = RingConfig {
            part_power: 40,
            ..RingConfig::default()
        };
        assert!(big.validate().is_err());
    }

    #[test]
    fn adding_a_host_moves_about_its_share() {
        let r = add_one(8, 3, 6).unwrap();
        assert!(r.moved_replicas > 0);
        assert!(
            r.moved_fraction >= 0.8 * r.ideal && r.moved_fraction <= 1.3 * r.ideal,
            "{r:?}"
        );
        assert!(r.rebalance_ms >= 0.0);
    }
}
