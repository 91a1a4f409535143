//! Inviting the sampled people, and deleting their contact data when the wave is done.

use super::Survey;
use crate::domain::code::InvitationCode;
use crate::domain::contact::{PhoneKind, RespondentPhone};
use crate::domain::delivery::{Channel, Reachable, choose};
use crate::service::invitations::IssueError;
use crate::storage::StorageError;
use crate::storage::delivery::Issued;
use crate::storage::invitations::IssueOutcome;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct SendOutcome {
    /// Invitations created now.
    pub queued: usize,
    /// Sampled people no requested channel can reach (e.g. no mobile for SMS).
    pub unreachable: usize,
}

/// An invitation as printed or linked: the code in groups, and the link that opens it.
#[derive(Debug, Clone, Serialize)]
pub struct InvitationLink {
    pub grouped: String,
    pub url: String,
}

/// One visit of an enumerator: whom to see, where, and the code to answer with.
#[derive(Debug, Clone, Serialize)]
pub struct Visit {
    pub wave_id: String,
    pub name: String,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub locality_code: String,
    pub code: String,
    pub url: String,
    pub answered: bool,
    /// The code as the questionnaire's path takes it.
    #[serde(skip)]
    pub plain_code: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Limit(#[from] IssueError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl Survey {
    /// The grouped code and the link of a stored plain code.
    pub fn invitation_link(&self, code: &str) -> Result<InvitationLink, StorageError> {
        let code = InvitationCode::parse(code).map_err(|e| StorageError::Corrupt(format!("stored code: {e}")))?;
        Ok(InvitationLink { grouped: code.grouped(), url: code.url(&self.base_url) })
    }

    /// The visits assigned to an enumerator, wave by wave, in locality order.
    pub async fn assignments(&self, user_id: &str) -> Result<Vec<Visit>, StorageError> {
        let user_id = user_id.to_string();
        let lists = self
            .db
            .run(move |db| {
                db.assigned_waves(&user_id)?
                    .into_iter()
                    .map(|wave| {
                        let people = db.addressees(&wave, Channel::Enumerator.as_str(), Some(&user_id), false)?;
                        Ok((wave, people))
                    })
                    .collect::<Result<Vec<_>, StorageError>>()
            })
            .await?;
        let mut visits = Vec::new();
        for (wave_id, people) in lists {
            for a in people {
                let link = self.invitation_link(&a.code)?;
                let plain_code = a.code.clone();
                visits.push(Visit {
                    wave_id: wave_id.clone(),
                    name: a.name,
                    address: a.address,
                    phone: a.phone,
                    locality_code: a.locality_code,
                    code: link.grouped,
                    url: link.url,
                    answered: a.answered,
                    plain_code,
                });
            }
        }
        Ok(visits)
    }

    /// Issues a code to every sampled person not yet invited, on `channel` (`None`: the
    /// first channel that reaches each one). Enumerator visits go round the given accounts.
    pub async fn send_invitations(
        &self,
        wave_id: &str,
        channel: Option<Channel>,
        enumerators: Vec<String>,
    ) -> Result<SendOutcome, DeliveryError> {
        if channel == Some(Channel::Email) && !self.mail_enabled {
            return Err(DeliveryError::Invalid(
                "Chưa cấu hình máy chủ thư (PHIEU_SMTP_URL): chưa gửi được email.".into(),
            ));
        }
        if channel == Some(Channel::Enumerator) && enumerators.is_empty() {
            return Err(DeliveryError::Invalid("Cần danh sách điều tra viên (enumerators) để giao phiếu.".into()));
        }
        let wave = wave_id.to_string();
        let uninvited = self.db.run(move |db| db.uninvited_sample(&wave)).await?;
        let mut issued = Vec::new();
        let mut unreachable = Vec::new();
        let mut next_enumerator = enumerators.iter().cycle();
        for person in uninvited {
            let reach = Reachable {
                email: self.mail_enabled && person.email.is_some(),
                address: person.address.is_some(),
                mobile: person
                    .phone
                    .as_deref()
                    .and_then(|p| RespondentPhone::parse(p).ok())
                    .is_some_and(|p| p.kind() == PhoneKind::Mobile),
            };
            let chosen = choose(channel, &reach).filter(|c| *c != Channel::Enumerator || !enumerators.is_empty());
            let Some(chosen) = chosen else {
                unreachable.push(person.contact_id);
                continue;
            };
            let code = InvitationCode::generate();
            issued.push(Issued {
                contact_id: person.contact_id,
                code_hash: self.hasher.hash(&code),
                code: code.as_str().to_string(),
                channel: chosen.as_str(),
                queued: self.queued_channels().contains(&chosen.as_str()),
                assigned_to: (chosen == Channel::Enumerator).then(|| next_enumerator.next().cloned()).flatten(),
                locality_code: person.locality_code,
                agency_code: person.agency_code,
            });
        }
        let unreachable_count = unreachable.len();
        let wave = wave_id.to_string();
        let (limit, requested) = (self.max_invitations_per_wave, issued.len() as u64);
        // Counts only those issued now: a send running at the same time may have taken some.
        let outcome = self
            .db
            .run(move |db| {
                let outcome = db.record_issued(&wave, &issued, limit)?;
                if matches!(outcome, IssueOutcome::Issued(_)) {
                    db.mark_unreachable(&unreachable)?;
                }
                Ok(outcome)
            })
            .await?;
        let queued = match outcome {
            IssueOutcome::Issued(created) => created,
            IssueOutcome::OverWaveLimit { existing } => {
                return Err(IssueError::OverWaveLimit { limit, existing: existing as u64, requested }.into());
            }
        };
        Ok(SendOutcome { queued, unreachable: unreachable_count })
    }

    /// Deletes the contact data of every closed wave whose retention has passed.
    pub async fn purge_due(&self, retention: chrono::Duration) -> Result<Vec<(String, usize)>, StorageError> {
        let cutoff = chrono::Utc::now().naive_utc() - retention;
        self.db
            .run(move |db| {
                let mut purged = Vec::new();
                for wave in db.waves_due_for_purge(cutoff)? {
                    let deleted = db.purge_contacts(&wave)?;
                    db.audit("system", "wave.purge", &format!("wave={wave} contacts={deleted}"))?;
                    purged.push((wave, deleted));
                }
                Ok(purged)
            })
            .await
    }
}
