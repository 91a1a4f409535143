//! Use cases that join the domain to storage, shared by the API, the pages and the CLI.

pub mod answering;
pub mod crosstab;
pub mod delivery;
pub mod demo;
pub mod disclosure;
pub mod forms;
pub mod invitations;
pub mod list_files;
pub mod list_limits;
mod list_xlsx;
pub mod lists;
pub mod progress;
pub mod recent;
pub mod recount;
pub mod report;
pub mod report_comments;
pub mod report_items;
pub mod report_print;
pub mod report_rates;
pub mod report_text;
pub mod results;
pub mod sampling;
pub mod waves;

use crate::domain::code::CodeHasher;
use crate::domain::form::FormRegistry;
use crate::scratch::Scratch;
use crate::storage::Database;
use crate::storage::responses::ResponseWriter;
use std::sync::Arc;

/// How long an open wave's suppression pattern serves before its answers are checked for
/// change.
const SUPPRESSION_REFRESH: std::time::Duration = std::time::Duration::from_secs(30);

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
    /// Disclosure threshold unless a wave sets its own (`PHIEU_MIN_CELL`).
    pub min_cell: u64,
    /// Comments the report workbook lists (`PHIEU_REPORT_COMMENTS`): reading every answer's
    /// text would cost the whole wave (23 s at a million answers).
    pub report_comments: usize,
    /// The recent waves' last suppression pattern and when it was decided.
    pub suppressions: disclosure::SuppressionCache,
    /// The recent waves' crosstab counts.
    pub crosstabs: Arc<crosstab::CrosstabCounts>,
}

impl Survey {
    /// Channels whose messages the server sends itself, from the queue; letters, the other
    /// messages and visits go out as their lists are exported.
    pub fn queued_channels(&self) -> &'static [&'static str] {
        if self.sms_gateway { &["email", "sms"] } else { &["email"] }
    }

    /// Which of a wave's figures are hidden: decided over every table the wave can publish.
    /// A closed wave's pattern is kept; an open wave's is decided again once its answers
    /// changed and `SUPPRESSION_REFRESH` has passed (deciding reads every cell of the wave),
    /// the threshold itself always applying to the figures as they are.
    pub async fn suppression(
        &self,
        wave: &crate::storage::waves::Wave,
        form: &Arc<crate::domain::form::Form>,
    ) -> crate::storage::StorageResult<Arc<disclosure::Suppression>> {
        let closed = wave.status == crate::domain::wave::WaveStatus::Closed;
        let cached = self.suppressions.get(&wave.id);
        if let Some((decided, known)) = cached {
            let fresh = decided.elapsed() < SUPPRESSION_REFRESH;
            // A closed wave's answers no longer change, so its first pattern stands.
            if closed || fresh {
                return Ok(known);
            }
            let wave_id = wave.id.clone();
            let responses = self.db.run(move |db| db.wave_responses(&wave_id)).await?;
            if responses == known.responses {
                return Ok(known);
            }
        }
        let (wave_owned, form) = (wave.clone(), form.clone());
        let min_cell = wave.min_cell.unwrap_or(self.min_cell);
        let suppression = self
            .db
            .run_heavy(move |db| {
                let tree = db.wave_tree(&wave_owned)?;
                disclosure::wave_suppression(db, &form, &wave_owned.id, &tree, wave_owned.desk_codes, min_cell)
            })
            .await?;
        let suppression = Arc::new(suppression);
        let decided = (std::time::Instant::now(), suppression.clone());
        self.suppressions.insert(wave.id.clone(), decided);
        Ok(suppression)
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
