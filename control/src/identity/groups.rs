//! Groups of users and the roles a group holds on projects: a member holds
//! every role of their groups (`tokens::roles_on` adds them), so granting a
//! role to a group grants it to each member. Memberships are keyed
//! `group/user`, group assignments `project/group/role`.
//!
//! **Format:** `Group`, `Membership` and `GroupAssignment` are on disk;
//! add fields with `#[serde(default)]`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::Result;
use super::store::{Kind, Store};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    #[serde(default)]
    pub description: String,
}

impl Group {
    pub fn to_json(&self, base: &str) -> Value {
        json!({"id": self.id, "name": self.name, "domain_id": self.domain_id,
               "description": self.description,
               "links": {"self": format!("{base}/groups/{}", self.id)}})
    }
}

/// A user in a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub group_id: String,
    pub user_id: String,
}

impl Membership {
    pub fn key(&self) -> String {
        format!("{}/{}", self.group_id, self.user_id)
    }
}

/// A role held by a group on a project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupAssignment {
    pub project_id: String,
    pub group_id: String,
    pub role_id: String,
}

impl GroupAssignment {
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.project_id, self.group_id, self.role_id)
    }
}

/// The groups `user_id` is in (ids).
pub async fn groups_of(store: &Store, user_id: &str) -> Result<Vec<String>> {
    let all: Vec<Membership> = store.list(Kind::Membership, "").await?;
    Ok(all
        .into_iter()
        .filter(|m| m.user_id == user_id)
        .map(|m| m.group_id)
        .collect())
}

/// The members of `group_id` (user ids).
pub async fn members(store: &Store, group_id: &str) -> Result<Vec<String>> {
    let all: Vec<Membership> = store
        .list(Kind::Membership, &format!("{group_id}/"))
        .await?;
    Ok(all.into_iter().map(|m| m.user_id).collect())
}

/// Group assignments matching the filters.
pub async fn assignments(
    store: &Store,
    project_id: Option<&str>,
    group_id: Option<&str>,
    role_id: Option<&str>,
) -> Result<Vec<GroupAssignment>> {
    let prefix = match (project_id, group_id) {
        (Some(p), Some(g)) => format!("{p}/{g}/"),
        (Some(p), None) => format!("{p}/"),
        _ => String::new(),
    };
    let all: Vec<GroupAssignment> = store.list(Kind::GroupAssignment, &prefix).await?;
    Ok(all
        .into_iter()
        .filter(|a| project_id.is_none_or(|p| a.project_id == p))
        .filter(|a| group_id.is_none_or(|g| a.group_id == g))
        .filter(|a| role_id.is_none_or(|r| a.role_id == r))
        .collect())
}

/// Role ids `user_id` holds on `project_id` through groups.
pub async fn role_ids_via_groups(
    store: &Store,
    project_id: &str,
    user_id: &str,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for g in groups_of(store, user_id).await? {
        for a in assignments(store, Some(project_id), Some(&g), None).await? {
            out.push(a.role_id);
        }
    }
    Ok(out)
}
