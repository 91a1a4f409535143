//! Text typed in legacy Vietnamese encodings (TCVN3/ABC, VNI), detected and converted to NFC Unicode.
//!
//! Agencies still type in 8-bit "font encodings": the bytes are stored as they are and only the font
//! (`.VnTime`, `VNI-Times`) draws them as Vietnamese letters. Read as Unicode, each byte arrives as its
//! Latin-1 character, or as its Windows-1252 character for 0x80–0x9F (Excel), so "Hà Nội" shows up as
//! "Hµ Néi" (TCVN3) or "Haø Noäi" (VNI).
//!
//! The byte tables were cross-checked entry by entry against public converters:
//! - TCVN3: UniKey's VnConv (`unikey/data.cpp`, `SingleByteTables`, e.g. in fcitx/fcitx5-unikey), xvnkb
//!   (`tcvn.h`, lamdao/xvnkb), the TCVN 5712 table of X-TrueType (`TCVNtoUCS2.c`) and glibc's `TCVN5712-1`.
//!   Only what the `.VnTime` fonts (TCVN3, the "VN3" level of TCVN 5712:1993) define is decoded: the lower-case
//!   letters plus the capitals Ă Â Ê Ô Ơ Ư Đ. Capitals with tones live in the separate `.VnTimeH` fonts, which
//!   reuse the lower-case codes, so they cannot be told apart from the bytes; [`convert`] restores capitals
//!   for words (or whole texts) typed in capitals. Like UniKey, 0x80–0x9F are left as Western punctuation.
//! - VNI: UniKey's VnConv (`DoubleByteTables`, VNI-WIN), xvnkb (`vni.h`) and duydev/vietnamese-conversion
//!   (`src/charsets.ts`). A vowel is an ASCII letter followed by one mark character; ơ ư đ and the tones of
//!   i/ỵ are single characters.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::decompose_canonical;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyEncoding {
    Tcvn3,
    Vni,
}

/// Which legacy encoding `text` looks typed in, if any. Must return None for ordinary
/// Unicode Vietnamese ("Nguyễn Văn An", "Hà Nội"), plain ASCII, and ordinary Latin-1 text
/// with a stray accent (e.g. "Café"), and for mixed text where most is proper Unicode.
///
/// The heuristic scores words, not characters, because every legacy character is also an ordinary Latin-1
/// character. A word counts for an encoding when the word itself is *not* a well-formed Vietnamese syllable
/// but its decoding in that encoding *is* one (initial consonant, vowel nucleus, final consonant, at most
/// one tone, on the right vowel, and only sắc/nặng before p/t/c/ch). So "Lª" → "Lê" and "ThÞ" → "Thị" count
/// for TCVN3, "Haø" → "Hà" for VNI, while "Hà", "Gòn" (already well formed) count for nothing and "Café"
/// (well formed in no reading) counts against. The encoding with more such words wins when:
/// - it beats the other encoding (a tie is no answer);
/// - it has more than twice as many words as there are words carrying letters only Unicode has (ă đ ơ ư ĩ ũ,
///   U+1EA0–U+1EF9), so text that is mostly proper Unicode stays as it is;
/// - its words outweigh the words that read as foreign (an ASCII word that is no Vietnamese syllable weighs
///   as much as a legacy word, an accented word that decodes to nothing half as much), so a French sentence
///   is not taken for VNI because its "où" happens to read as VNI "ó".
///
/// A capital right after a small letter ("ThÞ", "NguyÔn") makes a word no Unicode word, whatever its
/// letters. Words of one character ("·", "×") are ignored: they are punctuation more often than the
/// one-letter words "ã" or "ì". A lone ambiguous word ("Tó" is Unicode "tó" or TCVN3 "tú") gives no answer.
pub fn detect(text: &str) -> Option<LegacyEncoding> {
    // Words of ASCII letters count for no encoding, so ASCII text has none.
    if text.is_ascii() {
        return None;
    }
    let text = crate::domain::text::nfc(text);
    let (mut tcvn3, mut vni, mut unicode, mut foreign) = (0usize, 0usize, 0usize, 0usize);
    for (is_word, word) in segments(&text) {
        if !is_word {
            continue;
        }
        if word.chars().any(is_unicode_only_letter) {
            unicode += 1;
        } else if word.is_ascii() {
            if is_foreign_ascii(word) {
                foreign += 2;
            }
        } else if word.chars().nth(1).is_some() && !reads_as_word(word) {
            let as_tcvn3 = reads_as_word(&convert_tcvn3(word));
            let as_vni = reads_as_word(&convert_vni(word));
            tcvn3 += usize::from(as_tcvn3);
            vni += usize::from(as_vni);
            if !as_tcvn3 && !as_vni {
                foreign += 1;
            }
        }
    }
    let (best, encoding) = match tcvn3.cmp(&vni) {
        std::cmp::Ordering::Greater => (tcvn3, LegacyEncoding::Tcvn3),
        std::cmp::Ordering::Less => (vni, LegacyEncoding::Vni),
        std::cmp::Ordering::Equal => return None,
    };
    (best > 2 * unicode && 2 * best > foreign).then_some(encoding)
}

/// Converts text in the given encoding to NFC Unicode; characters outside the table pass through.
///
/// Bytes 0x80–0x9F are accepted both as C1 code points (U+0080–U+009F) and as their Windows-1252
/// characters; the legacy fonts draw them as Windows-1252 punctuation, so a C1 code point comes out as
/// that punctuation (U+0093 → “). For TCVN3, a word typed in capitals ("NGUYÔN", "§µO") or a text with no
/// lower-case ASCII letter at all gets its Vietnamese letters in capitals too, as `.VnTimeH` showed them.
pub fn convert(text: &str, encoding: LegacyEncoding) -> String {
    match encoding {
        LegacyEncoding::Tcvn3 => convert_tcvn3(text),
        LegacyEncoding::Vni => convert_vni(text),
    }
}

