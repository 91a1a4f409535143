//! Results of a wave: counters rolled up the locality tree and turned into indices.
//! The cost follows the number of groups asked for, not the number of answers.

use crate::domain::answers::ValidAnswers;
use crate::domain::distribution::{Distribution, DistributionPlan};
use crate::domain::form::{Form, IndexRule};
use crate::domain::indices::{Figure, IndexPlan, IndexValue, StratumPart, mean_of_units};
use crate::domain::locality::LocalityTree;
use crate::domain::tally::{self, Tally};
use crate::domain::wave::{Channel, DeskFilter, WaveStatus, Weighting};
use crate::service::disclosure::Suppression;
use crate::storage::tallies::{AgencyRows, GrowingTable, RawAnswer, ResultCells, ResultRow};
use crate::storage::waves::Wave;
use crate::storage::{Database, StorageError, StorageResult};
use serde::Serialize;
use serde_json::ser::Formatter;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

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
    /// How the figures were estimated (`design` only where the wave has a sample draw).
    pub weighting: Weighting,
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
    /// The answers invited at this locality itself, which sits above the level asked: the
    /// row that makes a level's rows add up to the whole (a province's own agencies when
    /// grouping by district).
    pub own_level: bool,
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

impl GroupResult {
    fn new(
        locality: Option<LocalityRef>,
        agency: Option<AgencyRef>,
        tally: &GroupTally,
        figures: Vec<Figure>,
        items: Vec<Distribution>,
    ) -> Self {
        GroupResult {
            locality,
            agency,
            responses: tally.responses,
            desk_responses: tally.desk_responses,
            own_level: false,
            figures,
            ranks: Vec::new(),
            changes: Vec::new(),
            rank_changes: Vec::new(),
            items,
        }
    }
}

#[derive(Debug)]
pub struct WaveResults {
    pub overall: Overall,
    pub groups: Vec<GroupResult>,
}

/// Groups per chunk of a streamed results document: a chunk of a few hundred kB is
/// reused from the allocator's pages, where one of several MB was faulted in afresh.
const GROUPS_PER_CHUNK: usize = 96;

/// The fields of each figure in a results document's groups, in order: `deff` only where
/// the figures are weighted by a design, `change` and `rank_change` only against a compared
/// wave.
#[derive(Clone, Copy)]
struct FigureFields {
    deff: bool,
    changes: bool,
}

impl FigureFields {
    fn of(results: &WaveResults) -> Self {
        FigureFields {
            deff: results.overall.weighting == Weighting::Design,
            changes: results.overall.indices.iter().any(|i| i.change.is_some())
                || results.groups.iter().any(|g| !g.changes.is_empty()),
        }
    }

    fn names(self) -> Vec<&'static str> {
        let mut names = vec!["value", "n", "ci_low", "ci_high"];
        if self.deff {
            names.push("deff");
        }
        names.extend(["suppressed", "rank"]);
        if self.changes {
            names.extend(["change", "rank_change"]);
        }
        names
    }
}

