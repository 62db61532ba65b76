//! `cairn-bench identity` against the real `cairn` binary (`$CAIRN_BIN`,
//! else `cairn` next to cairn-bench in the target directory; run `cargo
//! build --bins` first), with short phases: every figure is there and
//! positive.

use std::path::PathBuf;
use std::time::Duration;

use benches::cairn_process::CairnProcess;
use benches::identity_bench::{run_identity, IdentityConfig};
use benches::Report;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_figures_from_a_real_appliance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("cairn.toml");
    std::fs::write(&config, "").expect("config");
    let mut cairn = CairnProcess::new(
        cairn_bin(),
        dir.path().join("data"),
        config,
        dir.path().join("cairn.log"),
    );
    let rc = cairn.start().await.expect("start cairn");
    let id = rc.identity.clone().expect("OS_* in openrc");
    let cfg = IdentityConfig {
        auth_url: id.auth_url,
        username: id.username,
        password: id.password,
        project: id.project_name,
        st_auth: rc.auth_url.clone(),
        st_user: rc.user.clone(),
        st_key: rc.key.clone(),
        concurrency: 4,
        duration: Duration::from_millis(300),
        gets: 50,
        timeout: Duration::from_secs(30),
    };
    let mut report = Report::quiet();
    let result = run_identity(&cfg, &mut report).await;
    let log = cairn.log_tail(40);
    cairn.stop().await.expect("stop cairn");
    result.unwrap_or_else(|e| panic!("identity bench failed: {e:#}\n{log}"));
    for name in [
        "identity.password_token_issue_per_s",
        "identity.token_method_issue_per_s",
        "identity.validations_per_s",
        "identity.local_checks_per_s",
        "identity.remembered_checks_per_s",
        "identity.get_4k_keystone_p50_us",
        "identity.get_4k_tempauth_p50_us",
    ] {
        let v = report.get(name).unwrap_or_else(|| panic!("missing {name}"));
        assert!(v.is_finite() && v > 0.0, "{name} = {v}");
    }
    assert!(report.get("identity.get_4k_added_p50_us").is_some());
}
