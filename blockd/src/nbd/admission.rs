//! Handshakes in progress per client address: one address may hold only
//! so many at once, so a client that connects and says nothing cannot
//! take every connection slot for the handshake's time limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts of handshakes in progress, by client address.
#[derive(Clone, Default)]
pub struct Handshakes {
    by_address: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One handshake in progress; dropping it ends it.
pub struct Handshaking {
    handshakes: Handshakes,
    address: IpAddr,
}

impl Handshakes {
    /// Starts a handshake from `address`, unless it already has `limit`.
    pub fn start(&self, address: IpAddr, limit: usize) -> Option<Handshaking> {
        let mut map = self.by_address.lock().expect("handshakes lock");
        let n = map.entry(address).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(Handshaking {
            handshakes: self.clone(),
            address,
        })
    }
}

impl Drop for Handshaking {
    fn drop(&mut self) {
        let mut map = self.handshakes.by_address.lock().expect("handshakes lock");
        if let Some(n) = map.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_its_limit() {
        let h = Handshakes::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = h.start(a, 2).unwrap();
        let _second = h.start(a, 2).unwrap();
        assert!(h.start(a, 2).is_none());
        assert!(h.start(b, 2).is_some(), "another address is not limited");
        drop(first);
        assert!(h.start(a, 2).is_some(), "an ended handshake frees a place");
    }
}
