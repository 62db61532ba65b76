//! Swift's v1.0 authentication in the manner of tempauth: users and groups
//! from config, random tokens that expire, and the authorization rules
//! (`.admin` owns its account, `.reseller_admin` acts on all, everyone else
//! only through container ACLs).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// The prefix that turns an auth account name into a storage account.
pub const RESELLER_PREFIX: &str = "AUTH_";

/// A configured user.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub account: String,
    pub user: String,
    pub key: String,
    /// Groups such as `.admin` and `.reseller_admin`.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// Who a valid token belongs to.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The storage account the user belongs to (`AUTH_<account>`).
    pub account: String,
    /// Every group the user is in: `account`, `account:user`, plus configured ones.
    pub groups: Vec<String>,
}

impl Identity {
    /// Whether the identity owns `account` (or may act on every account).
    pub fn owns(&self, account: &str) -> bool {
        self.is_reseller_admin()
            || (self.account == account && self.groups.iter().any(|g| g == ".admin"))
    }

    /// Whether the identity may read (only read) `account`: the `.reader`
    /// group of an identity-token user on their own project.
    pub fn reads(&self, account: &str) -> bool {
        self.account == account && self.groups.iter().any(|g| g == ".reader")
    }

    pub fn is_reseller_admin(&self) -> bool {
        self.groups.iter().any(|g| g == ".reseller_admin")
    }
}

struct Session {
    identity: Identity,
    expires: Instant,
}

/// Users, live tokens and their lifetime.
pub struct TempAuth {
    users: Vec<UserConfig>,
    tokens: Mutex<HashMap<String, Session>>,
    ttl: Duration,
}

impl TempAuth {
    pub fn new(users: Vec<UserConfig>, ttl: Duration) -> Self {
        TempAuth {
            users,
            tokens: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    /// Checks `account:user` and key; returns a new token, its lifetime and the storage account.
    pub fn login(&self, auth_user: &str, key: &str) -> Option<(String, Duration, String)> {
        let (account, user) = auth_user.split_once(':')?;
        let cfg = self.users.iter().find(|u| {
            u.account == account
                && u.user == user
                && constant_time_eq(u.key.as_bytes(), key.as_bytes())
        })?;
        let mut groups = vec![cfg.account.clone(), format!("{}:{}", cfg.account, cfg.user)];
        groups.extend(cfg.groups.iter().cloned());
        let identity = Identity {
            account: format!("{RESELLER_PREFIX}{}", cfg.account),
            groups,
        };
        let token = format!("AUTH_tk{:032x}", rand::random::<u128>());
        let now = Instant::now();
        let mut tokens = self.tokens.lock().expect("token lock never poisoned");
        tokens.retain(|_, s| s.expires > now);
        let storage_account = identity.account.clone();
        tokens.insert(
            token.clone(),
            Session {
                identity,
                expires: now + self.ttl,
            },
        );
        Some((token, self.ttl, storage_account))
    }

    /// The identity behind a live token.
    pub fn validate(&self, token: &str) -> Option<Identity> {
        let tokens = self.tokens.lock().expect("token lock never poisoned");
        let s = tokens.get(token)?;
        (s.expires > Instant::now()).then(|| s.identity.clone())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A parsed container ACL (`X-Container-Read` / `X-Container-Write`).
#[derive(Debug, Default)]
pub struct Acl {
    /// `.r:*`: anyone may read objects.
    pub any_referrer: bool,
    /// `.rlistings`: readers may also list.
    pub listings: bool,
    /// Groups (`account`, `account:user`, `*`) granted.
    pub groups: Vec<String>,
}

impl Acl {
    pub fn parse(value: &str) -> Acl {
        let mut acl = Acl::default();
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                ".r:*" | ".referrer:*" => acl.any_referrer = true,
                ".rlistings" => acl.listings = true,
                i if i.starts_with(".r:") || i.starts_with(".referrer:") => {}
                i => acl.groups.push(i.to_string()),
            }
        }
        acl
    }

    /// Whether an identity is named by the ACL.
    pub fn grants(&self, who: Option<&Identity>) -> bool {
        let Some(who) = who else { return false };
        self.groups.iter().any(|g| {
            g == "*"
                || who.groups.iter().any(|w| w == g)
                || format!("{RESELLER_PREFIX}{g}") == who.account
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> TempAuth {
        let users = vec![
            UserConfig {
                account: "admin".into(),
                user: "admin".into(),
                key: "k".into(),
                groups: vec![".admin".into()],
            },
            UserConfig {
                account: "admin".into(),
                user: "bob".into(),
                key: "b".into(),
                groups: vec![],
            },
        ];
        TempAuth::new(users, Duration::from_secs(60))
    }

    #[test]
    fn login_checks_key_and_sets_owner() {
        let a = auth();
        assert!(a.login("admin:admin", "wrong").is_none());
        assert!(a.login("admin", "k").is_none());
        let (token, _, acct) = a.login("admin:admin", "k").expect("valid login");
        assert_eq!(acct, "AUTH_admin");
        let id = a.validate(&token).expect("live token");
        assert!(id.owns("AUTH_admin"));
        assert!(!id.owns("AUTH_other"));
        let (bob, _, _) = a.login("admin:bob", "b").expect("valid login");
        assert!(!a.validate(&bob).expect("live").owns("AUTH_admin"));
        assert!(a.validate("AUTH_tknope").is_none());
    }

    #[test]
    fn tokens_expire() {
        let a = TempAuth::new(auth().users, Duration::ZERO);
        let (token, _, _) = a.login("admin:admin", "k").expect("valid login");
        assert!(a.validate(&token).is_none());
    }

    #[test]
    fn acl_parsing() {
        let acl = Acl::parse(".r:*, .rlistings, admin:bob");
        assert!(acl.any_referrer && acl.listings);
        let bob = Identity {
            account: "AUTH_admin".into(),
            groups: vec!["admin".into(), "admin:bob".into()],
        };
        assert!(acl.grants(Some(&bob)));
        assert!(!Acl::parse("other:x").grants(Some(&bob)));
        assert!(!acl.grants(None));
    }
}
