//! What results are computed from: per wave, an ordered list of counters (the layout) and,
//! per group of answers, one number per counter (a `Tally`), stored compactly.
//!
//! The layout is append-only and stored with the wave, so editing a form file later never
//! reinterprets counts already stored: slots keep their positions and new ones are added
//! at the end. A tally holds, for every item:
//! - one slot per option (missing "không trả lời" options included, so their counts are
//!   kept even though no index counts them);
//! - `(item, ANSWERED)`: answers with at least one non-missing code (a share's denominator);
//!
//! and for every pair of share indices that some mean index averages (directly or through
//! other means), the sums over respondents of the products of their per-respondent hits and
//! valid answers (`Σ hᵢhⱼ`, `Σ hᵢvⱼ`, `Σ vᵢvⱼ`): with the per-index sums of h and v these
//! give the linearised variance of a mean of shares, within each stratum.
//!
//! The stratum of an answer is its cell (leaf locality × agency), and its channel is part of
//! the cell's key, so both are kept by where a tally is stored, not in the tally.

use crate::domain::answers::{self, ANSWERED, ValidAnswers};
use crate::domain::form::{Form, IndexRule};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// One per-respondent quantity of a share index: positive answers or valid answers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "of", content = "index", rename_all = "lowercase")]
pub enum Part {
    Hits(String),
    Valid(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "slot", rename_all = "lowercase")]
pub enum Slot {
    /// Answers that chose `code` for `item`.
    Option { item: String, code: String },
    /// Answers to `item` with at least one code that is not "missing".
    Answered { item: String },
    /// Σ over respondents of `left × right`.
    Product { left: Part, right: Part },
}

/// A factor of a product slot: a part (its position in `Layout::part_ids`) and whether it is
/// the part's positive answers (else its valid ones).
type Factor = (usize, bool);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    slots: Vec<Slot>,
    positions: HashMap<Slot, usize>,
    /// Per item, its slots found by borrowed strings: every answer counted looks up each of
    /// its codes, and building a `Slot` key for each allocated twice per look-up.
    items: HashMap<String, ItemSlots>,
    /// The share indices products read, each once: an answer's parts are computed once and
    /// its products found by position (SIPAS 2023 has about 800 products over 40 parts, and
    /// finding each part by name was most of counting an answer).
    part_ids: Vec<String>,
    /// Per product slot: its position, then its two factors.
    products: Vec<(usize, Factor, Factor)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ItemSlots {
    options: HashMap<String, usize>,
    answered: Option<usize>,
}

impl Layout {
    pub fn from_slots(slots: Vec<Slot>) -> Self {
        let mut layout = Self::default();
        for slot in slots {
            layout.push(slot);
        }
        layout
    }

    /// Appends `slot` at the end, indexed.
    fn push(&mut self, slot: Slot) {
        let at = self.slots.len();
        match &slot {
            Slot::Option { item, code } => {
                self.items.entry(item.clone()).or_default().options.insert(code.clone(), at);
            }
            Slot::Answered { item } => self.items.entry(item.clone()).or_default().answered = Some(at),
            Slot::Product { left, right } => {
                let factor = |layout: &mut Layout, part: &Part| {
                    let (id, hits) = match part {
                        Part::Hits(id) => (id, true),
                        Part::Valid(id) => (id, false),
                    };
                    let known = layout.part_ids.iter().position(|p| p == id);
                    let index = known.unwrap_or_else(|| {
                        layout.part_ids.push(id.clone());
                        layout.part_ids.len() - 1
                    });
                    (index, hits)
                };
                let (left, right) = (factor(self, left), factor(self, right));
                self.products.push((at, left, right));
            }
        }
        self.positions.insert(slot.clone(), at);
        self.slots.push(slot);
    }

    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn position(&self, slot: &Slot) -> Option<usize> {
        self.positions.get(slot).copied()
    }

    pub fn option(&self, item: &str, code: &str) -> Option<usize> {
        self.items.get(item)?.options.get(code).copied()
    }

    /// The slot of `item`'s answers with a code that is not "missing".
    pub fn answered(&self, item: &str) -> Option<usize> {
        self.items.get(item)?.answered
    }

