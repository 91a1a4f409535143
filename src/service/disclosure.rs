//! The one suppression step every output of a wave goes through (the results API, the
//! pages, exports): a figure on fewer than k valid answers is hidden, and so are enough others
//! that no hidden figure can be recovered by subtraction — a parent minus its children, a
//! locality's whole minus its agencies, all answers minus those from desk codes. Counts of
//! forms stay published: a count reveals no answer.
//!
//! The pattern is decided over every table the wave can publish (each level, with and
//! without agencies, each desk split), whatever one request asks for, so that no two
//! requests together give away what each hides.
//!
//! Item distributions (how many chose each option) reveal answers too: each choice item's
//! valid answers are a column decided over the same cube. An item is hidden wherever an index
//! on it is, and such an index wherever its item is: either published alone would give the
//! other away (a yes/no item's counts are its index).

use crate::domain::disclosure::{Relation, RelationIndex};
use crate::domain::distribution::{Distribution, DistributionPlan};
use crate::domain::form::{Form, IndexRule};
use crate::domain::indices::{Figure, IndexPlan};
use crate::domain::locality::LocalityTree;
use crate::domain::tally::{self, Tally, mean_parts};
use crate::domain::wave::{Channel, DeskFilter};
use crate::storage::tallies::GrowingTable;
use crate::storage::{Database, StorageResult};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

/// The last suppression pattern of the waves asked about most recently, and when each was
/// decided (a national wave's pattern holds thousands of cells).
pub type SuppressionCache = Arc<crate::service::recent::Recent<String, (Instant, Arc<Suppression>)>>;

/// Waves whose suppression pattern is kept in memory.
pub const SUPPRESSIONS_KEPT: usize = 16;

/// A cell of the published cube: (desk split, level, locality, agency).
type CubeKey = (DeskFilter, String, String, String);

/// Which figures of a wave are hidden.
#[derive(Debug, Default)]
pub struct Suppression {
    min_cell: u64,
    /// For cells with a hidden figure: per index (the form's order), whether it is hidden.
    hidden: HashMap<CubeKey, Vec<bool>>,
    /// The cells of answers invited at a locality itself, beneath which other localities
    /// have answers too: what a table one level down shows as that locality's own row.
    own_cells: HashSet<CubeKey>,
    /// For cells with a hidden item distribution: per choice item (the form's order),
    /// whether it is hidden.
    hidden_items: HashMap<CubeKey, Vec<bool>>,
    /// The wave's answers when the pattern was decided.
    pub responses: u64,
}

impl Suppression {
    /// Hides the figures of one cell (`level` is `tally::WHOLE` for the whole wave, `agency`
    /// `tally::ALL_AGENCIES` for every agency together).
    pub fn apply(&self, desk: DeskFilter, level: &str, locality: &str, agency: &str, figures: &mut [Figure]) {
        let key = (desk, level.to_string(), locality.to_string(), agency.to_string());
        // The threshold itself is applied to the figure as it is now: an open wave's
        // pattern may be a little older than its latest answers.
        hide_figures(figures, self.hidden.get(&key).map(Vec::as_slice), self.min_cell);
    }

    pub fn min_cell(&self) -> u64 {
        self.min_cell
    }

    /// Whether answers invited at `locality` itself have a cell of their own (the part of the
    /// locality's cell its children leave out), published by a table of a lower level at
    /// level `tally::LEAF`; without one, the locality's own cell is that row.
    pub fn has_own_cell(&self, desk: DeskFilter, locality: &str, agency: &str) -> bool {
        self.own_cells.contains(&(desk, tally::LEAF.to_string(), locality.to_string(), agency.to_string()))
    }

    /// Whether the wave's tables hide a figure of the answers of `locality` (its cell, and
    /// the row of its own answers) with `agency`, or of the locality's every agency
    /// together: microdata rows placed there would give it away. Item distributions are
    /// not asked: an item hidden for its few answers (a follow-up question) would otherwise
    /// send nearly every place up to the whole wave.
    pub fn hides_a_figure_of(&self, tree: &LocalityTree, locality: &str, agency: &str) -> bool {
        let level = match locality {
            "" => tally::WHOLE,
            code => tree.get(code).map_or(tally::LEAF, |l| l.level.as_str()),
        };
        let levels = if locality.is_empty() { vec![level] } else { vec![level, tally::LEAF] };
        let hides = |level: &str, agency: &str| {
            let key = (DeskFilter::Include, level.to_string(), locality.to_string(), agency.to_string());
            self.hidden.get(&key).is_some_and(|h| h.contains(&true))
        };
        levels.iter().any(|level| [agency, tally::ALL_AGENCIES].iter().any(|agency| hides(level, agency)))
    }

