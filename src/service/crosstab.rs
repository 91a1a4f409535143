//! Crosstabs: every index of a wave broken down by the categories of a background item
//! (gender, age band, occupation, respondent kind, procedure field), for the whole wave and
//! for each agency. Background items are not among the tallies' cells, so the breakdown is
//! counted from the raw answers, read in chunks by id: memory follows the number of
//! categories, not of answers.
//!
//! Figures are pooled and unweighted. Disclosure control decides each item's table at once,
//! every agency included whoever asks: a category is hidden below k valid answers and
//! beside it enough others that neither a row's total nor a column's total (the whole wave
//! over its agencies) gives it away; a total the wave's own tables hide stays hidden.

use crate::domain::answers::ValidAnswers;
use crate::domain::form::{Form, Item};
use crate::domain::indices::{Figure, IndexPlan};
use crate::domain::tally::{self, Tally};
use crate::domain::wave::DeskFilter;
use crate::service::disclosure::{Breakdown, Counted, Suppression, hide_in_breakdown};
use crate::service::recent::Recent;
use crate::service::results::{AgencyRef, ResultsQuery, each_stored_answer};
use crate::storage::waves::Wave;
use crate::storage::{Database, StorageResult};
use std::collections::{BTreeMap, HashMap};
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

/// One item's crosstab for the whole wave (`agency: None`) or one agency.
#[derive(Debug)]
pub struct CrosstabGroup {
    pub agency: Option<AgencyRef>,
    pub rows: Vec<CrosstabRow>,
}

#[derive(Debug)]
pub struct Crosstab {
    pub item_id: String,
    pub groups: Vec<CrosstabGroup>,
}

/// Answers and tallies per category (the item's options, then blank) of one group: what its
/// figures are computed from.
type Tallies = Vec<(u64, Tally)>;

/// Answers counted per category of one group: what disclosure control reads.
type Counts = Vec<Counted>;

/// The wave's crosstabs that were computed recently: a crosstab reads and scores every answer
/// (about 20 s at a million), so its counts are kept while the wave's answers stay the same.
pub type CrosstabCache = Arc<Recent<(String, Option<String>), Arc<WaveCounts>>>;

/// Waves (or agencies' views of them) whose crosstab counts are kept in memory.
pub const CROSSTABS_KEPT: usize = 4;

/// Per cell of a crosstab table (every agency's rows, each its total then its categories),
/// per index: whether its figure is hidden.
type Pattern = Vec<Vec<bool>>;

/// Every crosstab item's counts of one wave, as one asker may see them.
pub struct WaveCounts {
    /// The wave's answers when they were counted.
    responses: u64,
    /// The items that split respondents, in the form's order.
    item_ids: Vec<String>,
    /// Per item, the tallies of the group shown: the whole wave, or the asker's agency.
    shown: Vec<Tallies>,
    /// Per agency code (`""` for answers without one), per item, its counts.
    per_agency: BTreeMap<String, Vec<Counts>>,
    /// Per item, its disclosure pattern and the wave's answers when the suppression it
    /// respects was decided. Patterns do not depend on who asks.
    patterns: Mutex<HashMap<String, (u64, Arc<Pattern>)>>,
}

/// The items a crosstab can break indices down by: single-choice questions about the
/// respondent.
pub fn crosstab_items(form: &Form) -> Vec<&Item> {
    form.items.iter().filter(|i| i.splits_respondents()).collect()
}

