//! The S3 API on the proxy's port: addressing (path-style and
//! virtual-hosted-style), SigV4 authentication, authorization, dispatch of
//! the typed `Endpoint` to the bucket, object and multipart handlers, and
//! `x-amz-request-id` on every answer. A bucket is a container of the key's
//! account and an object the same object Swift serves.

// Handlers return the S3 error to answer with as their error.
#![allow(clippy::result_large_err)]

pub mod bucket;
pub mod endpoint;
pub mod error;
pub mod keys;
pub mod list;
pub mod multipart;
pub mod object;
pub mod payload;
pub mod signing_keys;
pub mod sigv4;
pub mod xml;

use http::request::Parts;
use http::{Method, Request};
use hyper::body::Incoming;

use super::response::{self, Resp};
use super::swift::{self, Target};
use super::App;
use crate::timestamp::Timestamp;
use endpoint::Endpoint;
use error::S3Error;
use sigv4::Verified;

/// The S3 settings of the API: key pairs and the domains under which
/// `bucket.domain` addresses a bucket.
pub struct S3Config {
    pub keys: keys::S3Keys,
    pub domains: Vec<String>,
    /// Signing keys of recent verified requests.
    pub signing_keys: signing_keys::SigningKeys,
}

/// One authenticated S3 request, its body aside.
pub struct S3Request {
    pub parts: Parts,
    pub query: Vec<(String, String)>,
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// The storage account (`AUTH_<account>`).
    pub account: String,
    pub verified: Verified,
}

impl S3Request {
    /// A query parameter.
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        swift::header(&self.parts.headers, name)
    }

    pub fn bucket(&self) -> &str {
        self.bucket.as_deref().unwrap_or_default()
    }

    pub fn key(&self) -> &str {
        self.key.as_deref().unwrap_or_default()
    }
}

/// A new request id.
fn request_id() -> String {
    format!("{:016X}", rand::random::<u64>())
}

/// Handles an S3 request.
pub async fn handle(app: &App, req: Request<Incoming>) -> Resp {
    let id = request_id();
    let head = req.method() == Method::HEAD;
    let uri = req.uri().clone();
    let mut resp = match serve(app, req).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(code = e.code, "s3 error: {}", e.message);
            let resource = percent_encoding::percent_decode_str(uri.path()).decode_utf8_lossy();
            e.response(&resource, &id, head)
        }
    };
    response::set(&mut resp, "x-amz-request-id", &id);
    response::set(&mut resp, "x-amz-id-2", &id);
    resp
}

async fn serve(app: &App, req: Request<Incoming>) -> Result<Resp, S3Error> {
    let (parts, body) = req.into_parts();
    let query = swift::listing::query_pairs(parts.uri.query());
    let (bucket, key) = address(&parts, &app.s3.domains)?;
    let signed = sigv4::parse(&query, &parts.headers)?.ok_or_else(|| {
        if query.iter().any(|(k, _)| k == "AWSAccessKeyId") {
            S3Error::invalid_request("Signature Version 2 is not supported; use AWS4-HMAC-SHA256")
        } else {
            S3Error::access_denied("Anonymous access is not allowed")
        }
    })?;
    let (secret, identity) = keys::resolve(app, &signed.access_key).await?;
    let verified = app.s3.signing_keys.verify(&signed, &secret, |key| {
        sigv4::verify_with_key(
            &signed,
            key,
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query().unwrap_or_default(),
            &parts.headers,
            Timestamp::now_secs(),
        )
    })?;
    let endpoint = Endpoint::parse(
        &parts.method,
        bucket.as_deref(),
        key.as_deref(),
        &query,
        &parts.headers,
    )?;
    let target = Target {
        account: identity.account.clone(),
        container: bucket.clone(),
        object: key.clone(),
    };
    if swift::authorize(app, &endpoint.swift_method(), &target, Some(&identity))
        .await
        .is_err()
    {
        return Err(S3Error::access_denied("Access Denied"));
    }
    let r = S3Request {
        parts,
        query,
        bucket,
        key,
        account: identity.account,
        verified,
    };
    tracing::debug!(endpoint = ?endpoint, bucket = r.bucket(), key = r.key(), "s3 request");
    dispatch(app, endpoint, r, body).await
}

