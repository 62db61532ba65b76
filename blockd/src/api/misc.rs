//! The small read-only resources: volume types (only `__DEFAULT__`),
//! quota sets (defaults, with usage), limits and availability zones; and
//! the quota checks volume and snapshot creation make.

use http::StatusCode;
use serde_json::{json, Value};

use super::reply::{ApiError, ApiResult, Reply};
use super::{render, Call, Caller};
use crate::service::BlockService;

/// Default quotas of every project.
const VOLUMES: u64 = 10;
const SNAPSHOTS: u64 = 10;
const GIGABYTES: u64 = 1000;

fn default_type() -> Value {
    json!({"id": render::DEFAULT_TYPE_ID, "name": render::DEFAULT_TYPE,
           "description": "Default Volume Type", "is_public": true,
           "extra_specs": {}, "os-volume-type-access:is_public": true,
           "qos_specs_id": null})
}

pub fn types() -> Reply {
    Reply::json(StatusCode::OK, json!({"volume_types": [default_type()]}))
}

pub fn volume_type(id: &str) -> ApiResult {
    if id == render::DEFAULT_TYPE_ID || id == render::DEFAULT_TYPE || id == "default" {
        return Ok(Reply::json(
            StatusCode::OK,
            json!({"volume_type": default_type()}),
        ));
    }
    Err(ApiError::NotFound(format!(
        "Volume type {id} could not be found."
    )))
}

pub fn quota_defaults(project: &str) -> Reply {
    Reply::json(
        StatusCode::OK,
        json!({"quota_set": {
            "id": project, "volumes": VOLUMES, "snapshots": SNAPSHOTS,
            "gigabytes": GIGABYTES, "backups": 10, "backup_gigabytes": 1000,
            "per_volume_gigabytes": -1, "groups": 10,
            "volumes___DEFAULT__": -1, "snapshots___DEFAULT__": -1,
            "gigabytes___DEFAULT__": -1,
        }}),
    )
}

/// (volumes, gigabytes, snapshots) a project uses.
async fn usage(service: &BlockService, project: &str) -> anyhow::Result<(u64, u64, u64)> {
    let vols = service.volumes(Some(project)).await?;
    let snaps = service.snapshots(Some(project)).await?;
    let gb = vols
        .iter()
        .map(|v| v.size)
        .chain(snaps.iter().map(|s| s.size))
        .fold(0u64, u64::saturating_add);
    Ok((vols.len() as u64, gb, snaps.len() as u64))
}

pub async fn quotas(
    service: &BlockService,
    caller: &Caller,
    project: &str,
    call: &Call,
) -> ApiResult {
    if project != caller.target && !caller.cloud_admin {
        return Err(ApiError::Forbidden(
            "Policy doesn't allow reading another project's quotas.".into(),
        ));
    }
    let mut body = quota_defaults(project).body.expect("has a body");
    if call
        .query("usage")
        .is_some_and(|u| u.eq_ignore_ascii_case("true"))
    {
        let (v, g, s) = usage(service, project).await?;
        let q = &mut body["quota_set"];
        let item = |limit: u64, used: u64| json!({"limit": limit, "in_use": used, "reserved": 0, "allocated": 0});
        q["volumes"] = item(VOLUMES, v);
        q["gigabytes"] = item(GIGABYTES, g);
        q["snapshots"] = item(SNAPSHOTS, s);
    }
    Ok(Reply::json(StatusCode::OK, body))
}

pub async fn limits(service: &BlockService, caller: &Caller) -> ApiResult {
    let (v, g, s) = usage(service, &caller.target).await?;
    Ok(Reply::json(
        StatusCode::OK,
        json!({"limits": {"rate": [], "absolute": {
            "maxTotalVolumes": VOLUMES, "maxTotalSnapshots": SNAPSHOTS,
            "maxTotalVolumeGigabytes": GIGABYTES, "maxTotalBackups": 10,
            "maxTotalBackupGigabytes": 1000, "totalVolumesUsed": v,
            "totalGigabytesUsed": g, "totalSnapshotsUsed": s,
            "totalBackupsUsed": 0, "totalBackupGigabytesUsed": 0,
        }}}),
    ))
}

pub fn zones() -> Reply {
    Reply::json(
        StatusCode::OK,
        json!({"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": true}}]}),
    )
}

/// Refuses `more` GiB (for a new volume when `new_volume`) beyond the quotas.
pub async fn check_volume_quota(
    service: &BlockService,
    project: &str,
    more: u64,
    new_volume: bool,
) -> Result<(), ApiError> {
    let (v, g, _) = usage(service, project).await?;
    if g.saturating_add(more) > GIGABYTES {
        return Err(ApiError::OverLimit(format!(
            "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested {more}G, quota is {GIGABYTES}G and {g}G has been consumed."
        )));
    }
    if new_volume && v >= VOLUMES {
        return Err(ApiError::OverLimit(format!(
            "VolumeLimitExceeded: Maximum number of volumes allowed ({VOLUMES}) exceeded for quota 'volumes'."
        )));
    }
    Ok(())
}

/// Refuses a snapshot beyond the quota.
pub async fn check_snapshot_quota(service: &BlockService, project: &str) -> Result<(), ApiError> {
    let (_, _, s) = usage(service, project).await?;
    if s >= SNAPSHOTS {
        return Err(ApiError::OverLimit(format!(
            "SnapshotLimitExceeded: Maximum number of snapshots allowed ({SNAPSHOTS}) exceeded."
        )));
    }
    Ok(())
}
