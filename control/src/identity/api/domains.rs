//! `/v3/domains`: list (`?name=`) and show, and a user's roles on a
//! domain (`/v3/domains/{d}/users/{u}/roles[/{r}]`: list, grant, check,
//! revoke; revoking revokes the user's tokens). There is the `default`
//! domain only; creating domains comes later.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::request::Request;
use super::response::{self, Resp};
use crate::identity::domain_roles::{self, DomainAssignment};
use crate::identity::error::{Error, Result};
use crate::identity::model::{Domain, Role, User};
use crate::identity::store::Kind;
use crate::identity::{directory, Identity};

pub async fn route(id: &Identity, req: &Request, rest: &[&str]) -> Result<Resp> {
    match (&req.method, rest) {
        (&Method::GET | &Method::HEAD, []) => {
            req.authorize(id, "identity:list_domains", |_| false)?;
            let all: Vec<Domain> = id.store.list(Kind::Domain, "").await?;
            let list: Vec<Value> = all
                .iter()
                .filter(|d| req.query("name").is_none_or(|n| d.name == n))
                .map(|d| d.to_json(&id.base_url))
                .collect();
            Ok(response::json(
                StatusCode::OK,
                &json!({"domains": list, "links": response::list_links(&id.base_url, "domains")}),
            ))
        }
        (&Method::GET | &Method::HEAD, [did]) => {
            let caller = req.caller(id)?;
            let own = id
                .store
                .get::<User>(Kind::User, &caller.user_id)
                .await?
                .is_some_and(|u| u.domain_id == *did);
            req.authorize(id, "identity:get_domain", |_| own)?;
            let d: Domain = directory::must(&id.store, Kind::Domain, "domain", did).await?;
            Ok(response::json(
                StatusCode::OK,
                &json!({"domain": d.to_json(&id.base_url)}),
            ))
        }
        (_, [did, "users", uid, "roles", more @ ..]) => user_roles(id, req, did, uid, more).await,
        _ => super::not_allowed(),
    }
}

async fn user_roles(
    id: &Identity,
    req: &Request,
    did: &str,
    uid: &str,
    rest: &[&str],
) -> Result<Resp> {
    let _: Domain = directory::must(&id.store, Kind::Domain, "domain", did).await?;
    let _: User = directory::must(&id.store, Kind::User, "user", uid).await?;
    match (&req.method, rest) {
        (&Method::GET | &Method::HEAD, []) => {
            req.authorize(id, "identity:list_grants", |c| c.user_id == uid)?;
            let list: Vec<Value> = domain_roles::roles_on(&id.store, did, uid)
                .await?
                .iter()
                .map(|r| r.to_json(&id.base_url))
                .collect();
            let links =
                response::list_links(&id.base_url, &format!("domains/{did}/users/{uid}/roles"));
            Ok(response::json(
                StatusCode::OK,
                &json!({"roles": list, "links": links}),
            ))
        }
        (m, [rid]) => {
            let _: Role = directory::must(&id.store, Kind::Role, "role", rid).await?;
            let a = DomainAssignment {
                domain_id: did.to_string(),
                user_id: uid.to_string(),
                role_id: rid.to_string(),
            };
            let exists = id
                .store
                .get::<DomainAssignment>(Kind::DomainAssignment, &a.key())
                .await?
                .is_some();
            match *m {
                Method::PUT => {
                    req.authorize(id, "identity:create_grant", |_| false)?;
                    id.store.put(Kind::DomainAssignment, &a.key(), &a).await?;
                    Ok(response::empty(StatusCode::NO_CONTENT))
                }
                Method::HEAD | Method::GET => {
                    req.authorize(id, "identity:check_grant", |_| false)?;
                    if exists {
                        Ok(response::empty(StatusCode::NO_CONTENT))
                    } else {
                        Err(Error::not_found("grant", &a.key()))
                    }
                }
                Method::DELETE => {
                    req.authorize(id, "identity:revoke_grant", |_| false)?;
                    if !exists {
                        return Err(Error::not_found("grant", &a.key()));
                    }
                    id.store.delete(Kind::DomainAssignment, &a.key()).await?;
                    id.tokens.revoke_user(&id.store, uid).await?;
                    Ok(response::empty(StatusCode::NO_CONTENT))
                }
                _ => super::not_allowed(),
            }
        }
        _ => super::not_allowed(),
    }
}
