//! A citizen (or an enumerator typing a paper form) answers with an invitation code.

use super::Survey;
use crate::domain::answers::{self, ItemErrors};
use crate::domain::code::InvitationCode;
use crate::domain::form::Form;
use crate::domain::wave::{WaveStatus, accepts_answers};
use crate::storage::StorageError;
use crate::storage::invitations::InvitationTarget;
use crate::storage::responses::{Submission, SubmitOutcome};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("unknown invitation code")]
    UnknownCode,
    #[error("the wave has ended")]
    WaveClosed,
    #[error("the wave has not started")]
    NotYetOpen,
    #[error("this invitation was already answered")]
    AlreadyAnswered,
    #[error("the answers do not fit the form")]
    Invalid(ItemErrors),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

pub struct OpenInvitation {
    pub target: InvitationTarget,
    pub form: Arc<Form>,
}

impl Survey {
    /// The invitation behind a code, if it may still be answered.
    pub async fn open_invitation(&self, code: &InvitationCode) -> Result<OpenInvitation, AnswerError> {
        let hash = self.hasher.hash(code);
        let target = self.db.run(move |db| db.invitation_target(&hash)).await?.ok_or(AnswerError::UnknownCode)?;
        let today = self.today();
        if !accepts_answers(target.wave_status, target.opens_on, target.closes_on, today) {
            let ended = target.wave_status == WaveStatus::Closed || target.closes_on.is_some_and(|d| d < today);
            return Err(if ended { AnswerError::WaveClosed } else { AnswerError::NotYetOpen });
        }
        if target.used {
            return Err(AnswerError::AlreadyAnswered);
        }
        let form = self.wave_form(&target.form_hash).await?;
        Ok(OpenInvitation { target, form })
    }

    /// Validates and stores an answer to an invitation found open by `open_invitation`;
    /// the invitation is used up in the same transaction, so a race still stores one answer.
    pub async fn answer(
        &self,
        code: &InvitationCode,
        open: &OpenInvitation,
        given: &BTreeMap<String, Vec<String>>,
    ) -> Result<(), AnswerError> {
        let OpenInvitation { target, form } = open;
        let valid = answers::validate(form, given).map_err(AnswerError::Invalid)?;
        let submission = Submission {
            code_hash: self.hasher.hash(code),
            wave_id: target.wave_id.clone(),
            locality_code: target.locality_code.clone(),
            agency_code: target.agency_code.clone(),
            channel: target.channel,
            answers_json: valid.to_json(),
            submitted_on: self.today().to_string(),
            answers: valid,
            form: form.clone(),
        };
        match self.db.metrics.answer_written(self.writer.submit(submission)).await? {
            SubmitOutcome::Stored => Ok(()),
            SubmitOutcome::AlreadyAnswered => Err(AnswerError::AlreadyAnswered),
            SubmitOutcome::WaveNotOpen => Err(AnswerError::WaveClosed),
        }
    }
}
