//! Issuing invitation codes for a wave.

use super::Survey;
use crate::domain::code::InvitationCode;
use crate::domain::wave::Channel;
use crate::storage::StorageError;
use crate::storage::invitations::IssueOutcome;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct IssuedInvitation {
    /// Grouped for printing: `K7QM-3XD9-PT2A-Q`. Returned once, never stored.
    pub code: String,
    pub url: String,
}

/// Codes one request may ask for (each is held in memory until the reply is sent).
pub const MAX_INVITATIONS_PER_REQUEST: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("the wave would hold more than {limit} invitations (it has {existing}, {requested} more asked)")]
    OverWaveLimit { limit: u64, existing: u64, requested: u64 },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl Survey {
    pub async fn issue_invitations(
        &self,
        wave_id: &str,
        locality_code: &str,
        agency_code: Option<&str>,
        channel: Channel,
        count: usize,
    ) -> Result<Vec<IssuedInvitation>, IssueError> {
        let codes: Vec<InvitationCode> = (0..count).map(|_| InvitationCode::generate()).collect();
        let hashes: Vec<String> = codes.iter().map(|c| self.hasher.hash(c)).collect();
        let (wave, locality, agency) =
            (wave_id.to_string(), locality_code.to_string(), agency_code.unwrap_or("").to_string());
        let limit = self.max_invitations_per_wave;
        let outcome =
            self.db.run(move |db| db.insert_invitations(&wave, &locality, &agency, channel, &hashes, limit)).await?;
        if let IssueOutcome::OverWaveLimit { existing } = outcome {
            return Err(IssueError::OverWaveLimit { limit, existing: existing as u64, requested: count as u64 });
        }
        Ok(codes
            .into_iter()
            .map(|code| IssuedInvitation { url: code.url(&self.base_url), code: code.grouped() })
            .collect())
    }
}
