//! `/volumes`: list (brief or detail, `?name=` and `?status=` filters),
//! create (empty, from a snapshot, another volume or an image: 202),
//! show, update (name, description, metadata) and delete (202; refused
//! while attached, being created, or while snapshots exist, unless
//! `cascade`).

use http::StatusCode;
use serde_json::{json, Value};

use std::sync::Arc;

use super::reply::{ApiError, ApiResult, Reply};
use super::{misc, render, Call, Caller};
use crate::from_image::{method_for, Method};
use crate::images::ImageInfo;
use crate::records::{new_uuid, now_text, VolumeRecord};
use crate::service::{BlockService, Source};

/// A volume of the caller's target project, or a 404.
pub async fn find(
    service: &BlockService,
    caller: &Caller,
    id: &str,
) -> Result<VolumeRecord, ApiError> {
    service
        .volume(id)
        .await?
        .filter(|v| v.project_id == caller.target)
        .ok_or_else(|| ApiError::NotFound(format!("Volume {id} could not be found.")))
}

/// Refuses to attach a volume that is not ready (being made, or failed).
pub fn attachable(v: &VolumeRecord) -> Result<(), ApiError> {
    if v.status == "available" || v.status == "in-use" {
        return Ok(());
    }
    Err(ApiError::BadRequest(format!(
        "Invalid volume: Volume {} status must be available or in-use, but current status is: {}.",
        v.id, v.status
    )))
}

/// A string member of at most `MAX_TEXT` characters.
fn text(m: &serde_json::Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match any_text(m, key)? {
        Some(s) if s.chars().count() > MAX_TEXT => Err(ApiError::BadRequest(format!(
            "Invalid input for field/attribute {key}. It is longer than {MAX_TEXT} characters."
        ))),
        t => Ok(t),
    }
}

/// A string member of any length.
fn any_text(m: &serde_json::Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::BadRequest(format!(
            "Invalid input for field/attribute {key}."
        ))),
    }
}

/// Longest name, description, metadata key or value, as in Cinder.
const MAX_TEXT: usize = 255;
/// Most metadata items on one volume or snapshot.
const MAX_METADATA_ITEMS: usize = 128;

/// The `metadata` member: string keys of 1 to 255 characters mapping to
/// strings of at most 255.
pub fn metadata(
    m: &serde_json::Map<String, Value>,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let bad = |why: &str| {
        ApiError::BadRequest(format!("Invalid input for field/attribute metadata. {why}"))
    };
    match m.get("metadata") {
        None | Some(Value::Null) => Ok(Default::default()),
        Some(Value::Object(o)) => {
            if o.len() > MAX_METADATA_ITEMS {
                return Err(bad(&format!("At most {MAX_METADATA_ITEMS} items.")));
            }
            for (k, v) in o {
                if k.is_empty() || k.chars().count() > MAX_TEXT {
                    return Err(bad("Keys must be 1 to 255 characters."));
                }
                match v {
                    Value::String(s) if s.chars().count() <= MAX_TEXT => {}
                    _ => return Err(bad("Values must be strings of at most 255 characters.")),
                }
            }
            Ok(o.clone())
        }
        Some(_) => Err(bad("It must be an object.")),
    }
}

/// Largest volume, in GiB (1 PiB; sizes in bytes stay far from overflow).
pub const MAX_SIZE_GIB: u64 = 1 << 20;

/// A positive size in GiB (a number or a numeric string) up to `MAX_SIZE_GIB`.
pub fn size_of(v: Option<&Value>, field: &str) -> Result<Option<u64>, ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "Invalid input for field/attribute {field}. Value must be a positive integer of at most {MAX_SIZE_GIB}."
        ))
    };
    let n = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse::<u64>().ok(),
        Some(_) => None,
    };
    n.filter(|n| (1..=MAX_SIZE_GIB).contains(n))
        .map(Some)
        .ok_or_else(bad)
}

pub async fn list(service: &BlockService, caller: &Caller, call: &Call, detail: bool) -> ApiResult {
    let mut vols = service.volumes(Some(&caller.target)).await?;
    if let Some(name) = call.query("name") {
        vols.retain(|v| v.name.as_deref() == Some(name));
    }
    if let Some(status) = call.query("status") {
        vols.retain(|v| v.status == status);
    }
    vols.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    let items: Vec<Value> = vols
        .iter()
        .map(|v| {
            if detail {
                render::volume(v, &call.base)
            } else {
                render::volume_brief(v, &call.base)
            }
        })
        .collect();
    Ok(Reply::json(StatusCode::OK, json!({ "volumes": items })))
}

