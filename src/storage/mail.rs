//! The outgoing-message queue (table `mail_queue`): invitations and reminders by email and,
//! with an SMS gateway, by SMS. Rows are claimed one at a time, so that no message is sent
//! twice.

use super::schema::{contacts, mail_queue, waves};
use super::{Database, StorageResult, with_conn, write_transaction};
use crate::domain::delivery::Channel;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A message to queue for the worker of its channel.
#[derive(Insertable)]
#[diesel(table_name = mail_queue)]
pub struct NewMessage<'a> {
    id: String,
    wave_id: &'a str,
    contact_id: &'a str,
    channel: &'a str,
    kind: &'a str,
    status: &'static str,
    attempts: i64,
    next_attempt_at: NaiveDateTime,
}

impl<'a> NewMessage<'a> {
    /// `kind`: `invitation` or `reminder`; due at once.
    pub fn new(wave_id: &'a str, contact_id: &'a str, channel: &'a str, kind: &'a str, now: NaiveDateTime) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            wave_id,
            contact_id,
            channel,
            kind,
            status: "pending",
            attempts: 0,
            next_attempt_at: now,
        }
    }
}

/// One message to send, with what its text needs.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    pub id: String,
    pub contact_id: String,
    pub kind: String,
    pub attempts: i64,
    /// The email address, or the phone number for an SMS.
    pub to: String,
    pub name: String,
    pub code: String,
    pub subject_template: Option<String>,
    pub body_template: Option<String>,
}

impl Database {
    /// Claims up to `limit` due messages of `channel`: each moves from pending to sending only
    /// if no other worker (or instance) claimed it first.
    pub fn claim_due_messages(
        &self,
        channel: Channel,
        limit: i64,
        now: NaiveDateTime,
    ) -> StorageResult<Vec<QueuedMessage>> {
        type Row = (
            String,
            String,
            String,
            i64,
            Option<String>,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        with_conn!(self, c => {
            let due: Vec<Row> = mail_queue::table
                .inner_join(contacts::table.on(contacts::id.eq(mail_queue::contact_id)))
                .inner_join(waves::table.on(waves::id.eq(mail_queue::wave_id)))
                .filter(mail_queue::channel.eq(channel.as_str()))
                .filter(mail_queue::status.eq("pending"))
                .filter(mail_queue::next_attempt_at.le(now))
                .order(mail_queue::next_attempt_at)
                .limit(limit)
                .select((mail_queue::id, mail_queue::contact_id, mail_queue::kind, mail_queue::attempts, contacts::email,
                         contacts::phone, contacts::name, contacts::invite_code, waves::mail_subject, waves::mail_body))
                .load(c)?;
            let mut messages = Vec::new();
            for (id, contact_id, kind, attempts, email, phone, name, code, subject_template, body_template) in due {
                let claimed = diesel::update(mail_queue::table.find(&id).filter(mail_queue::status.eq("pending")))
                    .set((mail_queue::status.eq("sending"), mail_queue::claimed_at.eq(now)))
                    .execute(c)?;
                let to = if channel == Channel::Sms { phone } else { email };
                match (claimed, to, code) {
                    (1, Some(to), Some(code)) => messages.push(QueuedMessage { id, contact_id, kind, attempts, to, name, code, subject_template, body_template }),
                    // Erased by an opt-out or a purge since it was queued: nothing to send.
                    (1, _, _) => {
                        diesel::update(mail_queue::table.find(&id)).set(mail_queue::status.eq("cancelled")).execute(c)?;
                    }
                    _ => {}
                }
            }
            Ok(messages)
        })
    }

    pub fn message_sent(&self, message: &QueuedMessage) -> StorageResult<()> {
        write_transaction!(self, c => {
            diesel::update(mail_queue::table.find(&message.id)).set(mail_queue::status.eq("sent")).execute(c)?;
            diesel::update(contacts::table.find(&message.contact_id)).set(contacts::delivery.eq("sent")).execute(c)?;
            Ok(())
        })
    }

    /// A temporary failure: back to pending, to be tried again at `next_attempt_at`.
    pub fn message_retry(
        &self,
        message: &QueuedMessage,
        error: &str,
        next_attempt_at: NaiveDateTime,
    ) -> StorageResult<()> {
        with_conn!(self, c => diesel::update(mail_queue::table.find(&message.id))
            .set((
                mail_queue::status.eq("pending"),
                mail_queue::attempts.eq(message.attempts + 1),
                mail_queue::next_attempt_at.eq(next_attempt_at),
                mail_queue::last_error.eq(error),
            ))
            .execute(c)?);
        Ok(())
    }

    /// A permanent failure; `bounced` when the server refused the address.
    pub fn message_failed(&self, message: &QueuedMessage, error: &str, bounced: bool) -> StorageResult<()> {
        write_transaction!(self, c => {
            diesel::update(mail_queue::table.find(&message.id))
                .set((mail_queue::status.eq("failed"), mail_queue::attempts.eq(message.attempts + 1), mail_queue::last_error.eq(error)))
                .execute(c)?;
            diesel::update(contacts::table.find(&message.contact_id))
                .set(contacts::delivery.eq(if bounced { "bounced" } else { "failed" }))
                .execute(c)?;
            Ok(())
        })
    }

    /// Perhaps delivered (the other side may have it though it did not say so): never sent
    /// again, and the contact stays pending.
    pub fn message_uncertain(&self, message: &QueuedMessage, error: &str) -> StorageResult<()> {
        with_conn!(self, c => diesel::update(mail_queue::table.find(&message.id))
            .set((
                mail_queue::status.eq("uncertain"),
                mail_queue::attempts.eq(message.attempts + 1),
                mail_queue::last_error.eq(error),
            ))
            .execute(c)?);
        Ok(())
    }

    /// Messages left in sending by a worker that died: perhaps sent, perhaps not. They are
    /// marked uncertain rather than sent again.
    pub fn expire_message_leases(&self, claimed_before: NaiveDateTime) -> StorageResult<usize> {
        Ok(with_conn!(self, c => diesel::update(
                mail_queue::table.filter(mail_queue::status.eq("sending")).filter(mail_queue::claimed_at.lt(claimed_before)),
            )
            .set(mail_queue::status.eq("uncertain"))
            .execute(c)?))
    }

    /// Messages of a wave by channel and status.
    pub fn message_counts(&self, wave_id: &str) -> StorageResult<Vec<(String, String, i64)>> {
        Ok(with_conn!(self, c => mail_queue::table
            .filter(mail_queue::wave_id.eq(wave_id))
            .group_by((mail_queue::channel, mail_queue::status))
            .select((mail_queue::channel, mail_queue::status, diesel::dsl::count_star()))
            .load(c)?))
    }

    pub fn set_mail_template(&self, wave_id: &str, subject: &str, body: &str) -> StorageResult<bool> {
        let updated = with_conn!(self, c => diesel::update(waves::table.find(wave_id))
            .set((waves::mail_subject.eq(subject), waves::mail_body.eq(body)))
            .execute(c)?);
        Ok(updated == 1)
    }
}
