//! Crosstabs: every index of a wave broken down by the categories of a background item
//! (gender, age band, occupation, respondent kind, procedure field), for the whole wave, for
//! each agency and for each locality of a chosen level. Background items are not among the
//! tallies' cells, so the breakdown is counted from the raw answers, read in chunks by id.
//!
//! Answers are counted per place (their locality, or its ancestor at the finest level kept)
//! and agency. The level kept is the finest whose counts fit the budget
//! (`PHIEU_CROSSTAB_MEMORY_MB`), judged by what has been read: memory follows the places and
//! categories, not the answers, and a national wave may be broken down by province or
//! district only.
//!
//! Figures are pooled and unweighted. Disclosure control decides each item's table at once,
//! whoever asks and whatever level is shown: every place, every locality above them and the
//! whole wave, each with every agency and with all agencies together. The cells of one
//! locality and one agency count as published (an agency officer sees its own agency by
//! locality), which also covers every way a locality's row and an agency's row can be
//! subtracted from each other: an agency serving one commune is that commune's row. A row's
//! total is hidden wherever the wave's own tables hide it, and never hidden where they
//! publish it.

use crate::domain::answers::ValidAnswers;
use crate::domain::form::{Form, Item};
use crate::domain::indices::{Figure, IndexPlan};
use crate::domain::locality::LocalityTree;
use crate::domain::tally::{self, Tally};
use crate::domain::wave::DeskFilter;
use crate::service::disclosure::{Breakdown, Counted, Suppression, hide_in_breakdown};
use crate::service::recent::Recent;
use crate::service::results::{AgencyRef, LocalityRef, ResultsQuery, each_stored_answer};
use crate::storage::waves::Wave;
use crate::storage::{Database, StorageError};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// A row of a crosstab: everyone, one option's respondents, or those who left it blank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Total,
    /// The option's position in the item's options.
    Option(usize),
    Blank,
}

#[derive(Debug)]
pub struct CrosstabRow {
    pub category: Category,
    pub responses: u64,
    /// In the form's order of indices.
    pub figures: Vec<Figure>,
}

/// One item's crosstab for the whole wave or one locality (`locality: None` for the whole
/// wave), over every agency (`agency: None`) or one.
#[derive(Debug)]
pub struct CrosstabGroup {
    pub locality: Option<LocalityRef>,
    pub agency: Option<AgencyRef>,
    pub rows: Vec<CrosstabRow>,
}

#[derive(Debug)]
pub struct Crosstab {
    pub item_id: String,
    pub groups: Vec<CrosstabGroup>,
}

#[derive(Debug, thiserror::Error)]
pub enum CrosstabError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The level asked is not one of the wave's locality tree: `levels` are.
    #[error("no such level")]
    UnknownLevel { levels: Vec<String> },
    /// The wave has too many places to keep their counts at the level asked; `finest` is
    /// the finest level kept (`None`: none).
    #[error("counts are kept down to {finest:?} only")]
    TooFine { finest: Option<String> },
}

/// Answers and tallies per category (the item's options, then blank) of one group: what its
/// figures are computed from.
type Tallies = Vec<(u64, Tally)>;

/// Answers counted per category of one group: what disclosure control reads.
type Counts = Vec<Counted>;

/// The waves' crosstab counts computed recently: a crosstab reads and scores every answer
/// (about 20 s at a million), so its counts are kept while the wave's answers stay the same.
pub struct CrosstabCounts {
    kept: Recent<(String, Option<String>), Arc<WaveCounts>>,
    /// What one wave's counts per place may take, as estimated from their sizes; beyond it,
    /// places are merged into their parents' (then into the whole wave).
    budget: usize,
}

impl CrosstabCounts {
    pub fn new(budget: usize) -> Self {
        CrosstabCounts { kept: Recent::new(CROSSTABS_KEPT), budget }
    }
}

/// Waves (or agencies' views of them) whose crosstab counts are kept in memory.
const CROSSTABS_KEPT: usize = 4;

/// Place × agency pairs an item's table may be decided over: the decision's cost grows
/// faster than its size. A national 100,000-answer SIPAS 2017 wave kept at district level
/// (3,687 pairs) took minutes for its first crosstab; SIPAS 2023 at province level (1,804
/// pairs) 19 s for every item.
const MAX_PAIRS: usize = 2_500;

