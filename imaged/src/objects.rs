//! Image bytes in the object store: the service's container, reached with
//! `common::swift::SwiftClient` as the service's own user. Segment objects
//! stream in (a chunked PUT fed from a channel; an error item aborts it so
//! nothing partial is stored) and out (ranged GETs), and are deleted.
//! Services named in `clone_accounts` may read the container and leave
//! clone markers (objects `{image}/...` in the clone container) while they
//! share an image's bytes.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use common::swift::SwiftClient;
use tokio::sync::mpsc;

pub use common::swift::ByteStream;

use crate::Config;

fn err(e: anyhow::Error) -> io::Error {
    io::Error::other(format!("{e:#}"))
}

/// The service's container in the object store.
pub struct ObjectStore {
    client: SwiftClient,
    container: String,
    policy: Option<String>,
    clone_container: String,
    clone_accounts: Vec<String>,
    container_ready: AtomicBool,
}

impl ObjectStore {
    pub fn new(cfg: &Config) -> anyhow::Result<ObjectStore> {
        Ok(ObjectStore {
            client: SwiftClient::new(&cfg.object_auth_url, &cfg.object_user, &cfg.object_key),
            container: cfg.container.clone(),
            policy: cfg.storage_policy.clone(),
            clone_container: cfg.clone_container.clone(),
            clone_accounts: cfg.clone_accounts.clone(),
            container_ready: AtomicBool::new(false),
        })
    }

    /// Creates the container (with the configured policy) and the clone
    /// container once, granting the clone accounts what they need.
    pub async fn ensure_container(&self) -> io::Result<()> {
        if self.container_ready.load(Ordering::Relaxed) {
            return Ok(());
        }
        let accounts = self.clone_accounts.join(",");
        self.client
            .put_container_with(
                &self.container,
                self.policy.as_deref(),
                &[("X-Container-Read", accounts.clone())],
            )
            .await
            .map_err(err)?;
        self.client
            .put_container_with(
                &self.clone_container,
                None,
                &[("X-Container-Write", accounts)],
            )
            .await
            .map_err(err)?;
        self.container_ready.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// The clone markers of an image: while there is one, its bytes are
    /// shared and must stay. Listed from every container replica, so that
    /// a marker one replica has not heard of yet still counts.
    pub async fn clones(&self, image_id: &str) -> io::Result<Vec<String>> {
        let listed = self
            .client
            .list_all_replicas(&self.clone_container, &format!("{image_id}/"))
            .await
            .map_err(err)?;
        Ok(listed.into_iter().map(|l| l.name).collect())
    }

    /// Stores an object from the pieces sent into `body`.
    pub async fn put(
        &self,
        object: &str,
        body: mpsc::Receiver<io::Result<Bytes>>,
    ) -> io::Result<()> {
        self.ensure_container().await?;
        self.client
            .put_object_stream(&self.container, object, body)
            .await
            .map_err(err)
    }

    /// Streams bytes `range` (inclusive) of an object, or all of it.
    pub async fn get(&self, object: &str, range: Option<(u64, u64)>) -> io::Result<ByteStream> {
        self.client
            .get_stream(&self.container, object, range)
            .await
            .map_err(err)
    }

    /// Deletes an object (gone already is fine).
    pub async fn delete(&self, object: &str) -> io::Result<()> {
        self.client
            .delete_object(&self.container, object)
            .await
            .map_err(err)
    }
}
