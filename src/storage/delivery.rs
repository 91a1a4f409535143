//! Invitations to sampled people: issuing their codes, the channels that carry them, how
//! far each stratum has come, and deleting the contact data at the end.

use super::invitations::{IssueOutcome, count_new_invitations, locked_invitation_count};
use super::mail::NewMessage;
use super::schema::{contacts, invitations, list_files, list_lines, list_uploads, mail_queue, waves};
use super::{Database, Pool, StorageResult, with_conn, write_transaction};
use crate::domain::progress::Tally;
use chrono::{NaiveDateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde::Serialize;

/// A sampled person without an invitation yet: what channel choice needs.
pub struct Uninvited {
    pub contact_id: String,
    pub locality_code: String,
    pub agency_code: String,
    pub email: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
}

pub struct Issued {
    pub contact_id: String,
    pub code: String,
    pub code_hash: String,
    pub channel: &'static str,
    /// Sent by the server from the queue (email, SMS through a gateway), rather than by
    /// exporting a list (letters, messages, visits).
    pub queued: bool,
    pub assigned_to: Option<String>,
    pub locality_code: String,
    pub agency_code: String,
}

/// What a letter, a message or an enumerator needs about one person.
#[derive(Debug, Clone, Serialize)]
pub struct Addressee {
    pub name: String,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub locality_code: String,
    pub code: String,
    /// Whether the invitation was used to answer.
    pub answered: bool,
}

/// Sampled people of one stratum living in one locality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressCell {
    pub stratum: String,
    pub locality_code: String,
    pub tally: Tally,
}

impl Database {
    pub fn uninvited_sample(&self, wave_id: &str) -> StorageResult<Vec<Uninvited>> {
        type Row = (String, String, String, Option<String>, Option<String>, Option<String>);
        let rows: Vec<Row> = with_conn!(self, c => contacts::table
            .filter(contacts::wave_id.eq(wave_id))
            .filter(contacts::selection.eq("sample"))
            .filter(contacts::code_hash.is_null())
            .order((contacts::stratum, contacts::draw_rank))
            .select((contacts::id, contacts::locality_code, contacts::agency_code, contacts::email, contacts::address, contacts::phone))
            .load(c)?);
        Ok(rows
            .into_iter()
            .map(|(contact_id, locality_code, agency_code, email, address, phone)| Uninvited {
                contact_id,
                locality_code,
                agency_code,
                email,
                address,
                phone,
            })
            .collect())
    }

    /// Creates the invitations, records them on the contacts and queues the messages the
    /// server sends itself, all or nothing: a crash cannot leave a queued invitation that
    /// nobody will send. A person who was given a code meanwhile (another send running at
    /// the same time) is skipped: the guarded update claims each person once, and only then
    /// are their invitation and message created. Returns the invitations created, or
    /// nothing when the wave would then hold more than `wave_limit` invitations.
    pub fn record_issued(&self, wave_id: &str, issued: &[Issued], wave_limit: u64) -> StorageResult<IssueOutcome> {
        let now = Utc::now().naive_utc();
        // Like `insert_invitations`: the cap is counted under the write lock on both backends.
        write_transaction!(self, c => {
            let existing = locked_invitation_count!(c, wave_id);
            if existing as u64 + issued.len() as u64 > wave_limit {
                return Ok(IssueOutcome::OverWaveLimit { existing });
            }
            let mut created = 0;
            for i in issued {
                let claimed = diesel::update(contacts::table.find(&i.contact_id).filter(contacts::code_hash.is_null()))
                    .set((
                        contacts::last_contacted_at.eq(now),
                        contacts::invite_code.eq(&i.code),
                        contacts::code_hash.eq(&i.code_hash),
                        contacts::channel.eq(i.channel),
                        // Queued messages are delivered when the worker has sent them;
                        // the others go out as their lists are exported.
                        contacts::delivery.eq(if i.queued { "pending" } else { "sent" }),
                        contacts::assigned_to.eq(&i.assigned_to),
                    ))
                    .execute(c)?;
                if claimed != 1 {
                    continue;
                }
                diesel::insert_into(invitations::table)
                    .values((
                        invitations::code_hash.eq(&i.code_hash),
                        invitations::wave_id.eq(wave_id),
                        invitations::locality_code.eq(&i.locality_code),
                        invitations::agency_code.eq(&i.agency_code),
                        invitations::used.eq(false),
                        invitations::sent_by.eq(i.channel),
                    ))
                    .execute(c)?;
                if i.queued {
                    diesel::insert_into(mail_queue::table)
                        .values(NewMessage::new(wave_id, &i.contact_id, i.channel, "invitation", now))
                        .execute(c)?;
                }
                created += 1;
            }
            count_new_invitations!(c, wave_id, created);
            Ok(IssueOutcome::Issued(created))
        })
    }