pub async fn show(service: &BlockService, caller: &Caller, call: &Call, id: &str) -> ApiResult {
    let v = find(service, caller, id).await?;
    Ok(Reply::json(
        StatusCode::OK,
        json!({"volume": render::volume(&v, &call.base)}),
    ))
}

/// The image a create names (`imageRef`, an id or a link ending in one).
fn image_ref(m: &serde_json::Map<String, Value>) -> Result<Option<String>, ApiError> {
    // An image reference is checked as an id, whatever its length.
    let r = match any_text(m, "imageRef")? {
        Some(r) => Some(r),
        None => any_text(m, "image_id")?,
    };
    let Some(r) = r else { return Ok(None) };
    let id = r
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    // Image ids are UUIDs: anything else never reaches the image service.
    let uuid =
        id.len() <= 36 && !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    if !uuid {
        return Err(ApiError::BadRequest(
            "Invalid image identifier or unable to access requested image.".into(),
        ));
    }
    Ok(Some(id.to_string()))
}

/// Looks up and checks the image a volume is made from.
async fn find_image(
    service: &BlockService,
    caller: &Caller,
    id: &str,
) -> Result<(ImageInfo, Method), ApiError> {
    let Some(images) = &service.images else {
        return Err(ApiError::BadRequest(
            "Creating a volume from an image is not configured.".into(),
        ));
    };
    let image = images
        .show(&caller.token, id)
        .await
        .map_err(ApiError::Internal)?
        .ok_or_else(|| {
            ApiError::BadRequest(
                "Invalid image identifier or unable to access requested image.".into(),
            )
        })?;
    if image.status != "active" {
        return Err(ApiError::BadRequest(format!(
            "Invalid image: Image {id} is not active."
        )));
    }
    let format = image.disk_format.clone().unwrap_or_default();
    let method = method_for(&format).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "Invalid image: Image {id} has disk format {format}, which cannot be made a volume."
        ))
    })?;
    Ok((image, method))
}

