//! One `cairn up` all-in-one process for the `repair` benchmark: spawned
//! with its stdout and stderr appended to a log file, ready once
//! `DATA/openrc` appears, stopped with SIGTERM, and killed by a drop guard
//! on every other way out.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Longest wait for `openrc` after a start.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for the process to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the start and stop waits look.
const POLL: Duration = Duration::from_millis(25);

pub use common::openrc::OpenRc;

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A `cairn up` on one data directory; at most one run at a time.
pub struct CairnProcess {
    bin: PathBuf,
    data_dir: PathBuf,
    config: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
}

impl CairnProcess {
    pub fn new(bin: PathBuf, data_dir: PathBuf, config: PathBuf, log_path: PathBuf) -> Self {
        CairnProcess {
            bin,
            data_dir,
            config,
            log_path,
            child: None,
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last `n` lines of the log (all runs).
    pub fn log_tail(&self, n: usize) -> String {
        tail(
            &String::from_utf8_lossy(&std::fs::read(&self.log_path).unwrap_or_default()),
            n,
        )
    }

    /// Whether a run is going on.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Fails if the current run has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(child) = self.child.as_mut() {
            if let Some(status) = child.try_wait().context("wait for cairn")? {
                self.child = None;
                bail!("cairn exited unexpectedly with {status}");
            }
        }
        Ok(())
    }

    /// Starts `cairn up` and waits (at most [`START_TIMEOUT`]) for its
    /// openrc.
    pub async fn start(&mut self) -> Result<OpenRc> {
        if self.child.is_some() {
            bail!("cairn is already running");
        }
        let openrc_path = self.data_dir.join("openrc");
        // cairn removes a previous run's openrc itself, but only once it
        // runs; remove it first so the wait cannot read a stale one.
        match std::fs::remove_file(&openrc_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("remove {}", openrc_path.display()))
            }
            _ => {}
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .with_context(|| format!("open {}", self.log_path.display()))?;
        let log2 = log.try_clone().context("clone log handle")?;
        let child = Command::new(&self.bin)
            .arg("up")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--object-bind")
            .arg("127.0.0.1:0")
            .arg("--identity-bind")
            .arg("127.0.0.1:0")
            .arg("--image-bind")
            .arg("127.0.0.1:0")
            .arg("--volume-bind")
            .arg("127.0.0.1:0")
            .arg("--nbd-bind")
            .arg("127.0.0.1:0")
            .arg("--config")
            .arg(&self.config)
            .env("NO_COLOR", "1")
            .env_remove("CAIRN_CONFIG")
            .env_remove("CAIRN_DATA_DIR")
            .env_remove("CAIRN_LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .with_context(|| format!("spawn {}", self.bin.display()))?;
        self.child = Some(child);
        let started = Instant::now();
        loop {
            self.check_alive().context("cairn exited during start")?;
            if let Some(rc) = std::fs::read_to_string(&openrc_path)
                .ok()
                .as_deref()
                .and_then(OpenRc::parse)
            {
                return Ok(rc);
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "no {} within {START_TIMEOUT:?} of starting cairn",
                    openrc_path.display()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sends SIGTERM (`kill -TERM`) and waits for the exit; fails unless the
    /// process exits with status 0 within [`STOP_TIMEOUT`].
    pub async fn stop(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            bail!("cairn is not running");
        };
        let pid = child.id();
        let killed = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .stdout(Stdio::null())
            .status()
            .context("run kill")?;
        if !killed.success() {
            bail!("kill -TERM {pid} failed: {killed}");
        }
        let started = Instant::now();
        let status: ExitStatus = loop {
            if let Some(status) = child.try_wait().context("wait for cairn")? {
                break status;
            }
            if started.elapsed() > STOP_TIMEOUT {
                bail!("cairn (pid {pid}) did not exit within {STOP_TIMEOUT:?} of SIGTERM");
            }
            tokio::time::sleep(POLL).await;
        };
        self.child = None;
        if !status.success() {
            bail!("cairn exited with {status} after SIGTERM");
        }
        Ok(())
    }

    /// Kills the current run (SIGKILL) and reaps it; a no-op without one.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for CairnProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a\nb", 5), "a\nb");
        assert_eq!(tail("", 3), "");
    }

    #[tokio::test]
    async fn missing_binary_is_an_error_and_drop_is_safe() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = CairnProcess::new(
            dir.path().join("no-such-cairn"),
            dir.path().join("data"),
            dir.path().join("cfg.toml"),
            dir.path().join("log"),
        );
        assert!(p.start().await.is_err());
        assert!(!p.is_running());
        assert!(p.stop().await.is_err());
    }
}
