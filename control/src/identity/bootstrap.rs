//! Bootstrap, run at every start and idempotent: the `default` domain; the
//! roles `admin`, `member`, `reader` and `service`; the `admin` and `service`
//! projects; the `admin` user (its password set to the one given, so the
//! launcher's credentials always work) with `admin` on `admin` and on the
//! system; and a
//! service with public, internal and admin endpoints for each catalog entry
//! (their URLs follow this start's addresses); and, when given, the
//! admin's EC2 key pair on the `admin` project (replacing the one an
//! earlier start made if the pair changed). The `admin` project is the
//! cloud's admin project: its `admin` role acts on every project's data.

use super::credentials::{self, Credential, Ec2Keys};
use super::directory;
use super::error::Result;
use super::model::{
    new_id, Assignment, Domain, Endpoint, Project, Region, Role, Service, User, DEFAULT_DOMAIN_ID,
};
use super::password;
use super::store::{Kind, Store};
use super::system::SystemAssignment;
use super::Identity;

/// A service to list in the catalog.
#[derive(Clone, Debug)]
pub struct CatalogEntry {
    /// `identity`, `object-store`, ...
    pub kind: String,
    /// `keystone`, `swift`, ...
    pub name: String,
    /// May hold `%(project_id)s`.
    pub url: String,
}

/// What bootstrap makes sure of.
#[derive(Clone, Debug)]
pub struct Spec {
    pub admin_password: String,
    pub catalog: Vec<CatalogEntry>,
    /// The admin's EC2 key pair on the admin project.
    pub admin_ec2: Option<Ec2Keys>,
}

/// Where bootstrap remembers the access key of the admin's EC2 pair.
const ADMIN_EC2_ACCESS: &str = "bootstrap_admin_ec2_access";

/// The ids bootstrap settled on.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub admin_user_id: String,
    pub admin_project_id: String,
}

/// The roles every appliance has.
pub const ROLES: [&str; 4] = ["admin", "member", "reader", "service"];

/// Makes sure every bootstrap record exists and is current.
pub async fn run(id: &Identity, spec: &Spec) -> Result<Outcome> {
    let store = &id.store;
    let _guard = store.write_lock().await;
    if directory::domain(store, DEFAULT_DOMAIN_ID).await?.is_none() {
        let d = Domain {
            id: DEFAULT_DOMAIN_ID.into(),
            name: "Default".into(),
            description: "The default domain".into(),
            enabled: true,
        };
        store.put(Kind::Domain, &d.id, &d).await?;
    }
    let mut admin_role = None;
    for name in ROLES {
        let role = match directory::role_named(store, name).await? {
            Some(r) => r,
            None => {
                let r = Role {
                    id: new_id(),
                    name: name.into(),
                    description: None,
                };
                store.put(Kind::Role, &r.id, &r).await?;
                r
            }
        };
        if name == "admin" {
            admin_role = Some(role);
        }
    }
    let admin_role = admin_role.expect("ROLES holds admin");
    let admin_project = project(store, "admin", "Bootstrap project for the admin user").await?;
    project(store, "service", "Project of the services' own users").await?;
    let admin = admin_user(store, &spec.admin_password).await?;
    let grant = Assignment {
        project_id: admin_project.id.clone(),
        user_id: admin.id.clone(),
        role_id: admin_role.id.clone(),
    };
    store.put(Kind::Assignment, &grant.key(), &grant).await?;
    let system_grant = SystemAssignment {
        user_id: admin.id.clone(),
        role_id: admin_role.id.clone(),
    };
    store
        .put(Kind::SystemAssignment, &system_grant.key(), &system_grant)
        .await?;
    if store
        .get::<Region>(Kind::Region, &id.region)
        .await?
        .is_none()
    {
        let r = Region {
            id: id.region.clone(),
            description: String::new(),
            parent_region_id: None,
        };
        store.put(Kind::Region, &r.id, &r).await?;
    }
    for entry in &spec.catalog {
        service(store, &id.region, entry).await?;
    }
    id.tokens.set_admin_project(&admin_project.id);
    if let Some(keys) = &spec.admin_ec2 {
        admin_ec2(store, &admin.id, &admin_project.id, keys).await?;
    }
    Ok(Outcome {
        admin_user_id: admin.id,
        admin_project_id: admin_project.id,
    })
}

