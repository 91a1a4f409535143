//! Officials' accounts and the audit log (administrators only).

use crate::domain::account::{EmailAddress, NewPassword, Role};
use crate::storage::accounts::NewUser;
use crate::web::AppState;
use crate::web::auth::{ApiUser, hash_password, require};
use crate::web::error::ApiError;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::post().to(create)).route("/audit", web::get().to(audit_log));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    email: String,
    password: String,
    role: String,
    agency_code: Option<String>,
}

async fn create(
    state: web::Data<AppState>,
    user: ApiUser,
    body: web::Json<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Administrator])?;
    let mut errors = BTreeMap::new();
    let email = EmailAddress::parse(&body.email).map_err(|e| errors.insert("email".to_string(), e.to_string())).ok();
    let password =
        NewPassword::parse(&body.password).map_err(|e| errors.insert("password".to_string(), e.to_string())).ok();
    let role = Role::parse(&body.role);
    if role.is_none() {
        errors.insert("role".into(), "Vai trò phải là administrator, agency_officer, enumerator hoặc analyst.".into());
    }
    let agency_code = body.agency_code.clone().filter(|a| !a.trim().is_empty());
    if role == Some(Role::AgencyOfficer) && agency_code.is_none() {
        errors.insert("agency_code".into(), "Cán bộ cơ quan cần có mã cơ quan.".into());
    }
    if let Some(code) = agency_code.clone()
        && state.survey.db.run(move |db| db.agency(&code)).await?.is_none()
    {
        errors.insert("agency_code".into(), "Cơ quan chưa có trong hệ thống.".into());
    }
    let (Some(email), Some(password), Some(role), true) = (email, password, role, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let hash =
        tokio::task::spawn_blocking(move || hash_password(password.expose())).await.map_err(|_| ApiError::Internal)?;
    let id = state
        .survey
        .db
        .run(move |db| {
            db.create_user(&NewUser {
                email: email.as_str(),
                password_hash: &hash,
                role,
                agency_code: agency_code.as_deref(),
            })
        })
        .await?
        .ok_or_else(|| ApiError::Conflict("Email này đã có tài khoản.".into()))?;
    state.audit(&user.0, "user.create", &format!("{id} role={}", role.as_str())).await?;
    Ok(HttpResponse::Created().json(json!({"id": id})))
}

#[derive(Deserialize)]
struct AuditParams {
    limit: Option<i64>,
}

async fn audit_log(
    state: web::Data<AppState>,
    user: ApiUser,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Administrator])?;
    let limit = params.limit.unwrap_or(100).clamp(1, 1000);
    let entries = state.survey.db.run(move |db| db.recent_audit(limit)).await?;
    Ok(HttpResponse::Ok().json(json!({"entries": entries})))
}
