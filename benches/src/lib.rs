//! `cairn-bench` library: a Swift v1 load generator. Modules: the HTTP
//! client ([`swift_client`]), the object benchmark ([`object_bench`]),
//! result reporting ([`report`]), the CLI ([`cli`]) and pure helpers
//! ([`units`], [`stats`]).

pub mod cli;
pub mod object_bench;
pub mod report;
pub mod stats;
pub mod swift_client;
pub mod units;

pub use object_bench::{run, Credentials, ObjectConfig, Outcome};
pub use report::{Figure, Report};
