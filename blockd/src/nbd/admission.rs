//! Handshakes in progress: a client (an IPv4 address, or an IPv6 /64,
//! which one host may fill with addresses) may hold only so many at
//! once, and all clients together only so many, so that silent clients
//! never take every connection slot for the handshake's time limit. When
//! the total is reached, the oldest handshake in progress is cut to make
//! room: an honest handshake takes milliseconds, so it completes while
//! silent ones push each other out.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// The handshakes in progress.
#[derive(Clone, Default)]
pub struct Handshakes {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    by_client: HashMap<IpAddr, usize>,
    /// Oldest first, by ticket; each with what cuts it.
    in_progress: VecDeque<(u64, CancellationToken)>,
    next_ticket: u64,
}

/// One handshake in progress; dropping it ends it.
pub struct Handshaking {
    handshakes: Handshakes,
    client: IpAddr,
    ticket: u64,
    cut: CancellationToken,
}

/// Whom a peer address counts against: IPv6 clients by their /64, and
/// IPv4 clients (also when mapped into IPv6) by their address.
fn client_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !(u128::MAX >> 64)).into()),
        },
    }
}

impl Handshakes {
    /// Starts a handshake from `address`, unless its client already has
    /// `per_client`; cuts the oldest ones to keep at most `total`.
    pub fn start(&self, address: IpAddr, per_client: usize, total: usize) -> Option<Handshaking> {
        let client = client_of(address);
        let mut state = self.state.lock().expect("handshakes lock");
        let n = state.by_client.get(&client).copied().unwrap_or(0);
        if n >= per_client {
            return None;
        }
        state.by_client.insert(client, n + 1);
        while state.in_progress.len() >= total.max(1) {
            let (_, oldest) = state.in_progress.pop_front().expect("not empty");
            oldest.cancel();
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        let cut = CancellationToken::new();
        state.in_progress.push_back((ticket, cut.clone()));
        Some(Handshaking {
            handshakes: self.clone(),
            client,
            ticket,
            cut,
        })
    }
}

impl Handshaking {
    /// Completes when the handshake is cut to make room for a newer one.
    pub async fn cut(&self) {
        self.cut.cancelled().await
    }
}

impl Drop for Handshaking {
    fn drop(&mut self) {
        let mut state = self.handshakes.state.lock().expect("handshakes lock");
        if let Some(n) = state.by_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                state.by_client.remove(&self.client);
            }
        }
        if let Some(i) = state
            .in_progress
            .iter()
            .position(|(t, _)| *t == self.ticket)
        {
            state.in_progress.remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_holds_at_most_its_limit() {
        let h = Handshakes::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = h.start(a, 2, 10).unwrap();
        let _second = h.start(a, 2, 10).unwrap();
        assert!(h.start(a, 2, 10).is_none());
        assert!(
            h.start(b, 2, 10).is_some(),
            "another address is not limited"
        );
        drop(first);
        assert!(
            h.start(a, 2, 10).is_some(),
            "an ended handshake frees a place"
        );
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let h = Handshakes::default();
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let _a = h.start(one, 1, 10).unwrap();
        assert!(h.start(same_64, 1, 10).is_none());
        assert!(h.start(other_64, 1, 10).is_some());
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let _m = h.start(mapped, 1, 10).unwrap();
        assert!(h.start("192.0.2.7".parse().unwrap(), 1, 10).is_none());
    }

    #[test]
    fn the_oldest_handshake_is_cut_past_the_total() {
        let h = Handshakes::default();
        let addr = |i: u8| IpAddr::from([192, 0, 2, i]);
        let first = h.start(addr(1), 4, 2).unwrap();
        let second = h.start(addr(2), 4, 2).unwrap();
        assert!(!first.cut.is_cancelled() && !second.cut.is_cancelled());
        let third = h.start(addr(3), 4, 2).unwrap();
        assert!(first.cut.is_cancelled(), "the oldest makes room");
        assert!(!second.cut.is_cancelled() && !third.cut.is_cancelled());
        drop(third);
        let _fourth = h.start(addr(4), 4, 2).unwrap();
        assert!(!second.cut.is_cancelled(), "an ended one freed the room");
    }
}
