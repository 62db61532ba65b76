//! Segments shared with another account's objects: a volume made from a
//! raw image maps its ranges straight onto the image's segment objects
//! instead of copying them. Each shared segment names its object and the
//! clone marker (an object in the image service's clone container) that
//! keeps the image from being deleted while any map refers to it. The
//! cleaner removes a marker once no shared segment names it any more.

use serde::{Deserialize, Serialize};

/// An object of another account, as a segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedObject {
    /// The account (`AUTH_glance`) of the object and of its marker.
    pub account: String,
    pub container: String,
    pub object: String,
    /// Where the clone marker is (`container/object` in the same account).
    pub marker: Marker,
}

/// A clone marker: while it exists, the shared objects stay.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Marker {
    pub account: String,
    pub container: String,
    pub object: String,
}