/// Answers read between two looks at the budget.
const BUDGET_EVERY: u64 = 2_000;

/// Every crosstab item's counts of one wave, as one asker may see them.
pub struct WaveCounts {
    /// The wave's answers when they were counted.
    responses: u64,
    /// The items that split respondents, in the form's order.
    item_ids: Vec<String>,
    /// The level answers were counted at; `None`: the whole wave and its agencies only.
    finest: Option<String>,
    /// Per place and agency code, per item, its counts. A place is `""` for answers above
    /// the levels kept or outside the tree, an agency `""` for answers without one.
    base: BTreeMap<(String, String), Vec<Counts>>,
    /// Per place, per item, the tallies of the answers the asker may see: all, or its
    /// agency's.
    shown: BTreeMap<String, Vec<Tallies>>,
    /// Per item, its disclosure pattern and the wave's answers when the suppression it
    /// respects was decided. Patterns do not depend on who asks.
    patterns: Mutex<HashMap<String, (u64, Arc<ItemPattern>)>>,
}

/// One item's table through disclosure control: where the cells of each (locality, agency)
/// row begin (`""` for the whole wave, `tally::ALL_AGENCIES` for every agency), each row its
/// total then its categories, and per cell, per index, whether its figure is hidden.
struct ItemPattern {
    rows: BTreeMap<(String, String), usize>,
    width: usize,
    hidden: Vec<Vec<bool>>,
}

impl ItemPattern {
    fn row(&self, locality: &str, agency: &str) -> Option<&[Vec<bool>]> {
        let start = *self.rows.get(&(locality.to_string(), agency.to_string()))?;
        self.hidden.get(start..start + self.width)
    }
}

/// The items a crosstab can break indices down by: single-choice questions about the
/// respondent.
pub fn crosstab_items(form: &Form) -> Vec<&Item> {
    form.items.iter().filter(|i| i.splits_respondents()).collect()
}

/// The crosstabs of `items` (each splitting respondents) that `query` may see: an agency
/// officer's own agency only, everyone else every agency together; the whole wave, and each
/// locality of `query.level` when one is asked. Every agency and locality is in each table's
/// disclosure control whoever asks; only the rows shown get figures.
pub fn crosstabs(
    db: &Database,
    form: &Form,
    wave: &Wave,
    items: &[&Item],
    query: &ResultsQuery,
    suppression: &Suppression,
    cache: &CrosstabCounts,
) -> Result<Vec<Crosstab>, CrosstabError> {
    let plan = IndexPlan::new(form, &*db.tally_layout(&wave.id)?);
    let tree = db.wave_tree(wave)?;
    let levels = tree.levels_top_down();
    let asked_level = match query.level.as_deref() {
        Some(level) if !levels.iter().any(|l| l == level) => return Err(CrosstabError::UnknownLevel { levels }),
        asked => asked,
    };
    let shown = query.agency_scope.clone();
    let responses = db.wave_responses(&wave.id)?;
    let key = (wave.id.clone(), shown.clone());
    let reading = Reading { db, form, wave_id: &wave.id, plan: &plan, tree: &tree, budget: cache.budget };
    let counts = match cache.kept.get(&key).filter(|c| c.responses == responses) {
        Some(counts) => counts,
        None => {
            let counts = Arc::new(count(&reading, shown.as_deref(), responses)?);
            cache.kept.insert(key, counts.clone());
            counts
        }
    };
    if let Some(level) = asked_level {
        let rank = |level: &str| levels.iter().position(|l| l == level);
        if counts.finest.as_deref().and_then(rank).is_none_or(|finest| rank(level) > Some(finest)) {
            return Err(CrosstabError::TooFine { finest: counts.finest.clone() });
        }
    }
    let agency = match &shown {
        None => None,
        Some(code) => {
            let name = db.all_agencies()?.into_iter().find(|a| &a.code == code).map(|a| a.name);
            Some(AgencyRef { code: code.clone(), name: name.unwrap_or_default() })
        }
    };
    let agency_key = shown.as_deref().unwrap_or(tally::ALL_AGENCIES);
    let min_cell = suppression.min_cell();
    let mut tables = Vec::new();
    for item in items {
        let Some(k) = counts.item_ids.iter().position(|id| *id == item.id) else { continue };
        let pattern = counts.pattern(k, &reading, suppression);
        let mut groups = Vec::new();
        let whole = counts.shown_within(k, |_| Some(String::new()));
        for (code, tallies) in
            whole.iter().chain(&asked_level.map(|level| counts.shown_at(k, &tree, level)).unwrap_or_default())
        {
            let Some(hidden) = pattern.row(code, agency_key) else { continue };
            let locality = tree.get(code).map(|l| LocalityRef {
                code: l.code.clone(),
                name: l.name.clone(),
                level: l.level.clone(),
            });
            let rows = table_rows(tallies, figures_of(&plan, tallies, hidden, min_cell));
            groups.push(CrosstabGroup { locality, agency: agency.clone(), rows });
        }
        tables.push(Crosstab { item_id: item.id.clone(), groups });
    }
    Ok(tables)
}

