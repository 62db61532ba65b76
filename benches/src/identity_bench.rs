//! `cairn-bench identity`: what identity costs. Token issue per second
//! (password logins, which are argon2-bound, and token-method re-issues)
//! and validations per second (`GET /v3/auth/tokens`) at a given
//! concurrency; local checks per second on one core, with the signature
//! verified each time and as services run them (a token seen before skips
//! the signature); and the latency of a 4 KiB object GET with
//! an identity token next to the same GET with a tempauth token, so the
//! added cost of token checking in the object store shows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use serde_json::{json, Value};

use crate::report::Report;
use crate::stats::{percentile, rate, sorted_millis};
use crate::swift_client::{authenticate, BodyMode, Conn, Endpoint, ReqBody};

/// What the identity benchmark needs.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// `OS_AUTH_URL`, e.g. `http://127.0.0.1:5000/v3`.
    pub auth_url: String,
    pub username: String,
    pub password: String,
    pub project: String,
    /// Swift v1.0 auth (for the tempauth comparison).
    pub st_auth: String,
    pub st_user: String,
    pub st_key: String,
    pub concurrency: usize,
    /// How long each throughput phase runs.
    pub duration: Duration,
    /// Sequential GETs timed per token kind.
    pub gets: usize,
    pub timeout: Duration,
}

/// Runs every phase, pushing `identity.*` figures.
pub async fn run_identity(cfg: &IdentityConfig, report: &mut Report) -> Result<()> {
    let identity = Arc::new(Endpoint::parse(&cfg.auth_url).context("OS_AUTH_URL")?);
    let base = identity.path_and_query.trim_end_matches('/').to_string();
    let login = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": cfg.username, "password": cfg.password, "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": cfg.project, "domain": {"name": "Default"}}}}});
    let mut conn = Conn::new(identity.clone(), None, cfg.timeout);
    let (token, body) = issue(&mut conn, &base, &login).await?;
    let storage_url = object_store_url(&body)?;

    let tokens_path = format!("{base}/auth/tokens?nocatalog");
    let ops = throughput(cfg, identity.clone(), {
        let (path, body) = (tokens_path.clone(), Bytes::from(login.to_string()));
        move |c| post_json(c, path.clone(), body.clone())
    })
    .await?;
    report.push("identity.password_token_issue_per_s", ops, 1);
    let rescope = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": token}},
        "scope": {"project": {"name": cfg.project, "domain": {"name": "Default"}}}}});
    let ops = throughput(cfg, identity.clone(), {
        let (path, body) = (tokens_path.clone(), Bytes::from(rescope.to_string()));
        move |c| post_json(c, path.clone(), body.clone())
    })
    .await?;
    report.push("identity.token_method_issue_per_s", ops, 1);
    let ops = throughput(cfg, identity.clone(), {
        let (path, token) = (tokens_path.clone(), token.clone());
        move |c| validate(c, path.clone(), token.clone())
    })
    .await?;
    report.push("identity.validations_per_s", ops, 1);
    report.push(
        "identity.local_checks_per_s",
        local_checks(&identity, &token, cfg).await?,
        0,
    );
    report.push(
        "identity.remembered_checks_per_s",
        remembered_checks(&identity, &token, cfg).await?,
        0,
    );

    let keystone_object = Endpoint::parse(&storage_url).context("object-store URL")?;
    let swift = authenticate(&cfg.st_auth, &cfg.st_user, &cfg.st_key, cfg.timeout).await?;
    let ks = HeaderValue::from_str(&token)?;
    let ks_p50 = get_latency(cfg, Arc::new(keystone_object), ks, report, "keystone").await?;
    let ta_p50 = get_latency(
        cfg,
        swift.storage.clone(),
        swift.token.clone(),
        report,
        "tempauth",
    )
    .await?;
    report.push(
        "identity.get_4k_added_p50_us",
        (ks_p50 - ta_p50) * 1000.0,
        0,
    );
    Ok(())
}

/// `POST /auth/tokens`; returns the token and the body.
async fn issue(conn: &mut Conn, base: &str, login: &Value) -> Result<(String, Value)> {
    let reply = conn
        .request(
            Method::POST,
            &format!("{base}/auth/tokens"),
            &[json_type()],
            ReqBody::Full(Bytes::from(login.to_string())),
            BodyMode::Collect,
        )
        .await?;
    if reply.status.as_u16() != 201 {
        bail!("login failed: {}", reply.status);
    }
    let token = reply
        .header("x-subject-token")
        .context("no X-Subject-Token")?
        .to_string();
    Ok((token, serde_json::from_slice(&reply.body)?))
}

fn json_type() -> (HeaderName, HeaderValue) {
    (
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    )
}

/// The public object-store URL of a token body's catalog.
fn object_store_url(body: &Value) -> Result<String> {
    body["token"]["catalog"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["type"] == "object-store")
        .flat_map(|s| s["endpoints"].as_array().into_iter().flatten())
        .find(|e| e["interface"] == "public")
        .and_then(|e| e["url"].as_str())
        .map(str::to_string)
        .context("no public object-store endpoint in the catalog")
}

async fn post_json(mut c: Conn, path: String, body: Bytes) -> (Conn, bool) {
    let ok = c
        .request(
            Method::POST,
            &path,
            &[json_type()],
            ReqBody::Full(body),
            BodyMode::Drain,
        )
        .await
        .is_ok_and(|r| r.status.as_u16() == 201);
    (c, ok)
}

