//! Results of a wave: counters rolled up the locality tree and turned into indices.
//! The cost follows the number of localities and agencies, not the number of answers.

use crate::domain::answers::{self, ValidAnswers};
use crate::domain::form::Form;
use crate::domain::indices::{self, Counts, IndexValue};
use crate::domain::locality::LocalityTree;
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
    pub indices: Vec<IndexValue>,
}

#[derive(Debug, Serialize)]
pub struct GroupResult {
    pub locality: Option<LocalityRef>,
    pub agency: Option<AgencyRef>,
    pub responses: u64,
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
}

type GroupKey = (Option<String>, Option<String>);

#[derive(Default)]
struct Tally {
    counts: Counts,
    responses: u64,
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
    for row in db.answer_counters(wave_id, scope)? {
        let n = row.n as u64;
        overall.counts.add(&row.item_id, &row.option_code, n);
        if grouping && let Some(key) = key_of(&row.locality_code, &row.agency_code) {
            groups.entry(key).or_default().counts.add(&row.item_id, &row.option_code, n);
        }
    }
    for (locality, agency, n) in db.response_counters(wave_id, scope)? {
        overall.responses += n as u64;
        if grouping && let Some(key) = key_of(&locality, &agency) {
            groups.entry(key).or_default().responses += n as u64;
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
            indices: indices::compute(form, &tally.counts),
        })
        .collect();
    Ok(WaveResults {
        overall: Overall { responses: overall.responses, indices: indices::compute(form, &overall.counts) },
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
    /// The first differences found, as "locality/agency item=code: counters N, raw M".
    pub differences: Vec<String>,
}

/// Recounts every answer of a wave from the raw rows and compares with the live counters.
pub fn verify_counters(db: &Database, form: &Form, wave_id: &str) -> StorageResult<Verification> {
    let mut raw: BTreeMap<(String, String, String, String), u64> = BTreeMap::new();
    let rows = db.raw_answers(wave_id)?;
    let responses_stored = rows.len() as u64;
    for (locality, agency, json) in rows {
        let valid = ValidAnswers::from_stored(form, &json).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        for (item, code) in answers::tallies(form, &valid) {
            *raw.entry((locality.clone(), agency.clone(), item.into(), code.into())).or_default() += 1;
        }
    }
    let mut live: BTreeMap<(String, String, String, String), u64> = BTreeMap::new();
    for row in db.answer_counters(wave_id, None)? {
        live.insert((row.locality_code, row.agency_code, row.item_id, row.option_code), row.n as u64);
    }
    let responses_counted = db.response_counters(wave_id, None)?.iter().map(|r| r.2 as u64).sum();
    let mut differences = Vec::new();
    let keys: std::collections::BTreeSet<_> = raw.keys().chain(live.keys()).cloned().collect();
    for key in keys {
        let (a, b) = (live.get(&key).copied().unwrap_or(0), raw.get(&key).copied().unwrap_or(0));
        if a != b && differences.len() < 20 {
            differences.push(format!("{}/{} {}={}: counters {a}, raw {b}", key.0, key.1, key.2, key.3));
        }
    }
    Ok(Verification {
        consistent: differences.is_empty() && responses_counted == responses_stored,
        responses_stored,
        responses_counted,
        differences,
    })
}