    /// Hides the item distributions of one cell, as `apply` does its figures.
    pub fn apply_items(&self, desk: DeskFilter, level: &str, locality: &str, agency: &str, items: &mut [Distribution]) {
        let key = (desk, level.to_string(), locality.to_string(), agency.to_string());
        let hidden = self.hidden_items.get(&key);
        for (i, item) in items.iter_mut().enumerate() {
            let small = 0 < item.answered && item.answered < self.min_cell;
            if small || hidden.is_some_and(|h| h[i]) {
                item.hide();
            }
        }
    }
}

/// Hides figures on fewer than `min_cell` valid answers and those `hidden` marks (per index);
/// a hidden figure keeps its `n` only.
fn hide_figures(figures: &mut [Figure], hidden: Option<&[bool]>, min_cell: u64) {
    for (i, figure) in figures.iter_mut().enumerate() {
        let small = 0 < figure.n && figure.n < min_cell;
        if small || hidden.is_some_and(|h| h[i]) {
            *figure = Figure { n: figure.n, suppressed: true, ..Figure::default() };
        }
    }
}

/// What disclosure control reads of a group of answers: how many, and per index its valid
/// answers (shares only: these add up over groups) and positive ones. 32 bits each (a
/// wave's answers fit): crosstabs keep one per place, agency and category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub responses: u64,
    share_valid: Vec<u32>,
    hits: Vec<u32>,
}

impl Counted {
    pub fn none(plan: &IndexPlan) -> Self {
        Self { responses: 0, share_valid: vec![0; plan.indices()], hits: vec![0; plan.indices()] }
    }

    pub fn of(plan: &IndexPlan, tally: &Tally, responses: u64) -> Self {
        Self { responses, share_valid: narrow(plan.share_valid_counts(tally)), hits: narrow(plan.hit_counts(tally)) }
    }

    pub fn add(&mut self, other: &Counted) {
        self.responses += other.responses;
        let theirs = other.share_valid.iter().chain(&other.hits);
        for (a, b) in self.share_valid.iter_mut().chain(self.hits.iter_mut()).zip(theirs) {
            *a = a.saturating_add(*b);
        }
    }

    /// Every index's `n`, as the figures of these answers would have it.
    pub fn valid_counts(&self, plan: &IndexPlan) -> Vec<u64> {
        let mut counts: Vec<u64> = self.share_valid.iter().map(|&n| u64::from(n)).collect();
        plan.complete_mean_counts(&mut counts, self.responses);
        counts
    }

    /// Bytes one takes for a form of `indices` indices, its allocations included.
    pub fn size(indices: usize) -> usize {
        std::mem::size_of::<Counted>() + 2 * 4 * indices + 32
    }
}

/// A table beside the wave's cube: its cells' counts, the sums that tie them
/// (`total = Σ parts`), and which of its cells' figures are published hidden elsewhere.
pub struct Breakdown<'t> {
    pub cells: Vec<&'t Counted>,
    pub sums: Vec<(usize, Vec<usize>)>,
    /// For a cell the wave's own tables publish too (a total), per index: whether they hide
    /// it. A figure published there is never hidden here: that would protect nothing.
    pub elsewhere: Vec<Option<Vec<bool>>>,
}

impl Breakdown<'_> {
    /// Per cell, per index, whether disclosure control hides its figure: small cells, and
    /// enough others that no sum of the table recovers a hidden figure, nor a figure hidden
    /// elsewhere. Where a total published elsewhere is 0% or 100%, its parts are known all
    /// the same: that is already published, so no bound rule hides it here.
    pub fn hidden(&self, form: &Form, plan: &IndexPlan, min_cell: u64) -> Vec<Vec<bool>> {
        let mut cube = Cube { keys: Vec::new(), cells: Vec::new(), positions: HashMap::new(), relations: Vec::new() };
        for counted in &self.cells {
            cube.keys.push(None);
            cube.cells.push(Cell {
                responses: counted.responses,
                counts: narrow(counted.valid_counts(plan)),
                hits: counted.hits.clone(),
                items: Vec::new(),
            });
        }
        for (total, parts) in &self.sums {
            cube.relate(*total, parts.clone(), None);
        }
        let elsewhere = |cell: usize, index: usize| {
            self.elsewhere.get(cell).and_then(Option::as_ref).and_then(|h| h.get(index)).copied()
        };
        decide(&cube, form, None, min_cell, &elsewhere).hidden
    }
}

