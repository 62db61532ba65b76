//! `/v3/groups`: list (`?name=`, `?domain_id=`), create, show, update,
//! delete; members (`/v3/groups/{g}/users[/{u}]`: list, add, check,
//! remove); `/v3/users/{u}/groups`; and roles of a group on a project
//! (`/v3/projects/{p}/groups/{g}/roles[/{r}]`). Anything that takes a role
//! away from someone (removing a member, a group's grant or the group)
//! revokes the affected users' tokens, whose roles would be stale.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::request::{object, required, str_field, Request};
use super::response::{self, Resp};
use crate::identity::error::{Error, Result};
use crate::identity::groups::{self, Group, GroupAssignment, Membership};
use crate::identity::model::{new_id, Project, Role, User, DEFAULT_DOMAIN_ID};
use crate::identity::store::Kind;
use crate::identity::{directory, Identity};

pub async fn route(id: &Identity, req: &Request, rest: &[&str]) -> Result<Resp> {
    match (&req.method, rest) {
        (&Method::GET | &Method::HEAD, []) => list(id, req).await,
        (&Method::POST, []) => create(id, req).await,
        (&Method::GET | &Method::HEAD, [gid]) => {
            req.authorize(id, "identity:get_group", |_| false)?;
            let g = must(id, gid).await?;
            Ok(response::json(
                StatusCode::OK,
                &json!({"group": g.to_json(&id.base_url)}),
            ))
        }
        (&Method::PATCH, [gid]) => update(id, req, gid).await,
        (&Method::DELETE, [gid]) => delete(id, req, gid).await,
        (&Method::GET | &Method::HEAD, [gid, "users"]) => list_members(id, req, gid).await,
        (m, [gid, "users", uid]) => membership(id, req, m, gid, uid).await,
        _ => super::not_allowed(),
    }
}

async fn must(id: &Identity, gid: &str) -> Result<Group> {
    directory::must(&id.store, Kind::Group, "group", gid).await
}

async fn named(id: &Identity, name: &str, domain_id: &str) -> Result<bool> {
    let all: Vec<Group> = id.store.list(Kind::Group, "").await?;
    Ok(all
        .iter()
        .any(|g| g.name == name && g.domain_id == domain_id))
}

async fn list(id: &Identity, req: &Request) -> Result<Resp> {
    req.authorize(id, "identity:list_groups", |_| false)?;
    let all: Vec<Group> = id.store.list(Kind::Group, "").await?;
    let list: Vec<Value> = all
        .iter()
        .filter(|g| req.query("name").is_none_or(|n| g.name == n))
        .filter(|g| req.query("domain_id").is_none_or(|d| g.domain_id == d))
        .map(|g| g.to_json(&id.base_url))
        .collect();
    Ok(response::json(
        StatusCode::OK,
        &json!({"groups": list, "links": response::list_links(&id.base_url, "groups")}),
    ))
}

async fn create(id: &Identity, req: &Request) -> Result<Resp> {
    req.authorize(id, "identity:create_group", |_| false)?;
    let body = req.json()?;
    let g = object(&body, "group")?;
    let group = Group {
        id: new_id(),
        name: required(g, "name")?.to_string(),
        domain_id: str_field(g, "domain_id")
            .unwrap_or(DEFAULT_DOMAIN_ID)
            .to_string(),
        description: str_field(g, "description").unwrap_or("").to_string(),
    };
    let _guard = id.store.write_lock().await;
    if directory::domain(&id.store, &group.domain_id)
        .await?
        .is_none()
    {
        return Err(Error::BadRequest(format!(
            "Could not find domain: {}.",
            group.domain_id
        )));
    }
    if named(id, &group.name, &group.domain_id).await? {
        return Err(Error::Conflict { kind: "group" });
    }
    id.store.put(Kind::Group, &group.id, &group).await?;
    tracing::info!(group = %group.id, name = %group.name, "group created");
    Ok(response::json(
        StatusCode::CREATED,
        &json!({"group": group.to_json(&id.base_url)}),
    ))
}

async fn update(id: &Identity, req: &Request, gid: &str) -> Result<Resp> {
    req.authorize(id, "identity:update_group", |_| false)?;
    let body = req.json()?;
    let patch = object(&body, "group")?;
    let _guard = id.store.write_lock().await;
    let mut g = must(id, gid).await?;
    if let Some(name) = str_field(patch, "name") {
        if name != g.name && named(id, name, &g.domain_id).await? {
            return Err(Error::Conflict { kind: "group" });
        }
        g.name = required(patch, "name")?.to_string();
    }
    if let Some(d) = str_field(patch, "description") {
        g.description = d.to_string();
    }
    id.store.put(Kind::Group, &g.id, &g).await?;
    Ok(response::json(
        StatusCode::OK,
        &json!({"group": g.to_json(&id.base_url)}),
    ))
}