pub async fn create(service: &Arc<BlockService>, caller: &Caller, call: &Call) -> ApiResult {
    let m = call.member("volume")?;
    let mut size = size_of(m.get("size"), "size")?;
    let snapshot_id = text(m, "snapshot_id")?;
    let source_volid = text(m, "source_volid")?;
    let image_id = image_ref(m)?;
    if text(m, "backup_id")?.is_some() {
        return Err(ApiError::BadRequest(
            "Creating a volume from a backup is not supported.".into(),
        ));
    }
    let volume_type = match text(m, "volume_type")? {
        None => render::DEFAULT_TYPE.to_string(),
        Some(t) if t == render::DEFAULT_TYPE || t == render::DEFAULT_TYPE_ID => {
            render::DEFAULT_TYPE.to_string()
        }
        Some(t) => {
            return Err(ApiError::NotFound(format!(
                "Volume type {t} could not be found."
            )))
        }
    };
    let sources = [&snapshot_id, &source_volid, &image_id];
    if sources.iter().filter(|s| s.is_some()).count() > 1 {
        return Err(ApiError::BadRequest(
            "Give at most one of snapshot_id, source_volid and imageRef.".into(),
        ));
    }
    let mut image = None;
    let (source, least) = if let Some(s) = &snapshot_id {
        let snap = super::snapshots::find(service, caller, s).await?;
        if snap.status != "available" {
            return Err(ApiError::BadRequest(format!(
                "Snapshot {s} is not available."
            )));
        }
        (Source::Snapshot(snap.id), snap.size)
    } else if let Some(id) = &source_volid {
        let src = find(service, caller, id).await?;
        (Source::Volume(src.id.clone()), src.size)
    } else if let Some(id) = &image_id {
        let (info, method) = find_image(service, caller, id).await?;
        let gib = info.disk_bytes().div_ceil(1 << 30).max(1);
        if let Some(s) = size.filter(|s| *s < gib) {
            return Err(ApiError::BadRequest(format!(
                "Invalid input received: Size of specified image {gib} GB is larger than volume size {s} GB."
            )));
        }
        if let Some(s) = size.filter(|s| *s < info.min_disk) {
            return Err(ApiError::BadRequest(format!(
                "Invalid input received: Volume size {s}GB cannot be smaller than the image minDisk size {}GB.",
                info.min_disk
            )));
        }
        let least = gib.max(info.min_disk);
        image = Some((info, method));
        (Source::Empty, least)
    } else {
        (Source::Empty, 0)
    };
    let size = match size.take() {
        Some(s) if s < least => {
            return Err(ApiError::BadRequest(format!(
                "Volume size {s}GB cannot be smaller than the source size {least}GB."
            )))
        }
        Some(s) => s,
        None if least > 0 => least,
        None => {
            return Err(ApiError::BadRequest(
                "Missing required element 'size' in request body.".into(),
            ))
        }
    };
    misc::check_volume_quota(service, &caller.target, size, true).await?;
    let record = VolumeRecord {
        id: new_uuid(),
        project_id: caller.target.clone(),
        user_id: caller.user_id.clone(),
        name: text(m, "name")?,
        description: text(m, "description")?,
        size,
        status: "creating".into(),
        volume_type,
        snapshot_id,
        source_volid,
        created_at: now_text(),
        updated_at: None,
        metadata: metadata(m)?,
        bootable: image.is_some(),
        image_metadata: image.as_ref().map(|(i, _)| i.volume_metadata()),
        attachments: Vec::new(),
    };
    let mut answer = render::volume(&record, &call.base);
    match image {
        None => service.create_volume(record, source).await?,
        Some((info, Method::Clone)) => service
            .clone_image(record, &info, &caller.token)
            .await
            .map_err(|e| {
                ApiError::BadRequest(format!(
                    "Cannot make a volume from image {}: {e:#}",
                    info.id
                ))
            })?,
        Some((info, Method::Convert(format))) => {
            service
                .convert_image(record, &info, &caller.token, format)
                .await?
        }
    };
    // The answer shows the volume as it was accepted, as Cinder does.
    answer["status"] = json!("creating");
    Ok(Reply::json(
        StatusCode::ACCEPTED,
        json!({ "volume": answer }),
    ))
}

pub async fn update(service: &BlockService, caller: &Caller, call: &Call, id: &str) -> ApiResult {
    let m = call.member("volume")?;
    let found = find(service, caller, id).await?;
    // What the body names is checked first, then applied to the record
    // as stored (`None`: left as it is).
    let name = (m.contains_key("name") || m.contains_key("display_name"))
        .then(|| Ok::<_, ApiError>(text(m, "name")?.or(text(m, "display_name")?)))
        .transpose()?;
    let description = m
        .contains_key("description")
        .then(|| text(m, "description"))
        .transpose()?;
    let metadata = m
        .contains_key("metadata")
        .then(|| metadata(m))
        .transpose()?;
    let v = service
        .update_volume(&found.id, |v| {
            if let Some(n) = name {
                v.name = n;
            }
            if let Some(d) = description {
                v.description = d;
            }
            if let Some(md) = metadata {
                v.metadata = md;
            }
        })
        .await?;
    Ok(Reply::json(
        StatusCode::OK,
        json!({"volume": render::volume(&v, &call.base)}),
    ))
}

fn truthy(v: Option<&str>) -> bool {
    v.is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

pub async fn delete(service: &BlockService, caller: &Caller, call: &Call, id: &str) -> ApiResult {
    let v = find(service, caller, id).await?;
    if !v.attachments.is_empty() || v.status == "creating" || v.status == "downloading" {
        return Err(ApiError::BadRequest(format!(
            "Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer. Volume {id} is {}.",
            v.status
        )));
    }
    let snaps: Vec<_> = service
        .snapshots(Some(&caller.target))
        .await?
        .into_iter()
        .filter(|s| s.volume_id == v.id)
        .collect();
    if !snaps.is_empty() {
        if !truthy(call.query("cascade")) {
            return Err(ApiError::BadRequest(format!(
                "Invalid volume: Volume {id} has {} dependent snapshots.",
                snaps.len()
            )));
        }
        for s in snaps {
            service.delete_snapshot(&s.id).await?;
        }
    }
    service.delete_volume(&v.id).await?;
    Ok(Reply::empty(StatusCode::ACCEPTED))
}
