//! The typed S3 operation a request asks for, decided by method, bucket,
//! key, query subresources and a few headers. Subresources of features this
//! store does not have (versioning, lifecycle, policies, …) parse to
//! `NotImplemented` so they are never answered with a silent success.

use http::{HeaderMap, Method};

use super::error::S3Error;

/// An S3 operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    ListBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    GetBucketLocation,
    GetBucketVersioning,
    GetAcl,
    PutAcl,
    ListObjects { v2: bool },
    ListMultipartUploads,
    DeleteObjects,
    PutObject,
    CopyObject,
    GetObject,
    HeadObject,
    DeleteObject,
    CreateMultipartUpload,
    UploadPart { part: u32, upload_id: String },
    UploadPartCopy { part: u32, upload_id: String },
    CompleteMultipartUpload { upload_id: String },
    AbortMultipartUpload { upload_id: String },
    ListParts { upload_id: String },
    NotImplemented(String),
}

/// Subresources of features not implemented here.
const UNSUPPORTED: &[&str] = &[
    "accelerate",
    "analytics",
    "attributes",
    "cors",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "legal-hold",
    "lifecycle",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "restore",
    "retention",
    "select",
    "tagging",
    "torrent",
    "versions",
    "website",
];

/// Highest part number S3 allows.
pub const MAX_PART_NUMBER: u32 = 10_000;

impl Endpoint {
    /// Parses a request into the operation it asks for.
    pub fn parse(
        method: &Method,
        bucket: Option<&str>,
        key: Option<&str>,
        query: &[(String, String)],
        headers: &HeaderMap,
    ) -> Result<Endpoint, S3Error> {
        let has = |k: &str| query.iter().any(|(n, _)| n == k);
        let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if let Some(sub) = UNSUPPORTED.iter().find(|s| has(s)) {
            return Ok(Endpoint::NotImplemented(format!("the {sub} subresource")));
        }
        if get("versionId").is_some_and(|v| v != "null") {
            return Ok(Endpoint::NotImplemented("object versioning".into()));
        }
        if *method == Method::PUT || *method == Method::POST {
            if let Some(acl) = headers.get("x-amz-acl").and_then(|v| v.to_str().ok()) {
                if acl != "private" {
                    return Ok(Endpoint::NotImplemented(format!("the canned ACL {acl}")));
                }
            }
            if headers
                .keys()
                .any(|k| k.as_str().starts_with("x-amz-grant-"))
            {
                return Ok(Endpoint::NotImplemented("ACL grants".into()));
            }
        }
        let copy = headers.contains_key("x-amz-copy-source");
        let upload_id = get("uploadId");
        let part = || -> Result<u32, S3Error> {
            get("partNumber")
                .and_then(|p| p.parse::<u32>().ok())
                .filter(|p| (1..=MAX_PART_NUMBER).contains(p))
                .ok_or_else(|| {
                    S3Error::invalid_argument(
                        "Part number must be an integer between 1 and 10000, inclusive",
                    )
                })
        };
        let not_allowed = || {
            S3Error::new(
                "MethodNotAllowed",
                http::StatusCode::METHOD_NOT_ALLOWED,
                "The specified method is not allowed against this resource.",
            )
        };
        let e = match (bucket, key) {
            (None, _) => match *method {
                Method::GET => Endpoint::ListBuckets,
                _ => return Err(not_allowed()),
            },
            (Some(_), None) => match *method {
                Method::PUT if has("acl") => Endpoint::PutAcl,
                Method::PUT if has("versioning") => {
                    Endpoint::NotImplemented("bucket versioning".into())
                }
                Method::PUT => Endpoint::CreateBucket,
                Method::HEAD => Endpoint::HeadBucket,
                Method::DELETE => Endpoint::DeleteBucket,
                Method::GET if has("location") => Endpoint::GetBucketLocation,
                Method::GET if has("versioning") => Endpoint::GetBucketVersioning,
                Method::GET if has("acl") => Endpoint::GetAcl,
                Method::GET if has("uploads") => Endpoint::ListMultipartUploads,
                Method::GET => Endpoint::ListObjects {
                    v2: get("list-type").as_deref() == Some("2"),
                },
                Method::POST if has("delete") => Endpoint::DeleteObjects,
                _ => return Err(not_allowed()),
            },
            (Some(_), Some(_)) => match *method {
                Method::PUT if has("acl") => Endpoint::PutAcl,
                Method::PUT if upload_id.is_some() || has("partNumber") => {
                    let upload_id = upload_id.ok_or_else(S3Error::no_such_upload)?;
                    let part = part()?;
                    if copy {
                        Endpoint::UploadPartCopy { part, upload_id }
                    } else {
                        Endpoint::UploadPart { part, upload_id }
                    }
                }
                Method::PUT if copy => Endpoint::CopyObject,
                Method::PUT => Endpoint::PutObject,
                Method::GET if has("acl") => Endpoint::GetAcl,
                Method::GET if upload_id.is_some() => Endpoint::ListParts {
                    upload_id: upload_id.unwrap_or_default(),
                },
                Method::GET | Method::HEAD if has("partNumber") => {
                    Endpoint::NotImplemented("reading one part of an object".into())
                }
                Method::GET => Endpoint::GetObject,
                Method::HEAD => Endpoint::HeadObject,
                Method::DELETE => match upload_id {
                    Some(upload_id) => Endpoint::AbortMultipartUpload { upload_id },
                    None => Endpoint::DeleteObject,
                },
                Method::POST if has("uploads") => Endpoint::CreateMultipartUpload,
                Method::POST => match upload_id {
                    Some(upload_id) => Endpoint::CompleteMultipartUpload { upload_id },
                    None => return Err(not_allowed()),
                },
                _ => return Err(not_allowed()),
            },
        };
        Ok(e)
    }

