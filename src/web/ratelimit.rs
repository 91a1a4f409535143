//! Rate limits for what strangers can call: fixed windows kept in memory per instance.
//!
//! Keys are per client network (an IPv4 address, an IPv6 /64) and per invitation code, so
//! one office or carrier address guessing codes slows down only itself.

use actix_web::HttpRequest;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct RateLimiter {
    window: Duration,
    slots: Mutex<HashMap<String, (Instant, u32)>>,
}

/// Past this many keys, expired ones are dropped and, if a flood of fresh keys leaves too
/// many, the oldest windows are forgotten down to half. Memory stays bounded (about 100
/// bytes a key) and the scan is amortised over the keys added since the last one.
const HARD_LIMIT: usize = 400_000;

impl RateLimiter {
    pub fn new(window: Duration) -> Self {
        Self { window, slots: Mutex::new(HashMap::new()) }
    }

    /// Counts one event for `key`; false when that exceeds `limit` in the current window.
    pub fn hit(&self, key: &str, limit: u32) -> bool {
        self.add(key, false) <= limit
    }

    /// Counts one event for `key` and returns the events in the current window. With
    /// `sliding`, the window restarts with every event: the count expires a window after the
    /// last one (as an account's failed sign-ins do in the database).
    pub fn add(&self, key: &str, sliding: bool) -> u32 {
        let now = Instant::now();
        let mut slots = self.slots.lock().expect("rate limiter lock");
        if slots.len() >= HARD_LIMIT {
            slots.retain(|_, (start, _)| now.duration_since(*start) < self.window);
            if slots.len() > HARD_LIMIT / 2 {
                let mut starts: Vec<Instant> = slots.values().map(|(start, _)| *start).collect();
                let cut = starts.len() - HARD_LIMIT / 2;
                let (_, oldest_kept, _) = starts.select_nth_unstable(cut);
                let oldest_kept = *oldest_kept;
                slots.retain(|_, (start, _)| *start >= oldest_kept);
            }
        }
        let slot = slots.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(slot.0) >= self.window {
            *slot = (now, 0);
        }
        if sliding {
            slot.0 = now;
        }
        slot.1 = slot.1.saturating_add(1);
        slot.1
    }

    /// Takes back one event of `key` counted in the current window (one that turned out not
    /// to be a failure).
    pub fn undo(&self, key: &str) {
        let mut slots = self.slots.lock().expect("rate limiter lock");
        if let Some((_, count)) = slots.get_mut(key) {
            *count = count.saturating_sub(1);
        }
    }

    /// Events counted for `key` in the current window.
    pub fn count(&self, key: &str) -> u32 {
        let slots = self.slots.lock().expect("rate limiter lock");
        slots.get(key).filter(|(start, _)| start.elapsed() < self.window).map_or(0, |(_, count)| *count)
    }

    /// Whether `key` already used up `limit` in the current window (without counting).
    pub fn exhausted(&self, key: &str, limit: u32) -> bool {
        let slots = self.slots.lock().expect("rate limiter lock");
        slots.get(key).is_some_and(|(start, count)| start.elapsed() < self.window && *count >= limit)
    }
}

/// How many requests per key may be in progress at once (sign-ins, from their start to their answer):
/// a key's entry exists only while it has some, so memory follows what is in flight.
#[derive(Default)]
pub struct WaitingGate {
    waiting: Arc<Mutex<HashMap<String, u32>>>,
}

/// A place among the requests in progress of a key, given back when dropped.
pub struct WaitingPlace {
    waiting: Arc<Mutex<HashMap<String, u32>>>,
    key: String,
}

impl WaitingGate {
    /// A place for `key` unless `limit` requests of it are already waiting.
    pub fn enter(&self, key: &str, limit: u32) -> Option<WaitingPlace> {
        let mut waiting = self.waiting.lock().expect("waiting gate lock");
        let count = waiting.entry(key.to_string()).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(WaitingPlace { waiting: self.waiting.clone(), key: key.to_string() })
    }
}

impl Drop for WaitingPlace {
    fn drop(&mut self) {
        let mut waiting = self.waiting.lock().expect("waiting gate lock");
        if let Some(count) = waiting.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                waiting.remove(&self.key);
            }
        }
    }
}

