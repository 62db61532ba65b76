//! Tests of the ring module: hashing, lookups, balance, dispersion, minimal
//! movement, `min_part_hours`, the file format and the CLI.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

const T0: u64 = 1_700_000_000;
const HOUR: u64 = 3600;

fn spec(region: u32, zone: u32, host: &str, device: &str, weight: f64) -> DeviceSpec {
    DeviceSpec {
        region,
        zone,
        host: host.to_string(),
        device: device.to_string(),
        weight,
    }
}

/// `n` equal devices in one region/zone, device `i` on host `host_of(i)`.
fn flat(part_power: u32, replicas: u32, n: usize, host_of: impl Fn(usize) -> usize) -> RingBuilder {
    let mut b = RingBuilder::new(part_power, replicas, 0).expect("valid params");
    for i in 0..n {
        let host = format!("10.0.0.{}:6200", host_of(i));
        b.add_device(spec(1, 1, &host, &format!("d{i}"), 100.0))
            .expect("add");
    }
    b
}

fn counts(ring: &Ring) -> BTreeMap<u32, usize> {
    let mut c: BTreeMap<u32, usize> = ring.devices().iter().map(|d| (d.id, 0)).collect();
    for p in 0..ring.partition_count() {
        for d in ring.primaries(p) {
            *c.entry(d.id).or_default() += 1;
        }
    }
    c
}

/// Per partition, the primary device ids in replica order.
fn assignment(ring: &Ring) -> Vec<Vec<u32>> {
    (0..ring.partition_count())
        .map(|p| ring.primaries(p).iter().map(|d| d.id).collect())
        .collect()
}

/// Replicas whose device differs between two assignments (per slot).
fn moved(a: &[Vec<u32>], b: &[Vec<u32>]) -> usize {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.iter().zip(y).filter(|(p, q)| p != q).count())
        .sum()
}

/// Asserts every weighted device is within `pct` % of its weight target.
fn assert_balanced(ring: &Ring, pct: f64) {
    let total_w: f64 = ring.devices().iter().map(|d| d.weight).sum();
    let replicas = f64::from(ring.partition_count() * ring.replicas());
    for (id, n) in counts(ring) {
        let d = ring.device(id).expect("device");
        let target = d.weight / total_w * replicas;
        let dev = (n as f64 - target).abs() / target * 100.0;
        assert!(
            dev <= pct,
            "device {id}: {n} parts vs target {target:.2} ({dev:.2}%)"
        );
    }
}

fn assert_distinct(ring: &Ring) {
    for p in 0..ring.partition_count() {
        let ids: BTreeSet<u32> = ring.primaries(p).iter().map(|d| d.id).collect();
        assert_eq!(ids.len(), ring.replicas() as usize, "partition {p}");
    }
}

#[test]
fn hash_path_and_partition() {
    let key = [7u8; 32];
    let a = hash_path(&key, "AUTH_a", None, None);
    let c = hash_path(&key, "AUTH_a", Some("c"), None);
    let o = hash_path(&key, "AUTH_a", Some("c"), Some("o"));
    assert!(a != c && c != o && a != o);
    assert_eq!(o, hash_path(&key, "AUTH_a", Some("c"), Some("o")));
    assert_ne!(o, hash_path(&[8u8; 32], "AUTH_a", Some("c"), Some("o")));
    let mut expect = [0u8; 16];
    expect.copy_from_slice(&blake3::keyed_hash(&key, b"/AUTH_a/c/o").as_bytes()[..16]);
    assert_eq!(o, expect);

    let b = flat(10, 3, 3, |i| i);
    let ring = b.ring();
    let h = ring.hash_path("AUTH_a", Some("c"), Some("o"));
    let top = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    assert_eq!(ring.partition_for_hash(&h), top >> 22);
    assert_eq!(ring.partition("AUTH_a", Some("c"), Some("o")), top >> 22);
    assert_eq!(ring.partition_for_hash(&[0xff; 16]), 1023);
    assert_eq!(ring.partition_for_hash(&[0; 16]), 0);
}

