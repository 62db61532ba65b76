//! End-to-end test of `cairn-bench ring` through the built binary: each
//! added host moves about its share of replicas, and the output is one
//! `name value` line per figure followed by a JSON line.

use std::process::Command;

#[test]
fn ring_moves_about_the_ideal_fraction() {
    let output = Command::new(env!("CARGO_BIN_EXE_cairn-bench"))
        .args(["ring", "--part-power", "8", "--devices", "3,6"])
        .output()
        .expect("run cairn-bench");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(0), "stderr:\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let json: serde_json::Value = serde_json::from_str(lines.last().expect("output"))
        .unwrap_or_else(|e| panic!("last line is not JSON ({e}):\n{stdout}"));
    let figure = |name: &str| -> f64 {
        let line = lines[..lines.len() - 1]
            .iter()
            .find(|l| l.split(' ').next() == Some(name))
            .unwrap_or_else(|| panic!("no line for {name} in:\n{stdout}"));
        let value: f64 = line.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(json[name].is_number(), "{name} missing from JSON");
        value
    };
    for n in [3u32, 6] {
        let moved = figure(&format!("ring.add_1_of_{n}_moved_fraction"));
        let ideal = figure(&format!("ring.add_1_of_{n}_ideal"));
        assert!(
            (ideal - 1.0 / f64::from(n + 1)).abs() < 1e-4,
            "ideal {ideal}"
        );
        assert!(
            (0.8 * ideal..=1.3 * ideal).contains(&moved),
            "{n} -> {}: moved {moved}, ideal {ideal}",
            n + 1
        );
        assert!(figure(&format!("ring.add_1_of_{n}_balance_pct")).is_finite());
        assert!(figure(&format!("ring.rebalance_{n}_ms")) >= 0.0);
    }
    for line in &lines[..lines.len() - 1] {
        assert_eq!(line.split(' ').count(), 2, "bad line {line:?}");
    }
}

#[test]
fn ring_rejects_too_few_hosts() {
    let output = Command::new(env!("CARGO_BIN_EXE_cairn-bench"))
        .args(["ring", "--part-power", "4", "--devices", "2"])
        .output()
        .expect("run cairn-bench");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--replicas"));
}
