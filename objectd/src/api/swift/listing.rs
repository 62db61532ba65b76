//! Listing requests and bodies: query parameters, and the text, JSON and XML
//! renderings of account and container listings.

use std::fmt::Write;

use http::{HeaderMap, StatusCode};

use super::constraints::LISTING_LIMIT;
use super::header;
use crate::store::listing::{Entry, ListParams};
use crate::store::record::{ContainerRow, ObjectRow};

/// Output format of a listing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Text,
    Json,
    Xml,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; charset=utf-8",
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "application/xml; charset=utf-8",
        }
    }
}

/// Decodes a query string into pairs (`+` is a space, as Python's clients send it).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// Reads listing parameters and format; the error is (status, message).
pub fn params(
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<(ListParams, Format), (StatusCode, String)> {
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut p = ListParams {
        limit: LISTING_LIMIT,
        ..Default::default()
    };
    if let Some(l) = get("limit") {
        let l: usize = l.parse().map_err(|_| {
            (
                StatusCode::PRECONDITION_FAILED,
                "Value of limit must be a positive integer".to_string(),
            )
        })?;
        if l > LISTING_LIMIT {
            return Err((
                StatusCode::PRECONDITION_FAILED,
                format!("Maximum limit is {LISTING_LIMIT}"),
            ));
        }
        p.limit = l;
    }
    p.prefix = get("prefix").unwrap_or_default().to_string();
    p.delimiter = get("delimiter")
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    if p.delimiter.as_ref().is_some_and(|d| d.chars().count() > 1) {
        return Err((StatusCode::PRECONDITION_FAILED, "Bad delimiter".to_string()));
    }
    p.marker = get("marker").unwrap_or_default().to_string();
    p.end_marker = get("end_marker").unwrap_or_default().to_string();
    p.reverse = get("reverse").is_some_and(|r| {
        matches!(
            r.to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on" | "t" | "y"
        )
    });
    let format = match get("format").map(str::to_ascii_lowercase).as_deref() {
        Some("json") => Format::Json,
        Some("xml") => Format::Xml,
        Some(_) | None if get("format").is_some() => Format::Text,
        _ => {
            let accept = header(headers, "accept").unwrap_or_default();
            if accept.contains("application/json") {
                Format::Json
            } else if accept.contains("application/xml") || accept.contains("text/xml") {
                Format::Xml
            } else {
                Format::Text
            }
        }
    };
    Ok((p, format))
}

/// Escapes text for XML.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders a container listing.
pub fn container_body(container: &str, entries: &[Entry<ObjectRow>], format: Format) -> String {
    let mut out = String::with_capacity(entries.len() * 128);
    match format {
        Format::Text => {
            for e in entries {
                match e {
                    Entry::Row(name, _) | Entry::Subdir(name) => {
                        out.push_str(name);
                        out.push('\n');
                    }
                }
            }
        }
        Format::Json => {
            out.push('[');
            for (i, e) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                match e {
                    Entry::Row(name, r) => {
                        let _ = write!(
                            out,
                            "{{\"name\": {}, \"hash\": \"{}\", \"bytes\": {}, \"content_type\": {}, \"last_modified\": \"{}\"}}",
                            json_str(name),
                            r.etag,
                            r.size,
                            json_str(&r.content_type),
                            r.ts.iso8601()
                        );
                    }
                    Entry::Subdir(name) => {
                        let _ = write!(out, "{{\"subdir\": {}}}", json_str(name));
                    }
                }
            }
            out.push(']');
        }
        Format::Xml => {
            let _ = write!(
                out,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<container name=\"{}\">",
                xml_escape(container)
            );
            for e in entries {
                match e {
                    Entry::Row(name, r) => {
                        let _ = write!(
                            out,
                            "<object><name>{}</name><hash>{}</hash><bytes>{}</bytes><content_type>{}</content_type><last_modified>{}</last_modified></object>",
                            xml_escape(name),
                            r.etag,
                            r.size,
                            xml_escape(&r.content_type),
                            r.ts.iso8601()
                        );
                    }
                    Entry::Subdir(name) => {
                        let _ = write!(
                            out,
                            "<subdir name=\"{0}\"><name>{0}</name></subdir>",
                            xml_escape(name)
                        );
                    }
                }
            }
            out.push_str("</container>");
        }
    }
    out
}

