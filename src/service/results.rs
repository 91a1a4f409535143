//! Results of a wave: counters rolled up the locality tree and turned into indices.
//! The cost follows the number of groups asked for, not the number of answers.

use crate::domain::answers::ValidAnswers;
use crate::domain::distribution::{Distribution, DistributionPlan};
use crate::domain::form::{Form, FormRegistry};
use crate::domain::indices::{Figure, IndexPlan, IndexValue};
use crate::domain::locality::LocalityTree;
use crate::domain::tally::{self, Layout, Tally};
use crate::domain::wave::{Channel, DeskFilter, WaveStatus};
use crate::service::disclosure::Suppression;
use crate::storage::tallies::{AgencyRows, CellCounts, CellKey, ResultRow, roll_up};
use crate::storage::waves::Wave;
use crate::storage::{Database, StorageError, StorageResult};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalityRef {
    pub code: String,
    pub name: String,
    pub level: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct AgencyRef {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Serialize)]
pub struct Overall {
    pub responses: u64,
    /// How many of `responses` came from codes an agency handed out at its desk.
    pub desk_responses: u64,
    pub indices: Vec<IndexValue>,
    /// Per choice item, when the query asks for them (`ResultsQuery::items`).
    #[serde(skip)]
    pub items: Vec<Distribution>,
}

#[derive(Debug)]
pub struct GroupResult {
    pub locality: Option<LocalityRef>,
    pub agency: Option<AgencyRef>,
    pub responses: u64,
    pub desk_responses: u64,
    /// In the form's order of indices, unnamed: `overall` names every index once, and the
    /// document gives each group's figures with the index's `id` only.
    pub figures: Vec<Figure>,
    /// Per index, the group's rank among the groups with a published figure (1 = highest).
    pub ranks: Vec<Option<u32>>,
    /// Against a compared wave, per index: points gained and places gained in the ranking
    /// (empty without a comparison).
    pub changes: Vec<Option<f64>>,
    pub rank_changes: Vec<Option<i64>>,
    /// Per choice item, when the query asks for them (`ResultsQuery::items`).
    pub items: Vec<Distribution>,
}

/// A group as the results document shows it.
#[derive(Serialize)]
struct GroupJson<'a> {
    locality: &'a Option<LocalityRef>,
    agency: &'a Option<AgencyRef>,
    responses: u64,
    desk_responses: u64,
    indices: Vec<IdFigure<'a>>,
}

/// A group's figure with its index's id (written out rather than flattened: there are a
/// quarter of a million of them in a commune-level document).
#[derive(Serialize)]
struct IdFigure<'a> {
    id: &'a str,
    value: Option<f64>,
    n: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ci_low: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ci_high: Option<f64>,
    suppressed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    rank: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    change: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rank_change: Option<i64>,
}

#[derive(Debug)]
pub struct WaveResults {
    pub overall: Overall,
    pub groups: Vec<GroupResult>,
}

/// Groups per chunk of a streamed results document.
const GROUPS_PER_CHUNK: usize = 256;

