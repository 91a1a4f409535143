use crate::domain::account::EmailAddress;
use crate::storage::accounts::TokenKind;
use crate::web::AppState;
use crate::web::auth::{new_token, verify_password};
use crate::web::error::ApiError;
use crate::web::ratelimit::client_network;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/token", web::post().to(issue_token));
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

async fn issue_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, ApiError> {
    let user = state.sign_in(&req, &body.email, &body.password).await?;
    let (token, expires) = state.issue_token(&user, TokenKind::Api).await?;
    Ok(HttpResponse::Ok().json(json!({"token": token, "expires_at": expires.and_utc().to_rfc3339()})))
}

static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| crate::web::auth::hash_password("no account has this password"));

impl AppState {
    /// A new sign-in token of `kind` for `user`, stored hashed; returned with its expiry.
    pub async fn issue_token(
        &self,
        user: &crate::storage::accounts::User,
        kind: TokenKind,
    ) -> Result<(String, chrono::NaiveDateTime), ApiError> {
        let (token, hash) = new_token();
        let expires = chrono::Utc::now().naive_utc() + self.settings.token_ttl;
        let user_id = user.id.clone();
        self.survey.db.run(move |db| db.store_token(&hash, &user_id, kind, expires)).await?;
        Ok((token, expires))
    }

    /// Checks credentials with a per-network limit on attempts; the same message for an
    /// unknown email and a wrong password, so accounts cannot be enumerated.
    pub async fn sign_in(
        &self,
        req: &HttpRequest,
        email: &str,
        password: &str,
    ) -> Result<crate::storage::accounts::User, ApiError> {
        let key = format!("login:{}", client_network(req, self.settings.trust_proxy));
        if !self.limiter.hit(&key, self.settings.rate_logins_per_prefix) {
            return Err(ApiError::TooManyRequests);
        }
        let refused = || ApiError::Unauthorized;
        let email = EmailAddress::parse(email).map_err(|_| refused())?;
        let found = self.survey.db.run(move |db| db.user_credentials(email.as_str())).await?;
        let password = password.to_string();
        // An unknown email costs the same Argon2 work as a wrong password.
        let valid = tokio::task::spawn_blocking(move || match found {
            Some((user, hash)) => verify_password(&password, &hash).then_some(user),
            None => {
                verify_password(&password, &DUMMY_HASH);
                None
            }
        })
        .await
        .map_err(|_| ApiError::Internal)?;
        valid.ok_or_else(refused)
    }
}
