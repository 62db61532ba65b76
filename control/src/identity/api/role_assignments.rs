//! `GET /v3/role_assignments`: filters `user.id`, `group.id`,
//! `scope.project.id`, `role.id`; `effective` turns each group assignment
//! into one per member (as Keystone, with a `membership` link);
//! `include_names` adds names and domains; `scope.system` lists system
//! assignments only, `scope.domain.id` that domain's only.

use http::StatusCode;
use serde_json::{json, Value};

use super::request::Request;
use super::response::{self, Resp};
use crate::identity::domain_roles::{self, DomainAssignment};
use crate::identity::error::Result;
use crate::identity::groups::{self, Group};
use crate::identity::model::{Domain, Project, Role, User};
use crate::identity::store::Kind;
use crate::identity::{directory, system, Identity};

/// Who holds an assignment: a user (directly or through a group) or a group.
enum Holder {
    User { id: String, via: Option<String> },
    Group(String),
}

struct Row {
    project_id: String,
    role_id: String,
    holder: Holder,
}

pub async fn list(id: &Identity, req: &Request) -> Result<Resp> {
    let user = req.query("user.id");
    let group = req.query("group.id");
    req.authorize(id, "identity:list_role_assignments", |c| {
        user.is_some_and(|u| u == c.user_id)
    })?;
    let links = response::list_links(&id.base_url, "role_assignments");
    if let Some(d) = req.query("scope.domain.id") {
        let mut out = Vec::new();
        if group.is_none() {
            for a in
                domain_roles::assignments(&id.store, Some(d), user, req.query("role.id")).await?
            {
                out.push(render_domain(id, a, req.flag("include_names")).await?);
            }
        }
        return Ok(response::json(
            StatusCode::OK,
            &json!({"role_assignments": out, "links": links}),
        ));
    }
    let (project, role) = (req.query("scope.project.id"), req.query("role.id"));
    let effective = req.flag("effective");
    let mut rows = Vec::new();
    if group.is_none() && project.is_none() {
        for a in system::assignments(&id.store, user, role).await? {
            rows.push(Row {
                project_id: String::new(),
                role_id: a.role_id,
                holder: Holder::User {
                    id: a.user_id,
                    via: None,
                },
            });
        }
    }
    if req.query("scope.system").is_some() {
        let out = render_all(id, rows, req.flag("include_names")).await?;
        return Ok(response::json(
            StatusCode::OK,
            &json!({"role_assignments": out, "links": links}),
        ));
    }
    if group.is_none() {
        for a in directory::assignments(&id.store, project, user, role).await? {
            rows.push(Row {
                project_id: a.project_id,
                role_id: a.role_id,
                holder: Holder::User {
                    id: a.user_id,
                    via: None,
                },
            });
        }
    }
    for a in groups::assignments(&id.store, project, group, role).await? {
        if effective {
            for uid in groups::members(&id.store, &a.group_id).await? {
                if user.is_none_or(|u| u == uid) {
                    rows.push(Row {
                        project_id: a.project_id.clone(),
                        role_id: a.role_id.clone(),
                        holder: Holder::User {
                            id: uid,
                            via: Some(a.group_id.clone()),
                        },
                    });
                }
            }
        } else if user.is_none() {
            rows.push(Row {
                project_id: a.project_id,
                role_id: a.role_id,
                holder: Holder::Group(a.group_id),
            });
        }
    }
    let mut out = render_all(id, rows, req.flag("include_names")).await?;
    if group.is_none() && project.is_none() {
        for a in domain_roles::assignments(&id.store, None, user, role).await? {
            out.push(render_domain(id, a, req.flag("include_names")).await?);
        }
    }
    Ok(response::json(
        StatusCode::OK,
        &json!({"role_assignments": out, "links": links}),
    ))
}

async fn render_domain(id: &Identity, a: DomainAssignment, names: bool) -> Result<Value> {
    let (d, u, r) = (&a.domain_id, &a.user_id, &a.role_id);
    let mut role = json!({"id": r});
    let mut user = json!({"id": u});
    let mut domain = json!({"id": d});
    if names {
        if let Some(x) = id.store.get::<Role>(Kind::Role, r).await? {
            role["name"] = json!(x.name);
        }
        if let Some(x) = id.store.get::<User>(Kind::User, u).await? {
            user["name"] = json!(x.name);
            user["domain"] = domain_ref(id, &x.domain_id).await?;
        }
        domain = domain_ref(id, d).await?;
    }
    Ok(
        json!({"role": role, "user": user, "scope": {"domain": domain},
        "links": {"assignment": format!("{}/domains/{d}/users/{u}/roles/{r}", id.base_url)}}),
    )
}

async fn render_all(id: &Identity, rows: Vec<Row>, names: bool) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for row in rows {
        out.push(render(id, row, names).await?);
    }
    Ok(out)
}

/// One assignment; a row without a project is a system assignment.
async fn render(id: &Identity, row: Row, names: bool) -> Result<Value> {
    let base = &id.base_url;
    let (p, r) = (&row.project_id, &row.role_id);
    let mut role = json!({"id": r});
    if names {
        if let Some(x) = id.store.get::<Role>(Kind::Role, r).await? {
            role["name"] = json!(x.name);
        }
    }
    if p.is_empty() {
        let Holder::User { id: uid, .. } = row.holder else {
            unreachable!("system rows are made for users only");
        };
        let mut user = json!({"id": uid});
        if names {
            if let Some(u) = id.store.get::<User>(Kind::User, &uid).await? {
                user["name"] = json!(u.name);
                user["domain"] = domain_ref(id, &u.domain_id).await?;
            }
        }
        return Ok(
            json!({"role": role, "user": user, "scope": {"system": {"all": true}},
            "links": {"assignment": format!("{base}/system/users/{uid}/roles/{r}")}}),
        );
    }
    let mut project = json!({"id": p});
    if names {
        if let Some(x) = id.store.get::<Project>(Kind::Project, p).await? {
            project["name"] = json!(x.name);
            project["domain"] = domain_ref(id, &x.domain_id).await?;
        }
    }
    let mut v = json!({"role": role, "scope": {"project": project}});
    match row.holder {
        Holder::User { id: uid, via } => {
            let mut user = json!({"id": uid});
            if names {
                if let Some(u) = id.store.get::<User>(Kind::User, &uid).await? {
                    user["name"] = json!(u.name);
                    user["domain"] = domain_ref(id, &u.domain_id).await?;
                }
            }
            v["user"] = user;
            v["links"] = match via {
                None => json!({"assignment": format!("{base}/projects/{p}/users/{uid}/roles/{r}")}),
                Some(g) => json!({
                    "assignment": format!("{base}/projects/{p}/groups/{g}/roles/{r}"),
                    "membership": format!("{base}/groups/{g}/users/{uid}")}),
            };
        }
        Holder::Group(gid) => {
            let mut group = json!({"id": gid});
            if names {
                if let Some(g) = id.store.get::<Group>(Kind::Group, &gid).await? {
                    group["name"] = json!(g.name);
                    group["domain"] = domain_ref(id, &g.domain_id).await?;
                }
            }
            v["group"] = group;
            v["links"] =
                json!({"assignment": format!("{base}/projects/{p}/groups/{gid}/roles/{r}")});
        }
    }
    Ok(v)
}

async fn domain_ref(id: &Identity, domain_id: &str) -> Result<Value> {
    let name = id
        .store
        .get::<Domain>(Kind::Domain, domain_id)
        .await?
        .map(|d| d.name)
        .unwrap_or_default();
    Ok(json!({"id": domain_id, "name": name}))
}