#[test]
fn equal_weights_balance_within_1_percent() {
    let mut b = flat(10, 3, 6, |i| i);
    let report = b.rebalance_at(T0).expect("rebalance");
    let ring = b.ring();
    assert_eq!(report.moved_replicas, 3 * 1024);
    assert!(report.balance_percent < 1.0, "{report:?}");
    assert_balanced(&ring, 1.0);
    assert_distinct(&ring);
    assert_eq!(ring.version(), 7, "6 adds + 1 rebalance");
}

#[test]
fn builder_rejects_bad_input() {
    assert!(RingBuilder::new(0, 3, 1).is_err());
    assert!(RingBuilder::new(23, 3, 1).is_err());
    assert!(RingBuilder::new(8, 0, 1).is_err());
    assert!(RingBuilder::new(8, 17, 1).is_err());
    let mut b = RingBuilder::new(8, 3, 1).expect("valid");
    assert!(matches!(b.rebalance(), Err(RingError::NoActiveDevices)));
    assert!(b.add_device(spec(1, 1, "h:1", "d0", -1.0)).is_err());
    assert!(b.add_device(spec(1, 1, "h:1", "d0", f64::NAN)).is_err());
    assert!(b.add_device(spec(1, 1, "", "d0", 1.0)).is_err());
    assert_eq!(b.add_device(spec(1, 1, "h:1", "d0", 1.0)).expect("add"), 0);
    assert!(
        b.add_device(spec(1, 1, "h:1", "d0", 1.0)).is_err(),
        "duplicate"
    );
    assert!(matches!(
        b.set_weight(5, 1.0),
        Err(RingError::NoSuchDevice(5))
    ));
    assert!(matches!(
        b.remove_device(5),
        Err(RingError::NoSuchDevice(5))
    ));
    // Removing a device holding nothing drops it, and its id is not reused.
    b.remove_device(0).expect("remove");
    assert!(b.devices().is_empty());
    assert_eq!(b.add_device(spec(1, 1, "h:1", "d0", 1.0)).expect("add"), 1);
}

#[test]
fn fewer_devices_than_replicas_still_places_everything() {
    let mut b = flat(6, 3, 2, |i| i);
    b.rebalance_at(T0).expect("rebalance");
    let ring = b.ring();
    for p in 0..ring.partition_count() {
        assert_eq!(ring.primaries(p).len(), 2, "both devices, deduplicated");
        assert_eq!(ring.handoffs(p).count(), 0);
    }
}

#[test]
fn adding_a_device_moves_about_one_nth() {
    for n in [3usize, 5, 6, 8, 11, 23] {
        let mut b = flat(10, 3, n, |i| i);
        b.rebalance_at(T0).expect("rebalance");
        let before = assignment(&b.ring());
        b.add_device(spec(1, 1, "10.0.1.1:6200", "new", 100.0))
            .expect("add");
        let report = b.rebalance_at(T0 + 2 * HOUR).expect("rebalance");
        let ring = b.ring();
        let ideal = 3.0 * 1024.0 / (n as f64 + 1.0);
        let m = moved(&before, &assignment(&ring));
        assert_eq!(m as u64, report.moved_replicas);
        assert!(
            m as f64 >= 0.95 * ideal && m as f64 <= 1.05 * ideal,
            "n={n}: moved {m}, ideal {ideal:.1}"
        );
        assert_balanced(&ring, 1.0);
        assert_distinct(&ring);
    }
}

