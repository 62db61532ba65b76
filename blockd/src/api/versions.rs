//! Version discovery of the volume API (`GET /volume/`, `/volume/v3/`,
//! `/volume/v3/{project_id}`): one version, v3.0, with microversions up to
//! `MAX_VERSION`, answered without a token.

use http::StatusCode;
use serde_json::json;

use super::reply::Reply;

/// The highest microversion served.
pub const MAX_VERSION: (u32, u32) = (3, 60);
pub const MIN_VERSION: (u32, u32) = (3, 0);

/// The microversion a request asked for (`OpenStack-API-Version: volume
/// 3.x`, `latest`), clamped to what is served; 3.0 when absent.
pub fn negotiate(header: Option<&str>) -> (u32, u32) {
    let Some(h) = header else {
        return MIN_VERSION;
    };
    let Some(v) = h
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("volume "))
    else {
        return MIN_VERSION;
    };
    let v = v.trim();
    if v.eq_ignore_ascii_case("latest") {
        return MAX_VERSION;
    }
    match v
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
    {
        Some(asked) => asked.clamp(MIN_VERSION, MAX_VERSION),
        None => MIN_VERSION,
    }
}

/// The versions document; `base` is `http://host:port`.
pub fn document(base: &str) -> Reply {
    Reply::json(
        StatusCode::OK,
        json!({"versions": [{
            "id": "v3.0",
            "status": "CURRENT",
            "version": format!("{}.{}", MAX_VERSION.0, MAX_VERSION.1),
            "min_version": format!("{}.{}", MIN_VERSION.0, MIN_VERSION.1),
            "updated": "2023-08-31T00:00:00Z",
            "links": [
                {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
                {"rel": "self", "href": format!("{base}/volume/v3/")}
            ],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.volume+json;version=3"}]
        }]}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microversions_clamp() {
        assert_eq!(negotiate(None), (3, 0));
        assert_eq!(negotiate(Some("volume 3.60")), (3, 60));
        assert_eq!(negotiate(Some("volume 3.71")), (3, 60));
        assert_eq!(negotiate(Some("volume latest")), (3, 60));
        assert_eq!(negotiate(Some("compute 2.1, volume 3.27")), (3, 27));
        assert_eq!(negotiate(Some("volume x")), (3, 0));
    }
}
