//! Storage policies: named ways of keeping an object's bytes, each with its
//! own ring. Policy 0 replicates whole objects; an erasure-coded policy cuts
//! them into Reed–Solomon fragments (`ec`). A container picks one when it is
//! created and keeps it; accounts and containers themselves always live on
//! policy 0's ring.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::bail;
use serde::{Deserialize, Serialize};

use crate::ec::EcScheme;

/// How a policy keeps bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyType {
    Replication,
    ErasureCoding,
}

/// One `[[objectd.policies]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub index: u32,
    pub name: String,
    /// Other names clients may use (Swift's policy aliases).
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(rename = "type")]
    pub policy_type: PolicyType,
    /// The policy containers get when they do not ask for one.
    #[serde(default)]
    pub default: bool,
    /// Data fragments per segment (erasure coding).
    #[serde(default)]
    pub ec_k: usize,
    /// Parity fragments per segment (erasure coding).
    #[serde(default)]
    pub ec_m: usize,
    /// Bytes per segment (erasure coding).
    #[serde(default = "default_segment_size")]
    pub ec_segment_size: usize,
}

fn default_segment_size() -> usize {
    1024 * 1024
}

/// A validated policy.
#[derive(Debug)]
pub struct StoragePolicy {
    pub index: u32,
    pub name: String,
    pub aliases: Vec<String>,
    pub default: bool,
    /// The scheme of an erasure-coded policy; `None` for replication.
    pub ec: Option<Arc<EcScheme>>,
}

impl StoragePolicy {
    /// Whether `name` names this policy (case-insensitive, aliases too).
    pub fn is_named(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }

    /// `replication` or `erasure_coding`, as `/info` shows it.
    pub fn type_name(&self) -> &'static str {
        if self.ec.is_some() {
            "erasure_coding"
        } else {
            "replication"
        }
    }
}

/// Every configured policy.
#[derive(Debug)]
pub struct Policies {
    list: Vec<StoragePolicy>,
}

impl Policies {
    /// The policies of a store that configures none: policy 0, replicated.
    pub fn replicated_only() -> Self {
        Policies::from_config(&[]).expect("the built-in policy is valid")
    }

    /// Validates configured policies; an empty list means policy 0 alone.
    /// Policy 0 must be replicated (it also holds accounts and containers).
    pub fn from_config(configs: &[PolicyConfig]) -> anyhow::Result<Self> {
        let mut list = Vec::new();
        let mut configs = configs.to_vec();
        if !configs.iter().any(|c| c.index == 0) {
            configs.insert(0, policy_zero());
        }
        configs.sort_by_key(|c| c.index);
        for c in &configs {
            if c.name.is_empty() || c.name.contains(['/', ',']) {
                bail!("invalid policy name {:?}", c.name);
            }
            let ec = match c.policy_type {
                PolicyType::Replication => None,
                PolicyType::ErasureCoding => Some(Arc::new(
                    EcScheme::new(c.ec_k, c.ec_m, c.ec_segment_size)
                        .map_err(|e| anyhow::anyhow!("policy {}: {e}", c.name))?,
                )),
            };
            if c.index == 0 && ec.is_some() {
                bail!("policy 0 must be replicated");
            }
            let policy = StoragePolicy {
                index: c.index,
                name: c.name.clone(),
                aliases: c.aliases.clone(),
                default: c.default,
                ec,
            };
            if list.iter().any(|p: &StoragePolicy| {
                p.index == c.index || p.is_named(&c.name) || c.aliases.iter().any(|a| p.is_named(a))
            }) {
                bail!("policy {} ({}) is configured twice", c.index, c.name);
            }
            list.push(policy);
        }
        match list.iter().filter(|p| p.default).count() {
            0 => list[0].default = true,
            1 => {}
            _ => bail!("more than one default storage policy"),
        }
        Ok(Policies { list })
    }

    pub fn all(&self) -> &[StoragePolicy] {
        &self.list
    }

    pub fn get(&self, index: u32) -> Option<&StoragePolicy> {
        self.list.iter().find(|p| p.index == index)
    }

    pub fn by_name(&self, name: &str) -> Option<&StoragePolicy> {
        self.list.iter().find(|p| p.is_named(name))
    }

    pub fn default_policy(&self) -> &StoragePolicy {
        self.list
            .iter()
            .find(|p| p.default)
            .expect("validation leaves one default")
    }
}

/// Policy 0 as it exists when nothing else is configured. Containers made
/// before policies existed recorded `Policy-0`, Swift's name for it.
fn policy_zero() -> PolicyConfig {
    PolicyConfig {
        index: 0,
        name: "replicated".into(),
        aliases: vec!["Policy-0".into()],
        policy_type: PolicyType::Replication,
        default: false,
        ec_k: 0,
        ec_m: 0,
        ec_segment_size: default_segment_size(),
    }
}

/// The ring file of policy `index`: policy 0's own path, `NAME-N.EXT` for the others.
pub fn ring_path(base: &Path, index: u32) -> PathBuf {
    if index == 0 {
        return base.to_path_buf();
    }
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match base.extension() {
        Some(ext) => format!("{stem}-{index}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{index}"),
    };
    base.with_file_name(name)
}

/// The directory of policy `index` inside a device directory.
pub fn device_dir(device: &Path, index: u32) -> PathBuf {
    if index == 0 {
        device.to_path_buf()
    } else {
        device.join(format!("policy-{index}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ec(index: u32, name: &str) -> PolicyConfig {
        PolicyConfig {
            index,
            name: name.into(),
            aliases: vec![],
            policy_type: PolicyType::ErasureCoding,
            default: false,
            ec_k: 4,
            ec_m: 2,
            ec_segment_size: 1 << 20,
        }
    }

    #[test]
    fn policy_zero_is_implied_and_default() {
        let p = Policies::from_config(&[ec(1, "ec42")]).expect("valid");
        assert_eq!(p.all().len(), 2);
        assert_eq!(p.default_policy().index, 0);
        assert_eq!(p.by_name("POLICY-0").map(|p| p.index), Some(0));
        assert_eq!(p.by_name("EC42").map(|p| p.index), Some(1));
        assert!(p.get(1).and_then(|p| p.ec.as_ref()).is_some());
    }

    #[test]
    fn rejects_bad_sets() {
        assert!(Policies::from_config(&[ec(0, "x")]).is_err());
        assert!(Policies::from_config(&[ec(1, "a"), ec(1, "b")]).is_err());
        assert!(Policies::from_config(&[ec(1, "a"), ec(2, "A")]).is_err());
        let mut bad = ec(1, "a");
        bad.ec_k = 0;
        assert!(Policies::from_config(&[bad]).is_err());
        let mut d1 = ec(1, "a");
        d1.default = true;
        let mut d2 = ec(2, "b");
        d2.default = true;
        assert!(Policies::from_config(&[d1, d2]).is_err());
    }

    #[test]
    fn ring_and_device_paths() {
        assert_eq!(
            ring_path(Path::new("/r/object.ring"), 0),
            Path::new("/r/object.ring")
        );
        assert_eq!(
            ring_path(Path::new("/r/object.ring"), 1),
            Path::new("/r/object-1.ring")
        );
        assert_eq!(
            device_dir(Path::new("/d/sda"), 2),
            Path::new("/d/sda/policy-2")
        );
    }
}
