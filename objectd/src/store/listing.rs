//! Listing rows under a key prefix with Swift's parameters: `prefix`,
//! `delimiter` (rolled up into subdir entries), `marker`, `end_marker`,
//! `limit` and `reverse`. Pure over a RocksDB iterator; runs on a blocking
//! thread.

use rocksdb::DB;

use super::keys::prefix_end;
use super::record;
use super::StoreError;

/// Swift's listing parameters.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ListParams {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub marker: String,
    pub end_marker: String,
    pub limit: usize,
    pub reverse: bool,
}

/// A listing entry: a row or a rolled-up subdirectory.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::ObjectRow;
    use crate::timestamp::Timestamp;

    fn db_with(names: &[&str]) -> (tempfile::TempDir, DB) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = DB::open_default(dir.path()).expect("open");
        for (i, n) in names.iter().enumerate() {
            let row = ObjectRow {
                ts: Timestamp(i as u64 + 1),
                deleted: n.starts_with('~'),
                size: 1,
                etag: String::new(),
                content_type: String::new(),
            };
            let name = n.trim_start_matches('~');
            db.put(
                [b"base/".as_slice(), name.as_bytes()].concat(),
                record::encode(&row),
            )
            .expect("put");
        }
        // A neighbour outside the prefix must never show up.
        db.put(b"basf", b"x").expect("put");
        (dir, db)
    }

    fn names(db: &DB, p: ListParams) -> Vec<String> {
        list(
            db,
            b"base/",
            &ListParams {
                limit: p.limit.max(1),
                ..p
            },
            |r: &ObjectRow| !r.deleted,
        )
        .expect("list")
        .into_iter()
        .map(|e| match e {
            Entry::Row(n, _) => n,
            Entry::Subdir(d) => format!("[{d}]"),
        })
        .collect()
    }

    fn p(
        prefix: &str,
        delim: Option<&str>,
        marker: &str,
        end: &str,
        limit: usize,
        reverse: bool,
    ) -> ListParams {
        ListParams {
            prefix: prefix.into(),
            delimiter: delim.map(str::to_string),
            marker: marker.into(),
            end_marker: end.into(),
            limit,
            reverse,
        }
    }

    #[test]
    fn swift_listing_parameters() {
        let (_d, db) = db_with(&["a", "b/1", "b/2", "b/3/x", "c", "~d", "e"]);
        let all = |prefix, delim, marker, end, limit, rev| {
            names(&db, p(prefix, delim, marker, end, limit, rev))
        };
        assert_eq!(
            all("", None, "", "", 100, false),
            ["a", "b/1", "b/2", "b/3/x", "c", "e"]
        );
        assert_eq!(
            all("", Some("/"), "", "", 100, false),
            ["a", "[b/]", "c", "e"]
        );
        assert_eq!(
            all("b/", Some("/"), "", "", 100, false),
            ["b/1", "b/2", "[b/3/]"]
        );
        assert_eq!(all("", None, "b/1", "c", 100, false), ["b/2", "b/3/x"]);
        assert_eq!(all("", None, "", "", 2, false), ["a", "b/1"]);
        assert_eq!(
            all("", None, "", "", 100, true),
            ["e", "c", "b/3/x", "b/2", "b/1", "a"]
        );
        assert_eq!(
            all("", Some("/"), "", "", 100, true),
            ["e", "c", "[b/]", "a"]
        );
        // Reverse: marker bounds from above, end_marker from below.
        assert_eq!(all("", None, "c", "a", 100, true), ["b/3/x", "b/2", "b/1"]);
        assert_eq!(all("", Some("/"), "b/", "", 100, false), ["c", "e"]);
        assert_eq!(all("zz", None, "", "", 100, false), Vec::<String>::new());
    }
}
