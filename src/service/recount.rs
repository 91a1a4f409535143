//! The recount: a wave's counters checked against its raw answers (`/verify`), and rebuilt
//! from them for waves stored before counters existed.
//!
//! The check reads answers cell by cell, so it holds the counts of one leaf cell, of the
//! roll-ups of the localities it is inside, and of the whole wave: a finished cell is kept
//! only as a digest. Before, it held every cell's counts at once, 2.3 GB for 100,000
//! answers of SIPAS 2023 (about 1,000 counters per cell).

use crate::domain::answers::ValidAnswers;
use crate::domain::form::{Form, FormRegistry};
use crate::domain::locality::LocalityTree;
use crate::domain::tally::{self, Layout};
use crate::service::results::{ANSWERS_PAGE, each_stored_answer};
use crate::storage::tallies::GrowingTable;
use crate::storage::tallies::{CellCounts, CellKey, RawAnswer, roll_up};
use crate::storage::{Database, StorageError, StorageResult};
use serde::Serialize;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

#[derive(Debug, Serialize)]
pub struct Verification {
    pub consistent: bool,
    pub responses_stored: u64,
    pub responses_counted: u64,
    /// The first differences found, as "level/locality/agency/channel: …".
    pub differences: Vec<String>,
}

/// A cell reduced to what the comparison needs: its answers and a 64-bit digest of its
/// counts in their stored encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CellDigest {
    responses: u64,
    counts: u64,
}

impl CellDigest {
    fn of(cell: &CellCounts) -> Self {
        let mut hasher = DefaultHasher::new();
        cell.tally.encode().hash(&mut hasher);
        CellDigest { responses: cell.responses, counts: hasher.finish() }
    }
}

/// Recounts every answer of a wave from the raw rows and compares with the stored leaf
/// cells; then checks every roll-up against the sum of the recounted leaves (under the
/// current locality tree for an open wave; a closed wave keeps the roll-ups of the tree it
/// closed under, so there only the whole-wave rows are checked). Stored cells are read one
/// at a time.
pub fn verify_counters(db: &Database, form: &Form, wave_id: &str, open: bool) -> StorageResult<Verification> {
    let mut layout = Layout::clone(&*db.tally_layout(wave_id)?);
    layout.extend_for(form);
    let tree = if open { Some(db.current_tree()?) } else { None };
    let answered = db.answered_localities(wave_id)?;
    let mut recount = Recount::new(form, &layout, tree.as_deref(), &answered);
    db.refresh_statistics(GrowingTable::Responses)?;
    let mut after: Option<RawAnswer> = None;
    loop {
        let page = db.raw_answers_by_cell_after(wave_id, after.as_ref(), ANSWERS_PAGE)?;
        let Some(last) = page.last().cloned() else { break };
        for (_, locality, agency, channel, _, answers) in page {
            let valid = ValidAnswers::from_stored(form, &answers).map_err(|e| StorageError::Corrupt(e.to_string()))?;
            recount.add((tally::LEAF.to_string(), locality, agency, channel), &valid);
        }
        after = Some(last);
    }
    let (responses_stored, mut expected) = recount.finish();

    let mut differences = Vec::new();
    let empty = CellDigest::of(&CellCounts::default());
    let mut compare = |key: &CellKey, live: Option<CellDigest>, expected: Option<CellDigest>| {
        let (live, expected) = (live.unwrap_or(empty), expected.unwrap_or(empty));
        if live != expected && differences.len() < 20 {
            let counts = if live.counts != expected.counts { " (counts differ)" } else { "" };
            differences.push(format!(
                "{}/{}/{}/{}: counters {} answers, recount {}{counts}",
                key.0, key.1, key.2, key.3, live.responses, expected.responses
            ));
        }
    };
    let mut responses_counted = 0;
    db.each_cell(wave_id, true, None, |key, live| {
        responses_counted += live.responses;
        compare(&key, Some(CellDigest::of(&live)), expected.remove(&key));
    })?;
    db.each_cell(wave_id, false, None, |key, live| {
        if open || key.0 == tally::WHOLE {
            compare(&key, Some(CellDigest::of(&live)), expected.remove(&key));
        }
    })?;
    // What the recount found and no stored cell holds.
    for (key, missing) in &expected {
        compare(key, None, Some(*missing));
    }
    Ok(Verification {
        consistent: differences.is_empty() && responses_counted == responses_stored,
        responses_stored,
        responses_counted,
        differences,
    })
}

/// Counts answers read cell by cell. A leaf cell is finished when the next one begins; a
/// locality's roll-ups when the last answered locality beneath it is; the whole wave's at
/// the end. Finished cells are kept as digests.
struct Recount<'a> {
    form: &'a Form,
    layout: &'a Layout,
    tree: Option<&'a LocalityTree>,
    /// Per answered locality, the localities (itself and above) whose roll-ups it is the
    /// last in reading order to feed.
    finishing: HashMap<String, Vec<String>>,
    leaf: Option<(CellKey, CellCounts)>,
    /// Roll-ups still being counted, by their locality (`""` for the whole wave).
    open: HashMap<String, HashMap<CellKey, CellCounts>>,
    finished: BTreeMap<CellKey, CellDigest>,
    answers: u64,
}

