//! `/v3/roles` (list with `?name=`, create, show, delete), grants of a
//! role to a user on a project (`/v3/projects/{p}/users/{u}/roles[/{r}]`).
//! Removing a grant or a role revokes the affected users' tokens (members
//! of groups holding it too), whose roles would be stale.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::request::{object, required, str_field, Request};
use super::response::{self, Resp};
use crate::identity::error::{Error, Result};
use crate::identity::model::{new_id, Assignment, Project, Role, User};
use crate::identity::store::Kind;
use crate::identity::{directory, groups, Identity};

pub async fn route(id: &Identity, req: &Request, rest: &[&str]) -> Result<Resp> {
    match (&req.method, rest) {
        (&Method::GET | &Method::HEAD, []) => list(id, req).await,
        (&Method::POST, []) => create(id, req).await,
        (&Method::GET | &Method::HEAD, [rid]) => {
            req.authorize(id, "identity:get_role", |_| false)?;
            let r: Role = directory::must(&id.store, Kind::Role, "role", rid).await?;
            Ok(response::json(
                StatusCode::OK,
                &json!({"role": r.to_json(&id.base_url)}),
            ))
        }
        (&Method::DELETE, [rid]) => delete(id, req, rid).await,
        _ => super::not_allowed(),
    }
}

async fn list(id: &Identity, req: &Request) -> Result<Resp> {
    req.authorize(id, "identity:list_roles", |_| false)?;
    let all: Vec<Role> = id.store.list(Kind::Role, "").await?;
    let list: Vec<Value> = all
        .iter()
        .filter(|r| req.query("name").is_none_or(|n| r.name == n))
        .map(|r| r.to_json(&id.base_url))
        .collect();
    Ok(response::json(
        StatusCode::OK,
        &json!({"roles": list, "links": response::list_links(&id.base_url, "roles")}),
    ))
}

async fn create(id: &Identity, req: &Request) -> Result<Resp> {
    req.authorize(id, "identity:create_role", |_| false)?;
    let body = req.json()?;
    let r = object(&body, "role")?;
    let role = Role {
        id: new_id(),
        name: required(r, "name")?.to_string(),
        description: str_field(r, "description").map(str::to_string),
    };
    let _guard = id.store.write_lock().await;
    if directory::role_named(&id.store, &role.name)
        .await?
        .is_some()
    {
        return Err(Error::Conflict { kind: "role" });
    }
    id.store.put(Kind::Role, &role.id, &role).await?;
    Ok(response::json(
        StatusCode::CREATED,
        &json!({"role": role.to_json(&id.base_url)}),
    ))
}

async fn delete(id: &Identity, req: &Request, rid: &str) -> Result<Resp> {
    req.authorize(id, "identity:delete_role", |_| false)?;
    let _guard = id.store.write_lock().await;
    let _: Role = directory::must(&id.store, Kind::Role, "role", rid).await?;
    let grants = directory::assignments(&id.store, None, None, Some(rid)).await?;
    for a in &grants {
        id.store.delete(Kind::Assignment, &a.key()).await?;
    }
    let mut affected: Vec<String> = grants.into_iter().map(|a| a.user_id).collect();
    for a in groups::assignments(&id.store, None, None, Some(rid)).await? {
        id.store.delete(Kind::GroupAssignment, &a.key()).await?;
        affected.extend(groups::members(&id.store, &a.group_id).await?);
    }
    for a in crate::identity::system::assignments(&id.store, None, Some(rid)).await? {
        id.store.delete(Kind::SystemAssignment, &a.key()).await?;
        affected.push(a.user_id);
    }
    for a in crate::identity::domain_roles::assignments(&id.store, None, None, Some(rid)).await? {
        id.store.delete(Kind::DomainAssignment, &a.key()).await?;
        affected.push(a.user_id);
    }
    id.store.delete(Kind::Role, rid).await?;
    drop(_guard);
    affected.sort();
    affected.dedup();
    for uid in &affected {
        id.tokens.revoke_user(&id.store, uid).await?;
    }
    Ok(response::empty(StatusCode::NO_CONTENT))
}

/// `/v3/projects/{p}/users/{u}/roles[/{r}]`.
pub async fn grants(id: &Identity, req: &Request, rest: &[&str]) -> Result<Resp> {
    let (pid, uid) = (rest[1], rest[3]);
    let _: Project = directory::must(&id.store, Kind::Project, "project", pid).await?;
    let _: User = directory::must(&id.store, Kind::User, "user", uid).await?;
    match (&req.method, &rest[5..]) {
        (&Method::GET | &Method::HEAD, []) => {
            req.authorize(id, "identity:list_grants", |_| false)?;
            let mut list = Vec::new();
            for a in directory::assignments(&id.store, Some(pid), Some(uid), None).await? {
                if let Some(r) = id.store.get::<Role>(Kind::Role, &a.role_id).await? {
                    list.push(r.to_json(&id.base_url));
                }
            }
            let links =
                response::list_links(&id.base_url, &format!("projects/{pid}/users/{uid}/roles"));
            Ok(response::json(
                StatusCode::OK,
                &json!({"roles": list, "links": links}),
            ))
        }
        (m, [rid]) => {
            let _: Role = directory::must(&id.store, Kind::Role, "role", rid).await?;
            let a = Assignment {
                project_id: pid.into(),
                user_id: uid.into(),
                role_id: rid.to_string(),
            };
            match *m {
                Method::PUT => {
                    req.authorize(id, "identity:create_grant", |_| false)?;
                    id.store.put(Kind::Assignment, &a.key(), &a).await?;
                    Ok(response::empty(StatusCode::NO_CONTENT))
                }
                Method::HEAD | Method::GET => {
                    req.authorize(id, "identity:check_grant", |_| false)?;
                    match id
                        .store
                        .get::<Assignment>(Kind::Assignment, &a.key())
                        .await?
                    {
                        Some(_) => Ok(response::empty(StatusCode::NO_CONTENT)),
                        None => Err(Error::not_found("grant", &a.key())),
                    }
                }
                Method::DELETE => {
                    req.authorize(id, "identity:revoke_grant", |_| false)?;
                    if id
                        .store
                        .get::<Assignment>(Kind::Assignment, &a.key())
                        .await?
                        .is_none()
                    {
                        return Err(Error::not_found("grant", &a.key()));
                    }
                    id.store.delete(Kind::Assignment, &a.key()).await?;
                    id.tokens.revoke_user(&id.store, uid).await?;
                    Ok(response::empty(StatusCode::NO_CONTENT))
                }
                _ => super::not_allowed(),
            }
        }
        _ => super::not_allowed(),
    }
}
