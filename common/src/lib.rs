//! Shared pieces every Cairn crate meets in: tracing setup, shutdown on
//! signals, the HTTP accept loop (`http`), the `openrc` file format, and
//! what services need from identity: token verification (`token`,
//! `token_verifier`), EC2 credential lookups (`ec2`) and the HTTP client
//! both use (`identity_http`), policy rules over roles (`policy`), `swift`,
//! the Swift API client services store their data with, and random ids
//! (`ids`).

pub mod ec2;
pub mod http;
pub mod identity_http;
pub mod ids;
pub mod openrc;
pub mod policy;
pub mod shutdown;
pub mod swift;
pub mod telemetry;
pub mod token;
pub mod token_verifier;
