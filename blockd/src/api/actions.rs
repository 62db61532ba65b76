//! `POST /volumes/{id}/action`: `os-extend`, `os-set_bootable`,
//! `os-reset_status`, `os-update_readonly_flag`, and the attach flow of
//! older clients: `os-reserve`/`os-unreserve` (a reservation is an
//! attachment without an export, so a second one is refused),
//! `os-initialize_connection` (opens an export: answers its `connection_info`),
//! `os-attach` (the volume goes `in-use`; without a pending attachment it
//! makes one, which the volume must have room for), `os-terminate_connection`
//! (revokes the exports) and `os-detach` (drops the attachment).

use http::StatusCode;
use serde_json::{json, Value};

use super::reply::{ApiError, ApiResult, Reply};
use super::volumes::{find, size_of};
use super::{misc, render, Call, Caller};
use crate::records::AttachmentRecord;
use crate::service::BlockService;

fn read_only_asked(v: &Value) -> bool {
    v.get("mode").and_then(Value::as_str) == Some("ro")
        || v.get("connector")
            .and_then(|c| c.get("mode"))
            .and_then(Value::as_str)
            == Some("ro")
}

pub async fn run(service: &BlockService, caller: &Caller, call: &Call, id: &str) -> ApiResult {
    let body = call
        .body
        .as_ref()
        .and_then(Value::as_object)
        .filter(|o| o.len() == 1)
        .ok_or_else(|| ApiError::BadRequest("An action body names one action.".into()))?;
    let (action, arg) = body.iter().next().expect("one member");
    let v = find(service, caller, id).await?;
    let readonly_volume = v.metadata.get("readonly").and_then(Value::as_str) == Some("True");
    match action.as_str() {
        "os-extend" => {
            let new = size_of(arg.get("new_size"), "new_size")?.ok_or_else(|| {
                ApiError::BadRequest("Missing required element 'new_size'.".into())
            })?;
            let in_use_ok = v.status == "in-use" && call.at_least(3, 42);
            if v.status != "available" && !in_use_ok {
                return Err(ApiError::BadRequest(format!(
                    "Invalid volume: Volume status must be available to extend, but current status is: {}.",
                    v.status
                )));
            }
            if new <= v.size {
                return Err(ApiError::BadRequest(format!(
                    "Invalid input received: New size for extend must be greater than current size. (current: {}, extended: {new}).",
                    v.size
                )));
            }
            misc::check_volume_quota(service, &caller.target, new - v.size, false).await?;
            service.extend_volume(&v.id, new).await?;
            Ok(Reply::empty(StatusCode::ACCEPTED))
        }
        "os-set_bootable" => {
            let bootable = match arg.get("bootable") {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
                _ => return Err(ApiError::BadRequest("bootable must be a boolean.".into())),
            };
            service
                .update_volume(&v.id, |v| v.bootable = bootable)
                .await?;
            Ok(Reply::empty(StatusCode::OK))
        }
        "os-update_readonly_flag" => {
            let ro = arg
                .get("readonly")
                .and_then(Value::as_bool)
                .ok_or_else(|| ApiError::BadRequest("readonly must be a boolean.".into()))?;
            let flag = json!(if ro { "True" } else { "False" });
            service
                .update_volume(&v.id, |v| {
                    v.metadata.insert("readonly".into(), flag);
                })
                .await?;
            Ok(Reply::empty(StatusCode::ACCEPTED))
        }
        "os-reset_status" => {
            if !caller.cloud_admin {
                return Err(ApiError::Forbidden(
                    "Policy doesn't allow volume:reset_status.".into(),
                ));
            }
            let status = arg
                .get("status")
                .and_then(Value::as_str)
                .map(str::to_string);
            service
                .update_volume(&v.id, |v| {
                    if let Some(s) = status {
                        v.status = s;
                    }
                })
                .await?;
            Ok(Reply::empty(StatusCode::ACCEPTED))
        }
        "os-reserve" => {
            super::volumes::attachable(&v)?;
            let reservation = AttachmentRecord::new(&v.id, "reserved", readonly_volume);
            service.attach(&v.id, reservation, false, true).await?;
            Ok(Reply::empty(StatusCode::ACCEPTED))
        }
        "os-unreserve" => {
            service
                .change_attachments(&v.id, |list| {
                    list.into_iter()
                        .filter(|a| a.status != "reserved")
                        .collect()
                })
                .await?;
            Ok(Reply::empty(StatusCode::ACCEPTED))
        }
        "os-begin_detaching" | "os-roll_detaching" => Ok(Reply::empty(StatusCode::ACCEPTED)),
        "os-initialize_connection" => {
            super::volumes::attachable(&v)?;
            let host = arg
                .get("connector")
                .and_then(|c| c.get("host"))
                .and_then(Value::as_str)
                .map(str::to_string);
            let read_only = readonly_volume || read_only_asked(arg);
            let a = service.connect_legacy(&v.id, host, read_only).await?;
            Ok(Reply::json(
                StatusCode::OK,
                json!({"connection_info": render::connection_info(&a, service.nbd())}),
            ))
        }
        "os-attach" => {
            let instance = arg
                .get("instance_uuid")
                .and_then(Value::as_str)
                .map(str::to_string);
            let mountpoint = arg
                .get("mountpoint")
                .and_then(Value::as_str)
                .map(str::to_string);
            let host = arg
                .get("host_name")
                .and_then(Value::as_str)
                .map(str::to_string);
            let ro = arg.get("mode").and_then(Value::as_str) == Some("ro");
            service
                .complete_legacy(&v.id, instance, mountpoint, host, ro)
                .await?;
            Ok(Reply::empty(StatusCode::ACCEPTED))
        }
        "os-terminate_connection" => {
            service
                .change_attachments(&v.id, |list| {
                    list.into_iter()
                        .filter(|a| a.status == "attached")
                        .map(|mut a| {
                            a.export_name = None;
                            a
                        })
                        .collect()
                })
                .await?;
            Ok(Reply::empty(StatusCode::ACCEPTED))
        }
        "os-detach" => {
            let which = arg
                .get("attachment_id")
                .and_then(Value::as_str)
                .map(str::to_string);
            service
                .change_attachments(&v.id, move |list| match which {
                    Some(w) => list.into_iter().filter(|a| a.id != w).collect(),
                    None => Vec::new(),
                })
                .await?;
            Ok(Reply::empty(StatusCode::ACCEPTED))
        }
        other => Err(ApiError::BadRequest(format!(
            "There is no such action: {other}"
        ))),
    }
}