#[test]
fn removing_a_device_moves_only_its_replicas() {
    let mut b = flat(10, 3, 8, |i| i);
    b.rebalance_at(T0).expect("rebalance");
    let before = assignment(&b.ring());
    let held = counts(&b.ring())[&3];
    b.remove_device(3).expect("remove");
    // Not reassigned until the rebalance: the device still serves reads.
    assert_eq!(assignment(&b.ring()), before);
    assert_eq!(b.ring().device(3).map(|d| d.weight), Some(0.0));
    // Within min_part_hours: forced moves only.
    let report = b.rebalance_at(T0 + 60).expect("rebalance");
    let ring = b.ring();
    let after = assignment(&ring);
    assert_eq!(report.moved_replicas as usize, held);
    for (old, new) in before.iter().zip(&after) {
        for (o, n) in old.iter().zip(new) {
            assert!(o == n || *o == 3, "only replicas of device 3 move");
        }
    }
    assert!(ring.device(3).is_none(), "removed device dropped");
    assert_balanced(&ring, 1.0);
    assert_distinct(&ring);
}

#[test]
fn three_zones_every_partition_spans_three_zones() {
    // Unequal device counts per zone, equal zone weights.
    let mut b = RingBuilder::new(10, 3, 1).expect("valid");
    let layout = [(1, 2, 150.0), (2, 3, 100.0), (3, 1, 300.0)];
    for (zone, devs, weight) in layout {
        for i in 0..devs {
            let host = format!("10.0.{zone}.{i}:6200");
            b.add_device(spec(1, zone, &host, "d0", weight))
                .expect("add");
        }
    }
    b.rebalance_at(T0).expect("rebalance");
    let ring = b.ring();
    for p in 0..ring.partition_count() {
        let zones: BTreeSet<u32> = ring.primaries(p).iter().map(|d| d.zone).collect();
        assert_eq!(zones.len(), 3, "partition {p}");
    }
    assert_balanced(&ring, 1.0);
}

#[test]
fn two_regions_are_both_used() {
    let mut b = RingBuilder::new(8, 3, 0).expect("valid");
    for r in 1..=2 {
        for z in 1..=2 {
            let host = format!("10.{r}.{z}.1:6200");
            b.add_device(spec(r, z, &host, "d0", 100.0)).expect("add");
        }
    }
    b.rebalance_at(T0).expect("rebalance");
    let ring = b.ring();
    for p in 0..ring.partition_count() {
        let regions: BTreeSet<u32> = ring.primaries(p).iter().map(|d| d.region).collect();
        assert_eq!(regions.len(), 2, "partition {p}");
    }
    assert_balanced(&ring, 1.0);
}

#[test]
fn double_weight_gets_double_partitions() {
    let mut b = flat(10, 3, 6, |i| i);
    b.set_weight(2, 200.0).expect("weight");
    b.rebalance_at(T0).expect("rebalance");
    let ring = b.ring();
    assert_balanced(&ring, 1.0);
    let c = counts(&ring);
    let ratio = c[&2] as f64 / c[&0] as f64;
    assert!((ratio - 2.0).abs() < 0.03, "ratio {ratio}");
    assert_distinct(&ring);
}

#[test]
fn min_part_hours_pins_recently_moved_partitions() {
    let mut b = flat(10, 3, 6, |i| i);
    let mut b1 = RingBuilder::new(10, 3, 1).expect("valid");
    for d in b.devices() {
        b1.add_device(spec(d.region, d.zone, &d.host, &d.device, d.weight))
            .expect("add");
    }
    b = b1;
    b.rebalance_at(T0).expect("rebalance");
    // Right after the initial build every partition is pinned.
    let r0 = assignment(&b.ring());
    b.set_weight(0, 300.0).expect("weight");
    assert_eq!(
        b.rebalance_at(T0 + 60).expect("rebalance").moved_replicas,
        0
    );
    assert_eq!(assignment(&b.ring()), r0);

    // Later, the weight change moves some partitions.
    let r1 = b.rebalance_at(T0 + 2 * HOUR).expect("rebalance");
    let a1 = assignment(&b.ring());
    assert!(r1.moved_replicas > 0);
    let moved1: BTreeSet<usize> = (0..a1.len()).filter(|&p| a1[p] != r0[p]).collect();
    for p in &moved1 {
        let changed = a1[*p].iter().zip(&r0[*p]).filter(|(x, y)| x != y).count();
        assert_eq!(changed, 1, "one replica of a partition per rebalance");
    }

    // Another weight change shortly after: those partitions stay put.
    b.set_weight(1, 300.0).expect("weight");
    let r2 = b.rebalance_at(T0 + 2 * HOUR + 60).expect("rebalance");
    let a2 = assignment(&b.ring());
    assert!(r2.moved_replicas > 0);
    for p in 0..a2.len() {
        if a2[p] != a1[p] {
            assert!(
                !moved1.contains(&p),
                "partition {p} moved twice within min_part_hours"
            );
        }
    }

    // A removal forces moves even of recently moved partitions.
    let held: usize = counts(&b.ring())[&0];
    b.remove_device(0).expect("remove");
    let r3 = b.rebalance_at(T0 + 2 * HOUR + 120).expect("rebalance");
    assert_eq!(r3.moved_replicas as usize, held);
    assert!(b.ring().primaries(0).iter().all(|d| d.id != 0));
    assert!(counts(&b.ring()).values().all(|&c| c > 0));
}

