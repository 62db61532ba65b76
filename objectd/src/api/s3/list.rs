//! ListObjects (v1) and ListObjectsV2 over the container listing: prefix,
//! delimiter and common prefixes, max-keys, markers and continuation tokens
//! (the hex of the last name returned), start-after, and `encoding-type=url`.

use std::fmt::Write as _;

use super::error::S3Error;
use super::xml::{self, elem, NS};
use super::S3Request;
use crate::api::response::Resp;
use crate::api::App;
use crate::store::listing::{Entry, ListParams, Listing};
use crate::store::record::ObjectRow;

/// Most keys one page holds.
const MAX_KEYS: usize = 1000;

/// What a listing request asks.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pub prefix: String,
    pub delimiter: String,
    pub max_keys: usize,
    pub url_encode: bool,
    /// v1 `marker`.
    pub marker: String,
    /// v2 `continuation-token` as sent.
    pub token: Option<String>,
    /// v2 `start-after`.
    pub start_after: String,
    pub fetch_owner: bool,
}

impl Query {
    fn from_request(r: &S3Request) -> Result<Query, S3Error> {
        let s = |k: &str| r.q(k).unwrap_or_default().to_string();
        let max_keys = match r.q("max-keys") {
            None => MAX_KEYS,
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| {
                    S3Error::invalid_argument(
                        "Provided max-keys not an integer or within integer range",
                    )
                })?
                .min(MAX_KEYS),
        };
        let url_encode = match r.q("encoding-type") {
            None => false,
            Some("url") => true,
            Some(_) => {
                return Err(S3Error::invalid_argument(
                    "Invalid Encoding Method specified in Request",
                ))
            }
        };
        Ok(Query {
            prefix: s("prefix"),
            delimiter: s("delimiter"),
            max_keys,
            url_encode,
            marker: s("marker"),
            token: r.q("continuation-token").map(str::to_string),
            start_after: s("start-after"),
            fetch_owner: r.q("fetch-owner") == Some("true"),
        })
    }

    /// The exclusive lower bound of the page.
    fn lower_bound(&self, v2: bool) -> Result<String, S3Error> {
        if !v2 {
            return Ok(self.marker.clone());
        }
        match &self.token {
            Some(t) => hex::decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    S3Error::invalid_argument("The continuation token provided is incorrect")
                }),
            None => Ok(self.start_after.clone()),
        }
    }
}

pub async fn objects(app: &App, r: &S3Request, v2: bool) -> Result<Resp, S3Error> {
    let q = Query::from_request(r)?;
    let params = ListParams {
        prefix: q.prefix.clone(),
        delimiter: (!q.delimiter.is_empty()).then(|| q.delimiter.clone()),
        marker: q.lower_bound(v2)?,
        limit: q.max_keys + 1,
        ..Default::default()
    };
    let entries = if q.max_keys == 0 {
        super::bucket::info(app, r).await?;
        Vec::new()
    } else {
        app.cluster
            .list_container(&r.account, r.bucket(), params)
            .await
            .map_err(|e| S3Error::from_proxy(e, S3Error::no_such_bucket))?
    };
    Ok(xml::ok_document(render(
        r.bucket(),
        &r.account,
        &q,
        v2,
        entries,
    )))
}

/// Encodes a name for `encoding-type=url` (as S3 does: `/` kept).
fn encoded(q: &Query, s: &str) -> String {
    if q.url_encode {
        super::sigv4::uri_encode(s.as_bytes(), false)
    } else {
        s.to_string()
    }
}

/// Appends `<name>text</name>`, the text encoded as the query asks.
fn encoded_elem(out: &mut String, q: &Query, name: &str, text: &str) {
    if q.url_encode {
        elem(out, name, &encoded(q, text));
    } else {
        elem(out, name, text);
    }
}

/// Appends one `<Contents>` element.
fn contents(out: &mut String, q: &Query, v2: bool, account: &str, name: &str, row: &ObjectRow) {
    out.push_str("<Contents>");
    encoded_elem(out, q, "Key", name);
    xml::open(out, "LastModified");
    xml::date_into(out, row.ts);
    xml::close(out, "LastModified");
    out.push_str("<ETag>&quot;");
    xml::escape_into(out, &row.etag);
    out.push_str("&quot;</ETag><Size>");
    let _ = write!(out, "{}", row.size);
    out.push_str("</Size>");
    if !v2 || q.fetch_owner {
        xml::owner(out, account);
    }
    out.push_str("<StorageClass>STANDARD</StorageClass></Contents>");
}

