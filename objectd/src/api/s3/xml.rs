//! S3's XML: escaping and dates for the bodies we render, and a small
//! element tree (built with quick-xml) for the bodies clients send
//! (`CompleteMultipartUpload`, `Delete`, `CreateBucketConfiguration`).

use quick_xml::events::Event;
use quick_xml::Reader;

use super::error::S3Error;
use crate::api::response::{self, Resp};
use crate::timestamp::Timestamp;

/// The XML namespace of S3's documents.
pub const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The declaration every rendered document starts with.
pub const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Escapes text for XML content and attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// Appends `s` escaped for XML content and attributes.
pub fn escape_into(out: &mut String, s: &str) {
    let mut rest = s;
    while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&apos;",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

/// S3's timestamp form: `2024-01-02T03:04:05.123Z`.
pub fn date(ts: Timestamp) -> String {
    let mut out = String::with_capacity(24);
    date_into(&mut out, ts);
    out
}

/// Appends `ts` in S3's timestamp form.
pub fn date_into(out: &mut String, ts: Timestamp) {
    let start = out.len();
    ts.write_iso8601(out);
    // `2024-01-02T03:04:05.123450`: keep the milliseconds.
    out.truncate(start + 23);
    out.push('Z');
}

/// Appends `<name>`.
pub fn open(out: &mut String, name: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
}

/// Appends `</name>`.
pub fn close(out: &mut String, name: &str) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Appends `<name>text</name>` with the text escaped.
pub fn elem(out: &mut String, name: &str, text: &str) {
    open(out, name);
    escape_into(out, text);
    close(out, name);
}

/// A document to render into: the declaration, then the caller's
/// elements; `capacity` is a guess of its length.
pub fn document(capacity: usize) -> String {
    let mut out = String::with_capacity(DECL.len() + capacity);
    out.push_str(DECL);
    out
}

/// A 200 answer with an XML document (the declaration is prepended).
pub fn ok(body: &str) -> Resp {
    let mut doc = document(body.len());
    doc.push_str(body);
    ok_document(doc)
}

/// A 200 answer with a document begun by `document`.
pub fn ok_document(doc: String) -> Resp {
    response::with_body(http::StatusCode::OK, "application/xml", doc)
}

/// The `<Owner>` of everything in an account.
pub fn owner(out: &mut String, account: &str) {
    out.push_str("<Owner>");
    elem(out, "ID", account);
    elem(out, "DisplayName", account);
    out.push_str("</Owner>");
}

/// An element of a parsed request body.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child named `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// Parses a document into its root element (namespaces dropped).
pub fn parse(body: &[u8]) -> Result<Element, S3Error> {
    let mut reader = Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<Element> = Vec::new();
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|_| S3Error::malformed_xml())?;
        match event {
            Event::Start(e) => stack.push(Element {
                name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                ..Default::default()
            }),
            Event::Empty(e) => {
                let el = Element {
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Default::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Ok(el),
                }
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(|_| S3Error::malformed_xml())?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::End(_) => {
                let done = stack.pop().ok_or_else(S3Error::malformed_xml)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(done),
                }
            }
            Event::Eof => return Err(S3Error::malformed_xml()),
            _ => {}
        }
        buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_complete_multipart_body() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Part><ETag>"a&amp;b"</ETag><PartNumber>1</PartNumber></Part>
  <Part><PartNumber>2</PartNumber><ETag>"c"</ETag></Part>
</CompleteMultipartUpload>"#;
        let root = parse(body).expect("valid");
        assert_eq!(root.name, "CompleteMultipartUpload");
        let parts: Vec<(&str, &str)> = root
            .all("Part")
            .map(|p| {
                (
                    p.text_of("PartNumber").unwrap_or(""),
                    p.text_of("ETag").unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(parts, vec![("1", "\"a&b\""), ("2", "\"c\"")]);
    }

    #[test]
    fn rejects_broken_documents() {
        assert_eq!(
            parse(b"<a><b></a>").expect_err("mismatched").code,
            "MalformedXML"
        );
        assert_eq!(parse(b"<a>").expect_err("unclosed").code, "MalformedXML");
        assert_eq!(parse(b"").expect_err("empty").code, "MalformedXML");
        assert_eq!(parse(b"<Quiet/>").expect("empty element").name, "Quiet");
    }

    #[test]
    fn renders_escaped_and_dates() {
        let mut s = String::new();
        elem(&mut s, "Key", "a<b>&'\"");
        assert_eq!(s, "<Key>a&lt;b&gt;&amp;&apos;&quot;</Key>");
        let t = Timestamp::parse("1700000000.5").expect("valid");
        assert_eq!(date(t), "2023-11-14T22:13:20.500Z");
    }
}