/// Hides the figures of a cell of a table beside the cube: those `hidden` marks (as
/// [`Breakdown::hidden`] decided), and any under the threshold.
pub fn hide_in_breakdown(figures: &mut [Figure], hidden: &[bool], min_cell: u64) {
    hide_figures(figures, Some(hidden), min_cell);
}

/// One cell's answers, valid and positive answers per index, and per choice item its valid
/// answers then each substantive option's count (at the item's range of `items`). Counts are
/// 32 bits (a wave's answers fit): a national cube has a quarter of a million cells, and
/// these are most of each.
#[derive(Clone)]
struct Cell {
    responses: u64,
    counts: Vec<u32>,
    hits: Vec<u32>,
    items: Vec<u32>,
}

/// Counts as a cube keeps them.
fn narrow(counts: Vec<u64>) -> Vec<u32> {
    counts.into_iter().map(|n| u32::try_from(n).unwrap_or(u32::MAX)).collect()
}

impl Cell {
    fn add(&mut self, other: &Cell) {
        self.responses += other.responses;
        let theirs = other.counts.iter().chain(&other.hits);
        for (a, b) in self
            .counts
            .iter_mut()
            .chain(self.hits.iter_mut())
            .chain(self.items.iter_mut())
            .zip(theirs.chain(&other.items))
        {
            *a = a.saturating_add(*b);
        }
    }

    /// What this cell holds beyond `part`, never below zero.
    fn subtract(&mut self, part: &Cell) {
        self.responses -= part.responses.min(self.responses);
        let theirs = part.counts.iter().chain(&part.hits).chain(&part.items);
        for (r, p) in self.counts.iter_mut().chain(self.hits.iter_mut()).chain(self.items.iter_mut()).zip(theirs) {
            *r -= (*p).min(*r);
        }
    }
}

/// The cube's cells and the sums that tie them.
struct Cube {
    keys: Vec<Option<CubeKey>>,
    cells: Vec<Cell>,
    positions: HashMap<CubeKey, usize>,
    relations: Vec<Relation>,
}

impl Cube {
    fn add(&mut self, key: CubeKey, cell: &Cell) {
        match self.positions.get(&key) {
            Some(&at) => self.cells[at].add(cell),
            None => {
                self.positions.insert(key.clone(), self.cells.len());
                self.keys.push(Some(key));
                self.cells.push(cell.clone());
            }
        }
    }

    /// `total = Σ parts`, plus a cell for what the parts leave out (a district's answers
    /// invited at the district itself, say), derivable by subtraction, so protected like the
    /// rest; published under `rest_key` when given.
    fn relate(&mut self, total: usize, parts: Vec<usize>, rest_key: Option<CubeKey>) {
        let mut rest = self.cells[total].clone();
        for &part in &parts {
            rest.subtract(&self.cells[part]);
        }
        let mut parts = parts;
        if rest.responses > 0 || rest.counts.iter().any(|&n| n > 0) {
            parts.push(self.cells.len());
            self.keys.push(rest_key);
            self.cells.push(rest);
        }
        if !parts.is_empty() {
            self.relations.push(Relation { total, parts });
        }
    }
}