/// detect + convert; text that is not legacy comes back NFC-normalised and otherwise unchanged.
pub fn to_unicode(text: &str) -> String {
    match detect(text) {
        Some(encoding) => convert(text, encoding),
        None => crate::domain::text::nfc(text),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Bytes
// ---------------------------------------------------------------------------------------------------------

/// The Windows-1252 characters of bytes 0x80–0x9F; the five bytes it leaves undefined stay C1 code points.
const WINDOWS_1252_HIGH: &str = "€\u{81}‚ƒ„…†‡ˆ‰Š‹Œ\u{8D}Ž\u{8F}\u{90}‘’“”•–—˜™š›œ\u{9D}žŸ";

/// The legacy byte a character stands for: U+0080–U+00FF as themselves, Windows-1252 characters as their byte.
fn legacy_byte(c: char) -> Option<u8> {
    match u8::try_from(c) {
        Ok(byte) => (byte >= 0x80).then_some(byte),
        Err(_) => WINDOWS_1252_HIGH.chars().position(|w| w == c).and_then(|i| u8::try_from(0x80 + i).ok()),
    }
}

/// A character that no table maps: a C1 code point becomes the Windows-1252 character the font drew.
fn western(c: char) -> char {
    match u8::try_from(c) {
        Ok(byte @ 0x80..=0x9F) => WINDOWS_1252_HIGH.chars().nth(usize::from(byte - 0x80)).unwrap_or(c),
        _ => c,
    }
}

// ---------------------------------------------------------------------------------------------------------
// TCVN3
// ---------------------------------------------------------------------------------------------------------

/// TCVN3 (ABC, `.VnTime`): one byte per letter.
fn tcvn3_letter(byte: u8) -> Option<char> {
    Some(match byte {
        0xA1 => 'Ă',
        0xA2 => 'Â',
        0xA3 => 'Ê',
        0xA4 => 'Ô',
        0xA5 => 'Ơ',
        0xA6 => 'Ư',
        0xA7 => 'Đ',
        0xA8 => 'ă',
        0xA9 => 'â',
        0xAA => 'ê',
        0xAB => 'ô',
        0xAC => 'ơ',
        0xAD => 'ư',
        0xAE => 'đ',
        0xB5 => 'à',
        0xB6 => 'ả',
        0xB7 => 'ã',
        0xB8 => 'á',
        0xB9 => 'ạ',
        0xBB => 'ằ',
        0xBC => 'ẳ',
        0xBD => 'ẵ',
        0xBE => 'ắ',
        0xC6 => 'ặ',
        0xC7 => 'ầ',
        0xC8 => 'ẩ',
        0xC9 => 'ẫ',
        0xCA => 'ấ',
        0xCB => 'ậ',
        0xCC => 'è',
        0xCE => 'ẻ',
        0xCF => 'ẽ',
        0xD0 => 'é',
        0xD1 => 'ẹ',
        0xD2 => 'ề',
        0xD3 => 'ể',
        0xD4 => 'ễ',
        0xD5 => 'ế',
        0xD6 => 'ệ',
        0xD7 => 'ì',
        0xD8 => 'ỉ',
        0xDC => 'ĩ',
        0xDD => 'í',
        0xDE => 'ị',
        0xDF => 'ò',
        0xE1 => 'ỏ',
        0xE2 => 'õ',
        0xE3 => 'ó',
        0xE4 => 'ọ',
        0xE5 => 'ồ',
        0xE6 => 'ổ',
        0xE7 => 'ỗ',
        0xE8 => 'ố',
        0xE9 => 'ộ',
        0xEA => 'ờ',
        0xEB => 'ở',
        0xEC => 'ỡ',
        0xED => 'ớ',
        0xEE => 'ợ',
        0xEF => 'ù',
        0xF1 => 'ủ',
        0xF2 => 'ũ',
        0xF3 => 'ú',
        0xF4 => 'ụ',
        0xF5 => 'ừ',
        0xF6 => 'ử',
        0xF7 => 'ữ',
        0xF8 => 'ứ',
        0xF9 => 'ự',
        0xFA => 'ỳ',
        0xFB => 'ỷ',
        0xFC => 'ỹ',
        0xFD => 'ý',
        0xFE => 'ỵ',
        _ => return None,
    })
}

fn tcvn3_char(c: char) -> Option<char> {
    legacy_byte(c).and_then(tcvn3_letter)
}

fn convert_tcvn3(text: &str) -> String {
    let all_capitals = typed_in_capitals(text);
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    for (is_word, segment) in segments(text) {
        let capitals = is_word && (all_capitals || typed_in_capitals(segment));
        for c in segment.chars() {
            match tcvn3_char(c) {
                Some(letter) if capitals => out.extend(letter.to_uppercase()),
                Some(letter) => out.push(letter),
                None => out.push(western(c)),
            }
        }
    }
    out.nfc().collect()
}

/// No lower-case ASCII letter and at least two capitals (ASCII or TCVN3's own): typed with `.VnTimeH`
/// or caps lock, where the toned letters were typed with lower-case codes.
fn typed_in_capitals(text: &str) -> bool {
    let mut capitals = 0;
    for c in text.chars() {
        if c.is_ascii_lowercase() {
            return false;
        }
        if c.is_ascii_uppercase() || tcvn3_char(c).is_some_and(char::is_uppercase) {
            capitals += 1;
        }
    }
    capitals >= 2
}

// ---------------------------------------------------------------------------------------------------------
// VNI
// ---------------------------------------------------------------------------------------------------------

const GRAVE: char = '\u{300}';
const ACUTE: char = '\u{301}';
const CIRCUMFLEX: char = '\u{302}';
const TILDE: char = '\u{303}';
const BREVE: char = '\u{306}';
const HOOK: char = '\u{309}';
const HORN: char = '\u{31B}';
const DOT: char = '\u{323}';

/// A VNI mark byte (lower-case form): the vowel modifier it adds, if any, and the tone, if any.
fn vni_mark(byte: u8) -> Option<(Option<char>, Option<char>)> {
    Some(match byte {
        0xF9 => (None, Some(ACUTE)),
        0xF8 => (None, Some(GRAVE)),
        0xFB => (None, Some(HOOK)),
        0xF5 => (None, Some(TILDE)),
        0xEF => (None, Some(DOT)),
        0xE2 => (Some(CIRCUMFLEX), None),
        0xE1 => (Some(CIRCUMFLEX), Some(ACUTE)),
        0xE0 => (Some(CIRCUMFLEX), Some(GRAVE)),
        0xE5 => (Some(CIRCUMFLEX), Some(HOOK)),
        0xE3 => (Some(CIRCUMFLEX), Some(TILDE)),
        0xE4 => (Some(CIRCUMFLEX), Some(DOT)),
        0xEA => (Some(BREVE), None),
        0xE9 => (Some(BREVE), Some(ACUTE)),
        0xE8 => (Some(BREVE), Some(GRAVE)),
        0xFA => (Some(BREVE), Some(HOOK)),
        0xFC => (Some(BREVE), Some(TILDE)),
        0xEB => (Some(BREVE), Some(DOT)),
        _ => return None,
    })
}

/// A letter that takes a following VNI mark: the ASCII vowel and whether it carries a horn (ơ = ô, ư = ö).
fn vni_base(c: char) -> Option<(char, bool)> {
    match c {
        'a' | 'e' | 'o' | 'u' | 'y' | 'A' | 'E' | 'O' | 'U' | 'Y' => Some((c, false)),
        'ô' => Some(('o', true)),
        'Ô' => Some(('O', true)),
        'ö' => Some(('u', true)),
        'Ö' => Some(('U', true)),
        _ => None,
    }
}

/// VNI letters that are one character on their own.
fn vni_letter(byte: u8) -> Option<char> {
    Some(match byte {
        0xED => 'í',
        0xEC => 'ì',
        0xE6 => 'ỉ',
        0xF3 => 'ĩ',
        0xF2 => 'ị',
        0xEE => 'ỵ',
        0xF1 => 'đ',
        0xCD => 'Í',
        0xCC => 'Ì',
        0xC6 => 'Ỉ',
        0xD3 => 'Ĩ',
        0xD2 => 'Ị',
        0xCE => 'Ỵ',
        0xD1 => 'Đ',
        _ => return None,
    })
}

/// The mark after `base`, if the character is one and fits: circumflex only on a e o, breve only on a.
/// Marks are matched in either case (VNI types capitals' marks in upper case, but Excel's UPPER/PROPER
/// and hand edits mix them); the letter keeps the case of its base.
fn vni_mark_after(base: char, horn: bool, c: char) -> Option<(Option<char>, Option<char>)> {
    let byte = legacy_byte(c)?;
    let lower = if (0xC0..=0xDE).contains(&byte) && byte != 0xD7 { byte + 0x20 } else { byte };
    let (modifier, tone) = vni_mark(lower)?;
    let fits = match modifier {
        None => true,
        Some(CIRCUMFLEX) => !horn && matches!(base.to_ascii_lowercase(), 'a' | 'e' | 'o'),
        Some(_) => !horn && base.eq_ignore_ascii_case(&'a'),
    };
    fits.then_some((modifier, tone))
}

fn convert_vni(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some((base, horn)) = vni_base(c) {
            out.push(base);
            if horn {
                out.push(HORN);
            }
            if let Some((modifier, tone)) = chars.peek().and_then(|&next| vni_mark_after(base, horn, next)) {
                chars.next();
                out.extend(modifier);
                out.extend(tone);
            }
        } else {
            out.push(legacy_byte(c).and_then(vni_letter).unwrap_or_else(|| western(c)));
        }
    }
    out.nfc().collect()
}

// ---------------------------------------------------------------------------------------------------------
// Words and syllables (detection)
// ---------------------------------------------------------------------------------------------------------

/// Splits text into alternating runs of word characters (`true`) and separators (`false`). Every legacy
/// character is in U+0080–U+00FF, so only whitespace, ASCII punctuation and symbols beyond U+00FF separate.
fn segments(text: &str) -> Vec<(bool, &str)> {
    let is_separator = |c: char| {
        c.is_whitespace() || c.is_ascii_punctuation() || c.is_control() || (u32::from(c) > 0xFF && !c.is_alphanumeric())
    };
    let mut out = Vec::new();
    let mut start = 0;
    let mut current = None;
    for (i, c) in text.char_indices() {
        let word = !is_separator(c);
        if let Some(previous) = current
            && previous != word
        {
            out.push((previous, &text[start..i]));
            start = i;
        }
        current = Some(word);
    }
    if let Some(word) = current {
        out.push((word, &text[start..]));
    }
    out
}

/// A Vietnamese syllable in lower, upper or title case: a capital right after a small letter ("ThÞ") is no word.
fn reads_as_word(word: &str) -> bool {
    let mut previous_lower = false;
    for c in word.chars() {
        if previous_lower && c.is_uppercase() {
            return false;
        }
        previous_lower = c.is_lowercase();
    }
    is_syllable(word)
}

/// Letters that only Unicode Vietnamese has: none of them is a Latin-1 character.
fn is_unicode_only_letter(c: char) -> bool {
    matches!(c, 'ă' | 'Ă' | 'đ' | 'Đ' | 'ĩ' | 'Ĩ' | 'ũ' | 'Ũ' | 'ơ' | 'Ơ' | 'ư' | 'Ư' | '\u{1EA0}'..='\u{1EF9}')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coda {
    Never,
    Optional,
    Required,
}

/// Vietnamese vowel nuclei (after the initial; the u of qu and the i of gi belong to the initial), whether
/// a final consonant may or must follow, and where the tone may sit (bit n = n-th vowel). Both the old
/// ("hòa", "thủy") and the new ("hoà", "thuỷ") tone placements are accepted.
const NUCLEI: &[(&str, Coda, u8)] = &[
    ("a", Coda::Optional, 0b1),
    ("e", Coda::Optional, 0b1),
    ("ê", Coda::Optional, 0b1),
    ("i", Coda::Optional, 0b1),
    ("o", Coda::Optional, 0b1),
    ("ô", Coda::Optional, 0b1),
    ("ơ", Coda::Optional, 0b1),
    ("u", Coda::Optional, 0b1),
    ("ư", Coda::Optional, 0b1),
    ("y", Coda::Optional, 0b1),
    ("ă", Coda::Required, 0b1),
    ("â", Coda::Required, 0b1),
    ("ai", Coda::Never, 0b1),
    ("ao", Coda::Never, 0b1),
    ("au", Coda::Never, 0b1),
    ("ay", Coda::Never, 0b1),
    ("âu", Coda::Never, 0b1),
    ("ây", Coda::Never, 0b1),
    ("eo", Coda::Never, 0b1),
    ("êu", Coda::Never, 0b1),
    ("ia", Coda::Never, 0b1),
    ("iu", Coda::Never, 0b1),
    ("oi", Coda::Never, 0b1),
    ("ôi", Coda::Never, 0b1),
    ("ơi", Coda::Never, 0b1),
    ("ua", Coda::Never, 0b1),
    ("ui", Coda::Never, 0b1),
    ("ưa", Coda::Never, 0b1),
    ("ưi", Coda::Never, 0b1),
    ("ưu", Coda::Never, 0b1),
    ("iê", Coda::Required, 0b10),
    ("yê", Coda::Required, 0b10),
    ("uô", Coda::Required, 0b10),
    ("ươ", Coda::Required, 0b10),
    ("uâ", Coda::Required, 0b10),
    ("oă", Coda::Required, 0b10),
    ("oa", Coda::Optional, 0b11),
    ("oe", Coda::Optional, 0b11),
    ("uy", Coda::Optional, 0b11),
    ("uê", Coda::Optional, 0b10),
    ("uơ", Coda::Never, 0b10),
    ("iêu", Coda::Never, 0b10),
    ("yêu", Coda::Never, 0b10),
    ("uôi", Coda::Never, 0b10),
    ("ươi", Coda::Never, 0b10),
    ("ươu", Coda::Never, 0b10),
    ("oai", Coda::Never, 0b10),
    ("oay", Coda::Never, 0b10),
    ("oao", Coda::Never, 0b10),
    ("oeo", Coda::Never, 0b10),
    ("uây", Coda::Never, 0b10),
    ("uya", Coda::Never, 0),
    ("uyu", Coda::Never, 0b10),
    ("uyê", Coda::Required, 0b100),
];

const INITIALS: &[&str] = &[
    "", "b", "c", "ch", "d", "đ", "g", "gh", "gi", "h", "k", "kh", "l", "m", "n", "ng", "ngh", "nh", "p", "ph", "qu",
    "r", "s", "t", "th", "tr", "v", "x",
];

/// Final consonants; k only in place names of the Central Highlands ("Đắk Lắk").
const FINALS: &[&str] = &["", "c", "ch", "k", "m", "n", "ng", "nh", "p", "t"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    Level,
    Marked,
    /// Sắc or nặng: the only tones allowed before p, t, c, ch.
    Checked,
}

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'ă' | 'â' | 'e' | 'ê' | 'i' | 'o' | 'ô' | 'ơ' | 'u' | 'ư' | 'y')
}

