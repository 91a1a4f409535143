//! The audit log of officials' actions: who, what, when — never answers or personal data.

use super::schema::audit_log;
use super::{Database, StorageResult, with_conn};
use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, Queryable)]
pub struct AuditEntry {
    pub id: i64,
    pub at: NaiveDateTime,
    pub actor_id: String,
    pub action: String,
    pub target: String,
}

impl Database {
    pub fn audit(&self, actor_id: &str, action: &str, target: &str) -> StorageResult<()> {
        let now = Utc::now().naive_utc();
        with_conn!(self, c => diesel::insert_into(audit_log::table)
            .values((audit_log::at.eq(now), audit_log::actor_id.eq(actor_id), audit_log::action.eq(action), audit_log::target.eq(target)))
            .execute(c)?);
        Ok(())
    }

    pub fn recent_audit(&self, limit: i64) -> StorageResult<Vec<AuditEntry>> {
        Ok(with_conn!(self, c => audit_log::table
            .order(audit_log::id.desc())
            .limit(limit)
            .select((audit_log::id, audit_log::at, audit_log::actor_id, audit_log::action, audit_log::target))
            .load(c)?))
    }
}
