//! `RingBuilder`: the public builder API and state — creating a ring,
//! adding/removing/reweighting devices, statistics, saving and loading.
//!
//! The rebalance engine itself lives in `rebalance.rs`; this module
//! only runs it and applies its result (moved-replica accounting,
//! `last_moved`, dropping drained devices, bumping the version).
//!
//! At most one replica slot of a partition moves per rebalance unless forced.

use std::path::Path;

use rand::RngCore;

use super::file::{self, DeviceRecord, RingData};
use super::rebalance;
use super::{Device, Ring, RingError, MAX_PART_POWER, MAX_REPLICAS, NONE_DEV};
use crate::ring::Result;

/// What [`RingBuilder::add_device`] needs to know about a new device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSpec {
    pub region: u32,
    pub zone: u32,
    pub host: String,
    pub device: String,
    pub weight: f64,
}

/// Outcome of [`RingBuilder::rebalance`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RebalanceReport {
    /// Replica slots whose device changed (initial assignments included).
    pub moved_replicas: u64,
    /// Worst absolute deviation of a device from its weight target, in %.
    pub balance_percent: f64,
}

/// Per-device partition statistics of a builder.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceStats {
    pub id: u32,
    /// Partition replicas assigned to the device.
    pub partitions: u64,
    /// `weight / total weight × 2^P × R`.
    pub target: f64,
    /// `(partitions - target) / target × 100`; infinite for a device with
    /// no weight that still holds partitions.
    pub balance_percent: f64,
    /// Removed, waiting for the next rebalance to drain it.
    pub removed: bool,
}

/// The mutable builder state of a ring; it is also what a ring file holds.
#[derive(Debug, Clone)]
pub struct RingBuilder {
    data: RingData,
}

fn check_weight(weight: f64) -> Result<()> {
    if weight.is_finite() && weight >= 0.0 {
        Ok(())
    } else {
        Err(RingError::InvalidParameter(format!(
            "weight must be a finite number >= 0, got {weight}"
        )))
    }
}

