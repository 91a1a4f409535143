//! Text people type, checked where it enters. Control characters (NUL above all, which
//! PostgreSQL cannot store and SQLite can) are refused in names and free text, so both
//! backends answer alike; list cells, which nobody can retype, have them removed instead.

use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("không được để trống")]
    Empty,
    #[error("không được chứa ký tự điều khiển (như ký tự NUL)")]
    ControlCharacter,
}

impl TextError {
    /// The message for a named field: "Tên đợt khảo sát không được để trống."
    pub fn about(self, field: &str) -> String {
        format!("{field} {self}.")
    }
}

/// A one-line name (of a wave, agency, locality): trimmed, NFC, not empty, and without
/// control characters, line breaks included.
pub fn name(raw: &str) -> Result<String, TextError> {
    let name: String = raw.trim().nfc().collect();
    if name.is_empty() {
        Err(TextError::Empty)
    } else if name.chars().any(char::is_control) {
        Err(TextError::ControlCharacter)
    } else {
        Ok(name)
    }
}

/// Free text (an answer, a template): line breaks and tabs are allowed, other control
/// characters are not.
pub fn free_text(text: &str) -> Result<(), TextError> {
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        Err(TextError::ControlCharacter)
    } else {
        Ok(())
    }
}

/// A cell of a file as it is read: control characters other than whitespace removed.
pub fn without_controls(raw: &str) -> std::borrow::Cow<'_, str> {
    if raw.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        raw.chars().filter(|c| !c.is_control() || c.is_whitespace()).collect::<String>().into()
    } else {
        raw.into()
    }
}

/// `text` in NFC. Most text already is, and is then only checked, which costs a fraction
/// of decomposing and recomposing it.
pub fn nfc(text: &str) -> String {
    use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};
    match is_nfc_quick(text.chars()) {
        IsNormalized::Yes => text.to_string(),
        IsNormalized::No | IsNormalized::Maybe => text.nfc().collect(),
    }
}

/// A count as Vietnamese writes it: 1.234.567.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfc_composes_what_is_decomposed_and_keeps_what_is_composed() {
        // "Nguyễn" with its marks as separate code points (e + circumflex + tilde).
        assert_eq!(nfc("Nguye\u{302}\u{303}n"), "Nguyễn");
        // The circumflex that may combine with a following mark: quick check says "maybe".
        assert_eq!(nfc("Nguyê\u{303}n"), "Nguyễn");
        assert_eq!(nfc("Nguyễn Văn An"), "Nguyễn Văn An");
        assert_eq!(nfc("plain ascii"), "plain ascii");
    }

    #[test]
    fn names_are_trimmed_and_refuse_control_characters() {
        assert_eq!(name("  Đợt một "), Ok("Đợt một".to_string()));
        assert_eq!(name("  "), Err(TextError::Empty));
        assert_eq!(name("Đợt\u{0}một"), Err(TextError::ControlCharacter));
        assert_eq!(name("Đợt\nmột"), Err(TextError::ControlCharacter));
        assert_eq!(TextError::Empty.about("Tên cơ quan"), "Tên cơ quan không được để trống.");
    }

    #[test]
    fn free_text_keeps_line_breaks_but_not_nul() {
        assert_eq!(free_text("dòng một\ndòng hai\tcột"), Ok(()));
        assert_eq!(free_text("ý kiến\u{0}"), Err(TextError::ControlCharacter));
        assert_eq!(free_text("\u{1b}[31m"), Err(TextError::ControlCharacter));
    }

    #[test]
    fn counts_are_grouped_with_dots() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1.000");
        assert_eq!(thousands(1_234_567), "1.234.567");
        assert_eq!(thousands(-12_345), "-12.345");
    }

    #[test]
    fn cells_lose_their_control_characters() {
        assert_eq!(without_controls("Nguyễn\u{0} Văn\u{7} An"), "Nguyễn Văn An");
        assert_eq!(without_controls("Thôn\tĐông"), "Thôn\tĐông");
    }
}
