//! blockd: block volumes kept in the object store and exported over NBD.
//! The service is not built yet; this crate holds its place in the workspace.
