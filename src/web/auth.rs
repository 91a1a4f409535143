//! Who is calling: bearer tokens for the API, session cookies for pages, CSRF tokens for
//! forms, and the role checks every handler makes.

use super::AppState;
use super::error::ApiError;
use crate::domain::account::Role;
use crate::storage::accounts::{TokenKind, User};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::Pin;

pub const SESSION_COOKIE: &str = "phieu_session";
pub const CSRF_COOKIE: &str = "phieu_csrf";
pub const CSRF_FIELD: &str = "_csrf";

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 hashing").to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// A fresh random token and the hash under which it is stored.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// An official signed in through the API with a bearer token.
pub struct ApiUser(pub User);

/// An official signed in on the pages with a session cookie.
pub struct PageUser(pub User);

async fn authenticate(state: web::Data<AppState>, token: Option<String>, kind: TokenKind) -> Result<User, ApiError> {
    let token = token.ok_or(ApiError::Unauthorized)?;
    let hash = token_hash(&token);
    state.survey.db.run(move |db| db.user_by_token(&hash, kind)).await?.ok_or(ApiError::Unauthorized)
}

fn state(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>().expect("app state registered").clone()
}

/// The bearer token of an API request.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("Authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
}

impl FromRequest for ApiUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req);
        let state = state(req);
        Box::pin(async move { authenticate(state, token, TokenKind::Api).await.map(ApiUser) })
    }
}

impl FromRequest for PageUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
        let state = state(req);
        Box::pin(async move { authenticate(state, token, TokenKind::Session).await.map(PageUser) })
    }
}

pub fn require(user: &User, allowed: &[Role]) -> Result<(), ApiError> {
    if allowed.contains(&user.role) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("Tài khoản không có quyền thực hiện thao tác này.".into()))
    }
}

/// An agency officer may act only for its own agency.
pub fn require_agency_access(user: &User, agency_code: Option<&str>) -> Result<(), ApiError> {
    match user.role {
        Role::Administrator => Ok(()),
        Role::AgencyOfficer if agency_code.is_some() && agency_code == user.agency_code.as_deref() => Ok(()),
        _ => Err(ApiError::Forbidden("Tài khoản chỉ được thao tác trên dữ liệu của cơ quan mình.".into())),
    }
}

/// The double-submit CSRF token: the cookie's value, or a new one to set.
pub fn csrf_token(req: &HttpRequest) -> String {
    req.cookie(CSRF_COOKIE).map(|c| c.value().to_string()).filter(|v| v.len() == 64).unwrap_or_else(|| new_token().0)
}

pub fn csrf_cookie(token: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(CSRF_COOKIE, token.to_string())
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .finish()
}

/// A form is accepted only if it carries the same token as the cookie.
pub fn csrf_valid(req: &HttpRequest, submitted: Option<&str>) -> bool {
    match (req.cookie(CSRF_COOKIE), submitted) {
        (Some(cookie), Some(field)) => {
            let (a, b) = (cookie.value().as_bytes(), field.as_bytes());
            a.len() == 64 && a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
        }
        _ => false,
    }
}

pub fn session_cookie(token: &str, secure: bool, max_age: std::time::Duration) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.to_string())
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::seconds(max_age.as_secs() as i64))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_verifies_only_the_right_password() {
        let hash = hash_password("mật-khẩu-đúng");
        assert!(hash.starts_with("$argon2"));
        assert!(verify_password("mật-khẩu-đúng", &hash));
        assert!(!verify_password("mật-khẩu-sai", &hash));
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (a, hash_a) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert_eq!(token_hash(&a), hash_a);
        assert_ne!(a, hash_a);
    }
}
