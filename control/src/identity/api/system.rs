//! `/v3/system/users/{u}/roles[/{r}]`: a user's roles on the system (list,
//! grant, check, revoke; revoking revokes the user's tokens).

use http::{Method, StatusCode};
use serde_json::json;

use super::request::Request;
use super::response::{self, Resp};
use crate::identity::error::{Error, Result};
use crate::identity::model::{Role, User};
use crate::identity::store::Kind;
use crate::identity::system::{self, SystemAssignment};
use crate::identity::{directory, Identity};

pub async fn user_roles(id: &Identity, req: &Request, uid: &str, rest: &[&str]) -> Result<Resp> {
    let _: User = directory::must(&id.store, Kind::User, "user", uid).await?;
    match (&req.method, rest) {
        (&Method::GET | &Method::HEAD, []) => {
            req.authorize(id, "identity:list_system_grants_for_user", |c| {
                c.user_id == uid
            })?;
            let list: Vec<_> = system::roles_of(&id.store, uid)
                .await?
                .iter()
                .map(|r| r.to_json(&id.base_url))
                .collect();
            let links = response::list_links(&id.base_url, &format!("system/users/{uid}/roles"));
            Ok(response::json(
                StatusCode::OK,
                &json!({"roles": list, "links": links}),
            ))
        }
        (m, [rid]) => {
            let _: Role = directory::must(&id.store, Kind::Role, "role", rid).await?;
            let a = SystemAssignment {
                user_id: uid.to_string(),
                role_id: rid.to_string(),
            };
            let exists = id
                .store
                .get::<SystemAssignment>(Kind::SystemAssignment, &a.key())
                .await?
                .is_some();
            match *m {
                Method::PUT => {
                    req.authorize(id, "identity:create_system_grant_for_user", |_| false)?;
                    id.store.put(Kind::SystemAssignment, &a.key(), &a).await?;
                    Ok(response::empty(StatusCode::NO_CONTENT))
                }
                Method::HEAD | Method::GET => {
                    req.authorize(id, "identity:check_system_grant_for_user", |c| {
                        c.user_id == uid
                    })?;
                    if exists {
                        Ok(response::empty(StatusCode::NO_CONTENT))
                    } else {
                        Err(Error::not_found("grant", &a.key()))
                    }
                }
                Method::DELETE => {
                    req.authorize(id, "identity:revoke_system_grant_for_user", |_| false)?;
                    if !exists {
                        return Err(Error::not_found("grant", &a.key()));
                    }
                    id.store.delete(Kind::SystemAssignment, &a.key()).await?;
                    id.tokens.revoke_user(&id.store, uid).await?;
                    Ok(response::empty(StatusCode::NO_CONTENT))
                }
                _ => super::not_allowed(),
            }
        }
        _ => super::not_allowed(),
    }
}
