//! An official changes their own password (the API's rule, behind a CSRF-checked form).

use super::{AppState, redirect, signed_form};
use crate::domain::account::MIN_PASSWORD_LENGTH;
use crate::web::auth::{PageUser, SESSION_COOKIE, token_hash};
use crate::web::error::ApiError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;

pub const PATH: &str = "/quan-ly/mat-khau";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(PATH, web::get().to(page)).route(PATH, web::post().to(change));
}

fn render(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    notice: Option<&str>,
    errors: Vec<String>,
) -> HttpResponse {
    let ctx = context! { title => "Đổi mật khẩu", notice, errors, min_length => MIN_PASSWORD_LENGTH };
    state.page(req, status, "password.html", ctx)
}

async fn page(state: web::Data<AppState>, req: HttpRequest, user: Option<PageUser>) -> HttpResponse {
    if user.is_none() {
        return redirect("/dang-nhap");
    }
    let done = req.query_string().contains("ok=1");
    render(&state, &req, StatusCode::OK, done.then_some("Đã đổi mật khẩu."), Vec::new())
}

async fn change(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
    user: Option<PageUser>,
) -> HttpResponse {
    let (user, fields) = match signed_form(&req, &body, user).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let first = |k: &str| fields.get(k).and_then(|v| v.first()).cloned().unwrap_or_default();
    let keep = req.cookie(SESSION_COOKIE).map(|c| token_hash(c.value()));
    match state.change_own_password(&req, &user, &first("current"), &first("new"), keep).await {
        Ok(()) => redirect(&format!("{PATH}?ok=1")),
        Err(ApiError::Invalid(errors)) => {
            render(&state, &req, StatusCode::UNPROCESSABLE_ENTITY, None, errors.into_values().collect())
        }
        Err(error) => super::refused(&state, &req, &error),
    }
}
