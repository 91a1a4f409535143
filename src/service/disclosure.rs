//! The one suppression step every output of a wave goes through (the results API, the
//! pages, exports): a figure on fewer than k valid answers is hidden, and so are enough others
//! that no hidden figure can be recovered by subtraction — a parent minus its children, a
//! locality's whole minus its agencies, all answers minus those from desk codes. Counts of
//! forms stay published: a count reveals no answer.
//!
//! The pattern is decided over every table the wave can publish (each level, with and
//! without agencies, each desk split), whatever one request asks for, so that no two
//! requests together give away what each hides.

use crate::domain::disclosure::{Relation, RelationIndex};
use crate::domain::form::{Form, IndexRule};
use crate::domain::indices::{Figure, IndexPlan};
use crate::domain::locality::LocalityTree;
use crate::domain::tally::{self, mean_parts};
use crate::domain::wave::{Channel, DeskFilter};
use crate::storage::{Database, StorageResult};
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Each wave's last suppression pattern and when it was decided.
pub type SuppressionCache = Arc<Mutex<HashMap<String, (Instant, Arc<Suppression>)>>>;

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
    /// The wave's answers when the pattern was decided.
    pub responses: u64,
}

impl Suppression {
    /// Hides the figures of one cell (`level` is `tally::WHOLE` for the whole wave, `agency`
    /// `tally::ALL_AGENCIES` for every agency together).
    pub fn apply(&self, desk: DeskFilter, level: &str, locality: &str, agency: &str, figures: &mut [Figure]) {
        let key = (desk, level.to_string(), locality.to_string(), agency.to_string());
        let hidden = self.hidden.get(&key);
        for (i, figure) in figures.iter_mut().enumerate() {
            // The threshold itself is applied to the figure as it is now: an open wave's
            // pattern may be a little older than its latest answers.
            let small = 0 < figure.n && figure.n < self.min_cell;
            if small || hidden.is_some_and(|h| h[i]) {
                *figure = Figure { n: figure.n, suppressed: true, ..Figure::default() };
            }
        }
    }

    /// Hides the figures of the answers invited at `locality` itself (at `level`), shown apart
    /// in a table of a lower level: the part of the locality's cell that its children leave
    /// out, or the whole cell when no child has answers.
    pub fn apply_own(&self, desk: DeskFilter, level: &str, locality: &str, agency: &str, figures: &mut [Figure]) {
        let own = (desk, tally::LEAF.to_string(), locality.to_string(), agency.to_string());
        match self.own_cells.contains(&own) {
            true => self.apply(desk, tally::LEAF, locality, agency, figures),
            false => self.apply(desk, level, locality, agency, figures),
        }
    }
}

/// One cell's answers, and valid and positive answers per index.
#[derive(Clone)]
struct Cell {
    responses: u64,
    counts: Vec<u64>,
    hits: Vec<u64>,
}

