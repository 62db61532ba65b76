//! `Appliance`: one `cairn up` process on a private temporary directory and
//! an ephemeral port, with its log captured to a file. It waits for
//! `DIR/openrc`, logs in as the admin, restarts on the same data directory,
//! and kills the process when dropped.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::client::{self, Swift};

/// Longest wait for `openrc` after a start.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for the process to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

pub use common::openrc::OpenRc;

/// The auth address and path of an openrc; the appliance always writes plain http.
fn auth_endpoint(rc: &OpenRc) -> (SocketAddr, String) {
    rc.auth_endpoint()
        .unwrap_or_else(|| panic!("ST_AUTH {:?} is not http://ip:port/path", rc.auth_url))
}

/// The `cairn` binary: `$CAIRN_BIN`, else next to the test executable's directory.
pub fn cairn_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CAIRN_BIN") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "CAIRN_BIN={} is not a file", p.display());
        return p;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("cairn"))
        .expect("test executable has no grandparent directory");
    assert!(
        bin.is_file(),
        "{} not found: run `cargo build --bins` first (or set CAIRN_BIN)",
        bin.display()
    );
    bin
}

/// A running all-in-one appliance.
pub struct Appliance {
    /// Holds the data directory, config and log; removed on drop.
    root: Option<tempfile::TempDir>,
    config: Option<PathBuf>,
    /// Extra environment of the process (such as `RUST_LOG`).
    env: Vec<(String, String)>,
    child: Option<Child>,
    openrc: OpenRc,
    swift: Swift,
    storage_url: String,
}

impl Appliance {
    /// Starts an appliance with the default configuration.
    pub async fn start() -> Appliance {
        Self::launch(None).await
    }

    /// Starts an appliance with `toml` as its config file.
    pub async fn start_with_config(toml: &str) -> Appliance {
        Self::launch(Some(toml)).await
    }

    /// Starts an appliance with an optional config file and extra
    /// environment variables (such as `RUST_LOG`).
    pub async fn start_with_env(toml: Option<&str>, env: &[(&str, &str)]) -> Appliance {
        Self::launch_with(toml, env).await
    }

    async fn launch(toml: Option<&str>) -> Appliance {
        Self::launch_with(toml, &[]).await
    }

    async fn launch_with(toml: Option<&str>, env: &[(&str, &str)]) -> Appliance {
        let root = tempfile::Builder::new()
            .prefix("cairn-test-")
            .tempdir()
            .expect("create temp dir");
        let config = toml.map(|t| {
            let p = root.path().join("cairn.toml");
            std::fs::write(&p, t).expect("write config");
            p
        });
        let mut app = Appliance {
            root: Some(root),
            config,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
            openrc: OpenRc {
                auth_url: String::new(),
                user: String::new(),
                key: String::new(),
                s3: None,
                identity: None,
            },
            swift: Swift::new("http://127.0.0.1:1/v1/none", "").expect("placeholder"),
            storage_url: String::new(),
        };
        app.spawn_and_wait().await;
        app
    }

    /// The temporary directory holding the data directory, config and log.
    pub fn root(&self) -> &Path {
        self.root.as_ref().expect("root lives until drop").path()
    }

    /// The data directory (`--data-dir`).
    pub fn data_dir(&self) -> PathBuf {
        self.root().join("data")
    }

    /// The file holding the process's stdout and stderr (all runs).
    pub fn log_path(&self) -> PathBuf {
        self.root().join("cairn.log")
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// What the current run's openrc says.
    pub fn openrc(&self) -> &OpenRc {
        &self.openrc
    }

    /// The admin's storage URL, as `X-Storage-Url` gave it.
    pub fn storage_url(&self) -> &str {
        &self.storage_url
    }

    /// The admin's token.
    pub fn token(&self) -> &str {
        self.swift.token()
    }

    /// The `OS_*` part of the openrc (identity's URL and the admin's password).
    pub fn identity(&self) -> &common::openrc::IdentityRc {
        self.openrc
            .identity
            .as_ref()
            .expect("the openrc has OS_* variables")
    }

    /// The address of the identity API.
    pub fn identity_addr(&self) -> SocketAddr {
        self.identity().addr().unwrap_or_else(|| {
            panic!(
                "OS_AUTH_URL {:?} is not http://ip:port/...",
                self.identity().auth_url
            )
        })
    }

    /// The address of the Swift API.
    pub fn addr(&self) -> SocketAddr {
        self.swift.addr()
    }

    /// An authenticated client of the admin's account.
    pub fn swift(&self) -> &Swift {
        &self.swift
    }

    /// The process id of the current run.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("appliance is running").id()
    }

    /// Logs in as `user` (`account:user`) with `key`; returns a client of
    /// the storage URL the auth answered with.
    pub async fn login(&self, user: &str, key: &str) -> anyhow::Result<Swift> {
        let (addr, path) = auth_endpoint(&self.openrc);
        let (token, url) = client::login(addr, &path, user, key).await?;
        Swift::new(&url, &token)
    }