/// The crosstabs of `items` (each splitting respondents) that `query` may see: an agency
/// officer's own agency only, everyone else the whole wave. Every agency is in each table's
/// disclosure control whoever asks; only the rows shown get figures.
pub fn crosstabs(
    db: &Database,
    form: &Form,
    wave: &Wave,
    items: &[&Item],
    query: &ResultsQuery,
    suppression: &Suppression,
    cache: &CrosstabCache,
) -> StorageResult<Vec<Crosstab>> {
    let plan = IndexPlan::new(form, &db.tally_layout(&wave.id)?);
    let shown = query.agency_scope.clone();
    let responses = db.wave_responses(&wave.id)?;
    let key = (wave.id.clone(), shown.clone());
    let counts = match cache.get(&key).filter(|c| c.responses == responses) {
        Some(counts) => counts,
        None => {
            let counts = Arc::new(count(db, form, &wave.id, &plan, shown.as_deref(), responses)?);
            cache.insert(key, counts.clone());
            counts
        }
    };
    let agency = match &shown {
        None => None,
        Some(code) => {
            let name = db.all_agencies()?.into_iter().find(|a| &a.code == code).map(|a| a.name);
            Some(AgencyRef { code: code.clone(), name: name.unwrap_or_default() })
        }
    };
    let mut tables = Vec::new();
    for item in items {
        let Some(k) = counts.item_ids.iter().position(|id| *id == item.id) else { continue };
        let Some(pattern) = counts.pattern(k, form, &plan, suppression, shown.as_deref()) else {
            tables.push(Crosstab { item_id: item.id.clone(), groups: Vec::new() });
            continue;
        };
        let tallies = &counts.shown[k];
        let mut total = (0, Tally::default());
        for (n, tally) in tallies {
            total.0 += n;
            total.1.merge(tally);
        }
        let figures = std::iter::once(&total)
            .chain(tallies)
            .zip(pattern.iter())
            .map(|((n, tally), hidden)| {
                let mut figures = plan.compute(tally, *n);
                hide_in_breakdown(&mut figures, hidden, suppression.min_cell());
                figures
            })
            .collect();
        let group = CrosstabGroup { agency: agency.clone(), rows: table_rows(tallies, figures) };
        tables.push(Crosstab { item_id: item.id.clone(), groups: vec![group] });
    }
    Ok(tables)
}

impl WaveCounts {
    /// The disclosure pattern of item `k`'s row that is shown (the total, then each
    /// category), decided once for the table of every agency; `None` for an agency without
    /// answers, of which nothing is published.
    fn pattern(
        &self,
        k: usize,
        form: &Form,
        plan: &IndexPlan,
        suppression: &Suppression,
        shown: Option<&str>,
    ) -> Option<Vec<Vec<bool>>> {
        let id = &self.item_ids[k];
        let kept = self.patterns.lock().unwrap_or_else(|e| e.into_inner()).get(id).cloned();
        let table = match kept.filter(|(decided_at, _)| *decided_at == suppression.responses) {
            Some((_, table)) => table,
            None => {
                let table = Arc::new(self.decide(k, form, plan, suppression));
                let kept = (suppression.responses, table.clone());
                self.patterns.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), kept);
                table
            }
        };
        // Rows of the table: every agency together, then each agency with a code.
        let row = match shown {
            None => 0,
            Some(code) => 1 + self.per_agency.keys().filter(|c| !c.is_empty()).position(|c| c == code)?,
        };
        let width = self.shown[k].len() + 1;
        table.get(row * width..(row + 1) * width).map(<[Vec<bool>]>::to_vec)
    }

    /// Item `k`'s table through disclosure control: tied by each row's total over its
    /// categories and each column's whole wave over its agencies (with the answers of no
    /// agency as the rest); each row's total is hidden wherever the wave's own tables hide
    /// it (and never hidden where they publish it).
    fn decide(&self, k: usize, form: &Form, plan: &IndexPlan, suppression: &Suppression) -> Vec<Vec<bool>> {
        let whole: Counts = self.per_agency.values().fold(Vec::new(), |mut whole, items| {
            if whole.is_empty() {
                whole = items[k].clone();
            } else {
                whole.iter_mut().zip(&items[k]).for_each(|(w, c)| w.add(c));
            }
            whole
        });
        let rows: Vec<(&str, &Counts)> = std::iter::once((tally::ALL_AGENCIES, &whole))
            .chain(
                self.per_agency
                    .iter()
                    .filter(|(code, _)| !code.is_empty())
                    .map(|(code, items)| (code.as_str(), &items[k])),
            )
            .collect();
        let totals: Vec<Counted> = rows
            .iter()
            .map(|(_, cells)| {
                let mut total = cells[0].clone();
                cells[1..].iter().for_each(|c| total.add(c));
                total
            })
            .collect();
        let categories = whole.len();
        let width = categories + 1;
        let mut breakdown = Breakdown { cells: Vec::new(), sums: Vec::new(), elsewhere: Vec::new() };
        for ((agency, cells), total) in rows.iter().zip(&totals) {
            let start = breakdown.cells.len();
            breakdown.cells.push(total);
            breakdown.cells.extend(cells.iter());
            breakdown.sums.push((start, (start + 1..start + width).collect()));
            let mut published: Vec<Figure> =
                total.valid_counts(plan).into_iter().map(|n| Figure { n, ..Figure::default() }).collect();
            suppression.apply(DeskFilter::Include, tally::WHOLE, "", agency, &mut published);
            breakdown.elsewhere.push(Some(published.iter().map(|f| f.suppressed).collect()));
            breakdown.elsewhere.extend((0..categories).map(|_| None));
        }
        if rows.len() > 1 {
            for column in 0..width {
                breakdown.sums.push((column, (1..rows.len()).map(|r| r * width + column).collect()));
            }
        }
        breakdown.hidden(form, plan, suppression.min_cell())
    }
}

