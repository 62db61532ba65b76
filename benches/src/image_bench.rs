//! `cairn-bench image`: upload and download MiB/s of one large image
//! through the image API (Glance v2), as `openstack image create --file`
//! and `image save` move it: a token from identity, the image endpoint from
//! the catalog, a streamed `PUT .../file`, a streamed `GET .../file`. Then
//! the time from `POST /volumes` with the image as `imageRef` until the
//! volume is `available` (the volume API from the catalog).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
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

/// A token and the catalog's public image and volume URLs.
async fn login(cfg: &ImageConfig) -> Result<(HeaderValue, String, String)> {
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
    let url_of = |kind: &str| {
        body["token"]["catalog"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["type"] == kind)
            .flat_map(|s| s["endpoints"].as_array().into_iter().flatten())
            .find(|e| e["interface"] == "public")
            .and_then(|e| e["url"].as_str())
            .map(str::to_string)
            .with_context(|| format!("no public {kind} endpoint in the catalog"))
    };
    Ok((token, url_of("image")?, url_of("volumev3")?))
}

/// A body of `size` bytes: 64 MiB of random data, repeated.
fn image_body(size: u64) -> ReqBody {
    let mut block = vec![0u8; (64 << 20).min(size as usize)];
    rand::thread_rng().fill_bytes(&mut block);
    ReqBody::Repeat {
        block: Bytes::from(block),
        remaining: size,
    }
}

/// Creates, uploads, downloads and deletes one image; pushes `image.*`.
pub async fn run_image(cfg: &ImageConfig, report: &mut Report) -> Result<()> {
    let (token, url, volume_url) = login(cfg).await?;
    let endpoint = Arc::new(Endpoint::parse(&url).context("image endpoint")?);
    let base = format!("{}/v2/images", endpoint.base_path);
    let mut conn = Conn::new(endpoint, Some(token.clone()), cfg.timeout);
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
            image_body(cfg.size),
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
        let took = volume_from_image(cfg, &volume_url, &token, &id).await?;
        report.push(
            format!("image.volume_from_{label}_ms"),
            took.as_secs_f64() * 1000.0,
            1,
        );
        Ok(())
    }
    .await;
    // The image is in use until the volume's shared segments are swept.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let gone = conn
            .request(
                Method::DELETE,
                &format!("{base}/{id}"),
                &[],
                ReqBody::Empty,
                BodyMode::Drain,
            )
            .await;
        if !matches!(&gone, Ok(r) if r.status.as_u16() == 409) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    outcome
}

/// Makes a volume from the image and waits until it is available;
/// answers how long that took. The volume is deleted after.
async fn volume_from_image(
    cfg: &ImageConfig,
    url: &str,
    token: &HeaderValue,
    image: &str,
) -> Result<Duration> {
    let endpoint = Arc::new(Endpoint::parse(url).context("volume endpoint")?);
    let base = format!("{}/volumes", endpoint.base_path.trim_end_matches('/'));
    let mut conn = Conn::new(endpoint, Some(token.clone()), cfg.timeout);
    let started = Instant::now();
    let made = conn
        .request(
            Method::POST,
            &base,
            &[header("content-type", "application/json")?],
            ReqBody::Full(Bytes::from(
                json!({"volume": {"imageRef": image, "name": "cairn-bench-from-image"}})
                    .to_string(),
            )),
            BodyMode::Collect,
        )
        .await?;
    if made.status.as_u16() != 202 {
        bail!(
            "creating the volume failed: {} {}",
            made.status,
            String::from_utf8_lossy(&made.body)
        );
    }
    let id = serde_json::from_slice::<Value>(&made.body)?["volume"]["id"]
        .as_str()
        .context("no volume id")?
        .to_string();
    let took = loop {
        let shown = conn
            .request(
                Method::GET,
                &format!("{base}/{id}"),
                &[],
                ReqBody::Empty,
                BodyMode::Collect,
            )
            .await?;
        let status = serde_json::from_slice::<Value>(&shown.body)?["volume"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match status.as_str() {
            "available" => break started.elapsed(),
            "creating" | "downloading" if started.elapsed() < cfg.timeout => {
                tokio::time::sleep(Duration::from_millis(5)).await
            }
            s => bail!("the volume from the image is {s}"),
        }
    };
    conn.request(
        Method::DELETE,
        &format!("{base}/{id}"),
        &[],
        ReqBody::Empty,
        BodyMode::Drain,
    )
    .await?;
    Ok(took)
}
