//! Storage nodes: the devices of this host. Each device is a directory with a
//! RocksDB metadata database (object index with small bodies inline, container
//! and account listings) and data files for larger objects. RocksDB calls and
//! file I/O run on blocking threads (`spawn_blocking` or the device's writer
//! thread), never on the async runtime.

pub mod audit;
pub mod data_file;
pub mod device;
pub mod integrity;
pub mod keys;
pub mod listing;
pub mod merge;
pub mod pending;
pub mod record;
pub mod scan;
pub mod stream;
pub mod upload;
pub mod writer;

#[cfg(test)]
mod tests;

pub use device::DeviceStore;

/// What a storage operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record does not exist (or is deleted).
    #[error("not found")]
    NotFound,
    /// A newer or equal timestamp is already stored.
    #[error("a newer version exists")]
    Conflict,
    /// A container that still holds objects cannot be deleted.
    #[error("container not empty")]
    NotEmpty,
    /// A record failed to decode or a checksum did not match.
    #[error("corrupt record")]
    Corrupt,
    #[error("metadata database: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}