async fn dispatch(app: &App, e: Endpoint, r: S3Request, body: Incoming) -> Result<Resp, S3Error> {
    use Endpoint as E;
    match e {
        E::ListBuckets => bucket::list_buckets(app, &r).await,
        E::CreateBucket => bucket::create(app, &r, body).await,
        E::HeadBucket => bucket::head(app, &r).await,
        E::DeleteBucket => bucket::delete(app, &r).await,
        E::GetBucketLocation => bucket::location(app, &r).await,
        E::GetBucketVersioning => bucket::versioning(app, &r).await,
        E::GetAcl => bucket::acl(app, &r).await,
        E::PutAcl => bucket::put_acl(app, &r, body).await,
        E::ListObjects { v2 } => list::objects(app, &r, v2).await,
        E::ListMultipartUploads => multipart::list_uploads(app, &r).await,
        E::DeleteObjects => object::delete_many(app, &r, body).await,
        E::PutObject => object::put(app, &r, body).await,
        E::CopyObject => object::copy(app, &r).await,
        E::GetObject => object::get(app, &r, false).await,
        E::HeadObject => object::get(app, &r, true).await,
        E::DeleteObject => object::delete(app, &r).await,
        E::CreateMultipartUpload => multipart::create(app, &r).await,
        E::UploadPart { part, upload_id } => {
            multipart::upload_part(app, &r, part, &upload_id, body).await
        }
        E::UploadPartCopy { part, upload_id } => {
            multipart::upload_part_copy(app, &r, part, &upload_id).await
        }
        E::CompleteMultipartUpload { upload_id } => {
            multipart::complete(app, &r, &upload_id, body).await
        }
        E::AbortMultipartUpload { upload_id } => multipart::abort(app, &r, &upload_id).await,
        E::ListParts { upload_id } => multipart::list_parts(app, &r, &upload_id).await,
        E::NotImplemented(what) => Err(S3Error::not_implemented(&format!(
            "{what} is not implemented"
        ))),
    }
}

/// Finds the bucket and key: from `Host` when it is `bucket.<domain>`
/// (virtual-hosted style), else from the first path segment.
fn address(parts: &Parts, domains: &[String]) -> Result<(Option<String>, Option<String>), S3Error> {
    let raw = parts.uri.path();
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| S3Error::invalid_argument("The path is not valid UTF-8"))?;
    let path = decoded.strip_prefix('/').unwrap_or(&decoded);
    let host = swift::header(&parts.headers, "host").unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let vhost_bucket = domains.iter().find_map(|d| {
        host.strip_suffix(d.as_str())
            .and_then(|b| b.strip_suffix('.'))
            .filter(|b| !b.is_empty())
    });
    let (bucket, key) = match vhost_bucket {
        Some(b) => (Some(b.to_string()), Some(path.to_string())),
        None => match path.split_once('/') {
            Some((b, k)) => (Some(b.to_string()), Some(k.to_string())),
            None => (Some(path.to_string()), None),
        },
    };
    let bucket = bucket.filter(|b| !b.is_empty());
    let key = key.filter(|k| !k.is_empty());
    if key
        .as_ref()
        .is_some_and(|k| k.contains('\0') || k.len() > 1024)
    {
        return Err(S3Error::new(
            "KeyTooLongError",
            http::StatusCode::BAD_REQUEST,
            "Your key is too long",
        ));
    }
    Ok((bucket, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(uri: &str, host: &str) -> (Option<String>, Option<String>) {
        let req = Request::builder()
            .uri(uri)
            .header("host", host)
            .body(())
            .expect("request");
        let (parts, _) = req.into_parts();
        address(
            &parts,
            &["localhost".to_string(), "s3.example.com".to_string()],
        )
        .expect("valid")
    }

    #[test]
    fn path_and_virtual_hosted_addressing() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(addr("/", "127.0.0.1:8080"), (None, None));
        assert_eq!(addr("/b", "127.0.0.1:8080"), (s("b"), None));
        assert_eq!(addr("/b/", "localhost:8080"), (s("b"), None));
        assert_eq!(addr("/b/a%20b/c", "localhost"), (s("b"), s("a b/c")));
        assert_eq!(
            addr("/a/b", "photos.localhost:8080"),
            (s("photos"), s("a/b"))
        );
        assert_eq!(addr("/", "photos.s3.example.com"), (s("photos"), None));
        assert_eq!(addr("/x/y", "other.example.org"), (s("x"), s("y")));
    }
}
