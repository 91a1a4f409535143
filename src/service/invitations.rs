//! Issuing invitation codes for a wave.

use super::Survey;
use crate::domain::code::InvitationCode;
use crate::storage::StorageError;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct IssuedInvitation {
    /// Grouped for printing: `K7QM-3XD9-PT2A-Q`. Returned once, never stored.
    pub code: String,
    pub url: String,
}

pub const MAX_INVITATIONS_PER_REQUEST: usize = 100_000;

impl Survey {
    pub async fn issue_invitations(
        &self,
        wave_id: &str,
        locality_code: &str,
        agency_code: Option<&str>,
        count: usize,
    ) -> Result<Vec<IssuedInvitation>, StorageError> {
        let codes: Vec<InvitationCode> = (0..count).map(|_| InvitationCode::generate()).collect();
        let hashes: Vec<String> = codes.iter().map(|c| self.hasher.hash(c)).collect();
        let (wave, locality, agency) =
            (wave_id.to_string(), locality_code.to_string(), agency_code.unwrap_or("").to_string());
        self.db.run(move |db| db.insert_invitations(&wave, &locality, &agency, &hashes)).await?;
        Ok(codes
            .into_iter()
            .map(|code| IssuedInvitation { url: code.url(&self.base_url), code: code.grouped() })
            .collect())
    }
}
