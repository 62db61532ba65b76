//! The image records database: RocksDB with keys `i/<image id>` (the image
//! as JSON) and `m/<image id>/<project>` (a member). Every call runs on a
//! blocking thread.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{Options, DB};

use crate::model::{Image, Member};

/// The image records.
#[derive(Clone)]
pub struct Records {
    db: Arc<DB>,
    /// Serializes read-modify-write sequences (status transitions).
    lock: Arc<tokio::sync::Mutex<()>>,
}

fn image_key(id: &str) -> Vec<u8> {
    format!("i/{id}").into_bytes()
}

fn member_key(image: &str, member: &str) -> Vec<u8> {
    format!("m/{image}/{member}").into_bytes()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f).await?
}

impl Records {
    pub fn open(dir: &Path) -> anyhow::Result<Records> {
        std::fs::create_dir_all(dir)?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_keep_log_file_num(2);
        Ok(Records {
            db: Arc::new(DB::open(&opts, dir.join("records.db"))?),
            lock: Default::default(),
        })
    }

    /// Holds off other read-modify-write sequences while the guard lives.
    pub async fn write_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.lock.lock().await
    }

    pub async fn get(&self, id: &str) -> anyhow::Result<Option<Image>> {
        let (db, key) = (self.db.clone(), image_key(id));
        blocking(move || {
            Ok(match db.get(key)? {
                Some(v) => Some(serde_json::from_slice(&v)?),
                None => None,
            })
        })
        .await
    }

    /// Stores an image durably.
    pub async fn put(&self, image: &Image) -> anyhow::Result<()> {
        let (db, key, value) = (
            self.db.clone(),
            image_key(&image.id),
            serde_json::to_vec(image)?,
        );
        blocking(move || {
            let mut opts = rocksdb::WriteOptions::default();
            opts.set_sync(true);
            db.put_opt(key, value, &opts)?;
            Ok(())
        })
        .await
    }

    /// Removes an image and its members.
    pub async fn delete(&self, id: &str) -> anyhow::Result<()> {
        let db = self.db.clone();
        let id = id.to_string();
        blocking(move || {
            let mut batch = rocksdb::WriteBatch::default();
            batch.delete(image_key(&id));
            let prefix = format!("m/{id}/").into_bytes();
            for item in db.prefix_iterator(&prefix) {
                let (k, _) = item?;
                if !k.starts_with(&prefix) {
                    break;
                }
                batch.delete(k);
            }
            db.write(batch)?;
            Ok(())
        })
        .await
    }

    /// Every image, in id order.
    pub async fn list(&self) -> anyhow::Result<Vec<Image>> {
        let db = self.db.clone();
        blocking(move || {
            let mut out = Vec::new();
            for item in db.prefix_iterator(b"i/") {
                let (k, v) = item?;
                if !k.starts_with(b"i/") {
                    break;
                }
                out.push(serde_json::from_slice(&v)?);
            }
            Ok(out)
        })
        .await
    }

    pub async fn put_member(&self, m: &Member) -> anyhow::Result<()> {
        let (db, key, value) = (
            self.db.clone(),
            member_key(&m.image_id, &m.member_id),
            serde_json::to_vec(m)?,
        );
        blocking(move || Ok(db.put(key, value)?)).await
    }

    pub async fn get_member(&self, image: &str, member: &str) -> anyhow::Result<Option<Member>> {
        let (db, key) = (self.db.clone(), member_key(image, member));
        blocking(move || {
            Ok(match db.get(key)? {
                Some(v) => Some(serde_json::from_slice(&v)?),
                None => None,
            })
        })
        .await
    }

    pub async fn delete_member(&self, image: &str, member: &str) -> anyhow::Result<()> {
        let (db, key) = (self.db.clone(), member_key(image, member));
        blocking(move || Ok(db.delete(key)?)).await
    }

    /// The members of an image.
    pub async fn members(&self, image: &str) -> anyhow::Result<Vec<Member>> {
        let db = self.db.clone();
        let prefix = format!("m/{image}/").into_bytes();
        blocking(move || {
            let mut out = Vec::new();
            for item in db.prefix_iterator(&prefix) {
                let (k, v) = item?;
                if !k.starts_with(&prefix) {
                    break;
                }
                out.push(serde_json::from_slice(&v)?);
            }
            Ok(out)
        })
        .await
    }
}
