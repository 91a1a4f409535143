//! The tables of a wave's report, one source for every format (JSON, CSV, XLSX).

use crate::domain::form::{Form, IndexDefinition};
use crate::domain::indices::Figure;
use crate::service::results::{AgencyRef, GroupResult, LocalityRef, Overall};

/// One index of one group (or of the whole wave, without locality and agency).
pub struct IndexRow<'a> {
    pub locality: Option<&'a LocalityRef>,
    pub agency: Option<&'a AgencyRef>,
    pub responses: u64,
    pub index: &'a IndexDefinition,
    pub figure: Figure,
    pub rank: Option<u32>,
}

/// The whole wave's rows of the `indices` table.
pub fn overall_rows<'a>(form: &'a Form, overall: &'a Overall) -> impl Iterator<Item = IndexRow<'a>> {
    overall.indices.iter().zip(&form.indices).map(|(value, index)| IndexRow {
        locality: None,
        agency: None,
        responses: overall.responses,
        index,
        figure: value.figure,
        rank: None,
    })
}

/// One group's rows of the `indices` table.
pub fn group_rows<'a>(form: &'a Form, group: &'a GroupResult) -> impl Iterator<Item = IndexRow<'a>> {
    form.indices.iter().zip(&group.figures).zip(&group.ranks).map(move |((index, &figure), &rank)| IndexRow {
        locality: group.locality.as_ref(),
        agency: group.agency.as_ref(),
        responses: group.responses,
        index,
        figure,
        rank,
    })
}

/// A group's name as people read it: the locality, the agency, or both; a row of answers
/// invited at a locality above the level shown says so ("Tỉnh X (cấp tỉnh)").
pub fn unit_name(group: &GroupResult) -> String {
    match (locality_label(group), &group.agency) {
        (Some(l), Some(a)) => format!("{l} · {}", a.name),
        (Some(l), None) => l,
        (None, Some(a)) => a.name.clone(),
        (None, None) => "(khác)".into(),
    }
}

/// A group's locality as people read it.
pub fn locality_label(group: &GroupResult) -> Option<String> {
    group.locality.as_ref().map(|l| match group.own_level {
        true => format!("{} ({})", l.name, own_level_label(&l.level)),
        false => l.name.clone(),
    })
}

/// Levels are data; the usual ones get their Vietnamese names.
fn own_level_label(level: &str) -> String {
    match level {
        "province" => "cấp tỉnh".into(),
        "district" => "cấp huyện".into(),
        "commune" => "cấp xã".into(),
        other => format!("cấp {other}"),
    }
}
