//! Officials' accounts: roles and the credentials they sign in with.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Nội vụ: localities, agencies, waves, accounts.
    Administrator,
    /// Works for one agency: its invitations and its results only.
    AgencyOfficer,
    /// Types in paper forms.
    Enumerator,
    /// Reads results.
    Analyst,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Administrator, Role::AgencyOfficer, Role::Enumerator, Role::Analyst];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::AgencyOfficer => "agency_officer",
            Role::Enumerator => "enumerator",
            Role::Analyst => "analyst",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
    pub fn label(self) -> &'static str {
        match self {
            Role::Administrator => "Quản trị (Nội vụ)",
            Role::AgencyOfficer => "Cán bộ cơ quan",
            Role::Enumerator => "Điều tra viên",
            Role::Analyst => "Phân tích kết quả",
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("địa chỉ email không hợp lệ")]
    InvalidEmail,
    #[error("mật khẩu phải có ít nhất {0} ký tự")]
    PasswordTooShort(usize),
}

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, CredentialError> {
        let email = input.trim().to_lowercase();
        let (local, domain) = email.split_once('@').ok_or(CredentialError::InvalidEmail)?;
        let valid = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && email.len() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && !domain.contains('@');
        if valid { Ok(Self(email)) } else { Err(CredentialError::InvalidEmail) }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Emails of officials are personal data: keep them out of debug output and logs.
impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailAddress(***)")
    }
}

pub const MIN_PASSWORD_LENGTH: usize = 10;

pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(input: &str) -> Result<Self, CredentialError> {
        if input.chars().count() < MIN_PASSWORD_LENGTH {
            return Err(CredentialError::PasswordTooShort(MIN_PASSWORD_LENGTH));
        }
        Ok(Self(input.to_string()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_lowercased_and_checked() {
        assert_eq!(EmailAddress::parse(" Can.Bo@NoiVu.gov.vn ").unwrap().as_str(), "can.bo@noivu.gov.vn");
        for bad in ["", "no-at", "a@b", "a@.vn", "a b@c.vn", "a@b@c.vn"] {
            assert_eq!(EmailAddress::parse(bad), Err(CredentialError::InvalidEmail), "{bad}");
        }
    }

    #[test]
    fn short_password_is_refused() {
        assert!(NewPassword::parse("ngắn").is_err());
        assert!(NewPassword::parse("đủ-dài-rồi-nhé").is_ok());
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
