//! control: identity (Keystone v3, in `identity/`), with networking and
//! compute scheduling to come, and the `cairn` all-in-one launcher in
//! `src/bin/cairn`.

pub mod identity;