    /// Sampled people no channel could reach, so that they can be replaced.
    pub fn mark_unreachable(&self, contact_ids: &[String]) -> StorageResult<()> {
        with_conn!(self, c => diesel::update(contacts::table.filter(contacts::id.eq_any(contact_ids)).filter(contacts::code_hash.is_null()))
            .set(contacts::delivery.eq("unreachable"))
            .execute(c)?);
        Ok(())
    }

    /// Replaces every sampled person who refused, bounced, failed or could not be reached
    /// with the next unused reserve of the same stratum. Returns (stratum, replaced, with
    /// nobody left to replace them).
    pub fn replace_from_reserve(&self, wave_id: &str) -> StorageResult<Vec<(String, usize, usize)>> {
        write_transaction!(self, c => {
            let lost: Vec<(String, String)> = contacts::table
                .filter(contacts::wave_id.eq(wave_id))
                .filter(contacts::selection.eq("sample"))
                .filter(contacts::delivery.eq_any(["opted_out", "bounced", "failed", "unreachable"]))
                .order((contacts::stratum, contacts::draw_rank))
                .select((contacts::id, contacts::stratum.assume_not_null()))
                .load(c)?;
            let mut summary: std::collections::BTreeMap<String, (usize, usize)> = std::collections::BTreeMap::new();
            for (id, stratum) in lost {
                let next: Option<String> = contacts::table
                    .filter(contacts::wave_id.eq(wave_id))
                    .filter(contacts::selection.eq("reserve"))
                    .filter(contacts::stratum.eq(&stratum))
                    .order(contacts::draw_rank)
                    .select(contacts::id)
                    .first(c)
                    .optional()?;
                let entry = summary.entry(stratum).or_default();
                let Some(next) = next else {
                    entry.1 += 1;
                    continue;
                };
                diesel::update(contacts::table.find(&id)).set(contacts::selection.eq("replaced")).execute(c)?;
                diesel::update(contacts::table.find(&next)).set(contacts::selection.eq("sample")).execute(c)?;
                entry.0 += 1;
            }
            Ok(summary.into_iter().map(|(stratum, (replaced, short))| (stratum, replaced, short)).collect())
        })
    }

    /// One reminder run: every invited person who has not answered, was reached (not opted
    /// out, bounced or failed), was last contacted before `contacted_before` and has had fewer
    /// than `max` reminders — on `channels` only. Reminders on the `queued` channels go to
    /// the queue; all are marked with the run so that letters and messages can be exported.
    /// Returns the number reminded per channel.
    pub fn remind(
        &self,
        wave_id: &str,
        contacted_before: NaiveDateTime,
        max: i64,
        channels: &[&str],
        queued: &[&str],
    ) -> StorageResult<Vec<(String, usize)>> {
        let now = Utc::now().naive_utc();
        let run = uuid::Uuid::new_v4().to_string();
        write_transaction!(self, c => {
            let due: Vec<(String, String, i64)> = contacts::table
                .inner_join(invitations::table.on(invitations::code_hash.nullable().eq(contacts::code_hash)))
                .filter(contacts::wave_id.eq(wave_id))
                .filter(invitations::used.eq(false))
                .filter(contacts::delivery.eq("sent"))
                .filter(contacts::channel.eq_any(channels))
                .filter(contacts::reminders_sent.lt(max))
                .filter(contacts::last_contacted_at.le(contacted_before))
                .select((contacts::id, contacts::channel.assume_not_null(), contacts::reminders_sent))
                .load(c)?;
            let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
            for (id, channel, reminders_sent) in &due {
                // Guarded on the count read: a run going on at the same time (another
                // instance's scheduler, a second click) reminds each person once.
                let claimed = diesel::update(contacts::table.find(id).filter(contacts::reminders_sent.eq(reminders_sent)))
                    .set((
                        contacts::reminders_sent.eq(contacts::reminders_sent + 1),
                        contacts::last_contacted_at.eq(now),
                        contacts::reminder_run.eq(&run),
                    ))
                    .execute(c)?;
                if claimed != 1 {
                    continue;
                }
                if queued.contains(&channel.as_str()) {
                    diesel::insert_into(mail_queue::table)
                        .values(NewMessage::new(wave_id, id, channel, "reminder", now))
                        .execute(c)?;
                }
                *counts.entry(channel.clone()).or_default() += 1;
            }
            if !counts.is_empty() {
                diesel::update(waves::table.find(wave_id)).set(waves::last_reminder_run.eq(&run)).execute(c)?;
            }
            Ok(counts.into_iter().collect())
        })
    }

