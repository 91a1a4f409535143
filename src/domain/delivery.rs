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
/// first that can of email, letter, SMS, enumerator visit.
pub fn choose(requested: Option<Channel>, reach: &Reachable) -> Option<Channel> {
    let possible = |c: Channel| match c {
        Channel::Email => reach.email,
        Channel::Letter => reach.address,
        Channel::Sms => reach.mobile,
        Channel::Enumerator => true,
    };
    match requested {
        Some(channel) => possible(channel).then_some(channel),
        None => [Channel::Email, Channel::Letter, Channel::Sms, Channel::Enumerator].into_iter().find(|c| possible(*c)),
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

/// What an invitation email may say about the person and the survey.
pub struct MailValues<'a> {
    pub name: &'a str,
    pub grouped_code: &'a str,
    pub url: &'a str,
    pub opt_out_url: &'a str,
    pub organisation: &'a str,
    pub retention_days: i64,
}

pub const DEFAULT_SUBJECT: &str = "Mời Ông/Bà tham gia khảo sát sự hài lòng về dịch vụ hành chính công";
pub const DEFAULT_BODY: &str = "Kính gửi Ông/Bà {ten},

{co_quan} đang tổ chức khảo sát sự hài lòng của người dân, tổ chức đối với sự phục vụ của cơ quan hành chính nhà nước. Ông/Bà có tên trong danh sách được chọn ngẫu nhiên để mời trả lời phiếu khảo sát; việc trả lời mất khoảng 15 phút.

Để trả lời, xin mở đường dẫn:
{duong_dan}

hoặc nhập mã khảo sát {ma} tại trang khảo sát.

Nếu không muốn tham gia và muốn thông tin của mình được xóa ngay: {tu_choi}

Trân trọng,
{co_quan}";

const PLACEHOLDERS: [&str; 5] = ["ten", "ma", "duong_dan", "tu_choi", "co_quan"];
const REQUIRED: [&str; 3] = ["ma", "duong_dan", "tu_choi"];

/// A wave's own template must name only known placeholders and carry the code, the link
/// and the opt-out link.
pub fn check_template(subject: &str, body: &str) -> Result<(), String> {
    crate::domain::text::name(subject).map_err(|e| e.about("Tiêu đề thư"))?;
    crate::domain::text::free_text(body).map_err(|e| e.about("Nội dung thư"))?;
    for text in [subject, body] {
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            let end = rest[start..].find('}').ok_or("Thiếu dấu “}” đóng.")?;
            let name = &rest[start + 1..start + end];
            if !PLACEHOLDERS.contains(&name) {
                return Err(format!(
                    "Không có trường “{{{name}}}”; dùng {}.",
                    PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                ));
            }
            rest = &rest[start + end + 1..];
        }
    }
    match REQUIRED.iter().find(|r| !body.contains(&format!("{{{r}}}"))) {
        Some(missing) => Err(format!("Nội dung thư phải có trường {{{missing}}}.")),
        None => Ok(()),
    }
}

fn fill(template: &str, values: &MailValues) -> String {
    template
        .replace("{ten}", values.name)
        .replace("{ma}", values.grouped_code)
        .replace("{duong_dan}", values.url)
        .replace("{tu_choi}", values.opt_out_url)
        .replace("{co_quan}", values.organisation)
}

/// Subject and body of an invitation (or, with `reminder`, a reminder). The notice on
/// personal data is appended by the system, whatever the wave's template says.
pub fn render_mail(subject: Option<&str>, body: Option<&str>, values: &MailValues, reminder: bool) -> (String, String) {
    let subject = fill(subject.unwrap_or(DEFAULT_SUBJECT), values);
    let subject = if reminder { format!("Nhắc lại: {subject}") } else { subject };
    let body = format!(
        "{}\n\n---\nThông tin về dữ liệu cá nhân: {} xử lý họ tên và địa chỉ email của Ông/Bà, do cơ quan đã giải quyết thủ tục hành chính cung cấp, chỉ để gửi thư mời này. Câu trả lời được lưu ẩn danh, không gắn với họ tên, email hay mã khảo sát. Họ tên và email sẽ bị xóa {} ngày sau khi đợt khảo sát kết thúc. Việc tham gia là tự nguyện; để từ chối và xóa thông tin ngay: {}\n",
        fill(body.unwrap_or(DEFAULT_BODY), values),
        values.organisation,
        values.retention_days,
        values.opt_out_url
    );
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_takes_the_first_channel_that_reaches_the_person() {
        let reach = |email, address, mobile| Reachable { email, address, mobile };
        assert_eq!(choose(None, &reach(true, true, true)), Some(Channel::Email));
        assert_eq!(choose(None, &reach(false, true, true)), Some(Channel::Letter));
        assert_eq!(choose(None, &reach(false, false, true)), Some(Channel::Sms));
        assert_eq!(choose(None, &reach(false, false, false)), Some(Channel::Enumerator));
        assert_eq!(choose(Some(Channel::Sms), &reach(false, true, false)), None, "no mobile, no SMS");
        assert_eq!(choose(Some(Channel::Letter), &reach(false, true, false)), Some(Channel::Letter));
    }

    fn values() -> MailValues<'static> {
        MailValues {
            name: "Nguyễn Văn An",
            grouped_code: "K7QM-3XD9-PT2A-Q",
            url: "https://ks.example.vn/s/K7QM3XD9PT2AQ",
            opt_out_url: "https://ks.example.vn/s/K7QM3XD9PT2AQ/tu-choi",
            organisation: "Sở Nội vụ tỉnh Bắc Ninh",
            retention_days: 30,
        }
    }

    #[test]
    fn default_mail_names_the_person_code_link_and_opt_out_and_always_carries_the_notice() {
        let (subject, body) = render_mail(None, None, &values(), false);
        assert!(subject.starts_with("Mời Ông/Bà"));
        for expected in [
            "Kính gửi Ông/Bà Nguyễn Văn An",
            "K7QM-3XD9-PT2A-Q",
            "https://ks.example.vn/s/K7QM3XD9PT2AQ/tu-choi",
            "bị xóa 30 ngày",
        ] {
            assert!(body.contains(expected), "{expected}");
        }
        let (subject, body) = render_mail(Some("Khảo sát"), Some("{ma} {duong_dan} {tu_choi}"), &values(), true);
        assert_eq!(subject, "Nhắc lại: Khảo sát");
        assert!(body.contains("Thông tin về dữ liệu cá nhân"), "the notice cannot be edited away");
    }

    #[test]
    fn templates_must_carry_code_link_and_opt_out_and_known_fields_only() {
        assert!(check_template(DEFAULT_SUBJECT, DEFAULT_BODY).is_ok());
        assert!(check_template("x", "{ma} {duong_dan}").unwrap_err().contains("{tu_choi}"));
        assert!(
            check_template("x", "{ma} {duong_dan} {tu_choi} {ho_ten}")
                .unwrap_err()
                .contains("Không có trường “{ho_ten}”")
        );
        assert!(check_template(" ", "{ma} {duong_dan} {tu_choi}").is_err());
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