/// The figures of a group's rows (the total, then each category) under its pattern.
fn figures_of(plan: &IndexPlan, tallies: &Tallies, hidden: &[Vec<bool>], min_cell: u64) -> Vec<Vec<Figure>> {
    let mut total = (0, Tally::default());
    for (n, tally) in tallies {
        total.0 += n;
        total.1.merge(tally);
    }
    std::iter::once(&total)
        .chain(tallies)
        .zip(hidden)
        .map(|((n, tally), hidden)| {
            let mut figures = plan.compute(tally, *n);
            hide_in_breakdown(&mut figures, hidden, min_cell);
            figures
        })
        .collect()
}

impl WaveCounts {
    /// Item `k`'s tallies shown, summed per group `group_of` puts each place in (`None`:
    /// none).
    fn shown_within(&self, k: usize, group_of: impl Fn(&str) -> Option<String>) -> BTreeMap<String, Tallies> {
        let mut groups: BTreeMap<String, Tallies> = BTreeMap::new();
        for (place, items) in &self.shown {
            let Some(group) = group_of(place) else { continue };
            match groups.get_mut(&group) {
                Some(sum) => add_tallies(sum, &items[k]),
                None => drop(groups.insert(group, items[k].clone())),
            }
        }
        groups
    }

    /// Item `k`'s tallies shown for each locality at `level` (places above it belong to
    /// none).
    fn shown_at(&self, k: usize, tree: &LocalityTree, level: &str) -> BTreeMap<String, Tallies> {
        self.shown_within(k, |place| tree.ancestor_at_level(place, level).map(|l| l.code.clone()))
    }

