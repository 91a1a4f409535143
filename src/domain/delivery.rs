//! How an invitation reaches a sampled person, and what an SMS says.

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Letter,
    Sms,
    Enumerator,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Letter => "letter",
            Channel::Sms => "sms",
            Channel::Enumerator => "enumerator",
        }
    }
}

/// What is known about how a person can be reached.
pub struct Reachable {
    pub email: bool,
    pub address: bool,
    pub mobile: bool,
}

/// The channel for one person: the one asked for if it can reach them, and for `auto` the
/// first that can of letter, SMS, enumerator visit. (Email joins the order once the mail
/// queue exists; until then it is never chosen automatically.)
pub fn choose(requested: Option<Channel>, reach: &Reachable) -> Option<Channel> {
    let possible = |c: Channel| match c {
        Channel::Email => reach.email,
        Channel::Letter => reach.address,
        Channel::Sms => reach.mobile,
        Channel::Enumerator => true,
    };
    match requested {
        Some(channel) => possible(channel).then_some(channel),
        None => [Channel::Letter, Channel::Sms, Channel::Enumerator].into_iter().find(|c| possible(*c)),
    }
}

/// Vietnamese without diacritics ("Khảo sát" → "Khao sat"): SMS in GSM-7 carries 160
/// characters a part, in UCS-2 only 70.
pub fn without_diacritics(text: &str) -> String {
    text.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .map(|c| match c {
            'đ' => 'd',
            'Đ' => 'D',
            c => c,
        })
        .collect()
}

/// Characters GSM-7 sends as two septets (an escape and the character).
const GSM7_EXTENDED: &str = "^{}\\[~]|€\u{c}";
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmsText {
    pub text: String,
    /// Septets in GSM-7, or `None` when a character needs UCS-2.
    pub gsm7_length: Option<usize>,
    pub parts: usize,
}

pub fn measure_sms(text: &str) -> SmsText {
    let mut septets = Some(0usize);
    for c in text.chars() {
        septets = septets.and_then(|n| {
            if GSM7_BASIC.contains(c) {
                Some(n + 1)
            } else if GSM7_EXTENDED.contains(c) {
                Some(n + 2)
            } else {
                None
            }
        });
    }
    let parts = match septets {
        Some(n) if n <= 160 => 1,
        Some(n) => n.div_ceil(153),
        None => {
            let units = text.encode_utf16().count();
            if units <= 70 { 1 } else { units.div_ceil(67) }
        }
    };
    SmsText { text: text.to_string(), gsm7_length: septets, parts }
}

/// The invitation SMS: who asks, the code, the link.
pub fn invitation_sms(sender: &str, grouped_code: &str, url: &str) -> SmsText {
    measure_sms(&without_diacritics(&format!(
        "{sender} moi Ong/Ba tra loi phieu khao sat su hai long. Ma: {grouped_code}. Tra loi tai {url}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_takes_the_first_channel_that_reaches_the_person() {
        let reach = |email, address, mobile| Reachable { email, address, mobile };
        assert_eq!(choose(None, &reach(true, true, true)), Some(Channel::Letter));
        assert_eq!(choose(None, &reach(true, false, true)), Some(Channel::Sms));
        assert_eq!(choose(None, &reach(false, false, false)), Some(Channel::Enumerator));
        assert_eq!(choose(Some(Channel::Sms), &reach(false, true, false)), None, "no mobile, no SMS");
        assert_eq!(choose(Some(Channel::Letter), &reach(false, true, false)), Some(Channel::Letter));
    }

    #[test]
    fn diacritics_go_and_letters_stay() {
        assert_eq!(without_diacritics("Đợt khảo sát SIPAS ở Hà Nội"), "Dot khao sat SIPAS o Ha Noi");
    }

    #[test]
    fn sms_length_counts_gsm7_septets_and_parts() {
        let short = measure_sms("Ma: K7QM-3XD9-PT2A-Q");
        assert_eq!((short.gsm7_length, short.parts), (Some(20), 1));
        assert_eq!(measure_sms(&"a".repeat(160)).parts, 1);
        assert_eq!(measure_sms(&"a".repeat(161)).parts, 2);
        assert_eq!(measure_sms("[]").gsm7_length, Some(4), "extended characters take two septets");
        let accented = measure_sms("Khảo sát");
        assert_eq!((accented.gsm7_length, accented.parts), (None, 1));
    }

    #[test]
    fn invitation_sms_fits_one_gsm7_part() {
        let sms = invitation_sms("UBND tỉnh Bắc Ninh", "K7QM-3XD9-PT2A-Q", "https://ks.bacninh.gov.vn/s/K7QM3XD9PT2AQ");
        assert!(sms.gsm7_length.is_some(), "{}", sms.text);
        assert_eq!(sms.parts, 1, "{} ({:?})", sms.text, sms.gsm7_length);
        assert!(sms.text.starts_with("UBND tinh Bac Ninh moi Ong/Ba"));
    }
}
