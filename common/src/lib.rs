//! Shared pieces every Cairn crate meets in: tracing setup, shutdown on
//! signals, the HTTP accept loop (`http`), the `openrc` file format, and identity token verification.

pub mod http;
pub mod openrc;
pub mod shutdown;
pub mod telemetry;
pub mod token;