    async fn spawn_and_wait(&mut self) {
        let data = self.data_dir();
        let openrc_path = data.join("openrc");
        // cairn removes a previous run's openrc itself, but only once it is
        // running; remove it first so the wait below cannot read a stale one.
        match std::fs::remove_file(&openrc_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                panic!("remove {}: {e}", openrc_path.display())
            }
            _ => {}
        }
        let log_path = self.log_path();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open log");
        let log2 = log.try_clone().expect("clone log handle");
        let mut cmd = Command::new(cairn_bin());
        cmd.arg("up")
            .arg("--data-dir")
            .arg(&data)
            .arg("--object-bind")
            .arg("127.0.0.1:0")
            .arg("--identity-bind")
            .arg("127.0.0.1:0")
            .arg("--image-bind")
            .arg("127.0.0.1:0")
            .arg("--volume-bind")
            .arg("127.0.0.1:0")
            .arg("--nbd-bind")
            .arg("127.0.0.1:0");
        if let Some(c) = &self.config {
            cmd.arg("--config").arg(c);
        }
        cmd.env("NO_COLOR", "1")
            .env_remove("CAIRN_CONFIG")
            .env_remove("CAIRN_DATA_DIR")
            .env_remove("CAIRN_LOG_FORMAT")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        let child = cmd.spawn().expect("spawn cairn");
        self.child = Some(child);
        let started = Instant::now();
        let openrc = loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "cairn exited during start with {status}; log:\n{}",
                    self.log()
                );
            }
            if let Some(rc) = std::fs::read_to_string(&openrc_path)
                .ok()
                .as_deref()
                .and_then(OpenRc::parse)
            {
                break rc;
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "no {} within {START_TIMEOUT:?}; log:\n{}",
                openrc_path.display(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        let (addr, path) = auth_endpoint(&openrc);
        let (token, url) = client::login(addr, &path, &openrc.user, &openrc.key)
            .await
            .unwrap_or_else(|e| panic!("admin login failed: {e:#}; log:\n{}", self.log()));
        self.swift = Swift::new(&url, &token).expect("storage URL");
        self.storage_url = url;
        self.openrc = openrc;
    }

    /// Sends SIGTERM and waits for the process to exit; returns its status.
    pub async fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("appliance is running");
        let killed = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(killed.success(), "kill -TERM {} failed", child.id());
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait for cairn") {
                return status;
            }
            if started.elapsed() > STOP_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "cairn did not exit within {STOP_TIMEOUT:?} of SIGTERM; log:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Stops the process cleanly (SIGTERM, exit 0) and starts it again on
    /// the same data directory (a new port), logging in afresh.
    pub async fn restart(&mut self) {
        let status = self.stop().await;
        assert!(
            status.success(),
            "cairn exited with {status} after SIGTERM; log:\n{}",
            self.log()
        );
        self.spawn_and_wait().await;
    }

    /// Starts the appliance again on the same data directory after `stop`.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "appliance is still running");
        self.spawn_and_wait().await;
    }

    /// Kills the process with SIGKILL (a crash: nothing is flushed or
    /// cleaned up) and starts it again on the same data directory.
    pub async fn crash_and_restart(&mut self) {
        let mut child = self.child.take().expect("appliance is running");
        child.kill().expect("SIGKILL cairn");
        child.wait().expect("reap cairn");
        self.spawn_and_wait().await;
    }

    /// The log lines containing ` ERROR `.
    pub fn error_lines(&self) -> Vec<String> {
        self.log()
            .lines()
            .map(strip_ansi)
            .filter(|l| l.contains(" ERROR "))
            .collect()
    }

    /// Panics if the log has an ERROR line.
    pub fn assert_no_errors(&self) {
        self.assert_no_errors_except(&[]);
    }

    /// Panics if the log has an ERROR line containing none of `allowed`.
    pub fn assert_no_errors_except(&self, allowed: &[&str]) {
        let bad: Vec<_> = self
            .error_lines()
            .into_iter()
            .filter(|l| !allowed.iter().any(|a| l.contains(a)))
            .collect();
        assert!(bad.is_empty(), "cairn logged errors:\n{}", bad.join("\n"));
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            eprintln!(
                "--- cairn log ({}), last {} lines ---\n{}",
                self.log_path().display(),
                tail.len(),
                tail.join("\n")
            );
        }
        if std::env::var_os("CAIRN_TEST_KEEP").is_some() {
            if let Some(root) = self.root.take() {
                eprintln!("keeping {}", root.keep().display());
            }
        }
    }
}

/// Removes ANSI colour sequences from a log line.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_colours() {
        assert_eq!(
            strip_ansi("\u{1b}[2mts\u{1b}[0m \u{1b}[31mERROR\u{1b}[0m x"),
            "ts ERROR x"
        );
    }
}
