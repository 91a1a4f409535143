//! Reading the result counters.

use super::schema::{answer_counts, response_counts};
use super::{Database, StorageResult, with_conn};
use diesel::prelude::*;

/// Counters of one (leaf locality, agency) cell.
pub struct CounterRow {
    pub locality_code: String,
    pub agency_code: String,
    pub item_id: String,
    pub option_code: String,
    pub n: i64,
}

impl Database {
    /// Every counter of a wave, optionally only one agency's.
    pub fn answer_counters(&self, wave_id: &str, agency: Option<&str>) -> StorageResult<Vec<CounterRow>> {
        let rows: Vec<(String, String, String, String, i64)> = with_conn!(self, c => {
            let mut query = answer_counts::table
                .filter(answer_counts::wave_id.eq(wave_id))
                .select((answer_counts::locality_code, answer_counts::agency_code, answer_counts::item_id, answer_counts::option_code, answer_counts::n))
                .into_boxed();
            if let Some(agency) = agency {
                query = query.filter(answer_counts::agency_code.eq(agency));
            }
            query.load(c)?
        });
        Ok(rows
            .into_iter()
            .map(|(locality_code, agency_code, item_id, option_code, n)| CounterRow {
                locality_code,
                agency_code,
                item_id,
                option_code,
                n,
            })
            .collect())
    }

    /// Number of answers per (leaf locality, agency).
    pub fn response_counters(&self, wave_id: &str, agency: Option<&str>) -> StorageResult<Vec<(String, String, i64)>> {
        Ok(with_conn!(self, c => {
            let mut query = response_counts::table
                .filter(response_counts::wave_id.eq(wave_id))
                .select((response_counts::locality_code, response_counts::agency_code, response_counts::n))
                .into_boxed();
            if let Some(agency) = agency {
                query = query.filter(response_counts::agency_code.eq(agency));
            }
            query.load(c)?
        }))
    }
}