    /// Appends the slots `form` needs that the layout lacks; whether any was added.
    pub fn extend_for(&mut self, form: &Form) -> bool {
        let before = self.slots.len();
        for slot in slots_of(form) {
            if !self.positions.contains_key(&slot) {
                self.push(slot);
            }
        }
        self.slots.len() > before
    }

    /// Whether every slot `form` needs is in the layout.
    pub fn covers(&self, form: &Form) -> bool {
        slots_of(form).iter().all(|s| self.positions.contains_key(s))
    }
}

/// The slots a form needs, in the form's order.
fn slots_of(form: &Form) -> Vec<Slot> {
    let mut slots = Vec::new();
    for item in form.items.iter().filter(|i| !i.is_text()) {
        for option in &item.options {
            slots.push(Slot::Option { item: item.id.clone(), code: option.code.clone() });
        }
        slots.push(Slot::Answered { item: item.id.clone() });
    }
    for (left, right) in product_pairs(form) {
        slots.push(Slot::Product { left, right });
    }
    slots
}

/// The share indices a mean index averages, through nested means, with their weights.
pub fn mean_parts(form: &Form, index: &str) -> BTreeMap<String, f64> {
    let mut parts = BTreeMap::new();
    add_parts(form, index, 1.0, &mut parts, 0);
    parts
}

fn add_parts(form: &Form, index: &str, weight: f64, parts: &mut BTreeMap<String, f64>, depth: usize) {
    let Some(definition) = form.indices.iter().find(|i| i.id == index) else { return };
    match &definition.rule {
        IndexRule::Share { .. } => *parts.entry(index.to_string()).or_default() += weight,
        // Forms are validated acyclic; the depth bound only keeps a bad one from recursing forever.
        IndexRule::Mean { of } if depth <= form.indices.len() && !of.is_empty() => {
            for part in of {
                add_parts(form, part, weight / of.len() as f64, parts, depth + 1);
            }
        }
        IndexRule::Mean { .. } => {}
    }
}

/// Every (left, right) product a mean index's interval needs, each once: for shares i ≤ j
/// of one mean, hᵢhⱼ and vᵢvⱼ, and hᵢvⱼ for all ordered pairs.
fn product_pairs(form: &Form) -> Vec<(Part, Part)> {
    let mut pairs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for index in form.indices.iter().filter(|i| matches!(i.rule, IndexRule::Mean { .. })) {
        let shares: Vec<String> = mean_parts(form, &index.id).into_keys().collect();
        for (a, i) in shares.iter().enumerate() {
            for (b, j) in shares.iter().enumerate() {
                let mut wanted = vec![(Part::Hits(i.clone()), Part::Valid(j.clone()))];
                if a <= b {
                    wanted.push((Part::Hits(i.clone()), Part::Hits(j.clone())));
                    wanted.push((Part::Valid(i.clone()), Part::Valid(j.clone())));
                }
                for pair in wanted {
                    if seen.insert(pair.clone()) {
                        pairs.push(pair);
                    }
                }
            }
        }
    }
    pairs
}

/// Per-respondent hits and valid answers of a share index.
fn share_parts(form: &Form, index: &str, answers: &ValidAnswers) -> (u64, u64) {
    let Some(IndexRule::Share { items, positive }) = form.indices.iter().find(|i| i.id == index).map(|i| &i.rule)
    else {
        return (0, 0);
    };
    let (mut hits, mut valid) = (0, 0);
    for id in items {
        let (Some(item), Some(answer)) = (form.item(id), answers.get(id)) else { continue };
        let codes = answer.codes();
        if codes.iter().any(|c| item.option(c).is_some_and(|o| !o.missing)) {
            valid += 1;
        }
        hits += codes.iter().filter(|c| positive.contains(c)).count() as u64;
    }
    (hits, valid)
}

