//! A small cache of the most recently used values: what the server keeps of a wave's
//! derived tables (suppression patterns, crosstab counts) must not grow with every wave ever
//! asked about.

use std::sync::Mutex;

pub struct Recent<K, V> {
    capacity: usize,
    /// Most recently used last.
    entries: Mutex<Vec<(K, V)>>,
}

impl<K: PartialEq, V: Clone> Recent<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), entries: Mutex::new(Vec::new()) }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let position = entries.iter().position(|(k, _)| k == key)?;
        let entry = entries.remove(position);
        let value = entry.1.clone();
        entries.push(entry);
        Some(value)
    }

    /// Keeps `value` for `key`, forgetting the least recently used entry beyond capacity.
    pub fn insert(&self, key: K, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|(k, _)| *k != key);
        entries.push((key, value));
        if entries.len() > self.capacity {
            entries.remove(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Recent;

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let cache = Recent::new(2);
        cache.insert("a", 1);
        cache.insert("b", 2);
        assert_eq!(cache.get(&"a"), Some(1));
        cache.insert("c", 3);
        assert_eq!(cache.get(&"b"), None);
        assert_eq!(cache.get(&"a"), Some(1));
        assert_eq!(cache.get(&"c"), Some(3));
    }

    #[test]
    fn inserting_a_key_again_replaces_its_value() {
        let cache = Recent::new(2);
        cache.insert("a", 1);
        cache.insert("a", 2);
        cache.insert("b", 3);
        assert_eq!(cache.get(&"a"), Some(2));
        assert_eq!(cache.get(&"b"), Some(3));
    }
}