impl WaveResults {
    /// The JSON document in chunks of a few dozen groups, so a national commune-level
    /// answer is sent while it is being written rather than built whole first; the chunks
    /// are formatted on the cores a few at a time (formatting the 2.7 million numbers of a
    /// national commune-level document took one core 60 ms), and come out in order.
    ///
    /// `overall` names every index; each group gives its figures in the same order, each
    /// figure an array of the fields `figure_fields` names. Named objects repeated the index
    /// id and seven keys in each of the 895,000 figures of a national SIPAS 2023 commune-level
    /// document: 124.6 MB, where the figures themselves are half of that.
    pub fn into_json_chunks(self) -> impl Iterator<Item = Vec<u8>> {
        let fields = FigureFields::of(&self);
        let mut head = br#"{"overall":"#.to_vec();
        serde_json::to_writer(&mut head, &self.overall).expect("results serialise");
        head.extend_from_slice(br#","figure_fields":"#);
        serde_json::to_writer(&mut head, &fields.names()).expect("results serialise");
        head.extend_from_slice(br#","groups":["#);
        let groups = self.groups;
        let workers = result_workers();
        let (mut next, mut ready) = (0, std::collections::VecDeque::new());
        let body = std::iter::from_fn(move || {
            if ready.is_empty() && next < groups.len() {
                let end = (next + workers * CHUNKS_PER_WORKER * GROUPS_PER_CHUNK).min(groups.len());
                let chunks: Vec<(usize, &[GroupResult])> = groups[next..end]
                    .chunks(GROUPS_PER_CHUNK)
                    .enumerate()
                    .map(|(i, c)| (next + i * GROUPS_PER_CHUNK, c))
                    .collect();
                let format = |(start, chunk): &(usize, &[GroupResult])| {
                    let mut out = Vec::with_capacity(chunk.len() * 8 * 1024);
                    for (i, group) in chunk.iter().enumerate() {
                        if start + i > 0 {
                            out.push(b',');
                        }
                        write_group(&mut out, fields, group);
                    }
                    out
                };
                let share = chunks.len().div_ceil(workers).max(1);
                std::thread::scope(|scope| {
                    let parts: Vec<_> = chunks
                        .chunks(share)
                        .map(|part| scope.spawn(move || part.iter().map(format).collect::<Vec<_>>()))
                        .collect();
                    for part in parts {
                        ready.extend(part.join().expect("formatting a chunk does not panic"));
                    }
                });
                next = end;
            }
            ready.pop_front()
        });
        std::iter::once(head).chain(body).chain(std::iter::once(b"]}".to_vec()))
    }
}

/// Chunks each core formats at a time: enough that starting the threads costs little beside
/// them, few enough that the first are sent early.
const CHUNKS_PER_WORKER: usize = 4;

/// One group of the results document, written by hand rather than derived: serde's map
/// machinery was half the time of a commune-level document.
/// `{"locality","agency","responses","desk_responses"[,"own_level":true],"figures":[…]}`,
/// each figure `[value,n,ci_low,ci_high(,deff),suppressed,rank(,change,rank_change)]` with
/// `null` for what is absent.
fn write_group(out: &mut Vec<u8>, fields: FigureFields, group: &GroupResult) {
    out.extend_from_slice(br#"{"locality":"#);
    serde_json::to_writer(&mut *out, &group.locality).expect("results serialise");
    out.extend_from_slice(br#","agency":"#);
    serde_json::to_writer(&mut *out, &group.agency).expect("results serialise");
    out.extend_from_slice(br#","responses":"#);
    write_number(out, group.responses);
    out.extend_from_slice(br#","desk_responses":"#);
    write_number(out, group.desk_responses);
    if group.own_level {
        out.extend_from_slice(br#","own_level":true"#);
    }
    out.extend_from_slice(br#","figures":["#);
    for (i, (figure, rank)) in group.figures.iter().zip(&group.ranks).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        write_decimal(out, figure.value);
        out.push(b',');
        write_number(out, figure.n);
        out.push(b',');
        write_decimal(out, figure.ci_low);
        out.push(b',');
        write_decimal(out, figure.ci_high);
        if fields.deff {
            out.push(b',');
            write_decimal(out, figure.deff);
        }
        out.extend_from_slice(if figure.suppressed { b",true," } else { b",false," });
        match rank {
            Some(rank) => write_number(out, u64::from(*rank)),
            None => out.extend_from_slice(b"null"),
        }
        if fields.changes {
            out.push(b',');
            write_decimal(out, group.changes.get(i).copied().flatten());
            out.push(b',');
            match group.rank_changes.get(i).copied().flatten() {
                Some(change) => serde_json::ser::CompactFormatter.write_i64(out, change).expect("writing to memory"),
                None => out.extend_from_slice(b"null"),
            }
        }
        out.push(b']');
    }
    out.extend_from_slice(b"]}");
}

fn write_number(out: &mut Vec<u8>, n: u64) {
    serde_json::ser::CompactFormatter.write_u64(out, n).expect("writing to memory");
}

/// A decimal as serde writes an `Option<f64>`: `null` when absent or not finite.
fn write_decimal(out: &mut Vec<u8>, value: Option<f64>) {
    match value.filter(|v| v.is_finite()) {
        Some(v) => serde_json::ser::CompactFormatter.write_f64(out, v).expect("writing to memory"),
        None => out.extend_from_slice(b"null"),
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
    pub weighting: Weighting,
    /// Whether each group's item distributions are read too (the report's item tables).
    pub items: bool,
}

/// Results of a wave, read from the tallies of the level asked only: overall from the
/// whole-wave rows, groups from that level's roll-ups (or the agencies' whole-wave rows); every
/// figure through the wave's `suppression`, then formed as each index declares, then ranked.
pub fn wave_results(
    db: &Database,
    form: &Form,
    wave: &Wave,
    query: &ResultsQuery,
    suppression: &Suppression,
) -> StorageResult<WaveResults> {
    let reading = Reading { db, form, wave, query, suppression };
    let mut tree = None;
    let mut results = unit_results(&reading, &mut tree)?;
    let mut levels: Vec<&str> = form.indices.iter().filter_map(|i| i.aggregate.children_level()).collect();
    levels.sort();
    levels.dedup();
    for level in levels {
        average_units(&reading, level, &mut tree, &mut results)?;
    }
    rank(&mut results.groups, form.indices.len());
    Ok(results)
}

/// The locality tree the wave's results use, read once per call and only if needed.
fn tree_of<'t>(db: &Database, wave: &Wave, tree: &'t mut Option<Arc<LocalityTree>>) -> StorageResult<&'t LocalityTree> {
    if tree.is_none() {
        *tree = Some(db.wave_tree(wave)?);
    }
    Ok(tree.as_deref().expect("just read"))
}

/// What one results call reads.
#[derive(Clone, Copy)]
struct Reading<'a> {
    db: &'a Database,
    form: &'a Form,
    wave: &'a Wave,
    query: &'a ResultsQuery,
    suppression: &'a Suppression,
}

/// Hides a group's figures and item distributions through the wave's suppression; `own` is
/// the locality's level for a row of answers invited at the locality itself: the part of the
/// locality's cell its children leave out, or the whole cell when no child has answers.
fn hide(
    reading: &Reading,
    level: &str,
    locality: &str,
    agency: Option<&str>,
    own: Option<&str>,
    figures: &mut [Figure],
    items: &mut [Distribution],
) {
    let Reading { query, suppression, .. } = *reading;
    let agency = agency.or(query.agency_scope.as_deref()).unwrap_or(tally::ALL_AGENCIES);
    let level = match own {
        Some(_) if suppression.has_own_cell(query.desk, locality, agency) => tally::LEAF,
        Some(its_level) => its_level,
        None => level,
    };
    suppression.apply(query.desk, level, locality, agency, figures);
    suppression.apply_items(query.desk, level, locality, agency, items);
}

/// The agency cell of a group's figures: split by agency, a group without one is the cell of
/// the answers that have none (`""`), not the locality's every agency together.
fn group_agency<'a>(query: &ResultsQuery, agency: Option<&'a str>) -> Option<&'a str> {
    if query.by_agency { Some(agency.unwrap_or("")) } else { agency }
}

/// Each group's figures as the query asks: pooled, then weighted by the design if asked.
fn unit_results(reading: &Reading, tree: &mut Option<Arc<LocalityTree>>) -> StorageResult<WaveResults> {
    let mut results = pooled_results(reading, tree)?;
    if reading.query.weighting == Weighting::Design {
        reweight(reading, tree, &mut results)?;
    }
    Ok(results)
}

/// A stratum of the sample's design (its locality and, where the draw split them, agency), or
/// `None` for answers outside every stratum (desk codes, codes issued by hand elsewhere).
type StratumKey = Option<(String, Option<String>)>;

/// The figures of the whole wave and of every group recomputed with design weights: each
/// answer from a stratum of the wave's latest sample draw weighs N_h / r_h (its population
/// over the stratum's answers), the others 1. Without a draw the figures stay unweighted.
fn reweight(reading: &Reading, tree: &mut Option<Arc<LocalityTree>>, results: &mut WaveResults) -> StorageResult<()> {
    let Reading { db, form, wave, query, .. } = *reading;
    let Some(draw) = db.draws(&wave.id)?.into_iter().next() else { return Ok(()) };
    let design: DrawDesign =
        serde_json::from_value(draw.design).map_err(|e| StorageError::Corrupt(format!("draw design: {e}")))?;
    let drawn: Vec<DrawnStratum> =
        serde_json::from_value(draw.strata).map_err(|e| StorageError::Corrupt(format!("draw strata: {e}")))?;
    let populations: HashMap<(String, Option<String>), u64> =
        drawn.into_iter().map(|s| ((s.locality_code, s.agency_code), s.population)).collect();
    let tree = tree_of(db, wave, tree)?;
    let plan = IndexPlan::new(form, &*db.tally_layout(&wave.id)?);
    let scope = query.agency_scope.as_deref();
    let mut responding: HashMap<StratumKey, u64> = HashMap::new();
    let mut overall: HashMap<StratumKey, GroupTally> = HashMap::new();
    let mut groups: HashMap<(GroupKey, bool), HashMap<StratumKey, GroupTally>> = HashMap::new();
    let leaves = ResultCells {
        level: tally::LEAF,
        agencies: AgencyRows::Each,
        desk: DeskFilter::Include,
        localities: None,
        codes: (None, None),
    };
    db.each_result_row(&wave.id, &leaves, plan.slots_read(), |row| {
        let stratum = (row.channel == Channel::Standard)
            .then(|| tree.ancestor_at_level(&row.locality_code, &design.level))
            .flatten()
            .map(|at| (at.code.clone(), design.by_agency.then(|| row.agency_code.clone()).filter(|a| !a.is_empty())))
            .filter(|key| populations.contains_key(key));
        *responding.entry(stratum.clone()).or_default() += row.responses;
        if !query.desk.counts(row.channel) || scope.is_some_and(|a| a != row.agency_code) {
            return Ok(());
        }
        overall.entry(stratum.clone()).or_default().add(&row)?;
        let agency = query.by_agency.then(|| row.agency_code.clone()).filter(|a| !a.is_empty());
        let group = match &query.level {
            Some(level) => match tree.ancestor_at_level(&row.locality_code, level) {
                Some(at) => Some(((Some(at.code.clone()), agency), false)),
                None => Some(((Some(row.locality_code.clone()), agency), true)),
            },
            None => query.by_agency.then_some(((None, agency), false)),
        };
        match group {
            Some(group) => groups.entry(group).or_default().entry(stratum).or_default().add(&row),
            None => Ok(()),
        }
    })?;
    let figures = |strata: &HashMap<StratumKey, GroupTally>| {
        let parts: Vec<StratumPart> = strata
            .iter()
            .map(|(key, part)| {
                let answers = responding[key];
                let population = key.as_ref().and_then(|k| populations.get(k)).map(|&n| n.max(answers));
                StratumPart {
                    tally: &part.tally,
                    respondents: part.responses,
                    weight: population.map_or(1.0, |n| n as f64 / answers as f64),
                    stratum_respondents: answers,
                    sampling_fraction: population.map_or(0.0, |n| answers as f64 / n as f64),
                }
            })
            .collect();
        plan.compute_weighted(&parts)
    };
    let mut whole = figures(&overall);
    hide(reading, tally::WHOLE, "", None, None, &mut whole, &mut []);
    for (index, figure) in results.overall.indices.iter_mut().zip(whole) {
        index.figure = figure;
    }
    results.overall.weighting = Weighting::Design;
    let level = query.level.as_deref().unwrap_or(tally::WHOLE);
    for group in &mut results.groups {
        let locality = group.locality.as_ref();
        let key = ((locality.map(|l| l.code.clone()), group.agency.as_ref().map(|a| a.code.clone())), group.own_level);
        let Some(strata) = groups.get(&key) else { continue };
        let mut weighted = figures(strata);
        let code = locality.map_or("", |l| l.code.as_str());
        let own = group.own_level.then(|| locality.map_or("", |l| l.level.as_str()));
        hide(reading, level, code, group_agency(query, key.0.1.as_deref()), own, &mut weighted, &mut []);
        group.figures = weighted;
    }
    Ok(())
}

/// What a sample draw records of its design and strata (`service::sampling`).
#[derive(serde::Deserialize)]
struct DrawDesign {
    level: String,
    #[serde(default)]
    by_agency: bool,
}

#[derive(serde::Deserialize)]
struct DrawnStratum {
    locality_code: String,
    agency_code: Option<String>,
    population: u64,
}

/// Every index computed from all the answers beneath each group, as one group.
fn pooled_results(reading: &Reading, tree: &mut Option<Arc<LocalityTree>>) -> StorageResult<WaveResults> {
    let Reading { db, form, wave, query, .. } = *reading;
    let wave_id = wave.id.as_str();
    let layout = db.tally_layout(wave_id)?;
    let plan = IndexPlan::new(form, &layout);
    let scope = query.agency_scope.as_deref();
    let whole_agencies = scope.map_or(AgencyRows::All, AgencyRows::Only);
    let items = query.items.then(|| DistributionPlan::new(form, &layout));
    let slots = plan.slots_read().max(items.as_ref().map_or(0, |i| i.slots_read()));
    let distributions = |tally: &GroupTally| items.as_ref().map_or_else(Vec::new, |i| i.compute(&tally.tally));
    let mut overall = GroupTally::default();
    let whole = ResultCells {
        level: tally::WHOLE,
        agencies: whole_agencies,
        desk: query.desk,
        localities: None,
        codes: (None, None),
    };
    db.each_result_row(wave_id, &whole, slots, |row| overall.add(&row))?;
    let mut groups: Vec<(GroupKey, GroupResult)> = Vec::new();
    if query.level.is_some() || query.by_agency {
        let level = query.level.as_deref().unwrap_or(tally::WHOLE);
        let agencies = match (query.by_agency, scope) {
            (true, None) => AgencyRows::Each,
            (_, Some(agency)) => AgencyRows::Only(agency),
            (false, None) => AgencyRows::All,
        };
        let key = |row: &ResultRow| {
            (
                query.level.as_ref().map(|_| row.locality_code.clone()),
                query.by_agency.then(|| row.agency_code.clone()).filter(|a| !a.is_empty()),
            )
        };
        let splits = match &query.level {
            Some(level) => splitting_codes(tree_of(db, wave, tree)?, level),
            None => Vec::new(),
        };
        let bounds: Vec<Option<&str>> =
            std::iter::once(None).chain(splits.iter().map(|c| Some(c.as_str()))).chain(std::iter::once(None)).collect();
        let parts: Vec<RowSource> = bounds
            .windows(2)
            .map(|codes| {
                let codes = (codes[0], codes[1]);
                Box::new(move |each: &mut dyn FnMut(ResultRow) -> StorageResult<()>| {
                    let cells = ResultCells { level, agencies, desk: query.desk, localities: None, codes };
                    db.each_result_row(wave_id, &cells, slots, each)
                }) as RowSource
            })
            .collect();
        groups = read_groups(parts, key, |(locality, agency): &GroupKey, tally: &GroupTally| {
            let (mut figures, mut items) = (plan.compute(&tally.tally, tally.responses), distributions(tally));
            let locality = locality.as_deref().unwrap_or("");
            hide(reading, level, locality, group_agency(query, agency.as_deref()), None, &mut figures, &mut items);
            (figures, items)
        })?;
        if wave.status == WaveStatus::Closed {
            // A closed wave's localities are named as they stood when it closed.
            let tree = tree_of(db, wave, tree)?;
            for (_, group) in &mut groups {
                if let Some(locality) = group.locality.as_mut().and_then(|l| Some((tree.get(&l.code)?, l))) {
                    let (then, shown) = locality;
                    (shown.name, shown.level) = (then.name.clone(), then.level.clone());
                }
            }
        }
        let grouped: u64 = groups.iter().filter(|(key, _)| key.0.is_some()).map(|(_, g)| g.responses).sum();
        if let (Some(level), true) = (&query.level, grouped < overall.responses) {
            // Some answers were invited above the level (or outside its branches): each such
            // locality gets its own row, so that the rows add up to the whole.
            let tree = tree_of(db, wave, tree)?;
            let outside = tree.outside_level(level);
            let leaf_agencies = scope.map_or(AgencyRows::Each, AgencyRows::Only);
            let own = read_groups(
                vec![Box::new(|each: &mut dyn FnMut(ResultRow) -> StorageResult<()>| {
                    let cells = ResultCells {
                        level: tally::LEAF,
                        agencies: leaf_agencies,
                        desk: query.desk,
                        localities: Some(&outside),
                        codes: (None, None),
                    };
                    db.each_result_row(wave_id, &cells, slots, each)
                })],
                key,
                |(locality, agency): &GroupKey, tally: &GroupTally| {
                    let (mut figures, mut items) = (plan.compute(&tally.tally, tally.responses), distributions(tally));
                    let code = locality.as_deref().unwrap_or("");
                    let its_level = tree.get(code).map(|l| l.level.as_str());
                    let own = Some(its_level.unwrap_or(""));
                    hide(reading, level, code, group_agency(query, agency.as_deref()), own, &mut figures, &mut items);
                    (figures, items)
                },
            )?;
            for (key, mut group) in own {
                group.own_level = true;
                if let Some(then) = group.locality.as_mut().and_then(|l| Some((tree.get(&l.code)?, l))) {
                    let (then, shown) = then;
                    (shown.name, shown.level) = (then.name.clone(), then.level.clone());
                }
                groups.push((key, group));
            }
        }
        if let (Some(level), false, false) = (&query.level, query.by_agency, query.covered.is_empty()) {
            // Covered localities without answers are listed too.
            let answered: HashSet<String> = groups.iter().filter_map(|(key, _)| key.0.clone()).collect();
            let none = plan.compute(&Tally::default(), 0);
            let tree = tree_of(db, wave, tree)?;
            let mut listed = HashSet::new();
            for root in &query.covered {
                for code in covered_at_level(tree, root, level) {
                    if answered.contains(&code) || !listed.insert(code.clone()) {
                        continue;
                    }
                    let locality = tree.get(&code).map(|l| LocalityRef {
                        code: l.code.clone(),
                        name: l.name.clone(),
                        level: l.level.clone(),
                    });
                    let empty = GroupTally::default();
                    let (figures, items) = (none.clone(), distributions(&empty));
                    groups.push(((Some(code), None), GroupResult::new(locality, None, &empty, figures, items)));
                }
            }
        }
        // A level's units first, then the rows of answers invited above it.
        groups.sort_by(|a, b| (a.1.own_level, &a.0).cmp(&(b.1.own_level, &b.0)));
    }
    let groups: Vec<GroupResult> = groups.into_iter().map(|(_, group)| group).collect();
    let (mut figures, mut items) = (plan.compute(&overall.tally, overall.responses), distributions(&overall));
    hide(reading, tally::WHOLE, "", None, None, &mut figures, &mut items);
    Ok(WaveResults {
        overall: Overall {
            responses: overall.responses,
            desk_responses: overall.desk_responses,
            weighting: Weighting::None,
            indices: plan.labelled(figures),
            items,
        },
        groups,
    })
}

/// For the indices declared `mean_of_children` at `level`: the whole wave's figure and that of
/// every group above `level` become the mean of the units at `level` beneath. Groups with no
/// unit beneath keep their pooled figure; rows of answers invited above the level are no
/// units.
fn average_units(
    reading: &Reading,
    level: &str,
    tree: &mut Option<Arc<LocalityTree>>,
    results: &mut WaveResults,
) -> StorageResult<()> {
    let Reading { db, form, wave, query, .. } = *reading;
    let declared: Vec<usize> =
        (0..form.indices.len()).filter(|&p| form.indices[p].aggregate.children_level() == Some(level)).collect();
    let units_of = |by_agency: bool, tree: &mut Option<Arc<LocalityTree>>| {
        let units = ResultsQuery {
            level: Some(level.to_string()),
            by_agency,
            agency_scope: query.agency_scope.clone(),
            covered: Vec::new(),
            desk: query.desk,
            weighting: query.weighting,
            items: false,
        };
        unit_results(&Reading { query: &units, ..*reading }, tree)
    };
    let mean =
        |units: &[&GroupResult], p: usize| mean_of_units(&units.iter().map(|u| u.figures[p]).collect::<Vec<_>>());
    let units = units_of(false, tree)?;
    let all: Vec<&GroupResult> = units.groups.iter().filter(|u| !u.own_level).collect();
    if !all.is_empty() {
        for &p in &declared {
            results.overall.indices[p].figure = mean(&all, p);
        }
    }
    if results.groups.is_empty() || query.level.as_deref() == Some(level) {
        return Ok(());
    }
    let units = if query.by_agency { units_of(true, tree)? } else { units };
    let tree = tree_of(db, wave, tree)?;
    let mut beneath: HashMap<GroupKey, Vec<&GroupResult>> = HashMap::new();
    for unit in units.groups.iter().filter(|u| !u.own_level) {
        let locality = match (&query.level, &unit.locality) {
            (None, _) => None,
            (Some(grouped), Some(locality)) => match tree.ancestor_at_level(&locality.code, grouped) {
                Some(above) => Some(above.code.clone()),
                None => continue,
            },
            (Some(_), None) => continue,
        };
        let agency = unit.agency.as_ref().map(|a| a.code.clone()).filter(|_| query.by_agency);
        beneath.entry((locality, agency)).or_default().push(unit);
    }
    for group in results.groups.iter_mut().filter(|g| !g.own_level) {
        let key = (group.locality.as_ref().map(|l| l.code.clone()), group.agency.as_ref().map(|a| a.code.clone()));
        if let Some(units) = beneath.get(&key) {
            for &p in &declared {
                group.figures[p] = mean(units, p);
            }
        }
    }
    Ok(())
}

/// An earlier wave's groups as units of today's tree: codes the `crosswalk` maps (old → new)
/// are renamed, and units merged into one are combined — a share from its parts' published
/// positive and valid answers, a mean from the combined shares; where a part is hidden the
/// merged figure is hidden too (combining must not reveal it). Then ranked again.
pub fn through_crosswalk(earlier: &mut WaveResults, form: &Form, crosswalk: &HashMap<String, String>) {
    if crosswalk.is_empty() {
        return;
    }
    let mut merged: BTreeMap<GroupKey, Vec<GroupResult>> = BTreeMap::new();
    for mut group in std::mem::take(&mut earlier.groups) {
        if let Some(locality) = group.locality.as_mut()
            && let Some(new) = crosswalk.get(&locality.code)
        {
            locality.code = new.clone();
        }
        let key = (group.locality.as_ref().map(|l| l.code.clone()), group.agency.as_ref().map(|a| a.code.clone()));
        merged.entry(key).or_default().push(group);
    }
    earlier.groups = merged.into_values().map(|parts| combine(form, parts)).collect();
    rank(&mut earlier.groups, form.indices.len());
}

/// One group from several of an earlier tree (see `through_crosswalk`).
fn combine(form: &Form, mut parts: Vec<GroupResult>) -> GroupResult {
    if parts.len() == 1 {
        return parts.remove(0);
    }
    let responses = parts.iter().map(|p| p.responses).sum();
    let mut figures: Vec<Figure> = Vec::with_capacity(form.indices.len());
    for (i, index) in form.indices.iter().enumerate() {
        let hidden = parts.iter().any(|p| p.figures[i].suppressed);
        let figure = match &index.rule {
            _ if hidden => {
                Figure { n: parts.iter().map(|p| p.figures[i].n).sum(), suppressed: true, ..Figure::default() }
            }
            IndexRule::Share { .. } => {
                let (hits, valid) = parts.iter().fold((0, 0), |(hits, valid), p| {
                    let f = &p.figures[i];
                    (hits + f.value.map_or(0, |v| (v * f.n as f64 / 100.0).round() as u64), valid + f.n)
                });
                let value = (valid > 0).then(|| 100.0 * hits as f64 / valid as f64);
                Figure { value, n: valid, ..Figure::default() }
            }
            IndexRule::Mean { of } => {
                let values: Option<Vec<f64>> = of
                    .iter()
                    .map(|id| form.indices.iter().position(|x| &x.id == id).and_then(|p| figures.get(p)?.value))
                    .collect();
                let value = values.map(|v| v.iter().sum::<f64>() / v.len() as f64);
                Figure { value, n: if value.is_some() { responses } else { 0 }, ..Figure::default() }
            }
        };
        figures.push(figure);
    }
    let mut group = parts.swap_remove(0);
    group.responses = responses;
    group.desk_responses += parts.iter().map(|p| p.desk_responses).sum::<u64>();
    group.figures = figures;
    group
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
/// a rank and the next rank skips (1, 2, 2, 4). Hidden and empty figures have none, nor
/// rows of answers invited above the level (they are not units of it).
fn rank(groups: &mut [GroupResult], indices: usize) {
    // Each core gathers the published figures of its share of the indices and ranks them:
    // sorting each index by walking the groups' own vectors took 78 ms of a national
    // commune-level call (89 indices, 10,051 groups), and gathering the columns on one core
    // (reading some 70 MB of figures) was still a tenth of the call's time.
    let share = indices.div_ceil(result_workers()).max(1);
    let units = &*groups;
    let ranked: Vec<Vec<u32>> = std::thread::scope(|scope| {
        let parts: Vec<_> = (0..indices)
            .step_by(share)
            .map(|first| {
                scope.spawn(move || {
                    let mut columns: Vec<Vec<(u64, u32)>> = vec![Vec::new(); share.min(indices - first)];
                    for (g, group) in units.iter().enumerate().filter(|(_, group)| !group.own_level) {
                        for (column, figure) in columns.iter_mut().zip(group.figures.iter().skip(first)) {
                            column.extend(figure.value.map(|value| (descending(value), g as u32)));
                        }
                    }
                    columns.iter_mut().map(|column| ranks_of(column, units.len())).collect::<Vec<_>>()
                })
            })
            .collect();
        parts.into_iter().flat_map(|part| part.join().expect("ranking does not panic")).collect()
    });
    for (g, group) in groups.iter_mut().enumerate() {
        group.ranks = ranked.iter().map(|column| std::num::NonZeroU32::new(column[g]).map(u32::from)).collect();
    }
}

/// Each of `groups` ranked by its key in `column` (0 for a group not in it).
fn ranks_of(column: &mut Vec<(u64, u32)>, groups: usize) -> Vec<u32> {
    sort_by_key(column);
    let mut ranks = vec![0; groups];
    let mut first_equal = 0;
    for (place, &(key, g)) in column.iter().enumerate() {
        if place > 0 && column[place - 1].0 != key {
            first_equal = place;
        }
        ranks[g as usize] = first_equal as u32 + 1;
    }
    ranks
}

/// Sorts a column by its keys, a byte at a time from the lowest, skipping the bytes every key
/// shares (a column's figures share their exponent): a comparison sort of the 89 columns of a
/// national commune-level call was a tenth of its time. The counts of every byte are taken
/// in one pass. Equal keys keep their order.
fn sort_by_key(column: &mut Vec<(u64, u32)>) {
    let mut counts = [[0usize; 256]; 8];
    for &(key, _) in column.iter() {
        for (byte, counts) in counts.iter_mut().enumerate() {
            counts[(key >> (8 * byte)) as usize & 0xff] += 1;
        }
    }
    let mut sorted = vec![(0, 0); column.len()];
    for (byte, starts) in counts.iter_mut().enumerate() {
        if starts.contains(&column.len()) {
            continue;
        }
        let mut next = 0;
        for start in starts.iter_mut() {
            (*start, next) = (next, next + *start);
        }
        for &item in column.iter() {
            let at = &mut starts[(item.0 >> (8 * byte)) as usize & 0xff];
            sorted[*at] = item;
            *at += 1;
        }
        std::mem::swap(column, &mut sorted);
    }
}

/// A key that sorts figures highest first, equal figures equal (figures are finite).
fn descending(value: f64) -> u64 {
    let bits = value.to_bits();
    // The IEEE order of the bits made unsigned: negatives reversed below the positives.
    let ascending = if bits >> 63 == 1 { !bits } else { bits | 1 << 63 };
    !ascending
}

type GroupKey = (Option<String>, Option<String>);

/// A group's figures under its key.
type Grouped = (GroupKey, GroupResult);

/// Rows ordered by locality and agency gathered into groups by `key`: a group's rows (one per
/// channel, or per agency) are consecutive, so each group is complete when the next begins.
/// Complete groups' `figures` are computed on worker threads while this one reads on (the
/// intervals of a SIPAS 2023 commune-level call are most of its time), at most a few groups'
/// counts in flight, and the groups are returned in the order read.
fn read_groups<'p>(
    parts: Vec<RowSource<'p>>,
    key: impl Fn(&ResultRow) -> GroupKey + Sync,
    figures: impl Fn(&GroupKey, &GroupTally) -> (Vec<Figure>, Vec<Distribution>) + Sync,
) -> StorageResult<Vec<Grouped>> {
    let close = |(key, names, rows): (GroupKey, GroupNames, Vec<ResultRow>)| {
        let tally = GroupTally::of(&rows)?;
        drop(rows);
        let (figures, items) = figures(&key, &tally);
        let agency = key.1.clone().map(|code| AgencyRef { name: names.agency.unwrap_or_default(), code });
        let group = GroupResult::new(names.locality, agency, &tally, figures, items);
        Ok((key, group))
    };
    let workers = result_workers();
    // A batch is numbered by its part and its place in that part's reading.
    type Batch = ((usize, usize), Vec<(GroupKey, GroupNames, Vec<ResultRow>)>);
    std::thread::scope(|scope| {
        let (complete, pending) = std::sync::mpsc::sync_channel::<Batch>(2 * workers);
        // Shared by the workers only, so that it closes if they all stop.
        let pending = std::sync::Arc::new(std::sync::Mutex::new(pending));
        let (done, finished) = std::sync::mpsc::channel();
        for _ in 0..workers {
            let (pending, done, close) = (pending.clone(), done.clone(), &close);
            scope.spawn(move || {
                // The lock is held only to take the next batch, never while computing.
                while let Ok((order, batch)) = { pending.lock().map_or_else(|p| p.into_inner().recv(), |r| r.recv()) } {
                    let batch: StorageResult<Vec<Grouped>> = batch.into_iter().map(close).collect();
                    if done.send((order, batch)).is_err() {
                        return;
                    }
                }
            });
        }
        drop((done, pending));
        let key = &key;
        let read = move |part: usize, rows: RowSource<'p>, complete: std::sync::mpsc::SyncSender<Batch>| {
            let mut batch = Vec::with_capacity(GROUPS_PER_BATCH);
            let mut batches = 0;
            let mut send = |batch: Vec<_>| {
                // Fails only when every worker has panicked, which the scope then raises.
                let _ = complete.send(((part, batches), batch));
                batches += 1;
            };
            // A reader only gathers each group's rows as stored: decoding them is the workers'.
            let mut open: Option<(GroupKey, GroupNames, Vec<ResultRow>)> = None;
            let reading = rows(&mut |row: ResultRow| {
                let key = key(&row);
                if open.as_ref().is_some_and(|(k, ..)| *k != key) {
                    batch.extend(open.take());
                    if batch.len() == GROUPS_PER_BATCH {
                        send(std::mem::replace(&mut batch, Vec::with_capacity(GROUPS_PER_BATCH)));
                    }
                }
                let (_, _, rows) = open.get_or_insert_with(|| {
                    let names = GroupNames {
                        locality: row.locality.clone().map(|(name, level)| LocalityRef {
                            code: row.locality_code.clone(),
                            name,
                            level,
                        }),
                        agency: row.agency_name.clone(),
                    };
                    (key, names, Vec::new())
                });
                rows.push(row);
                Ok(())
            });
            batch.extend(open.take());
            send(batch);
            reading
        };
        // The first part is read on this thread, the others beside it.
        let mut parts = parts.into_iter().enumerate();
        let first = parts.next();
        let others: Vec<_> = parts
            .map(|(part, rows)| {
                let complete = complete.clone();
                scope.spawn(move || read(part, rows, complete))
            })
            .collect();
        let mut reading = first.map_or(Ok(()), |(part, rows)| read(part, rows, complete));
        for other in others {
            let other = other.join().expect("reading a part does not panic");
            reading = reading.and(other);
        }
        let mut computed: Vec<_> = finished.iter().collect();
        reading?;
        computed.sort_unstable_by_key(|(order, _)| *order);
        let mut groups = Vec::new();
        for (_, batch) in computed {
            groups.extend(batch?);
        }
        Ok(groups)
    })
}

/// Reads one part of a results call's rows, in order, handing each to the function given.
type RowSource<'p> = Box<dyn FnOnce(&mut dyn FnMut(ResultRow) -> StorageResult<()>) -> StorageResult<()> + Send + 'p>;

/// Localities a reader of a level's rows is given at least: below it one keeps up with the
/// workers, and reading a national commune level (10,051 cells of some 4 kB, from pages they
/// share with the communes' agencies) alone was half of one core's part of the call.
const LOCALITIES_PER_READER: usize = 2_000;

/// The codes that cut a level's localities into runs read side by side (none for a level
/// one reader keeps up with): the first code of every run but the first.
fn splitting_codes(tree: &LocalityTree, level: &str) -> Vec<String> {
    let codes = tree.codes_at_level(level);
    let parts = result_workers().min(codes.len() / LOCALITIES_PER_READER).max(1);
    (1..parts).map(|part| codes[part * codes.len() / parts].to_string()).collect()
}

/// Groups handed to a worker at a time: enough that handing them over costs little beside
/// computing them.
const GROUPS_PER_BATCH: usize = 64;

/// Threads computing a results call's groups: the machine's cores, at most this many.
const MAX_RESULT_WORKERS: usize = 4;

fn result_workers() -> usize {
    crate::cores().min(MAX_RESULT_WORKERS)
}

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
    fn add(&mut self, row: &ResultRow) -> StorageResult<()> {
        self.tally.merge_owned(row.tally()?);
        self.responses += row.responses;
        if row.channel == Channel::Desk {
            self.desk_responses += row.responses;
        }
        Ok(())
    }

    fn of(rows: &[ResultRow]) -> StorageResult<Self> {
        let mut tally = GroupTally::default();
        for row in rows {
            tally.add(row)?;
        }
        Ok(tally)
    }
}

/// Localities at `level` inside the covered locality `root` (or `root`'s own ancestor).
fn covered_at_level(tree: &LocalityTree, root: &str, level: &str) -> Vec<String> {
    if let Some(ancestor) = tree.ancestor_at_level(root, level) {
        return vec![ancestor.code.clone()];
    }
    tree.descendants_at_level(root, level)
}

/// Raw answers read per page by whoever reads a whole wave: memory follows the page.
pub(crate) const ANSWERS_PAGE: i64 = 2_000;

/// Every raw answer of a wave with its answers read back, in chunks by id: memory stays that
/// of a chunk. Ids are random, so the order says nothing of when answers came.
pub fn each_stored_answer(
    db: &Database,
    form: &Form,
    wave_id: &str,
    mut each: impl FnMut(RawAnswer, ValidAnswers),
) -> StorageResult<()> {
    let mut after = String::new();
    db.refresh_statistics(GrowingTable::Responses)?;
    loop {
        let chunk = db.raw_answers_after(wave_id, &after, ANSWERS_PAGE)?;
        let Some(last) = chunk.last() else { return Ok(()) };
        after = last.0.clone();
        for raw in chunk {
            let valid = ValidAnswers::from_stored(form, &raw.5).map_err(|e| StorageError::Corrupt(e.to_string()))?;
            each(raw, valid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(values: &[Option<f64>], own_level: bool) -> GroupResult {
        let figures = values.iter().map(|&value| Figure { value, ..Figure::default() }).collect();
        GroupResult { own_level, ..GroupResult::new(None, None, &GroupTally::default(), figures, Vec::new()) }
    }

    #[test]
    fn a_document_formatted_on_several_cores_keeps_its_groups_in_order_across_batches() {
        // More groups than the largest batch the cores format at once (4 cores × 4 chunks × 32).
        let count = 3 * MAX_RESULT_WORKERS * CHUNKS_PER_WORKER * GROUPS_PER_CHUNK + 7;
        let groups = (0..count)
            .map(|i| GroupResult {
                responses: i as u64,
                ranks: vec![Some(i as u32)],
                ..group(&[Some(i as f64 + 0.25)], false)
            })
            .collect();
        let overall = Overall {
            responses: count as u64,
            desk_responses: 0,
            weighting: Weighting::None,
            indices: Vec::new(),
            items: Vec::new(),
        };
        let chunks: Vec<Vec<u8>> = WaveResults { overall, groups }.into_json_chunks().collect();
        assert!(chunks.len() > count / GROUPS_PER_CHUNK, "the body came in chunks: {}", chunks.len());
        let document: serde_json::Value = serde_json::from_slice(&chunks.concat()).expect("one JSON document");
        let groups = document["groups"].as_array().expect("groups");
        assert_eq!(groups.len(), count);
        for (i, group) in groups.iter().enumerate() {
            assert_eq!(group["responses"], i, "group {i}");
            assert_eq!(group["figures"][0][0], i as f64 + 0.25, "group {i}");
            assert_eq!(group["figures"][0][5], i, "group {i}");
        }
    }

    proptest::proptest! {
        #[test]
        fn columns_sort_by_key_as_a_comparison_sort_does(keys in proptest::collection::vec(
            proptest::prop_oneof![proptest::prelude::any::<u64>(), proptest::strategy::Strategy::prop_map(0u64..4, |n| n << 40)], 0..600)) {
            let mut column: Vec<(u64, u32)> = keys.iter().enumerate().map(|(i, &k)| (k, i as u32)).collect();
            let mut expected = column.clone();
            expected.sort();
            sort_by_key(&mut column);
            proptest::prop_assert_eq!(column, expected);
        }

        #[test]
        fn every_index_is_ranked_by_the_figures_above_it_however_the_cores_share_the_indices(
            rows in proptest::collection::vec((proptest::collection::vec(proptest::option::of(0u8..6), 7), proptest::bool::weighted(0.1)), 0..40),
        ) {
            let mut groups: Vec<GroupResult> = rows
                .iter()
                .map(|(values, own)| group(&values.iter().map(|v| v.map(|v| f64::from(v) * 12.5)).collect::<Vec<_>>(), *own))
                .collect();
            rank(&mut groups, 7);
            for (g, (values, own)) in rows.iter().enumerate() {
                for (i, value) in values.iter().enumerate() {
                    let above = rows.iter().filter(|(other, own)| !own && other[i].zip(*value).is_some_and(|(o, v)| o > v)).count();
                    let expected = value.filter(|_| !own).map(|_| above as u32 + 1);
                    proptest::prop_assert_eq!(groups[g].ranks[i], expected, "group {} index {}", g, i);
                }
            }
        }
    }

    #[test]
    fn groups_read_in_parts_side_by_side_are_those_read_in_one_pass_in_the_same_order() {
        // 300 communes, some with a row per channel, read whole and cut into parts at
        // several places (a cut between two rows of one group never happens: parts are
        // ranges of locality codes).
        let rows = || -> Vec<ResultRow> {
            (0..300u64)
                .flat_map(|c| {
                    let code = format!("{c:05}");
                    let channels: &[Channel] =
                        if c % 7 == 0 { &[Channel::Standard, Channel::Desk] } else { &[Channel::Standard] };
                    channels
                        .iter()
                        .enumerate()
                        .map(|(k, &channel)| {
                            let mut tally = Tally::default();
                            tally.add(0, c * 3 + k as u64);
                            ResultRow::of(&code, tally::ALL_AGENCIES, channel, 1 + c % 5, &tally)
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let key = |row: &ResultRow| (Some(row.locality_code.clone()), None);
        let figures = |_: &GroupKey, tally: &GroupTally| {
            (
                vec![Figure { value: Some(tally.tally.get(0) as f64), n: tally.responses, ..Figure::default() }],
                Vec::new(),
            )
        };
        let source = |rows: Vec<ResultRow>| -> RowSource<'static> {
            Box::new(move |each: &mut dyn FnMut(ResultRow) -> StorageResult<()>| rows.into_iter().try_for_each(each))
        };
        let seen = |groups: Vec<Grouped>| -> Vec<(String, u64, u64, Option<f64>)> {
            groups
                .into_iter()
                .map(|(key, g)| (key.0.unwrap_or_default(), g.responses, g.desk_responses, g.figures[0].value))
                .collect()
        };
        let whole = seen(read_groups(vec![source(rows())], key, figures).expect("read"));
        assert_eq!(whole.len(), 300);
        for cuts in [vec![1], vec![150], vec![7, 8, 299], vec![40, 41, 200, 250]] {
            let bounds: Vec<Option<String>> = std::iter::once(None)
                .chain(cuts.iter().map(|c| Some(format!("{c:05}"))))
                .chain(std::iter::once(None))
                .collect();
            let parts = bounds
                .windows(2)
                .map(|run| {
                    let within = |code: &String| {
                        run[0].as_ref().is_none_or(|from| code >= from)
                            && run[1].as_ref().is_none_or(|until| code < until)
                    };
                    source(rows().into_iter().filter(|r| within(&r.locality_code)).collect())
                })
                .collect();
            assert_eq!(seen(read_groups(parts, key, figures).expect("read")), whole, "cut at {cuts:?}");
        }
    }

    #[test]
    fn a_level_is_cut_into_runs_of_codes_no_shorter_than_a_reader_is_given() {
        let tree = |communes: usize| {
            LocalityTree::new((0..communes).map(|c| crate::domain::locality::Locality {
                code: format!("{:05}", (c * 7919) % 100_000),
                name: format!("Xã {c}"),
                level: "commune".into(),
                parent_code: None,
            }))
        };
        assert!(splitting_codes(&tree(LOCALITIES_PER_READER * 2 - 1), "commune").is_empty());
        assert!(splitting_codes(&tree(50_000), "district").is_empty());
        let national = tree(10_051);
        let splits = splitting_codes(&national, "commune");
        assert_eq!(splits.len() + 1, result_workers().min(5), "runs for 10,051 communes on {} cores", result_workers());
        let codes = national.codes_at_level("commune");
        let mut starts: Vec<usize> =
            splits.iter().map(|s| codes.iter().position(|c| c == s).expect("a code")).collect();
        starts.insert(0, 0);
        starts.push(codes.len());
        for run in starts.windows(2) {
            assert!(run[1] - run[0] >= LOCALITIES_PER_READER, "a run of {} codes", run[1] - run[0]);
        }
    }

    #[test]
    fn ranks_put_the_highest_first_share_ties_and_skip_hidden_figures_and_rows_above_the_level() {
        let mut groups = vec![
            group(&[Some(50.0), Some(0.0)], false),
            group(&[Some(70.0), None], false),
            group(&[Some(99.0), Some(100.0)], true),
            group(&[Some(70.0), Some(12.5)], false),
            group(&[None, Some(12.5)], false),
            group(&[Some(10.0), Some(-1.0)], false),
        ];
        rank(&mut groups, 2);
        let ranks: Vec<Vec<Option<u32>>> = groups.iter().map(|g| g.ranks.clone()).collect();
        assert_eq!(
            ranks,
            vec![
                vec![Some(3), Some(3)],
                vec![Some(1), None],
                vec![None, None],
                vec![Some(1), Some(1)],
                vec![None, Some(1)],
                vec![Some(4), Some(4)],
            ]
        );
    }
}
