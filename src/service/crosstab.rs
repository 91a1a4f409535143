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

/// Per agency code, per item, its counts.
type PerAgency = BTreeMap<String, Vec<Counts>>;

/// The crosstabs of `items` (each splitting respondents) that `query` may see: an agency
/// officer's own agency only, everyone else the whole wave. Every agency is in each table's
/// disclosure control whoever asks, but only the rows shown keep every count a figure needs.
pub fn crosstabs(
    db: &Database,
    form: &Form,
    wave: &Wave,
    items: &[&Item],
    query: &ResultsQuery,
    suppression: &Suppression,
) -> StorageResult<Vec<Crosstab>> {
    let plan = IndexPlan::new(form, &db.tally_layout(&wave.id)?);
    let shown = query.agency_scope.as_deref();
    let (whole, per_agency) = count(db, form, &wave.id, items, &plan, shown)?;
    let names: HashMap<String, String> = db.all_agencies()?.into_iter().map(|a| (a.code, a.name)).collect();
    let mut tables = Vec::new();
    for (k, item) in items.iter().enumerate() {
        let categories = item.options.len() + 1;
        // Rows of the table: every agency together, then each agency with a code.
        debug_assert_eq!(whole[k].len(), categories);
        let mut rows: Vec<(Option<&str>, Counts)> = vec![(None, whole[k].clone())];
        for (code, cells) in per_agency.iter().filter(|(code, _)| !code.is_empty()) {
            rows.push((Some(code.as_str()), cells[k].clone()));
        }
        let figures = protected(form, &plan, &rows, suppression);
        let groups = rows
            .iter()
            .zip(figures)
            .filter(|((agency, _), _)| *agency == shown)
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

/// Per item, the answers and tallies of each category, counted from the raw answers: of the
/// whole wave, and of each agency (`""` for answers without one). An agency's tallies keep
/// only the counts disclosure control reads (valid and positive answers), unless it is
/// `shown`: a national wave has thousands of agencies.
fn count(
    db: &Database,
    form: &Form,
    wave_id: &str,
    items: &[&Item],
    plan: &IndexPlan,
    shown: Option<&str>,
) -> StorageResult<(Vec<Counts>, PerAgency)> {
    let layout = db.tally_layout(wave_id)?;
    let (slots, counted) = (plan.slots_read(), plan.count_slots_read());
    let empty: Vec<Counts> = items.iter().map(|i| vec![(0, Tally::default()); i.options.len() + 1]).collect();
    let mut whole = empty.clone();
    let mut agencies: BTreeMap<String, Vec<Counts>> = BTreeMap::new();
    let add = |cells: &mut [Counts], answers: &crate::domain::answers::ValidAnswers, increments: &[(usize, u64)]| {
        for (item, cells) in items.iter().zip(cells.iter_mut()) {
            let chosen = answers.get(&item.id).and_then(|a| a.codes().first());
            let category = chosen.and_then(|c| item.options.iter().position(|o| &o.code == c));
            let (responses, tally) = &mut cells[category.unwrap_or(item.options.len())];
            *responses += 1;
            for &(slot, n) in increments {
                tally.add(slot, n);
            }
        }
    };
    each_stored_answer(db, form, wave_id, |(_, _, agency, _, _, _), answers| {
        let increments: Vec<(usize, u64)> =
            tally::increments(form, &layout, &answers).into_iter().filter(|(slot, _)| *slot < slots).collect();
        add(&mut whole, &answers, &increments);
        let keep = if shown == Some(agency.as_str()) { slots } else { counted };
        let kept: Vec<(usize, u64)> = increments.into_iter().filter(|(slot, _)| *slot < keep).collect();
        add(agencies.entry(agency).or_insert_with(|| empty.clone()), &answers, &kept);
    })?;
    Ok((whole, agencies))
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
