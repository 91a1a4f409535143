//! Invitation codes a person can type from a printed letter.
//!
//! 12 Crockford base32 symbols (60 random bits) followed by Crockford's mod-37 check
//! symbol. Because 37 is prime and larger than the alphabet, the check catches every
//! single-symbol substitution and every swap of two neighbouring symbols.

use rand::Rng;
use std::fmt;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Check symbols: the data alphabet plus five extra symbols for values 32..=36.
const CHECK_ALPHABET: &[u8; 37] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U";
pub const DATA_SYMBOLS: usize = 12;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct InvitationCode {
    /// Canonical form: 12 data symbols and the check symbol, no separators.
    canonical: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("Mã phải có {expected} ký tự (không tính dấu gạch), bạn đã nhập {found}.")]
    WrongLength { expected: usize, found: usize },
    #[error("Ký tự “{0}” không có trong mã.")]
    InvalidSymbol(char),
    #[error("Mã không đúng: có thể bạn đã gõ nhầm một ký tự. Vui lòng kiểm tra lại.")]
    CheckFailed,
}

impl InvitationCode {
    pub fn generate() -> Self {
        let mut rng = rand::thread_rng();
        let value: u64 = rng.r#gen::<u64>() >> 4; // 60 bits
        Self::from_value(value)
    }

    fn from_value(value: u64) -> Self {
        let mut canonical = String::with_capacity(DATA_SYMBOLS + 1);
        for position in (0..DATA_SYMBOLS).rev() {
            let digit = (value >> (position * 5)) & 0x1f;
            canonical.push(ALPHABET[digit as usize] as char);
        }
        canonical.push(CHECK_ALPHABET[(value % 37) as usize] as char);
        Self { canonical }
    }

    /// Accepts what people type: any case, spaces and dashes, I/L for 1 and O for 0.
    pub fn parse(input: &str) -> Result<Self, CodeError> {
        let symbols: Vec<char> = input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-' && *c != '–')
            .map(|c| c.to_ascii_uppercase())
            .map(|c| match c {
                'I' | 'L' => '1',
                'O' => '0',
                other => other,
            })
            .collect();
        if symbols.len() != DATA_SYMBOLS + 1 {
            return Err(CodeError::WrongLength { expected: DATA_SYMBOLS + 1, found: symbols.len() });
        }
        let mut value: u64 = 0;
        for &symbol in &symbols[..DATA_SYMBOLS] {
            value = (value << 5) | data_value(symbol)? as u64;
        }
        let check = symbols[DATA_SYMBOLS];
        let check_value =
            CHECK_ALPHABET.iter().position(|&s| s as char == check).ok_or(CodeError::InvalidSymbol(check))?;
        if value % 37 != check_value as u64 {
            return Err(CodeError::CheckFailed);
        }
        Ok(Self::from_value(value))
    }

    /// The form stored in links and hashed for lookup.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// `K7QM-3XD9-PT2A-Q`: groups of four for reading aloud and typing from paper.
    pub fn grouped(&self) -> String {
        let mut out = String::with_capacity(self.canonical.len() + 3);
        for (i, c) in self.canonical.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push('-');
            }
            out.push(c);
        }
        out
    }

    /// The questionnaire's address under the service's public `base_url`.
    pub fn url(&self, base_url: &str) -> String {
        format!("{base_url}/s/{}", self.canonical)
    }
}

fn data_value(symbol: char) -> Result<u8, CodeError> {
    ALPHABET.iter().position(|&s| s as char == symbol).map(|p| p as u8).ok_or(CodeError::InvalidSymbol(symbol))
}

/// Never print a code by accident: logs and panics show only that it exists.
impl fmt::Debug for InvitationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvitationCode(***)")
    }
}

/// Keyed hash of a code: the database holds only this, so a copy of it does not reveal
/// the codes, and without the key the hashes cannot be checked against guesses.
#[derive(Clone)]
pub struct CodeHasher {
    key: Vec<u8>,
}

