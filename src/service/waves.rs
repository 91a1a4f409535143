//! Opening a wave: the checks every way of creating one goes through.

use super::Survey;
use crate::domain::wave::Weighting;
use crate::storage::StorageError;
use crate::storage::waves::NewWave;
use chrono::NaiveDate;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct WaveRequest {
    pub name: String,
    pub form_id: String,
    /// The newest version when not given.
    pub form_version: Option<String>,
    pub localities: Vec<String>,
    pub agencies: Vec<String>,
    pub opens_on: Option<NaiveDate>,
    pub closes_on: Option<NaiveDate>,
    pub period_from: Option<NaiveDate>,
    pub period_to: Option<NaiveDate>,
    pub desk_codes: bool,
    /// The wave's own disclosure threshold.
    pub min_cell: Option<u64>,
    pub weighting: Weighting,
}

#[derive(Debug, thiserror::Error)]
pub enum WaveError {
    /// Field → what is wrong with it, in Vietnamese.
    #[error("the wave request is invalid")]
    Invalid(BTreeMap<String, String>),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl Survey {
    /// Creates a draft wave after checking its name, form, dates and coverage.
    pub async fn create_wave(&self, request: WaveRequest) -> Result<String, WaveError> {
        let mut errors = BTreeMap::new();
        let name = crate::domain::text::name(&request.name)
            .map_err(|e| errors.insert("name".to_string(), e.about("Tên đợt khảo sát")))
            .unwrap_or_default();
        let form = match &request.form_version {
            None => self.forms.newest(&request.form_id),
            Some(version) => self.forms.version(&request.form_id, version),
        };
        match (&form, &request.form_version) {
            (Some(_), _) => {}
            (None, Some(version)) if self.forms.newest(&request.form_id).is_some() => {
                errors.insert("form_version".into(), format!("Bộ phiếu này không có phiên bản “{version}”."));
            }
            (None, _) => {
                errors.insert("form_id".into(), "Không có bộ phiếu này.".into());
            }
        }
        if request.min_cell.is_some_and(|k| !(1..=1000).contains(&k)) {
            errors.insert("min_cell".into(), "Ngưỡng ẩn số liệu phải từ 1 đến 1.000 phiếu.".into());
        }
        if let (Some(from), Some(to)) = (request.opens_on, request.closes_on)
            && to < from
        {
            errors.insert("closes_on".into(), "Ngày kết thúc phải sau ngày bắt đầu.".into());
        }
        if let (Some(from), Some(to)) = (request.period_from, request.period_to)
            && to < from
        {
            errors.insert("period_to".into(), "Cuối kỳ phải sau đầu kỳ.".into());
        }
        let (localities, agencies) = (request.localities.clone(), request.agencies.clone());
        let (unknown_locality, unknown_agency) = self
            .db
            .run(move |db| {
                let mut unknown_locality = None;
                for code in &localities {
                    if db.locality(code)?.is_none() {
                        unknown_locality = Some(code.clone());
                        break;
                    }
                }
                let mut unknown_agency = None;
                for code in &agencies {
                    if db.agency(code)?.is_none() {
                        unknown_agency = Some(code.clone());
                        break;
                    }
                }
                Ok((unknown_locality, unknown_agency))
            })
            .await?;
        if let Some(code) = unknown_locality {
            errors.insert("localities".into(), format!("Địa bàn “{code}” chưa có trong hệ thống."));
        }
        if let Some(code) = unknown_agency {
            errors.insert("agencies".into(), format!("Cơ quan “{code}” chưa có trong hệ thống."));
        }
        let Some(form) = form.filter(|_| errors.is_empty()) else {
            return Err(WaveError::Invalid(errors));
        };
        Ok(self
            .db
            .run(move |db| {
                db.create_wave(&NewWave {
                    name: &name,
                    form: &form,
                    opens_on: request.opens_on,
                    closes_on: request.closes_on,
                    period_from: request.period_from,
                    period_to: request.period_to,
                    localities: &request.localities,
                    agencies: &request.agencies,
                    desk_codes: request.desk_codes,
                    min_cell: request.min_cell,
                    weighting: request.weighting,
                })
            })
            .await?)
    }
}
