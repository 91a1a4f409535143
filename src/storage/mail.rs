//! The mail queue: rows claimed one at a time, so that no email is sent twice.

use super::schema::{contacts, mail_queue, waves};
use super::{Database, StorageError, StorageResult, with_conn};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// One email to send, with what its text needs.
#[derive(Debug, Clone)]
pub struct MailJob {
    pub id: String,
    pub contact_id: String,
    pub kind: String,
    pub attempts: i64,
    pub to: String,
    pub name: String,
    pub code: String,
    pub subject_template: Option<String>,
    pub body_template: Option<String>,
}

impl Database {
    /// Claims up to `limit` due emails: each moves from pending to sending only if no other
    /// worker (or instance) claimed it first.
    pub fn claim_due_mail(&self, limit: i64, now: NaiveDateTime) -> StorageResult<Vec<MailJob>> {
        type Row =
            (String, String, String, i64, Option<String>, String, Option<String>, Option<String>, Option<String>);
        with_conn!(self, c => {
            let due: Vec<Row> = mail_queue::table
                .inner_join(contacts::table.on(contacts::id.eq(mail_queue::contact_id)))
                .inner_join(waves::table.on(waves::id.eq(mail_queue::wave_id)))
                .filter(mail_queue::status.eq("pending"))
                .filter(mail_queue::next_attempt_at.le(now))
                .order(mail_queue::next_attempt_at)
                .limit(limit)
                .select((mail_queue::id, mail_queue::contact_id, mail_queue::kind, mail_queue::attempts, contacts::email,
                         contacts::name, contacts::invite_code, waves::mail_subject, waves::mail_body))
                .load(c)?;
            let mut jobs = Vec::new();
            for (id, contact_id, kind, attempts, email, name, code, subject_template, body_template) in due {
                let claimed = diesel::update(mail_queue::table.find(&id).filter(mail_queue::status.eq("pending")))
                    .set((mail_queue::status.eq("sending"), mail_queue::claimed_at.eq(now)))
                    .execute(c)?;
                match (claimed, email, code) {
                    (1, Some(to), Some(code)) => jobs.push(MailJob { id, contact_id, kind, attempts, to, name, code, subject_template, body_template }),
                    // Erased by an opt-out or a purge since it was queued: nothing to send.
                    (1, _, _) => {
                        diesel::update(mail_queue::table.find(&id)).set(mail_queue::status.eq("cancelled")).execute(c)?;
                    }
                    _ => {}
                }
            }
            Ok(jobs)
        })
    }

    pub fn mail_sent(&self, job: &MailJob) -> StorageResult<()> {
        with_conn!(self, c => c.transaction::<_, StorageError, _>(|c| {
            diesel::update(mail_queue::table.find(&job.id)).set(mail_queue::status.eq("sent")).execute(c)?;
            diesel::update(contacts::table.find(&job.contact_id)).set(contacts::delivery.eq("sent")).execute(c)?;
            Ok(())
        }))
    }

    /// A temporary failure: back to pending, to be tried again at `next_attempt_at`.
    pub fn mail_retry(&self, job: &MailJob, error: &str, next_attempt_at: NaiveDateTime) -> StorageResult<()> {
        with_conn!(self, c => diesel::update(mail_queue::table.find(&job.id))
            .set((
                mail_queue::status.eq("pending"),
                mail_queue::attempts.eq(job.attempts + 1),
                mail_queue::next_attempt_at.eq(next_attempt_at),
                mail_queue::last_error.eq(error),
            ))
            .execute(c)?);
        Ok(())
    }

    /// A permanent failure; `bounced` when the server refused the address.
    pub fn mail_failed(&self, job: &MailJob, error: &str, bounced: bool) -> StorageResult<()> {
        with_conn!(self, c => c.transaction::<_, StorageError, _>(|c| {
            diesel::update(mail_queue::table.find(&job.id))
                .set((mail_queue::status.eq("failed"), mail_queue::attempts.eq(job.attempts + 1), mail_queue::last_error.eq(error)))
                .execute(c)?;
            diesel::update(contacts::table.find(&job.contact_id))
                .set(contacts::delivery.eq(if bounced { "bounced" } else { "failed" }))
                .execute(c)?;
            Ok(())
        }))
    }

    /// Emails left in sending by a worker that died: perhaps sent, perhaps not. They are
    /// marked uncertain rather than sent again.
    pub fn expire_mail_leases(&self, claimed_before: NaiveDateTime) -> StorageResult<usize> {
        Ok(with_conn!(self, c => diesel::update(
                mail_queue::table.filter(mail_queue::status.eq("sending")).filter(mail_queue::claimed_at.lt(claimed_before)),
            )
            .set(mail_queue::status.eq("uncertain"))
            .execute(c)?))
    }

    /// Emails of a wave by status.
    pub fn mail_counts(&self, wave_id: &str) -> StorageResult<Vec<(String, i64)>> {
        Ok(with_conn!(self, c => mail_queue::table
            .filter(mail_queue::wave_id.eq(wave_id))
            .group_by(mail_queue::status)
            .select((mail_queue::status, diesel::dsl::count_star()))
            .load(c)?))
    }

    pub fn set_mail_template(&self, wave_id: &str, subject: &str, body: &str) -> StorageResult<bool> {
        let updated = with_conn!(self, c => diesel::update(waves::table.find(wave_id))
            .set((waves::mail_subject.eq(subject), waves::mail_body.eq(body)))
            .execute(c)?);
        Ok(updated == 1)
    }
}
