//! Localities and agencies.

use crate::domain::account::Role;
use crate::domain::locality::{self, Locality};
use crate::storage::localities::{Agency, SaveOutcome};
use crate::web::AppState;
use crate::web::auth::{ApiUser, require};
use crate::web::error::ApiError;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/localities", web::post().to(create_locality))
        .route("/localities", web::get().to(list_localities))
        .route("/localities/import", web::post().to(import_localities))
        .route("/localities/crosswalk", web::post().to(import_crosswalk))
        .route("/agencies", web::post().to(create_agency))
        .route("/agencies", web::get().to(list_agencies));
}

#[derive(Deserialize, utoipa::ToSchema)]
struct NewLocality {
    code: String,
    name: String,
    level: String,
    parent_code: Option<String>,
}

fn invalid(field: &str, message: impl ToString) -> ApiError {
    ApiError::Invalid(BTreeMap::from([(field.to_string(), message.to_string())]))
}

fn parent_problem(outcome: &SaveOutcome) -> &'static str {
    match outcome {
        SaveOutcome::Cycle => "Địa bàn cấp trên nằm bên trong chính địa bàn này.",
        _ => "Địa bàn cấp trên chưa có trong hệ thống.",
    }
}

fn created_status(outcome: &SaveOutcome) -> actix_web::http::StatusCode {
    match outcome {
        SaveOutcome::Created => actix_web::http::StatusCode::CREATED,
        _ => actix_web::http::StatusCode::OK,
    }
}

#[utoipa::path(
    post,
    path = "/localities",
    tag = "places",
    responses(
        (status = 201, description = "created"),
        (status = 200, description = "renamed"),
        (status = 403, description = "the role may not"),
        (status = 422, description = "invalid input: `errors` by field"),
    ),
    security(("bearer" = [])),
)]
async fn create_locality(
    state: web::Data<AppState>,
    user: ApiUser,
    body: web::Json<NewLocality>,
) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Administrator])?;
    let locality = Locality::parse(&body.code, &body.name, &body.level, body.parent_code.as_deref())
        .map_err(|e| invalid("locality", e))?;
    let code = locality.code.clone();
    let saved = state.survey.db.run(move |db| db.save_localities(std::slice::from_ref(&locality))).await?;
    let outcome = saved.map_err(|(_, why)| invalid("parent_code", parent_problem(&why)))?.remove(0);
    state.audit(&user.0, "locality.save", &code).await?;
    Ok(HttpResponse::build(created_status(&outcome)).json(json!({"code": code})))
}

#[utoipa::path(
    get,
    path = "/localities",
    tag = "places",
    responses((status = 200, description = "`{localities}`"), (status = 401, description = "no valid token")),
    security(("bearer" = [])),
)]
async fn list_localities(state: web::Data<AppState>, user: ApiUser) -> Result<HttpResponse, ApiError> {
    require(&user.0, &Role::ALL)?;
    let localities = state.survey.db.run(|db| db.all_localities()).await?;
    Ok(HttpResponse::Ok().json(json!({"localities": localities})))
}

/// A whole list at once (`code,name,level,parent_code`), all or nothing.
#[utoipa::path(
    post,
    path = "/localities/import",
    tag = "places",
    request_body(content = String, content_type = "text/csv", description = "`code,name,level,parent_code` lines, UTF-8"),
    responses(
        (status = 200, description = "imported, all or nothing"),
        (status = 403, description = "the role may not"),
        (status = 422, description = "errors by line; nothing imported"),
    ),
    security(("bearer" = [])),
)]
async fn import_localities(
    state: web::Data<AppState>,
    user: ApiUser,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Administrator])?;
    let localities = match locality::parse_csv(utf8(&body)?) {
        Ok(rows) => rows,
        Err(errors) => return Ok(invalid_lines(&errors)),
    };
    let count = localities.len();
    let (lines, localities): (Vec<usize>, Vec<Locality>) = localities.into_iter().unzip();
    let saved = state.survey.db.run(move |db| db.save_localities(&localities)).await?;
    match saved {
        Ok(outcomes) => {
            let created = outcomes.iter().filter(|o| **o == SaveOutcome::Created).count();
            state.audit(&user.0, "locality.import", &format!("{count} rows")).await?;
            Ok(HttpResponse::Ok().json(json!({"rows": count, "created": created, "updated": count - created})))
        }
        Err((position, why)) => Ok(invalid_lines(&[locality::LineError {
            line: lines[position],
            reason: parent_problem(&why).to_string(),
        }])),
    }
}

