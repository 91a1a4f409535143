//! Waves: creation, opening and closing, invitations and results.

use crate::domain::account::Role;
use crate::domain::form::Form;
use crate::domain::locality::LocalityTree;
use crate::domain::wave::{Channel, DeskFilter, WaveStatus, Weighting, covers_agency};
use crate::service::invitations::{IssueError, MAX_INVITATIONS_PER_REQUEST};
use crate::service::recount::verify_counters;
use crate::service::results::{ResultsQuery, WaveResults, compare_with, through_crosswalk, wave_results};
use crate::service::waves::WaveRequest;
use crate::storage::waves::{TransitionOutcome, Wave};
use crate::web::AppState;
use crate::web::auth::{ApiUser, require, require_agency_access};
use crate::web::error::ApiError;
use crate::web::official::thousands;
use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/waves", web::post().to(create))
        .route("/waves", web::get().to(list))
        .route("/waves/{id}", web::get().to(show))
        .route("/waves/{id}/open", web::post().to(open))
        .route("/waves/{id}/close", web::post().to(close))
        .route("/waves/{id}/invitations", web::post().to(invite))
        .route("/waves/{id}/results", web::get().to(results))
        .route("/waves/{id}/verify", web::get().to(verify));
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::Invalid(BTreeMap::from([(field.to_string(), message.to_string())]))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateWave {
    name: String,
    /// The newest version unless `form_version` names an earlier one.
    form_id: String,
    form_version: Option<String>,
    #[serde(default)]
    localities: Vec<String>,
    #[serde(default)]
    agencies: Vec<String>,
    opens_on: Option<NaiveDate>,
    closes_on: Option<NaiveDate>,
    /// The period whose transactions are surveyed (list rows outside it are flagged).
    period_from: Option<NaiveDate>,
    period_to: Option<NaiveDate>,
    /// Agencies may hand out codes at their desk; their answers are marked `desk`.
    #[serde(default)]
    desk_codes: bool,
    /// Figures on fewer valid answers are hidden (`PHIEU_MIN_CELL` when omitted).
    min_cell: Option<u64>,
    /// `none` (default) or `design`: figures weighted by the strata of the wave's sample.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    weighting: Weighting,
}

#[utoipa::path(
    post,
    path = "/waves",
    tag = "waves",
    responses(
        (status = 201, description = "`{id, status}`: a draft"),
        (status = 403, description = "the role may not"),
        (status = 422, description = "invalid input: `errors` by field"),
    ),
    security(("bearer" = [])),
)]
async fn create(
    state: web::Data<AppState>,
    user: ApiUser,
    body: web::Json<CreateWave>,
) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Administrator])?;
    let body = body.into_inner();
    let request = WaveRequest {
        name: body.name,
        form_id: body.form_id,
        form_version: body.form_version,
        localities: body.localities,
        agencies: body.agencies,
        opens_on: body.opens_on,
        closes_on: body.closes_on,
        period_from: body.period_from,
        period_to: body.period_to,
        desk_codes: body.desk_codes,
        min_cell: body.min_cell,
        weighting: body.weighting,
    };
    let id = state.survey.create_wave(request).await?;
    state.audit(&user.0, "wave.create", &id).await?;
    Ok(HttpResponse::Created().json(json!({"id": id, "status": WaveStatus::Draft})))
}

#[utoipa::path(
    get,
    path = "/waves",
    tag = "waves",
    responses((status = 200, description = "`{waves}`"), (status = 401, description = "no valid token")),
    security(("bearer" = [])),
)]
async fn list(state: web::Data<AppState>, user: ApiUser) -> Result<HttpResponse, ApiError> {
    require(&user.0, &Role::ALL)?;
    let waves = state.survey.db.run(|db| db.waves()).await?;
    Ok(HttpResponse::Ok().json(json!({"waves": waves})))
}

pub async fn find_wave(state: &AppState, id: &str) -> Result<Wave, ApiError> {
    let id_owned = id.to_string();
    state
        .survey
        .db
        .run(move |db| db.wave(&id_owned))
        .await?
        .ok_or_else(|| ApiError::NotFound("Không tìm thấy đợt khảo sát.".into()))
}

