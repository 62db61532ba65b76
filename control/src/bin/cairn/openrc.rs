//! `DIR/openrc`: the shell file a user sources to reach the appliance, and
//! `DIR/clouds.yaml` (cloud `cairn`) for the `openstack` CLI, written only
//! once the services answer (openrc is removed at start, so its presence
//! means this run is ready).

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::layout::Credentials;

/// Removes a previous run's openrc.
pub fn remove(dir: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(dir.join("openrc")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).context("remove old openrc"),
        _ => Ok(()),
    }
}

/// Polls `GET /healthcheck` until the service answers 200.
pub async fn wait_until_answering(addr: SocketAddr) -> anyhow::Result<()> {
    for _ in 0..600 {
        if healthcheck(addr).await.unwrap_or(false) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("service at {addr} did not answer within 30 s")
}

async fn healthcheck(addr: SocketAddr) -> std::io::Result<bool> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(b"GET /healthcheck HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    Ok(buf.starts_with(b"HTTP/1.1 200"))
}

/// Writes `clouds.yaml`, then `openrc`, each atomically with mode 0600
/// (they hold secrets).
pub fn write(
    dir: &Path,
    object_addr: SocketAddr,
    identity_addr: SocketAddr,
    creds: &Credentials,
) -> anyhow::Result<()> {
    let identity = common::openrc::IdentityRc {
        auth_url: format!("http://{identity_addr}/v3"),
        username: "admin".into(),
        password: creds.os_password.clone(),
        project_name: "admin".into(),
        domain_name: "Default".into(),
    };
    let clouds = format!(
        "# Cairn's admin credentials for the openstack CLI: `openstack --os-cloud cairn ...`.\n\
         clouds:\n  cairn:\n    auth:\n      auth_url: {}\n      username: {}\n      password: {}\n      \
         project_name: {}\n      user_domain_name: {}\n      project_domain_name: {}\n    \
         identity_api_version: 3\n    interface: public\n",
        identity.auth_url,
        identity.username,
        identity.password,
        identity.project_name,
        identity.domain_name,
        identity.domain_name,
    );
    install(dir, "clouds.yaml", &clouds)?;
    let text = common::openrc::OpenRc::for_object_service(
        object_addr,
        &creds.account,
        &creds.user,
        &creds.key,
    )
    .with_s3(object_addr, &creds.s3_access_key, &creds.s3_secret_key)
    .with_identity(identity)
    .render();
    install(dir, "openrc", &text)
}

fn install(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = open_private(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name)).with_context(|| format!("install {name}"))
}

/// Creates (truncating) a file readable only by its owner.
pub fn open_private(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("create {}", path.display()))
}
