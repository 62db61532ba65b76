//! EC2 (S3) credentials as identity hands them to services: the wire shape
//! of `GET /v3/cairn/ec2-credentials/{access}` and the client call. That
//! call is made by services (the object store's S3 API) and authenticated
//! with the service secret both sides share (header `X-Service-Secret`);
//! it answers the secret a request was signed with and whom it acts as.

use serde::{Deserialize, Serialize};

use crate::identity_http::IdentityHttp;

/// The header that carries the shared service secret.
pub const SERVICE_SECRET_HEADER: &str = "x-service-secret";

/// An EC2 credential resolved for a service: its secret and owner, with
/// the owner's current roles on the credential's project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ec2Grant {
    pub access: String,
    pub secret: String,
    pub user_id: String,
    pub project_id: String,
    /// Role names the user holds on the project now.
    pub roles: Vec<String>,
    /// Whether the project is the cloud's admin project.
    #[serde(default)]
    pub is_admin_project: bool,
}

/// The wire body: `{"credential": {...}}`.
#[derive(Serialize, Deserialize)]
pub struct Ec2GrantBody {
    pub credential: Ec2Grant,
}

/// Asks identity for `access`; `None` when no usable credential has it
/// (unknown, or its user or project is disabled or without roles).
pub async fn lookup(
    http: &IdentityHttp,
    service_secret: &str,
    access: &str,
) -> anyhow::Result<Option<Ec2Grant>> {
    let access_enc = percent_encode_segment(access);
    let body: Option<Ec2GrantBody> = http
        .get_json(
            &format!("/v3/cairn/ec2-credentials/{access_enc}"),
            &[(SERVICE_SECRET_HEADER, service_secret)],
        )
        .await?;
    Ok(body.map(|b| b.credential))
}

/// Percent-encodes everything but unreserved characters (one path segment).
fn percent_encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_one_segment() {
        assert_eq!(super::percent_encode_segment("AK/x y"), "AK%2Fx%20y");
        assert_eq!(super::percent_encode_segment("Ab0-_.~"), "Ab0-_.~");
    }
}
