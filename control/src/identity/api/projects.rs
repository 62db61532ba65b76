//! `/v3/projects`: list (`?name=`, `?domain_id=`), create, show, update,
//! delete. Deleting or disabling a project revokes its tokens; deleting
//! removes its role assignments.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::request::{bool_field, object, required, str_field, Request};
use super::response::{self, Resp};
use crate::identity::error::{Error, Result};
use crate::identity::model::{new_id, Project, DEFAULT_DOMAIN_ID};
use crate::identity::store::Kind;
use crate::identity::{directory, Identity};

pub async fn route(id: &Identity, req: &Request, rest: &[&str]) -> Result<Resp> {
    match (&req.method, rest) {
        (&Method::GET | &Method::HEAD, []) => list(id, req).await,
        (&Method::POST, []) => create(id, req).await,
        (&Method::GET | &Method::HEAD, [pid]) => show(id, req, pid).await,
        (&Method::PATCH, [pid]) => update(id, req, pid).await,
        (&Method::DELETE, [pid]) => delete(id, req, pid).await,
        _ => super::not_allowed(),
    }
}

async fn list(id: &Identity, req: &Request) -> Result<Resp> {
    req.authorize(id, "identity:list_projects", |_| false)?;
    let all: Vec<Project> = id.store.list(Kind::Project, "").await?;
    let list: Vec<Value> = all
        .iter()
        .filter(|p| req.query("name").is_none_or(|n| p.name == n))
        .filter(|p| req.query("domain_id").is_none_or(|d| p.domain_id == d))
        .map(|p| p.to_json(&id.base_url))
        .collect();
    Ok(response::json(
        StatusCode::OK,
        &json!({"projects": list, "links": response::list_links(&id.base_url, "projects")}),
    ))
}

async fn create(id: &Identity, req: &Request) -> Result<Resp> {
    req.authorize(id, "identity:create_project", |_| false)?;
    let body = req.json()?;
    let p = object(&body, "project")?;
    let domain_id = str_field(p, "domain_id").unwrap_or(DEFAULT_DOMAIN_ID);
    let project = Project {
        id: new_id(),
        name: required(p, "name")?.to_string(),
        domain_id: domain_id.to_string(),
        description: str_field(p, "description").unwrap_or("").to_string(),
        enabled: bool_field(p, "enabled", true)?,
    };
    let _guard = id.store.write_lock().await;
    if directory::domain(&id.store, domain_id).await?.is_none() {
        return Err(Error::BadRequest(format!(
            "Could not find domain: {domain_id}."
        )));
    }
    if !directory::projects_named(&id.store, &project.name, Some(domain_id))
        .await?
        .is_empty()
    {
        return Err(Error::Conflict { kind: "project" });
    }
    id.store.put(Kind::Project, &project.id, &project).await?;
    tracing::info!(project = %project.id, name = %project.name, "project created");
    Ok(response::json(
        StatusCode::CREATED,
        &json!({"project": project.to_json(&id.base_url)}),
    ))
}

async fn show(id: &Identity, req: &Request, pid: &str) -> Result<Resp> {
    let own = directory::assignments(&id.store, Some(pid), None, None).await?;
    req.authorize(id, "identity:get_project", |c| {
        own.iter().any(|a| a.user_id == c.user_id)
    })?;
    let p: Project = directory::must(&id.store, Kind::Project, "project", pid).await?;
    Ok(response::json(
        StatusCode::OK,
        &json!({"project": p.to_json(&id.base_url)}),
    ))
}

async fn update(id: &Identity, req: &Request, pid: &str) -> Result<Resp> {
    req.authorize(id, "identity:update_project", |_| false)?;
    let body = req.json()?;
    let patch = object(&body, "project")?;
    let _guard = id.store.write_lock().await;
    let mut p: Project = directory::must(&id.store, Kind::Project, "project", pid).await?;
    if let Some(name) = str_field(patch, "name") {
        if name != p.name
            && !directory::projects_named(&id.store, name, Some(&p.domain_id))
                .await?
                .is_empty()
        {
            return Err(Error::Conflict { kind: "project" });
        }
        p.name = required(patch, "name")?.to_string();
    }
    if let Some(d) = str_field(patch, "description") {
        p.description = d.to_string();
    }
    let was_enabled = p.enabled;
    p.enabled = bool_field(patch, "enabled", p.enabled)?;
    id.store.put(Kind::Project, &p.id, &p).await?;
    drop(_guard);
    if was_enabled && !p.enabled {
        id.tokens.revoke_project(&id.store, &p.id).await?;
    }
    Ok(response::json(
        StatusCode::OK,
        &json!({"project": p.to_json(&id.base_url)}),
    ))
}

async fn delete(id: &Identity, req: &Request, pid: &str) -> Result<Resp> {
    req.authorize(id, "identity:delete_project", |_| false)?;
    let _guard = id.store.write_lock().await;
    let _: Project = directory::must(&id.store, Kind::Project, "project", pid).await?;
    for a in directory::assignments(&id.store, Some(pid), None, None).await? {
        id.store.delete(Kind::Assignment, &a.key()).await?;
    }
    for a in crate::identity::groups::assignments(&id.store, Some(pid), None, None).await? {
        id.store.delete(Kind::GroupAssignment, &a.key()).await?;
    }
    id.store.delete(Kind::Project, pid).await?;
    drop(_guard);
    id.tokens.revoke_project(&id.store, pid).await?;
    tracing::info!(project = %pid, "project deleted");
    Ok(response::empty(StatusCode::NO_CONTENT))
}