    /// The Swift method whose authorization the operation needs.
    pub fn swift_method(&self) -> Method {
        use Endpoint as E;
        match self {
            E::ListBuckets
            | E::HeadBucket
            | E::GetBucketLocation
            | E::GetBucketVersioning
            | E::GetAcl
            | E::ListObjects { .. }
            | E::ListMultipartUploads
            | E::GetObject
            | E::HeadObject
            | E::ListParts { .. }
            | E::NotImplemented(_) => Method::GET,
            E::DeleteBucket | E::DeleteObject | E::AbortMultipartUpload { .. } => Method::DELETE,
            E::DeleteObjects | E::CreateMultipartUpload | E::CompleteMultipartUpload { .. } => {
                Method::POST
            }
            E::CreateBucket
            | E::PutAcl
            | E::PutObject
            | E::CopyObject
            | E::UploadPart { .. }
            | E::UploadPartCopy { .. } => Method::PUT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(
        method: &str,
        bucket: Option<&str>,
        key: Option<&str>,
        query: &str,
        headers: &[(&'static str, &str)],
    ) -> Endpoint {
        let q = crate::api::swift::listing::query_pairs(Some(query));
        let mut h = HeaderMap::new();
        for (n, v) in headers {
            h.insert(*n, v.parse().expect("value"));
        }
        let m = Method::from_bytes(method.as_bytes()).expect("method");
        Endpoint::parse(&m, bucket, key, &q, &h).expect("parses")
    }

    #[test]
    fn operations_by_method_and_subresource() {
        let b = Some("b");
        let k = Some("k");
        assert_eq!(ep("GET", None, None, "", &[]), Endpoint::ListBuckets);
        assert_eq!(ep("PUT", b, None, "", &[]), Endpoint::CreateBucket);
        assert_eq!(
            ep("GET", b, None, "list-type=2&prefix=a", &[]),
            Endpoint::ListObjects { v2: true }
        );
        assert_eq!(
            ep("GET", b, None, "marker=a", &[]),
            Endpoint::ListObjects { v2: false }
        );
        assert_eq!(
            ep("GET", b, None, "location", &[]),
            Endpoint::GetBucketLocation
        );
        assert_eq!(
            ep("GET", b, None, "uploads", &[]),
            Endpoint::ListMultipartUploads
        );
        assert_eq!(ep("POST", b, None, "delete", &[]), Endpoint::DeleteObjects);
        assert_eq!(ep("PUT", b, k, "x-id=PutObject", &[]), Endpoint::PutObject);
        assert_eq!(
            ep("PUT", b, k, "", &[("x-amz-copy-source", "/b/o")]),
            Endpoint::CopyObject
        );
        assert_eq!(
            ep("POST", b, k, "uploads", &[]),
            Endpoint::CreateMultipartUpload
        );
        assert_eq!(
            ep("PUT", b, k, "partNumber=3&uploadId=u", &[]),
            Endpoint::UploadPart {
                part: 3,
                upload_id: "u".into()
            }
        );
        assert_eq!(
            ep(
                "PUT",
                b,
                k,
                "partNumber=3&uploadId=u",
                &[("x-amz-copy-source", "/b/o")]
            ),
            Endpoint::UploadPartCopy {
                part: 3,
                upload_id: "u".into()
            }
        );
        assert_eq!(
            ep("POST", b, k, "uploadId=u", &[]),
            Endpoint::CompleteMultipartUpload {
                upload_id: "u".into()
            }
        );
        assert_eq!(
            ep("DELETE", b, k, "uploadId=u", &[]),
            Endpoint::AbortMultipartUpload {
                upload_id: "u".into()
            }
        );
        assert_eq!(
            ep("GET", b, k, "uploadId=u", &[]),
            Endpoint::ListParts {
                upload_id: "u".into()
            }
        );
        assert_eq!(
            ep("GET", b, k, "response-content-type=a", &[]),
            Endpoint::GetObject
        );
    }

    #[test]
    fn missing_features_are_not_implemented() {
        let b = Some("b");
        for q in ["lifecycle", "policy", "versions", "tagging", "cors"] {
            assert!(
                matches!(ep("GET", b, None, q, &[]), Endpoint::NotImplemented(_)),
                "{q}"
            );
            assert!(
                matches!(ep("PUT", b, None, q, &[]), Endpoint::NotImplemented(_)),
                "{q}"
            );
        }
        assert!(matches!(
            ep("PUT", b, None, "versioning", &[]),
            Endpoint::NotImplemented(_)
        ));
        assert!(matches!(
            ep("GET", b, Some("k"), "versionId=3", &[]),
            Endpoint::NotImplemented(_)
        ));
        assert!(matches!(
            ep("PUT", b, Some("k"), "", &[("x-amz-acl", "public-read")]),
            Endpoint::NotImplemented(_)
        ));
        assert_eq!(
            ep("PUT", b, Some("k"), "", &[("x-amz-acl", "private")]),
            Endpoint::PutObject
        );
    }

    #[test]
    fn bad_part_numbers() {
        let q = crate::api::swift::listing::query_pairs(Some("partNumber=0&uploadId=u"));
        let e = Endpoint::parse(&Method::PUT, Some("b"), Some("k"), &q, &HeaderMap::new())
            .expect_err("part 0");
        assert_eq!(e.code, "InvalidArgument");
    }
}
