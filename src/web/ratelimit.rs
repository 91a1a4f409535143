//! Rate limits for what strangers can call: fixed windows kept in memory per instance.
//!
//! Keys are per client network (an IPv4 address, an IPv6 /64) and per invitation code, so
//! one office or carrier address guessing codes slows down only itself.

use actix_web::HttpRequest;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimiter {
    window: Duration,
    slots: Mutex<HashMap<String, (Instant, u32)>>,
}

/// Beyond this many keys, expired ones are dropped so memory stays bounded.
const PRUNE_AT: usize = 100_000;

impl RateLimiter {
    pub fn new(window: Duration) -> Self {
        Self { window, slots: Mutex::new(HashMap::new()) }
    }

    /// Counts one event for `key`; false when that exceeds `limit` in the current window.
    pub fn hit(&self, key: &str, limit: u32) -> bool {
        let now = Instant::now();
        let mut slots = self.slots.lock().expect("rate limiter lock");
        if slots.len() > PRUNE_AT {
            slots.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let slot = slots.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(slot.0) >= self.window {
            *slot = (now, 0);
        }
        slot.1 = slot.1.saturating_add(1);
        slot.1 <= limit
    }

    /// Whether `key` already used up `limit` in the current window (without counting).
    pub fn exhausted(&self, key: &str, limit: u32) -> bool {
        let slots = self.slots.lock().expect("rate limiter lock");
        slots.get(key).is_some_and(|(start, count)| start.elapsed() < self.window && *count >= limit)
    }
}

/// The client's network: its IPv4 address or its IPv6 /64.
pub fn client_network(req: &HttpRequest, trust_proxy: bool) -> String {
    let info = req.connection_info();
    let address = if trust_proxy { info.realip_remote_addr() } else { info.peer_addr() };
    match address
        .and_then(|a| a.parse::<IpAddr>().ok().or_else(|| a.parse::<std::net::SocketAddr>().ok().map(|s| s.ip())))
    {
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
}
