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

#[derive(Deserialize, utoipa::ToSchema)]
struct Credentials {
    email: String,
    password: String,
}

#[utoipa::path(
    post,
    path = "/auth/token",
    tag = "auth",
    responses(
        (status = 200, description = "`{token, expires_at}`"),
        (status = 401, description = "wrong email or password (the same answer for every cause)"),
        (status = 429, description = "too many sign-ins in progress from this network; see Retry-After"),
    ),
)]
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
        let delays = self.settings.sign_in_delays;
        let network = client_network(req, self.settings.trust_proxy);
        let email = EmailAddress::parse(email).map_err(|_| ApiError::Unauthorized)?;
        // Every sign-in holds one of its network's few places until it is answered, so a
        // network has a bounded number in flight however many it sends at once.
        let _place = self
            .sign_in_waiting
            .enter(&network, self.settings.sign_in_waiting_per_prefix)
            .ok_or(ApiError::RetryLater(delays.max.as_secs().max(1)))?;
        // Each attempt counts as a failure before its password is checked (a success takes it
        // back), so concurrent guesses see each other; the counts include this attempt.
        let network_key = format!("sign-in-failures:{network}");
        let network_failures = self.limiter.add(&network_key, false);
        let expired_before = chrono::Utc::now().naive_utc()
            - chrono::Duration::from_std(self.settings.rate_window).unwrap_or(chrono::Duration::MAX);
        let address = email.as_str().to_string();
        let found = self.survey.db.run(move |db| db.begin_sign_in(&address, expired_before)).await?;
        let account_failures = match &found {
            Some((_, _, failures)) => *failures,
            // An unknown email counts in memory and expires like an account's count: a
            // window after its last failure, so delays do not tell which emails exist.
            None => self.limiter.add(&format!("sign-in-email:{}", email.as_str()), true),
        };
        let earlier_failures = account_failures.max(network_failures).saturating_sub(1);
        actix_web::rt::time::sleep(delays.delay(earlier_failures)).await;
        // Argon2 takes about 19 MiB: a bounded number run at once, the others wait their turn.
        let _verifying = self.sign_in_verifications.acquire().await.map_err(|_| ApiError::Internal)?;
        let password = password.to_string();
        // An unknown email costs the same Argon2 work as a wrong password.
        let valid = tokio::task::spawn_blocking(move || match found {
            Some((user, hash, _)) => verify_password(&password, &hash).then_some(user),
            None => {
                verify_password(&password, &DUMMY_HASH);
                None
            }
        })
        .await
        .map_err(|_| ApiError::Internal)?;
        let user = valid.ok_or(ApiError::Unauthorized)?;
        self.limiter.undo(&network_key);
        let id = user.id.clone();
        self.survey.db.run(move |db| db.clear_sign_in_failures(&id)).await?;
        Ok(user)
    }
}
