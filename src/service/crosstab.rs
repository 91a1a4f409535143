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

use crate::domain::form::{Form, Item};
use crate::domain::indices::{Figure, IndexPlan};
use crate::domain::tally::{self, Tally};
use crate::domain::wave::DeskFilter;
use crate::service::disclosure::{Breakdown, Suppression};
use crate::service::results::{AgencyRef, ResultsQuery, each_stored_answer};
use crate::storage::waves::Wave;
use crate::storage::{Database, StorageResult};
use std::collections::{BTreeMap, HashMap};

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

/// Answers and tallies per category (the item's options, then blank) of one agency.
type Counts = Vec<(u64, Tally)>;

/// The crosstabs of `items` (each splitting respondents) that `query` may see: an agency
/// officer's own agency only; the whole wave, and each agency when `by_agency`.
pub fn crosstabs(
    db: &Database,
    form: &Form,
    wave: &Wave,
    items: &[&Item],
    query: &ResultsQuery,
    suppression: &Suppression,
) -> StorageResult<Vec<Crosstab>> {
    let plan = IndexPlan::new(form, &db.tally_layout(&wave.id)?);
    let (agency_codes, counts) = count(db, form, &wave.id, items, plan.slots_read())?;
    let names: HashMap<String, String> = db.all_agencies()?.into_iter().map(|a| (a.code, a.name)).collect();
    let mut tables = Vec::new();
    for (k, item) in items.iter().enumerate() {
        let categories = item.options.len() + 1;
        // Rows of the table: every agency together, then each agency with a code.
        let mut rows: Vec<(Option<&str>, Counts)> = vec![(None, vec![(0, Tally::default()); categories])];
        for (code, per_agency) in agency_codes.iter().zip(&counts) {
            let cells = &per_agency[k];
            for (all, (n, t)) in rows[0].1.iter_mut().zip(cells) {
                all.0 += n;
                all.1.merge(t);
            }
            if !code.is_empty() {
                rows.push((Some(code.as_str()), cells.clone()));
            }
        }
        let figures = protected(form, &plan, &rows, suppression);
        let visible = |agency: Option<&str>| match (&query.agency_scope, agency) {
            (Some(scope), agency) => agency == Some(scope.as_str()),
            (None, None) => true,
            (None, Some(_)) => query.by_agency,
        };
        let groups = rows
            .iter()
            .zip(figures)
            .filter(|((agency, _), _)| visible(*agency))
            .map(|((agency, cells), figures)| CrosstabGroup {
                agency: agency.map(|code| AgencyRef {
                    code: code.to_string(),
                    name: names.get(code).cloned().unwrap_or_default(),
                }),
                rows: table_rows(cells, figures),
            })
            .collect();
        tables.push(Crosstab { item_id: item.id.clone(), groups });
    }
    Ok(tables)
}

/// Per agency (`""` for answers without one), per item, the answers and tallies of each
/// category, counted from the raw answers; the agencies in the order of the counts.
fn count(
    db: &Database,
    form: &Form,
    wave_id: &str,
    items: &[&Item],
    slots: usize,
) -> StorageResult<(Vec<String>, Vec<Vec<Counts>>)> {
    let layout = db.tally_layout(wave_id)?;
    let empty: Vec<Counts> = items.iter().map(|i| vec![(0, Tally::default()); i.options.len() + 1]).collect();
    let mut agencies: BTreeMap<String, Vec<Counts>> = BTreeMap::new();
    each_stored_answer(db, form, wave_id, |(_, _, agency, _, _, _), answers| {
        let increments: Vec<(usize, u64)> =
            tally::increments(form, &layout, &answers).into_iter().filter(|(slot, _)| *slot < slots).collect();
        let per_item = agencies.entry(agency).or_insert_with(|| empty.clone());
        for (item, cells) in items.iter().zip(per_item.iter_mut()) {
            let chosen = answers.get(&item.id).and_then(|a| a.codes().first());
            let category = chosen.and_then(|c| item.options.iter().position(|o| &o.code == c));
            let (responses, tally) = &mut cells[category.unwrap_or(item.options.len())];
            *responses += 1;
            for &(slot, n) in &increments {
                tally.add(slot, n);
            }
        }
    })?;
    Ok(agencies.into_iter().unzip())
}

/// Each row's figures per category, the total first, through disclosure control: the table
/// is tied by each row's total over its categories and each column's whole wave over its
/// agencies (with the answers of no agency as the rest), and each row's total is hidden
/// wherever the wave's own tables hide it (and never hidden where they publish it).
fn protected(
    form: &Form,
    plan: &IndexPlan,
    rows: &[(Option<&str>, Counts)],
    suppression: &Suppression,
) -> Vec<Vec<Vec<Figure>>> {
    let categories = rows[0].1.len();
    let width = categories + 1;
    let totals: Vec<(u64, Tally)> = rows
        .iter()
        .map(|(_, cells)| {
            let mut total = (0, Tally::default());
            for (n, t) in cells {
                total.0 += n;
                total.1.merge(t);
            }
            total
        })
        .collect();
    let mut breakdown = Breakdown { cells: Vec::new(), sums: Vec::new(), elsewhere: Vec::new() };
    for ((agency, cells), total) in rows.iter().zip(&totals) {
        let start = breakdown.cells.len();
        breakdown.cells.push((total.0, &total.1));
        breakdown.cells.extend(cells.iter().map(|(n, t)| (*n, t)));
        breakdown.sums.push((start, (start + 1..start + width).collect()));
        let mut published = plan.compute(&total.1, total.0);
        let agency = agency.unwrap_or(tally::ALL_AGENCIES);
        suppression.apply(DeskFilter::Include, tally::WHOLE, "", agency, &mut published);
        breakdown.elsewhere.push(Some(published.iter().map(|f| f.suppressed).collect()));
        breakdown.elsewhere.extend((0..categories).map(|_| None));
    }
    if rows.len() > 1 {
        for column in 0..width {
            breakdown.sums.push((column, (1..rows.len()).map(|r| r * width + column).collect()));
        }
    }
    let mut figures = breakdown.protected_figures(form, plan, suppression.min_cell()).into_iter();
    rows.iter().map(|_| figures.by_ref().take(width).collect()).collect()
}

/// A group's rows: the total, each option, then the blank ones when there are any.
fn table_rows(cells: &Counts, figures: Vec<Vec<Figure>>) -> Vec<CrosstabRow> {
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
