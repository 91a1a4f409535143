//! Invitations counted per locality, agency and channel by the database (one grouped
//! query: a national wave's million invitations are never loaded).

use super::{Database, Pool, StorageResult};
use crate::domain::response_rates::{Counts, InvitationCell};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    locality_code: String,
    #[diesel(sql_type = Text)]
    agency_code: String,
    #[diesel(sql_type = Text)]
    channel: String,
    #[diesel(sql_type = Nullable<Text>)]
    sent_by: Option<String>,
    #[diesel(sql_type = BigInt)]
    invited: i64,
    #[diesel(sql_type = BigInt)]
    answered: i64,
}

/// The grouped query; `$n` are the placeholders of the backend. It groups by the columns of
/// the index `invitations_rates` in its order, so the database reads the index without a sort.
fn cells_sql(scoped: bool, placeholder: impl Fn(usize) -> String) -> String {
    let scope = if scoped { format!(" AND agency_code = {}", placeholder(2)) } else { String::new() };
    format!(
        "SELECT locality_code, agency_code, channel, sent_by, count(*) AS invited, \
         COALESCE(SUM(CASE WHEN used THEN 1 ELSE 0 END), 0) AS answered \
         FROM invitations WHERE wave_id = {}{scope} \
         GROUP BY locality_code, agency_code, channel, sent_by",
        placeholder(1)
    )
}

impl Database {
    /// A wave's invitations issued and used, per locality, agency and channel; only
    /// `agency_scope`'s when given.
    pub fn invitation_cells(&self, wave_id: &str, agency_scope: Option<&str>) -> StorageResult<Vec<InvitationCell>> {
        macro_rules! load {
            ($conn:expr, $sql:expr) => {{
                let query = diesel::sql_query($sql).bind::<Text, _>(wave_id);
                match agency_scope {
                    Some(agency) => query.bind::<Text, _>(agency).load::<Row>($conn)?,
                    None => query.load::<Row>($conn)?,
                }
            }};
        }
        let scoped = agency_scope.is_some();
        let rows = match &self.pool {
            Pool::Sqlite(pool) => load!(&mut *pool.get()?, cells_sql(scoped, |_| "?".to_string())),
            Pool::Postgres(pool) => load!(&mut *pool.get()?, cells_sql(scoped, |n| format!("${n}"))),
        };
        Ok(rows
            .into_iter()
            .map(|r| InvitationCell {
                locality_code: r.locality_code,
                agency_code: r.agency_code,
                channel: r.sent_by.unwrap_or(r.channel),
                counts: Counts { invited: r.invited as u64, answered: r.answered as u64 },
            })
            .collect())
    }
}
