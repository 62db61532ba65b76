//! Pure statistics helpers: nearest-rank percentiles, medians and rates.

use std::time::Duration;

/// Nearest-rank percentile of an ascending-sorted slice; `p` is in
/// percent (0..=100). Returns `None` for an empty slice.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    Some(sorted[index])
}

/// Median of unsorted values (mean of the two middle ones for an even
/// count). Returns `None` for no values.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        Some(sorted[mid])
    } else {
        Some((sorted[mid - 1] + sorted[mid]) / 2.0)
    }
}

/// Latencies converted to milliseconds and sorted ascending.
pub fn sorted_millis(latencies: &[Duration]) -> Vec<f64> {
    let mut millis: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    millis.sort_by(f64::total_cmp);
    millis
}

/// `count` per second over `elapsed`; zero when nothing elapsed.
pub fn rate(count: f64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        count / secs
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), Some(50.0));
        assert_eq!(percentile(&values, 99.0), Some(99.0));
        assert_eq!(percentile(&values, 100.0), Some(100.0));
        assert_eq!(percentile(&values, 0.0), Some(1.0));
        assert_eq!(percentile(&values, 99.5), Some(100.0));

        let few = [1.0, 2.0, 3.0];
        assert_eq!(percentile(&few, 50.0), Some(2.0));
        assert_eq!(percentile(&few, 99.0), Some(3.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn median_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn millis_and_rate() {
        let sorted = sorted_millis(&[Duration::from_millis(3), Duration::from_micros(1500)]);
        assert_eq!(sorted, vec![1.5, 3.0]);
        assert_eq!(rate(10.0, Duration::from_secs(2)), 5.0);
        assert_eq!(rate(10.0, Duration::ZERO), 0.0);
    }
}