/// A character as a lower-case Vietnamese letter (ă â ê ô ơ ư đ or ASCII) and its tone.
fn letter_and_tone(c: char) -> Option<(char, Tone)> {
    let mut base = None;
    let mut modifier = None;
    let mut tone = Tone::Level;
    let mut well_formed = true;
    let c = if matches!(c, 'Đ' | 'Ð' | 'ð') { 'đ' } else { c };
    decompose_canonical(c, |part| match part {
        ACUTE | DOT if tone == Tone::Level => tone = Tone::Checked,
        GRAVE | HOOK | TILDE if tone == Tone::Level => tone = Tone::Marked,
        CIRCUMFLEX | BREVE | HORN if modifier.is_none() => modifier = Some(part),
        _ if base.is_none() => base = Some(part),
        _ => well_formed = false,
    });
    let base = base?.to_ascii_lowercase();
    let letter = match (base, modifier) {
        ('a'..='z' | 'đ', None) => base,
        ('a', Some(CIRCUMFLEX)) => 'â',
        ('a', Some(BREVE)) => 'ă',
        ('e', Some(CIRCUMFLEX)) => 'ê',
        ('o', Some(CIRCUMFLEX)) => 'ô',
        ('o', Some(HORN)) => 'ơ',
        ('u', Some(HORN)) => 'ư',
        _ => return None,
    };
    (well_formed && (tone == Tone::Level || is_vowel(letter))).then_some((letter, tone))
}

