//! `cairn-bench` library: a Swift v1 load generator. Modules: the HTTP
//! client ([`swift_client`]), the object benchmark ([`object_bench`]), the
//! ring rebalance benchmark ([`ring_bench`]), the erasure-coding benchmark
//! ([`ec_bench`]), the NBD benchmark
//! ([`nbd_bench`]), the identity benchmark ([`identity_bench`]), the device repair benchmark
//! ([`repair_bench`], driving a `cairn up` process through
//! [`cairn_process`]), result reporting ([`report`]), the CLI ([`cli`]) and
//! pure helpers ([`units`], [`stats`]).

pub mod cairn_process;
pub mod cli;
pub mod ec_bench;
pub mod identity_bench;
pub mod image_bench;
pub mod nbd_bench;
pub mod object_bench;
pub mod repair_bench;
pub mod report;
pub mod ring_bench;
pub mod s3_signer;
pub mod stats;
pub mod swift_client;
pub mod units;

pub use object_bench::{run, Credentials, ObjectConfig, Outcome};
pub use report::{Figure, Report};