impl WaveResults {
    /// The JSON document in chunks of a few hundred groups, so a national commune-level
    /// answer is sent while it is being written rather than built whole first.
    pub fn into_json_chunks(self) -> impl Iterator<Item = Vec<u8>> {
        let mut head = br#"{"overall":"#.to_vec();
        serde_json::to_writer(&mut head, &self.overall).expect("results serialise");
        head.extend_from_slice(br#","groups":["#);
        let ids: Vec<String> = self.overall.indices.iter().map(|i| i.id.clone()).collect();
        let mut groups = self.groups.into_iter().peekable();
        let (mut first, mut capacity) = (true, 0);
        let body = std::iter::from_fn(move || {
            groups.peek()?;
            // Sized like the last chunk: growing a buffer of a few hundred kB by doubling
            // copied it and faulted in fresh pages several times per chunk.
            let mut chunk = Vec::with_capacity(capacity);
            for group in groups.by_ref().take(GROUPS_PER_CHUNK) {
                if !std::mem::take(&mut first) {
                    chunk.push(b',');
                }
                let indices = ids
                    .iter()
                    .zip(&group.figures)
                    .zip(&group.ranks)
                    .enumerate()
                    .map(|(i, ((id, f), &rank))| IdFigure {
                        id,
                        value: f.value,
                        n: f.n,
                        ci_low: f.ci_low,
                        ci_high: f.ci_high,
                        suppressed: f.suppressed,
                        rank,
                        change: group.changes.get(i).copied().flatten(),
                        rank_change: group.rank_changes.get(i).copied().flatten(),
                    })
                    .collect();
                let json = GroupJson {
                    locality: &group.locality,
                    agency: &group.agency,
                    responses: group.responses,
                    desk_responses: group.desk_responses,
                    indices,
                };
                serde_json::to_writer(&mut chunk, &json).expect("results serialise");
            }
            capacity = capacity.max(chunk.len());
            Some(chunk)
        });
        std::iter::once(head).chain(body).chain(std::iter::once(b"]}".to_vec()))
    }
}

#[derive(Debug, Clone, Default)]
pub struct ResultsQuery {
    /// Group by the localities at this level, each rolled up from everything beneath it.
    pub level: Option<String>,
    pub by_agency: bool,
    /// Only this agency's answers (an agency officer sees no other).
    pub agency_scope: Option<String>,
    /// Localities the wave covers: these groups are listed even without answers.
    pub covered: Vec<String>,
    /// Whether answers to desk codes count (all by default).
    pub desk: DeskFilter,
    /// Whether each group's item distributions are read too (the report's item tables).
    pub items: bool,
}

/// Results of a wave, read from the tallies of the level asked only: overall from the
/// whole-wave rows, groups from that level's roll-ups (or the agencies' whole-wave rows); every
/// figure through the wave's `suppression`, then ranked.
pub fn wave_results(
    db: &Database,
    form: &Form,
    wave: &Wave,
    query: &ResultsQuery,
    suppression: &Suppression,
) -> StorageResult<WaveResults> {
    let wave_id = wave.id.as_str();
    let layout = db.tally_layout(wave_id)?;
    let plan = IndexPlan::new(form, &layout);
    let scope = query.agency_scope.as_deref();
    let whole_agencies = scope.map_or(AgencyRows::All, AgencyRows::Only);
    let items = query.items.then(|| DistributionPlan::new(form, &layout));
    let slots = plan.slots_read().max(items.as_ref().map_or(0, |i| i.slots_read()));
    let hide = |level: &str, locality: &str, agency: Option<&str>, figures: &mut [Figure]| {
        let agency = agency.or(scope).unwrap_or(tally::ALL_AGENCIES);
        suppression.apply(query.desk, level, locality, agency, figures);
    };
    let distributions = |level: &str, locality: &str, agency: Option<&str>, tally: &Tally| {
        let Some(items) = &items else { return Vec::new() };
        let mut distributions = items.compute(tally);
        let agency = agency.or(scope).unwrap_or(tally::ALL_AGENCIES);
        suppression.apply_items(query.desk, level, locality, agency, &mut distributions);
        distributions
    };
    let mut overall = GroupTally::default();
    db.each_result_row(wave_id, tally::WHOLE, whole_agencies, query.desk, slots, |row| overall.add(&row))?;
    let mut groups: Vec<(GroupKey, GroupResult)> = Vec::new();
    // A closed wave's localities are named and listed as they stood when it closed.
    let closed_tree = match wave.status {
        WaveStatus::Closed => Some(LocalityTree::new(db.wave_localities_tree(wave)?)),
        _ => None,
    };
    if query.level.is_some() || query.by_agency {
        let level = query.level.as_deref().unwrap_or(tally::WHOLE);
        let agencies = match (query.by_agency, scope) {
            (true, None) => AgencyRows::Each,
            (_, Some(agency)) => AgencyRows::Only(agency),
            (false, None) => AgencyRows::All,
        };
        // Rows come ordered by locality and agency, so a group's rows (one per channel) are
        // consecutive: each group is computed when the next begins and its counts dropped.
        let close = |(key, names, tally): (GroupKey, GroupNames, GroupTally)| {
            let mut figures = plan.compute(&tally.tally, tally.responses);
            let (locality, agency): &GroupKey = &key;
            hide(level, locality.as_deref().unwrap_or(""), agency.as_deref(), &mut figures);
            let items = distributions(level, locality.as_deref().unwrap_or(""), agency.as_deref(), &tally.tally);
            let agency = key.1.clone().map(|code| AgencyRef { name: names.agency.unwrap_or_default(), code });
            let group = GroupResult {
                locality: names.locality,
                agency,
                responses: tally.responses,
                desk_responses: tally.desk_responses,
                figures,
                ranks: Vec::new(),
                changes: Vec::new(),
                rank_changes: Vec::new(),
                items,
            };
            (key, group)
        };
        let mut open: Option<(GroupKey, GroupNames, GroupTally)> = None;
        db.each_result_row(wave_id, level, agencies, query.desk, slots, |row| {
            let key = (
                query.level.as_ref().map(|_| row.locality_code.clone()),
                query.by_agency.then(|| row.agency_code.clone()).filter(|a| !a.is_empty()),
            );
            if open.as_ref().is_some_and(|(k, ..)| *k != key) {
                groups.extend(open.take().map(close));
            }
            let (_, _, tally) = open.get_or_insert_with(|| {
                let names = GroupNames {
                    locality: row.locality.clone().map(|(name, level)| LocalityRef {
                        code: row.locality_code.clone(),
                        name,
                        level,
                    }),
                    agency: row.agency_name.clone(),
                };
                (key, names, GroupTally::default())
            });
            tally.add(&row);
        })?;
        groups.extend(open.take().map(close));
        if let Some(tree) = &closed_tree {
            for (_, group) in &mut groups {
                if let Some(locality) = group.locality.as_mut().and_then(|l| Some((tree.get(&l.code)?, l))) {
                    let (then, shown) = locality;
                    (shown.name, shown.level) = (then.name.clone(), then.level.clone());
                }
            }
        }
        if let (Some(level), false, false) = (&query.level, query.by_agency, query.covered.is_empty()) {
            // Covered localities without answers are listed too: only then is the tree read.
            let answered: HashSet<String> = groups.iter().filter_map(|(key, _)| key.0.clone()).collect();
            let none = plan.compute(&Tally::default(), 0);
            let tree = match closed_tree {
                Some(tree) => tree,
                None => LocalityTree::new(db.all_localities()?),
            };
            let mut listed = HashSet::new();
            for root in &query.covered {
                for code in covered_at_level(&tree, root, level) {
                    if answered.contains(&code) || !listed.insert(code.clone()) {
                        continue;
                    }
                    let locality = tree.get(&code).map(|l| LocalityRef {
                        code: l.code.clone(),
                        name: l.name.clone(),
                        level: l.level.clone(),
                    });
                    let group = GroupResult {
                        locality,
                        agency: None,
                        responses: 0,
                        desk_responses: 0,
                        figures: none.clone(),
                        ranks: Vec::new(),
                        changes: Vec::new(),
                        rank_changes: Vec::new(),
                        items: items.as_ref().map_or_else(Vec::new, |i| i.compute(&Tally::default())),
                    };
                    groups.push(((Some(code), None), group));
                }
            }
        }
        groups.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let mut groups: Vec<GroupResult> = groups.into_iter().map(|(_, group)| group).collect();
    rank(&mut groups, form.indices.len());
    let mut figures = plan.compute(&overall.tally, overall.responses);
    hide(tally::WHOLE, "", None, &mut figures);
    Ok(WaveResults {
        overall: Overall {
            responses: overall.responses,
            desk_responses: overall.desk_responses,
            indices: plan.labelled(figures),
            items: distributions(tally::WHOLE, "", None, &overall.tally),
        },
        groups,
    })
}

/// Change in points and in rank against an earlier wave's results (asked for at the same
/// level and grouping), matched by index id — the forms may be different versions — and by
/// locality and agency code.
pub fn compare_with(current: &mut WaveResults, form: &Form, earlier: &WaveResults, earlier_form: &Form) {
    let positions: Vec<Option<usize>> =
        form.indices.iter().map(|i| earlier_form.indices.iter().position(|e| e.id == i.id)).collect();
    let change = |now: &Figure, then: Option<&Figure>| Some(now.value? - then?.value?);
    for (value, at) in current.overall.indices.iter_mut().zip(&positions) {
        value.change = change(&value.figure, at.and_then(|p| earlier.overall.indices.get(p)).map(|e| &e.figure));
    }
    let key =
        |g: &GroupResult| (g.locality.as_ref().map(|l| l.code.clone()), g.agency.as_ref().map(|a| a.code.clone()));
    let before: std::collections::HashMap<_, &GroupResult> = earlier.groups.iter().map(|g| (key(g), g)).collect();
    for group in &mut current.groups {
        let Some(then) = before.get(&key(group)) else { continue };
        group.changes = group
            .figures
            .iter()
            .zip(&positions)
            .map(|(now, at)| change(now, at.and_then(|p| then.figures.get(p))))
            .collect();
        group.rank_changes = group
            .ranks
            .iter()
            .zip(&positions)
            .map(|(now, at)| {
                Some(i64::from(at.and_then(|p| then.ranks.get(p).copied().flatten())?) - i64::from((*now)?))
            })
            .collect();
    }
}

/// Ranks the groups on each index, 1 for the highest published figure; equal figures share
/// a rank and the next rank skips (1, 2, 2, 4). Hidden and empty figures have none.
fn rank(groups: &mut [GroupResult], indices: usize) {
    for group in groups.iter_mut() {
        group.ranks = vec![None; indices];
    }
    for index in 0..indices {
        let mut ranked: Vec<(f64, usize)> =
            groups.iter().enumerate().filter_map(|(g, group)| Some((group.figures.get(index)?.value?, g))).collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut first_equal = 0;
        for (place, &(value, g)) in ranked.iter().enumerate() {
            if place > 0 && ranked[place - 1].0 != value {
                first_equal = place;
            }
            groups[g].ranks[index] = Some(first_equal as u32 + 1);
        }
    }
}

type GroupKey = (Option<String>, Option<String>);

struct GroupNames {
    locality: Option<LocalityRef>,
    agency: Option<String>,
}

/// A group's rows (one per channel) added together.
#[derive(Default)]
struct GroupTally {
    tally: Tally,
    responses: u64,
    desk_responses: u64,
}

impl GroupTally {
    fn add(&mut self, row: &ResultRow) {
        self.tally.merge(&row.counts.tally);
        self.responses += row.counts.responses;
        if row.channel == Channel::Desk {
            self.desk_responses += row.counts.responses;
        }
    }
}

/// Localities at `level` inside the covered locality `root` (or `root`'s own ancestor).
fn covered_at_level(tree: &LocalityTree, root: &str, level: &str) -> Vec<String> {
    if let Some(ancestor) = tree.ancestor_at_level(root, level) {
        return vec![ancestor.code.clone()];
    }
    tree.descendants_at_level(root, level)
}

#[derive(Debug, Serialize)]
pub struct Verification {
    pub consistent: bool,
    pub responses_stored: u64,
    pub responses_counted: u64,
    /// The first differences found, as "level/locality/agency/channel: …".
    pub differences: Vec<String>,
}

/// Raw answers read per chunk by the recount: memory follows the number of cells.
const RECOUNT_CHUNK: i64 = 2_000;

/// Leaf cells of a wave recounted from its raw answers, read in chunks by id.
fn recount_leaves(
    db: &Database,
    form: &Form,
    wave_id: &str,
    layout: &Layout,
) -> StorageResult<(u64, BTreeMap<CellKey, CellCounts>)> {
    let mut leaves: BTreeMap<CellKey, CellCounts> = BTreeMap::new();
    let (mut after, mut answers) = (String::new(), 0u64);
    db.refresh_answer_statistics()?;
    loop {
        let chunk = db.raw_answers_after(wave_id, &after, RECOUNT_CHUNK)?;
        let Some(last) = chunk.last() else { break };
        after = last.0.clone();
        for (_, locality, agency, channel, _, json) in chunk {
            let valid = ValidAnswers::from_stored(form, &json).map_err(|e| StorageError::Corrupt(e.to_string()))?;
            let leaf = leaves.entry((tally::LEAF.to_string(), locality, agency, channel)).or_default();
            leaf.responses += 1;
            for (slot, n) in tally::increments(form, layout, &valid) {
                leaf.tally.add(slot, n);
            }
            answers += 1;
        }
    }
    Ok((answers, leaves))
}

/// Recounts every answer of a wave from the raw rows, streamed in chunks, and compares with
/// the stored leaf cells; then checks every roll-up against the sum of the recounted leaves
/// (under the current locality tree for an open wave; a closed wave keeps the roll-ups of the
/// tree it closed under, so there only the whole-wave rows are checked). Stored cells are
/// read one at a time: what is held is the recount and the roll-ups expected from it.
pub fn verify_counters(db: &Database, form: &Form, wave_id: &str, open: bool) -> StorageResult<Verification> {
    let mut layout = db.tally_layout(wave_id)?;
    layout.extend_for(form);
    let (responses_stored, mut expected) = recount_leaves(db, form, wave_id, &layout)?;
    let tree = if open { Some(LocalityTree::new(db.all_localities()?)) } else { None };
    let mut rollups = roll_up(&expected, |code| {
        Ok(tree.as_ref().map_or_else(Vec::new, |t| {
            t.ancestors(code).into_iter().map(|l| (l.code.clone(), l.level.clone())).collect()
        }))
    })?;
    rollups.retain(|key, _| key.0 != tally::LEAF && (open || key.0 == tally::WHOLE));
    let mut differences = Vec::new();
    let mut compare = |key: &CellKey, live: Option<&CellCounts>, expected: Option<&CellCounts>| {
        let empty = CellCounts::default();
        let (live, expected) = (live.unwrap_or(&empty), expected.unwrap_or(&empty));
        let counts_differ = live.tally.encode() != expected.tally.encode();
        if (live.responses != expected.responses || counts_differ) && differences.len() < 20 {
            let counts = if counts_differ { " (counts differ)" } else { "" };
            differences.push(format!(
                "{}/{}/{}/{}: counters {} answers, recount {}{counts}",
                key.0, key.1, key.2, key.3, live.responses, expected.responses
            ));
        }
    };
    let mut responses_counted = 0;
    db.each_cell(wave_id, true, None, |key, live| {
        responses_counted += live.responses;
        compare(&key, Some(&live), expected.remove(&key).as_ref());
    })?;
    db.each_cell(wave_id, false, None, |key, live| {
        if open || key.0 == tally::WHOLE {
            compare(&key, Some(&live), rollups.remove(&key).as_ref());
        }
    })?;
    // What the recount found and no stored cell holds.
    for (key, missing) in expected.iter().chain(&rollups) {
        compare(key, None, Some(missing));
    }
    Ok(Verification {
        consistent: differences.is_empty() && responses_counted == responses_stored,
        responses_stored,
        responses_counted,
        differences,
    })
}

/// Rebuilds from raw answers the tallies of waves that have none: waves answered before
/// tallies replaced the old counters. Run at start-up.
pub fn rebuild_missing_tallies(db: &Database, forms: &FormRegistry) -> StorageResult<()> {
    for wave in db.waves_without_tallies()? {
        let Some(form_hash) = db.wave(&wave)?.map(|w| w.form_hash) else { continue };
        let form = super::forms::wave_form(db, forms, &form_hash)?;
        let mut layout = Layout::default();
        layout.extend_for(&form);
        let (_, leaves) = recount_leaves(db, &form, &wave, &layout)?;
        let tree = LocalityTree::new(db.all_localities()?);
        let cells = roll_up(&leaves, |code| {
            Ok(tree.ancestors(code).into_iter().map(|l| (l.code.clone(), l.level.clone())).collect())
        })?;
        db.replace_cells(&wave, &layout, &cells)?;
        tracing::info!(wave, cells = cells.len(), "result tallies rebuilt from raw answers");
    }
    Ok(())
}