    /// Item `k`'s table through disclosure control, decided once while the suppression it
    /// respects stays the same.
    fn pattern(&self, k: usize, reading: &Reading, suppression: &Suppression) -> Arc<ItemPattern> {
        let id = &self.item_ids[k];
        let kept = self.patterns.lock().unwrap_or_else(|e| e.into_inner()).get(id).cloned();
        match kept.filter(|(decided_at, _)| *decided_at == suppression.responses) {
            Some((_, pattern)) => pattern,
            None => {
                let pattern = Arc::new(self.decide(k, reading, suppression));
                let kept = (suppression.responses, pattern.clone());
                self.patterns.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), kept);
                pattern
            }
        }
    }

    /// Item `k`'s table: a row per locality (every place and everything above it, the whole
    /// wave as `""`) and agency (each, and all together), plus a row for the answers of a
    /// locality itself beside its children's; tied by each row's total over its categories,
    /// each locality's agencies adding up to all agencies, and each locality's children and
    /// own answers adding up to it, in every category. Rows that are the same answers (an
    /// agency of one province is that province's row of it and the whole wave's) are one row:
    /// a relation of one part would otherwise double the table.
    fn decide(&self, k: usize, reading: &Reading, suppression: &Suppression) -> ItemPattern {
        let Reading { form, plan, tree, .. } = *reading;
        let mut counts: BTreeMap<RowKey, Counts> = BTreeMap::new();
        let mut own: BTreeMap<RowKey, Counts> = BTreeMap::new();
        let mut children: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for ((place, agency), items) in &self.base {
            let mut chain: Vec<String> = tree.ancestors(place).into_iter().map(|l| l.code.clone()).collect();
            chain.push(String::new());
            for agency in [agency.as_str(), tally::ALL_AGENCIES] {
                add_counts(&mut own, RowKey::own(place, agency), &items[k]);
                for locality in &chain {
                    add_counts(&mut counts, RowKey::of(locality, agency), &items[k]);
                }
            }
            for pair in chain.windows(2) {
                children.entry(pair[1].clone()).or_default().insert(pair[0].clone());
            }
        }
        // A locality's own answers are a row of their own only beside children's.
        counts.extend(own.into_iter().filter(|(key, _)| children.contains_key(&key.locality)));

        let mut relations: Vec<(RowKey, Vec<RowKey>)> = Vec::new();
        let mut agencies: BTreeMap<RowKey, Vec<RowKey>> = BTreeMap::new();
        for key in counts.keys().filter(|key| key.agency != tally::ALL_AGENCIES) {
            agencies
                .entry(RowKey { agency: tally::ALL_AGENCIES.to_string(), ..key.clone() })
                .or_default()
                .push(key.clone());
        }
        relations.extend(agencies);
        for key in counts.keys().filter(|key| !key.own) {
            let Some(below) = children.get(&key.locality) else { continue };
            let parts = below
                .iter()
                .map(|child| RowKey::of(child, &key.agency))
                .chain([RowKey::own(&key.locality, &key.agency)])
                .filter(|part| counts.contains_key(part));
            relations.push((key.clone(), parts.collect()));
        }
        // Rows tied by a relation of one part are the same answers.
        let mut same = Aliases::default();
        for (total, parts) in &relations {
            if let [part] = parts.as_slice() {
                same.join(total, part);
            }
        }

        let width = self.base.values().next().map_or(1, |items| items[k].len() + 1);
        let mut cells: Vec<Counted> = Vec::new();
        let mut starts: BTreeMap<RowKey, usize> = BTreeMap::new();
        for key in counts.keys() {
            let first = same.first(key);
            let start = match starts.get(&first) {
                Some(&start) => start,
                None => {
                    let row = &counts[&first];
                    let start = cells.len();
                    let mut total = row[0].clone();
                    row[1..].iter().for_each(|c| total.add(c));
                    cells.push(total);
                    cells.extend(row.iter().cloned());
                    starts.insert(first, start);
                    start
                }
            };
            starts.insert(key.clone(), start);
        }
        let mut sums: Vec<(usize, Vec<usize>)> = Vec::new();
        for (total, parts) in &relations {
            let total = starts[total];
            let parts: BTreeSet<usize> = parts.iter().map(|p| starts[p]).filter(|&p| p != total).collect();
            if !parts.is_empty() {
                for j in 0..width {
                    sums.push((total + j, parts.iter().map(|p| p + j).collect()));
                }
            }
        }
        let rows_once: BTreeSet<usize> = starts.values().copied().collect();
        for &start in &rows_once {
            sums.push((start, (start + 1..start + width).collect()));
        }

        // Each row's total as the wave's own tables publish it; a row that is several
        // localities' or agencies' is hidden only where all of them are.
        let mut elsewhere: Vec<Option<Vec<bool>>> = vec![None; cells.len()];
        for (key, &start) in &starts {
            let level = match tree.get(&key.locality) {
                _ if key.own => tally::LEAF,
                Some(locality) => locality.level.as_str(),
                None => tally::WHOLE,
            };
            if key.own && !suppression.has_own_cell(DeskFilter::Include, &key.locality, &key.agency) {
                continue;
            }
            let mut figures: Vec<Figure> =
                cells[start].valid_counts(plan).into_iter().map(|n| Figure { n, ..Figure::default() }).collect();
            suppression.apply(DeskFilter::Include, level, &key.locality, &key.agency, &mut figures);
            let hidden: Vec<bool> = figures.iter().map(|f| f.suppressed).collect();
            elsewhere[start] = Some(match elsewhere[start].take() {
                Some(before) => before.iter().zip(&hidden).map(|(a, b)| *a && *b).collect(),
                None => hidden,
            });
        }
        let breakdown = Breakdown { cells: cells.iter().collect(), sums, elsewhere };
        let hidden = breakdown.hidden(form, plan, suppression.min_cell());
        let rows =
            starts.into_iter().filter(|(key, _)| !key.own).map(|(key, start)| ((key.locality, key.agency), start));
        ItemPattern { rows: rows.collect(), width, hidden }
    }
}

/// A row of an item's table: a locality's answers (`own`: those of the locality itself,
/// beside its children's) with an agency.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RowKey {
    locality: String,
    agency: String,
    own: bool,
}

