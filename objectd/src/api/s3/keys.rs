//! S3 access keys: access/secret key pairs from config, each mapped to a
//! storage account (`AUTH_<account>`) and, when it is the account's admin,
//! owning it; other keys act only through container ACLs. A key not in
//! config is looked up in identity as an EC2 credential (`resolve`), which
//! acts as its user on its project (`api/keystone.rs`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::error::S3Error;
use crate::api::auth::{Identity, RESELLER_PREFIX};
use crate::api::{keystone, App};

/// One configured key pair (`[[objectd.s3_keys]]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct S3KeyConfig {
    pub access_key: String,
    pub secret_key: String,
    /// The auth account (without `AUTH_`).
    pub account: String,
    /// Whether the key owns its account (as a `.admin` user does).
    #[serde(default)]
    pub admin: bool,
}

/// The key pairs by access key.
pub struct S3Keys {
    keys: HashMap<String, S3KeyConfig>,
}

impl S3Keys {
    pub fn new(keys: Vec<S3KeyConfig>) -> Self {
        S3Keys {
            keys: keys
                .into_iter()
                .map(|k| (k.access_key.clone(), k))
                .collect(),
        }
    }

    /// The key pair of an access key.
    pub fn get(&self, access_key: &str) -> Option<&S3KeyConfig> {
        self.keys.get(access_key)
    }
}

/// The secret of `access` and whom requests signed with it act as: a
/// configured pair first, else an EC2 credential from identity.
pub async fn resolve(app: &App, access: &str) -> Result<(String, Identity), S3Error> {
    if let Some(k) = app.s3.keys.get(access) {
        return Ok((k.secret_key.clone(), k.identity()));
    }
    let Some(ks) = &app.keystone else {
        return Err(S3Error::invalid_access_key());
    };
    match ks.ec2_grant(access).await {
        Ok(Some(g)) => {
            let who = keystone::identity_of(
                &g.user_id,
                Some(&g.project_id),
                &g.roles,
                g.is_admin_project,
            );
            Ok((g.secret, who))
        }
        Ok(None) => Err(S3Error::invalid_access_key()),
        Err(e) => {
            tracing::warn!("cannot look up an S3 access key in identity: {e:#}");
            Err(S3Error::new(
                "ServiceUnavailable",
                http::StatusCode::SERVICE_UNAVAILABLE,
                "The access key cannot be checked now; please try again.",
            ))
        }
    }
}

impl S3KeyConfig {
    /// The identity requests signed with this key act as.
    pub fn identity(&self) -> Identity {
        let mut groups = vec![
            self.account.clone(),
            format!("{}:{}", self.account, self.access_key),
        ];
        if self.admin {
            groups.push(".admin".into());
        }
        Identity {
            account: format!("{RESELLER_PREFIX}{}", self.account),
            groups,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_keys_own_their_account_only() {
        let keys = S3Keys::new(vec![
            S3KeyConfig {
                access_key: "AK1".into(),
                secret_key: "s".into(),
                account: "admin".into(),
                admin: true,
            },
            S3KeyConfig {
                access_key: "AK2".into(),
                secret_key: "s".into(),
                account: "admin".into(),
                admin: false,
            },
        ]);
        let admin = keys.get("AK1").expect("configured").identity();
        assert_eq!(admin.account, "AUTH_admin");
        assert!(admin.owns("AUTH_admin") && !admin.owns("AUTH_other"));
        assert!(!keys
            .get("AK2")
            .expect("configured")
            .identity()
            .owns("AUTH_admin"));
        assert!(keys.get("nope").is_none());
    }
}
