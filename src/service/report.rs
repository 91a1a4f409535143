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
