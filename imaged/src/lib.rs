//! imaged: the image service, storing image bytes in the object store.
//! The service is not built yet; this crate holds its place in the workspace.