impl CodeHasher {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    pub fn hash(&self, code: &InvitationCode) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(code.as_str().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Keyed hash of some other text to be stored without showing it (a rate-limit key
    /// holding an address), apart from code hashes by `context`: 128 bits, in hex.
    pub fn hash_text(&self, context: &str, text: &str) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(context.as_bytes());
        mac.update(b"\0");
        mac.update(text.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_code_is_grouped_in_fours_with_check_symbol_last() {
        let code = InvitationCode::generate();
        let grouped = code.grouped();
        assert_eq!(grouped.len(), 16);
        assert_eq!(grouped.matches('-').count(), 3);
        assert_eq!(InvitationCode::parse(&grouped).unwrap(), code);
    }

    #[test]
    fn parsing_tolerates_case_spaces_dashes_and_look_alike_letters() {
        let code = InvitationCode::from_value(0x0123_4567_89ab_cdef >> 4);
        let typed = code.as_str().to_lowercase().replace('1', "l").replace('0', "O");
        let spaced: String = typed.chars().flat_map(|c| [c, ' ']).collect::<String>().replacen(' ', " - ", 2);
        assert_eq!(InvitationCode::parse(&spaced).unwrap(), code);
    }

    #[test]
    fn hash_depends_on_the_key_and_not_on_how_the_code_was_typed() {
        let code = InvitationCode::generate();
        let typed = InvitationCode::parse(&code.grouped().to_lowercase()).unwrap();
        let a = CodeHasher::new(b"key one");
        assert_eq!(a.hash(&code), a.hash(&typed));
        assert_ne!(a.hash(&code), CodeHasher::new(b"key two").hash(&code));
        assert!(!a.hash(&code).contains(code.as_str()));
    }

    #[test]
    fn wrong_length_is_reported_with_counts() {
        assert_eq!(InvitationCode::parse("ABC"), Err(CodeError::WrongLength { expected: 13, found: 3 }));
    }

    #[test]
    fn symbol_outside_the_alphabet_is_named() {
        assert_eq!(InvitationCode::parse("K7QM3XD9PT2U0"), Err(CodeError::InvalidSymbol('U')));
    }

    /// The 60-bit value a code carries, read back from its data symbols.
    fn value_of(code: &InvitationCode) -> u64 {
        code.as_str()[..DATA_SYMBOLS].chars().fold(0, |v, c| (v << 5) | data_value(c).unwrap() as u64)
    }

    #[test]
    fn codes_carry_sixty_random_bits() {
        // Over 2,000 codes every one of the 60 bit positions is seen both set and clear;
        // a generator with fewer random bits would leave some position constant.
        let values: Vec<u64> = (0..2_000).map(|_| value_of(&InvitationCode::generate())).collect();
        for bit in 0..60 {
            let ones = values.iter().filter(|v| *v >> bit & 1 == 1).count();
            assert!((800..1200).contains(&ones), "bit {bit} set in {ones} of 2000");
        }
        assert!(values.iter().all(|v| *v < 1 << 60));
    }

    fn substitute(code: &str, position: usize, symbol: char) -> String {
        code.chars().enumerate().map(|(i, c)| if i == position { symbol } else { c }).collect()
    }

    proptest! {
        #[test]
        fn every_single_symbol_typo_is_caught(value in 0u64..(1 << 60), position in 0usize..13, replacement in 0usize..37) {
            let code = InvitationCode::from_value(value);
            let original = code.as_str().chars().nth(position).unwrap();
            let symbol = CHECK_ALPHABET[replacement] as char;
            prop_assume!(symbol != original);
            let typo = substitute(code.as_str(), position, symbol);
            prop_assert!(InvitationCode::parse(&typo).is_err(), "{typo} accepted");
        }

        #[test]
        fn every_swap_of_two_neighbours_is_caught(value in 0u64..(1 << 60), position in 0usize..12) {
            let code = InvitationCode::from_value(value);
            let mut symbols: Vec<char> = code.as_str().chars().collect();
            prop_assume!(symbols[position] != symbols[position + 1]);
            symbols.swap(position, position + 1);
            let swapped: String = symbols.into_iter().collect();
            prop_assert!(InvitationCode::parse(&swapped).is_err(), "{swapped} accepted");
        }
    }
}