#[test]
fn geometry_change_converges_one_replica_per_partition_per_rebalance() {
    let mut b = RingBuilder::new(8, 3, 1).expect("valid");
    for i in 0..4 {
        b.add_device(spec(1, 1, &format!("10.0.1.{i}:6200"), "d0", 100.0))
            .expect("add");
    }
    b.rebalance_at(T0).expect("rebalance");
    for i in 0..3 {
        b.add_device(spec(1, 2, &format!("10.0.2.{i}:6200"), "d0", 150.0))
            .expect("add");
    }
    let mut now = T0;
    for round in 0..4 {
        now += 2 * HOUR;
        let before = assignment(&b.ring());
        b.rebalance_at(now).expect("rebalance");
        let after = assignment(&b.ring());
        for (p, (x, y)) in before.iter().zip(&after).enumerate() {
            let changed = x.iter().zip(y).filter(|(a, b)| a != b).count();
            assert!(
                changed <= 1,
                "round {round}: partition {p} moved {changed} replicas"
            );
        }
    }
    let ring = b.ring();
    assert_balanced(&ring, 1.0);
    assert_distinct(&ring);
    for p in 0..ring.partition_count() {
        let zones: BTreeSet<u32> = ring.primaries(p).iter().map(|d| d.zone).collect();
        assert_eq!(zones.len(), 2, "both zones hold partition {p}");
    }
}

#[test]
fn rebalance_is_deterministic() {
    let mut a = flat(9, 3, 7, |i| i % 3);
    a.rebalance_at(T0).expect("rebalance");
    a.add_device(spec(1, 1, "10.0.0.9:6200", "x", 150.0))
        .expect("add");
    let mut b = a.clone();
    a.rebalance_at(T0 + 5 * HOUR).expect("rebalance");
    b.rebalance_at(T0 + 5 * HOUR).expect("rebalance");
    assert_eq!(assignment(&a.ring()), assignment(&b.ring()));
}

#[test]
fn handoffs_exclude_primaries_and_list_every_other_active_device() {
    let mut b = RingBuilder::new(8, 3, 0).expect("valid");
    for z in 1..=4 {
        for h in 0..2 {
            let host = format!("10.0.{z}.{h}:6200");
            b.add_device(spec(1, z, &host, "d0", 100.0)).expect("add");
        }
    }
    b.add_device(spec(1, 1, "10.0.9.9:6200", "zero", 0.0))
        .expect("add");
    b.rebalance_at(T0).expect("rebalance");
    let ring = b.ring();
    let active: BTreeSet<u32> = ring
        .devices()
        .iter()
        .filter(|d| d.weight > 0.0)
        .map(|d| d.id)
        .collect();
    for p in 0..ring.partition_count() {
        let prim: BTreeSet<u32> = ring.primaries(p).iter().map(|d| d.id).collect();
        let hand: Vec<u32> = ring.handoffs(p).map(|d| d.id).collect();
        let hset: BTreeSet<u32> = hand.iter().copied().collect();
        assert_eq!(hset.len(), hand.len(), "no duplicate handoffs");
        assert!(prim.is_disjoint(&hset));
        assert_eq!(&prim | &hset, active);
        assert_eq!(hand, ring.handoffs(p).map(|d| d.id).collect::<Vec<_>>());
        // The first handoff is in the one zone no primary uses.
        let used: BTreeSet<u32> = ring.primaries(p).iter().map(|d| d.zone).collect();
        let first = ring.device(hand[0]).expect("device");
        assert!(!used.contains(&first.zone), "partition {p}");
    }
    assert!(ring.primaries(ring.partition_count()).is_empty());
}