impl RowKey {
    fn of(locality: &str, agency: &str) -> Self {
        RowKey { locality: locality.to_string(), agency: agency.to_string(), own: false }
    }

    fn own(locality: &str, agency: &str) -> Self {
        RowKey { locality: locality.to_string(), agency: agency.to_string(), own: true }
    }
}

/// Rows known to be the same answers, each set named by its first row.
#[derive(Default)]
struct Aliases {
    parent: BTreeMap<RowKey, RowKey>,
}

impl Aliases {
    fn first(&self, key: &RowKey) -> RowKey {
        let mut key = key;
        while let Some(parent) = self.parent.get(key) {
            key = parent;
        }
        key.clone()
    }

    fn join(&mut self, a: &RowKey, b: &RowKey) {
        let (a, b) = (self.first(a), self.first(b));
        match a.cmp(&b) {
            std::cmp::Ordering::Less => drop(self.parent.insert(b, a)),
            std::cmp::Ordering::Greater => drop(self.parent.insert(a, b)),
            std::cmp::Ordering::Equal => {}
        }
    }
}

fn add_counts(map: &mut BTreeMap<RowKey, Counts>, key: RowKey, counts: &Counts) {
    match map.get_mut(&key) {
        Some(sum) => sum.iter_mut().zip(counts).for_each(|(s, c)| s.add(c)),
        None => drop(map.insert(key, counts.clone())),
    }
}

fn add_tallies(sum: &mut Tallies, tallies: &Tallies) {
    for ((n, tally), (m, other)) in sum.iter_mut().zip(tallies) {
        *n += m;
        tally.merge(other);
    }
}

/// The levels answers can be counted at, finest kept first to go.
struct Places<'t> {
    tree: &'t LocalityTree,
    levels: Vec<String>,
    /// The level kept, as a position in `levels`; `None`: none.
    finest: Option<usize>,
    /// Each answer locality's place, while `finest` stays.
    known: HashMap<String, String>,
}

impl<'t> Places<'t> {
    fn new(tree: &'t LocalityTree) -> Self {
        let levels = tree.levels_top_down();
        let finest = levels.len().checked_sub(1);
        Places { tree, levels, finest, known: HashMap::new() }
    }

    /// `locality` itself or its nearest ancestor at a level kept; `""` when there is none.
    fn place_of(&mut self, locality: &str) -> String {
        if let Some(place) = self.known.get(locality) {
            return place.clone();
        }
        let place = self.finest.map_or_else(String::new, |finest| {
            let kept = |level: &str| self.levels.iter().position(|l| l == level).is_some_and(|r| r <= finest);
            self.tree
                .ancestors(locality)
                .into_iter()
                .find(|l| kept(&l.level))
                .map_or_else(String::new, |l| l.code.clone())
        });
        self.known.insert(locality.to_string(), place.clone());
        place
    }

    fn coarsen(&mut self) {
        self.finest = self.finest.and_then(|f| f.checked_sub(1));
        self.known.clear();
    }

    fn finest_level(&self) -> Option<String> {
        self.finest.map(|f| self.levels[f].clone())
    }
}

/// Counts per place and agency, and tallies shown per place, being read.
struct Counting<'t> {
    places: Places<'t>,
    base: HashMap<(String, String), Vec<Counts>>,
    shown: HashMap<String, Vec<Tallies>>,
    /// Estimated bytes of one (place, agency)'s counts, and of one place's tallies.
    per_pair: usize,
    per_place: usize,
}

impl<'t> Counting<'t> {
    /// Nothing counted yet; `per_pair` and `per_place` are the estimated bytes of one
    /// (place, agency)'s counts and of one place's tallies.
    fn new(tree: &'t LocalityTree, per_pair: usize, per_place: usize) -> Self {
        Counting { places: Places::new(tree), base: HashMap::new(), shown: HashMap::new(), per_pair, per_place }
    }

