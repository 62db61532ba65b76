//! Credentials (`/v3/credentials`) and their EC2 view
//! (`/v3/users/{id}/credentials/OS-EC2`): a typed blob owned by a user and
//! optionally bound to a project. An `ec2` credential's blob is the JSON
//! `{"access": .., "secret": .., "trust_id": null}` and its id is the
//! SHA-256 of its access key, as in Keystone, so a lookup by access key is
//! one read. The secret is kept as given: S3 signatures need it.
//!
//! **Format:** `Credential` is on disk; add fields with `#[serde(default)]`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::error::Result;
use super::store::{Kind, Store};

/// The credential type of S3/EC2 key pairs.
pub const EC2: &str = "ec2";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Credential {
    pub id: String,
    pub user_id: String,
    #[serde(default)]
    pub project_id: Option<String>,
    /// `ec2`, `cert`, `totp`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The credential's content (for `ec2`, JSON with access and secret).
    pub blob: String,
}

/// The access and secret of an `ec2` blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ec2Keys {
    pub access: String,
    pub secret: String,
}

impl Credential {
    /// A new `ec2` credential of `user_id` on `project_id`.
    pub fn new_ec2(user_id: &str, project_id: &str, keys: &Ec2Keys) -> Credential {
        Credential {
            id: ec2_id(&keys.access),
            user_id: user_id.to_string(),
            project_id: Some(project_id.to_string()),
            kind: EC2.into(),
            blob: json!({"access": keys.access, "secret": keys.secret, "trust_id": null})
                .to_string(),
        }
    }

    /// The access and secret, if this is a well-formed `ec2` credential.
    pub fn ec2_keys(&self) -> Option<Ec2Keys> {
        if self.kind != EC2 {
            return None;
        }
        let blob: Value = serde_json::from_str(&self.blob).ok()?;
        Some(Ec2Keys {
            access: blob.get("access")?.as_str()?.to_string(),
            secret: blob.get("secret")?.as_str()?.to_string(),
        })
    }

    /// Keystone's `/v3/credentials` shape.
    pub fn to_json(&self, base: &str) -> Value {
        json!({"id": self.id, "user_id": self.user_id, "project_id": self.project_id,
               "type": self.kind, "blob": self.blob,
               "links": {"self": format!("{base}/credentials/{}", self.id)}})
    }

    /// The OS-EC2 shape (`access`, `secret`, `tenant_id`, ...), for `ec2` ones.
    pub fn to_ec2_json(&self, base: &str) -> Option<Value> {
        let keys = self.ec2_keys()?;
        Some(
            json!({"user_id": self.user_id, "tenant_id": self.project_id,
            "access": keys.access, "secret": keys.secret, "trust_id": null,
            "links": {"self": format!("{base}/users/{}/credentials/OS-EC2/{}",
                                      self.user_id, keys.access)}}),
        )
    }
}

/// The id of the `ec2` credential with access key `access`.
pub fn ec2_id(access: &str) -> String {
    hex::encode(Sha256::digest(access.as_bytes()))
}

/// A fresh key pair: 32 hex digits each, as Keystone makes them.
pub fn new_ec2_keys() -> Ec2Keys {
    Ec2Keys {
        access: hex::encode(rand::random::<[u8; 16]>()),
        secret: hex::encode(rand::random::<[u8; 16]>()),
    }
}

/// The `ec2` credential with access key `access`, if any.
pub async fn ec2_by_access(store: &Store, access: &str) -> Result<Option<Credential>> {
    let found: Option<Credential> = store.get(Kind::Credential, &ec2_id(access)).await?;
    Ok(found.filter(|c| c.ec2_keys().is_some_and(|k| k.access == access)))
}

/// Every credential of `user_id`.
pub async fn of_user(store: &Store, user_id: &str) -> Result<Vec<Credential>> {
    let all: Vec<Credential> = store.list(Kind::Credential, "").await?;
    Ok(all.into_iter().filter(|c| c.user_id == user_id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec2_blob_round_trip_and_id() {
        let keys = Ec2Keys {
            access: "ak".into(),
            secret: "sk".into(),
        };
        let c = Credential::new_ec2("u", "p", &keys);
        assert_eq!(c.ec2_keys(), Some(keys));
        // Keystone's id of an ec2 credential: sha256 of the access key.
        assert_eq!(
            c.id,
            "7f093592aebbb47767b5655699cdab8c86c4b24f5c93e3b22a3c2538856e9bf1"
        );
        let j = c.to_ec2_json("http://h/v3").expect("ec2");
        assert_eq!(j["tenant_id"], "p");
        assert_eq!(j["access"], "ak");
        let other = Credential {
            kind: "cert".into(),
            ..c
        };
        assert!(other.ec2_keys().is_none() && other.to_ec2_json("b").is_none());
    }
}