impl<'a> Recount<'a> {
    /// `answered`: the wave's answered localities in the order answers are read.
    fn new(form: &'a Form, layout: &'a Layout, tree: Option<&'a LocalityTree>, answered: &[String]) -> Self {
        let mut last_feeder: HashMap<&str, &str> = HashMap::new();
        for locality in answered {
            for ancestor in tree.map(|t| t.ancestors(locality)).unwrap_or_default() {
                last_feeder.insert(&ancestor.code, locality);
            }
        }
        let mut finishing: HashMap<String, Vec<String>> = HashMap::new();
        for (ancestor, feeder) in last_feeder {
            finishing.entry(feeder.to_string()).or_default().push(ancestor.to_string());
        }
        Recount {
            form,
            layout,
            tree,
            finishing,
            leaf: None,
            open: HashMap::new(),
            finished: BTreeMap::new(),
            answers: 0,
        }
    }

    fn add(&mut self, leaf: CellKey, answers: &ValidAnswers) {
        let previous = self.leaf.as_ref().filter(|(key, _)| *key != leaf).map(|(key, _)| key.1.clone());
        if let Some(previous) = previous {
            self.finish_leaf();
            if previous != leaf.1 {
                self.finish_locality(&previous);
            }
        }
        let (_, counts) = self.leaf.get_or_insert_with(|| (leaf, CellCounts::default()));
        counts.responses += 1;
        for (slot, n) in tally::increments(self.form, self.layout, answers) {
            counts.tally.add(slot, n);
        }
        self.answers += 1;
    }

    /// Adds the current leaf to its roll-ups.
    fn finish_leaf(&mut self) {
        let Some((key, counts)) = self.leaf.take() else { return };
        let (_, locality, agency, channel) = &key;
        let chain: Vec<(String, String)> = self
            .tree
            .map(|t| t.ancestors(locality).into_iter().map(|l| (l.code.clone(), l.level.clone())).collect())
            .unwrap_or_default();
        for rollup in tally::rollup_keys(locality, agency, &chain).into_iter().skip(1) {
            let cells = self.open.entry(rollup.locality.clone()).or_default();
            cells.entry((rollup.level, rollup.locality, rollup.agency, channel.clone())).or_default().merge(&counts);
        }
        self.finished.insert(key, CellDigest::of(&counts));
    }

    /// Finishes the roll-ups `locality` was the last to feed, once its answers are read.
    fn finish_locality(&mut self, locality: &str) {
        for ancestor in self.finishing.remove(locality).unwrap_or_default() {
            for (key, counts) in self.open.remove(&ancestor).unwrap_or_default() {
                self.finished.insert(key, CellDigest::of(&counts));
            }
        }
    }

    /// The number of answers read and every cell's digest.
    fn finish(mut self) -> (u64, BTreeMap<CellKey, CellDigest>) {
        self.finish_leaf();
        for (key, counts) in self.open.drain().flat_map(|(_, cells)| cells) {
            self.finished.insert(key, CellDigest::of(&counts));
        }
        (self.answers, self.finished)
    }
}

/// Leaf cells of a wave recounted from its raw answers.
fn recount_leaves(
    db: &Database,
    form: &Form,
    wave_id: &str,
    layout: &Layout,
) -> StorageResult<BTreeMap<CellKey, CellCounts>> {
    let mut leaves: BTreeMap<CellKey, CellCounts> = BTreeMap::new();
    each_stored_answer(db, form, wave_id, |(_, locality, agency, channel, _, _), valid| {
        let leaf = leaves.entry((tally::LEAF.to_string(), locality, agency, channel)).or_default();
        leaf.responses += 1;
        for (slot, n) in tally::increments(form, layout, &valid) {
            leaf.tally.add(slot, n);
        }
    })?;
    Ok(leaves)
}

/// Rebuilds from raw answers the tallies of waves that have none: waves answered before
/// tallies replaced the old counters. Run at start-up.
pub fn rebuild_missing_tallies(db: &Database, forms: &FormRegistry) -> StorageResult<()> {
    for wave in db.waves_without_tallies()? {
        let Some(form_hash) = db.wave(&wave)?.map(|w| w.form_hash) else { continue };
        let form = super::forms::wave_form(db, forms, &form_hash)?;
        let mut layout = Layout::default();
        layout.extend_for(&form);
        let leaves = recount_leaves(db, &form, &wave, &layout)?;
        let tree = db.current_tree()?;
        let cells = roll_up(&leaves, |code| {
            Ok(tree.ancestors(code).into_iter().map(|l| (l.code.clone(), l.level.clone())).collect())
        })?;
        db.replace_cells(&wave, &layout, &cells)?;
        tracing::info!(wave, cells = cells.len(), "result tallies rebuilt from raw answers");
    }
    Ok(())
}
