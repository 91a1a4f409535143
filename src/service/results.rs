//! Results of a wave: counters rolled up the locality tree and turned into indices.
//! The cost follows the number of localities and agencies, not the number of answers.

use crate::domain::answers::{self, ValidAnswers};
use crate::domain::form::Form;
use crate::domain::indices::{self, Counts, IndexValue};
use crate::domain::locality::LocalityTree;
use crate::domain::wave::{Channel, DeskFilter};
use crate::storage::{Database, StorageError, StorageResult};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

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
}

#[derive(Debug, Serialize)]
pub struct GroupResult {
    pub locality: Option<LocalityRef>,
    pub agency: Option<AgencyRef>,
    pub responses: u64,
    pub desk_responses: u64,
    pub indices: Vec<IndexValue>,
}

#[derive(Debug, Serialize)]
pub struct WaveResults {
    pub overall: Overall,
    pub groups: Vec<GroupResult>,
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
}

type GroupKey = (Option<String>, Option<String>);

#[derive(Default)]
struct Tally {
    counts: Counts,
    responses: u64,
    desk_responses: u64,
}

impl Tally {
    fn add_responses(&mut self, channel: Channel, n: u64) {
        self.responses += n;
        if channel == Channel::Desk {
            self.desk_responses += n;
        }
    }
}

pub fn wave_results(db: &Database, form: &Form, wave_id: &str, query: &ResultsQuery) -> StorageResult<WaveResults> {
    let scope = query.agency_scope.as_deref();
    let tree = LocalityTree::new(db.all_localities()?);
    let agency_names: HashMap<String, String> = db.all_agencies()?.into_iter().map(|a| (a.code, a.name)).collect();
    let grouping = query.level.is_some() || query.by_agency;
    let key_of = |locality: &str, agency: &str| -> Option<GroupKey> {
        let locality = match &query.level {
            Some(level) => Some(tree.ancestor_at_level(locality, level)?.code.clone()),
            None => None,
        };
        let agency = query.by_agency.then(|| agency.to_string()).filter(|a| !a.is_empty());
        Some((locality, agency))
    };

    let mut overall = Tally::default();
    let mut groups: BTreeMap<GroupKey, Tally> = BTreeMap::new();
    if let (Some(level), false) = (&query.level, query.by_agency) {
        for root in &query.covered {
            for code in covered_at_level(&tree, root, level) {
                groups.entry((Some(code), None)).or_default();
            }
        }
    }
    for row in db.answer_counters(wave_id, scope, query.desk)? {
        let n = row.n as u64;
        overall.counts.add(&row.item_id, &row.option_code, n);
        if grouping && let Some(key) = key_of(&row.locality_code, &row.agency_code) {
            groups.entry(key).or_default().counts.add(&row.item_id, &row.option_code, n);
        }
    }
    for row in db.response_counters(wave_id, scope, query.desk)? {
        overall.add_responses(row.channel, row.n as u64);
        if grouping && let Some(key) = key_of(&row.locality_code, &row.agency_code) {
            groups.entry(key).or_default().add_responses(row.channel, row.n as u64);
        }
    }

    let groups = groups
        .into_iter()
        .map(|((locality, agency), tally)| GroupResult {
            locality: locality.and_then(|code| tree.get(&code)).map(|l| LocalityRef {
                code: l.code.clone(),
                name: l.name.clone(),
                level: l.level.clone(),
            }),
            agency: agency.map(|code| AgencyRef { name: agency_names.get(&code).cloned().unwrap_or_default(), code }),
            responses: tally.responses,
            desk_responses: tally.desk_responses,
            indices: indices::compute(form, &tally.counts),
        })
        .collect();
    Ok(WaveResults {
        overall: Overall {
            responses: overall.responses,
            desk_responses: overall.desk_responses,
            indices: indices::compute(form, &overall.counts),
        },
        groups,
    })
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
    /// The first differences found, as "locality/agency/channel item=code: counters N, raw M".
    pub differences: Vec<String>,
}

/// Recounts every answer of a wave from the raw rows and compares with the live counters.
pub fn verify_counters(db: &Database, form: &Form, wave_id: &str) -> StorageResult<Verification> {
    type Key = (String, String, &'static str, String, String);
    let mut raw: BTreeMap<Key, u64> = BTreeMap::new();
    let mut raw_totals: BTreeMap<(String, String, &'static str), u64> = BTreeMap::new();
    let rows = db.raw_answers(wave_id)?;
    let responses_stored = rows.len() as u64;
    for (locality, agency, channel, json) in rows {
        let valid = ValidAnswers::from_stored(form, &json).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        for (item, code) in answers::tallies(form, &valid) {
            *raw.entry((locality.clone(), agency.clone(), channel.as_str(), item.into(), code.into())).or_default() +=
                1;
        }
        *raw_totals.entry((locality, agency, channel.as_str())).or_default() += 1;
    }
    let mut live: BTreeMap<Key, u64> = BTreeMap::new();
    for row in db.answer_counters(wave_id, None, DeskFilter::Include)? {
        live.insert(
            (row.locality_code, row.agency_code, row.channel.as_str(), row.item_id, row.option_code),
            row.n as u64,
        );
    }
    let mut live_totals: BTreeMap<(String, String, &'static str), u64> = BTreeMap::new();
    for row in db.response_counters(wave_id, None, DeskFilter::Include)? {
        live_totals.insert((row.locality_code, row.agency_code, row.channel.as_str()), row.n as u64);
    }
    let responses_counted = live_totals.values().sum();
    let mut differences = Vec::new();
    let keys: std::collections::BTreeSet<_> = raw.keys().chain(live.keys()).cloned().collect();
    for key in keys {
        let (a, b) = (live.get(&key).copied().unwrap_or(0), raw.get(&key).copied().unwrap_or(0));
        if a != b && differences.len() < 20 {
            differences.push(format!("{}/{}/{} {}={}: counters {a}, raw {b}", key.0, key.1, key.2, key.3, key.4));
        }
    }
    let cells: std::collections::BTreeSet<_> = raw_totals.keys().chain(live_totals.keys()).cloned().collect();
    for cell in cells {
        let (a, b) = (live_totals.get(&cell).copied().unwrap_or(0), raw_totals.get(&cell).copied().unwrap_or(0));
        if a != b && differences.len() < 20 {
            differences.push(format!("{}/{}/{} answers: counters {a}, raw {b}", cell.0, cell.1, cell.2));
        }
    }
    Ok(Verification {
        consistent: differences.is_empty() && responses_counted == responses_stored,
        responses_stored,
        responses_counted,
        differences,
    })
}
