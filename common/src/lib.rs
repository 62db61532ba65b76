//! Shared pieces every Cairn service meets in: tracing setup and shutdown on
//! signals.

pub mod shutdown;
pub mod telemetry;