    /// Merges places into their parents' until the counts fit the budget and the tables
    /// `MAX_PAIRS`. Counts only grow as answers are read, so the level kept at the end is
    /// the finest that fits all of them, whatever the order they came in.
    fn fit(&mut self, budget: usize) {
        loop {
            let places: BTreeSet<&str> = self.base.keys().map(|(place, _)| place.as_str()).collect();
            let size = self.base.len() * self.per_pair + places.len() * self.per_place;
            if (size <= budget && self.base.len() <= MAX_PAIRS) || self.places.finest.is_none() {
                return;
            }
            self.places.coarsen();
            let places = &mut self.places;
            self.base = regroup(
                std::mem::take(&mut self.base),
                |(place, agency)| (places.place_of(place), agency.clone()),
                |sum, items| {
                    for (sum, counts) in sum.iter_mut().zip(items) {
                        sum.iter_mut().zip(counts).for_each(|(s, c)| s.add(c));
                    }
                },
            );
            self.shown = regroup(
                std::mem::take(&mut self.shown),
                |place| places.place_of(place),
                |sum, items| {
                    sum.iter_mut().zip(items).for_each(|(s, t)| add_tallies(s, t));
                },
            );
        }
    }
}

/// `map`'s entries under their new `key`, those that now share one merged by `merge`.
fn regroup<K: Eq + std::hash::Hash, V>(
    map: HashMap<K, V>,
    mut key: impl FnMut(&K) -> K,
    merge: impl Fn(&mut V, &V),
) -> HashMap<K, V> {
    let mut regrouped: HashMap<K, V> = HashMap::with_capacity(map.len());
    for (old, value) in map {
        match regrouped.entry(key(&old)) {
            std::collections::hash_map::Entry::Occupied(mut sum) => merge(sum.get_mut(), &value),
            std::collections::hash_map::Entry::Vacant(slot) => drop(slot.insert(value)),
        }
    }
    regrouped
}

/// What the counts are read from and the tables decided over, and the memory the counts may
/// take.
#[derive(Clone, Copy)]
struct Reading<'a> {
    db: &'a Database,
    form: &'a Form,
    wave_id: &'a str,
    plan: &'a IndexPlan<'a>,
    tree: &'a LocalityTree,
    budget: usize,
}

/// Every crosstab item's counts, from the raw answers: per place and agency what disclosure
/// control reads, and per place the full tallies of the answers `shown` (an agency's, or
/// all).
fn count(reading: &Reading, shown: Option<&str>, responses: u64) -> Result<WaveCounts, CrosstabError> {
    let Reading { db, form, wave_id, plan, tree, budget } = *reading;
    let items = crosstab_items(form);
    let layout = db.tally_layout(wave_id)?;
    let slots = plan.slots_read();
    let category = |item: &Item, answers: &ValidAnswers| {
        let chosen = answers.get(&item.id).and_then(|a| a.codes().first());
        chosen.and_then(|c| item.options.iter().position(|o| &o.code == c)).unwrap_or(item.options.len())
    };
    let categories: usize = items.iter().map(|i| i.options.len() + 1).sum();
    let empty_tallies: Vec<Tallies> = items.iter().map(|i| vec![(0, Tally::default()); i.options.len() + 1]).collect();
    let empty: Vec<Counts> = items.iter().map(|i| vec![Counted::none(plan); i.options.len() + 1]).collect();
    let mut counting =
        Counting::new(tree, categories * Counted::size(plan.indices()) + 64, categories * (8 * slots + 48) + 64);
    let mut read = 0u64;
    each_stored_answer(db, form, wave_id, |(_, locality, agency, _, _, _), answers| {
        // The answer's few increments, added as they are to each shown category: merging a
        // whole one-answer tally (about 1,000 slots for SIPAS 2023) into each cost 5× more.
        let increments: Vec<(usize, u64)> =
            tally::increments(form, &layout, &answers).into_iter().filter(|&(slot, _)| slot < slots).collect();
        let mut one = Tally::default();
        increments.iter().for_each(|&(slot, n)| one.add(slot, n));
        let counted = Counted::of(plan, &one, 1);
        let place = counting.places.place_of(&locality);
        let mut tallies = shown
            .is_none_or(|code| code == agency)
            .then(|| counting.shown.entry(place.clone()).or_insert_with(|| empty_tallies.clone()));
        let cells = counting.base.entry((place, agency)).or_insert_with(|| empty.clone());
        for (k, item) in items.iter().enumerate() {
            let c = category(item, &answers);
            cells[k][c].add(&counted);
            if let Some(tallies) = tallies.as_mut() {
                let (n, tally) = &mut tallies[k][c];
                *n += 1;
                increments.iter().for_each(|&(slot, by)| tally.add(slot, by));
            }
        }
        read += 1;
        if read.is_multiple_of(BUDGET_EVERY) {
            counting.fit(budget);
        }
    })?;
    counting.fit(budget);
    Ok(WaveCounts {
        responses,
        item_ids: items.iter().map(|i| i.id.clone()).collect(),
        finest: counting.places.finest_level(),
        base: counting.base.into_iter().collect(),
        shown: counting.shown.into_iter().collect(),
        patterns: Mutex::new(HashMap::new()),
    })
}

