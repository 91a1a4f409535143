//! The identity keys an import's kept contacts have claimed, each with the line that claimed
//! it first: what later lines are merged into. Keys are 64-bit hashes, uniform already, so
//! an open-addressing table indexed by their top bits holds them in 12 bytes a slot, at most
//! three quarters full: a million-row list with a phone and an email a row takes 48 MiB
//! (72 MiB for the moment it doubles), a list at the row limit with three keys a row
//! 192 MiB (288 MiB while doubling).

/// Slots a new table starts with (a power of two).
const FIRST_SLOTS: usize = 1 << 12;

#[derive(Debug)]
pub struct ClaimedKeys {
    /// A power of two of slots; 0 marks an empty one (key 0 is kept aside in `zero`).
    keys: Vec<u64>,
    lines: Vec<u32>,
    /// Keys in `keys`.
    len: usize,
    zero: Option<u32>,
}

impl Default for ClaimedKeys {
    fn default() -> Self {
        Self { keys: vec![0; FIRST_SLOTS], lines: vec![0; FIRST_SLOTS], len: 0, zero: None }
    }
}

impl ClaimedKeys {
    /// The line that claimed `key`, if any did.
    pub fn line_of(&self, key: u64) -> Option<usize> {
        if key == 0 {
            return self.zero.map(|line| line as usize);
        }
        let mask = self.keys.len() - 1;
        let mut slot = self.home(key);
        loop {
            match self.keys[slot] {
                0 => return None,
                k if k == key => return Some(self.lines[slot] as usize),
                _ => slot = (slot + 1) & mask,
            }
        }
    }

    /// Claims `key` for `line` unless an earlier line did.
    pub fn claim(&mut self, key: u64, line: usize) {
        // Lines are bounded by the row limit, far below 2^32.
        let line = u32::try_from(line).expect("a line number fits 32 bits");
        if key == 0 {
            self.zero.get_or_insert(line);
            return;
        }
        if (self.len + 1) * 4 > self.keys.len() * 3 {
            self.grow();
        }
        if self.insert(key, line) {
            self.len += 1;
        }
    }

    fn home(&self, key: u64) -> usize {
        (key >> (64 - self.keys.len().trailing_zeros())) as usize
    }

    /// Whether `key` was new.
    fn insert(&mut self, key: u64, line: u32) -> bool {
        let mask = self.keys.len() - 1;
        let mut slot = self.home(key);
        loop {
            match self.keys[slot] {
                0 => {
                    self.keys[slot] = key;
                    self.lines[slot] = line;
                    return true;
                }
                k if k == key => return false,
                _ => slot = (slot + 1) & mask,
            }
        }
    }

    fn grow(&mut self) {
        let slots = self.keys.len() * 2;
        let keys = std::mem::replace(&mut self.keys, vec![0; slots]);
        let lines = std::mem::replace(&mut self.lines, vec![0; slots]);
        for (key, line) in keys.into_iter().zip(lines).filter(|(key, _)| *key != 0) {
            self.insert(key, line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn the_first_claim_of_a_key_holds_through_growth() {
        let mut claimed = ClaimedKeys::default();
        // Keys crowded in a few home slots and spread ones, across several growths.
        let keys: Vec<u64> =
            (1..50_000u64).map(|i| if i % 2 == 0 { i } else { i.wrapping_mul(0x9E37_79B9_7F4A_7C15) }).collect();
        for (line, key) in keys.iter().enumerate() {
            claimed.claim(*key, line + 2);
        }
        for (line, key) in keys.iter().enumerate() {
            claimed.claim(*key, 1_000_000);
            assert_eq!(claimed.line_of(*key), Some(line + 2));
        }
        assert_eq!(claimed.line_of(0), None);
        claimed.claim(0, 7);
        claimed.claim(0, 9);
        assert_eq!(claimed.line_of(0), Some(7), "key 0 is a key like any other");
        assert_eq!(claimed.line_of(u64::MAX), None);
        assert!(claimed.keys.len() >= 65_536, "grew to hold them: {}", claimed.keys.len());
    }

    proptest! {
        #[test]
        fn claims_are_those_a_map_keeping_the_first_line_holds(keys in proptest::collection::vec(any::<u64>(), 0..3_000)) {
            let mut claimed = ClaimedKeys::default();
            let mut map = HashMap::new();
            for (line, key) in keys.iter().enumerate() {
                claimed.claim(*key, line);
                map.entry(*key).or_insert(line);
            }
            for key in &keys {
                prop_assert_eq!(claimed.line_of(*key), map.get(key).copied());
            }
            prop_assert_eq!(claimed.line_of(12345), map.get(&12345).copied());
        }
    }
}
