//! Image members: the projects a `shared` image is offered to. The owner
//! adds and removes members; a member accepts or rejects (and then sees the
//! image in its listing).

use http::{Request, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};

use super::images::read_json;
use super::response::{self, Resp};
use super::{changeable, visible, Caller, Service};
use crate::model::{now_ms, Member};

/// `GET /v2/images/{id}/members`: the owner sees all, a member itself.
pub async fn list(service: &Service, caller: &Caller, id: &str) -> Resp {
    let image = match visible(service, caller, id).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let members = match service.records.members(id).await {
        Ok(m) => m,
        Err(e) => return response::internal(e),
    };
    let shown: Vec<Value> = members
        .iter()
        .filter(|m| caller.admin || image.owner == caller.project || m.member_id == caller.project)
        .map(Member::to_json)
        .collect();
    response::json(
        StatusCode::OK,
        &json!({"members": shown, "schema": "/v2/schemas/members"}),
    )
}

/// `POST /v2/images/{id}/members` `{"member": "<project id>"}`.
pub async fn create(service: &Service, caller: &Caller, id: &str, req: Request<Incoming>) -> Resp {
    let image = match changeable(service, caller, id).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    if !caller.may("add_member", image.owner == caller.project) {
        return response::error(
            StatusCode::FORBIDDEN,
            "You are not authorized to complete add_member action.",
        );
    }
    if image.visibility != "shared" {
        return response::error(
            StatusCode::FORBIDDEN,
            &format!(
                "Only shared images have members (image {id} is {}).",
                image.visibility
            ),
        );
    }
    let member_id = match read_json(req).await {
        Ok(v) => match v.get("member").and_then(Value::as_str) {
            Some(m) if !m.is_empty() => m.to_string(),
            _ => return response::error(StatusCode::BAD_REQUEST, "member is required"),
        },
        Err(r) => return r,
    };
    match service.records.get_member(id, &member_id).await {
        Ok(Some(_)) => {
            return response::error(
                StatusCode::CONFLICT,
                &format!("Member {member_id} already exists for image {id}."),
            )
        }
        Ok(None) => {}
        Err(e) => return response::internal(e),
    }
    let now = now_ms();
    let member = Member {
        image_id: id.to_string(),
        member_id,
        status: "pending".into(),
        created_at_ms: now,
        updated_at_ms: now,
    };
    match service.records.put_member(&member).await {
        Ok(()) => response::json(StatusCode::OK, &member.to_json()),
        Err(e) => response::internal(e),
    }
}

async fn member_of(
    service: &Service,
    caller: &Caller,
    id: &str,
    member: &str,
) -> Result<(bool, Member), Resp> {
    let image = visible(service, caller, id).await?;
    let owner = caller.admin || image.owner == caller.project;
    if !owner && member != caller.project {
        return Err(response::error(StatusCode::NOT_FOUND, "member not found"));
    }
    match service.records.get_member(id, member).await {
        Ok(Some(m)) => Ok((owner, m)),
        Ok(None) => Err(response::error(StatusCode::NOT_FOUND, "member not found")),
        Err(e) => Err(response::internal(e)),
    }
}

pub async fn show(service: &Service, caller: &Caller, id: &str, member: &str) -> Resp {
    match member_of(service, caller, id, member).await {
        Ok((_, m)) => response::json(StatusCode::OK, &m.to_json()),
        Err(r) => r,
    }
}

/// `PUT .../members/{member}` `{"status": "accepted"}`: by the member only.
pub async fn update(
    service: &Service,
    caller: &Caller,
    id: &str,
    member: &str,
    req: Request<Incoming>,
) -> Resp {
    let mut m = match member_of(service, caller, id, member).await {
        Ok((_, m)) => m,
        Err(r) => return r,
    };
    if member != caller.project {
        return response::error(
            StatusCode::FORBIDDEN,
            "Only the member may change its status.",
        );
    }
    let status = match read_json(req).await {
        Ok(v) => v.get("status").and_then(Value::as_str).map(str::to_string),
        Err(r) => return r,
    };
    match status.as_deref() {
        Some(s @ ("pending" | "accepted" | "rejected")) => m.status = s.to_string(),
        _ => {
            return response::error(
                StatusCode::BAD_REQUEST,
                "status must be pending, accepted or rejected",
            )
        }
    }
    m.updated_at_ms = now_ms();
    match service.records.put_member(&m).await {
        Ok(()) => response::json(StatusCode::OK, &m.to_json()),
        Err(e) => response::internal(e),
    }
}

/// `DELETE .../members/{member}`: by the owner.
pub async fn delete(service: &Service, caller: &Caller, id: &str, member: &str) -> Resp {
    match member_of(service, caller, id, member).await {
        Ok((true, _)) if caller.may("delete_member", true) => {
            match service.records.delete_member(id, member).await {
                Ok(()) => response::empty(StatusCode::NO_CONTENT),
                Err(e) => response::internal(e),
            }
        }
        Ok(_) => response::error(
            StatusCode::FORBIDDEN,
            "Only the image owner may remove members.",
        ),
        Err(r) => r,
    }
}
