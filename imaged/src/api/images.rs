//! Image records: create, list (filters, sort, `limit`/`marker`), show,
//! JSON-patch update, delete, tags, and the deactivate/reactivate actions.

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{json, Map, Value};

use super::response::{self, Resp};
use super::{changeable, visible, Caller, Service};
use crate::inspect::{CONTAINER_FORMATS, DISK_FORMATS};
use crate::model::{self, now_ms, status, Image, READ_ONLY};

/// Largest JSON body accepted.
const MAX_JSON: usize = 1 << 20;

/// Reads a JSON request body.
pub async fn read_json(req: Request<Incoming>) -> Result<Value, Resp> {
    let bytes = http_body_util::Limited::new(req.into_body(), MAX_JSON)
        .collect()
        .await
        .map_err(|_| {
            response::error(
                StatusCode::BAD_REQUEST,
                "request body is too large or unreadable",
            )
        })?
        .to_bytes();
    serde_json::from_slice(&bytes)
        .map_err(|e| response::error(StatusCode::BAD_REQUEST, &format!("invalid JSON: {e}")))
}

fn bad(msg: &str) -> Resp {
    response::error(StatusCode::BAD_REQUEST, msg)
}

fn check_format(key: &str, value: &Option<String>) -> Result<(), Resp> {
    let allowed = if key == "disk_format" {
        DISK_FORMATS
    } else {
        CONTAINER_FORMATS
    };
    match value {
        Some(v) if !allowed.contains(&v.as_str()) => {
            Err(bad(&format!("Invalid value '{v}' for {key}")))
        }
        _ => Ok(()),
    }
}

/// Glance's limits: names, tags and property names up to 255 characters,
/// property values up to 65 535, and 128 tags and 128 properties.
const MAX_NAME: usize = 255;
const MAX_VALUE: usize = 65_535;
const MAX_ITEMS: usize = 128;

/// Refuses an image whose name, tags or properties exceed Glance's limits.
fn check_limits(image: &Image) -> Result<(), Resp> {
    if image
        .name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NAME)
    {
        return Err(bad(&format!("name is longer than {MAX_NAME} characters")));
    }
    if image
        .tags
        .iter()
        .any(|t| t.is_empty() || t.chars().count() > MAX_NAME)
    {
        return Err(bad(&format!("tags must be 1 to {MAX_NAME} characters")));
    }
    if image
        .properties
        .iter()
        .any(|(k, v)| k.is_empty() || k.chars().count() > MAX_NAME || v.chars().count() > MAX_VALUE)
    {
        return Err(bad(&format!(
            "property names are 1 to {MAX_NAME} characters, values at most {MAX_VALUE}"
        )));
    }
    if image.tags.len() > MAX_ITEMS || image.properties.len() > MAX_ITEMS {
        return Err(response::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("An image has at most {MAX_ITEMS} tags and {MAX_ITEMS} properties."),
        ));
    }
    Ok(())
}

fn check_visibility(v: &str) -> Result<(), Resp> {
    if ["public", "private", "shared", "community"].contains(&v) {
        Ok(())
    } else {
        Err(bad(&format!("Invalid visibility value: {v}")))
    }
}

fn opt_string(v: Option<&Value>) -> Result<Option<String>, Resp> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(bad(&format!("{other} is not a string"))),
    }
}

fn as_u64(v: &Value, key: &str) -> Result<u64, Resp> {
    v.as_u64()
        .ok_or_else(|| bad(&format!("{key} must be a non-negative integer")))
}

fn as_bool(v: &Value, key: &str) -> Result<bool, Resp> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(bad(&format!("{key} must be a boolean"))),
    }
}

