//! Rate limits for what strangers can call: fixed windows counted in memory and shared by
//! every instance on the same database.
//!
//! Keys are per client network (an IPv4 address, an IPv6 /64) and per invitation code, so
//! one office or carrier address guessing codes slows down only itself. Counting stays in
//! memory (no database write on the path of a request): every `PHIEU_RATE_SYNC_MS` each
//! instance adds what it counted to the table `rate_counts` and reads back the totals of
//! those keys, and of any key at its limit. A limit therefore holds across instances up to
//! what the others counted in the last exchange or two (see README, several instances).

use crate::domain::code::CodeHasher;
use crate::storage::Database;
use crate::storage::StorageResult;
use crate::storage::coordination::CountDelta;
use actix_web::HttpRequest;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct RateLimiter {
    window_ms: i64,
    /// Keys are stored hashed under the instance key: the table holds no address.
    hasher: CodeHasher,
    slots: Mutex<HashMap<String, Slot>>,
    /// When this instance last read the keys at their limit.
    read_at_ms: Mutex<i64>,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// End of the count: the end of its fixed window, or a window after its last event.
    expires_ms: i64,
    sliding: bool,
    /// The count over all instances at the last exchange.
    shared: i64,
    /// Events counted here since (taken back ones subtracted).
    pending: i64,
    /// The key's limit, when the caller gave one.
    limit: u32,
    /// When this instance last counted or learnt of the key.
    touched: Instant,
}

impl Slot {
    fn count(&self) -> u32 {
        u32::try_from((self.shared + self.pending).max(0)).unwrap_or(u32::MAX)
    }
}

/// Past this many keys, expired ones are dropped and, if a flood of fresh keys leaves too
/// many, the least recently used are forgotten down to half. Memory stays bounded (about 150
/// bytes a key) and the scan is amortised over the keys added since the last one.
const HARD_LIMIT: usize = 400_000;