async fn delete(id: &Identity, req: &Request, gid: &str) -> Result<Resp> {
    req.authorize(id, "identity:delete_group", |_| false)?;
    let _guard = id.store.write_lock().await;
    let _ = must(id, gid).await?;
    let members = groups::members(&id.store, gid).await?;
    for uid in &members {
        let m = Membership {
            group_id: gid.to_string(),
            user_id: uid.clone(),
        };
        id.store.delete(Kind::Membership, &m.key()).await?;
    }
    for a in groups::assignments(&id.store, None, Some(gid), None).await? {
        id.store.delete(Kind::GroupAssignment, &a.key()).await?;
    }
    id.store.delete(Kind::Group, gid).await?;
    drop(_guard);
    for uid in &members {
        id.tokens.revoke_user(&id.store, uid).await?;
    }
    tracing::info!(group = %gid, "group deleted");
    Ok(response::empty(StatusCode::NO_CONTENT))
}

async fn list_members(id: &Identity, req: &Request, gid: &str) -> Result<Resp> {
    req.authorize(id, "identity:list_users_in_group", |_| false)?;
    let _ = must(id, gid).await?;
    let mut list = Vec::new();
    for uid in groups::members(&id.store, gid).await? {
        if let Some(u) = id.store.get::<User>(Kind::User, &uid).await? {
            list.push(u.to_json(&id.base_url));
        }
    }
    Ok(response::json(
        StatusCode::OK,
        &json!({"users": list,
                "links": response::list_links(&id.base_url, &format!("groups/{gid}/users"))}),
    ))
}

async fn membership(
    id: &Identity,
    req: &Request,
    m: &Method,
    gid: &str,
    uid: &str,
) -> Result<Resp> {
    let _ = must(id, gid).await?;
    let _: User = directory::must(&id.store, Kind::User, "user", uid).await?;
    let member = Membership {
        group_id: gid.to_string(),
        user_id: uid.to_string(),
    };
    let exists = id
        .store
        .get::<Membership>(Kind::Membership, &member.key())
        .await?
        .is_some();
    let not_member = || Error::NotFound {
        kind: "user",
        id: format!("{uid} in group {gid}"),
    };
    match *m {
        Method::PUT => {
            req.authorize(id, "identity:add_user_to_group", |_| false)?;
            id.store
                .put(Kind::Membership, &member.key(), &member)
                .await?;
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
        Method::HEAD | Method::GET => {
            req.authorize(id, "identity:check_user_in_group", |_| false)?;
            if exists {
                Ok(response::empty(StatusCode::NO_CONTENT))
            } else {
                Err(not_member())
            }
        }
        Method::DELETE => {
            req.authorize(id, "identity:remove_user_from_group", |_| false)?;
            if !exists {
                return Err(not_member());
            }
            id.store.delete(Kind::Membership, &member.key()).await?;
            id.tokens.revoke_user(&id.store, uid).await?;
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
        _ => super::not_allowed(),
    }
}

/// `GET /v3/users/{u}/groups`.
pub async fn of_user(id: &Identity, req: &Request, uid: &str) -> Result<Resp> {
    req.authorize(id, "identity:list_groups_for_user", |c| c.user_id == uid)?;
    let _: User = directory::must(&id.store, Kind::User, "user", uid).await?;
    let mut list = Vec::new();
    for gid in groups::groups_of(&id.store, uid).await? {
        if let Some(g) = id.store.get::<Group>(Kind::Group, &gid).await? {
            list.push(g.to_json(&id.base_url));
        }
    }
    Ok(response::json(
        StatusCode::OK,
        &json!({"groups": list,
                "links": response::list_links(&id.base_url, &format!("users/{uid}/groups"))}),
    ))
}

/// `/v3/projects/{p}/groups/{g}/roles[/{r}]`.
pub async fn grants(id: &Identity, req: &Request, rest: &[&str]) -> Result<Resp> {
    let (pid, gid) = (rest[1], rest[3]);
    let _: Project = directory::must(&id.store, Kind::Project, "project", pid).await?;
    let _ = must(id, gid).await?;
    match (&req.method, &rest[5..]) {
        (&Method::GET | &Method::HEAD, []) => {
            req.authorize(id, "identity:list_grants", |_| false)?;
            let mut list = Vec::new();
            for a in groups::assignments(&id.store, Some(pid), Some(gid), None).await? {
                if let Some(r) = id.store.get::<Role>(Kind::Role, &a.role_id).await? {
                    list.push(r.to_json(&id.base_url));
                }
            }
            let links =
                response::list_links(&id.base_url, &format!("projects/{pid}/groups/{gid}/roles"));
            Ok(response::json(
                StatusCode::OK,
                &json!({"roles": list, "links": links}),
            ))
        }
        (m, [rid]) => {
            let _: Role = directory::must(&id.store, Kind::Role, "role", rid).await?;
            let a = GroupAssignment {
                project_id: pid.into(),
                group_id: gid.into(),
                role_id: rid.to_string(),
            };
            let exists = id
                .store
                .get::<GroupAssignment>(Kind::GroupAssignment, &a.key())
                .await?
                .is_some();
            match *m {
                Method::PUT => {
                    req.authorize(id, "identity:create_grant", |_| false)?;
                    id.store.put(Kind::GroupAssignment, &a.key(), &a).await?;
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
                    id.store.delete(Kind::GroupAssignment, &a.key()).await?;
                    for uid in groups::members(&id.store, gid).await? {
                        id.tokens.revoke_user(&id.store, &uid).await?;
                    }
                    Ok(response::empty(StatusCode::NO_CONTENT))
                }
                _ => super::not_allowed(),
            }
        }
        _ => super::not_allowed(),
    }
}
