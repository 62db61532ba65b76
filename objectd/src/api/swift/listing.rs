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

/// Whether a flag's value means yes, as Swift reads them (`true`, `1`,
/// `yes`, `on`, `t`, `y`, in any case).
pub fn true_value(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on" | "t" | "y"
    )
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
    p.reverse = get("reverse").is_some_and(true_value);
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

/// How one kind of listing row renders itself.
pub trait ListedRow {
    /// The XML root element: `container` or `account`.
    const ROOT: &'static str;
    /// Writes the JSON object of a row named `name`.
    fn json(&self, name: &str, out: &mut String);
    /// Writes the XML element of a row named `name`.
    fn xml(&self, name: &str, out: &mut String);
}

impl ListedRow for ObjectRow {
    const ROOT: &'static str = "container";

    fn json(&self, name: &str, out: &mut String) {
        let _ = write!(
            out,
            "{{\"name\": {}, \"hash\": \"{}\", \"bytes\": {}, \"content_type\": {}, \"last_modified\": \"{}\"}}",
            json_str(name),
            self.etag,
            self.size,
            json_str(&self.content_type),
            self.ts.iso8601()
        );
    }

    fn xml(&self, name: &str, out: &mut String) {
        let _ = write!(
            out,
            "<object><name>{}</name><hash>{}</hash><bytes>{}</bytes><content_type>{}</content_type><last_modified>{}</last_modified></object>",
            xml_escape(name),
            self.etag,
            self.size,
            xml_escape(&self.content_type),
            self.ts.iso8601()
        );
    }
}

impl ListedRow for ContainerRow {
    const ROOT: &'static str = "account";

    fn json(&self, name: &str, out: &mut String) {
        let last = self.put_ts.max(self.stats_ts).iso8601();
        let _ = write!(
            out,
            "{{\"name\": {}, \"count\": {}, \"bytes\": {}, \"last_modified\": \"{last}\"}}",
            json_str(name),
            self.object_count,
            self.bytes_used
        );
    }

    fn xml(&self, name: &str, out: &mut String) {
        let last = self.put_ts.max(self.stats_ts).iso8601();
        let _ = write!(
            out,
            "<container><name>{}</name><count>{}</count><bytes>{}</bytes><last_modified>{last}</last_modified></container>",
            xml_escape(name),
            self.object_count,
            self.bytes_used
        );
    }
}

/// Renders a listing of the container or account `owner`.
pub fn body<T: ListedRow>(owner: &str, entries: &[Entry<T>], format: Format) -> String {
    let mut out = String::with_capacity(entries.len() * 128 + 64);
    match format {
        Format::Text => {
            for e in entries {
                let (Entry::Row(name, _) | Entry::Subdir(name)) = e;
                out.push_str(name);
                out.push('\n');
            }
        }
        Format::Json => {
            out.push('[');
            for (i, e) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                match e {
                    Entry::Row(name, r) => r.json(name, &mut out),
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
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{} name=\"{}\">",
                T::ROOT,
                xml_escape(owner)
            );
            for e in entries {
                match e {
                    Entry::Row(name, r) => r.xml(name, &mut out),
                    Entry::Subdir(name) => {
                        let _ = write!(
                            out,
                            "<subdir name=\"{0}\"><name>{0}</name></subdir>",
                            xml_escape(name)
                        );
                    }
                }
            }
            let _ = write!(out, "</{}>", T::ROOT);
        }
    }
    out
}

/// The response to a listing GET: 204 for an empty text listing, else 200.
pub fn response<T: ListedRow>(
    owner: &str,
    entries: &[Entry<T>],
    format: Format,
) -> crate::api::response::Resp {
    use crate::api::response::with_body;
    if entries.is_empty() && format == Format::Text {
        with_body(StatusCode::NO_CONTENT, format.content_type(), "")
    } else {
        with_body(
            StatusCode::OK,
            format.content_type(),
            body(owner, entries, format),
        )
    }
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
        assert_eq!(body("c", &entries, Format::Text), "a\"b\nd/\n");
        let json: serde_json::Value =
            serde_json::from_str(&body("c", &entries, Format::Json)).expect("valid json");
        assert_eq!(json[0]["name"], "a\"b");
        assert_eq!(json[0]["bytes"], 3);
        assert_eq!(json[1]["subdir"], "d/");
        let xml = body("c&", &entries, Format::Xml);
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