/// Whether `word` is one well-formed Vietnamese syllable (any case, tones in either placement).
fn is_syllable(word: &str) -> bool {
    let mut letters = String::with_capacity(word.len());
    let mut tone = (Tone::Level, 0);
    for (i, c) in word.chars().enumerate() {
        let Some((letter, t)) = letter_and_tone(c) else { return false };
        if t != Tone::Level {
            if tone.0 != Tone::Level {
                return false;
            }
            tone = (t, i);
        }
        letters.push(letter);
    }
    INITIALS.iter().any(|initial| {
        letters.strip_prefix(initial).is_some_and(|rest| {
            let at = initial.chars().count();
            let tone_at = if tone.0 == Tone::Level { None } else { tone.1.checked_sub(at) };
            (tone.0 == Tone::Level || tone_at.is_some()) && rime_is_valid(rest, tone.0, tone_at)
        })
    })
}

fn rime_is_valid(rime: &str, tone: Tone, tone_at: Option<usize>) -> bool {
    let split = rime.find(|c: char| !is_vowel(c)).unwrap_or(rime.len());
    let (nucleus, coda) = rime.split_at(split);
    let Some(&(_, allowed, positions)) = NUCLEI.iter().find(|(n, _, _)| *n == nucleus) else { return false };
    if !FINALS.contains(&coda) {
        return false;
    }
    let coda_fits = match allowed {
        Coda::Never => coda.is_empty(),
        Coda::Required => !coda.is_empty(),
        Coda::Optional => true,
    };
    let tone_fits = tone_at.is_none_or(|at| at < 8 && positions & (1 << at) != 0);
    let palatal_fits = !matches!(coda, "ch" | "nh") || matches!(nucleus, "a" | "ê" | "i" | "y" | "oa" | "uê" | "uy");
    let velar_fits = !matches!(coda, "c" | "ng") || !matches!(nucleus, "i" | "y" | "uy");
    let y_fits = nucleus != "y" || matches!(coda, "" | "ch" | "nh" | "t");
    let checked_fits = !matches!(coda, "c" | "ch" | "k" | "p" | "t") || tone == Tone::Checked;
    coda_fits && tone_fits && palatal_fits && velar_fits && y_fits && checked_fits
}

