//! Where objects should be and are: primaries from the appliance's ring, data
//! files found on disk, and (with the appliance stopped) the object records
//! of each device's metadata database.

use std::collections::BTreeSet;
use std::path::Path;

use objectd::ring::Ring;
use objectd::store::DeviceStore;

/// The appliance's ring.
pub fn ring(data_dir: &Path) -> Ring {
    Ring::load(data_dir.join("rings").join("object.ring")).expect("load ring")
}

/// The partition, path hash and primary device names of an object.
pub fn primaries(
    ring: &Ring,
    account: &str,
    container: &str,
    object: &str,
) -> (u32, [u8; 16], BTreeSet<String>) {
    let hash = ring.hash_path(account, Some(container), Some(object));
    let part = ring.partition_for_hash(&hash);
    let names = ring
        .primaries(part)
        .iter()
        .map(|d| d.device.clone())
        .collect();
    (part, hash, names)
}

/// Names of the devices holding a data file of the object.
pub fn devices_with_files(data_dir: &Path, part: u32, hash: &[u8; 16]) -> BTreeSet<String> {
    let hex = hex::encode(hash);
    crate::device_dirs(data_dir)
        .into_iter()
        .filter(|dev| {
            let dir = dev
                .join("objects")
                .join(part.to_string())
                .join(&hex[hex.len() - 3..])
                .join(&hex);
            std::fs::read_dir(dir).is_ok_and(|mut d| {
                d.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "data")))
            })
        })
        .filter_map(|dev| dev.file_name().and_then(|n| n.to_str()).map(str::to_string))
        .collect()
}

/// Names of the devices whose metadata database holds a live version of the
/// object. The appliance must be stopped (the databases are opened here).
pub async fn devices_with_records(
    data_dir: &Path,
    objects: &[(u32, [u8; 16])],
) -> Vec<BTreeSet<String>> {
    let ring = ring(data_dir);
    let mut out = vec![BTreeSet::new(); objects.len()];
    for dev in ring.devices() {
        let store = DeviceStore::open(dev.id, &data_dir.join("devices").join(&dev.device))
            .expect("open device");
        for (i, (part, hash)) in objects.iter().enumerate() {
            if let Some(found) = store
                .get_object(*part, *hash)
                .await
                .expect("read object record")
            {
                if !found.meta.deleted {
                    out[i].insert(dev.device.clone());
                }
            }
        }
    }
    out
}

/// How many records of each kind (`o` objects, `c` listing rows, `C`
/// containers, `a` account rows, `A` accounts) all devices hold together.
/// The appliance must be stopped.
pub async fn record_counts(data_dir: &Path) -> std::collections::BTreeMap<char, usize> {
    let ring = ring(data_dir);
    let mut counts = std::collections::BTreeMap::new();
    for dev in ring.devices() {
        let store = DeviceStore::open(dev.id, &data_dir.join("devices").join(&dev.device))
            .expect("open device");
        for part in store.partitions().await.expect("list partitions") {
            for key in store
                .partition_summary(part)
                .await
                .expect("read partition")
                .keys()
            {
                *counts.entry(char::from(key[0])).or_insert(0) += 1;
            }
        }
    }
    counts
}