fn now_unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl RingBuilder {
    /// A new, empty ring with a fresh random hash key.
    pub fn new(part_power: u32, replicas: u32, min_part_hours: u32) -> Result<RingBuilder> {
        if !(1..=MAX_PART_POWER).contains(&part_power) {
            return Err(RingError::InvalidParameter(format!(
                "part power must be in 1..={MAX_PART_POWER}, got {part_power}"
            )));
        }
        if !(1..=MAX_REPLICAS).contains(&replicas) {
            return Err(RingError::InvalidParameter(format!(
                "replicas must be in 1..={MAX_REPLICAS}, got {replicas}"
            )));
        }
        let mut hash_key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut hash_key);
        let parts = 1usize << part_power;
        Ok(RingBuilder {
            data: RingData {
                part_power,
                replicas,
                min_part_hours,
                hash_key,
                version: 0,
                next_dev_id: 0,
                devices: Vec::new(),
                table: vec![vec![NONE_DEV; parts]; replicas as usize],
                last_moved: vec![0; parts],
            },
        })
    }

    /// Load a builder from a ring file.
    pub fn load(path: impl AsRef<Path>) -> Result<RingBuilder> {
        Ok(RingBuilder {
            data: file::read(path.as_ref())?,
        })
    }

    /// Atomically write the ring file, replacing any existing file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        file::write(path.as_ref(), &self.data, true)
    }

    /// Atomically write the ring file; fails with
    /// [`RingError::AlreadyExists`] rather than replace an existing file.
    pub fn save_new(&self, path: impl AsRef<Path>) -> Result<()> {
        file::write(path.as_ref(), &self.data, false)
    }

    /// The lookup view of the current state.
    pub fn ring(&self) -> Ring {
        Ring::from_data(self.data.clone())
    }

    pub fn part_power(&self) -> u32 {
        self.data.part_power
    }

    pub fn replicas(&self) -> u32 {
        self.data.replicas
    }

    pub fn min_part_hours(&self) -> u32 {
        self.data.min_part_hours
    }

    pub fn version(&self) -> u64 {
        self.data.version
    }

    /// All devices sorted by id, including removed ones still holding
    /// partitions (with weight 0).
    pub fn devices(&self) -> Vec<Device> {
        self.data.devices.iter().map(Device::from).collect()
    }

    fn find_live(&mut self, id: u32) -> Result<&mut DeviceRecord> {
        match self.data.devices.binary_search_by_key(&id, |d| d.id) {
            Ok(i) if !self.data.devices[i].removed => Ok(&mut self.data.devices[i]),
            _ => Err(RingError::NoSuchDevice(id)),
        }
    }

    /// Add a device (no partitions until the next rebalance); returns its id.
    pub fn add_device(&mut self, spec: DeviceSpec) -> Result<u32> {
        check_weight(spec.weight)?;
        if spec.host.trim().is_empty() || spec.device.trim().is_empty() {
            return Err(RingError::InvalidParameter(
                "host and device name must not be empty".into(),
            ));
        }
        if let Some(d) = self
            .data
            .devices
            .iter()
            .find(|d| !d.removed && d.host == spec.host && d.device == spec.device)
        {
            return Err(RingError::InvalidParameter(format!(
                "device {}/{} already exists as id {}",
                spec.host, spec.device, d.id
            )));
        }
        let id = self.data.next_dev_id;
        if id >= NONE_DEV - 1 {
            return Err(RingError::InvalidParameter("device ids exhausted".into()));
        }
        self.data.next_dev_id = id + 1;
        self.data.devices.push(DeviceRecord {
            id,
            region: spec.region,
            zone: spec.zone,
            host: spec.host,
            device: spec.device,
            weight: spec.weight,
            removed: false,
        });
        self.data.version += 1;
        Ok(id)
    }

    /// Change a device's weight (takes effect at the next rebalance).
    pub fn set_weight(&mut self, id: u32, weight: f64) -> Result<()> {
        check_weight(weight)?;
        self.find_live(id)?.weight = weight;
        self.data.version += 1;
        Ok(())
    }

    /// Remove a device: it keeps its partitions (with weight 0) until the
    /// next rebalance moves them all away; its id is never reused.
    pub fn remove_device(&mut self, id: u32) -> Result<()> {
        let dev = self.find_live(id)?;
        dev.removed = true;
        dev.weight = 0.0;
        if !self.data.table.iter().any(|row| row.contains(&id)) {
            self.data.devices.retain(|d| d.id != id);
        }
        self.data.version += 1;
        Ok(())
    }

    /// Partition counts and balance of every device.
    pub fn device_stats(&self) -> Vec<DeviceStats> {
        let total_w: f64 = self.data.devices.iter().map(|d| d.weight).sum();
        let replicas = f64::from(self.data.replicas) * (1u64 << self.data.part_power) as f64;
        let mut counts = vec![0u64; self.data.next_dev_id as usize];
        for &id in self.data.table.iter().flatten() {
            if let Some(c) = counts.get_mut(id as usize) {
                *c += 1;
            }
        }
        self.data
            .devices
            .iter()
            .map(|d| {
                let partitions = counts.get(d.id as usize).copied().unwrap_or(0);
                let target = if total_w > 0.0 {
                    d.weight / total_w * replicas
                } else {
                    0.0
                };
                let balance_percent = if target > 0.0 {
                    (partitions as f64 - target) / target * 100.0
                } else if partitions == 0 {
                    0.0
                } else {
                    f64::INFINITY
                };
                DeviceStats {
                    id: d.id,
                    partitions,
                    target,
                    balance_percent,
                    removed: d.removed,
                }
            })
            .collect()
    }

    /// Worst absolute balance of any device that has weight or partitions.
    pub fn balance_percent(&self) -> f64 {
        self.device_stats()
            .iter()
            .filter(|s| s.target > 0.0 || s.partitions > 0)
            .map(|s| s.balance_percent.abs())
            .fold(0.0, f64::max)
    }

    /// Rebalance now (see the `rebalance` module docs); bumps the version.
    pub fn rebalance(&mut self) -> Result<RebalanceReport> {
        self.rebalance_at(now_unix_secs())
    }

    /// Rebalance as if the current time were `now` (unix seconds), which
    /// decides which partitions `min_part_hours` still pins.
    pub fn rebalance_at(&mut self, now: u64) -> Result<RebalanceReport> {
        let table = rebalance::rebalance_table(&self.data, now)?;
        let old = std::mem::replace(&mut self.data.table, table);
        self.data.devices.retain(|d| !d.removed);
        let mut moved = 0u64;
        for (new_row, old_row) in self.data.table.iter().zip(&old) {
            for (p, (n, o)) in new_row.iter().zip(old_row).enumerate() {
                if n != o {
                    moved += 1;
                    self.data.last_moved[p] = now;
                }
            }
        }
        self.data.version += 1;
        Ok(RebalanceReport {
            moved_replicas: moved,
            balance_percent: self.balance_percent(),
        })
    }
}