/// Renders an account listing.
pub fn account_body(account: &str, entries: &[Entry<ContainerRow>], format: Format) -> String {
    let mut out = String::new();
    match format {
        Format::Text => {
            for e in entries {
                match e {
                    Entry::Row(name, _) | Entry::Subdir(name) => {
                        out.push_str(name);
                        out.push('\n');
                    }
                }
            }
        }
        Format::Json => {
            out.push('[');
            for (i, e) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                match e {
                    Entry::Row(name, r) => {
                        let last = r.put_ts.max(r.stats_ts).iso8601();
                        let _ = write!(out, "{{\"name\": {}, \"count\": {}, \"bytes\": {}, \"last_modified\": \"{last}\"}}", json_str(name), r.object_count, r.bytes_used);
                    }
                    Entry::Subdir(name) => {
                        let _ = write!(out, "{{\"subdir\": {}}}", json_str(name));
                    }
                }
            }
            out.push(']');
        }
        Format::Xml => {
            let _ = write!(
                out,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<account name=\"{}\">",
                xml_escape(account)
            );
            for e in entries {
                match e {
                    Entry::Row(name, r) => {
                        let last = r.put_ts.max(r.stats_ts).iso8601();
                        let _ = write!(
                            out,
                            "<container><name>{}</name><count>{}</count><bytes>{}</bytes><last_modified>{last}</last_modified></container>",
                            xml_escape(name),
                            r.object_count,
                            r.bytes_used
                        );
                    }
                    Entry::Subdir(name) => {
                        let _ = write!(
                            out,
                            "<subdir name=\"{0}\"><name>{0}</name></subdir>",
                            xml_escape(name)
                        );
                    }
                }
            }
            out.push_str("</account>");
        }
    }
    out
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::Timestamp;

    #[test]
    fn renders_rows_and_subdirs() {
        let row = ObjectRow {
            ts: Timestamp(170_000_000_000_000),
            deleted: false,
            size: 3,
            etag: "e".into(),
            content_type: "text/plain".into(),
        };
        let entries = vec![
            Entry::Row("a\"b".to_string(), row),
            Entry::Subdir("d/".to_string()),
        ];
        assert_eq!(container_body("c", &entries, Format::Text), "a\"b\nd/\n");
        let json: serde_json::Value =
            serde_json::from_str(&container_body("c", &entries, Format::Json)).expect("valid json");
        assert_eq!(json[0]["name"], "a\"b");
        assert_eq!(json[0]["bytes"], 3);
        assert_eq!(json[1]["subdir"], "d/");
        let xml = container_body("c&", &entries, Format::Xml);
        assert!(xml.contains("<container name=\"c&amp;\">"));
        assert!(xml.contains("<name>a&quot;b</name>"));
    }

    #[test]
    fn params_and_limits() {
        let q = query_pairs(Some(
            "limit=5&prefix=a%2Fb&delimiter=/&format=json&reverse=on",
        ));
        let (p, f) = params(&q, &HeaderMap::new()).expect("valid");
        assert_eq!(
            (
                p.limit,
                p.prefix.as_str(),
                p.delimiter.as_deref(),
                p.reverse,
                f
            ),
            (5, "a/b", Some("/"), true, Format::Json)
        );
        assert!(params(&query_pairs(Some("limit=10001")), &HeaderMap::new()).is_err());
        assert!(params(&query_pairs(Some("limit=x")), &HeaderMap::new()).is_err());
    }
}
