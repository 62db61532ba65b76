//! `/attachments` (microversion 3.27 and later): create (with a connector
//! it opens an NBD export and answers its connection information; `mode`
//! `ro` makes it read-only), list, show, complete and delete (which
//! revokes the export).

use http::StatusCode;
use serde_json::{json, Value};

use super::reply::{ApiError, ApiResult, Reply};
use super::volumes::find as find_volume;
use super::{render, Call, Caller};
use crate::records::{now_text, AttachmentRecord};
use crate::service::BlockService;

/// An attachment of the caller's target project and its volume id, or a 404.
async fn find(
    service: &BlockService,
    caller: &Caller,
    id: &str,
) -> Result<AttachmentRecord, ApiError> {
    service
        .volumes(Some(&caller.target))
        .await?
        .into_iter()
        .flat_map(|v| v.attachments)
        .find(|a| a.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("VolumeAttachment {id} could not be found.")))
}

pub async fn create(service: &BlockService, caller: &Caller, call: &Call) -> ApiResult {
    if !call.at_least(3, 27) {
        return Err(ApiError::NotFound(
            "The resource could not be found.".into(),
        ));
    }
    let m = call.member("attachment")?;
    let volume_id = m
        .get("volume_uuid")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::BadRequest("Missing required element 'volume_uuid' in request body.".into())
        })?;
    let v = find_volume(service, caller, volume_id).await?;
    let connector = m.get("connector").filter(|c| c.is_object());
    let mode = m
        .get("mode")
        .and_then(Value::as_str)
        .or_else(|| {
            connector
                .and_then(|c| c.get("mode"))
                .and_then(Value::as_str)
        })
        .unwrap_or("rw");
    if mode != "rw" && mode != "ro" {
        return Err(ApiError::BadRequest(format!(
            "Invalid attachment mode {mode}."
        )));
    }
    let readonly_volume = v.metadata.get("readonly").and_then(Value::as_str) == Some("True");
    super::volumes::attachable(&v)?;
    let status = if connector.is_some() {
        "attached"
    } else {
        "reserved"
    };
    let text_of = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let a = AttachmentRecord {
        instance_uuid: text_of(m.get("instance_uuid")),
        host_name: text_of(connector.and_then(|c| c.get("host"))),
        mountpoint: text_of(connector.and_then(|c| c.get("mountpoint"))),
        attached_at: connector.map(|_| now_text()),
        ..AttachmentRecord::new(&v.id, status, mode == "ro" || readonly_volume)
    };
    let a = service.attach(&v.id, a, connector.is_some(), true).await?;
    Ok(Reply::json(
        StatusCode::OK,
        json!({"attachment": render::attachment(&a, service.nbd())}),
    ))
}

pub async fn list(service: &BlockService, caller: &Caller) -> ApiResult {
    let items: Vec<Value> = service
        .volumes(Some(&caller.target))
        .await?
        .into_iter()
        .flat_map(|v| v.attachments)
        .map(|a| render::attachment(&a, service.nbd()))
        .collect();
    Ok(Reply::json(StatusCode::OK, json!({ "attachments": items })))
}

pub async fn show(service: &BlockService, caller: &Caller, id: &str) -> ApiResult {
    let a = find(service, caller, id).await?;
    Ok(Reply::json(
        StatusCode::OK,
        json!({"attachment": render::attachment(&a, service.nbd())}),
    ))
}

pub async fn complete(service: &BlockService, caller: &Caller, id: &str) -> ApiResult {
    let a = find(service, caller, id).await?;
    let id = id.to_string();
    service
        .change_attachments(&a.volume_id, move |list| {
            list.into_iter()
                .map(|mut x| {
                    if x.id == id {
                        x.status = "attached".into();
                        x.attached_at.get_or_insert_with(now_text);
                    }
                    x
                })
                .collect()
        })
        .await?;
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

pub async fn delete(service: &BlockService, caller: &Caller, id: &str) -> ApiResult {
    let a = find(service, caller, id).await?;
    let gone = id.to_string();
    let v = service
        .change_attachments(&a.volume_id, move |list| {
            list.into_iter().filter(|x| x.id != gone).collect()
        })
        .await?;
    let rest: Vec<Value> = v
        .attachments
        .iter()
        .map(|a| render::attachment(a, service.nbd()))
        .collect();
    Ok(Reply::json(StatusCode::OK, json!({ "attachments": rest })))
}
