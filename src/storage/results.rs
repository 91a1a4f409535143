//! Reading the result counters.

use super::schema::{answer_counts, response_counts};
use super::{Database, StorageError, StorageResult, with_conn};
use crate::domain::wave::{Channel, DeskFilter};
use diesel::prelude::*;

/// Counters of one (leaf locality, agency, channel) cell.
pub struct CounterRow {
    pub locality_code: String,
    pub agency_code: String,
    pub channel: Channel,
    pub item_id: String,
    pub option_code: String,
    pub n: i64,
}

/// Answers of one (leaf locality, agency, channel) cell.
pub struct ResponseCount {
    pub locality_code: String,
    pub agency_code: String,
    pub channel: Channel,
    pub n: i64,
}

fn channel(s: String) -> StorageResult<Channel> {
    Channel::parse(&s).ok_or(StorageError::Corrupt(s))
}

/// Filters a counter query on its `channel` column as `desk` asks.
macro_rules! filter_desk {
    ($query:expr, $column:expr, $desk:expr) => {
        match $desk {
            DeskFilter::Include => $query,
            DeskFilter::Exclude => $query.filter($column.ne(Channel::Desk.as_str())),
            DeskFilter::Only => $query.filter($column.eq(Channel::Desk.as_str())),
        }
    };
}

impl Database {
    /// Every counter of a wave, optionally only one agency's, of the channels `desk` selects.
    pub fn answer_counters(
        &self,
        wave_id: &str,
        agency: Option<&str>,
        desk: DeskFilter,
    ) -> StorageResult<Vec<CounterRow>> {
        let rows: Vec<(String, String, String, String, String, i64)> = with_conn!(self, c => {
            let mut query = answer_counts::table
                .filter(answer_counts::wave_id.eq(wave_id))
                .select((answer_counts::locality_code, answer_counts::agency_code, answer_counts::channel, answer_counts::item_id, answer_counts::option_code, answer_counts::n))
                .into_boxed();
            if let Some(agency) = agency {
                query = query.filter(answer_counts::agency_code.eq(agency));
            }
            filter_desk!(query, answer_counts::channel, desk).load(c)?
        });
        rows.into_iter()
            .map(|(locality_code, agency_code, ch, item_id, option_code, n)| {
                Ok(CounterRow { locality_code, agency_code, channel: channel(ch)?, item_id, option_code, n })
            })
            .collect()
    }

    /// Number of answers per (leaf locality, agency, channel), of the channels `desk` selects.
    pub fn response_counters(
        &self,
        wave_id: &str,
        agency: Option<&str>,
        desk: DeskFilter,
    ) -> StorageResult<Vec<ResponseCount>> {
        let rows: Vec<(String, String, String, i64)> = with_conn!(self, c => {
            let mut query = response_counts::table
                .filter(response_counts::wave_id.eq(wave_id))
                .select((response_counts::locality_code, response_counts::agency_code, response_counts::channel, response_counts::n))
                .into_boxed();
            if let Some(agency) = agency {
                query = query.filter(response_counts::agency_code.eq(agency));
            }
            filter_desk!(query, response_counts::channel, desk).load(c)?
        });
        rows.into_iter()
            .map(|(locality_code, agency_code, ch, n)| {
                Ok(ResponseCount { locality_code, agency_code, channel: channel(ch)?, n })
            })
            .collect()
    }
}