/// An ASCII word that reads as another language: no Vietnamese syllable even with its marks restored.
fn is_foreign_ascii(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    let worth_judging = word.len() >= 2
        && word.bytes().all(|b| b.is_ascii_alphabetic())
        && word.bytes().any(|b| b.is_ascii_lowercase())
        && lower.bytes().any(|b| b"aeiouy".contains(&b));
    worth_judging
        && !INITIALS.iter().any(|initial| {
            let initial = if *initial == "đ" { "d" } else { initial };
            lower.strip_prefix(initial).is_some_and(|rest| {
                let split = rest.find(|c: char| !"aeiouy".contains(c)).unwrap_or(rest.len());
                let (nucleus, coda) = rest.split_at(split);
                FINALS.contains(&coda) && NUCLEI.iter().any(|(n, _, _)| skeleton(n) == nucleus)
            })
        })
}

/// A nucleus without its vowel marks, as typed without a Vietnamese keyboard.
fn skeleton(nucleus: &str) -> String {
    nucleus
        .chars()
        .map(|c| match c {
            'ă' | 'â' => 'a',
            'ê' => 'e',
            'ô' | 'ơ' => 'o',
            'ư' => 'u',
            _ => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_normalization::is_nfc;

    const TONES: [&str; 6] = ["", "\u{301}", "\u{300}", "\u{309}", "\u{303}", "\u{323}"];
    const VOWELS: [&str; 12] = ["a", "ă", "â", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y"];

    /// Every Vietnamese vowel letter with every tone, lower case then upper case (144 letters).
    fn all_vowel_letters() -> Vec<char> {
        let mut out = Vec::new();
        for upper in [false, true] {
            for vowel in VOWELS {
                for tone in TONES {
                    let s: String = format!("{vowel}{tone}").nfc().collect();
                    let s = if upper { s.to_uppercase() } else { s };
                    let mut chars = s.chars();
                    out.push(chars.next().unwrap());
                    assert!(chars.next().is_none());
                }
            }
        }
        out
    }

    fn byte_char(byte: u8) -> char {
        char::from(byte)
    }

    /// Encodes Unicode text with the module's tables, the way a legacy keyboard driver would.
    fn encode(text: &str, encoding: LegacyEncoding) -> String {
        text.nfc().map(|c| encode_char(c, encoding)).collect()
    }

    fn encode_char(c: char, encoding: LegacyEncoding) -> String {
        if c.is_ascii() {
            return c.to_string();
        }
        match encoding {
            LegacyEncoding::Tcvn3 => {
                let find = |wanted: char| (0xA1..=0xFE).find(|&b| tcvn3_letter(b) == Some(wanted));
                // Capitals without a code of their own use the lower-case code (.VnTimeH convention).
                let lower = c.to_lowercase().next().unwrap();
                find(c).or_else(|| find(lower)).map_or_else(|| c.to_string(), |b| byte_char(b).to_string())
            }
            LegacyEncoding::Vni => {
                if let Some(b) = (0xC0..=0xFE).find(|&b| vni_letter(b) == Some(c)) {
                    return byte_char(b).to_string();
                }
                let mut parts = Vec::new();
                decompose_canonical(c, |p| parts.push(p));
                let base = parts[0];
                if !base.is_ascii_alphabetic() {
                    return c.to_string();
                }
                let upper = base.is_ascii_uppercase();
                let case = |b: u8| if upper { b - 0x20 } else { b };
                let horn = parts.contains(&HORN);
                let modifier = parts.iter().copied().find(|&p| p == CIRCUMFLEX || p == BREVE);
                let tone = parts.iter().copied().find(|&p| [ACUTE, GRAVE, HOOK, TILDE, DOT].contains(&p));
                let mut out = String::new();
                match (base.to_ascii_lowercase(), horn) {
                    ('o', true) => out.push(byte_char(case(0xF4))),
                    ('u', true) => out.push(byte_char(case(0xF6))),
                    _ => out.push(base),
                }
                if modifier.is_some() || tone.is_some() {
                    let mark = (0xE0..=0xFC).find(|&b| vni_mark(b) == Some((modifier, tone))).unwrap();
                    out.push(byte_char(case(mark)));
                }
                out
            }
        }
    }

    /// Real names and addresses; TCVN3 ones avoid toned capitals at word starts, which TCVN3 cannot hold.
    const TCVN3_SAMPLES: &[&str] = &[
        "Trần Thị Bích Ngọc",
        "Phường Đống Đa",
        "Huyện Yên Phong",
        "Lê Thị Hoa",
        "Nguyễn Đức Thắng",
        "Thành phố Hồ Chí Minh",
        "Phạm Văn Đồng",
        "Hoàng Thị Thu Hương",
        "Vũ Quỳnh Anh",
        "Đặng Ngọc Tuấn",
        "Bùi Thị Mỹ Lệ",
        "Tỉnh Quảng Ninh",
        "Quận Hoàn Kiếm, Hà Nội",
        "Đinh Thị Ngọc Diễm",
        "Dương Văn Sử",
        "Ông Trịnh Xuân Trường",
        "Lương Thế Vinh",
        "Thị xã Sơn Tây",
        "Âu Thị Nguyệt",
        "Ưng Hoàng Phúc",
        "Đỗ Mười",
        "Phan Thị Kim Phượng",
        "Xã Ea Tiêu, huyện Cư Kuin, tỉnh Đắk Lắk",
        "Số 12 ngõ 34 phố Huế, Hai Bà Trưng",
        "Ấp Tân Phú, xã Mỹ Đức",
    ];

    const VNI_SAMPLES: &[&str] = &[
        "Trần Thị Bích Ngọc",
        "Phường Đống Đa",
        "Huyện Yên Phong",
        "Lê Thị Hoa",
        "Nguyễn Đức Thắng",
        "Thành phố Hồ Chí Minh",
        "Ấp Mỹ Thạnh, xã Long Hựu",
        "Đinh Thị Ngọc Ánh",
        "Nguyên phi Ỷ Lan",
        "Tỉnh Bà Rịa – Vũng Tàu",
        "Ông Ích Khiêm",
        "Quận Gò Vấp",
        "Lý Thường Kiệt",
        "Ưng Hoàng Phúc",
        "Huỳnh Tấn Phát",
        "Võ Thị Sáu",
        "Đặng Thùy Trâm",
        "Hồ Xuân Hương",
        "NGUYỄN THỊ KIM LINH",
        "ĐƠN TRÌNH BÁO",
        "Ủy ban nhân dân phường Ỷ La",
        "Huyện Ứng Hòa",
        "Đường Ông Ích Đường, Cẩm Lệ",
    ];

    /// Encodes each sample (which must change, else the test proves nothing), then checks that convert,
    /// detect and to_unicode all bring it back.
    fn check_samples(samples: &[&str], encoding: LegacyEncoding) {
        for &expected in samples {
            let legacy = encode(expected, encoding);
            assert_ne!(legacy, expected);
            assert_eq!(convert(&legacy, encoding), expected, "convert {legacy:?}");
            assert_eq!(detect(&legacy), Some(encoding), "detect {legacy:?} ({expected})");
            assert_eq!(to_unicode(&legacy), expected, "to_unicode {legacy:?}");
        }
    }

    #[test]
    fn tcvn3_names_and_addresses_convert_detect_and_round_trip() {
        let toned_capital = "Ấp Tân Phú, xã Mỹ Đức";
        for &expected in TCVN3_SAMPLES.iter().filter(|s| **s != toned_capital) {
            check_samples(&[expected], LegacyEncoding::Tcvn3);
        }
        // A toned capital at a word start is typed with the lower-case code: the letters survive, the case not.
        let legacy = encode(toned_capital, LegacyEncoding::Tcvn3);
        assert_eq!(legacy, "Êp T©n Phó, x· Mü §øc");
        assert_eq!(to_unicode(&legacy), "ấp Tân Phú, xã Mỹ Đức");
    }

    #[test]
    fn vni_names_and_addresses_convert_detect_and_round_trip() {
        check_samples(VNI_SAMPLES, LegacyEncoding::Vni);
    }

    #[test]
    fn encoded_samples_look_like_the_documented_mojibake() {
        assert_eq!(encode("Nguyễn Văn An", LegacyEncoding::Tcvn3), "NguyÔn V¨n An");
        assert_eq!(encode("Hà Nội", LegacyEncoding::Tcvn3), "Hµ Néi");
        assert_eq!(encode("Lê Thị Hoa", LegacyEncoding::Tcvn3), "Lª ThÞ Hoa");
        assert_eq!(encode("Nguyễn Văn An", LegacyEncoding::Vni), "Nguyeãn Vaên An");
        assert_eq!(encode("Hà Nội", LegacyEncoding::Vni), "Haø Noäi");
        assert_eq!(encode("Đà Nẵng", LegacyEncoding::Vni), "Ñaø Naüng");
    }

    /// Strings typed in TCVN3 as published in public sources (converter test suites and documents).
    #[test]
    fn tcvn3_literal_strings_from_public_sources_convert() {
        let cases = [
            // duydev/vietnamese-conversion, tests/helpers/test-data.ts
            ("Xin chµo c¸c b¹n", "Xin chào các bạn"),
            ("T«i ®i häc", "Tôi đi học"),
            // Government-document phrases quoted in public TCVN3 converter tests.
            ("Céng hoµ x· héi chñ nghÜa ViÖt Nam", "Cộng hoà xã hội chủ nghĩa Việt Nam"),
            ("§éc lËp - Tù do - H¹nh phóc", "Độc lập - Tự do - Hạnh phúc"),
            ("C¨n cø NghÞ ®Þnh sè 15/CP", "Căn cứ Nghị định số 15/CP"),
            ("quyÕt ®Þnh cña Bé tr\u{ad}ëng Bé Tµi chÝnh", "quyết định của Bộ trưởng Bộ Tài chính"),
            ("ng\u{ad}êi cã c«ng víi c¸ch m¹ng", "người có công với cách mạng"),
            ("§¡NG Ký KINH DOANH", "ĐĂNG KÝ KINH DOANH"),
            ("Trung ¢u", "Trung Âu"),
            ("¤ng TrÇn Du", "Ông Trần Du"),
            ("Hµ néi, ngµy 22 th¸ng 11 n¨m 2002", "Hà nội, ngày 22 tháng 11 năm 2002"),
            ("B¶o Th¾ng", "Bảo Thắng"),
            ("B¸t X¸t", "Bát Xát"),
        ];
        for (legacy, expected) in cases {
            assert_eq!(convert(legacy, LegacyEncoding::Tcvn3), expected, "{legacy}");
            assert_eq!(detect(legacy), Some(LegacyEncoding::Tcvn3), "{legacy}");
            assert_eq!(to_unicode(legacy), expected, "{legacy}");
        }
    }

    /// Strings typed in VNI as published in public sources.
    #[test]
    fn vni_literal_strings_from_public_sources_convert() {
        let cases = [
            // duydev/vietnamese-conversion, tests/helpers/test-data.ts and README
            ("Xin chaøo caùc baïn", "Xin chào các bạn"),
            ("Toâi ñi hoïc", "Tôi đi học"),
            // Street addresses from a public VB.NET form typed in VNI-Korin.
            ("15F Nguyeãn Thò Minh Khai", "15F Nguyễn Thị Minh Khai"),
            ("11 Voõ Vaên Taàn", "11 Võ Văn Tần"),
            ("126 Ñieän Bieân Phuû", "126 Điện Biên Phủ"),
            ("227 Xoâ Vieát Ngheä Tónh", "227 Xô Viết Nghệ Tĩnh"),
            ("213 Nguyeãn Vaên Cöø", "213 Nguyễn Văn Cừ"),
            ("410 Leâ Hoàng Phong", "410 Lê Hồng Phong"),
            // Public VNI converter tests.
            ("COÄNG HOØA XAÕ HOÄI CHUÛ NGHÓA VIEÄT NAM", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"),
            ("Ñoäc laäp - Töï do - Haïnh phuùc", "Độc lập - Tự do - Hạnh phúc"),
            ("ÑÔN TRÌNH BAÙO", "ĐƠN TRÌNH BÁO"),
            ("Toâi teân laø Nguyeãn Vaên Thöû", "Tôi tên là Nguyễn Văn Thử"),
        ];
        for (legacy, expected) in cases {
            assert_eq!(convert(legacy, LegacyEncoding::Vni), expected, "{legacy}");
            assert_eq!(detect(legacy), Some(LegacyEncoding::Vni), "{legacy}");
            assert_eq!(to_unicode(legacy), expected, "{legacy}");
        }
    }

    #[test]
    fn short_single_names_are_detected() {
        assert_eq!(to_unicode("Lª ThÞ Hoa"), "Lê Thị Hoa");
        assert_eq!(to_unicode("Hµ Néi"), "Hà Nội");
        assert_eq!(to_unicode("NguyÔn V¨n An"), "Nguyễn Văn An");
        assert_eq!(detect("Hµ"), Some(LegacyEncoding::Tcvn3));
        assert_eq!(to_unicode("Haø Noäi"), "Hà Nội");
        assert_eq!(to_unicode("Nguyeãn Vaên An"), "Nguyễn Văn An");
        assert_eq!(detect("Leâ"), Some(LegacyEncoding::Vni));
    }

    #[test]
    fn tcvn3_table_has_every_lower_case_letter_and_the_seven_capitals_once() {
        let decoded: Vec<char> = (0x80..=0xFF).filter_map(tcvn3_letter).collect();
        assert_eq!(decoded.len(), 74);
        let mut unique = decoded.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 74);
        for letter in all_vowel_letters().into_iter().take(72).chain(['đ', 'Ă', 'Â', 'Ê', 'Ô', 'Ơ', 'Ư', 'Đ']) {
            if !letter.is_ascii() {
                assert!(decoded.contains(&letter), "{letter} missing");
            }
        }
        // Spot checks against UniKey / xvnkb / glibc TCVN5712-1.
        assert_eq!(tcvn3_letter(0xB8), Some('á'));
        assert_eq!(tcvn3_letter(0xAD), Some('ư'));
        assert_eq!(tcvn3_letter(0xD4), Some('ễ'));
        assert_eq!(tcvn3_letter(0xFE), Some('ỵ'));
        assert_eq!(tcvn3_letter(0xC0), None);
    }

    #[test]
    fn tcvn3_round_trips_every_letter_with_every_tone() {
        for letter in all_vowel_letters().into_iter().chain(['đ', 'Đ']) {
            let lower = letter.to_lowercase().next().unwrap();
            if letter == lower || "ĂÂÊÔƠƯĐ".contains(letter) {
                let alone = letter.to_string();
                assert_eq!(convert(&encode(&alone, LegacyEncoding::Tcvn3), LegacyEncoding::Tcvn3), alone);
            }
            // Any capital survives inside a word typed in capitals.
            let word = format!("X{letter}N");
            let upper_word = word.to_uppercase();
            assert_eq!(convert(&encode(&upper_word, LegacyEncoding::Tcvn3), LegacyEncoding::Tcvn3), upper_word);
            let lower_word = word.to_lowercase();
            assert_eq!(convert(&encode(&lower_word, LegacyEncoding::Tcvn3), LegacyEncoding::Tcvn3), lower_word);
        }
    }

    #[test]
    fn vni_round_trips_every_letter_with_every_tone() {
        let letters: Vec<char> = all_vowel_letters().into_iter().chain(['đ', 'Đ']).collect();
        assert_eq!(letters.len(), 146);
        for letter in &letters {
            let alone = letter.to_string();
            let legacy = encode(&alone, LegacyEncoding::Vni);
            assert_eq!(convert(&legacy, LegacyEncoding::Vni), alone);
            for word in [format!("ng{letter}n"), format!("NG{letter}N"), format!("{letter}{letter}")] {
                assert_eq!(convert(&encode(&word, LegacyEncoding::Vni), LegacyEncoding::Vni), word);
            }
        }
    }

    #[test]
    fn tcvn3_words_typed_in_capitals_come_back_in_capitals() {
        assert_eq!(convert("NGUYÔN V¡N §¹T", LegacyEncoding::Tcvn3), "NGUYỄN VĂN ĐẠT");
        assert_eq!(convert("Hµ NéI", LegacyEncoding::Tcvn3), "HÀ NỘI");
        assert_eq!(convert("§µO ThÞ Hoa", LegacyEncoding::Tcvn3), "ĐÀO Thị Hoa");
        assert_eq!(convert("Hµ", LegacyEncoding::Tcvn3), "Hà");
        assert_eq!(convert("UBND x· Yªn Phong", LegacyEncoding::Tcvn3), "UBND xã Yên Phong");
    }

    #[test]
    fn vni_marks_are_read_in_either_case_and_keep_the_case_of_their_letter() {
        assert_eq!(convert("AÙnh", LegacyEncoding::Vni), "Ánh");
        assert_eq!(convert("Aùnh", LegacyEncoding::Vni), "Ánh");
        assert_eq!(convert("NGUYEãN", LegacyEncoding::Vni), "NGUYỄN");
        assert_eq!(convert("öôøng", LegacyEncoding::Vni), "ường");
    }

    #[test]
    fn c1_code_points_and_windows_1252_characters_give_the_same_result() {
        assert_eq!(WINDOWS_1252_HIGH.chars().count(), 32);
        for encoding in [LegacyEncoding::Tcvn3, LegacyEncoding::Vni] {
            for byte in 0x80u8..=0x9F {
                let windows = WINDOWS_1252_HIGH.chars().nth(usize::from(byte - 0x80)).unwrap();
                assert_eq!(legacy_byte(windows), Some(byte));
                assert_eq!(legacy_byte(byte_char(byte)), Some(byte));
                let expected = format!("a{windows}b");
                assert_eq!(convert(&format!("a{}b", byte_char(byte)), encoding), expected);
                assert_eq!(convert(&expected, encoding), expected);
            }
        }
        assert_eq!(convert("\u{93}T«i\u{94}", LegacyEncoding::Tcvn3), "“Tôi”");
        assert_eq!(convert("“T«i”", LegacyEncoding::Tcvn3), "“Tôi”");
        assert_eq!(convert("Baø Ròa \u{96} Vuõng Taøu", LegacyEncoding::Vni), "Bà Rịa – Vũng Tàu");
    }

    #[test]
    fn characters_outside_the_tables_pass_through() {
        let text = "12/3 Đường số 5, P.7 (ĐT: 0903-123-456) 中文 №";
        assert_eq!(convert(text, LegacyEncoding::Tcvn3), text);
        assert_eq!(convert(text, LegacyEncoding::Vni), text);
        assert_eq!(convert("T«i €5", LegacyEncoding::Tcvn3), "Tôi €5");
    }

    const UNICODE_NAMES: [&str; 50] = [
        "Nguyễn Văn An",
        "Hà Nội",
        "Lê Bá Tùng",
        "Võ Thành Tâm",
        "Bùi Xuân Phái",
        "Cao Bá Quát",
        "Tô Hoài",
        "Nam Cao",
        "Tây Ninh",
        "Cà Mau",
        "Thái Bình",
        "Châu Văn Liêm",
        "Trần Thị Bích Ngọc",
        "Phường Đống Đa",
        "Huyện Yên Phong",
        "Lê Thị Hoa",
        "Nguyễn Đức Thắng",
        "Thành phố Hồ Chí Minh",
        "Lý Công Uẩn",
        "Chu Văn An",
        "Mạc Đĩnh Chi",
        "Ngô Quyền",
        "Đinh Bộ Lĩnh",
        "Trần Hưng Đạo",
        "Phan Bội Châu",
        "Huỳnh Thúc Kháng",
        "Võ Nguyên Giáp",
        "Tôn Đức Thắng",
        "Hàn Mặc Tử",
        "Hồ Xuân Hương",
        "Dương Thu Hương",
        "Bà Huyện Thanh Quan",
        "Đoàn Thị Điểm",
        "Lương Thế Vinh",
        "Quận Gò Vấp",
        "Phường Bến Nghé",
        "Tỉnh Bà Rịa – Vũng Tàu",
        "Huyện Củ Chi",
        "Xã Tân Phú",
        "Thị xã Sơn Tây",
        "Đà Lạt",
        "Sài Gòn",
        "Vĩnh Long",
        "Hoà Bình",
        "Tô Thị Huệ",
        "Lò Văn Giàng",
        "Vàng A Chứ",
        "Giàng Thị Mò",
        "Y Moan Ênuôl",
        "Đắk Lắk",
    ];

    #[test]
    fn detect_is_none_for_unicode_vietnamese_names() {
        for name in UNICODE_NAMES {
            assert_eq!(detect(name), None, "{name}");
            let decomposed: String = name.nfd().collect();
            assert_eq!(detect(&decomposed), None, "{name} (NFD)");
            assert_eq!(to_unicode(name), name);
        }
        assert_eq!(detect(&UNICODE_NAMES.join(", ")), None);
    }

    #[test]
    fn detect_is_none_for_ascii_digits_empty_and_latin1_text() {
        for text in [
            "",
            "   ",
            "0903123456",
            "12/3/2024 15:30",
            "Nguyen Van An",
            "John Smith, 221B Baker Street",
            "Café Sài Gòn",
            "Café",
            "Müller",
            "José García",
            "Crème brûlée",
            "naïve façade",
            "Où est la gare ?",
            "São Paulo",
            "Zoë Noël",
            "Señor Muñoz, España",
            "Giá 5 × 3 · 2 = 30",
            "Tù và rõ ràng",
            "µg/m³ ± 0,5 °C",
            "© 2024 «Hà»",
        ] {
            assert_eq!(detect(text), None, "{text}");
        }
    }

    #[test]
    fn detect_is_none_when_most_of_a_mixed_text_is_unicode() {
        assert_eq!(detect("Nguyễn Văn An, Hµ Néi"), None);
        assert_eq!(detect("Trần Thị Bích Ngọc sống ở Haø Noäi"), None);
        // Mostly legacy: still detected.
        assert_eq!(detect("NguyÔn V¨n An, ph\u{ad}êng §èng §a, Hµ Néi, Việt"), Some(LegacyEncoding::Tcvn3));
    }

    #[test]
    fn to_unicode_output_is_nfc() {
        let inputs = [
            "NguyÔn V¨n An".to_string(),
            "Nguyeãn Vaên An".to_string(),
            "Nguyễn Văn An".nfd().collect::<String>(),
            "Hoà Bình".nfd().collect::<String>(),
            "plain ascii".to_string(),
        ];
        for input in &inputs {
            let out = to_unicode(input);
            assert!(is_nfc(&out), "{input:?} -> {out:?}");
        }
        assert_eq!(to_unicode(&inputs[2]), "Nguyễn Văn An");
        for letter in all_vowel_letters() {
            for encoding in [LegacyEncoding::Tcvn3, LegacyEncoding::Vni] {
                assert!(is_nfc(&convert(&encode(&letter.to_string(), encoding), encoding)));
            }
        }
    }

    #[test]
    fn syllable_check_accepts_vietnamese_and_rejects_other_words() {
        for word in [
            "Nguyễn",
            "người",
            "Trường",
            "khuya",
            "Quỳnh",
            "Huỳnh",
            "gìn",
            "giữ",
            "quốc",
            "thuở",
            "hoà",
            "hòa",
            "Thuỷ",
            "Thủy",
            "Khuyến",
            "Nghiêm",
            "oán",
            "Ý",
            "Ước",
            "Đắk",
            "Thạch",
            "ngoẹo",
            "khuỷu",
            "lẽo",
        ] {
            assert!(is_syllable(word), "{word}");
        }
        for word in [
            "Café",
            "Müller",
            "Leõ",
            "nguyeãn",
            "Hoµng",
            "tiê",
            "Bkrông",
            "Sóo",
            "xoong",
            "khuỷa",
            "tàc",
            "inh̃",
            "Hà Nội",
        ] {
            assert!(!is_syllable(word), "{word}");
        }
    }
}
