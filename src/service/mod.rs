//! Use cases that join the domain to storage, shared by the API, the pages and the CLI.

pub mod answering;
pub mod delivery;
pub mod demo;
pub mod forms;
pub mod invitations;
pub mod list_files;
pub mod list_limits;
mod list_xlsx;
pub mod lists;
pub mod progress;
pub mod results;
pub mod sampling;
pub mod waves;

use crate::domain::code::CodeHasher;
use crate::domain::form::FormRegistry;
use crate::scratch::Scratch;
use crate::storage::Database;
use crate::storage::responses::ResponseWriter;
use std::sync::Arc;

/// Everything a request may need, cheap to clone into each worker.
#[derive(Clone)]
pub struct Survey {
    pub db: Database,
    pub forms: Arc<FormRegistry>,
    pub writer: ResponseWriter,
    pub hasher: CodeHasher,
    pub base_url: Arc<str>,
    /// Where "today" is: wave dates and answer days are local days.
    pub utc_offset: chrono::FixedOffset,
    /// Whether an SMTP server is configured, so that email is a channel.
    pub mail_enabled: bool,
    /// Whether an SMS gateway is configured, so that the server sends SMS itself.
    pub sms_gateway: bool,
    /// Where files holding list data live while a request uses them.
    pub scratch: Scratch,
    /// Invitations one wave may hold (`PHIEU_MAX_INVITATIONS_PER_WAVE`).
    pub max_invitations_per_wave: u64,
}

impl Survey {
    /// Channels whose messages the server sends itself, from the queue; letters, the other
    /// messages and visits go out as their lists are exported.
    pub fn queued_channels(&self) -> &'static [&'static str] {
        if self.sms_gateway { &["email", "sms"] } else { &["email"] }
    }

    /// The form a wave pinned (a lookup in memory once it has been read).
    pub async fn wave_form(&self, content_hash: &str) -> crate::storage::StorageResult<Arc<crate::domain::form::Form>> {
        if let Some(form) = self.forms.by_hash(content_hash) {
            return Ok(form);
        }
        let (forms, content_hash) = (self.forms.clone(), content_hash.to_string());
        self.db.run(move |db| forms::wave_form(db, &forms, &content_hash)).await
    }

    pub fn today(&self) -> chrono::NaiveDate {
        chrono::Utc::now().with_timezone(&self.utc_offset).date_naive()
    }
}