/// What one answer adds to its tallies, as (slot, amount). The same function serves the
/// live counters and the full recount, so the two can only disagree if storage does.
/// Slots the layout lacks are skipped: the writer extends the layout before counting.
pub fn increments(form: &Form, layout: &Layout, answers: &ValidAnswers) -> Vec<(usize, u64)> {
    let mut out = Vec::new();
    for (item, code) in answers::tallies(form, answers) {
        let slot = if code == ANSWERED { layout.answered(item) } else { layout.option(item, code) };
        out.extend(slot.map(|s| (s, 1)));
    }
    if layout.products.is_empty() {
        return out;
    }
    let parts: Vec<(u64, u64)> = layout.part_ids.iter().map(|id| share_parts(form, id, answers)).collect();
    let value = |(part, hits): (usize, bool)| if hits { parts[part].0 } else { parts[part].1 };
    for &(position, left, right) in &layout.products {
        let product = value(left) * value(right);
        if product > 0 {
            out.push((position, product));
        }
    }
    out
}

/// Counts of one group of answers, one per slot of the wave's layout (missing ones are 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally(Vec<u64>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored counts are not a valid encoding")]
pub struct DecodeError;

impl Tally {
    /// Every slot's count up to the last one stored (slots beyond are 0).
    pub fn counts(&self) -> &[u64] {
        &self.0
    }

    pub fn get(&self, slot: usize) -> u64 {
        self.0.get(slot).copied().unwrap_or(0)
    }

    pub fn add(&mut self, slot: usize, n: u64) {
        if self.0.len() <= slot {
            self.0.resize(slot + 1, 0);
        }
        self.0[slot] += n;
    }

    pub fn merge(&mut self, other: &Tally) {
        let common = self.0.len().min(other.0.len());
        for (mine, theirs) in self.0.iter_mut().zip(&other.0[..common]) {
            *mine += theirs;
        }
        // Copied rather than zeroed then added: most groups of a results call are one cell.
        self.0.extend_from_slice(&other.0[common..]);
    }

    /// `merge` of a tally no longer needed: taken whole when this one is still empty, as it
    /// is for most groups of a results call (one cell each).
    pub fn merge_owned(&mut self, other: Tally) {
        if self.0.is_empty() {
            *self = other;
        } else {
            self.merge(&other);
        }
    }

    /// LEB128 varints, one per slot, trailing zeros left out: a zero costs one byte and
    /// counts below 128 one byte each.
    pub fn encode(&self) -> Vec<u8> {
        let used = self.0.iter().rposition(|&n| n != 0).map_or(0, |i| i + 1);
        let mut out = Vec::with_capacity(used + used / 4);
        for &n in &self.0[..used] {
            let mut n = n;
            while n >= 0x80 {
                out.push((n as u8 & 0x7f) | 0x80);
                n >>= 7;
            }
            out.push(n as u8);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_first(bytes, usize::MAX)
    }

    /// Only the first `slots` counts. Results need the option counts, not the products an
    /// interval needs, which the layout keeps after them: a national commune-level answer
    /// decodes some 20,000 cells, and their products are most of each cell.
    pub fn decode_first(bytes: &[u8], slots: usize) -> Result<Self, DecodeError> {
        let mut counts = Vec::with_capacity(bytes.len().min(slots));
        let mut at = 0;
        while counts.len() < slots {
            if let Some(eight) = bytes.get(at..at + 8) {
                let word = u64::from_le_bytes(eight.try_into().expect("eight bytes"));
                // Bit 7 of each byte that another byte of its count follows.
                let continued = word & 0x8080_8080_8080_8080;
                // The counts below 128 the word starts with, at once: most of a cell's counts
                // are, and decoding is a tenth of a commune-level results call.
                let singles = (continued.trailing_zeros() as usize / 8).min(slots - counts.len());
                if singles > 0 {
                    counts.extend(eight[..singles].iter().map(|&b| u64::from(b)));
                    at += singles;
                    continue;
                }
                // Else one count of up to eight bytes without a branch per byte: the cells of a
                // district, a province or an agency hold mostly counts of two bytes.
                let ends = !word & 0x8080_8080_8080_8080;
                if ends != 0 {
                    let length = ends.trailing_zeros() as usize / 8 + 1;
                    let value = match length {
                        2 => (word & 0x7f) | ((word >> 1) & 0x3f80),
                        _ => {
                            let bytes_of = if length == 8 { word } else { word & ((1 << (8 * length)) - 1) };
                            (0..8).fold(0, |value, i| value | ((bytes_of >> i) & (0x7f << (7 * i))))
                        }
                    };
                    counts.push(value);
                    at += length;
                    continue;
                }
            }
            let Some(&first) = bytes.get(at) else { break };
            at += 1;
            if first < 0x80 {
                counts.push(u64::from(first));
                continue;
            }
            // Within the last eight bytes, or a count longer than eight bytes (checked here).
            let (mut value, mut shift) = (u64::from(first & 0x7f), 7u32);
            loop {
                let &byte = bytes.get(at).ok_or(DecodeError)?;
                at += 1;
                if shift > 63 || (shift == 63 && byte & 0x7e != 0) {
                    return Err(DecodeError);
                }
                value |= u64::from(byte & 0x7f) << shift;
                if byte < 0x80 {
                    break;
                }
                shift += 7;
            }
            counts.push(value);
        }
        Ok(Self(counts))
    }
}

/// Where a cell's counts are added up: the leaf cell itself, every ancestor at its level
/// with and without the agency, and the whole wave with and without it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RollupKey {
    /// `LEAF` for the cell itself, `WHOLE` for the whole wave, else a locality level.
    pub level: String,
    pub locality: String,
    /// `ALL_AGENCIES` for every agency together; `""` for answers without an agency.
    pub agency: String,
}

