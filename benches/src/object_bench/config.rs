//! Tunables of the object benchmark: [`ObjectConfig`], its default and
//! smoke-test presets, and validation of user-supplied values.

use std::time::Duration;

use anyhow::{bail, Result};

/// Tunables of the object benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectConfig {
    /// Workers (one keep-alive connection each) for the small-object phases,
    /// the listing fill and cleanup.
    pub concurrency: usize,
    pub small_size: u64,
    /// How long each small-object phase runs.
    pub duration: Duration,
    pub large_size: u64,
    pub large_count: usize,
    pub large_parallel: usize,
    /// Objects in the listing container.
    pub list_count: usize,
    /// Timed listings; the median is reported.
    pub list_repeats: usize,
    /// Container name to use instead of a fresh random one.
    pub container: Option<String>,
    /// Skip cleanup.
    pub keep: bool,
    /// Per-request timeout (covers the whole body).
    pub timeout: Duration,
}

impl Default for ObjectConfig {
    fn default() -> Self {
        ObjectConfig {
            concurrency: 16,
            small_size: 4096,
            duration: Duration::from_secs(10),
            large_size: 64 << 20,
            large_count: 8,
            large_parallel: 4,
            list_count: 10_000,
            list_repeats: 3,
            container: None,
            keep: false,
            timeout: Duration::from_secs(120),
        }
    }
}

impl ObjectConfig {
    /// Tiny settings for a quick end-to-end check: 1 s phases, 2 MiB large
    /// objects (4 of them), a 200-object listing.
    pub fn smoke() -> Self {
        ObjectConfig {
            duration: Duration::from_secs(1),
            large_size: 2 << 20,
            large_count: 4,
            list_count: 200,
            ..ObjectConfig::default()
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        if self.large_parallel == 0 {
            bail!("--large-parallel must be at least 1");
        }
        if self.large_count == 0 {
            bail!("--large-count must be at least 1");
        }
        if self.large_size == 0 {
            bail!("--large-size must be at least 1 byte");
        }
        if self.list_count == 0 {
            bail!("--list-count must be at least 1");
        }
        if self.list_repeats == 0 {
            bail!("--list-repeats must be at least 1");
        }
        if usize::try_from(self.large_size).is_err() || usize::try_from(self.small_size).is_err() {
            bail!("object size does not fit in memory");
        }
        if let Some(name) = &self.container {
            if name.is_empty() || name.contains('/') {
                bail!("--container must be non-empty and must not contain '/'");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoke_and_default_configs_are_valid() {
        ObjectConfig::default().validate().unwrap();
        let smoke = ObjectConfig::smoke();
        smoke.validate().unwrap();
        assert_eq!(smoke.duration, Duration::from_secs(1));
        assert_eq!(smoke.large_size, 2 << 20);
        assert_eq!(smoke.list_count, 200);
    }

    #[test]
    fn rejects_bad_configs() {
        let bad = ObjectConfig {
            concurrency: 0,
            ..ObjectConfig::default()
        };
        assert!(bad.validate().is_err());
        let bad = ObjectConfig {
            container: Some("a/b".into()),
            ..ObjectConfig::default()
        };
        assert!(bad.validate().is_err());
    }
}
