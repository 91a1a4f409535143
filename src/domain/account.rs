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
    #[error("mật khẩu không được chứa phần tên trong địa chỉ email")]
    PasswordContainsEmail,
    #[error("mật khẩu quá dễ đoán, vui lòng chọn mật khẩu khác")]
    PasswordTooCommon,
    #[error("mật khẩu không được chứa ký tự điều khiển")]
    PasswordControlCharacter,
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
    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map_or(&self.0, |(local, _)| local)
    }
}

/// Emails of officials are personal data: keep them out of debug output and logs.
impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailAddress(***)")
    }
}

pub const MIN_PASSWORD_LENGTH: usize = 12;

/// Passwords long enough to pass the length rule that guessers try first.
const COMMON_PASSWORDS: [&str; 16] = [
    "123456789012",
    "1234567890123",
    "12345678910111",
    "123456123456",
    "qwertyuiop123",
    "qwertyuiopasdf",
    "password1234",
    "passwordpassword",
    "matkhau123456",
    "matkhaumoi123",
    "abc123456789",
    "administrator",
    "admin1234567",
    "iloveyou1234",
    "vietnam123456",
    "khongbiet123",
];

/// An official's new password, checked against the account's email: long enough, not built
/// on the email's local part, not a common password, not a single repeated character.
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(input: &str, email: &EmailAddress) -> Result<Self, CredentialError> {
        if input.chars().any(char::is_control) {
            return Err(CredentialError::PasswordControlCharacter);
        }
        if input.chars().count() < MIN_PASSWORD_LENGTH {
            return Err(CredentialError::PasswordTooShort(MIN_PASSWORD_LENGTH));
        }
        let lower = input.to_lowercase();
        let local = email.local_part();
        // A one- or two-letter local part would forbid half the alphabet.
        if local.chars().count() >= 3 && lower.contains(local) {
            return Err(CredentialError::PasswordContainsEmail);
        }
        let mut chars = lower.chars();
        let first = chars.next();
        if COMMON_PASSWORDS.contains(&lower.as_str()) || chars.all(|c| Some(c) == first) {
            return Err(CredentialError::PasswordTooCommon);
        }
        Ok(Self(input.to_string()))
    }

    /// 24 random hexadecimal characters that pass the rules for `email`.
    pub fn generate(email: &EmailAddress) -> Self {
        use rand::RngCore;
        loop {
            let mut bytes = [0u8; 12];
            rand::thread_rng().fill_bytes(&mut bytes);
            if let Ok(password) = Self::parse(&hex::encode(bytes), email) {
                return password;
            }
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// How sign-in slows guessing down: the first `free` failures cost nothing; after them each
/// attempt waits `base`, doubled per further failure, at most `max`. The failures are the
/// larger of the account's (since its last success) and the client network's (in the
/// window), so the right password always gets in after at most `max`.
#[derive(Debug, Clone, Copy)]
pub struct SignInDelays {
    pub free: u32,
    pub base: std::time::Duration,
    pub max: std::time::Duration,
}

impl SignInDelays {
    pub fn delay(&self, failures: u32) -> std::time::Duration {
        match failures.checked_sub(self.free) {
            None => std::time::Duration::ZERO,
            Some(extra) => self.base.saturating_mul(2u32.saturating_pow(extra.min(31))).min(self.max),
        }
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
    fn weak_passwords_are_refused() {
        let email = EmailAddress::parse("nguyenvanan@noivu.gov.vn").unwrap();
        assert_eq!(
            NewPassword::parse("ngắn-quá", &email).err(),
            Some(CredentialError::PasswordTooShort(MIN_PASSWORD_LENGTH))
        );
        assert_eq!(NewPassword::parse("NguyenVanAn-2026", &email).err(), Some(CredentialError::PasswordContainsEmail));
        assert_eq!(NewPassword::parse("Password1234", &email).err(), Some(CredentialError::PasswordTooCommon));
        assert_eq!(NewPassword::parse("aaaaaaaaaaaaaa", &email).err(), Some(CredentialError::PasswordTooCommon));
        assert_eq!(
            NewPassword::parse("đủ-dài\u{0}rồi-nhé", &email).err(),
            Some(CredentialError::PasswordControlCharacter)
        );
        assert!(NewPassword::parse("đủ-dài-rồi-nhé", &email).is_ok());
        let short_local = EmailAddress::parse("an@noivu.gov.vn").unwrap();
        assert!(NewPassword::parse("an-toàn-thật-sự", &short_local).is_ok(), "a two-letter local part is ignored");
        assert!(NewPassword::parse(NewPassword::generate(&email).expose(), &email).is_ok());
    }

    #[test]
    fn sign_in_delays_grow_exponentially_up_to_the_cap() {
        use std::time::Duration;
        let delays = SignInDelays { free: 3, base: Duration::from_secs(1), max: Duration::from_secs(10) };
        let secs: Vec<u64> = (0..10).map(|f| delays.delay(f).as_secs()).collect();
        assert_eq!(secs, [0, 0, 0, 1, 2, 4, 8, 10, 10, 10]);
        assert_eq!(delays.delay(u32::MAX), Duration::from_secs(10), "no overflow");
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