#[utoipa::path(
    get,
    path = "/waves/{id}",
    tag = "waves",
    params(("id" = String, Path, description = "the wave's id")),
    responses(
        (status = 200, description = "the wave"),
        (status = 401, description = "no valid token"),
        (status = 404, description = "unknown wave"),
    ),
    security(("bearer" = [])),
)]
async fn show(state: web::Data<AppState>, user: ApiUser, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    require(&user.0, &Role::ALL)?;
    Ok(HttpResponse::Ok().json(find_wave(&state, &path).await?))
}

#[utoipa::path(
    post,
    path = "/waves/{id}/open",
    tag = "waves",
    params(("id" = String, Path, description = "the wave's id")),
    responses(
        (status = 200, description = "`{id, status}`"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown wave"),
        (status = 409, description = "not in this state"),
    ),
    security(("bearer" = [])),
)]
async fn open(state: web::Data<AppState>, user: ApiUser, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    transition(&state, &user, &path, WaveStatus::Open).await
}

#[utoipa::path(
    post,
    path = "/waves/{id}/close",
    tag = "waves",
    params(("id" = String, Path, description = "the wave's id")),
    responses(
        (status = 200, description = "`{id, status}`; its answers are mixed"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown wave"),
        (status = 409, description = "not in this state"),
    ),
    security(("bearer" = [])),
)]
async fn close(state: web::Data<AppState>, user: ApiUser, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    transition(&state, &user, &path, WaveStatus::Closed).await
}

async fn transition(state: &AppState, user: &ApiUser, id: &str, next: WaveStatus) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Administrator])?;
    match state.change_wave_status(&user.0, id, next).await? {
        TransitionOutcome::Done(status) => Ok(HttpResponse::Ok().json(json!({"id": id, "status": status}))),
        TransitionOutcome::NotFound => Err(ApiError::NotFound("Không tìm thấy đợt khảo sát.".into())),
        TransitionOutcome::NotAllowed(current) => Err(ApiError::Conflict(format!(
            "Đợt khảo sát đang ở trạng thái “{}”, không chuyển sang “{}” được.",
            current.label(),
            next.label()
        ))),
    }
}