impl Cell {
    fn add(&mut self, other: &Cell) {
        self.responses += other.responses;
        for (a, b) in self.counts.iter_mut().zip(&other.counts).chain(self.hits.iter_mut().zip(&other.hits)) {
            *a += b;
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
            rest.responses -= self.cells[part].responses.min(rest.responses);
            let part = &self.cells[part];
            for (r, p) in rest.counts.iter_mut().zip(&part.counts).chain(rest.hits.iter_mut().zip(&part.hits)) {
                *r -= (*p).min(*r);
            }
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
    let plan = IndexPlan::new(form, &db.tally_layout(wave_id)?);
    let splits: &[DeskFilter] =
        if desk_split { &[DeskFilter::Include, DeskFilter::Exclude, DeskFilter::Only] } else { &[DeskFilter::Include] };
    let mut cube = Cube { keys: Vec::new(), cells: Vec::new(), positions: HashMap::new(), relations: Vec::new() };
    let mut responses = 0;
    db.each_cell(wave_id, false, Some(plan.count_slots_read()), |(level, locality, agency, channel), stored| {
        if level == tally::WHOLE && agency == tally::ALL_AGENCIES {
            responses += stored.responses;
        }
        let cell = Cell {
            responses: stored.responses,
            counts: plan.valid_counts(&stored.tally, stored.responses),
            hits: plan.hit_counts(&stored.tally),
        };
        let channel = Channel::parse(&channel);
        for &split in splits {
            if channel.is_some_and(|c| split.counts(c)) {
                cube.add((split, level.clone(), locality.clone(), agency.clone()), &cell);
            }
        }
    })?;
    relate_cube(&mut cube, tree, desk_split);

    let index = RelationIndex::new(cube.cells.len(), &cube.relations);
    let mut hidden: Vec<Vec<bool>> = vec![vec![false; form.indices.len()]; cube.cells.len()];
    // Indices over the same valid answers share a first pattern: computed once, found by a
    // hash of the counts and checked against the index that computed it.
    let mut computed: HashMap<u64, Vec<(usize, Vec<bool>)>> = HashMap::new();
    let column = |i: usize| cube.cells.iter().map(move |c| c.counts[i]);
    for (i, definition) in form.indices.iter().enumerate() {
        if !matches!(definition.rule, IndexRule::Share { .. }) {
            continue;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        column(i).for_each(|n| n.hash(&mut hasher));
        let same = computed.entry(hasher.finish()).or_default();
        let mut pattern = match same.iter().find(|(j, _)| column(*j).eq(column(i))) {
            Some((_, pattern)) => pattern.clone(),
            None => {
                let pattern = index.suppress(&column(i).collect::<Vec<_>>(), min_cell);
                same.push((i, pattern.clone()));
                pattern
            }
        };
        // Then this index's own answers: hidden figures that are all 0% or all 100% would
        // be known from their published total, so hide more until none is.
        let mut forced: Option<Vec<u64>> = None;
        while let Some(cell) = breaks_a_bound(&cube, &pattern, i) {
            let counts = forced.get_or_insert_with(|| column(i).collect());
            counts[cell] = 1;
            pattern = index.suppress(counts, min_cell);
        }
        for (cell, hide) in hidden.iter_mut().zip(pattern) {
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
            for (cell, counts) in hidden.iter_mut().zip(&cube.cells) {
                cell[i] = shares.iter().any(|&s| cell[s]) || (0 < counts.responses && counts.responses < min_cell);
            }
        }
    }
    let own_cells = cube.keys.iter().flatten().filter(|k| k.1 == tally::LEAF).cloned().collect();
    let hidden = cube
        .keys
        .into_iter()
        .zip(hidden)
        .filter_map(|(key, hidden)| Some((key?, hidden)).filter(|(_, h)| h.iter().any(|&x| x)))
        .collect();
    Ok(Suppression { min_cell, hidden, own_cells, responses })
}

/// A cell to hide because, in some relation whose total is published, the hidden parts'
/// positive answers are none or all of their valid answers (each is then known: 0% or 100%):
/// the smallest published part whose share would break that bound, else the total.
fn breaks_a_bound(cube: &Cube, hidden: &[bool], index: usize) -> Option<usize> {
    let (n, hits) = (|c: usize| cube.cells[c].counts[index], |c: usize| cube.cells[c].hits[index]);
    for relation in cube.relations.iter().filter(|r| !hidden[r.total]) {
        let hidden_parts = relation.parts.iter().filter(|&&p| hidden[p]);
        let (valid, positive) = hidden_parts.fold((0, 0), |(v, h), &p| (v + n(p), h + hits(p)));
        if valid == 0 || (positive != 0 && positive != valid) {
            continue;
        }
        let breaks = |p: usize| if positive == 0 { hits(p) > 0 } else { hits(p) < n(p) };
        let part =
            relation.parts.iter().copied().filter(|&p| !hidden[p] && n(p) > 0 && breaks(p)).min_by_key(|&p| n(p));
        return Some(part.unwrap_or(relation.total));
    }
    None
}

/// Ties every cell to its parent locality (the whole wave above the top), every agency's cell
/// to its locality's all-agencies cell, and each desk split to the unsplit cell.
fn relate_cube(cube: &mut Cube, tree: &LocalityTree, desk_split: bool) {
    let keys: Vec<CubeKey> = cube.keys.iter().flatten().cloned().collect();
    let mut children: HashMap<CubeKey, Vec<usize>> = HashMap::new();
    let mut agencies: HashMap<CubeKey, Vec<usize>> = HashMap::new();
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
