//! End-to-end tests of `cairn-bench object --smoke` against the in-memory
//! Swift test server in `support`: through the library and through the
//! built binary (exit codes, output format).

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use benches::{Credentials, ObjectConfig, Report};
use support::{start, Fault, KEY, USER};

const FIGURES: [&str; 10] = [
    "object.put_4k_ops_per_s",
    "object.put_4k_p50_ms",
    "object.put_4k_p99_ms",
    "object.get_4k_ops_per_s",
    "object.get_4k_p50_ms",
    "object.get_4k_p99_ms",
    "object.put_2m_mib_per_s",
    "object.get_2m_mib_per_s",
    "object.list_200_ms",
    "object.errors",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn smoke_run_through_library() {
    let server = start(Fault::None).await;
    let creds = Credentials {
        auth_url: server.auth_url(),
        user: USER.into(),
        key: KEY.into(),
    };
    let cfg = ObjectConfig {
        duration: Duration::from_millis(500),
        ..ObjectConfig::smoke()
    };
    let mut report = Report::quiet();
    let outcome = benches::run(&creds, &cfg, &mut report).await.unwrap();
    assert_eq!(outcome.errors, 0, "errors: {:?}", outcome.error_samples);
    assert_eq!(outcome.cleanup_errors, 0);
    for name in FIGURES {
        let value = report.get(name).unwrap_or_else(|| panic!("missing {name}"));
        assert!(value.is_finite(), "{name} = {value}");
    }
    assert!(report.get("object.put_4k_ops_per_s").unwrap() > 0.0);
    assert!(report.get("object.get_4k_ops_per_s").unwrap() > 0.0);
    assert!(report.get("object.put_2m_mib_per_s").unwrap() > 0.0);
    assert!(report.get("object.get_2m_mib_per_s").unwrap() > 0.0);
    assert!(report.get("object.list_200_ms").unwrap() > 0.0);
    // Cleanup removed everything.
    assert!(server.state.containers.lock().unwrap().is_empty());
    // Keep-alive: one connection per worker and phase, not one per request.
    let requests = server.state.requests.load(Ordering::Relaxed);
    let connections = server.state.connections.load(Ordering::Relaxed);
    assert!(
        connections * 10 < requests,
        "{connections} connections for {requests} requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listing_pages_past_ten_thousand() {
    let server = start(Fault::None).await;
    let creds = Credentials {
        auth_url: server.auth_url(),
        user: USER.into(),
        key: KEY.into(),
    };
    let cfg = ObjectConfig {
        duration: Duration::from_millis(100),
        concurrency: 4,
        large_size: 64 << 10,
        large_count: 1,
        list_count: 10_050,
        list_repeats: 1,
        container: Some("fixed-name".into()),
        ..ObjectConfig::smoke()
    };
    let mut report = Report::quiet();
    let outcome = benches::run(&creds, &cfg, &mut report).await.unwrap();
    assert_eq!(outcome.errors, 0, "errors: {:?}", outcome.error_samples);
    assert!(report.get("object.list_10050_ms").unwrap() > 0.0);
    assert!(report.get("object.put_64k_mib_per_s").is_some());
    assert!(server.state.containers.lock().unwrap().is_empty());
}

struct BinRun {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn run_binary(auth_url: &str, key: &str, extra: &[&str]) -> BinRun {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_cairn-bench"))
        .arg("object")
        .arg("--smoke")
        .args(["--duration-secs", "0.5"])
        .args(extra)
        .env("ST_AUTH", auth_url)
        .env("ST_USER", USER)
        .env("ST_KEY", key)
        .output()
        .await
        .unwrap();
    BinRun {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn binary_smoke_prints_lines_and_json() {
    let server = start(Fault::None).await;
    let run = run_binary(&server.auth_url(), KEY, &[]).await;
    eprintln!("{}{}", run.stderr, run.stdout);
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let json: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    let text_lines = &lines[..lines.len() - 1];
    for name in FIGURES {
        let line = text_lines
            .iter()
            .find(|l| l.split(' ').next() == Some(name))
            .unwrap_or_else(|| panic!("no line for {name} in:\n{}", run.stdout));
        let value: f64 = line.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(value.is_finite());
        assert!(json[name].is_number(), "{name} missing from JSON");
    }
    for line in text_lines {
        assert_eq!(line.split(' ').count(), 2, "bad line {line:?}");
    }
    assert_eq!(json["object.errors"], 0);
    assert!(server.state.containers.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn binary_fails_on_bad_etag() {
    let server = start(Fault::BadEtag).await;
    let run = run_binary(&server.auth_url(), KEY, &[]).await;
    assert_eq!(run.code, Some(1), "stderr:\n{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    assert!(json["object.errors"].as_u64().unwrap() > 0);
    assert!(run.stderr.contains("ETag"), "stderr:\n{}", run.stderr);
    // Cleanup still ran.
    assert!(server.state.containers.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn binary_fails_on_bad_credentials() {
    let server = start(Fault::None).await;
    let run = run_binary(&server.auth_url(), "wrong", &[]).await;
    assert_eq!(run.code, Some(2), "stderr:\n{}", run.stderr);
    assert!(run.stderr.contains("401"), "stderr:\n{}", run.stderr);
}
