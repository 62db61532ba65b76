//! Listing rows under a key prefix with Swift's parameters: `prefix`,
//! `delimiter` (rolled up into subdir entries), `marker`, `end_marker`,
//! `limit` and `reverse`. Pure over a RocksDB iterator; runs on a blocking
//! thread.

use rocksdb::DB;

use super::keys::prefix_end;
use super::record;
use super::StoreError;

/// Swift's listing parameters.
#[derive(Clone, Debug, Default)]
pub struct ListParams {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub marker: String,
    pub end_marker: String,
    pub limit: usize,
    pub reverse: bool,
}

/// A listing entry: a row or a rolled-up subdirectory.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry<T> {
    Row(String, T),
    Subdir(String),
}

/// The entries of one listing page.
pub type Listing<T> = Vec<Entry<T>>;

/// Lists decoded rows under `base` (a container's or account's row prefix),
/// skipping rows for which `visible` is false.
pub fn list<T: for<'de> serde::Deserialize<'de>>(
    db: &DB,
    base: &[u8],
    p: &ListParams,
    visible: impl Fn(&T) -> bool,
) -> Result<Listing<T>, StoreError> {
    let key = |name: &[u8]| [base, name].concat();
    let mut lower = key(p.prefix.as_bytes());
    let mut upper = prefix_end(&lower);
    // Forward: marker is exclusive lower bound, end_marker exclusive upper bound.
    // Reverse: Swift swaps them: marker bounds from above, end_marker from below.
    let (lo_mark, hi_mark) = if p.reverse {
        (&p.end_marker, &p.marker)
    } else {
        (&p.marker, &p.end_marker)
    };
    let mut lo_exclusive = None;
    if !lo_mark.is_empty() {
        let k = key(lo_mark.as_bytes());
        if k >= lower {
            lower = k.clone();
            lo_exclusive = Some(k);
        }
    }
    if !hi_mark.is_empty() {
        let k = key(hi_mark.as_bytes());
        if k < upper {
            upper = k;
        }
    }
    let mut out = Vec::new();
    if lower >= upper || p.limit == 0 {
        return Ok(out);
    }
    let mut it = db.raw_iterator();
    if p.reverse {
        it.seek_for_prev(&upper);
        if it.key() == Some(&upper[..]) {
            it.prev();
        }
    } else {
        it.seek(&lower);
    }
    let delim = p.delimiter.as_deref().filter(|d| !d.is_empty());
    while let Some(k) = it.key() {
        if out.len() >= p.limit || k < &lower[..] || k >= &upper[..] {
            break;
        }
        if lo_exclusive.as_deref() == Some(k) {
            if p.reverse {
                break;
            }
            it.next();
            continue;
        }
        let name = std::str::from_utf8(&k[base.len()..])
            .map_err(|_| StoreError::Corrupt)?
            .to_string();
        if let Some(d) = delim {
            if let Some(pos) = name[p.prefix.len()..].find(d) {
                let subdir = name[..p.prefix.len() + pos + d.len()].to_string();
                let subdir_key = key(subdir.as_bytes());
                let skip = subdir == p.marker;
                if !skip {
                    out.push(Entry::Subdir(subdir));
                }
                if p.reverse {
                    it.seek_for_prev(&subdir_key);
                    if it.key() == Some(&subdir_key[..]) {
                        it.prev();
                    }
                } else {
                    it.seek(prefix_end(&subdir_key));
                }
                continue;
            }
        }
        let raw = it.value().expect("iterator positioned on a key");
        let row: T = record::decode(raw).ok_or(StoreError::Corrupt)?;
        if visible(&row) {
            out.push(Entry::Row(name, row));
        }
        if p.reverse {
            it.prev();
        } else {
            it.next();
        }
    }
    it.status()?;
    Ok(out)
}