fn utf8(body: &[u8]) -> Result<&str, ApiError> {
    std::str::from_utf8(body).map_err(|_| ApiError::BadRequest("Tệp phải được mã hóa UTF-8.".into()))
}

/// A list refused whole, with the reason of every bad line.
fn invalid_lines(errors: &[locality::LineError]) -> HttpResponse {
    HttpResponse::UnprocessableEntity().json(
        json!({"error": "invalid", "message": "Danh sách có dòng không hợp lệ; chưa nhập dòng nào.", "lines": errors}),
    )
}

/// Which unit each old code became (`old_code,new_code`), for comparisons across a
/// reorganisation: an earlier wave's units merged into one are compared as one.
#[utoipa::path(
    post,
    path = "/localities/crosswalk",
    tag = "places",
    request_body(content = String, content_type = "text/csv", description = "`old_code,new_code` lines, UTF-8"),
    responses(
        (status = 200, description = "`{rows}`: recorded, all or nothing; a later row for an old code replaces it"),
        (status = 403, description = "the role may not"),
        (status = 422, description = "errors by line; nothing recorded"),
    ),
    security(("bearer" = [])),
)]
async fn import_crosswalk(
    state: web::Data<AppState>,
    user: ApiUser,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Administrator])?;
    let rows = match locality::parse_crosswalk(utf8(&body)?) {
        Ok(rows) => rows,
        Err(errors) => return Ok(invalid_lines(&errors)),
    };
    let count = rows.len();
    state.survey.db.run(move |db| db.save_crosswalk(&rows)).await?;
    state.audit(&user.0, "locality.crosswalk", &format!("{count} rows")).await?;
    Ok(HttpResponse::Ok().json(json!({"rows": count})))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct NewAgency {
    code: String,
    name: String,
    locality_code: String,
}

#[utoipa::path(
    post,
    path = "/agencies",
    tag = "places",
    responses(
        (status = 201, description = "created"),
        (status = 200, description = "renamed"),
        (status = 403, description = "the role may not"),
        (status = 422, description = "invalid input: `errors` by field"),
    ),
    security(("bearer" = [])),
)]
async fn create_agency(
    state: web::Data<AppState>,
    user: ApiUser,
    body: web::Json<NewAgency>,
) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Administrator])?;
    let code = locality::parse_code(&body.code).map_err(|e| invalid("code", e))?;
    let name = crate::domain::text::name(&body.name).map_err(|e| invalid("name", e.about("Tên cơ quan")))?;
    let agency = Agency { code: code.clone(), name, locality_code: body.locality_code.trim().to_string() };
    let outcome = state.survey.db.run(move |db| db.save_agency(&agency)).await?;
    if outcome == SaveOutcome::UnknownParent {
        return Err(invalid("locality_code", "Địa bàn của cơ quan chưa có trong hệ thống."));
    }
    state.audit(&user.0, "agency.save", &code).await?;
    Ok(HttpResponse::build(created_status(&outcome)).json(json!({"code": code})))
}

#[utoipa::path(
    get,
    path = "/agencies",
    tag = "places",
    responses((status = 200, description = "`{agencies}`"), (status = 401, description = "no valid token")),
    security(("bearer" = [])),
)]
async fn list_agencies(state: web::Data<AppState>, user: ApiUser) -> Result<HttpResponse, ApiError> {
    require(&user.0, &Role::ALL)?;
    let agencies = state.survey.db.run(|db| db.all_agencies()).await?;
    Ok(HttpResponse::Ok().json(json!({"agencies": agencies})))
}
