//! Tests of the ring module.