impl AppState {
    /// Opens or closes a wave; closing also mixes its answers (see `Database::mix_wave`).
    pub async fn change_wave_status(
        &self,
        user: &crate::storage::accounts::User,
        id: &str,
        next: WaveStatus,
    ) -> Result<TransitionOutcome, ApiError> {
        let wave_id = id.to_string();
        let outcome = self.survey.db.run(move |db| db.transition_wave(&wave_id, next)).await?;
        if let TransitionOutcome::Done(status) = outcome {
            self.audit(user, &format!("wave.{}", status.as_str()), id).await?;
            if status == WaveStatus::Closed {
                let wave_id = id.to_string();
                let min_cohort = self.settings.mix_min_answers;
                self.survey.db.run(move |db| db.mix_wave(&wave_id, min_cohort)).await?;
            }
        }
        Ok(outcome)
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct InviteRequest {
    count: usize,
    locality_code: String,
    agency_code: Option<String>,
}

#[utoipa::path(
    post,
    path = "/waves/{id}/invitations",
    tag = "waves",
    params(("id" = String, Path, description = "the wave's id")),
    responses(
        (status = 201, description = "`{invitations: [{code, url}]}`: codes are shown only here"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown wave"),
        (status = 410, description = "the wave is closed"),
        (status = 422, description = "invalid input: `errors` by field"),
    ),
    security(("bearer" = [])),
)]
async fn invite(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
    body: web::Json<InviteRequest>,
) -> Result<HttpResponse, ApiError> {
    let agency_code = body.agency_code.as_deref().map(str::trim).filter(|a| !a.is_empty()).map(str::to_string);
    require(&user.0, &[Role::Administrator, Role::AgencyOfficer])?;
    require_agency_access(&user.0, agency_code.as_deref())?;
    if body.count == 0 || body.count > MAX_INVITATIONS_PER_REQUEST {
        return Err(invalid(
            "count",
            &format!("Mỗi lần phát được từ 1 đến {} thư mời.", thousands(MAX_INVITATIONS_PER_REQUEST as i64)),
        ));
    }
    let wave = find_wave(&state, &path).await?;
    if wave.status == WaveStatus::Closed {
        return Err(ApiError::wave_closed());
    }
    // The unit being assessed must not choose its respondents: only Nội vụ issues codes,
    // unless the wave lets agencies hand them out at their desk (and marks those answers).
    let channel = match user.0.role {
        Role::AgencyOfficer if wave.desk_codes => Channel::Desk,
        Role::AgencyOfficer => {
            return Err(ApiError::Forbidden(
                "Đợt khảo sát này không cho cơ quan tự phát mã mời: chỉ Nội vụ phát mã và chọn mẫu.".into(),
            ));
        }
        _ => Channel::Standard,
    };
    let locality_code = body.locality_code.trim().to_string();
    let (agency_code_q, locality_q) = (agency_code.clone(), locality_code.clone());
    let (tree, agency) = state
        .survey
        .db
        .run(move |db| {
            let agency = match &agency_code_q {
                Some(code) => db.agency(code)?,
                None => None,
            };
            // Only the chains above the two localities: all the checks below walk upwards.
            let mut places = db.locality_with_ancestors(&locality_q)?;
            if let Some(agency) = &agency {
                places.extend(db.locality_with_ancestors(&agency.locality_code)?);
            }
            Ok((LocalityTree::new(places), agency))
        })
        .await?;
    if tree.get(&locality_code).is_none() {
        return Err(invalid("locality_code", "Địa bàn chưa có trong hệ thống."));
    }
    if !wave.localities.is_empty() && !wave.localities.iter().any(|root| tree.is_within(&locality_code, root)) {
        return Err(invalid("locality_code", "Địa bàn này không thuộc phạm vi của đợt khảo sát."));
    }
    if agency_code.is_some() {
        let Some(agency) = &agency else {
            return Err(invalid("agency_code", "Cơ quan chưa có trong hệ thống."));
        };
        // Codes, like lists, only for an agency the wave covers, seated in its area.
        covers_agency(&wave.agencies, &wave.localities, &agency.code, &agency.locality_code, &tree)
            .map_err(|out| ApiError::Forbidden(out.message().into()))?;
        // An agency officer invites only people of its own area: otherwise one agency could
        // add answers to another district's figures.
        if user.0.role == Role::AgencyOfficer && !tree.is_within(&locality_code, &agency.locality_code) {
            return Err(ApiError::Forbidden("Cơ quan chỉ được phát thư mời trong địa bàn của mình.".into()));
        }
    }
    let invitations = state
        .survey
        .issue_invitations(&wave.id, &locality_code, agency_code.as_deref(), channel, body.count)
        .await
        .map_err(|e| issue_error("count", e))?;
    state
        .audit(
            &user.0,
            "invitations.issue",
            &format!(
                "wave={} locality={} agency={} count={} channel={}",
                wave.id,
                locality_code,
                agency_code.as_deref().unwrap_or("-"),
                body.count,
                channel.as_str()
            ),
        )
        .await?;
    Ok(HttpResponse::Created().json(json!({"invitations": invitations})))
}

/// A refused issue, the wave's cap named in Vietnamese under `field`.
pub fn issue_error(field: &str, e: IssueError) -> ApiError {
    match e {
        IssueError::OverWaveLimit { limit, existing, requested } => invalid(
            field,
            &format!(
                "Mỗi đợt khảo sát có tối đa {} thư mời; đợt này đã có {}, không phát thêm {} mã được.",
                thousands(limit as i64),
                thousands(existing as i64),
                thousands(requested as i64)
            ),
        ),
        IssueError::Storage(e) => e.into(),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultsParams {
    pub level: Option<String>,
    pub by: Option<String>,
    /// `include` (default), `exclude` or `only` answers to codes handed out at agencies' desks.
    #[serde(default)]
    #[param(value_type = Option<String>)]
    pub desk: DeskFilter,
    /// An earlier wave's id: each figure gains `change` (points) and `rank_change` (places).
    pub compare: Option<String>,
    /// `none` or `design` (default: the wave's own `weighting`).
    #[param(value_type = Option<String>)]
    pub weighting: Option<Weighting>,
}

impl ResultsParams {
    /// The query an official may run: an agency officer sees only its own agency.
    pub fn query_for(&self, user: &crate::storage::accounts::User, wave: &Wave) -> Result<ResultsQuery, ApiError> {
        require(user, &[Role::Administrator, Role::AgencyOfficer, Role::Analyst])?;
        let agency_scope = match user.role {
            // An officer knows whom it handed desk codes to: splitting by the channel would
            // single those people out, so only Nội vụ and analysts may.
            Role::AgencyOfficer if self.desk != DeskFilter::Include => {
                return Err(ApiError::Forbidden(
                    "Cơ quan chỉ xem kết quả gộp mọi phiếu: không tách riêng phiếu từ mã phát tại quầy.".into(),
                ));
            }
            Role::AgencyOfficer => Some(
                user.agency_code
                    .clone()
                    .ok_or_else(|| ApiError::Forbidden("Tài khoản chưa gắn với cơ quan.".into()))?,
            ),
            _ => None,
        };
        Ok(ResultsQuery {
            level: self.level.clone().filter(|l| !l.is_empty()),
            by_agency: self.by.as_deref() == Some("agency"),
            agency_scope,
            covered: wave.localities.clone(),
            desk: self.desk,
            weighting: self.weighting.unwrap_or(wave.weighting),
            items: false,
        })
    }
}

/// A wave's results as `user` may see them, with the change since `params.compare`.
pub async fn visible_results(
    state: &AppState,
    user: &crate::storage::accounts::User,
    wave: &Wave,
    params: &ResultsParams,
) -> Result<(Arc<Form>, WaveResults), ApiError> {
    visible_results_with(state, user, wave, params, false).await
}

/// `visible_results`, with each group's item distributions when `items`.
pub async fn visible_results_with(
    state: &AppState,
    user: &crate::storage::accounts::User,
    wave: &Wave,
    params: &ResultsParams,
    items: bool,
) -> Result<(Arc<Form>, WaveResults), ApiError> {
    let one = |wave: Wave| async move {
        let query = ResultsQuery { items, ..params.query_for(user, &wave)? };
        let form = state.survey.wave_form(&wave.form_hash).await?;
        let suppression = state.survey.suppression(&wave, &form).await?;
        let form_q = form.clone();
        let results =
            state.survey.db.run_heavy(move |db| wave_results(db, &form_q, &wave, &query, &suppression)).await?;
        Ok::<_, ApiError>((form, results))
    };
    let (form, mut results) = one(wave.clone()).await?;
    if let Some(earlier) = &params.compare {
        let earlier = find_wave(state, earlier).await?;
        let (earlier_form, mut earlier_results) = one(earlier).await?;
        let crosswalk = state.survey.db.run(|db| db.crosswalk()).await?;
        through_crosswalk(&mut earlier_results, &earlier_form, &crosswalk);
        compare_with(&mut results, &form, &earlier_results, &earlier_form);
    }
    Ok((form, results))
}

#[utoipa::path(
    get,
    path = "/waves/{id}/results",
    tag = "waves",
    params(("id" = String, Path, description = "the wave's id"), ResultsParams),
    responses(
        (status = 200, description = "`{overall, figure_fields, groups}`: responses and indices with n and 95% intervals; each group's `figures` are arrays of the fields `figure_fields` names, in the order of `overall.indices`"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown wave"),
    ),
    security(("bearer" = [])),
)]
async fn results(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
    params: web::Query<ResultsParams>,
) -> Result<HttpResponse, ApiError> {
    let wave = find_wave(&state, &path).await?;
    let (_, results) = visible_results(&state, &user.0, &wave, &params).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .streaming(super::stream_made_ahead(results.into_json_chunks())))
}

#[utoipa::path(
    get,
    path = "/waves/{id}/verify",
    tag = "waves",
    params(("id" = String, Path, description = "the wave's id")),
    responses(
        (status = 200, description = "a recount from raw answers compared with the counters"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown wave"),
    ),
    security(("bearer" = [])),
)]
async fn verify(state: web::Data<AppState>, user: ApiUser, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Administrator])?;
    let wave = find_wave(&state, &path).await?;
    let form = state.survey.wave_form(&wave.form_hash).await?;
    let open = wave.status == WaveStatus::Open;
    let verification = state.survey.db.run(move |db| verify_counters(db, &form, &wave.id, open)).await?;
    Ok(HttpResponse::Ok().json(verification))
}
