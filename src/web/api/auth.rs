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

    /// Checks credentials, slowed down by earlier failures (see `SignInDelays`): only
    /// failures count, per account and per client network, and they delay the answer rather
    /// than refuse it, so the right password always gets in. The same message for an unknown
    /// email, a disabled account and a wrong password, so accounts cannot be enumerated.
    pub async fn sign_in(
        &self,
        req: &HttpRequest,
        email: &str,
        password: &str,
    ) -> Result<crate::storage::accounts::User, ApiError> {
        let network = client_network(req, self.settings.trust_proxy);
        let network_key = format!("sign-in-failures:{network}");
        let email = EmailAddress::parse(email).map_err(|_| ApiError::Unauthorized)?;
        // Unknown emails keep their count in memory, so their delays grow like an account's.
        let unknown_key = format!("sign-in-email:{}", email.as_str());
        let found = self.survey.db.run(move |db| db.user_credentials(email.as_str())).await?;
        let account_failures = match &found {
            Some((_, _, failures)) => *failures,
            None => self.limiter.count(&unknown_key),
        };
        let delays = self.settings.sign_in_delays;
        let delay = delays.delay(account_failures.max(self.limiter.count(&network_key)));
        let _place = if delay.is_zero() {
            None
        } else {
            let place = self
                .sign_in_waiting
                .enter(&network, self.settings.sign_in_waiting_per_prefix)
                .ok_or(ApiError::RetryLater(delays.max.as_secs().max(1)))?;
            actix_web::rt::time::sleep(delay).await;
            Some(place)
        };
        let password = password.to_string();
        // An unknown email costs the same Argon2 work as a wrong password.
        let (user_id, valid) = tokio::task::spawn_blocking(move || match found {
            Some((user, hash, _)) => (Some(user.id.clone()), verify_password(&password, &hash).then_some(user)),
            None => {
                verify_password(&password, &DUMMY_HASH);
                (None, None)
            }
        })
        .await
        .map_err(|_| ApiError::Internal)?;
        match (valid, user_id) {
            (Some(user), _) => {
                if account_failures > 0 {
                    let id = user.id.clone();
                    self.survey.db.run(move |db| db.clear_sign_in_failures(&id)).await?;
                }
                Ok(user)
            }
            (None, account) => {
                self.limiter.hit(&network_key, u32::MAX);
                match account {
                    Some(id) => self.survey.db.run(move |db| db.record_sign_in_failure(&id)).await?,
                    None => _ = self.limiter.hit(&unknown_key, u32::MAX),
                }
                Err(ApiError::Unauthorized)
            }
        }
    }
}