/// The client's network: its IPv4 address or its IPv6 /64. Behind a trusted proxy, the
/// address that proxy saw: the last `X-Forwarded-For` entry (earlier ones are the client's
/// own words).
pub fn client_network(req: &HttpRequest, trust_proxy: bool) -> String {
    network_of(client_address(req, trust_proxy))
}

/// The client's address: the peer's, or behind a trusted proxy the last `X-Forwarded-For` entry.
pub fn client_address(req: &HttpRequest, trust_proxy: bool) -> Option<IpAddr> {
    let forwarded = trust_proxy
        .then(|| req.headers().get("X-Forwarded-For"))
        .flatten()
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.rsplit(',').next())
        .and_then(|last| last.trim().parse::<IpAddr>().ok());
    forwarded.or_else(|| req.peer_addr().map(|a| a.ip()))
}

fn network_of(address: Option<IpAddr>) -> String {
    // A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d: they are IPv4 clients.
    let address = address.map(|a| match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    });
    match address {
        Some(IpAddr::V4(v4)) => format!("v4:{v4}"),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("v6:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_applies_per_key_and_resets_with_the_window() {
        let limiter = RateLimiter::new(Duration::from_millis(50));
        assert!(limiter.hit("a", 2));
        assert!(limiter.hit("a", 2));
        assert!(!limiter.hit("a", 2));
        assert!(limiter.exhausted("a", 2));
        assert!(limiter.hit("b", 2), "another key is not affected");
        std::thread::sleep(Duration::from_millis(60));
        assert!(!limiter.exhausted("a", 2));
        assert!(limiter.hit("a", 2));
    }

    #[test]
    fn a_sliding_count_expires_a_window_after_its_last_event() {
        let limiter = RateLimiter::new(Duration::from_millis(80));
        assert_eq!(limiter.add("a", true), 1);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(limiter.add("a", true), 2);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(limiter.count("a"), 2, "the second event restarted the window");
        std::thread::sleep(Duration::from_millis(90));
        assert_eq!(limiter.count("a"), 0);
    }

    #[test]
    fn the_gate_admits_a_limited_number_per_key_and_forgets_idle_keys() {
        let gate = WaitingGate::default();
        let first = gate.enter("a", 2).unwrap();
        let second = gate.enter("a", 2).unwrap();
        assert!(gate.enter("a", 2).is_none());
        assert!(gate.enter("b", 2).is_some(), "another key is not affected");
        drop(first);
        let third = gate.enter("a", 2);
        assert!(third.is_some());
        drop((second, third));
        assert!(gate.waiting.lock().unwrap().is_empty());
    }

    #[test]
    fn a_flood_of_fresh_keys_stays_bounded() {
        let limiter = RateLimiter::new(Duration::from_secs(600));
        for i in 0..(HARD_LIMIT + 10) {
            limiter.hit(&format!("k{i}"), 1);
        }
        assert!(limiter.slots.lock().unwrap().len() <= HARD_LIMIT);
    }

    #[test]
    fn networks_are_ipv4_addresses_and_ipv6_prefixes() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(network_of(ip("203.0.113.7")), "v4:203.0.113.7");
        assert_eq!(network_of(ip("::ffff:203.0.113.7")), "v4:203.0.113.7", "dual-stack IPv4 clients stay apart");
        assert_eq!(network_of(ip("2001:db8:1:2:aaaa::1")), network_of(ip("2001:db8:1:2:bbbb::2")));
        assert_ne!(network_of(ip("2001:db8:1:2::1")), network_of(ip("2001:db8:1:3::1")));
    }

    #[test]
    fn behind_a_trusted_proxy_the_last_forwarded_address_counts() {
        let req = actix_web::test::TestRequest::default()
            .insert_header(("X-Forwarded-For", "1.2.3.4, 198.51.100.9"))
            .peer_addr("10.0.0.1:5000".parse().unwrap())
            .to_http_request();
        assert_eq!(client_network(&req, true), "v4:198.51.100.9");
        assert_eq!(client_network(&req, false), "v4:10.0.0.1");
    }
}
