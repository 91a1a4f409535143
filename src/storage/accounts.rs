//! Officials' accounts and their sign-in tokens (stored only as SHA-256 hashes).

use super::schema::{auth_tokens, users};
use super::{Database, StorageResult, with_conn};
use crate::domain::account::Role;
use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub role: Role,
    pub agency_code: Option<String>,
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub agency_code: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Api,
    Session,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Api => "api",
            TokenKind::Session => "session",
        }
    }
}

fn to_user((id, role, agency_code): (String, String, Option<String>)) -> StorageResult<User> {
    let role = Role::parse(&role).ok_or_else(|| super::StorageError::Corrupt(format!("unknown role {role}")))?;
    Ok(User { id, role, agency_code })
}

impl Database {
    /// (id, email) of every account with `role`, by email.
    pub fn accounts_with_role(&self, role: Role) -> StorageResult<Vec<(String, String)>> {
        Ok(with_conn!(self, c => users::table
            .filter(users::role.eq(role.as_str()))
            .order(users::email)
            .select((users::id, users::email))
            .load(c)?))
    }

    /// (id, email) of the accounts among `ids` (to name who did what).
    pub fn account_emails(&self, ids: &[String]) -> StorageResult<Vec<(String, String)>> {
        Ok(with_conn!(self, c => users::table
            .filter(users::id.eq_any(ids))
            .select((users::id, users::email))
            .load(c)?))
    }

    pub fn count_users(&self) -> StorageResult<i64> {
        Ok(with_conn!(self, c => users::table.count().get_result(c)?))
    }

    /// `None` when the email is taken, including by a concurrent insert (the unique index
    /// decides, so two instances starting on an empty database cannot both fail).
    pub fn create_user(&self, new: &NewUser) -> StorageResult<Option<String>> {
        use diesel::result::{DatabaseErrorKind, Error};
        let id = uuid::Uuid::new_v4().to_string();
        let now = Utc::now().naive_utc();
        let inserted = with_conn!(self, c => diesel::insert_into(users::table)
            .values((
                users::id.eq(&id),
                users::email.eq(new.email),
                users::password_hash.eq(new.password_hash),
                users::role.eq(new.role.as_str()),
                users::agency_code.eq(new.agency_code),
                users::created_at.eq(now),
            ))
            .execute(c));
        match inserted {
            Ok(_) => Ok(Some(id)),
            Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The user and their password hash, for signing in.
    pub fn user_credentials(&self, email: &str) -> StorageResult<Option<(User, String)>> {
        let row: Option<(String, String, Option<String>, String)> = with_conn!(self, c => users::table
            .filter(users::email.eq(email))
            .select((users::id, users::role, users::agency_code, users::password_hash))
            .first(c)
            .optional()?);
        row.map(|(id, role, agency, hash)| Ok((to_user((id, role, agency))?, hash))).transpose()
    }

    pub fn store_token(
        &self,
        token_hash: &str,
        user_id: &str,
        kind: TokenKind,
        expires_at: NaiveDateTime,
    ) -> StorageResult<()> {
        with_conn!(self, c => diesel::insert_into(auth_tokens::table)
            .values((
                auth_tokens::token_hash.eq(token_hash),
                auth_tokens::user_id.eq(user_id),
                auth_tokens::kind.eq(kind.as_str()),
                auth_tokens::expires_at.eq(expires_at),
            ))
            .execute(c)?);
        Ok(())
    }

    pub fn user_by_token(&self, token_hash: &str, kind: TokenKind) -> StorageResult<Option<User>> {
        let now = Utc::now().naive_utc();
        let row: Option<(String, String, Option<String>)> = with_conn!(self, c => auth_tokens::table
            .inner_join(users::table.on(users::id.eq(auth_tokens::user_id)))
            .filter(auth_tokens::token_hash.eq(token_hash))
            .filter(auth_tokens::kind.eq(kind.as_str()))
            .filter(auth_tokens::expires_at.gt(now))
            .select((users::id, users::role, users::agency_code))
            .first(c)
            .optional()?);
        row.map(to_user).transpose()
    }

    pub fn revoke_token(&self, token_hash: &str) -> StorageResult<()> {
        with_conn!(self, c => diesel::delete(auth_tokens::table.find(token_hash)).execute(c)?);
        Ok(())
    }

    pub fn delete_expired_tokens(&self) -> StorageResult<usize> {
        let now = Utc::now().naive_utc();
        Ok(
            with_conn!(self, c => diesel::delete(auth_tokens::table.filter(auth_tokens::expires_at.le(now))).execute(c)?),
        )
    }
}
