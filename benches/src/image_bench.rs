//! `cairn-bench image`: upload and download MiB/s of one large image
//! through the image API (Glance v2), as `openstack image create --file`
//! and `image save` move it: a token from identity, the image endpoint from
//! the catalog, a streamed `PUT .../file`, a streamed `GET .../file`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue, Method};
use rand::RngCore;
use serde_json::{json, Value};

use crate::report::Report;
use crate::stats::rate;
use crate::swift_client::{BodyMode, Conn, Endpoint, ReqBody};
use crate::units::size_label;

/// What the image benchmark needs.
#[derive(Debug, Clone)]
pub struct ImageConfig {
    /// `OS_AUTH_URL`, e.g. `http://127.0.0.1:5000/v3`.
    pub auth_url: String,
    pub username: String,
    pub password: String,
    pub project: String,
    /// Bytes of the image.
    pub size: u64,
    pub timeout: Duration,
}

const MIB: f64 = (1u64 << 20) as f64;

fn header(name: &'static str, value: &str) -> Result<(HeaderName, HeaderValue)> {
    Ok((HeaderName::from_static(name), HeaderValue::from_str(value)?))
}

/// A token and the catalog's public image URL.
async fn login(cfg: &ImageConfig) -> Result<(HeaderValue, String)> {
    let identity = Arc::new(Endpoint::parse(&cfg.auth_url).context("OS_AUTH_URL")?);
    let base = identity.path_and_query.trim_end_matches('/').to_string();
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": cfg.username, "password": cfg.password, "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": cfg.project, "domain": {"name": "Default"}}}}});
    let mut conn = Conn::new(identity, None, cfg.timeout);
    let reply = conn
        .request(
            Method::POST,
            &format!("{base}/auth/tokens"),
            &[header("content-type", "application/json")?],
            ReqBody::Full(Bytes::from(body.to_string())),
            BodyMode::Collect,
        )
        .await?;
    if reply.status.as_u16() != 201 {
        bail!("login failed: {}", reply.status);
    }
    let token = HeaderValue::from_str(reply.header("x-subject-token").context("no token")?)?;
    let body: Value = serde_json::from_slice(&reply.body)?;
    let url = body["token"]["catalog"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["type"] == "image")
        .flat_map(|s| s["endpoints"].as_array().into_iter().flatten())
        .find(|e| e["interface"] == "public")
        .and_then(|e| e["url"].as_str())
        .context("no public image endpoint in the catalog")?
        .to_string();
    Ok((token, url))
}

/// `size` bytes: 64 MiB of random data, repeated.
fn image_bytes(size: u64) -> Bytes {
    let mut block = vec![0u8; (64 << 20).min(size as usize)];
    rand::thread_rng().fill_bytes(&mut block);
    let mut out = BytesMut::with_capacity(size as usize);
    while (out.len() as u64) < size {
        let take = block.len().min(size as usize - out.len());
        out.extend_from_slice(&block[..take]);
    }
    out.freeze()
}

/// Creates, uploads, downloads and deletes one image; pushes `image.*`.
pub async fn run_image(cfg: &ImageConfig, report: &mut Report) -> Result<()> {
    let (token, url) = login(cfg).await?;
    let endpoint = Arc::new(Endpoint::parse(&url).context("image endpoint")?);
    let base = format!("{}/v2/images", endpoint.base_path);
    let mut conn = Conn::new(endpoint, Some(token), cfg.timeout);
    let created = conn
        .request(
            Method::POST,
            &base,
            &[header("content-type", "application/json")?],
            ReqBody::Full(Bytes::from(
                json!({"name": "cairn-bench-image", "disk_format": "raw", "container_format": "bare"})
                    .to_string(),
            )),
            BodyMode::Collect,
        )
        .await?;
    if created.status.as_u16() != 201 {
        bail!("creating the image failed: {}", created.status);
    }
    let id = serde_json::from_slice::<Value>(&created.body)?["id"]
        .as_str()
        .context("no image id")?
        .to_string();
    let data = image_bytes(cfg.size);
    let label = size_label(cfg.size);
    let started = Instant::now();
    let put = conn
        .request(
            Method::PUT,
            &format!("{base}/{id}/file"),
            &[
                header("content-type", "application/octet-stream")?,
                header("x-openstack-image-size", &cfg.size.to_string())?,
            ],
            ReqBody::chunked(data),
            BodyMode::Drain,
        )
        .await;
    let upload = started.elapsed();
    let outcome = async {
        let put = put?;
        if put.status.as_u16() != 204 {
            bail!("uploading failed: {}", put.status);
        }
        report.push(
            format!("image.upload_{label}_mib_per_s"),
            rate(cfg.size as f64 / MIB, upload),
            1,
        );
        let started = Instant::now();
        let got = conn
            .request(
                Method::GET,
                &format!("{base}/{id}/file"),
                &[],
                ReqBody::Empty,
                BodyMode::Drain,
            )
            .await?;
        let download = started.elapsed();
        if got.status.as_u16() != 200 || got.body_len != cfg.size {
            bail!(
                "downloading failed: {} ({} bytes)",
                got.status,
                got.body_len
            );
        }
        report.push(
            format!("image.download_{label}_mib_per_s"),
            rate(cfg.size as f64 / MIB, download),
            1,
        );
        Ok(())
    }
    .await;
    let _ = conn
        .request(
            Method::DELETE,
            &format!("{base}/{id}"),
            &[],
            ReqBody::Empty,
            BodyMode::Drain,
        )
        .await;
    outcome
}
