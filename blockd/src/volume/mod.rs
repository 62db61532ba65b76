//! Log-structured volumes stored in the object store. A volume is a
//! journal (`journal.rs`) and an in-memory overlay of what it holds, an
//! extent map (`rangemap.rs`, values in `extent.rs`) from byte ranges to
//! places in immutable segment objects (`segments.rs`, read through the
//! caches in `cache.rs` (memory) and `disk_cache.rs` (local disk)), and the device that ties them together and packs
//! the journal into segments (`device.rs`). `cleaner.rs` deletes segments
//! no map refers to any more; `compactor.rs` rewrites mostly dead ones and
//! finds orphans. `buffers.rs` bounds the bytes all volumes hold in
//! memory before packing. Snapshots and clones are copies of a map;
//! a volume made from a raw image maps onto the image's own objects
//! (`shared.rs`).

pub mod buffers;
pub mod cache;
pub mod cleaner;
pub mod compactor;
pub mod device;
pub mod disk_cache;
pub mod extent;
pub mod journal;
pub mod rangemap;
pub mod segments;
pub mod shared;

pub use device::VolumeDevice;