/// The wave's suppression under threshold `min_cell`, over the locality `tree` its roll-ups
/// were made with; `desk_split` when results may be split by desk codes.
pub fn wave_suppression(
    db: &Database,
    form: &Form,
    wave_id: &str,
    tree: &LocalityTree,
    desk_split: bool,
    min_cell: u64,
) -> StorageResult<Suppression> {
    let layout = db.tally_layout(wave_id)?;
    let plan = IndexPlan::new(form, &layout);
    let items = DistributionPlan::new(form, &layout);
    let splits: &[DeskFilter] =
        if desk_split { &[DeskFilter::Include, DeskFilter::Exclude, DeskFilter::Only] } else { &[DeskFilter::Include] };
    let mut cube = Cube { keys: Vec::new(), cells: Vec::new(), positions: HashMap::new(), relations: Vec::new() };
    let mut responses = 0;
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let slots = plan.count_slots_read().max(items.slots_read());
    // Deciding runs whenever the answers changed, before the results calls it serves: the
    // place to keep the planner's picture of the cells current.
    db.refresh_statistics(GrowingTable::ResultCells)?;
    db.each_cell(wave_id, false, Some(slots), |(level, locality, agency, channel), stored| {
        if level == tally::WHOLE && agency == tally::ALL_AGENCIES {
            responses += stored.responses;
        }
        let per_item = items.valid_counts(&stored.tally);
        if ranges.is_empty() {
            let mut start = 0;
            for counts in &per_item {
                ranges.push(start..start + counts.len());
                start += counts.len();
            }
        }
        let cell = Cell {
            responses: stored.responses,
            counts: narrow(plan.valid_counts(&stored.tally, stored.responses)),
            hits: narrow(plan.hit_counts(&stored.tally)),
            items: per_item.concat().into_iter().map(|n| u32::try_from(n).unwrap_or(u32::MAX)).collect(),
        };
        let channel = Channel::parse(&channel);
        for &split in splits {
            if channel.is_some_and(|c| split.counts(c)) {
                cube.add((split, level.clone(), locality.clone(), agency.clone()), &cell);
            }
        }
    })?;
    relate_cube(&mut cube, tree, desk_split);

    let ranges = (&items, ranges.as_slice());
    let Decision { hidden, items: item_patterns } = decide(&cube, form, Some(ranges), min_cell, &|_, _| None);
    let own_cells = cube.keys.iter().flatten().filter(|k| k.1 == tally::LEAF).cloned().collect();
    let hidden_items = (0..cube.cells.len())
        .filter_map(|cell| {
            let per_item: Vec<bool> = item_patterns.iter().map(|p| p[cell]).collect();
            Some((cube.keys[cell].clone()?, per_item)).filter(|(_, h)| h.iter().any(|&x| x))
        })
        .collect();
    let hidden = cube
        .keys
        .into_iter()
        .zip(hidden)
        .filter_map(|(key, hidden)| Some((key?, hidden)).filter(|(_, h)| h.iter().any(|&x| x)))
        .collect();
    Ok(Suppression { min_cell, hidden, hidden_items, own_cells, responses })
}

/// A cube's hidden figures, per cell and index (the form's order), and its items' patterns,
/// per choice item and cell.
struct Decision {
    hidden: Vec<Vec<bool>>,
    items: Vec<Vec<bool>>,
}

/// Decides a cube's pattern: per share index over its own valid answers, then the items
/// (when `items` gives their plan and ranges), then each mean wherever one of its shares is
/// hidden. `elsewhere(cell, index)` tells, for a figure another table publishes too,
/// whether that table hides it: a hidden one is protected here like a small cell, so no sum
/// gives it away; a published one is never chosen to hide.
fn decide(
    cube: &Cube,
    form: &Form,
    items: Option<(&DistributionPlan, &[Range<usize>])>,
    min_cell: u64,
    elsewhere: &dyn Fn(usize, usize) -> Option<bool>,
) -> Decision {
    let index = RelationIndex::new(cube.cells.len(), &cube.relations);
    let mut patterns = Patterns { index: &index, min_cell, computed: HashMap::new() };
    // Per index (shares only; means are decided below), per cell: whether it is hidden.
    let mut shares: Vec<Vec<bool>> = vec![Vec::new(); form.indices.len()];
    let index_column = |i: usize| cube.cells.iter().map(|c| u64::from(c.counts[i])).collect::<Vec<u64>>();
    for (i, definition) in form.indices.iter().enumerate() {
        if !matches!(definition.rule, IndexRule::Share { .. }) {
            continue;
        }
        let mut column = index_column(i);
        let known: Vec<Option<bool>> = (0..column.len()).map(|cell| elsewhere(cell, i)).collect();
        let floor: Vec<bool> = known.iter().map(|k| *k == Some(true)).collect();
        let kept: Vec<bool> = known.iter().map(|k| *k == Some(false)).collect();
        for (n, _) in column.iter_mut().zip(&floor).filter(|(n, hide)| **hide && **n > 0) {
            *n = 1;
        }
        let mut first = match kept.contains(&true) {
            true => index.suppress_keeping(&column, min_cell, &kept),
            false => patterns.first(&column),
        };
        or_into(&mut first, &floor);
        // Then this index's own answers: hidden figures that are all 0% or all 100% would
        // be known from their published total, so hide more until none is.
        let bound = |hidden: &[bool], from: usize| breaks_a_bound(cube, hidden, &kept, i, from);
        shares[i] = patterns.settle(&column, first, &floor, &kept, &[&bound]);
    }
    let item_patterns = match items {
        Some((plan, ranges)) => hide_items(cube, form, plan, ranges, &mut patterns, &mut shares, index_column),
        None => Vec::new(),
    };
    let mut hidden: Vec<Vec<bool>> = vec![vec![false; form.indices.len()]; cube.cells.len()];
    for (i, pattern) in shares.iter().enumerate() {
        for (cell, &hide) in hidden.iter_mut().zip(pattern) {
            cell[i] = hide;
        }
    }
    // A mean is hidden wherever one of its shares is: the others and the mean would give it.
    for (i, definition) in form.indices.iter().enumerate() {
        if matches!(definition.rule, IndexRule::Mean { .. }) {
            let shares: Vec<usize> = mean_parts(form, &definition.id)
                .keys()
                .filter_map(|id| form.indices.iter().position(|x| &x.id == id))
                .collect();
            for (at, (cell, counts)) in hidden.iter_mut().zip(&cube.cells).enumerate() {
                let small = 0 < counts.responses && counts.responses < min_cell;
                cell[i] = shares.iter().any(|&s| cell[s]) || small || elsewhere(at, i) == Some(true);
            }
        }
    }
    Decision { hidden, items: item_patterns }
}