pub const LEAF: &str = "";
pub const WHOLE: &str = "*";
pub const ALL_AGENCIES: &str = "*";

/// The rows a leaf cell's counts go into; `chain` is the leaf locality and its ancestors
/// as (code, level), from the leaf up.
pub fn rollup_keys(leaf: &str, agency: &str, chain: &[(String, String)]) -> Vec<RollupKey> {
    let key = |level: &str, locality: &str, agency: &str| RollupKey {
        level: level.into(),
        locality: locality.into(),
        agency: agency.into(),
    };
    let mut keys = vec![key(LEAF, leaf, agency)];
    for (code, level) in chain {
        keys.push(key(level, code, agency));
        keys.push(key(level, code, ALL_AGENCIES));
    }
    keys.push(key(WHOLE, "", agency));
    keys.push(key(WHOLE, "", ALL_AGENCIES));
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::form::parse_form;
    use proptest::prelude::*;
    use serde_json::json;

    fn form(extra_item: bool) -> Form {
        let sat = json!([{"code": "4", "label": "4"}, {"code": "5", "label": "5"}, {"code": "1", "label": "1"},
                         {"code": "0", "label": "Không trả lời", "missing": true}]);
        let mut items = vec![
            json!({"id": "a", "section": "s", "kind": "satisfaction", "text": "A", "scale": "sat"}),
            json!({"id": "b", "section": "s", "kind": "satisfaction", "text": "B", "scale": "sat"}),
            json!({"id": "note", "section": "s", "kind": "text", "text": "N"}),
        ];
        if extra_item {
            items.push(json!({"id": "c", "section": "s", "kind": "satisfaction", "text": "C", "scale": "sat"}));
        }
        let json = json!({
            "id": "t", "version": "1", "title": "T", "scales": {"sat": sat},
            "sections": [{"id": "s", "title": "S"}], "items": items,
            "indices": [
                {"id": "sipas", "label": "M", "rule": "mean", "of": ["ia", "ib"]},
                {"id": "ia", "label": "A", "rule": "share", "items": ["a"], "positive": ["4", "5"]},
                {"id": "ib", "label": "B", "rule": "share", "items": ["b"], "positive": ["5"]}
            ]
        });
        parse_form("t.json", &json.to_string(), None).unwrap()
    }

    fn answers(form: &Form, pairs: &[(&str, &str)]) -> ValidAnswers {
        let given = pairs.iter().map(|(k, v)| (k.to_string(), vec![v.to_string()])).collect();
        answers::validate(form, &given).unwrap()
    }

    #[test]
    fn layout_lists_options_missing_ones_included_answered_and_mean_products() {
        let f = form(false);
        let mut layout = Layout::default();
        assert!(layout.extend_for(&f));
        // a and b: 4 options + answered each; the text item has none.
        assert_eq!(layout.option("a", "0"), Some(3));
        assert_eq!(layout.position(&Slot::Answered { item: "b".into() }), Some(9));
        // Mean of two shares: hv for 4 ordered pairs, hh and vv for 3 unordered ones.
        let products = layout.slots().iter().filter(|s| matches!(s, Slot::Product { .. })).count();
        assert_eq!(products, 4 + 3 + 3);
        assert!(!layout.extend_for(&f), "a second pass adds nothing");
    }

    #[test]
    fn a_new_form_version_appends_and_never_moves_stored_slots() {
        let mut layout = Layout::default();
        layout.extend_for(&form(false));
        let before = layout.slots().to_vec();
        assert!(!layout.covers(&form(true)));
        assert!(layout.extend_for(&form(true)));
        assert_eq!(&layout.slots()[..before.len()], &before[..]);
        assert!(layout.option("c", "5").unwrap() >= before.len());
        // Stored as JSON and read back, the layout is the same.
        let stored = serde_json::to_string(layout.slots()).unwrap();
        assert_eq!(Layout::from_slots(serde_json::from_str(&stored).unwrap()), layout);
    }

    #[test]
    fn increments_count_codes_missing_answers_and_per_respondent_products() {
        let f = form(false);
        let mut layout = Layout::default();
        layout.extend_for(&f);
        let mut tally = Tally::default();
        for (slot, n) in increments(&f, &layout, &answers(&f, &[("a", "5"), ("b", "0")])) {
            tally.add(slot, n);
        }
        for (slot, n) in increments(&f, &layout, &answers(&f, &[("a", "1"), ("b", "5")])) {
            tally.add(slot, n);
        }
        assert_eq!(tally.get(layout.option("a", "5").unwrap()), 1);
        assert_eq!(tally.get(layout.option("b", "0").unwrap()), 1, "missing answers are counted");
        assert_eq!(tally.get(layout.position(&Slot::Answered { item: "a".into() }).unwrap()), 2);
        assert_eq!(tally.get(layout.position(&Slot::Answered { item: "b".into() }).unwrap()), 1);
        let product = |l: Part, r: Part| tally.get(layout.position(&Slot::Product { left: l, right: r }).unwrap());
        // Respondent 1: ha=1 va=1 hb=0 vb=0; respondent 2: ha=0 va=1 hb=1 vb=1.
        assert_eq!(product(Part::Hits("ia".into()), Part::Valid("ib".into())), 0);
        assert_eq!(product(Part::Hits("ib".into()), Part::Valid("ia".into())), 1);
        assert_eq!(product(Part::Valid("ia".into()), Part::Valid("ib".into())), 1);
        assert_eq!(product(Part::Valid("ia".into()), Part::Valid("ia".into())), 2);
        assert_eq!(product(Part::Hits("ia".into()), Part::Hits("ib".into())), 0);
    }

    #[test]
    fn nested_means_weigh_their_shares() {
        let json = json!({
            "id": "t", "version": "1", "title": "T",
            "sections": [{"id": "s", "title": "S"}],
            "items": [{"id": "a", "section": "s", "kind": "satisfaction", "text": "A",
                       "options": [{"code": "1", "label": "1"}]}],
            "indices": [
                {"id": "sipas", "label": "T", "rule": "mean", "of": ["inner", "z"]},
                {"id": "inner", "label": "I", "rule": "mean", "of": ["x", "y"]},
                {"id": "x", "label": "X", "rule": "share", "items": ["a"], "positive": ["1"]},
                {"id": "y", "label": "Y", "rule": "share", "items": ["a"], "positive": ["1"]},
                {"id": "z", "label": "Z", "rule": "share", "items": ["a"], "positive": ["1"]}
            ]
        });
        let f = parse_form("t.json", &json.to_string(), None).unwrap();
        let parts = mean_parts(&f, "sipas");
        assert_eq!(parts.into_iter().collect::<Vec<_>>(), [("x".into(), 0.25), ("y".into(), 0.25), ("z".into(), 0.5)]);
    }

    #[test]
    fn encoding_round_trips_hand_checked_bytes() {
        let mut tally = Tally::default();
        tally.add(0, 1);
        tally.add(2, 300);
        tally.add(6, 0);
        assert_eq!(tally.encode(), [1, 0, 0xac, 0x02]);
        assert_eq!(Tally::decode(&tally.encode()).unwrap(), Tally(vec![1, 0, 300]));
        assert_eq!(Tally::decode(&[]).unwrap(), Tally::default());
        assert_eq!(Tally::decode_first(&tally.encode(), 2).unwrap(), Tally(vec![1, 0]), "the first two only");
        assert_eq!(Tally::decode_first(&tally.encode(), 9).unwrap(), Tally(vec![1, 0, 300]));
        assert_eq!(Tally::decode(&[0x80]), Err(DecodeError), "a cut-off varint is refused");
        assert_eq!(Tally::decode(&[0xff; 11]), Err(DecodeError), "more than 64 bits is refused");
    }

    #[test]
    fn rollup_keys_cover_leaf_ancestors_and_whole_wave_with_and_without_agency() {
        let chain = [("09190".to_string(), "commune".to_string()), ("256".into(), "district".into())];
        let keys = rollup_keys("09190", "ubnd", &chain);
        assert_eq!(keys.len(), 1 + 4 + 2);
        assert_eq!(keys[0], RollupKey { level: LEAF.into(), locality: "09190".into(), agency: "ubnd".into() });
        assert!(keys.contains(&RollupKey { level: "district".into(), locality: "256".into(), agency: "*".into() }));
        assert!(keys.contains(&RollupKey { level: WHOLE.into(), locality: "".into(), agency: "ubnd".into() }));
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(counts in proptest::collection::vec(any::<u64>(), 0..64)) {
            let tally = Tally(counts.clone());
            let decoded = Tally::decode(&tally.encode()).unwrap();
            for (i, n) in counts.iter().enumerate() {
                prop_assert_eq!(decoded.get(i), *n);
            }
            prop_assert!(decoded.0.len() <= counts.len());
        }

        #[test]
        fn the_first_slots_of_mostly_small_counts_decode_as_stored(
            counts in proptest::collection::vec(
                prop_oneof![9 => 0u64..128, 1 => any::<u64>(), 3 => (any::<u64>(), 7u32..64).prop_map(|(n, s)| n >> s)],
                0..200,
            ),
            slots in 0usize..220,
        ) {
            // Runs of eight one-byte counts take the fast path, counts of one to eight bytes
            // one at a time from a word, longer ones and the last bytes byte by byte.
            let tally = Tally(counts.clone());
            let decoded = Tally::decode_first(&tally.encode(), slots).unwrap();
            prop_assert!(decoded.0.len() <= slots);
            for (i, n) in counts.iter().enumerate().take(slots) {
                prop_assert_eq!(decoded.get(i), *n);
            }
        }

        #[test]
        fn merge_equals_adding_every_increment(
            a in proptest::collection::vec((0usize..40, 0u64..1_000_000), 0..50),
            b in proptest::collection::vec((0usize..40, 0u64..1_000_000), 0..50),
        ) {
            let (mut left, mut right, mut both) = (Tally::default(), Tally::default(), Tally::default());
            for &(slot, n) in &a { left.add(slot, n); both.add(slot, n); }
            for &(slot, n) in &b { right.add(slot, n); both.add(slot, n); }
            let mut merged = Tally::decode(&left.encode()).unwrap();
            merged.merge(&Tally::decode(&right.encode()).unwrap());
            prop_assert_eq!(merged.encode(), both.encode());
            // The same taking tallies whole, into an empty one first.
            let mut owned = Tally::default();
            owned.merge_owned(Tally::decode(&left.encode()).unwrap());
            owned.merge_owned(Tally::decode(&right.encode()).unwrap());
            prop_assert_eq!(owned.encode(), both.encode());
        }
    }
}
