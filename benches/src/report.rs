//! Benchmark results: named figures printed one per line
//! (`object.put_4k_ops_per_s 2512.3`), a closing JSON line with every
//! figure, and the shared tally of errors seen while measuring.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// How many error messages are kept verbatim; the rest are only counted.
const MAX_ERROR_SAMPLES: usize = 20;

/// One measured number.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Dotted, stable name, e.g. `object.put_4k_ops_per_s`.
    pub name: String,
    pub value: f64,
    /// Decimal places in the text line.
    pub decimals: usize,
}

impl Figure {
    /// The human-readable and machine-diffable text line: `name value`.
    pub fn line(&self) -> String {
        format!("{} {:.*}", self.name, self.decimals, self.value)
    }
}

/// Counts failed requests (non-2xx, bad ETag, short body, transport errors)
/// and keeps the first few messages. Shared by all workers.
#[derive(Debug, Default)]
pub struct ErrorTally {
    count: AtomicU64,
    samples: Mutex<Vec<String>>,
}

impl ErrorTally {
    pub fn record(&self, message: impl Into<String>) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() < MAX_ERROR_SAMPLES {
            samples.push(message.into());
        }
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn samples(&self) -> Vec<String> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Collected figures; optionally echoes each figure to stdout as soon as
/// it is measured, so a long run shows progress.
#[derive(Debug, Default)]
pub struct Report {
    figures: Vec<Figure>,
    echo: bool,
}

impl Report {
    /// A report that prints each figure line to stdout when pushed.
    pub fn echoing() -> Self {
        Report {
            figures: Vec::new(),
            echo: true,
        }
    }

    /// A silent report (for tests and library use).
    pub fn quiet() -> Self {
        Report::default()
    }

    pub fn push(&mut self, name: impl Into<String>, value: f64, decimals: usize) {
        let figure = Figure {
            name: name.into(),
            value,
            decimals,
        };
        if self.echo {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", figure.line());
            let _ = out.flush();
        }
        self.figures.push(figure);
    }

    pub fn figures(&self) -> &[Figure] {
        &self.figures
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value)
    }

    /// All figure lines, in the order they were measured.
    pub fn lines(&self) -> Vec<String> {
        self.figures.iter().map(Figure::line).collect()
    }

    /// One JSON object with every figure (keys sorted), rounded like the
    /// text lines.
    pub fn json_line(&self) -> String {
        let mut map = serde_json::Map::new();
        for figure in &self.figures {
            let scale = 10f64.powi(figure.decimals as i32);
            let rounded = (figure.value * scale).round() / scale;
            let value = if figure.decimals == 0 && rounded.abs() < 9.0e15 {
                serde_json::Value::from(rounded as i64)
            } else {
                serde_json::Number::from_f64(rounded)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null)
            };
            map.insert(figure.name.clone(), value);
        }
        serde_json::Value::Object(map).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_json() {
        let mut report = Report::quiet();
        report.push("object.put_4k_ops_per_s", 2512.345, 1);
        report.push("object.put_4k_p99_ms", 1.23456, 3);
        report.push("object.errors", 0.0, 0);
        assert_eq!(
            report.lines(),
            vec![
                "object.put_4k_ops_per_s 2512.3",
                "object.put_4k_p99_ms 1.235",
                "object.errors 0",
            ]
        );
        let json: serde_json::Value = serde_json::from_str(&report.json_line()).unwrap();
        assert_eq!(json["object.put_4k_ops_per_s"], 2512.3);
        assert_eq!(json["object.put_4k_p99_ms"], 1.235);
        assert_eq!(json["object.errors"], 0);
        assert_eq!(report.get("object.errors"), Some(0.0));
    }

    #[test]
    fn tally_keeps_first_samples() {
        let tally = ErrorTally::default();
        for i in 0..(MAX_ERROR_SAMPLES + 5) {
            tally.record(format!("e{i}"));
        }
        assert_eq!(tally.count(), (MAX_ERROR_SAMPLES + 5) as u64);
        assert_eq!(tally.samples().len(), MAX_ERROR_SAMPLES);
        assert_eq!(tally.samples()[0], "e0");
    }
}
