//! Drawing a wave's sample from its confirmed lists, stratum by stratum.

use super::Survey;
use crate::domain::sampling::{SizeRule, draw, sample_sizes};
use crate::storage::StorageError;
use crate::storage::lists::{FrameUnit, Selection};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SampleRequest {
    pub level: String,
    #[serde(default)]
    pub by_agency: bool,
    pub method: String,
    pub margin: Option<f64>,
    pub quota: Option<usize>,
    pub total: Option<usize>,
    /// Recorded with the draw; a random one is chosen and recorded when absent.
    pub seed: Option<u64>,
    /// Reserve drawn per stratum, as a share of its sample (default 0.2).
    pub reserve: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StratumDraw {
    pub locality_code: String,
    pub agency_code: Option<String>,
    pub population: usize,
    pub sample: usize,
    pub reserve: usize,
}

#[derive(Debug, Serialize)]
pub struct SampleOutcome {
    pub draw_id: String,
    pub seed: u64,
    pub strata: Vec<StratumDraw>,
}

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("{1}")]
    Invalid(&'static str, String),
    #[error("thư mời đã được gửi từ mẫu này: không rút lại mẫu được nữa")]
    AlreadyInvited,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Largest seed handed out or accepted: exact in any JSON client (2^53).
const MAX_SEED: u64 = (1 << 53) - 1;

impl SampleRequest {
    fn rule(&self) -> Result<SizeRule, SampleError> {
        let missing = |field: &'static str| {
            SampleError::Invalid(field, format!("phương pháp “{}” cần tham số {field}", self.method))
        };
        let rule = match self.method.as_str() {
            "slovin" => SizeRule::Slovin { margin: self.margin.unwrap_or(0.05) },
            "quota" => SizeRule::Quota(self.quota.ok_or_else(|| missing("quota"))?),
            "proportional" => SizeRule::Proportional { total: self.total.ok_or_else(|| missing("total"))? },
            _ => {
                return Err(SampleError::Invalid(
                    "method",
                    "phương pháp phải là slovin, quota hoặc proportional".into(),
                ));
            }
        };
        // Checked here, before any work: sizes of no strata fail only on a bad parameter.
        sample_sizes(&[], rule).map_err(|e| SampleError::Invalid("margin", e.to_string()))?;
        Ok(rule)
    }
}

impl Survey {
    /// Draws (or redraws) the sample of a wave and records it: who, when, seed, N and n.
    pub async fn draw_sample(
        &self,
        wave_id: &str,
        drawn_by: &str,
        request: SampleRequest,
    ) -> Result<SampleOutcome, SampleError> {
        let rule = request.rule()?;
        let reserve_share = request.reserve.unwrap_or(0.2);
        if !(0.0..=5.0).contains(&reserve_share) {
            return Err(SampleError::Invalid("reserve", "tỷ lệ dự phòng phải từ 0 đến 5".into()));
        }
        let seed = match request.seed {
            Some(seed) if seed > MAX_SEED => {
                return Err(SampleError::Invalid("seed", format!("hạt giống tối đa là {MAX_SEED}")));
            }
            Some(seed) => seed,
            None => rand::thread_rng().gen_range(0..=MAX_SEED),
        };
        let (wave, drawn_by) = (wave_id.to_string(), drawn_by.to_string());
        self.db
            .run(move |db| {
                if db.sample_invited(&wave)? {
                    return Ok(Err(SampleError::AlreadyInvited));
                }
                let tree = db.current_tree()?;
                let mut strata: BTreeMap<(String, Option<String>), Vec<FrameUnit>> = BTreeMap::new();
                for unit in db.frame(&wave)? {
                    let Some(at_level) = tree.ancestor_at_level(&unit.locality_code, &request.level) else {
                        continue;
                    };
                    let agency = request.by_agency.then(|| unit.agency_code.clone()).filter(|a| !a.is_empty());
                    strata.entry((at_level.code.clone(), agency)).or_default().push(unit);
                }
                // Canonical frame order: the same lists give the same positions.
                for units in strata.values_mut() {
                    units.sort_by(|a, b| {
                        (&a.agency_code, &a.locality_code, a.line, &a.id).cmp(&(
                            &b.agency_code,
                            &b.locality_code,
                            b.line,
                            &b.id,
                        ))
                    });
                }
                if strata.is_empty() {
                    return Ok(Err(SampleError::Invalid(
                        "level",
                        format!("chưa có người nào trong danh sách đã xác nhận thuộc cấp “{}”", request.level),
                    )));
                }
                let populations: Vec<usize> = strata.values().map(Vec::len).collect();
                let sizes = sample_sizes(&populations, rule).map_err(|e| StorageError::Task(e.to_string()))?;
                let mut selections = Vec::new();
                let mut summary = Vec::new();
                for (((locality, agency), units), n) in strata.iter().zip(sizes) {
                    let key = format!("{locality}/{}", agency.as_deref().unwrap_or("*"));
                    let reserve = (n as f64 * reserve_share).ceil() as usize;
                    let drawn = draw(seed, &key, units.len(), n, reserve);
                    for (kind, positions) in [("sample", &drawn.sample), ("reserve", &drawn.reserve)] {
                        for (rank, &position) in positions.iter().enumerate() {
                            selections.push(Selection {
                                contact_id: units[position].id.clone(),
                                selection: kind,
                                stratum: key.clone(),
                                rank: rank as i64,
                            });
                        }
                    }
                    summary.push(StratumDraw {
                        locality_code: locality.clone(),
                        agency_code: agency.clone(),
                        population: units.len(),
                        sample: drawn.sample.len(),
                        reserve: drawn.reserve.len(),
                    });
                }
                let design = serde_json::to_string(&request).expect("request serialises");
                let strata_json = serde_json::to_string(&summary).expect("strata serialise");
                let draw_id = db.record_draw(&wave, &drawn_by, seed, &design, &strata_json, &selections)?;
                Ok(Ok(SampleOutcome { draw_id, seed, strata: summary }))
            })
            .await?
    }
}
