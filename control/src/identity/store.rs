//! Identity's RocksDB database (`DATA_DIR/identity`): one key space of
//! `kind/id` keys whose values are a tag byte (1) and the record's JSON.
//! Every RocksDB call runs in `spawn_blocking`. Writers that check before
//! they write (unique names) hold `Store::write_lock` across both.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The kinds of record; each is a key prefix.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Domain,
    Project,
    User,
    Role,
    Assignment,
    Region,
    Service,
    Endpoint,
    /// Credentials (`/v3/credentials`, EC2 ones among them).
    Credential,
    /// Application credentials; keyed `user/id`.
    AppCredential,
    Group,
    /// Group memberships; keyed `group/user`.
    Membership,
    /// Roles of groups on projects; keyed `project/group/role`.
    GroupAssignment,
    /// Roles of users on the system; keyed `user/role`.
    SystemAssignment,
    /// Roles of users on domains; keyed `domain/user/role`.
    DomainAssignment,
    /// Single records: the signing key, the revocation list.
    Meta,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Domain => "domain/",
            Kind::Project => "project/",
            Kind::User => "user/",
            Kind::Role => "role/",
            Kind::Assignment => "assign/",
            Kind::Region => "region/",
            Kind::Service => "service/",
            Kind::Endpoint => "endpoint/",
            Kind::Credential => "credential/",
            Kind::AppCredential => "appcred/",
            Kind::Group => "group/",
            Kind::Membership => "member/",
            Kind::GroupAssignment => "gassign/",
            Kind::SystemAssignment => "sysassign/",
            Kind::DomainAssignment => "dassign/",
            Kind::Meta => "meta/",
        }
    }
}

const TAG: u8 = 1;

/// The database, shared by every request.
#[derive(Clone)]
pub struct Store {
    db: Arc<rocksdb::DB>,
    write: Arc<tokio::sync::Mutex<()>>,
}

impl Store {
    /// Opens (creating) the database at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Store> {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        let db = rocksdb::DB::open(&opts, path)
            .with_context(|| format!("open identity database {}", path.display()))?;
        Ok(Store {
            db: Arc::new(db),
            write: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Serializes check-then-write sequences.
    pub async fn write_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.write.lock().await
    }

    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&rocksdb::DB) -> anyhow::Result<R> + Send + 'static,
    ) -> anyhow::Result<R> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .context("identity database task")?
    }

    /// The record `kind/id`, if any.
    pub async fn get<T: DeserializeOwned + Send + 'static>(
        &self,
        kind: Kind,
        id: &str,
    ) -> anyhow::Result<Option<T>> {
        let key = format!("{}{id}", kind.prefix());
        self.blocking(move |db| match db.get(key.as_bytes())? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        })
        .await
    }

    /// Every record of `kind` whose id starts with `id_prefix`, in key order.
    pub async fn list<T: DeserializeOwned + Send + 'static>(
        &self,
        kind: Kind,
        id_prefix: &str,
    ) -> anyhow::Result<Vec<T>> {
        let prefix = format!("{}{id_prefix}", kind.prefix());
        self.blocking(move |db| {
            let mut out = Vec::new();
            let mode = rocksdb::IteratorMode::From(prefix.as_bytes(), rocksdb::Direction::Forward);
            for item in db.iterator(mode) {
                let (k, v) = item?;
                if !k.starts_with(prefix.as_bytes()) {
                    break;
                }
                out.push(decode(&v)?);
            }
            Ok(out)
        })
        .await
    }

    /// Writes `kind/id` (synced).
    pub async fn put<T: Serialize>(&self, kind: Kind, id: &str, value: &T) -> anyhow::Result<()> {
        let key = format!("{}{id}", kind.prefix());
        let mut bytes = vec![TAG];
        serde_json::to_writer(&mut bytes, value)?;
        self.blocking(move |db| {
            let mut w = rocksdb::WriteOptions::default();
            w.set_sync(true);
            db.put_opt(key.as_bytes(), bytes, &w)?;
            Ok(())
        })
        .await
    }

    /// Removes `kind/id` (synced); removing a missing key is not an error.
    pub async fn delete(&self, kind: Kind, id: &str) -> anyhow::Result<()> {
        let key = format!("{}{id}", kind.prefix());
        self.blocking(move |db| {
            let mut w = rocksdb::WriteOptions::default();
            w.set_sync(true);
            db.delete_opt(key.as_bytes(), &w)?;
            Ok(())
        })
        .await
    }
}

fn decode<T: DeserializeOwned>(v: &[u8]) -> anyhow::Result<T> {
    match v.split_first() {
        Some((&TAG, json)) => serde_json::from_slice(json).context("decode identity record"),
        _ => anyhow::bail!("identity record with an unknown tag"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::model::Role;

    #[tokio::test]
    async fn put_get_list_delete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(&dir.path().join("db")).expect("open");
        for (id, name) in [("b", "reader"), ("a", "admin")] {
            let r = Role {
                id: id.into(),
                name: name.into(),
                description: None,
            };
            s.put(Kind::Role, id, &r).await.expect("put");
        }
        s.put(Kind::User, "a", &"not a role").await.expect("put");
        let roles: Vec<Role> = s.list(Kind::Role, "").await.expect("list");
        let names: Vec<_> = roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["admin", "reader"]);
        s.delete(Kind::Role, "a").await.expect("delete");
        assert!(s.get::<Role>(Kind::Role, "a").await.expect("get").is_none());
        assert_eq!(s.list::<Role>(Kind::Role, "").await.expect("list").len(), 1);
    }
}