/// Suppressions over one cube's relations.
struct Patterns<'a> {
    index: &'a RelationIndex<'a>,
    min_cell: u64,
    /// Columns over the same valid answers share a first pattern: computed once, found by a
    /// hash of the counts and checked against the column that computed it.
    computed: HashMap<u64, Vec<ColumnPattern>>,
}

/// A column of valid counts and its first pattern.
type ColumnPattern = (Vec<u64>, Vec<bool>);

impl Patterns<'_> {
    /// The pattern of a column of valid counts.
    fn first(&mut self, column: &[u64]) -> Vec<bool> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        column.hash(&mut hasher);
        let same = self.computed.entry(hasher.finish()).or_default();
        if let Some((_, pattern)) = same.iter().find(|(counts, _)| counts == column) {
            return pattern.clone();
        }
        let pattern = self.index.suppress(column, self.min_cell);
        same.push((column.to_vec(), pattern.clone()));
        pattern
    }

    /// `start` (a safe pattern holding `floor`), hiding more while one of the `bounds` (the
    /// first in order that has one) finds a cell to hide: each is then treated as a small
    /// cell and the pattern decided again, with `floor` kept hidden and `kept` never chosen.
    /// Hidden patterns together stay safe: a cell no relation isolates among the hidden cells
    /// of one stays so among more hidden cells.
    fn settle(&self, column: &[u64], start: Vec<bool>, floor: &[bool], kept: &[bool], bounds: &[Bound]) -> Vec<bool> {
        let mut pattern = start;
        let mut forced: Option<Vec<u64>> = None;
        loop {
            // Per bound, the relations before this one are known to hold it under `pattern`.
            let mut held = vec![0; bounds.len()];
            let Some(cell) = first_break(bounds, &pattern, &mut held) else { return pattern };
            let counts = forced.get_or_insert_with(|| column.to_vec());
            // Every cell a bound flags once this one is hidden, before deciding the column
            // again: deciding it is a pass over every cell, and a small national wave flags
            // thousands. Whether a relation holds depends only on which of its cells are
            // hidden, so each bound is checked again from the first relation the newly hidden
            // cell belongs to, not from the start.
            let mut hide = Some(cell);
            while let Some(cell) = hide {
                counts[cell] = 1;
                pattern[cell] = true;
                if let Some(&first) = self.index.relations_of(cell).first() {
                    held.iter_mut().for_each(|h| *h = (*h).min(first));
                }
                hide = first_break(bounds, &pattern, &mut held);
            }
            pattern = self.index.suppress_keeping(counts, self.min_cell, kept);
            or_into(&mut pattern, floor);
        }
    }
}

/// A bound a hidden pattern can break, checked from relation `from` on: the first relation
/// that breaks it, and the cell to hide for it.
type Bound<'b> = &'b dyn Fn(&[bool], usize) -> Option<(usize, usize)>;

/// The cell to hide for the first of `bounds` that `pattern` breaks, at its first breaking
/// relation, checking each from its `held` relation on (and recording how far each holds).
fn first_break(bounds: &[Bound], pattern: &[bool], held: &mut [usize]) -> Option<usize> {
    for (bound, held) in bounds.iter().zip(held) {
        match bound(pattern, *held) {
            Some((relation, cell)) => {
                *held = relation;
                return Some(cell);
            }
            None => *held = usize::MAX,
        }
    }
    None
}

