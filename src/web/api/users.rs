//! Officials' accounts and the audit log (administrators only).

use crate::domain::account::{EmailAddress, NewPassword, Role};
use crate::storage::accounts::{NewUser, User};
use crate::web::AppState;
use crate::web::auth::{ApiUser, bearer_token, hash_password, require, token_hash};
use crate::web::error::ApiError;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::post().to(create))
        .route("/users", web::get().to(list))
        .route("/users/{id}/disable", web::post().to(disable))
        .route("/users/{id}/enable", web::post().to(enable))
        .route("/users/{id}/password", web::put().to(reset_password))
        .route("/users/{id}/sign-in-failures", web::delete().to(clear_failures))
        .route("/me/password", web::put().to(change_own_password))
        .route("/audit", web::get().to(audit_log));
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    email: String,
    password: String,
    role: String,
    agency_code: Option<String>,
}

#[utoipa::path(
    post,
    path = "/users",
    tag = "users",
    responses(
        (status = 201, description = "`{id}`"),
        (status = 403, description = "the role may not"),
        (status = 409, description = "the email is taken"),
        (status = 422, description = "invalid input: `errors` by field"),
    ),
    security(("bearer" = [])),
)]
async fn create(
    state: web::Data<AppState>,
    user: ApiUser,
    body: web::Json<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Administrator])?;
    let mut errors = BTreeMap::new();
    let email = EmailAddress::parse(&body.email).map_err(|e| errors.insert("email".to_string(), capitalised(&e))).ok();
    let password = email.as_ref().and_then(|email| {
        NewPassword::parse(&body.password, email)
            .map_err(|e| errors.insert("password".to_string(), capitalised(&e)))
            .ok()
    });
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
    let hash = hashed(password).await?;
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

/// Argon2 off the async threads.
async fn hashed(password: NewPassword) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_password(password.expose())).await.map_err(|_| ApiError::Internal)
}

fn no_such_account() -> ApiError {
    ApiError::NotFound("Không tìm thấy tài khoản.".into())
}

#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    responses((status = 200, description = "`{users}`"), (status = 403, description = "the role may not")),
    security(("bearer" = [])),
)]
async fn list(state: web::Data<AppState>, user: ApiUser) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Administrator])?;
    let users = state.survey.db.run(|db| db.list_users()).await?;
    Ok(HttpResponse::Ok().json(json!({"users": users})))
}

#[utoipa::path(
    post,
    path = "/users/{id}/disable",
    tag = "users",
    params(("id" = String, Path, description = "the account's id")),
    responses(
        (status = 204, description = "disabled; its tokens and sessions end"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown account"),
        (status = 409, description = "one's own account"),
    ),
    security(("bearer" = [])),
)]
async fn disable(state: web::Data<AppState>, user: ApiUser, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    set_disabled(&state, &user.0, path.into_inner(), true).await
}

#[utoipa::path(
    post,
    path = "/users/{id}/enable",
    tag = "users",
    params(("id" = String, Path, description = "the account's id")),
    responses(
        (status = 204, description = "enabled"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown account"),
    ),
    security(("bearer" = [])),
)]
async fn enable(state: web::Data<AppState>, user: ApiUser, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    set_disabled(&state, &user.0, path.into_inner(), false).await
}