    /// Open waves, for the automatic reminders.
    pub fn open_waves(&self) -> StorageResult<Vec<String>> {
        Ok(with_conn!(self, c => waves::table.filter(waves::status.eq("open")).select(waves::id).load(c)?))
    }

    /// Whether any invitation went out from this wave's sample: then it may not be redrawn.
    pub fn sample_invited(&self, wave_id: &str) -> StorageResult<bool> {
        let n: i64 = with_conn!(self, c => contacts::table
            .filter(contacts::wave_id.eq(wave_id))
            .filter(contacts::code_hash.is_not_null())
            .count()
            .get_result(c)?);
        Ok(n > 0)
    }

    /// People to reach on `channel` (optionally only those assigned to one enumerator), in
    /// locality order so letters come out sorted for the post office.
    pub fn addressees(
        &self,
        wave_id: &str,
        channel: &str,
        assigned_to: Option<&str>,
        reminders_only: bool,
    ) -> StorageResult<Vec<Addressee>> {
        type Row = (String, Option<String>, Option<String>, String, Option<String>, Option<bool>);
        let rows: Vec<Row> = with_conn!(self, c => {
            let latest_run: Option<String> = if reminders_only {
                waves::table.find(wave_id).select(waves::last_reminder_run).first::<Option<String>>(c).optional()?.flatten()
            } else {
                None
            };
            let mut query = contacts::table
                .left_join(invitations::table.on(invitations::code_hash.nullable().eq(contacts::code_hash)))
                .filter(contacts::wave_id.eq(wave_id))
                .filter(contacts::channel.eq(channel))
                .order((contacts::locality_code, contacts::name))
                .select((contacts::name, contacts::address, contacts::phone, contacts::locality_code, contacts::invite_code, invitations::used.nullable()))
                .into_boxed();
            if let Some(user) = assigned_to {
                query = query.filter(contacts::assigned_to.eq(user));
            }
            if reminders_only {
                // No run yet: nobody. The run id cannot be empty, so "" matches no one.
                query = query.filter(contacts::reminder_run.eq(latest_run.unwrap_or_default()));
            }
            query.load(c)?
        });
        Ok(rows
            .into_iter()
            .filter_map(|(name, address, phone, locality_code, code, used)| {
                Some(Addressee { name, address, phone, locality_code, code: code?, answered: used == Some(true) })
            })
            .collect())
    }

    /// Waves with people assigned to an enumerator.
    pub fn assigned_waves(&self, user_id: &str) -> StorageResult<Vec<String>> {
        Ok(with_conn!(self, c => contacts::table
            .filter(contacts::assigned_to.eq(user_id))
            .select(contacts::wave_id)
            .distinct()
            .load(c)?))
    }

    /// Sampled people of the current draw, counted per stratum and the locality each lives
    /// in: sampled, invited, delivered and answered.
    pub fn progress(&self, wave_id: &str) -> StorageResult<Vec<ProgressCell>> {
        type Row = (Option<String>, String, Option<String>, Option<String>, Option<bool>);
        let rows: Vec<Row> = with_conn!(self, c => contacts::table
            .left_join(invitations::table.on(invitations::code_hash.nullable().eq(contacts::code_hash)))
            .filter(contacts::wave_id.eq(wave_id))
            .filter(contacts::selection.eq("sample"))
            .select((contacts::stratum, contacts::locality_code, contacts::code_hash, contacts::delivery, invitations::used.nullable()))
            .load(c)?);
        let mut cells: std::collections::BTreeMap<(String, String), Tally> = std::collections::BTreeMap::new();
        for (stratum, locality_code, code_hash, delivery, used) in rows {
            *cells.entry((stratum.unwrap_or_default(), locality_code)).or_default() += Tally {
                sampled: 1,
                invited: i64::from(code_hash.is_some()),
                delivered: i64::from(delivery.as_deref() == Some("sent")),
                answered: i64::from(used == Some(true)),
            };
        }
        Ok(cells
            .into_iter()
            .map(|((stratum, locality_code), tally)| ProgressCell { stratum, locality_code, tally })
            .collect())
    }

