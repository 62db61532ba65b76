//! imaged: the image service (Glance v2). Image records live in a RocksDB
//! of the service's own (`records`); image bytes live in the object store,
//! in a service account, cut into segment objects so that images of any
//! size stream through without being held in memory (`objects`). Uploads
//! are inspected (`inspect`) before anything is stored: a disk format that
//! does not match the content, or a qcow2 that points at other files, is
//! refused. `api` is the HTTP side; `run` serves it.

// Handlers return early with a finished response (`Result<_, Resp>`); a
// response is 128 bytes and boxing it would buy nothing on these paths.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod config;
pub mod inspect;
pub mod model;
pub mod objects;
pub mod records;

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;

/// Opens the records, connects to identity and the object store, and serves
/// the image API on `listener` until `shutdown`.
pub async fn run(
    cfg: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let records = records::Records::open(&cfg.data_dir)
        .with_context(|| format!("open image records in {}", cfg.data_dir.display()))?;
    let verifier = common::token_verifier::RemoteVerifier::new(&cfg.identity_url)?;
    tokio::spawn(verifier.clone().refresh_loop(shutdown.clone()));
    let objects = Arc::new(objects::ObjectStore::new(&cfg)?);
    tokio::spawn(prepare_containers(objects.clone(), shutdown.clone()));
    let service = Arc::new(api::Service {
        records,
        objects,
        verifier,
        segment_size: cfg.segment_size,
        max_image_size: cfg.max_image_size,
        policy: Arc::new(common::policy::Policy::new(
            api::DEFAULT_RULES,
            cfg.policy_file.as_deref(),
        )?),
    });
    common::http::serve(
        listener,
        move |req| {
            let service = service.clone();
            async move { api::handle(&service, req).await }
        },
        shutdown,
    )
    .await;
    Ok(())
}

/// Makes the containers (and their ACLs) as soon as the object store
/// answers, so services sharing image bytes can read images uploaded
/// before this start.
async fn prepare_containers(objects: Arc<objects::ObjectStore>, shutdown: CancellationToken) {
    let mut wait = std::time::Duration::from_millis(200);
    loop {
        match objects.ensure_container().await {
            Ok(()) => return,
            Err(e) => tracing::debug!("image containers not ready yet: {e}"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(std::time::Duration::from_secs(10));
    }
}
