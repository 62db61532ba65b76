//! The `objectd ring create|add|set-weight|remove|rebalance|show`
//! subcommand: argument parsing ([`RingCommand`]) and execution ([`run`]).
//!
//! `add`, `set-weight` and `remove` change the builder state stored in the
//! ring file without reassigning partitions; `rebalance` reassigns them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use super::{DeviceSpec, RingBuilder};

/// Ring file maintenance commands.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum RingCommand {
    /// Create a new, empty ring file (never overwrites an existing file).
    Create {
        file: PathBuf,
        /// The ring has 2^part_power partitions (1..=22).
        #[arg(long)]
        part_power: u32,
        /// Replicas of every partition (1..=16).
        #[arg(long)]
        replicas: u32,
        /// Hours a moved partition stays put before it may move again.
        #[arg(long, default_value_t = 1)]
        min_part_hours: u32,
    },
    /// Add a device (takes partitions at the next rebalance).
    Add {
        file: PathBuf,
        #[arg(long)]
        region: u32,
        #[arg(long)]
        zone: u32,
        /// Object server address, `ip:port`.
        #[arg(long)]
        host: String,
        /// Device name on that host, e.g. `d0`.
        #[arg(long)]
        device: String,
        #[arg(long)]
        weight: f64,
    },
    /// Change a device's weight (takes effect at the next rebalance).
    SetWeight { file: PathBuf, id: u32, weight: f64 },
    /// Remove a device (its partitions move away at the next rebalance).
    Remove { file: PathBuf, id: u32 },
    /// Reassign partitions to match the devices and weights.
    Rebalance { file: PathBuf },
    /// Print the ring's parameters and devices.
    Show { file: PathBuf },
}

fn load(file: &Path) -> anyhow::Result<RingBuilder> {
    RingBuilder::load(file).with_context(|| format!("load ring {}", file.display()))
}

fn save(builder: &RingBuilder, file: &Path) -> anyhow::Result<()> {
    builder
        .save(file)
        .with_context(|| format!("save ring {}", file.display()))
}

/// Execute one ring command, printing its outcome to stdout.
pub fn run(cmd: RingCommand) -> anyhow::Result<()> {
    match cmd {
        RingCommand::Create {
            file,
            part_power,
            replicas,
            min_part_hours,
        } => {
            let b = RingBuilder::new(part_power, replicas, min_part_hours)?;
            b.save_new(&file)
                .with_context(|| format!("create ring {}", file.display()))?;
            println!(
                "created {}: part power {part_power}, {replicas} replicas, min_part_hours {min_part_hours}",
                file.display()
            );
        }
        RingCommand::Add {
            file,
            region,
            zone,
            host,
            device,
            weight,
        } => {
            let mut b = load(&file)?;
            let id = b.add_device(DeviceSpec {
                region,
                zone,
                host: host.clone(),
                device: device.clone(),
                weight,
            })?;
            save(&b, &file)?;
            println!("added device {id}: r{region}z{zone}-{host}/{device} weight {weight}");
        }
        RingCommand::SetWeight { file, id, weight } => {
            let mut b = load(&file)?;
            b.set_weight(id, weight)?;
            save(&b, &file)?;
            println!("device {id} weight set to {weight}");
        }
        RingCommand::Remove { file, id } => {
            let mut b = load(&file)?;
            b.remove_device(id)?;
            save(&b, &file)?;
            println!("device {id} removed (partitions move at the next rebalance)");
        }
        RingCommand::Rebalance { file } => {
            let mut b = load(&file)?;
            let report = b.rebalance()?;
            save(&b, &file)?;
            println!(
                "rebalanced to version {}: moved {} replicas, balance {:.2}%",
                b.version(),
                report.moved_replicas,
                report.balance_percent
            );
        }
        RingCommand::Show { file } => {
            let b = load(&file)?;
            print!("{}", show(&b));
        }
    }
    Ok(())
}

/// The `show` report.
pub(crate) fn show(b: &RingBuilder) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let devices = b.devices();
    let _ = writeln!(
        out,
        "version {}\npart power {} ({} partitions)\nreplicas {}\nmin_part_hours {}\n{} devices, balance {:.2}%",
        b.version(),
        b.part_power(),
        1u64 << b.part_power(),
        b.replicas(),
        b.min_part_hours(),
        devices.len(),
        b.balance_percent()
    );
    let _ = writeln!(
        out,
        "{:>5} {:>6} {:>5} {:<22} {:<10} {:>10} {:>10} {:>9}",
        "id", "region", "zone", "host", "device", "weight", "partitions", "balance%"
    );
    for (d, s) in devices.iter().zip(b.device_stats()) {
        let _ = writeln!(
            out,
            "{:>5} {:>6} {:>5} {:<22} {:<10} {:>10.2} {:>10} {:>9.2}{}",
            d.id,
            d.region,
            d.zone,
            d.host,
            d.device,
            d.weight,
            s.partitions,
            s.balance_percent,
            if s.removed { " (removed)" } else { "" }
        );
    }
    out
}
