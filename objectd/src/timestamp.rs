//! Swift timestamps: seconds since the epoch with five decimals, kept as an
//! integer count of 10 µs ticks so that ordering and equality are exact.

use std::fmt;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Ticks per second (Swift prints five decimals).
const TICKS_PER_SEC: u64 = 100_000;

/// A point in time as Swift orders writes: newer timestamps win.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The current wall-clock time, strictly increasing within this process
    /// so that two writes never share a timestamp.
    pub fn now() -> Self {
        static LAST: AtomicU64 = AtomicU64::new(0);
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let wall = d.as_secs() * TICKS_PER_SEC + u64::from(d.subsec_micros()) / 10;
        let mut last = LAST.load(Ordering::Relaxed);
        loop {
            let next = wall.max(last + 1);
            match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Timestamp(next),
                Err(seen) => last = seen,
            }
        }
    }

    /// The current wall-clock time in whole seconds.
    pub fn now_secs() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs()
    }

    /// Parses Swift's `1700000000.12345` form (fewer decimals are accepted).
    pub fn parse(s: &str) -> Option<Self> {
        let (secs, frac) = match s.split_once('.') {
            Some((a, b)) => (a, b),
            None => (s, ""),
        };
        if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if frac.len() > 5 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let secs: u64 = secs.parse().ok()?;
        let mut ticks: u64 = 0;
        for i in 0..5 {
            let digit = frac.as_bytes().get(i).map_or(0, |b| u64::from(b - b'0'));
            ticks = ticks * 10 + digit;
        }
        secs.checked_mul(TICKS_PER_SEC)?
            .checked_add(ticks)
            .map(Timestamp)
    }

    /// Whole seconds since the epoch, rounded up as Swift does for `Last-Modified`.
    pub fn secs_ceil(self) -> u64 {
        self.0.div_ceil(TICKS_PER_SEC)
    }

    /// Whole seconds since the epoch, rounded down.
    pub fn secs(self) -> u64 {
        self.0 / TICKS_PER_SEC
    }

    /// A timestamp from whole seconds.
    pub fn from_secs(secs: u64) -> Self {
        Timestamp(secs.saturating_mul(TICKS_PER_SEC))
    }

    /// The `Last-Modified` HTTP date.
    pub fn http_date(self) -> String {
        httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(self.secs_ceil()))
    }

    /// The ISO form used in JSON and XML listings: `2024-01-02T03:04:05.123450`.
    pub fn iso8601(self) -> String {
        let mut out = String::with_capacity(26);
        self.write_iso8601(&mut out);
        out
    }

    /// Appends the ISO form (listings render thousands of these).
    pub fn write_iso8601(self, out: &mut String) {
        let secs = self.secs();
        let micros = (self.0 % TICKS_PER_SEC) * 10;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        if !(0..=9999).contains(&y) {
            let _ = write!(out, "{y:04}");
        } else {
            push_digits(out, y as u64, 4);
        }
        for (sep, value, width) in [
            ('-', m as u64, 2),
            ('-', d as u64, 2),
            ('T', rem / 3600, 2),
            (':', (rem / 60) % 60, 2),
            (':', rem % 60, 2),
            ('.', micros, 6),
        ] {
            out.push(sep);
            push_digits(out, value, width);
        }
    }
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
fn push_digits(out: &mut String, value: u64, width: u32) {
    for i in (0..width).rev() {
        out.push(char::from(b'0' + (value / 10u64.pow(i) % 10) as u8));
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:05}",
            self.0 / TICKS_PER_SEC,
            self.0 % TICKS_PER_SEC
        )
    }
}

/// Howard Hinnant's days-to-civil conversion (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        let t = Timestamp::parse("1700000000.12345").expect("valid");
        assert_eq!(t.to_string(), "1700000000.12345");
        assert_eq!(
            Timestamp::parse("1700000000.1").expect("valid").to_string(),
            "1700000000.10000"
        );
        assert_eq!(
            Timestamp::parse("17").expect("valid").to_string(),
            "17.00000"
        );
        assert!(Timestamp::parse("1.123456").is_none());
        assert!(Timestamp::parse("-1").is_none());
        assert!(Timestamp::parse("abc").is_none());
        assert!(Timestamp::parse("").is_none());
    }

    #[test]
    fn iso_and_http_dates() {
        let t = Timestamp::parse("1700000000.5").expect("valid");
        assert_eq!(t.iso8601(), "2023-11-14T22:13:20.500000");
        assert_eq!(t.http_date(), "Tue, 14 Nov 2023 22:13:21 GMT");
        assert_eq!(t.secs_ceil(), 1_700_000_001);
    }
}
