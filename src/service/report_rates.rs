//! The report's response-rate table: invitations issued and used, counted by the database
//! per locality, agency and channel, then rolled up the wave's locality tree.

use crate::domain::response_rates::{Counts, Dimension, RateRow, rate_rows};
use crate::service::results::ResultsQuery;
use crate::storage::waves::Wave;
use crate::storage::{Database, StorageResult};
use std::collections::HashMap;

pub struct ResponseRates {
    pub rows: Vec<RateRow>,
    agency_names: HashMap<String, String>,
}

impl ResponseRates {
    /// The rows a user may see: an agency officer's own agency only. The level is read in
    /// the tree the wave closed under, when closed.
    pub fn read(db: &Database, wave: &Wave, query: &ResultsQuery) -> StorageResult<Self> {
        let cells = db.invitation_cells(&wave.id, query.agency_scope.as_deref())?;
        let tree = db.wave_tree(wave)?;
        let rows = rate_rows(&cells, &tree, query.level.as_deref(), query.by_agency);
        let agency_names = db.all_agencies()?.into_iter().map(|a| (a.code, a.name)).collect();
        Ok(ResponseRates { rows, agency_names })
    }

    /// The whole wave's invitations issued and used.
    pub fn totals(&self) -> Counts {
        self.rows.iter().find(|r| r.dimension == Dimension::Wave).map_or_else(Counts::default, |r| r.counts)
    }

    pub fn agency_name(&self, row: &RateRow) -> Option<&str> {
        row.agency_code.as_ref().and_then(|code| self.agency_names.get(code)).map(String::as_str)
    }
}