#[test]
fn file_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("object.ring");
    let mut b = RingBuilder::new(8, 3, 2).expect("valid");
    for i in 0..5 {
        let host = format!("10.0.0.{i}:6200");
        b.add_device(spec(1, i % 3, &host, "d0", 100.0 + f64::from(i)))
            .expect("add");
    }
    b.rebalance_at(T0).expect("rebalance");
    b.remove_device(4).expect("remove");
    b.save_new(&path).expect("save");
    assert!(matches!(
        b.save_new(&path),
        Err(RingError::AlreadyExists(_))
    ));

    let loaded = RingBuilder::load(&path).expect("load");
    assert_eq!(loaded.devices(), b.devices());
    assert_eq!(loaded.device_stats(), b.device_stats());
    assert_eq!(loaded.version(), b.version());
    assert_eq!(loaded.min_part_hours(), 2);
    let ring = Ring::load(&path).expect("load ring");
    assert_eq!(assignment(&ring), assignment(&b.ring()));
    assert_eq!(ring.devices(), b.ring().devices());
    assert_eq!(
        ring.hash_path("a", Some("c"), None),
        b.ring().hash_path("a", Some("c"), None)
    );
    assert_eq!(ring.version(), b.version());

    // The loaded builder keeps the hash key and the pinned partitions.
    let mut l2 = loaded.clone();
    assert_eq!(
        l2.rebalance_at(T0 + 60).expect("rebalance").moved_replicas,
        counts(&ring)[&4] as u64
    );
    l2.save(&path).expect("overwrite");
    let ring2 = Ring::load(&path).expect("load ring");
    assert_eq!(
        ring2.hash_path("a", None, None),
        ring.hash_path("a", None, None)
    );
    assert_eq!(ring2.version(), ring.version() + 1);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert_eq!(leftovers.len(), 1, "no temp files left behind");
}

#[test]
fn corrupt_truncated_and_wrong_version_files_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("r.ring");
    let mut b = flat(6, 3, 4, |i| i);
    b.rebalance_at(T0).expect("rebalance");
    b.save(&path).expect("save");
    let good = std::fs::read(&path).expect("read");
    let check = |bytes: &[u8]| -> RingError {
        std::fs::write(&path, bytes).expect("write");
        let e = Ring::load(&path).expect_err("must be rejected");
        assert!(RingBuilder::load(&path).is_err());
        e
    };
    let mut bad = good.clone();
    bad[0] = b'X';
    assert!(matches!(check(&bad), RingError::BadMagic));
    assert!(matches!(
        check(b"hello world, not a ring"),
        RingError::BadMagic
    ));
    let mut bad = good.clone();
    bad[10..14].copy_from_slice(&2u32.to_le_bytes());
    assert!(matches!(
        check(&bad),
        RingError::UnsupportedFormat {
            found: 2,
            expected: 1
        }
    ));
    for len in [0, 5, 12, 20, good.len() / 2, good.len() - 1] {
        assert!(
            matches!(check(&good[..len]), RingError::Truncated { .. }),
            "len {len}"
        );
    }
    let mut bad = good.clone();
    bad.push(0);
    assert!(matches!(check(&bad), RingError::Corrupt(_)));
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 100] ^= 1;
    assert!(matches!(check(&bad), RingError::ChecksumMismatch));
    let mut bad = good.clone();
    bad[30] ^= 0x20; // inside the JSON header
    assert!(matches!(
        check(&bad),
        RingError::Corrupt(_) | RingError::ChecksumMismatch
    ));
    assert!(matches!(
        Ring::load(dir.path().join("missing")),
        Err(RingError::Io { .. })
    ));
    std::fs::write(&path, &good).expect("write");
    assert!(Ring::load(&path).is_ok());
}