fn or_into(pattern: &mut [bool], other: &[bool]) {
    for (hide, &also) in pattern.iter_mut().zip(other) {
        *hide |= also;
    }
}

/// Each choice item's pattern, and the share indices' patterns grown to match: an item is
/// hidden wherever an index reading it is, and the other way round, until neither grows
/// (patterns only grow, so this ends).
fn hide_items(
    cube: &Cube,
    form: &Form,
    items: &DistributionPlan,
    ranges: &[Range<usize>],
    patterns: &mut Patterns,
    shares: &mut [Vec<bool>],
    index_column: impl Fn(usize) -> Vec<u64>,
) -> Vec<Vec<bool>> {
    let cells = cube.cells.len();
    // The share indices reading each item.
    let readers: Vec<Vec<usize>> = items
        .items()
        .iter()
        .map(|item| {
            let reads = |rule: &IndexRule| matches!(rule, IndexRule::Share { items, .. } if items.contains(&item.id));
            form.indices.iter().enumerate().filter(|(_, d)| reads(&d.rule)).map(|(i, _)| i).collect()
        })
        .collect();
    let mut item_patterns: Vec<Vec<bool>> = vec![vec![false; cells]; readers.len()];
    if ranges.is_empty() {
        return item_patterns;
    }
    loop {
        for (k, range) in ranges.iter().enumerate() {
            let column: Vec<u64> = cube.cells.iter().map(|c| u64::from(c.items[range.start])).collect();
            let mut floor = item_patterns[k].clone();
            for &i in &readers[k] {
                or_into(&mut floor, &shares[i]);
            }
            let small_shown = column.iter().zip(&floor).any(|(&n, &hide)| 0 < n && n < patterns.min_cell && !hide);
            if readers[k].is_empty() || small_shown {
                or_into(&mut floor, &patterns.first(&column));
            }
            let item_bound = |hidden: &[bool], from: usize| breaks_an_item_bound(cube, hidden, range.clone(), from);
            let index_bounds: Vec<_> = readers[k]
                .iter()
                .map(|&i| move |hidden: &[bool], from: usize| breaks_a_bound(cube, hidden, &[], i, from))
                .collect();
            let bounds: Vec<Bound> =
                std::iter::once(&item_bound as Bound).chain(index_bounds.iter().map(|b| b as Bound)).collect();
            item_patterns[k] = patterns.settle(&column, floor.clone(), &floor, &[], &bounds);
        }
        let mut grown = false;
        for (i, pattern) in shares.iter_mut().enumerate() {
            let mut floor = pattern.clone();
            for (k, _) in readers.iter().enumerate().filter(|(_, r)| r.contains(&i)) {
                or_into(&mut floor, &item_patterns[k]);
            }
            if floor != *pattern {
                let bound = |hidden: &[bool], from: usize| breaks_a_bound(cube, hidden, &[], i, from);
                *pattern = patterns.settle(&index_column(i), floor.clone(), &floor, &[], &[&bound]);
                grown = true;
            }
        }
        if !grown {
            return item_patterns;
        }
    }
}

/// `breaks_a_bound` for an item: in some relation whose total is published, the hidden
/// parts' valid answers all chose one option, so each hidden part's answers are known. The
/// smallest published part that did not all choose it, else the total. Relations before
/// `from` are not checked; the first breaking one is returned with the cell.
fn breaks_an_item_bound(cube: &Cube, hidden: &[bool], item: Range<usize>, from: usize) -> Option<(usize, usize)> {
    // Column 0 of the item is its valid answers, 1.. its options.
    let count = |cell: usize, column: usize| u64::from(cube.cells[cell].items[item.start + column]);
    for (at, relation) in cube.relations.iter().enumerate().skip(from).filter(|(_, r)| !hidden[r.total]) {
        let hidden_parts = || relation.parts.iter().copied().filter(|&p| hidden[p]);
        let valid: u64 = hidden_parts().map(|p| count(p, 0)).sum();
        if valid == 0 {
            continue;
        }
        let all_chose = |option: &usize| hidden_parts().map(|p| count(p, *option)).sum::<u64>() == valid;
        let Some(option) = (1..item.len()).find(all_chose) else { continue };
        let part = relation
            .parts
            .iter()
            .copied()
            .filter(|&p| !hidden[p] && count(p, 0) > 0 && count(p, option) < count(p, 0))
            .min_by_key(|&p| count(p, 0));
        return Some((at, part.unwrap_or(relation.total)));
    }
    None
}