/// A group's rows: the total, each option, then the blank ones when there are any.
fn table_rows(cells: &Tallies, figures: Vec<Vec<Figure>>) -> Vec<CrosstabRow> {
    let blank = cells.len() - 1;
    let responses = |c: usize| cells[c].0;
    let mut figures = figures.into_iter();
    let total = CrosstabRow {
        category: Category::Total,
        responses: cells.iter().map(|(n, _)| n).sum(),
        figures: figures.next().unwrap_or_default(),
    };
    let mut rows = vec![total];
    for (c, figures) in figures.enumerate() {
        let category = if c == blank { Category::Blank } else { Category::Option(c) };
        if c != blank || responses(c) > 0 {
            rows.push(CrosstabRow { category, responses: responses(c), figures });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::locality::two_district_province as tree;

    /// One answer's tallies: a single category.
    fn one() -> Vec<Tallies> {
        vec![vec![(1, Tally::default())]]
    }

    #[test]
    fn counts_are_kept_at_the_finest_level_that_fits_and_merged_into_their_parents() {
        let tree = tree();
        // Sizes of one (place, agency) and one place of 1: the budget counts them.
        let mut counting = Counting::new(&tree, 1, 1);
        let answers = [
            ("00001", "AG1"),
            ("00002", "AG1"),
            ("00003", "AG2"),
            ("001", "AG1"),
            ("00002", "AG1"),
            ("elsewhere", "AG1"),
        ];
        for (locality, agency) in answers {
            let place = counting.places.place_of(locality);
            counting.base.entry((place.clone(), agency.into())).or_default();
            match counting.shown.get_mut(&place) {
                Some(sum) => add_tallies(&mut sum[0], &one()[0]),
                None => drop(counting.shown.insert(place, one())),
            }
        }
        let pairs = |c: &Counting| c.base.keys().cloned().collect::<BTreeSet<(String, String)>>();
        let answers_at = |c: &Counting, place: &str| c.shown.get(place).map(|items| items[0][0].0);
        // Communes: 5 pairs at 5 places (a district's own answers, and "" outside the tree).
        counting.fit(10);
        assert_eq!(counting.places.finest_level().as_deref(), Some("commune"));
        assert_eq!(answers_at(&counting, "00002"), Some(2));

        counting.fit(9);
        assert_eq!(counting.places.finest_level().as_deref(), Some("district"));
        let expected = [("", "AG1"), ("001", "AG1"), ("002", "AG2")].map(|(p, a)| (p.to_string(), a.to_string()));
        assert_eq!(pairs(&counting), expected.into());
        assert_eq!(answers_at(&counting, "001"), Some(4), "its communes' answers and its own");

        counting.fit(5);
        assert_eq!(counting.places.finest_level().as_deref(), Some("province"));
        assert_eq!(answers_at(&counting, "01"), Some(5));
        assert_eq!(counting.places.place_of("00003"), "01", "answers read from now on go there too");

        counting.fit(3);
        assert_eq!(counting.places.finest_level(), None);
        assert_eq!(answers_at(&counting, ""), Some(6));
        assert_eq!(pairs(&counting).len(), 2, "the whole wave per agency: what is always kept");
    }

    #[test]
    fn tables_of_too_many_place_and_agency_pairs_are_kept_at_a_coarser_level() {
        let tree = tree();
        let mut counting = Counting::new(&tree, 1, 1);
        // As many agencies as the cap in one district, one of them in the other district
        // too: one pair too many below the province, however much memory there is.
        for agency in 0..MAX_PAIRS {
            counting.base.insert((counting.places.place_of("00001"), format!("AG{agency}")), Vec::new());
        }
        counting.base.insert((counting.places.place_of("00003"), "AG0".into()), Vec::new());
        counting.fit(usize::MAX);
        assert_eq!(counting.places.finest_level().as_deref(), Some("province"));
        assert_eq!(counting.base.len(), MAX_PAIRS);
    }
}
