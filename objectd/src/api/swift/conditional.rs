//! Conditional requests: `If-Match`, `If-None-Match`, `If-Modified-Since`
//! and `If-Unmodified-Since` against an object's ETag and timestamp.

use http::{HeaderMap, StatusCode};

use super::header;

/// Evaluates the conditions for a GET or HEAD; returns the status to answer
/// instead (304 or 412) when one fails.
pub fn check(h: &HeaderMap, etag: &str, last_modified_secs: u64) -> Option<StatusCode> {
    let matches = |list: &str| {
        list.split(',')
            .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
            .any(|t| t == "*" || t == etag)
    };
    if let Some(im) = header(h, "if-match") {
        if !matches(im) {
            return Some(StatusCode::PRECONDITION_FAILED);
        }
    }
    if let Some(inm) = header(h, "if-none-match") {
        if matches(inm) {
            return Some(StatusCode::NOT_MODIFIED);
        }
    }
    let date = |name| {
        header(h, name)
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
    };
    if header(h, "if-match").is_none() {
        if let Some(since) = date("if-unmodified-since") {
            if last_modified_secs > since {
                return Some(StatusCode::PRECONDITION_FAILED);
            }
        }
    }
    if header(h, "if-none-match").is_none() {
        if let Some(since) = date("if-modified-since") {
            if last_modified_secs <= since {
                return Some(StatusCode::NOT_MODIFIED);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &'static str, v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(name, v.parse().expect("value"));
        m
    }

    #[test]
    fn conditions() {
        assert_eq!(check(&h("if-match", "\"abc\""), "abc", 10), None);
        assert_eq!(
            check(&h("if-match", "\"x\""), "abc", 10),
            Some(StatusCode::PRECONDITION_FAILED)
        );
        assert_eq!(check(&h("if-match", "*"), "abc", 10), None);
        assert_eq!(
            check(&h("if-none-match", "\"abc\""), "abc", 10),
            Some(StatusCode::NOT_MODIFIED)
        );
        assert_eq!(check(&h("if-none-match", "\"x\""), "abc", 10), None);
        let past = "Thu, 01 Jan 1970 00:00:05 GMT";
        assert_eq!(check(&h("if-modified-since", past), "abc", 10), None);
        assert_eq!(
            check(&h("if-modified-since", past), "abc", 5),
            Some(StatusCode::NOT_MODIFIED)
        );
        assert_eq!(
            check(&h("if-unmodified-since", past), "abc", 10),
            Some(StatusCode::PRECONDITION_FAILED)
        );
        assert_eq!(check(&h("if-unmodified-since", "garbage"), "abc", 10), None);
    }
}