/// A cell to hide because, in some relation whose total is published, the hidden parts'
/// positive answers are none or all of their valid answers (each is then known: 0% or 100%):
/// the smallest published part whose share would break that bound, else the total unless
/// `kept` (published elsewhere, where the parts are known from it already). Relations before
/// `from` are not checked; the first breaking one is returned with the cell.
fn breaks_a_bound(cube: &Cube, hidden: &[bool], kept: &[bool], index: usize, from: usize) -> Option<(usize, usize)> {
    let (n, hits) =
        (|c: usize| u64::from(cube.cells[c].counts[index]), |c: usize| u64::from(cube.cells[c].hits[index]));
    for (at, relation) in cube.relations.iter().enumerate().skip(from).filter(|(_, r)| !hidden[r.total]) {
        let hidden_parts = relation.parts.iter().filter(|&&p| hidden[p]);
        let (valid, positive) = hidden_parts.fold((0, 0), |(v, h), &p| (v + n(p), h + hits(p)));
        if valid == 0 || (positive != 0 && positive != valid) {
            continue;
        }
        let breaks = |p: usize| if positive == 0 { hits(p) > 0 } else { hits(p) < n(p) };
        let is_kept = |c: usize| kept.get(c).copied().unwrap_or(false);
        let part = relation
            .parts
            .iter()
            .copied()
            .filter(|&p| !hidden[p] && !is_kept(p) && n(p) > 0 && breaks(p))
            .min_by_key(|&p| n(p));
        match part.or((!is_kept(relation.total)).then_some(relation.total)) {
            Some(cell) => return Some((at, cell)),
            None => continue,
        }
    }
    None
}