/// `POST /v2/images`: a queued image with no data.
pub async fn create(service: &Service, caller: &Caller, req: Request<Incoming>) -> Resp {
    if !caller.can_write {
        return response::error(
            StatusCode::FORBIDDEN,
            "You are not authorized to complete add_image action.",
        );
    }
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let body = match read_json(req).await {
        Ok(Value::Object(m)) => m,
        Ok(_) => return bad("the request body must be a JSON object"),
        Err(r) => return r,
    };
    match build(caller, &body) {
        Ok(image) => {
            if service
                .records
                .get(&image.id)
                .await
                .ok()
                .flatten()
                .is_some()
            {
                return response::error(
                    StatusCode::CONFLICT,
                    &format!("Image with identifier {} already exists!", image.id),
                );
            }
            if let Err(e) = service.records.put(&image).await {
                return response::internal(e);
            }
            let mut resp = response::json(StatusCode::CREATED, &image.to_json());
            response::set(
                &mut resp,
                "location",
                &format!("http://{host}/image/v2/images/{}", image.id),
            );
            response::set(&mut resp, "openstack-image-import-methods", "glance-direct");
            resp
        }
        Err(r) => r,
    }
}

fn build(caller: &Caller, body: &Map<String, Value>) -> Result<Image, Resp> {
    for key in READ_ONLY {
        if body.contains_key(*key) && *key != "owner" {
            return Err(response::error(
                StatusCode::FORBIDDEN,
                &format!("Attribute '{key}' is read-only."),
            ));
        }
    }
    let id = match opt_string(body.get("id"))? {
        Some(id) if id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') => {
            id.to_lowercase()
        }
        Some(_) => return Err(bad("id must be a UUID")),
        None => common::ids::uuid4(),
    };
    let disk_format = opt_string(body.get("disk_format"))?;
    let container_format = opt_string(body.get("container_format"))?;
    check_format("disk_format", &disk_format)?;
    check_format("container_format", &container_format)?;
    let visibility = opt_string(body.get("visibility"))?.unwrap_or_else(|| "shared".into());
    check_visibility(&visibility)?;
    if visibility == "public" && !caller.may("publicize_image", true) {
        return Err(response::error(
            StatusCode::FORBIDDEN,
            "You are not authorized to complete publicize_image action.",
        ));
    }
    let owner = match opt_string(body.get("owner"))? {
        Some(o) if caller.admin => o,
        Some(o) if o != caller.project => {
            return Err(response::error(
                StatusCode::FORBIDDEN,
                "Attribute 'owner' is read-only.",
            ))
        }
        _ => caller.project.clone(),
    };
    let tags = match body.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => {
            let mut t: Vec<String> = a.iter().map(model::property_text).collect();
            t.sort();
            t.dedup();
            t
        }
        Some(_) => return Err(bad("tags must be a list")),
    };
    let now = now_ms();
    let image = Image {
        id,
        name: opt_string(body.get("name"))?,
        status: status::QUEUED.into(),
        visibility,
        protected: body
            .get("protected")
            .map(|v| as_bool(v, "protected"))
            .transpose()?
            .unwrap_or(false),
        os_hidden: body
            .get("os_hidden")
            .map(|v| as_bool(v, "os_hidden"))
            .transpose()?
            .unwrap_or(false),
        owner,
        checksum: None,
        os_hash_algo: None,
        os_hash_value: None,
        size: None,
        virtual_size: None,
        disk_format,
        container_format,
        min_disk: body
            .get("min_disk")
            .map(|v| as_u64(v, "min_disk"))
            .transpose()?
            .unwrap_or(0),
        min_ram: body
            .get("min_ram")
            .map(|v| as_u64(v, "min_ram"))
            .transpose()?
            .unwrap_or(0),
        tags,
        properties: model::extra_properties(body),
        created_at_ms: now,
        updated_at_ms: now,
        segments: Vec::new(),
    };
    check_limits(&image)?;
    Ok(image)
}

