//! Key layout of a device's metadata database. Every key starts with a kind
//! byte and the big-endian partition, so a partition's rows are contiguous
//! (replication walks them) and names sort bytewise, as Swift lists them.

/// Object index row: `o` + part + 16-byte path hash.
pub fn object(part: u32, hash: &[u8; 16]) -> Vec<u8> {
    let mut k = Vec::with_capacity(21);
    k.push(b'o');
    k.extend_from_slice(&part.to_be_bytes());
    k.extend_from_slice(hash);
    k
}

/// A container's own record: `C` + part + account + NUL + container.
pub fn container_info(part: u32, account: &str, container: &str) -> Vec<u8> {
    named(b'C', part, &[account, container])
}

/// The prefix of a container's object rows: `c` + part + account + NUL + container + NUL.
pub fn container_rows(part: u32, account: &str, container: &str) -> Vec<u8> {
    let mut k = named(b'c', part, &[account, container]);
    k.push(0);
    k
}

/// An account's own record: `A` + part + account.
pub fn account_info(part: u32, account: &str) -> Vec<u8> {
    named(b'A', part, &[account])
}

/// The prefix of an account's container rows: `a` + part + account + NUL.
pub fn account_rows(part: u32, account: &str) -> Vec<u8> {
    let mut k = named(b'a', part, &[account]);
    k.push(0);
    k
}

/// An expiry queue entry: `x` + delete-at seconds + object key.
pub fn expiry(delete_at: u64, object_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + object_key.len());
    k.push(b'x');
    k.extend_from_slice(&delete_at.to_be_bytes());
    k.extend_from_slice(object_key);
    k
}

fn named(kind: u8, part: u32, names: &[&str]) -> Vec<u8> {
    let len: usize = names.iter().map(|n| n.len() + 1).sum();
    let mut k = Vec::with_capacity(5 + len);
    k.push(kind);
    k.extend_from_slice(&part.to_be_bytes());
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(n.as_bytes());
    }
    k
}

/// The smallest key greater than every key starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xff; prefix.len() + 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_one_container_share_a_prefix_and_sort_by_name() {
        let p = container_rows(7, "AUTH_a", "c");
        let mut a = p.clone();
        a.extend_from_slice(b"a");
        let mut b = p.clone();
        b.extend_from_slice(b"b");
        assert!(a < b);
        assert!(a.starts_with(&p));
        assert!(!container_rows(7, "AUTH_a", "cc").starts_with(&p));
        assert_eq!(prefix_end(b"ab"), b"ac".to_vec());
        assert_eq!(prefix_end(&[b'a', 0xff]), b"b".to_vec());
    }
}
