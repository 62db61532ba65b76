//! Identity (Keystone) auth for the Swift and S3 APIs, in the manner of
//! Swift's keystoneauth. Tokens are told apart by their form: `c1.` ones
//! are identity's, checked locally against its public key and revocation
//! list (`common::token_verifier`); others are tempauth's. S3 access keys
//! that are not configured are EC2 credentials looked up in identity with
//! the shared service secret and cached briefly.
//!
//! A token or key acts on account `AUTH_<project_id>`. Roles:
//! `admin` and `member` own their project's account (operator roles);
//! `reader` may only read it (GET/HEAD); `admin` on the cloud's admin
//! project, or on the system (a system-scoped token), acts on every
//! account (as `ResellerAdmin`). Container ACLs name
//! `project_id:user_id`, `project_id:*`, `*:user_id`, `*:*` or a role.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ec2::Ec2Grant;
use common::identity_http::IdentityHttp;
use common::token_verifier::{CheckError, RemoteVerifier};
use http::StatusCode;

use super::auth::{Identity, RESELLER_PREFIX};
use super::response::{self, Resp};
use super::App;

/// Roles that own their project's account.
const OPERATOR_ROLES: [&str; 2] = ["admin", "member"];
/// Roles that may read their project's account.
const READER_ROLES: [&str; 1] = ["reader"];
/// The role that, on the admin project, acts on every account.
const RESELLER_ADMIN_ROLE: &str = "admin";
/// How long a looked-up EC2 credential (or its absence) is reused.
const EC2_CACHE_TTL: Duration = Duration::from_secs(5);
/// Cached lookups kept at most (the cache is emptied when full).
const EC2_CACHE_MAX: usize = 10_000;

/// Identity's tokens and EC2 credentials, for one proxy.
pub struct KeystoneAuth {
    verifier: Arc<RemoteVerifier>,
    http: IdentityHttp,
    service_secret: Option<String>,
    ec2_cache: Mutex<HashMap<String, (Instant, Option<Ec2Grant>)>>,
}

impl KeystoneAuth {
    /// Auth against identity at `url`; EC2 lookups need `service_secret`.
    pub fn new(url: &str, service_secret: Option<String>) -> anyhow::Result<Arc<KeystoneAuth>> {
        Ok(Arc::new(KeystoneAuth {
            verifier: RemoteVerifier::new(url)?,
            http: IdentityHttp::new(url)?,
            service_secret,
            ec2_cache: Mutex::new(HashMap::new()),
        }))
    }

    /// The token verifier (its refresh loop is the caller's to run).
    pub fn verifier(&self) -> Arc<RemoteVerifier> {
        self.verifier.clone()
    }

    /// Who an identity token belongs to.
    pub async fn identify(&self, token: &str) -> Result<Identity, CheckError> {
        let c = self.verifier.check(token).await?;
        Ok(identity_of(
            &c.user_id,
            c.project_id.as_deref(),
            &c.roles,
            c.is_admin_project || c.system_scope,
        ))
    }

    /// The EC2 credential with access key `access`: `Ok(None)` if identity
    /// has no usable one, an error if identity cannot be asked.
    pub async fn ec2_grant(&self, access: &str) -> anyhow::Result<Option<Ec2Grant>> {
        let Some(secret) = &self.service_secret else {
            return Ok(None);
        };
        if let Some((at, grant)) = self.ec2_cache.lock().expect("ec2 cache lock").get(access) {
            if at.elapsed() < EC2_CACHE_TTL {
                return Ok(grant.clone());
            }
        }
        let grant = common::ec2::lookup(&self.http, secret, access).await?;
        let mut cache = self.ec2_cache.lock().expect("ec2 cache lock");
        if cache.len() >= EC2_CACHE_MAX {
            cache.clear();
        }
        cache.insert(access.to_string(), (Instant::now(), grant.clone()));
        Ok(grant)
    }
}

