//! Values read from the database and kept between calls, each under the stored fact that
//! shows it is still current: a version number, or the stored text itself. Whoever asks
//! reads that fact first (cheap), and the value again only when it changed, so instances
//! sharing a database never serve each other's stale values.

use super::StorageResult;
use std::sync::{Arc, Mutex};

pub struct Kept<K, C, V> {
    /// Most recently used last.
    entries: Mutex<Vec<(K, C, Arc<V>)>>,
    capacity: usize,
}

impl<K: PartialEq, C: PartialEq, V> Kept<K, C, V> {
    pub fn new(capacity: usize) -> Self {
        Kept { entries: Mutex::new(Vec::with_capacity(capacity)), capacity: capacity.max(1) }
    }

    /// The value kept under `key` if it was read when the stored fact was `current`, else
    /// `load`ed and kept. `current` must be read before `load` reads the value: a change in
    /// between then makes the next call load again, never keeps an older value as newer.
    pub fn get_or_load(&self, key: K, current: C, load: impl FnOnce() -> StorageResult<V>) -> StorageResult<Arc<V>> {
        {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(at) = entries.iter().position(|(k, c, _)| *k == key && *c == current) {
                let entry = entries.remove(at);
                let value = entry.2.clone();
                entries.push(entry);
                return Ok(value);
            }
        }
        // Loaded without the lock: two callers may both load, and the later one is kept.
        let value = Arc::new(load()?);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|(k, _, _)| *k != key);
        if entries.len() >= self.capacity {
            entries.remove(0);
        }
        entries.push((key, current, value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn a_value_is_read_again_only_when_its_stored_fact_changed() {
        let kept: Kept<&str, i64, String> = Kept::new(2);
        let loads = Cell::new(0);
        let load = |text: &str| {
            loads.set(loads.get() + 1);
            Ok(text.to_string())
        };
        assert_eq!(*kept.get_or_load("tree", 1, || load("first")).unwrap(), "first");
        assert_eq!(*kept.get_or_load("tree", 1, || load("unread")).unwrap(), "first");
        assert_eq!(*kept.get_or_load("tree", 2, || load("second")).unwrap(), "second");
        assert_eq!(*kept.get_or_load("tree", 1, || load("third")).unwrap(), "third", "an older fact is not kept");
        assert_eq!(loads.get(), 3);
    }

    #[test]
    fn the_least_recently_used_value_goes_first() {
        let kept: Kept<u32, (), u32> = Kept::new(2);
        kept.get_or_load(1, (), || Ok(10)).unwrap();
        kept.get_or_load(2, (), || Ok(20)).unwrap();
        kept.get_or_load(1, (), || Ok(0)).unwrap();
        kept.get_or_load(3, (), || Ok(30)).unwrap();
        assert_eq!(*kept.get_or_load(1, (), || Ok(0)).unwrap(), 10, "used last, so kept");
        assert_eq!(*kept.get_or_load(2, (), || Ok(21)).unwrap(), 21, "least recently used, so dropped");
    }
}