async fn admin_ec2(store: &Store, user_id: &str, project_id: &str, keys: &Ec2Keys) -> Result<()> {
    if let Some(old) = store.get::<String>(Kind::Meta, ADMIN_EC2_ACCESS).await? {
        if old != keys.access {
            store
                .delete(Kind::Credential, &credentials::ec2_id(&old))
                .await?;
        }
    }
    let c = Credential::new_ec2(user_id, project_id, keys);
    store.put(Kind::Credential, &c.id, &c).await?;
    store
        .put(Kind::Meta, ADMIN_EC2_ACCESS, &keys.access)
        .await?;
    Ok(())
}

async fn project(store: &Store, name: &str, description: &str) -> Result<Project> {
    if let Some(p) = directory::projects_named(store, name, Some(DEFAULT_DOMAIN_ID))
        .await?
        .pop()
    {
        return Ok(p);
    }
    let p = Project {
        id: new_id(),
        name: name.into(),
        domain_id: DEFAULT_DOMAIN_ID.into(),
        description: description.into(),
        enabled: true,
    };
    store.put(Kind::Project, &p.id, &p).await?;
    Ok(p)
}

async fn admin_user(store: &Store, pw: &str) -> Result<User> {
    let existing = directory::users_named(store, "admin", Some(DEFAULT_DOMAIN_ID))
        .await?
        .pop();
    if let Some(u) = &existing {
        let (pw2, phc) = (pw.to_string(), u.password_hash.clone().unwrap_or_default());
        let same = tokio::task::spawn_blocking(move || password::verify(&pw2, &phc))
            .await
            .map_err(anyhow::Error::from)?;
        if same && u.enabled {
            return Ok(u.clone());
        }
    }
    let pw2 = pw.to_string();
    let phc = tokio::task::spawn_blocking(move || password::hash(&pw2))
        .await
        .map_err(anyhow::Error::from)??;
    let u = User {
        password_hash: Some(phc),
        enabled: true,
        ..existing.unwrap_or_else(|| User {
            id: new_id(),
            name: "admin".into(),
            domain_id: DEFAULT_DOMAIN_ID.into(),
            enabled: true,
            password_hash: None,
            default_project_id: None,
            description: String::new(),
            email: None,
        })
    };
    store.put(Kind::User, &u.id, &u).await?;
    Ok(u)
}

async fn service(store: &Store, region: &str, entry: &CatalogEntry) -> Result<()> {
    let services: Vec<Service> = store.list(Kind::Service, "").await?;
    let svc = match services.into_iter().find(|s| s.kind == entry.kind) {
        Some(s) => s,
        None => {
            let s = Service {
                id: new_id(),
                kind: entry.kind.clone(),
                name: entry.name.clone(),
                description: String::new(),
                enabled: true,
            };
            store.put(Kind::Service, &s.id, &s).await?;
            s
        }
    };
    let endpoints: Vec<Endpoint> = store.list(Kind::Endpoint, "").await?;
    for interface in ["public", "internal", "admin"] {
        let found = endpoints.iter().find(|e| {
            e.service_id == svc.id
                && e.interface == interface
                && e.region_id.as_deref() == Some(region)
        });
        let e = Endpoint {
            id: found.map(|e| e.id.clone()).unwrap_or_else(new_id),
            service_id: svc.id.clone(),
            interface: interface.into(),
            region_id: Some(region.into()),
            url: entry.url.clone(),
            enabled: true,
        };
        store.put(Kind::Endpoint, &e.id, &e).await?;
    }
    Ok(())
}