async fn validate(mut c: Conn, path: String, token: String) -> (Conn, bool) {
    let Ok(v) = HeaderValue::from_str(&token) else {
        return (c, false);
    };
    let headers = [
        (HeaderName::from_static("x-auth-token"), v.clone()),
        (HeaderName::from_static("x-subject-token"), v),
    ];
    let ok = c
        .request(
            Method::GET,
            &path,
            &headers,
            ReqBody::Empty,
            BodyMode::Drain,
        )
        .await
        .is_ok_and(|r| r.status.as_u16() == 200);
    (c, ok)
}

/// Requests per second of `op` from `cfg.concurrency` workers, each on its
/// own connection, for `cfg.duration`; fails if any request failed.
async fn throughput<F, Fut>(cfg: &IdentityConfig, endpoint: Arc<Endpoint>, op: F) -> Result<f64>
where
    F: Fn(Conn) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (Conn, bool)> + Send,
{
    let started = Instant::now();
    let deadline = started + cfg.duration;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..cfg.concurrency.max(1) {
        let (op, mut conn) = (op.clone(), Conn::new(endpoint.clone(), None, cfg.timeout));
        workers.spawn(async move {
            let (mut done, mut failed) = (0u64, 0u64);
            while Instant::now() < deadline {
                let (c, ok) = op(conn).await;
                conn = c;
                if ok {
                    done += 1;
                } else {
                    failed += 1;
                }
            }
            (done, failed)
        });
    }
    let (mut done, mut failed) = (0, 0);
    while let Some(r) = workers.join_next().await {
        let (d, f) = r.context("benchmark worker")?;
        done += d;
        failed += f;
    }
    if failed > 0 {
        bail!("{failed} requests failed");
    }
    Ok(rate(done as f64, started.elapsed()))
}

/// Local checks (signature, expiry, revocation) per second on one core,
/// with the document identity serves.
async fn local_checks(identity: &Endpoint, token: &str, cfg: &IdentityConfig) -> Result<f64> {
    let http = common::identity_http::IdentityHttp::new(&format!("http://{}", identity.authority))?;
    let doc: common::token::VerificationDocument = http
        .get_json("/v3/cairn/token-verification", &[])
        .await?
        .context("no verification document")?;
    let verifier = doc.verifier().context("not an Ed25519 key")?;
    let token = token.to_string();
    let duration = cfg.duration;
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < duration {
            for _ in 0..100 {
                verifier
                    .check(&token, common::token::now_ms())
                    .map_err(|e| anyhow::anyhow!("local check failed: {e}"))?;
            }
            n += 100;
        }
        anyhow::Ok(rate(n as f64, started.elapsed()))
    })
    .await?
}

/// Checks per second through `RemoteVerifier` (what the object store
/// runs), with the token already verified once.
async fn remembered_checks(identity: &Endpoint, token: &str, cfg: &IdentityConfig) -> Result<f64> {
    let verifier =
        common::token_verifier::RemoteVerifier::new(&format!("http://{}", identity.authority))?;
    verifier.refresh().await?;
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < cfg.duration {
        for _ in 0..100 {
            verifier
                .check(token)
                .await
                .map_err(|e| anyhow::anyhow!("check failed: {e}"))?;
        }
        n += 100;
    }
    Ok(rate(n as f64, started.elapsed()))
}

/// Puts a 4 KiB object with `token` at `storage`, then times `cfg.gets`
/// sequential GETs of it on one connection; pushes p50/p99 in µs and
/// returns p50 in ms.
async fn get_latency(
    cfg: &IdentityConfig,
    storage: Arc<Endpoint>,
    token: HeaderValue,
    report: &mut Report,
    kind: &str,
) -> Result<f64> {
    let mut conn = Conn::new(storage.clone(), Some(token), cfg.timeout);
    let container = format!(
        "cairn-bench-identity-{}",
        hex::encode(rand::random::<[u8; 4]>())
    );
    let object = storage.object_target(&container, "4k");
    let made = conn
        .request(
            Method::PUT,
            &storage.container_target(&container, None),
            &[],
            ReqBody::Empty,
            BodyMode::Drain,
        )
        .await?;
    let put = conn
        .request(
            Method::PUT,
            &object,
            &[],
            ReqBody::Full(Bytes::from(vec![7u8; 4096])),
            BodyMode::Drain,
        )
        .await?;
    if !made.status.is_success() || !put.status.is_success() {
        bail!(
            "{kind}: cannot store the 4 KiB object ({}, {})",
            made.status,
            put.status
        );
    }
    let mut latencies = Vec::with_capacity(cfg.gets);
    for _ in 0..cfg.gets {
        let t = Instant::now();
        let r = conn
            .request(Method::GET, &object, &[], ReqBody::Empty, BodyMode::Drain)
            .await?;
        latencies.push(t.elapsed());
        if r.status.as_u16() != 200 || r.body_len != 4096 {
            bail!("{kind}: GET answered {}", r.status);
        }
    }
    for target in [object, storage.container_target(&container, None)] {
        let _ = conn
            .request(
                Method::DELETE,
                &target,
                &[],
                ReqBody::Empty,
                BodyMode::Drain,
            )
            .await;
    }
    let sorted = sorted_millis(&latencies);
    let p50 = percentile(&sorted, 50.0).unwrap_or(0.0);
    report.push(format!("identity.get_4k_{kind}_p50_us"), p50 * 1000.0, 0);
    report.push(
        format!("identity.get_4k_{kind}_p99_us"),
        percentile(&sorted, 99.0).unwrap_or(0.0) * 1000.0,
        0,
    );
    Ok(p50)
}
