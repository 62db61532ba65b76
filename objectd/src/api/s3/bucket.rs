//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
//! GetBucketLocation, GetBucketVersioning (never enabled) and the
//! private-only ACL answers. A bucket is a container of the key's account;
//! containers with `+` in their name (multipart segments) are not buckets.

use http::StatusCode;
use hyper::body::Incoming;

use super::error::S3Error;
use super::xml::{self, elem, NS};
use super::{payload, S3Request};
use crate::api::response::{self, Resp};
use crate::api::App;
use crate::proxy::container::Created;
use crate::store::listing::{Entry, ListParams};

/// Container header holding a bucket's location constraint.
const LOCATION: &str = "x-container-sysmeta-s3-location";

/// The container holding a bucket's multipart segments.
pub fn segments_container(bucket: &str) -> String {
    format!("{bucket}+segments")
}

/// Whether a name is a valid new bucket name (S3's DNS-compatible rules).
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

pub async fn list_buckets(app: &App, r: &S3Request) -> Result<Resp, S3Error> {
    let all = ListParams {
        limit: usize::MAX,
        ..Default::default()
    };
    let rows = app
        .cluster
        .list_account(&r.account, all)
        .await
        .map_err(|e| S3Error::from_proxy(e, S3Error::internal))?;
    let mut out = format!("<ListAllMyBucketsResult xmlns=\"{NS}\">");
    xml::owner(&mut out, &r.account);
    out.push_str("<Buckets>");
    for entry in rows {
        if let Entry::Row(name, row) = entry {
            if name.contains('+') {
                continue;
            }
            out.push_str("<Bucket>");
            elem(&mut out, "Name", &name);
            elem(&mut out, "CreationDate", &xml::date(row.put_ts));
            out.push_str("</Bucket>");
        }
    }
    out.push_str("</Buckets></ListAllMyBucketsResult>");
    Ok(xml::ok(&out))
}

pub async fn create(app: &App, r: &S3Request, body: Incoming) -> Result<Resp, S3Error> {
    let bucket = r.bucket();
    if !valid_name(bucket) {
        return Err(S3Error::new(
            "InvalidBucketName",
            StatusCode::BAD_REQUEST,
            "The specified bucket is not valid.",
        ));
    }
    let body = payload::read_all(body, &r.verified, 64 * 1024).await?;
    let mut location = String::new();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let doc = xml::parse(&body)?;
        if doc.name != "CreateBucketConfiguration" {
            return Err(S3Error::malformed_xml());
        }
        location = doc
            .text_of("LocationConstraint")
            .unwrap_or_default()
            .to_string();
    }
    if app.cluster.container_info(&r.account, bucket).await.is_ok() {
        return Err(S3Error::new(
            "BucketAlreadyOwnedByYou",
            StatusCode::CONFLICT,
            "Your previous request to create the named bucket succeeded and you already own it.",
        ));
    }
    let headers = if location.is_empty() {
        Vec::new()
    } else {
        vec![(LOCATION.to_string(), location)]
    };
    match app
        .cluster
        .put_container(&r.account, bucket, headers, None)
        .await
    {
        Ok(Created::New | Created::Existing) => {
            let mut resp = response::empty(StatusCode::OK);
            response::set(&mut resp, "location", &format!("/{bucket}"));
            Ok(resp)
        }
        Err(e) => Err(S3Error::from_proxy(e, S3Error::no_such_bucket)),
    }
}

/// The container record of the request's bucket; `NoSuchBucket` if none.
pub async fn info(
    app: &App,
    r: &S3Request,
) -> Result<crate::store::record::ContainerInfo, S3Error> {
    app.cluster
        .container_info(&r.account, r.bucket())
        .await
        .map_err(|e| S3Error::from_proxy(e, S3Error::no_such_bucket))
}

pub async fn head(app: &App, r: &S3Request) -> Result<Resp, S3Error> {
    let info = info(app, r).await?;
    let mut resp = response::empty(StatusCode::OK);
    response::set(&mut resp, "x-amz-bucket-region", &region(&info));
    Ok(resp)
}

fn region(info: &crate::store::record::ContainerInfo) -> String {
    info.headers
        .iter()
        .find(|(n, _)| n == LOCATION)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "us-east-1".to_string())
}

pub async fn delete(app: &App, r: &S3Request) -> Result<Resp, S3Error> {
    info(app, r).await?;
    app.cluster
        .delete_container(&r.account, r.bucket())
        .await
        .map_err(|e| S3Error::from_proxy(e, S3Error::no_such_bucket))?;
    // The segments container goes too when no upload is left in it.
    let _ = app
        .cluster
        .delete_container(&r.account, &segments_container(r.bucket()))
        .await;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

pub async fn location(app: &App, r: &S3Request) -> Result<Resp, S3Error> {
    let info = info(app, r).await?;
    let constraint = info
        .headers
        .iter()
        .find(|(n, _)| n == LOCATION)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let mut out = format!("<LocationConstraint xmlns=\"{NS}\">");
    out.push_str(&xml::escape(constraint));
    out.push_str("</LocationConstraint>");
    Ok(xml::ok(&out))
}

pub async fn versioning(app: &App, r: &S3Request) -> Result<Resp, S3Error> {
    info(app, r).await?;
    Ok(xml::ok(&format!(
        "<VersioningConfiguration xmlns=\"{NS}\"/>"
    )))
}

/// GetBucketAcl / GetObjectAcl: the owner has full control, nobody else.
pub async fn acl(app: &App, r: &S3Request) -> Result<Resp, S3Error> {
    info(app, r).await?;
    if r.key.is_some() {
        app.cluster
            .head_object(&r.account, r.bucket(), r.key())
            .await
            .map_err(|e| S3Error::from_proxy(e, S3Error::no_such_key))?;
    }
    let mut out = format!("<AccessControlPolicy xmlns=\"{NS}\">");
    xml::owner(&mut out, &r.account);
    out.push_str("<AccessControlList><Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\">");
    elem(&mut out, "ID", &r.account);
    elem(&mut out, "DisplayName", &r.account);
    out.push_str("</Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>");
    Ok(xml::ok(&out))
}

/// PutBucketAcl / PutObjectAcl: only `private` (the state everything is in).
pub async fn put_acl(app: &App, r: &S3Request, body: Incoming) -> Result<Resp, S3Error> {
    let body = payload::read_all(body, &r.verified, 64 * 1024).await?;
    if !body.is_empty() {
        return Err(S3Error::not_implemented(
            "ACL documents are not implemented; only the private canned ACL is",
        ));
    }
    info(app, r).await?;
    Ok(response::empty(StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for ok in ["abc", "my-bucket.2", "a1b"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            "Abc",
            "-abc",
            "abc-",
            "a..b",
            "192.168.1.1",
            "a_b",
            "a+segments",
            &"a".repeat(64),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
