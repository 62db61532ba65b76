//! The canonical request of SigV4, written into one buffer: the method,
//! the URI-encoded path, the sorted query, the signed headers with their
//! values trimmed and joined, and the payload hash. Also AWS's `UriEncode`.

use std::borrow::Cow;

use http::HeaderMap;

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// The canonical request of SigV4.
pub fn canonical_request(
    method: &str,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    signed_headers: &[String],
    payload: &str,
    presigned: bool,
) -> String {
    let mut out = String::with_capacity(256 + path.len() + raw_query.len());
    out.push_str(method);
    out.push('\n');
    encode_into(&mut out, &percent_decode(path), false);
    out.push('\n');
    query_into(&mut out, raw_query, presigned);
    out.push('\n');
    for name in signed_headers {
        out.push_str(name);
        out.push(':');
        for (i, v) in headers.get_all(name.as_str()).iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            collapse_spaces_into(&mut out, &String::from_utf8_lossy(v.as_bytes()));
        }
        out.push('\n');
    }
    out.push('\n');
    for (i, name) in signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
    out.push('\n');
    out.push_str(payload);
    out
}

/// Appends the canonical query: every pair decoded, re-encoded and sorted
/// (a presigned request's own `X-Amz-Signature` left out).
fn query_into(out: &mut String, raw_query: &str, presigned: bool) {
    if raw_query.is_empty() {
        return;
    }
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k), true),
                uri_encode(&percent_decode(v), true),
            )
        })
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .collect();
    pairs.sort();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}

/// Appends a header value with its runs of white space made one space and
/// its ends trimmed.
fn collapse_spaces_into(out: &mut String, v: &str) {
    for (i, word) in v.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
}

/// Percent-decodes, borrowing when there is nothing to decode.
fn percent_decode(s: &str) -> Cow<'_, [u8]> {
    if s.contains('%') {
        Cow::Owned(percent_encoding::percent_decode_str(s).collect())
    } else {
        Cow::Borrowed(s.as_bytes())
    }
}

/// AWS's UriEncode: everything but `A-Za-z0-9-_.~` is `%XX`; `/` is kept
/// in paths.
pub fn uri_encode(bytes: &[u8], encode_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    encode_into(&mut out, bytes, encode_slash);
    out
}

/// Appends `bytes` encoded as `uri_encode` does.
fn encode_into(out: &mut String, bytes: &[u8], encode_slash: bool) {
    for &b in bytes {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (b == b'/' && !encode_slash)
        {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX_UPPER[usize::from(b >> 4)] as char);
            out.push(HEX_UPPER[usize::from(b & 0xf)] as char);
        }
    }
}