/// Every crosstab item's counts, from the raw answers: per agency (`""` for answers without
/// one) what disclosure control reads, and the full tallies of the group `shown` (an agency,
/// or the whole wave).
fn count(
    db: &Database,
    form: &Form,
    wave_id: &str,
    plan: &IndexPlan,
    shown: Option<&str>,
    responses: u64,
) -> StorageResult<WaveCounts> {
    let items = crosstab_items(form);
    let layout = db.tally_layout(wave_id)?;
    let slots = plan.slots_read();
    let category = |item: &Item, answers: &ValidAnswers| {
        let chosen = answers.get(&item.id).and_then(|a| a.codes().first());
        chosen.and_then(|c| item.options.iter().position(|o| &o.code == c)).unwrap_or(item.options.len())
    };
    let mut tallies: Vec<Tallies> = items.iter().map(|i| vec![(0, Tally::default()); i.options.len() + 1]).collect();
    let empty: Vec<Counts> = items.iter().map(|i| vec![Counted::none(plan); i.options.len() + 1]).collect();
    let mut per_agency: BTreeMap<String, Vec<Counts>> = BTreeMap::new();
    each_stored_answer(db, form, wave_id, |(_, _, agency, _, _, _), answers| {
        // The answer's few increments, added as they are to each shown category: merging a
        // whole one-answer tally (about 1,000 slots for SIPAS 2023) into each cost 5× more.
        let increments: Vec<(usize, u64)> =
            tally::increments(form, &layout, &answers).into_iter().filter(|&(slot, _)| slot < slots).collect();
        let mut one = Tally::default();
        increments.iter().for_each(|&(slot, n)| one.add(slot, n));
        let counted = Counted::of(plan, &one, 1);
        let is_shown = shown.is_none_or(|code| code == agency);
        let cells = per_agency.entry(agency).or_insert_with(|| empty.clone());
        for (k, item) in items.iter().enumerate() {
            let c = category(item, &answers);
            cells[k][c].add(&counted);
            if is_shown {
                let (n, tally) = &mut tallies[k][c];
                *n += 1;
                increments.iter().for_each(|&(slot, by)| tally.add(slot, by));
            }
        }
    })?;
    Ok(WaveCounts {
        responses,
        item_ids: items.iter().map(|i| i.id.clone()).collect(),
        shown: tallies,
        per_agency,
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
