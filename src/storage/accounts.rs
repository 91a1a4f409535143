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

/// Not `Debug`: it holds an email.
#[derive(serde::Serialize)]
pub struct AccountSummary {
    pub id: String,
    pub email: String,
    pub role: String,
    pub agency_code: Option<String>,
    pub disabled: bool,
    pub failed_sign_ins: i32,
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

    /// Every account for administrators: id, email, role, agency, disabled, failed sign-ins.
    pub fn list_users(&self) -> StorageResult<Vec<AccountSummary>> {
        type Row = (String, String, String, Option<String>, Option<NaiveDateTime>, i32);
        let rows: Vec<Row> = with_conn!(self, c => users::table
                .order(users::email)
                .select((users::id, users::email, users::role, users::agency_code, users::disabled_at, users::failed_sign_ins))
                .load(c)?);
        Ok(rows
            .into_iter()
            .map(|(id, email, role, agency_code, disabled_at, failed_sign_ins)| AccountSummary {
                id,
                email,
                role,
                agency_code,
                disabled: disabled_at.is_some(),
                failed_sign_ins,
            })
            .collect())
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

    /// Counts a sign-in to an enabled account as failed before its password is checked, so
    /// concurrent guesses see each other (a success clears the count). A count whose last
    /// failure is before `expired_before` starts again, like the in-memory count of an unknown
    /// email. The account, its password hash and its failures including this one; None when
    /// there is no such enabled account.
    pub fn begin_sign_in(
        &self,
        email: &str,
        expired_before: NaiveDateTime,
    ) -> StorageResult<Option<(User, String, u32)>> {
        let now = Utc::now().naive_utc();
        let enabled = || users::table.filter(users::email.eq(email)).filter(users::disabled_at.is_null());
        // Two idempotent steps rather than a read and a write: concurrent sign-ins cannot lose a count.
        with_conn!(self, c => diesel::update(enabled().filter(
            users::last_failed_sign_in_at.lt(expired_before).or(users::last_failed_sign_in_at.is_null()),
        ))
            .set(users::failed_sign_ins.eq(0))
            .execute(c)?);
        with_conn!(self, c => diesel::update(enabled())
            .set((users::failed_sign_ins.eq(users::failed_sign_ins + 1), users::last_failed_sign_in_at.eq(now)))
            .execute(c)?);
        let row: Option<(String, String, Option<String>, String, i32)> = with_conn!(self, c => enabled()
            .select((users::id, users::role, users::agency_code, users::password_hash, users::failed_sign_ins))
            .first(c)
            .optional()?);
        row.map(|(id, role, agency, hash, failures)| Ok((to_user((id, role, agency))?, hash, failures.max(0) as u32)))
            .transpose()
    }

    pub fn user_email(&self, user_id: &str) -> StorageResult<Option<String>> {
        Ok(with_conn!(self, c => users::table.find(user_id).select(users::email).first(c).optional()?))
    }

    /// False when there is no such account.
    pub fn clear_sign_in_failures(&self, user_id: &str) -> StorageResult<bool> {
        Ok(with_conn!(self, c => diesel::update(users::table.find(user_id))
            .set(users::failed_sign_ins.eq(0))
            .execute(c)?)
            > 0)
    }

    /// Disables (ending every token and session at once) or re-enables an account; false
    /// when there is no such account.
    pub fn set_disabled(&self, user_id: &str, disabled: bool) -> StorageResult<bool> {
        let at = disabled.then(|| Utc::now().naive_utc());
        Ok(with_conn!(self, c => c.transaction(|c| {
            let found = diesel::update(users::table.find(user_id)).set(users::disabled_at.eq(at)).execute(c)? > 0;
            if disabled {
                diesel::delete(auth_tokens::table.filter(auth_tokens::user_id.eq(user_id))).execute(c)?;
            }
            Ok::<_, diesel::result::Error>(found)
        })?))
    }

    /// A new password: the failed sign-ins are forgotten and every token of the account ends,
    /// except `keep` (the session or token that changed its own password). False when there
    /// is no such account.
    pub fn set_password(&self, user_id: &str, password_hash: &str, keep: Option<&str>) -> StorageResult<bool> {
        let keep = keep.unwrap_or("").to_string();
        Ok(with_conn!(self, c => c.transaction(|c| {
            let found = diesel::update(users::table.find(user_id))
                .set((users::password_hash.eq(password_hash), users::failed_sign_ins.eq(0)))
                .execute(c)?
                > 0;
            diesel::delete(
                auth_tokens::table.filter(auth_tokens::user_id.eq(user_id)).filter(auth_tokens::token_hash.ne(&keep)),
            )
            .execute(c)?;
            Ok::<_, diesel::result::Error>(found)
        })?))
    }

    /// The id of the account with `email`, disabled or not.
    pub fn user_id_by_email(&self, email: &str) -> StorageResult<Option<String>> {
        Ok(with_conn!(self, c => users::table.filter(users::email.eq(email)).select(users::id).first(c).optional()?))
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
            // Checked on every request: a disabled account's tokens stop working at once.
            .filter(users::disabled_at.is_null())
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