    /// A person who refuses: their contact data is erased at once; the row stays, empty, so
    /// that counts and the replacement from the reserve still add up. `false` when no contact
    /// holds that invitation (or it was erased already).
    pub fn opt_out(&self, code_hash: &str) -> StorageResult<bool> {
        let erased = write_transaction!(self, c => {
            // The list's report may quote the person's unusable phone or email.
            let source: Option<(String, i64)> = contacts::table
                .filter(contacts::code_hash.eq(code_hash))
                .select((contacts::upload_id, contacts::line))
                .first(c)
                .optional()?;
            if let Some((upload_id, line)) = source {
                diesel::update(list_lines::table.find((upload_id, line))).set(list_lines::reason.eq("")).execute(c)?;
            }
            Ok(diesel::update(
                contacts::table.filter(contacts::code_hash.eq(code_hash)).filter(contacts::delivery.ne("opted_out")),
            )
            .set((
                contacts::name.eq(""),
                contacts::address.eq(None::<String>),
                contacts::phone.eq(None::<String>),
                contacts::email.eq(None::<String>),
                contacts::procedure_name.eq(None::<String>),
                contacts::completed_on.eq(None::<String>),
                contacts::invite_code.eq(None::<String>),
                contacts::delivery.eq("opted_out"),
            ))
            .execute(c)?)
        })?;
        if erased > 0 {
            self.truncate_wal()?;
        }
        Ok(erased > 0)
    }

    /// Closed waves whose retention ended before `cutoff` and whose contact data remains.
    pub fn waves_due_for_purge(&self, cutoff: NaiveDateTime) -> StorageResult<Vec<String>> {
        Ok(with_conn!(self, c => waves::table
            .filter(waves::status.eq("closed"))
            .filter(waves::closed_at.le(cutoff))
            .filter(waves::purged_at.is_null())
            .select(waves::id)
            .load(c)?))
    }

    /// Deletes every contact of a wave, the per-line reports (which quote list cells), failed
    /// uploads' reasons and the messages' errors, keeping the counts. On SQLite `secure_delete` overwrites the freed content and the WAL
    /// is truncated; on PostgreSQL the table is vacuumed (see README for what remains).
    pub fn purge_contacts(&self, wave_id: &str) -> StorageResult<usize> {
        let now = Utc::now().naive_utc();
        let deleted = write_transaction!(self, c => {
            let deleted = diesel::delete(contacts::table.filter(contacts::wave_id.eq(wave_id))).execute(c)?;
            let uploads = list_uploads::table.filter(list_uploads::wave_id.eq(wave_id)).select(list_uploads::id);
            diesel::delete(list_lines::table.filter(list_lines::upload_id.eq_any(uploads))).execute(c)?;
            diesel::delete(list_files::table.filter(list_files::upload_id.eq_any(uploads))).execute(c)?;
            // A failed upload's reason may quote a reader's wording about the file.
            diesel::update(list_uploads::table.filter(list_uploads::wave_id.eq(wave_id)))
                .set(list_uploads::failure.eq(None::<String>))
                .execute(c)?;
            // Errors are stored without personal data, but a server's wording is not ours.
            diesel::update(mail_queue::table.filter(mail_queue::wave_id.eq(wave_id)))
                .set(mail_queue::last_error.eq(None::<String>))
                .execute(c)?;
            diesel::update(waves::table.find(wave_id)).set(waves::purged_at.eq(Some(now))).execute(c)?;
            Ok(deleted)
        })?;
        match &self.pool {
            Pool::Sqlite(_) => self.truncate_wal()?,
            Pool::Postgres(pool) => {
                // One statement per call: several in one message form a transaction, and
                // VACUUM cannot run inside one.
                let conn = &mut *pool.get()?;
                conn.batch_execute("VACUUM contacts")?;
                conn.batch_execute("VACUUM list_lines")?;
                conn.batch_execute("VACUUM list_files")?;
            }
        }
        Ok(deleted)
    }
}
