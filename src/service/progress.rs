//! How far a wave has come, per stratum, per locality at every level, and its emails.

use super::Survey;
use crate::domain::delivery::Channel;
use crate::domain::locality::LocalityTree;
use crate::domain::progress::{LocalityProgress, Tally, roll_up};
use crate::storage::StorageError;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct StratumProgress {
    pub locality_code: String,
    pub agency_code: Option<String>,
    #[serde(flatten)]
    pub tally: Tally,
    /// Answered in % of invited; `null` before anyone is invited.
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WaveProgress {
    pub strata: Vec<StratumProgress>,
    /// Every locality with sampled people beneath it, parents before children.
    pub localities: Vec<LocalityProgress>,
    /// Queued emails by status.
    pub email: BTreeMap<String, i64>,
    /// SMS queued for the gateway, by status.
    pub sms: BTreeMap<String, i64>,
}

impl Survey {
    pub async fn progress(&self, wave_id: &str) -> Result<WaveProgress, StorageError> {
        let wave_id = wave_id.to_string();
        let (cells, messages, localities) = self
            .db
            .run(move |db| Ok((db.progress(&wave_id)?, db.message_counts(&wave_id)?, db.all_localities()?)))
            .await?;
        let by_status = |wanted: Channel| {
            messages
                .iter()
                .filter(|(channel, ..)| channel == wanted.as_str())
                .map(|(_, status, n)| (status.clone(), *n))
                .collect()
        };
        let mut strata: BTreeMap<&str, Tally> = BTreeMap::new();
        for cell in &cells {
            *strata.entry(cell.stratum.as_str()).or_default() += cell.tally;
        }
        let strata = strata
            .into_iter()
            .map(|(stratum, tally)| {
                // Strata are keyed "locality/agency", "*" standing for every agency.
                let (locality, agency) = stratum.split_once('/').unwrap_or((stratum, "*"));
                StratumProgress {
                    locality_code: locality.to_string(),
                    agency_code: (agency != "*").then(|| agency.to_string()),
                    tally,
                    rate: tally.rate(),
                }
            })
            .collect();
        let tree = LocalityTree::new(localities);
        let localities = roll_up(&tree, cells.iter().map(|c| (c.locality_code.as_str(), c.tally)));
        Ok(WaveProgress { strata, localities, email: by_status(Channel::Email), sms: by_status(Channel::Sms) })
    }
}