/// The identity of a user acting on `project_id` with `roles`;
/// `cloud_wide` when the scope is the cloud's admin project or the system.
pub fn identity_of(
    user_id: &str,
    project_id: Option<&str>,
    roles: &[String],
    cloud_wide: bool,
) -> Identity {
    let has = |names: &[&str]| roles.iter().any(|r| names.contains(&r.as_str()));
    let project = project_id.unwrap_or("");
    let mut groups = vec![format!("*:{user_id}"), "*:*".to_string()];
    if !project.is_empty() {
        groups.push(format!("{project}:{user_id}"));
        groups.push(format!("{project}:*"));
        if has(&OPERATOR_ROLES) {
            groups.push(".admin".into());
        } else if has(&READER_ROLES) {
            groups.push(".reader".into());
        }
    }
    if cloud_wide && has(&[RESELLER_ADMIN_ROLE]) {
        groups.push(".reseller_admin".into());
    }
    // Role names may appear in ACLs; names that look like our own groups
    // (`.admin`, ...) are never taken from a token.
    groups.extend(
        roles
            .iter()
            .filter(|r| !r.starts_with('.') && !r.contains(':'))
            .cloned(),
    );
    Identity {
        account: if project.is_empty() {
            String::new()
        } else {
            format!("{RESELLER_PREFIX}{project}")
        },
        groups,
    }
}

/// Who a Swift `X-Auth-Token` belongs to, whichever auth made it; the
/// error is the response (401, or 503 when identity was never reached).
pub async fn identify_token(app: &App, token: &str) -> Result<Identity, Resp> {
    if token.starts_with("c1.") {
        if let Some(k) = &app.keystone {
            return k.identify(token).await.map_err(|e| match e {
                CheckError::Unavailable => response::error(StatusCode::SERVICE_UNAVAILABLE, ""),
                CheckError::Refused(why) => {
                    tracing::debug!("identity token refused: {why}");
                    response::error(StatusCode::UNAUTHORIZED, "")
                }
            });
        }
    }
    app.auth
        .validate(token)
        .ok_or_else(|| response::error(StatusCode::UNAUTHORIZED, ""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::auth::Acl;

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn roles_map_to_owner_reader_and_reseller() {
        let member = identity_of("u", Some("p"), &roles(&["member"]), false);
        assert_eq!(member.account, "AUTH_p");
        assert!(member.owns("AUTH_p") && !member.owns("AUTH_q"));
        let reader = identity_of("u", Some("p"), &roles(&["reader"]), false);
        assert!(!reader.owns("AUTH_p") && reader.reads("AUTH_p") && !reader.reads("AUTH_q"));
        let admin = identity_of("u", Some("p"), &roles(&["admin"]), false);
        assert!(admin.owns("AUTH_p") && !admin.owns("AUTH_q"));
        let cloud_admin = identity_of("u", Some("p"), &roles(&["admin"]), true);
        assert!(cloud_admin.owns("AUTH_q"));
        let member_of_admin = identity_of("u", Some("p"), &roles(&["member"]), true);
        assert!(!member_of_admin.owns("AUTH_q"));
        let sneaky = identity_of("u", Some("p"), &roles(&[".reseller_admin", "a:b"]), false);
        assert!(!sneaky.owns("AUTH_q") && !sneaky.owns("AUTH_p"));
        let unscoped = identity_of("u", None, &[], false);
        assert_eq!(unscoped.account, "");
        assert!(!unscoped.owns(""));
        let system_admin = identity_of("u", None, &roles(&["admin"]), true);
        assert!(system_admin.owns("AUTH_q"));
        let system_reader = identity_of("u", None, &roles(&["reader"]), true);
        assert!(!system_reader.owns("AUTH_q") && !system_reader.reads("AUTH_q"));
    }

    #[test]
    fn acl_elements_as_keystoneauth() {
        let alice = identity_of("alice", Some("pa"), &roles(&["member"]), false);
        for (acl, granted) in [
            ("pa:alice", true),
            ("pa:*", true),
            ("*:alice", true),
            ("*:*", true),
            ("member", true),
            ("pb:alice", false),
            ("pa:bob", false),
            ("*:bob", false),
            ("reader", false),
            (".r:*", false),
        ] {
            assert_eq!(Acl::parse(acl).grants(Some(&alice)), granted, "{acl}");
        }
    }
}
