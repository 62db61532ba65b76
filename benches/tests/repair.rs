//! End-to-end test of `cairn-bench repair --smoke` against the real `cairn`
//! binary (`$CAIRN_BIN`, else `cairn` next to cairn-bench in the target
//! directory; run `cargo build --bins` first).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn cairn_bin() -> PathBuf {
    let bin = match std::env::var_os("CAIRN_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_cairn-bench")).with_file_name("cairn"),
    };
    assert!(
        bin.is_file(),
        "the cairn binary {} is missing: run `cargo build --bins` first (or set CAIRN_BIN)",
        bin.display()
    );
    bin
}

#[test]
fn repair_smoke_rebuilds_the_wiped_device() {
    let bin = cairn_bin();
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_cairn-bench"))
        .arg("repair")
        .arg("--smoke")
        .arg("--cairn-bin")
        .arg(&bin)
        .args(["--timeout-secs", "60"])
        .output()
        .expect("run cairn-bench");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    eprintln!("{stderr}{stdout}took {elapsed:?}");
    assert_eq!(output.status.code(), Some(0), "stderr:\n{stderr}");
    let json: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("output")).unwrap();
    let value = |name: &str| {
        json[name]
            .as_f64()
            .unwrap_or_else(|| panic!("{name} missing from {json}"))
    };
    assert!(value("repair.records_pushed") > 0.0);
    assert!(value("repair.bytes_moved") > 0.0);
    assert!(value("repair.seconds") > 0.0);
    assert!(value("repair.objects_on_wiped_device") > 0.0);
    assert!(value("repair.wiped_bytes") > 0.0);
    assert_eq!(value("repair.verified_objects"), 50.0);
    for line in stdout.lines().rev().skip(1) {
        assert_eq!(line.split(' ').count(), 2, "bad line {line:?}");
    }
    assert!(
        elapsed < Duration::from_secs(60),
        "repair smoke took {elapsed:?}"
    );
}
