//! Shared pieces every Cairn crate meets in: tracing setup, shutdown on
//! signals, and the `openrc` file format.

pub mod openrc;
pub mod shutdown;
pub mod telemetry;