async fn set_disabled(state: &AppState, admin: &User, id: String, disabled: bool) -> Result<HttpResponse, ApiError> {
    require(admin, &[Role::Administrator])?;
    if disabled && id == admin.id {
        return Err(ApiError::Conflict("Không thể tự khóa tài khoản của chính mình.".into()));
    }
    let target = id.clone();
    if !state.survey.db.run(move |db| db.set_disabled(&target, disabled)).await? {
        return Err(no_such_account());
    }
    state.audit(admin, if disabled { "user.disable" } else { "user.enable" }, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ResetPassword {
    password: Option<String>,
}

/// Sets the given password, or a generated one shown only in this answer; every other
/// token and session of the account ends.
#[utoipa::path(
    put,
    path = "/users/{id}/password",
    tag = "users",
    params(("id" = String, Path, description = "the account's id")),
    responses(
        (status = 204, description = "the given password is set"),
        (status = 200, description = "`{password}`: a generated one, shown once"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown account"),
        (status = 422, description = "invalid input: `errors` by field"),
    ),
    security(("bearer" = [])),
)]
async fn reset_password(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
    body: web::Json<ResetPassword>,
) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Administrator])?;
    let id = path.into_inner();
    let target = id.clone();
    let email = state.survey.db.run(move |db| db.user_email(&target)).await?.ok_or_else(no_such_account)?;
    let email = EmailAddress::parse(&email).map_err(|_| ApiError::Internal)?;
    let (password, generated) = match &body.password {
        Some(given) => (NewPassword::parse(given, &email).map_err(|e| invalid("password", e))?, false),
        None => (NewPassword::generate(&email), true),
    };
    let shown = generated.then(|| password.expose().to_string());
    let hash = hashed(password).await?;
    let target = id.clone();
    state.survey.db.run(move |db| db.set_password(&target, &hash, None)).await?;
    state.audit(&user.0, "user.password_reset", &id).await?;
    Ok(match shown {
        Some(password) => HttpResponse::Ok().json(json!({"password": password})),
        None => HttpResponse::NoContent().finish(),
    })
}

#[utoipa::path(
    delete,
    path = "/users/{id}/sign-in-failures",
    tag = "users",
    params(("id" = String, Path, description = "the account's id")),
    responses(
        (status = 204, description = "failed sign-ins forgotten"),
        (status = 403, description = "the role may not"),
        (status = 404, description = "unknown account"),
    ),
    security(("bearer" = [])),
)]
async fn clear_failures(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require(&user.0, &[Role::Administrator])?;
    let id = path.into_inner();
    let target = id.clone();
    if !state.survey.db.run(move |db| db.clear_sign_in_failures(&target)).await? {
        return Err(no_such_account());
    }
    state.audit(&user.0, "user.sign_in_failures_clear", &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn invalid(field: &str, error: impl ToString) -> ApiError {
    ApiError::Invalid(BTreeMap::from([(field.to_string(), capitalised(&error))]))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    current: String,
    new: String,
}

#[utoipa::path(
    put,
    path = "/me/password",
    tag = "users",
    responses(
        (status = 204, description = "changed; the account's other tokens and sessions end"),
        (status = 401, description = "no valid token"),
        (status = 422, description = "invalid input: `errors` by field"),
    ),
    security(("bearer" = [])),
)]
async fn change_own_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: ApiUser,
    body: web::Json<ChangePassword>,
) -> Result<HttpResponse, ApiError> {
    let keep = bearer_token(&req).map(|t| token_hash(&t));
    state.change_own_password(&req, &user.0, &body.current, &body.new, keep).await?;
    Ok(HttpResponse::NoContent().finish())
}

impl AppState {
    /// An official's own new password, after the current one is checked like a sign-in
    /// (slowed by failures); every other token and session of the account ends, `keep`
    /// (the caller's) stays.
    pub async fn change_own_password(
        &self,
        req: &HttpRequest,
        user: &User,
        current: &str,
        new: &str,
        keep: Option<String>,
    ) -> Result<(), ApiError> {
        let id = user.id.clone();
        let email = self.survey.db.run(move |db| db.user_email(&id)).await?.ok_or(ApiError::Unauthorized)?;
        match self.sign_in(req, &email, current).await {
            Ok(_) => {}
            Err(ApiError::Unauthorized) => return Err(invalid("current", "Mật khẩu hiện tại không đúng.")),
            Err(other) => return Err(other),
        }
        let email = EmailAddress::parse(&email).map_err(|_| ApiError::Internal)?;
        let password = NewPassword::parse(new, &email).map_err(|e| invalid("new", e))?;
        let hash = hashed(password).await?;
        let id = user.id.clone();
        self.survey.db.run(move |db| db.set_password(&id, &hash, keep.as_deref())).await?;
        self.audit(user, "user.password_change", &user.id).await
    }
}

/// Messages of the credential rules start lower-case (they are also used mid-sentence).
pub(crate) fn capitalised(message: &impl ToString) -> String {
    let message = message.to_string();
    let mut chars = message.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditParams {
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/audit",
    tag = "users",
    params(AuditParams),
    responses(
        (status = 200, description = "`{entries}`: officials' actions, newest first"),
        (status = 403, description = "the role may not"),
    ),
    security(("bearer" = [])),
)]
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
