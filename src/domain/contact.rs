//! Contact data as agencies' lists give it, parsed into what invitations can use.
//!
//! Phone numbers come in every shape: +84 and 84 prefixes, spaces and dots, a leading zero
//! eaten by Excel, and mobile numbers from before the 2018 switch from 11 to 10 digits.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneKind {
    Mobile,
    Landline,
}

/// A Vietnamese phone number in its current national form (`0912345678`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RespondentPhone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("số điện thoại “{0}” có ký tự không hợp lệ")]
    InvalidCharacters(String),
    #[error("số điện thoại “{0}” không đúng độ dài hoặc đầu số")]
    NotAVietnameseNumber(String),
}

/// Mobile prefixes renumbered in 2018: old 4-digit prefix → new 3-digit prefix.
const OLD_MOBILE_PREFIXES: [(&str, &str); 21] = [
    ("0162", "032"),
    ("0163", "033"),
    ("0164", "034"),
    ("0165", "035"),
    ("0166", "036"),
    ("0167", "037"),
    ("0168", "038"),
    ("0169", "039"),
    ("0120", "070"),
    ("0121", "079"),
    ("0122", "077"),
    ("0126", "076"),
    ("0128", "078"),
    ("0123", "083"),
    ("0124", "084"),
    ("0125", "085"),
    ("0127", "081"),
    ("0129", "082"),
    ("0186", "056"),
    ("0188", "058"),
    ("0199", "059"),
];

impl RespondentPhone {
    pub fn parse(raw: &str) -> Result<Self, PhoneError> {
        let trimmed = raw.trim();
        let mut digits = String::with_capacity(trimmed.len());
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => {}
                ' ' | '.' | '-' | '(' | ')' | '\u{a0}' => {}
                _ => return Err(PhoneError::InvalidCharacters(trimmed.to_string())),
            }
        }
        let national = if let Some(rest) = digits.strip_prefix("0084") {
            format!("0{rest}")
        } else if digits.starts_with("84") && (digits.len() == 11 || digits.len() == 12) {
            format!("0{}", &digits[2..])
        } else if !digits.starts_with('0') && (digits.len() == 9 || digits.len() == 10) {
            // A spreadsheet stored the number as a number and dropped the leading zero.
            format!("0{digits}")
        } else {
            digits
        };
        let national =
            match OLD_MOBILE_PREFIXES.iter().find(|(old, _)| national.len() == 11 && national.starts_with(old)) {
                Some((old, new)) => format!("{new}{}", &national[old.len()..]),
                None => national,
            };
        if Self::kind_of(&national).is_some() {
            Ok(Self(national))
        } else {
            Err(PhoneError::NotAVietnameseNumber(trimmed.to_string()))
        }
    }

    fn kind_of(national: &str) -> Option<PhoneKind> {
        let mobile_prefix = ["03", "05", "07", "08", "09"].iter().any(|p| national.starts_with(p));
        match national.len() {
            10 if mobile_prefix => Some(PhoneKind::Mobile),
            11 if national.starts_with("02") => Some(PhoneKind::Landline),
            _ => None,
        }
    }

    pub fn kind(&self) -> PhoneKind {
        Self::kind_of(&self.0).expect("checked at parse")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The international form without the plus (`84912345678`), as SMS gateways take it.
    pub fn international(&self) -> String {
        format!("84{}", &self.0[1..])
    }
}

/// Personal data: never in debug output or logs.
impl fmt::Debug for RespondentPhone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RespondentPhone(***)")
    }
}

/// A respondent's email address, lower-cased.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RespondentEmail(String);

impl RespondentEmail {
    pub fn parse(raw: &str) -> Option<Self> {
        crate::domain::account::EmailAddress::parse(raw).ok().map(|e| Self(e.as_str().to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RespondentEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RespondentEmail(***)")
    }
}

/// Text from a list cell: NFC, single spaces, trimmed, without control characters (a NUL
/// from a broken export would stop PostgreSQL from storing the whole list).
pub fn clean_text(raw: &str) -> String {
    let text = crate::domain::text::nfc(&crate::domain::text::without_controls(raw));
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// For matching names regardless of diacritics, case and spacing: "Xã Đông Phong" and
/// "xa dong  phong" compare equal.
pub fn folded(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut out = String::with_capacity(text.len());
    for c in text.nfd() {
        match c {
            'đ' | 'Đ' => out.push('d'),
            c if unicode_normalization::char::is_combining_mark(c) => {}
            c => out.extend(c.to_lowercase()),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_in_every_shape_become_ten_digits() {
        for (raw, expected) in [
            ("0912 345 678", "0912345678"),
            ("+84 912.345.678", "0912345678"),
            ("84912345678", "0912345678"),
            ("0084-912-345-678", "0912345678"),
            ("912345678", "0912345678"),
            ("(091) 234-5678", "0912345678"),
            ("01682345678", "0382345678"),
            ("+84 1682345678", "0382345678"),
            ("0128 234 5678", "0782345678"),
            ("0199 234 5678", "0592345678"),
        ] {
            let phone = RespondentPhone::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(phone.as_str(), expected, "{raw}");
            assert_eq!(phone.kind(), PhoneKind::Mobile);
        }
    }

    #[test]
    fn the_international_form_replaces_the_leading_zero_with_84() {
        assert_eq!(RespondentPhone::parse("0912 345 678").unwrap().international(), "84912345678");
        assert_eq!(RespondentPhone::parse("+84 1682345678").unwrap().international(), "84382345678");
    }

    #[test]
    fn landlines_keep_eleven_digits() {
        let phone = RespondentPhone::parse("024 3825 1234").unwrap();
        assert_eq!(phone.as_str(), "02438251234");
        assert_eq!(phone.kind(), PhoneKind::Landline);
    }

    #[test]
    fn wrong_numbers_are_rejected_with_the_reason() {
        assert!(matches!(RespondentPhone::parse("0912 abc"), Err(PhoneError::InvalidCharacters(_))));
        for raw in ["12345", "0112345678", "091234567890", "", "0612345678"] {
            assert!(matches!(RespondentPhone::parse(raw), Err(PhoneError::NotAVietnameseNumber(_))), "{raw}");
        }
    }

    #[test]
    fn phones_and_emails_never_print() {
        let phone = RespondentPhone::parse("0912345678").unwrap();
        assert!(!format!("{phone:?}").contains("0912"));
        let email = RespondentEmail::parse("An.Nguyen@Example.vn").unwrap();
        assert_eq!(email.as_str(), "an.nguyen@example.vn");
        assert!(!format!("{email:?}").contains("nguyen"));
    }

    #[test]
    fn folding_ignores_diacritics_case_and_spacing() {
        assert_eq!(folded("Xã  Đông Phong"), "xa dong phong");
        assert_eq!(folded("PHƯỜNG VŨ NINH"), folded("phuong vu ninh"));
        assert_eq!(clean_text("  Nguye\u{302}\u{303}n   Văn  An "), "Nguyễn Văn An");
    }
}