/// Ties every cell to its parent locality (the whole wave above the top), every agency's cell
/// to its locality's all-agencies cell, and each desk split to the unsplit cell.
fn relate_cube(cube: &mut Cube, tree: &LocalityTree, desk_split: bool) {
    let keys: Vec<CubeKey> = cube.keys.iter().flatten().cloned().collect();
    // Ordered maps: the heuristic's choices follow the relations' order, and a hash map's
    // order changes with every process, so a restart would publish another pattern.
    let mut children: BTreeMap<CubeKey, Vec<usize>> = BTreeMap::new();
    let mut agencies: BTreeMap<CubeKey, Vec<usize>> = BTreeMap::new();
    for key in &keys {
        let at = cube.positions[key];
        let (split, level, locality, agency) = key;
        if level != tally::WHOLE {
            let parent = match tree.get(locality).and_then(|l| l.parent_code.as_deref()).and_then(|p| tree.get(p)) {
                Some(parent) => (*split, parent.level.clone(), parent.code.clone(), agency.clone()),
                None => (*split, tally::WHOLE.to_string(), String::new(), agency.clone()),
            };
            children.entry(parent).or_default().push(at);
        }
        if agency != tally::ALL_AGENCIES {
            agencies
                .entry((*split, level.clone(), locality.clone(), tally::ALL_AGENCIES.to_string()))
                .or_default()
                .push(at);
        }
    }
    for (total_key, parts) in children {
        if let Some(&total) = cube.positions.get(&total_key) {
            let (split, _, locality, agency) = total_key;
            cube.relate(total, parts, Some((split, tally::LEAF.to_string(), locality, agency)));
        }
    }
    for (total, parts) in agencies {
        if let Some(&total) = cube.positions.get(&total) {
            cube.relate(total, parts, None);
        }
    }
    if desk_split {
        for (split, level, locality, agency) in keys.iter().filter(|k| k.0 == DeskFilter::Include) {
            let part = |split: DeskFilter| {
                cube.positions.get(&(split, level.clone(), locality.clone(), agency.clone())).copied()
            };
            let parts: Vec<usize> = [part(DeskFilter::Exclude), part(DeskFilter::Only)].into_iter().flatten().collect();
            let total = cube.positions[&(*split, level.clone(), locality.clone(), agency.clone())];
            cube.relate(total, parts, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::locality::Locality;

    fn place(code: &str, level: &str, parent: Option<&str>) -> Locality {
        Locality { code: code.into(), name: code.into(), level: level.into(), parent_code: parent.map(Into::into) }
    }

    /// A province of six districts of six communes, answered through two agencies: every
    /// roll-up cell a wave's cube holds, its counts adding up. `leaf(district, commune,
    /// agency)` gives each commune's cell of an agency.
    fn national_like_cube(tree: &LocalityTree, leaf: impl Fn(usize, usize, usize) -> Cell) -> Cube {
        let mut cube = Cube { keys: Vec::new(), cells: Vec::new(), positions: HashMap::new(), relations: Vec::new() };
        for d in 0..6 {
            for c in 0..6 {
                let commune = format!("X{d}{c}");
                for (a, agency) in ["AG1", "AG2"].into_iter().enumerate() {
                    let cell = leaf(d, c, a);
                    let mut at = Some(tree.get(&commune).expect("in the tree"));
                    while let Some(locality) = at {
                        for agency in [agency, tally::ALL_AGENCIES] {
                            let key =
                                (DeskFilter::Include, locality.level.clone(), locality.code.clone(), agency.into());
                            cube.add(key, &cell);
                        }
                        at = locality.parent_code.as_deref().and_then(|p| tree.get(p));
                    }
                    for agency in [agency, tally::ALL_AGENCIES] {
                        cube.add((DeskFilter::Include, tally::WHOLE.into(), String::new(), agency.into()), &cell);
                    }
                }
            }
        }
        cube
    }

    fn six_districts_of_six_communes() -> LocalityTree {
        let mut places = vec![place("T", "province", None)];
        for d in 0..6 {
            places.push(place(&format!("H{d}"), "district", Some("T")));
            places.extend((0..6).map(|c| place(&format!("X{d}{c}"), "commune", Some(&format!("H{d}")))));
        }
        LocalityTree::new(places)
    }

    #[test]
    fn the_same_cells_are_always_tied_by_the_same_relations_in_the_same_order() {
        let tree = six_districts_of_six_communes();
        let leaf = |d: usize, c: usize, a: usize| {
            let n = 1 + ((d * 7 + c * 3 + a * 5) % 9) as u32;
            Cell { responses: u64::from(n), counts: vec![n], hits: vec![n / 2], items: Vec::new() }
        };
        // The heuristic's choices follow the relations' order: another order, another
        // pattern, so a restart would publish other figures of the same answers.
        let relations = || {
            let mut cube = national_like_cube(&tree, leaf);
            relate_cube(&mut cube, &tree, false);
            cube.relations
        };
        let first = relations();
        assert!(first.len() > 40, "every district, commune and agency ties its parts: {}", first.len());
        for _ in 0..5 {
            assert_eq!(relations(), first);
        }
    }

    proptest::proptest! {
        /// Hiding a cell changes only the relations it belongs to: checking each bound again
        /// from the first of those must hide exactly what checking every relation again
        /// from the start hid.
        #[test]
        fn settling_hides_what_checking_every_relation_again_would_hide(
            leaves in proptest::collection::vec((0u32..14, 0u32..14, 0u32..14, 0u32..14), 72),
            min_cell in 2u64..8,
        ) {
            let tree = six_districts_of_six_communes();
            let mut cube = national_like_cube(&tree, |d, c, a| {
                let (n0, h0, n1, h1) = leaves[(d * 6 + c) * 2 + a];
                let counts = vec![n0, n1];
                Cell { responses: u64::from(n0.max(n1)), counts, hits: vec![h0.min(n0), h1.min(n1)], items: Vec::new() }
            });
            relate_cube(&mut cube, &tree, false);
            let index = RelationIndex::new(cube.cells.len(), &cube.relations);
            let patterns = Patterns { index: &index, min_cell, computed: HashMap::new() };
            let column: Vec<u64> = cube.cells.iter().map(|c| u64::from(c.counts[0])).collect();
            let start = index.suppress(&column, min_cell);
            let cube = &cube;
            let resuming: Vec<_> =
                (0..2).map(|i| move |hidden: &[bool], from: usize| breaks_a_bound(cube, hidden, &[], i, from)).collect();
            let rescanning: Vec<_> =
                (0..2).map(|i| move |hidden: &[bool], _: usize| breaks_a_bound(cube, hidden, &[], i, 0)).collect();
            let resuming: Vec<Bound> = resuming.iter().map(|b| b as Bound).collect();
            let rescanning: Vec<Bound> = rescanning.iter().map(|b| b as Bound).collect();
            let settled = patterns.settle(&column, start.clone(), &[], &[], &resuming);
            proptest::prop_assert_eq!(&settled, &patterns.settle(&column, start.clone(), &[], &[], &rescanning));
            for i in 0..2 {
                proptest::prop_assert_eq!(breaks_a_bound(cube, &settled, &[], i, 0), None);
            }
        }
    }
}
