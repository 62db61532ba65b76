//! Byte-size parsing ("64MiB", "4k", "4096") and the short size labels
//! ("4k", "64m") used in figure names.

use anyhow::{bail, Context, Result};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Parses a byte size such as `4096`, `4k`, `4KiB`, `64MiB`, `64M`, `1GiB`
/// or `10MB`.
///
/// Binary multiples are used for `K`/`KiB`/`M`/`MiB`/`G`/`GiB` (case
/// insensitive), decimal ones for the explicit SI forms `KB`/`MB`/`GB`.
/// A trailing `B` alone means bytes.
pub fn parse_size(text: &str) -> Result<u64> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, suffix) = trimmed.split_at(split);
    if number.is_empty() {
        bail!("size {text:?} does not start with a number");
    }
    let multiplier = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "ki" => KIB,
        "m" | "mib" | "mi" => MIB,
        "g" | "gib" | "gi" => GIB,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => bail!("size {text:?} has an unknown unit {other:?}"),
    };
    if number.contains('.') {
        let value: f64 = number
            .parse()
            .with_context(|| format!("size {text:?} is not a number"))?;
        let bytes = value * multiplier as f64;
        if !bytes.is_finite() || bytes < 0.0 || bytes.fract() != 0.0 {
            bail!("size {text:?} is not a whole number of bytes");
        }
        Ok(bytes as u64)
    } else {
        let value: u64 = number
            .parse()
            .with_context(|| format!("size {text:?} is not a number"))?;
        value
            .checked_mul(multiplier)
            .with_context(|| format!("size {text:?} is too large"))
    }
}

/// Short lowercase label for a size, used in figure names: 4096 -> "4k",
/// 64 MiB -> "64m", 1 GiB -> "1g", 1000 -> "1000b".
pub fn size_label(bytes: u64) -> String {
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{}g", bytes / GIB)
    } else if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{}m", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{}k", bytes / KIB)
    } else {
        format!("{bytes}b")
    }
}

/// Human-readable size for log lines: "64 MiB", "4 KiB", "1000 B".
pub fn size_human(bytes: u64) -> String {
    let label = size_label(bytes);
    match label.chars().last() {
        Some('g') => format!("{} GiB", bytes / GIB),
        Some('m') => format!("{} MiB", bytes / MIB),
        Some('k') => format!("{} KiB", bytes / KIB),
        _ => format!("{bytes} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_binary_units() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("4k").unwrap(), 4096);
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("64M").unwrap(), 64 << 20);
        assert_eq!(parse_size("64mib").unwrap(), 64 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size(" 2 MiB ").unwrap(), 2 << 20);
        assert_eq!(parse_size("0").unwrap(), 0);
        assert_eq!(parse_size("12B").unwrap(), 12);
        assert_eq!(parse_size("1.5KiB").unwrap(), 1536);
    }

    #[test]
    fn parses_decimal_units() {
        assert_eq!(parse_size("10MB").unwrap(), 10_000_000);
        assert_eq!(parse_size("1kb").unwrap(), 1000);
        assert_eq!(parse_size("2GB").unwrap(), 2_000_000_000);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_size("").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("1.3B").is_err());
        assert!(parse_size("-4").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }

    #[test]
    fn labels_sizes() {
        assert_eq!(size_label(4096), "4k");
        assert_eq!(size_label(64 << 20), "64m");
        assert_eq!(size_label(2 << 20), "2m");
        assert_eq!(size_label(1 << 30), "1g");
        assert_eq!(size_label(1536), "1536b");
        assert_eq!(size_label(1000), "1000b");
        assert_eq!(size_label(0), "0b");
        assert_eq!(size_human(64 << 20), "64 MiB");
        assert_eq!(size_human(4096), "4 KiB");
        assert_eq!(size_human(10), "10 B");
    }
}
