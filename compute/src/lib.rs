//! compute: the per-host agent that boots VMs from NBD volumes.
//! The agent is not built yet; this crate holds its place in the workspace.
