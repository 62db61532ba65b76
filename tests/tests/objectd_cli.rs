//! System test of the standalone `objectd` binary: build a ring with
//! `objectd ring ...`, run `objectd serve --config` on it, and store and read
//! objects through it with v1.0 auth.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use cairn_tests::client::{login, Swift};
use cairn_tests::{cairn_bin, data_files, md5_hex, random_bytes, wait_until};
use http::StatusCode;

fn objectd_bin() -> PathBuf {
    let bin = cairn_bin().with_file_name("objectd");
    assert!(
        bin.is_file(),
        "{} not found: run `cargo build --bins`",
        bin.display()
    );
    bin
}

fn ring(args: &[&str]) -> String {
    let out = Command::new(objectd_bin())
        .arg("ring")
        .args(args)
        .output()
        .expect("run objectd ring");
    assert!(
        out.status.success(),
        "objectd ring {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The address `objectd serve` logged as `listening addr=...`.
fn logged_addr(log: &Path) -> Option<std::net::SocketAddr> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text.lines().find(|l| l.contains("listening"))?;
    line.split("addr=")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn ring_cli_builds_a_ring_that_objectd_serves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ring_path = dir.path().join("object.ring");
    let ring_file = ring_path.to_str().expect("utf-8 path");
    ring(&["create", ring_file, "--part-power", "8", "--replicas", "3"]);
    for i in 0..4 {
        let (zone, dev) = ((i + 1).to_string(), format!("d{i}"));
        ring(&[
            "add",
            ring_file,
            "--region",
            "1",
            "--zone",
            &zone,
            "--host",
            "127.0.0.1:6200",
            "--device",
            &dev,
            "--weight",
            "100",
        ]);
    }
    ring(&["rebalance", ring_file]);
    let shown = ring(&["show", ring_file]);
    assert!(shown.contains("d3"), "show lists every device: {shown}");
    let again = Command::new(objectd_bin())
        .args([
            "ring",
            "create",
            ring_file,
            "--part-power",
            "8",
            "--replicas",
            "3",
        ])
        .output()
        .expect("run objectd ring");
    assert!(
        !again.status.success(),
        "create refuses to overwrite a ring"
    );

    let config = dir.path().join("objectd.toml");
    let devices = dir.path().join("devices");
    std::fs::write(
        &config,
        format!(
            "[objectd]\nbind = \"127.0.0.1:0\"\nring = {:?}\ndevices_dir = {:?}\n\
             [[objectd.users]]\naccount = \"ops\"\nuser = \"root\"\nkey = \"s3cret\"\ngroups = [\".admin\"]\n",
            ring_file,
            devices.to_str().expect("utf-8 path")
        ),
    )
    .expect("write config");
    let log = dir.path().join("objectd.log");
    let mut child = Command::new(objectd_bin())
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn objectd serve");
    assert!(
        wait_until(Duration::from_secs(30), || async {
            logged_addr(&log).is_some()
        })
        .await,
        "objectd did not log its address: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let addr = logged_addr(&log).expect("address logged");
    // The listener is bound before the devices open; wait until it answers.
    let mut session = None;
    for _ in 0..100 {
        if let Ok(s) = login(addr, "/auth/v1.0", "ops:root", "s3cret").await {
            session = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (token, url) = session.expect("login as ops:root");
    assert!(url.ends_with("/v1/AUTH_ops"), "storage url {url}");
    assert!(login(addr, "/auth/v1.0", "ops:root", "wrong")
        .await
        .is_err());

    let swift = Swift::new(&url, &token).expect("client");
    swift.create_container("c").await;
    let body = random_bytes(200 * 1024);
    swift.put_object("c", "big", &body).await;
    let got = swift.get("/c/big").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(md5_hex(&got.body), md5_hex(&body));
    assert_eq!(data_files(dir.path()).len(), 3, "three replicas on disk");
    assert_eq!(swift.list_names("c").await, vec!["big".to_string()]);

    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().expect("wait objectd");
    assert!(
        status.success(),
        "objectd exits cleanly on SIGTERM: {status:?}"
    );
}