/// `GET /v2/images/{id}`.
pub async fn show(service: &Service, caller: &Caller, id: &str) -> Resp {
    match visible(service, caller, id).await {
        Ok(image) => response::json(StatusCode::OK, &image.to_json()),
        Err(r) => r,
    }
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// `GET /v2/images`: what the caller may see, filtered, sorted and paged.
pub async fn list(service: &Service, caller: &Caller, query: Option<&str>) -> Resp {
    let q = query_pairs(query);
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let all = match service.records.list().await {
        Ok(a) => a,
        Err(e) => return response::internal(e),
    };
    let visibility = get("visibility");
    let mut out = Vec::new();
    for image in all {
        let member = if image.visibility == "shared" && image.owner != caller.project {
            service
                .records
                .get_member(&image.id, &caller.project)
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        let listed = match visibility {
            Some("all") => caller.can_see(&image, member.as_ref()),
            Some(v) => image.visibility == v && caller.can_see(&image, member.as_ref()),
            None => {
                caller.admin
                    || image.owner == caller.project
                    || image.visibility == "public"
                    || (image.visibility == "shared"
                        && member.as_ref().is_some_and(|m| {
                            m.status == get("member_status").unwrap_or("accepted")
                        }))
            }
        };
        if !listed {
            continue;
        }
        let hidden_wanted = get("os_hidden").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if image.os_hidden != hidden_wanted {
            continue;
        }
        let matches =
            |key: &str, value: Option<&str>| get(key).is_none_or(|want| Some(want) == value);
        if !(matches("name", image.name.as_deref())
            && matches("status", Some(&image.status))
            && matches("owner", Some(&image.owner))
            && matches("disk_format", image.disk_format.as_deref())
            && matches("container_format", image.container_format.as_deref()))
        {
            continue;
        }
        if let Some(ids) = get("id").and_then(|v| v.strip_prefix("in:")) {
            let ids: Vec<&str> = ids.split(',').filter(|s| !s.is_empty()).collect();
            if !ids.contains(&image.id.as_str()) {
                continue;
            }
        } else if let Some(id) = get("id") {
            if id != image.id {
                continue;
            }
        }
        let tags: Vec<&str> = q
            .iter()
            .filter(|(k, _)| k == "tag")
            .map(|(_, v)| v.as_str())
            .collect();
        if !tags.iter().all(|t| image.tags.iter().any(|it| it == t)) {
            continue;
        }
        out.push(image);
    }
    sort(&mut out, get("sort_key"), get("sort_dir"), get("sort"));
    if let Some(marker) = get("marker") {
        match out.iter().position(|i| i.id == marker) {
            Some(p) => {
                out.drain(..=p);
            }
            None => {
                return response::error(
                    StatusCode::BAD_REQUEST,
                    &format!("marker {marker} not found"),
                )
            }
        }
    }
    let limit = get("limit").and_then(|l| l.parse::<usize>().ok());
    let mut body = json!({"first": "/v2/images", "schema": "/v2/schemas/images"});
    if let Some(limit) = limit {
        if out.len() > limit {
            out.truncate(limit);
            if let Some(last) = out.last() {
                let mut params: Vec<String> = q
                    .iter()
                    .filter(|(k, _)| k != "marker")
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                params.push(format!("marker={}", last.id));
                body["next"] = json!(format!("/v2/images?{}", params.join("&")));
            }
        }
    }
    body["images"] = Value::Array(out.iter().map(Image::to_json).collect());
    response::json(StatusCode::OK, &body)
}

/// Sorts by `sort_key`/`sort_dir` or `sort=key:dir,...` (default: newest first).
fn sort(images: &mut [Image], key: Option<&str>, dir: Option<&str>, sort: Option<&str>) {
    let mut keys: Vec<(String, bool)> = match sort {
        Some(s) => s
            .split(',')
            .map(|part| {
                let (k, d) = part.split_once(':').unwrap_or((part, "desc"));
                (k.to_string(), d != "asc")
            })
            .collect(),
        None => vec![(key.unwrap_or("created_at").to_string(), dir != Some("asc"))],
    };
    keys.push(("id".into(), true));
    images.sort_by(|a, b| {
        for (k, desc) in &keys {
            let (va, vb) = (sort_value(a, k), sort_value(b, k));
            let o = va.cmp(&vb);
            let o = if *desc { o.reverse() } else { o };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
}

fn sort_value(i: &Image, key: &str) -> (u64, String) {
    match key {
        "created_at" => (i.created_at_ms, String::new()),
        "updated_at" => (i.updated_at_ms, String::new()),
        "size" => (i.size.unwrap_or(0), String::new()),
        "name" => (0, i.name.clone().unwrap_or_default()),
        "status" => (0, i.status.clone()),
        "id" => (0, i.id.clone()),
        other => (0, i.properties.get(other).cloned().unwrap_or_default()),
    }
}

/// `PATCH /v2/images/{id}` with a JSON-patch list.
pub async fn patch(service: &Service, caller: &Caller, id: &str, req: Request<Incoming>) -> Resp {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !content_type.starts_with("application/openstack-images-v2.1-json-patch")
        && !content_type.starts_with("application/openstack-images-v2.0-json-patch")
    {
        return response::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Content-Type",
        );
    }
    let ops = match read_json(req).await {
        Ok(Value::Array(ops)) => ops,
        Ok(_) => return bad("the body must be a list of patch operations"),
        Err(r) => return r,
    };
    let _guard = service.records.write_lock().await;
    let mut image = match changeable(service, caller, id).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    for op in &ops {
        if let Err(r) = apply(caller, &mut image, op) {
            return r;
        }
    }
    if let Err(r) = check_limits(&image) {
        return r;
    }
    image.updated_at_ms = now_ms();
    match service.records.put(&image).await {
        Ok(()) => response::json(StatusCode::OK, &image.to_json()),
        Err(e) => response::internal(e),
    }
}

/// Applies one JSON-patch operation (`add`, `replace`, `remove`).
fn apply(caller: &Caller, image: &mut Image, op: &Value) -> Result<(), Resp> {
    let kind = op
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("a patch operation needs op"))?;
    let path = op
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("a patch operation needs path"))?;
    let key = path
        .strip_prefix('/')
        .ok_or_else(|| bad("paths start with /"))?;
    let value = op.get("value").cloned().unwrap_or(Value::Null);
    if READ_ONLY.contains(&key) || key == "id" {
        return Err(response::error(
            StatusCode::FORBIDDEN,
            &format!("Attribute '{key}' is read-only."),
        ));
    }
    let remove = match kind {
        "add" | "replace" => false,
        "remove" => true,
        other => return Err(bad(&format!("patch operation {other} is not supported"))),
    };
    match key {
        "name" => {
            image.name = if remove {
                None
            } else {
                opt_string(Some(&value))?
            }
        }
        "visibility" => {
            let v = opt_string(Some(&value))?.ok_or_else(|| bad("visibility cannot be removed"))?;
            check_visibility(&v)?;
            if v == "public" && !caller.may("publicize_image", image.owner == caller.project) {
                return Err(response::error(
                    StatusCode::FORBIDDEN,
                    "You are not authorized to complete publicize_image action.",
                ));
            }
            image.visibility = v;
        }
        "protected" => image.protected = !remove && as_bool(&value, key)?,
        "os_hidden" => image.os_hidden = !remove && as_bool(&value, key)?,
        "min_disk" => image.min_disk = if remove { 0 } else { as_u64(&value, key)? },
        "min_ram" => image.min_ram = if remove { 0 } else { as_u64(&value, key)? },
        "tags" => {
            let list = match (&value, remove) {
                (_, true) => Vec::new(),
                (Value::Array(a), _) => a.iter().map(model::property_text).collect(),
                _ => return Err(bad("tags must be a list")),
            };
            image.tags = list;
            image.tags.sort();
            image.tags.dedup();
        }
        "disk_format" | "container_format" => {
            if image.status != status::QUEUED {
                return Err(response::error(
                    StatusCode::FORBIDDEN,
                    &format!("Attribute {key} can be only replaced for a queued image."),
                ));
            }
            let v = if remove {
                None
            } else {
                opt_string(Some(&value))?
            };
            check_format(key, &v)?;
            if key == "disk_format" {
                image.disk_format = v;
            } else {
                image.container_format = v;
            }
        }
        k if k.contains('/') || k.is_empty() => return Err(bad(&format!("invalid path {path}"))),
        k => {
            if remove {
                if image.properties.remove(k).is_none() {
                    return Err(response::error(
                        StatusCode::CONFLICT,
                        &format!("Property {k} does not exist."),
                    ));
                }
            } else {
                image
                    .properties
                    .insert(k.to_string(), model::property_text(&value));
            }
        }
    }
    Ok(())
}

/// `DELETE /v2/images/{id}`: the record and the bytes (not if protected).
pub async fn delete(service: &Service, caller: &Caller, id: &str) -> Resp {
    let image = {
        let _guard = service.records.write_lock().await;
        let image = match changeable(service, caller, id).await {
            Ok(i) => i,
            Err(r) => return r,
        };
        if !caller.may("delete_image", image.owner == caller.project) {
            return response::error(
                StatusCode::FORBIDDEN,
                "You are not authorized to complete delete_image action.",
            );
        }
        if image.protected {
            return response::error(
                StatusCode::FORBIDDEN,
                &format!("Image {id} is protected and cannot be deleted."),
            );
        }
        if let Err(r) = refuse_if_cloned(service, image.clone()).await {
            return r;
        }
        if let Err(e) = service.records.delete(id).await {
            return response::internal(e);
        }
        image
    };
    for seg in &image.segments {
        if let Err(e) = service.objects.delete(&seg.object).await {
            tracing::warn!(
                image = id,
                "cannot delete image segment {}: {e}",
                seg.object
            );
        }
    }
    response::empty(StatusCode::NO_CONTENT)
}

/// Refuses to delete an image whose bytes a clone shares (409, as Glance
/// answers for an image in use by its store). The image is marked
/// `pending_delete` before the markers are listed, and a service makes its
/// marker before checking that the image is active, so one of the two
/// always sees the other.
async fn refuse_if_cloned(service: &Service, mut image: Image) -> Result<(), Resp> {
    if image.segments.is_empty() {
        return Ok(());
    }
    let before = std::mem::replace(&mut image.status, status::PENDING_DELETE.into());
    service
        .records
        .put(&image)
        .await
        .map_err(response::internal)?;
    let clones = service.objects.clones(&image.id).await;
    if matches!(&clones, Ok(c) if c.is_empty()) {
        return Ok(());
    }
    image.status = before;
    service
        .records
        .put(&image)
        .await
        .map_err(response::internal)?;
    match clones {
        Ok(c) => Err(response::error(
            StatusCode::CONFLICT,
            &format!(
                "Image {} could not be deleted because it is in use: {} volume clone(s) share its data.",
                image.id,
                c.len()
            ),
        )),
        Err(e) => Err(response::internal(e)),
    }
}

/// `PUT` / `DELETE /v2/images/{id}/tags/{tag}`.
pub async fn tag(service: &Service, caller: &Caller, id: &str, tag: &str, add: bool) -> Resp {
    let _guard = service.records.write_lock().await;
    let mut image = match changeable(service, caller, id).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let tag = percent_encoding::percent_decode_str(tag)
        .decode_utf8_lossy()
        .into_owned();
    let had = image.tags.contains(&tag);
    if add && !had {
        image.tags.push(tag);
        if let Err(r) = check_limits(&image) {
            return r;
        }
        image.tags.sort();
    } else if !add {
        if !had {
            return response::error(StatusCode::NOT_FOUND, "Tag not found");
        }
        image.tags.retain(|t| *t != tag);
    }
    image.updated_at_ms = now_ms();
    match service.records.put(&image).await {
        Ok(()) => response::empty(StatusCode::NO_CONTENT),
        Err(e) => response::internal(e),
    }
}

/// `POST /v2/images/{id}/actions/{deactivate,reactivate}` (admins).
pub async fn action(service: &Service, caller: &Caller, id: &str, action: &str) -> Resp {
    let _guard = service.records.write_lock().await;
    let mut image = match visible(service, caller, id).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    if !caller.admin {
        return response::error(
            StatusCode::FORBIDDEN,
            &format!("You are not authorized to complete {action}_image action."),
        );
    }
    let (from, to) = match action {
        "deactivate" => (status::ACTIVE, status::DEACTIVATED),
        "reactivate" => (status::DEACTIVATED, status::ACTIVE),
        _ => return response::error(StatusCode::NOT_FOUND, "no such action"),
    };
    if image.status == to {
        return response::empty(StatusCode::NO_CONTENT);
    }
    if image.status != from {
        return response::error(
            StatusCode::FORBIDDEN,
            &format!("Not allowed to {action} image in status '{}'", image.status),
        );
    }
    image.status = to.into();
    image.updated_at_ms = now_ms();
    match service.records.put(&image).await {
        Ok(()) => response::empty(StatusCode::NO_CONTENT),
        Err(e) => response::internal(e),
    }
}
