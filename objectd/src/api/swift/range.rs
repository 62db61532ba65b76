//! Byte ranges (RFC 9110 as Swift applies it): a syntactically bad `Range`
//! is ignored and the whole body served; ranges that all miss the body give
//! 416; one range gives 206 with `Content-Range`; several give
//! `multipart/byteranges`.

/// Most ranges honoured in one request; more are ignored, as Swift does.
const MAX_RANGES: usize = 50;

/// What a `Range` header asks of a body of a given size.
#[derive(Debug, PartialEq, Eq)]
pub enum Ranges {
    /// No (valid) range: the whole body.
    Full,
    /// Inclusive byte ranges, each within the body.
    Parts(Vec<(u64, u64)>),
    /// Every range falls outside the body.
    Unsatisfiable,
}

/// Parses a `Range` header against a body of `size` bytes.
pub fn parse(header: Option<&str>, size: u64) -> Ranges {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ranges::Full;
    };
    let mut parts = Vec::new();
    let mut any = false;
    for item in spec.split(',').map(str::trim) {
        let Some((a, b)) = item.split_once('-') else {
            return Ranges::Full;
        };
        let num = |s: &str| {
            (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
                .then(|| s.parse::<u64>().ok())
                .flatten()
        };
        any = true;
        match (a.trim(), b.trim()) {
            ("", n) => {
                let Some(n) = num(n) else { return Ranges::Full };
                if n > 0 && size > 0 {
                    parts.push((size.saturating_sub(n), size - 1));
                }
            }
            (a, "") => {
                let Some(a) = num(a) else { return Ranges::Full };
                if a < size {
                    parts.push((a, size - 1));
                }
            }
            (a, b) => {
                let (Some(a), Some(b)) = (num(a), num(b)) else {
                    return Ranges::Full;
                };
                if a > b {
                    return Ranges::Full;
                }
                if a < size {
                    parts.push((a, b.min(size - 1)));
                }
            }
        }
    }
    if !any || parts.len() > MAX_RANGES {
        return Ranges::Full;
    }
    if parts.is_empty() {
        return Ranges::Unsatisfiable;
    }
    Ranges::Parts(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(h: &str, size: u64, want: Ranges) {
        assert_eq!(parse(Some(h), size), want, "{h}");
    }

    #[test]
    fn ranges() {
        check("bytes=0-9", 100, Ranges::Parts(vec![(0, 9)]));
        check("bytes=90-200", 100, Ranges::Parts(vec![(90, 99)]));
        check("bytes=-10", 100, Ranges::Parts(vec![(90, 99)]));
        check("bytes=-1000", 100, Ranges::Parts(vec![(0, 99)]));
        check("bytes=95-", 100, Ranges::Parts(vec![(95, 99)]));
        check("bytes=0-1,5-6", 100, Ranges::Parts(vec![(0, 1), (5, 6)]));
        check("bytes=100-", 100, Ranges::Unsatisfiable);
        check("bytes=-0", 100, Ranges::Unsatisfiable);
        check("bytes=5-1", 100, Ranges::Full);
        check("bytes=abc", 100, Ranges::Full);
        check("items=0-1", 100, Ranges::Full);
        check("bytes=0-x", 100, Ranges::Full);
        assert_eq!(parse(None, 10), Ranges::Full);
    }
}