#[test]
fn cli_create_add_rebalance_show() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: RingCommand,
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("object.ring");
    let f = file.to_str().expect("utf-8 path");
    let run = |args: &[&str]| {
        let cli = Cli::try_parse_from(std::iter::once("ring").chain(args.iter().copied()))
            .expect("parses");
        cli::run(cli.cmd)
    };
    run(&["create", f, "--part-power", "8", "--replicas", "3"]).expect("create");
    assert!(
        run(&["create", f, "--part-power", "8", "--replicas", "3"]).is_err(),
        "no overwrite"
    );
    for i in 0..4 {
        let host = format!("127.0.0.1:62{i}0");
        let args = [
            "add", f, "--region", "1", "--zone", "1", "--host", &host, "--device", "d0",
            "--weight", "100",
        ];
        run(&args).expect("add");
    }
    assert!(
        Ring::load(&file).expect("load").primaries(0).is_empty(),
        "add does not assign"
    );
    run(&["rebalance", f]).expect("rebalance");
    run(&["set-weight", f, "1", "50"]).expect("set-weight");
    run(&["remove", f, "3"]).expect("remove");
    assert!(run(&["remove", f, "9"]).is_err());
    run(&["show", f]).expect("show");
    let b = RingBuilder::load(&file).expect("load");
    assert_eq!(b.min_part_hours(), 1);
    let out = cli::show(&b);
    assert!(out.contains("part power 8"), "{out}");
    assert!(out.contains("(removed)"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains("127.0.0.1:62")).count(),
        4
    );
    let ring = Ring::load(&file).expect("load");
    assert_eq!(ring.primaries(0).len(), 3);
    assert_eq!(ring.device(1).map(|d| d.weight), Some(50.0));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_flat_rings_balance_within_1_percent(
        n in 3usize..=24,
        hosts in prop::collection::vec(0usize..8, 24),
    ) {
        let mut b = flat(10, 3, n, |i| hosts[i]);
        b.rebalance_at(T0).expect("rebalance");
        let ring = b.ring();
        assert_balanced(&ring, 1.0);
        assert_distinct(&ring);
    }

    #[test]
    fn random_add_moves_about_one_nth(n in 3usize..=23, weight in 1u32..=1000) {
        // One device per host: adding a device changes no dispersion limit.
        let mut b = flat(10, 3, n, |i| i);
        for d in b.devices() {
            b.set_weight(d.id, f64::from(weight)).expect("weight");
        }
        b.rebalance_at(T0).expect("rebalance");
        let before = assignment(&b.ring());
        b.add_device(spec(1, 1, "10.0.1.1:6200", "new", f64::from(weight))).expect("add");
        let report = b.rebalance_at(T0 + 2 * HOUR).expect("rebalance");
        let ring = b.ring();
        let ideal = 3.0 * 1024.0 / (n as f64 + 1.0);
        let m = moved(&before, &assignment(&ring)) as f64;
        prop_assert_eq!(m as u64, report.moved_replicas);
        prop_assert!(m >= 0.95 * ideal && m <= 1.05 * ideal, "moved {} ideal {}", m, ideal);
        assert_balanced(&ring, 1.0);
        assert_distinct(&ring);
    }

    #[test]
    fn random_add_with_shared_hosts_stays_balanced(
        n in 3usize..=16,
        hosts in prop::collection::vec(0usize..6, 17),
    ) {
        // Shared hosts: the add may tighten a host's replica limit, which
        // forces extra dispersion moves, but balance and spread must hold.
        let mut b = flat(10, 3, n, |i| hosts[i]);
        b.rebalance_at(T0).expect("rebalance");
        let host = format!("10.0.0.{}:6200", hosts[16]);
        b.add_device(spec(1, 1, &host, "new", 100.0)).expect("add");
        b.rebalance_at(T0 + 2 * HOUR).expect("rebalance");
        let ring = b.ring();
        assert_balanced(&ring, 1.0);
        assert_distinct(&ring);
    }

    #[test]
    fn random_operations_keep_invariants(
        devs in prop::collection::vec(
            (1u32..=2, 1u32..=3, 0usize..4, prop::sample::select(vec![50.0f64, 100.0, 200.0])),
            10..20,
        ),
        ops in prop::collection::vec(
            (0u8..4, 0usize..40, prop::sample::select(vec![0.0f64, 50.0, 100.0, 300.0])),
            1..5,
        ),
        replicas in 2u32..=3,
    ) {
        let mut b = RingBuilder::new(10, replicas, 1).expect("valid");
        for (i, &(region, zone, h, w)) in devs.iter().enumerate() {
            let host = format!("10.{region}.{zone}.{h}:6200");
            b.add_device(spec(region, zone, &host, &format!("d{i}"), w)).expect("add");
        }
        let mut now = T0;
        b.rebalance_at(now).expect("rebalance");
        for &(op, k, w) in &ops {
            let live: Vec<u32> =
                b.devices().iter().filter(|d| d.weight > 0.0).map(|d| d.id).collect();
            let id = live[k % live.len()];
            let spare = live.len() > replicas as usize + 1;
            match op {
                0 => {
                    let zone = 1 + k as u32 % 3;
                    let host = format!("10.9.{zone}.{k}:6200");
                    let _ = b.add_device(spec(1, zone, &host, &format!("n{k}"), 100.0));
                }
                1 if spare => b.remove_device(id).expect("remove"),
                2 if w > 0.0 || spare => b.set_weight(id, w).expect("weight"),
                _ => {}
            }
            now += 2 * HOUR;
            let before = assignment(&b.ring());
            b.rebalance_at(now).expect("rebalance");
            let ring = b.ring();
            let after = assignment(&ring);
            for (old, new) in before.iter().zip(&after) {
                let ids: BTreeSet<u32> = new.iter().copied().collect();
                prop_assert_eq!(ids.len(), replicas as usize, "distinct devices");
                for id in new {
                    let d = ring.device(*id).expect("known device");
                    prop_assert!(d.weight > 0.0, "no replica on a drained device");
                }
                // Unforced moves: one replica per partition per rebalance.
                let forced = old.iter().filter(|id| !ids.contains(id)
                    && ring.device(**id).is_none_or(|d| d.weight == 0.0)).count();
                let changed = old.iter().zip(new).filter(|(a, b)| a != b).count();
                prop_assert!(changed <= forced.max(1), "{} moved, {} forced", changed, forced);
            }
        }
        // Once min_part_hours no longer pins anything, balance converges
        // (when no device would need more than one replica per partition).
        for _ in 0..4 {
            now += 2 * HOUR;
            b.rebalance_at(now).expect("rebalance");
        }
        let ring = b.ring();
        let total_w: f64 = ring.devices().iter().map(|d| d.weight).sum();
        let max_share = ring.devices().iter().map(|d| d.weight / total_w).fold(0.0, f64::max);
        if max_share * f64::from(replicas) <= 1.0 {
            let target_of = |d: &Device| d.weight / total_w * f64::from(replicas * 1024);
            for (id, n) in counts(&ring) {
                let target = target_of(ring.device(id).expect("device"));
                prop_assert!((n as f64 - target).abs() <= (0.01 * target).max(1.0),
                    "device {} holds {} vs target {:.1}", id, n, target);
            }
        }
    }
}
