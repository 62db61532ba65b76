//! Keystone's account lockout: after `lockout_failure_attempts` failed
//! password logins in a row a user is refused, even with the right
//! password, until `lockout_duration` has passed. The counts live in
//! memory (a restart forgets them) and a successful login clears them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One user's failures since their last success.
#[derive(Default)]
struct Failures {
    count: u32,
    locked_until: Option<Instant>,
}

/// Failed-login counts by user id.
pub struct Lockout {
    attempts: u32,
    duration: Duration,
    users: Mutex<HashMap<String, Failures>>,
}

impl Lockout {
    /// Lockout after `attempts` failures (0: never) for `duration`.
    pub fn new(attempts: u32, duration: Duration) -> Lockout {
        Lockout {
            attempts,
            duration,
            users: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `user_id` is locked out now.
    pub fn is_locked(&self, user_id: &str) -> bool {
        self.is_locked_at(user_id, Instant::now())
    }

    fn is_locked_at(&self, user_id: &str, now: Instant) -> bool {
        let mut users = self.users.lock().expect("lockout lock");
        let Some(f) = users.get_mut(user_id) else {
            return false;
        };
        match f.locked_until {
            Some(until) if now < until => true,
            Some(_) => {
                // The lockout is over: the user starts afresh.
                users.remove(user_id);
                false
            }
            None => false,
        }
    }

    /// Counts a failed login; returns true if it locked the user out.
    pub fn failed(&self, user_id: &str) -> bool {
        self.failed_at(user_id, Instant::now())
    }

    fn failed_at(&self, user_id: &str, now: Instant) -> bool {
        if self.attempts == 0 {
            return false;
        }
        let mut users = self.users.lock().expect("lockout lock");
        let f = users.entry(user_id.to_string()).or_default();
        if f.locked_until.is_some() {
            return false;
        }
        f.count += 1;
        if f.count >= self.attempts {
            f.locked_until = Some(now + self.duration);
            return true;
        }
        false
    }

    /// Clears a user's failures after a successful login.
    pub fn succeeded(&self, user_id: &str) {
        self.users.lock().expect("lockout lock").remove(user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_attempts_until_duration_passes() {
        let l = Lockout::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(!l.failed_at("u", t0));
        assert!(!l.failed_at("u", t0));
        assert!(!l.is_locked_at("u", t0));
        assert!(l.failed_at("u", t0));
        assert!(l.is_locked_at("u", t0 + Duration::from_secs(9)));
        assert!(!l.is_locked_at("other", t0));
        assert!(!l.is_locked_at("u", t0 + Duration::from_secs(10)));
        // Afresh: three more failures are needed.
        assert!(!l.failed_at("u", t0 + Duration::from_secs(11)));
        assert!(!l.is_locked_at("u", t0 + Duration::from_secs(11)));
    }

    #[test]
    fn success_clears_and_zero_disables() {
        let l = Lockout::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        l.failed_at("u", t0);
        l.succeeded("u");
        assert!(!l.failed_at("u", t0));
        let off = Lockout::new(0, Duration::from_secs(10));
        for _ in 0..10 {
            assert!(!off.failed_at("u", t0));
        }
        assert!(!off.is_locked_at("u", t0));
    }
}