/// Clocks of instances may differ by this much: keys at their limit are read back over it.
const CLOCK_SKEW_MS: i64 = 5_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl RateLimiter {
    /// Limits with `window`, keys hashed with `hasher` (under the instance key, the same on
    /// every instance, so they count the same keys).
    pub fn new(window: Duration, hasher: CodeHasher) -> Self {
        Self {
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX).max(1),
            hasher,
            slots: Mutex::new(HashMap::new()),
            read_at_ms: Mutex::new(0),
        }
    }

    fn stored_key(&self, key: &str) -> String {
        self.hasher.hash_text("rate-limit", key)
    }

    /// Counts one event for `key`; false when that exceeds `limit` in the current window.
    pub fn hit(&self, key: &str, limit: u32) -> bool {
        self.count_event(key, false, limit) <= limit
    }

    /// Counts one event for `key` and returns the events in the current window. With
    /// `sliding`, the window restarts with every event: the count expires a window after the
    /// last one (as an account's failed sign-ins do in the database).
    pub fn add(&self, key: &str, sliding: bool) -> u32 {
        self.count_event(key, sliding, 0)
    }

    fn count_event(&self, key: &str, sliding: bool, limit: u32) -> u32 {
        let key = self.stored_key(key);
        let now = now_ms();
        // Fixed windows are aligned on the clock, so that every instance counts the same ones.
        let expires_ms = if sliding { now + self.window_ms } else { (now / self.window_ms + 1) * self.window_ms };
        let mut slots = self.slots.lock().expect("rate limiter lock");
        if slots.len() >= HARD_LIMIT {
            slots.retain(|_, slot| slot.expires_ms > now);
            if slots.len() > HARD_LIMIT / 2 {
                let mut touched: Vec<Instant> = slots.values().map(|slot| slot.touched).collect();
                let cut = touched.len() - HARD_LIMIT / 2;
                let (_, first_kept, _) = touched.select_nth_unstable(cut);
                let first_kept = *first_kept;
                slots.retain(|_, slot| slot.touched >= first_kept);
            }
        }
        let fresh = Slot { expires_ms, sliding, shared: 0, pending: 0, limit, touched: Instant::now() };
        let slot = slots.entry(key).or_insert(fresh);
        if slot.expires_ms <= now {
            *slot = fresh;
        }
        if sliding {
            slot.expires_ms = slot.expires_ms.max(expires_ms);
        }
        slot.sliding |= sliding;
        slot.touched = fresh.touched;
        slot.limit = slot.limit.max(limit);
        slot.pending += 1;
        slot.count()
    }

    /// Takes back one event of `key` counted in the current window (one that turned out not
    /// to be a failure).
    pub fn undo(&self, key: &str) {
        let key = self.stored_key(key);
        let mut slots = self.slots.lock().expect("rate limiter lock");
        if let Some(slot) = slots.get_mut(&key) {
            slot.pending -= 1;
        }
    }

    /// Events counted for `key` in the current window.
    pub fn count(&self, key: &str) -> u32 {
        let key = self.stored_key(key);
        let slots = self.slots.lock().expect("rate limiter lock");
        slots.get(&key).filter(|slot| slot.expires_ms > now_ms()).map_or(0, Slot::count)
    }

    /// Whether `key` already used up `limit` in the current window (without counting).
    pub fn exhausted(&self, key: &str, limit: u32) -> bool {
        self.count(key) >= limit
    }

    /// Exchanges counts with the other instances: adds what was counted here since the last
    /// exchange to the shared counts, takes back their totals, and learns of keys any
    /// instance counted to their limit. What could not be written is kept for the next one.
    pub fn exchange(&self, db: &Database) -> StorageResult<()> {
        let now = now_ms();
        let deltas: Vec<CountDelta> = {
            let mut slots = self.slots.lock().expect("rate limiter lock");
            slots
                .iter_mut()
                .filter(|(_, slot)| slot.pending != 0 && slot.expires_ms > now)
                .map(|(key, slot)| {
                    let delta = std::mem::take(&mut slot.pending);
                    slot.shared += delta;
                    CountDelta {
                        key: key.clone(),
                        delta,
                        limit: i64::from(slot.limit),
                        expires_ms: slot.expires_ms,
                        now_ms: now,
                    }
                })
                .collect()
        };
        let totals = match db.add_rate_counts(&deltas) {
            Ok(totals) => totals,
            Err(error) => {
                let mut slots = self.slots.lock().expect("rate limiter lock");
                for d in &deltas {
                    if let Some(slot) = slots.get_mut(&d.key) {
                        slot.shared -= d.delta;
                        slot.pending += d.delta;
                    }
                }
                return Err(error);
            }
        };
        let since = std::mem::replace(&mut *self.read_at_ms.lock().expect("rate limiter lock"), now);
        let exhausted = db.exhausted_rate_counts(since - CLOCK_SKEW_MS, now)?;
        let mut slots = self.slots.lock().expect("rate limiter lock");
        for total in totals.into_iter().chain(exhausted) {
            let learnt = Slot {
                expires_ms: total.expires_ms,
                sliding: false,
                shared: total.n,
                pending: 0,
                limit: 0,
                touched: Instant::now(),
            };
            let slot = slots.entry(total.key).or_insert(learnt);
            // A count of an earlier fixed window than the one counted here now is stale.
            if slot.sliding || total.expires_ms >= slot.expires_ms {
                slot.shared = total.n;
                slot.expires_ms = slot.expires_ms.max(total.expires_ms);
            }
        }
        Ok(())
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
        let limiter = RateLimiter::new(Duration::from_millis(200), CodeHasher::new(b"k"));
        // Windows are aligned on the clock: start early in one, so the hits fall in it.
        while now_ms() % 200 > 50 {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(limiter.hit("a", 2));
        assert!(limiter.hit("a", 2));
        assert!(!limiter.hit("a", 2));
        assert!(limiter.exhausted("a", 2));
        assert!(limiter.hit("b", 2), "another key is not affected");
        std::thread::sleep(Duration::from_millis(210));
        assert!(!limiter.exhausted("a", 2));
        assert!(limiter.hit("a", 2));
    }

    #[test]
    fn instances_on_one_database_share_their_counts_at_each_exchange() {
        let dir = std::env::temp_dir().join(format!("phieu-ratelimit-{}", uuid::Uuid::new_v4().simple()));
        let db = Database::connect(&dir.join("phieu.db").display().to_string(), 2).unwrap();
        let [a, b, c] = [(); 3].map(|_| RateLimiter::new(Duration::from_secs(600), CodeHasher::new(b"instance key")));
        for _ in 0..3 {
            assert!(a.hit("failed:v4:203.0.113.7", 5));
        }
        a.exchange(&db).unwrap();
        assert!(b.hit("failed:v4:203.0.113.7", 5), "b has not heard of a's 3 yet: 1");
        b.exchange(&db).unwrap();
        assert_eq!(b.count("failed:v4:203.0.113.7"), 4, "b now knows a's three");
        assert!(b.hit("failed:v4:203.0.113.7", 5), "the fifth");
        assert!(!b.hit("failed:v4:203.0.113.7", 5), "the sixth is over the limit");
        b.exchange(&db).unwrap();
        assert!(!c.exhausted("failed:v4:203.0.113.7", 5), "c never saw the key");
        c.exchange(&db).unwrap();
        assert!(c.exhausted("failed:v4:203.0.113.7", 5), "keys at their limit reach every instance");
        a.exchange(&db).unwrap();
        assert_eq!(a.count("failed:v4:203.0.113.7"), 6);
        let stored: Vec<String> = db.exhausted_rate_counts(0, now_ms()).unwrap().into_iter().map(|r| r.key).collect();
        assert_eq!(stored.len(), 1);
        assert!(!stored[0].contains("203.0.113.7"), "addresses are stored hashed: {stored:?}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_sliding_count_expires_a_window_after_its_last_event() {
        let limiter = RateLimiter::new(Duration::from_millis(80), CodeHasher::new(b"k"));
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
        let limiter = RateLimiter::new(Duration::from_secs(600), CodeHasher::new(b"k"));
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
