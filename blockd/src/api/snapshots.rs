//! `/snapshots`: list (brief or detail, `?name=`), create (a frozen
//! extent map of the volume: 202), show, update and delete (202).

use http::StatusCode;
use serde_json::{json, Value};

use super::reply::{ApiError, ApiResult, Reply};
use super::{misc, render, Call, Caller};
use crate::records::{new_uuid, now_text, SnapshotRecord};
use crate::service::BlockService;

/// A snapshot of the caller's target project, or a 404.
pub async fn find(
    service: &BlockService,
    caller: &Caller,
    id: &str,
) -> Result<SnapshotRecord, ApiError> {
    service
        .snapshot(id)
        .await?
        .filter(|s| s.project_id == caller.target)
        .ok_or_else(|| ApiError::NotFound(format!("Snapshot {id} could not be found.")))
}

fn text(m: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    m.get(key).and_then(Value::as_str).map(str::to_string)
}

pub async fn list(service: &BlockService, caller: &Caller, call: &Call, detail: bool) -> ApiResult {
    let mut snaps = service.snapshots(Some(&caller.target)).await?;
    if let Some(name) = call.query("name") {
        snaps.retain(|s| s.name.as_deref() == Some(name));
    }
    if let Some(v) = call.query("volume_id") {
        snaps.retain(|s| s.volume_id == v);
    }
    snaps.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    let items: Vec<Value> = snaps
        .iter()
        .map(|s| {
            if detail {
                render::snapshot(s)
            } else {
                render::snapshot_brief(s)
            }
        })
        .collect();
    Ok(Reply::json(StatusCode::OK, json!({ "snapshots": items })))
}

pub async fn show(service: &BlockService, caller: &Caller, id: &str) -> ApiResult {
    let s = find(service, caller, id).await?;
    Ok(Reply::json(
        StatusCode::OK,
        json!({"snapshot": render::snapshot(&s)}),
    ))
}

pub async fn create(service: &BlockService, caller: &Caller, call: &Call) -> ApiResult {
    let m = call.member("snapshot")?;
    let volume_id = text(m, "volume_id").ok_or_else(|| {
        ApiError::BadRequest("Missing required element 'volume_id' in request body.".into())
    })?;
    let v = super::volumes::find(service, caller, &volume_id).await?;
    let force = match m.get("force") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    if v.status != "available" && !(v.status == "in-use" && force) {
        return Err(ApiError::BadRequest(format!(
            "Invalid volume: Volume {} status must be available, but current status is: {}.",
            v.id, v.status
        )));
    }
    misc::check_snapshot_quota(service, &caller.target).await?;
    let snap = SnapshotRecord {
        id: new_uuid(),
        volume_id: v.id.clone(),
        project_id: caller.target.clone(),
        user_id: caller.user_id.clone(),
        name: text(m, "name").or_else(|| text(m, "display_name")),
        description: text(m, "description"),
        size: v.size,
        status: "creating".into(),
        created_at: now_text(),
        updated_at: None,
        metadata: super::volumes::metadata(m)?,
    };
    let mut answer = render::snapshot(&snap);
    service.create_snapshot(snap).await?;
    answer["status"] = json!("creating");
    answer["os-extended-snapshot-attributes:progress"] = json!("0%");
    Ok(Reply::json(
        StatusCode::ACCEPTED,
        json!({ "snapshot": answer }),
    ))
}

pub async fn update(service: &BlockService, caller: &Caller, call: &Call, id: &str) -> ApiResult {
    let m = call.member("snapshot")?;
    let found = find(service, caller, id).await?;
    let name = m.contains_key("name").then(|| text(m, "name"));
    let description = m
        .contains_key("description")
        .then(|| text(m, "description"));
    let s = service
        .update_snapshot(&found.id, |s| {
            if let Some(n) = name {
                s.name = n;
            }
            if let Some(d) = description {
                s.description = d;
            }
        })
        .await?;
    Ok(Reply::json(
        StatusCode::OK,
        json!({"snapshot": render::snapshot(&s)}),
    ))
}

pub async fn delete(service: &BlockService, caller: &Caller, id: &str) -> ApiResult {
    let s = find(service, caller, id).await?;
    service.delete_snapshot(&s.id).await?;
    Ok(Reply::empty(StatusCode::ACCEPTED))
}