/// The `ListBucketResult` document of one page (begun with the XML
/// declaration); `entries` holds up to one more than `max_keys`, which
/// tells whether the listing is truncated.
pub fn render(
    bucket: &str,
    account: &str,
    q: &Query,
    v2: bool,
    mut entries: Listing<ObjectRow>,
) -> String {
    let truncated = entries.len() > q.max_keys;
    entries.truncate(q.max_keys);
    let last = entries.last().map(|e| match e {
        Entry::Row(name, _) | Entry::Subdir(name) => name.clone(),
    });
    let mut out = xml::document(512 + entries.len() * 200);
    out.push_str("<ListBucketResult xmlns=\"");
    out.push_str(NS);
    out.push_str("\">");
    elem(&mut out, "Name", bucket);
    elem(&mut out, "Prefix", &encoded(q, &q.prefix));
    if v2 {
        elem(&mut out, "KeyCount", &entries.len().to_string());
        if let Some(t) = &q.token {
            elem(&mut out, "ContinuationToken", t);
        }
        if !q.start_after.is_empty() {
            elem(&mut out, "StartAfter", &encoded(q, &q.start_after));
        }
    } else {
        elem(&mut out, "Marker", &encoded(q, &q.marker));
    }
    elem(&mut out, "MaxKeys", &q.max_keys.to_string());
    if !q.delimiter.is_empty() {
        elem(&mut out, "Delimiter", &encoded(q, &q.delimiter));
    }
    if q.url_encode {
        elem(&mut out, "EncodingType", "url");
    }
    elem(
        &mut out,
        "IsTruncated",
        if truncated { "true" } else { "false" },
    );
    if let (true, Some(last)) = (truncated, &last) {
        if v2 {
            elem(&mut out, "NextContinuationToken", &hex::encode(last));
        } else {
            elem(&mut out, "NextMarker", &encoded(q, last));
        }
    }
    let mut prefixes = String::new();
    for e in &entries {
        match e {
            Entry::Row(name, row) => contents(&mut out, q, v2, account, name, row),
            Entry::Subdir(p) => {
                prefixes.push_str("<CommonPrefixes>");
                encoded_elem(&mut prefixes, q, "Prefix", p);
                prefixes.push_str("</CommonPrefixes>");
            }
        }
    }
    out.push_str(&prefixes);
    out.push_str("</ListBucketResult>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::Timestamp;

    fn row(etag: &str) -> ObjectRow {
        ObjectRow {
            ts: Timestamp::parse("1700000000.5").expect("valid"),
            deleted: false,
            size: 3,
            etag: etag.into(),
            content_type: "text/plain".into(),
        }
    }

    fn q(max_keys: usize) -> Query {
        Query {
            max_keys,
            delimiter: "/".into(),
            ..Default::default()
        }
    }

    #[test]
    fn v2_page_with_prefixes_and_token() {
        let entries = vec![
            Entry::Row("a&b".into(), row("e1")),
            Entry::Subdir("dir/".into()),
            Entry::Row("z".into(), row("e2")),
        ];
        let doc = render("bkt", "AUTH_a", &q(2), true, entries);
        assert!(doc.contains("<KeyCount>2</KeyCount>"), "{doc}");
        assert!(doc.contains("<IsTruncated>true</IsTruncated>"));
        assert!(doc.contains(&format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            hex::encode("dir/")
        )));
        assert!(doc.contains("<Contents><Key>a&amp;b</Key><LastModified>2023-11-14T22:13:20.500Z</LastModified><ETag>&quot;e1&quot;</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>"), "{doc}");
        assert!(doc.contains("<CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes>"));
        assert!(!doc.contains("<Key>z</Key>"));
    }

    #[test]
    fn last_page_and_v1_markers() {
        let entries = vec![Entry::Row("a".into(), row("e1"))];
        let doc = render("bkt", "AUTH_a", &q(2), false, entries.clone());
        assert!(doc.contains("<IsTruncated>false</IsTruncated>"));
        assert!(!doc.contains("NextMarker"));
        assert!(doc.contains("<Owner><ID>AUTH_a</ID>"));
        let two = vec![
            Entry::Row("a".into(), row("e1")),
            Entry::Row("b".into(), row("e2")),
        ];
        let doc = render("bkt", "AUTH_a", &q(1), false, two);
        assert!(
            doc.contains("<IsTruncated>true</IsTruncated><NextMarker>a</NextMarker>"),
            "{doc}"
        );
    }

    #[test]
    fn url_encoding_and_tokens() {
        let mut query = q(10);
        query.url_encode = true;
        query.prefix = "a b/".into();
        let doc = render(
            "bkt",
            "AUTH_a",
            &query,
            true,
            vec![Entry::Row("a b/c+d".into(), row("e"))],
        );
        assert!(doc.contains("<Prefix>a%20b/</Prefix>"));
        assert!(doc.contains("<Key>a%20b/c%2Bd</Key>"));
        assert!(doc.contains("<EncodingType>url</EncodingType>"));
        let token = Query {
            token: Some(hex::encode("dir/")),
            ..Default::default()
        };
        assert_eq!(token.lower_bound(true).expect("valid"), "dir/");
        let bad = Query {
            token: Some("zz".into()),
            ..Default::default()
        };
        assert_eq!(
            bad.lower_bound(true).expect_err("bad token").code,
            "InvalidArgument"
        );
    }
}
