//! Invitation SMS through an HTTP gateway, when one is configured: the request template
//! (`PHIEU_SMS_GATEWAY_URL`, `PHIEU_SMS_GATEWAY_METHOD`) and the client that sends one
//! message. The queue worker is in [`crate::outbox`].

use crate::domain::contact::RespondentPhone;
use crate::domain::delivery::invitation_sms;
use crate::outbox::{Carrier, FailureKind, Invitation, SendFailure};
use crate::storage::mail::QueuedMessage;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::StatusCode;
use std::fmt;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayMethod {
    /// The substituted URL is requested as it is.
    Get,
    /// The substituted URL's query becomes the `application/x-www-form-urlencoded` body,
    /// posted to the URL without it.
    Post,
}

/// How to hand one SMS to the gateway: a URL with `{phone}` and `{text}`, and a method.
#[derive(Clone, PartialEq, Eq)]
pub struct GatewayTemplate {
    url: String,
    method: GatewayMethod,
}

/// One request to the gateway.
#[derive(Debug, PartialEq, Eq)]
pub struct GatewayRequest {
    pub method: GatewayMethod,
    pub url: String,
    /// The form body of a POST.
    pub body: Option<String>,
}

/// Everything but the unreserved characters of RFC 3986 is encoded, so a value is the same
/// in a path, a query and a form body (a space is `%20`, a plus `%2B`).
const VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

impl GatewayTemplate {
    pub fn parse(url: &str, method: &str) -> Result<Self, String> {
        let url = url.trim().to_string();
        let method = match method.trim().to_ascii_uppercase().as_str() {
            "GET" => GatewayMethod::Get,
            "POST" => GatewayMethod::Post,
            other => return Err(format!("PHIEU_SMS_GATEWAY_METHOD: \"{other}\" is neither GET nor POST")),
        };
        for placeholder in ["{phone}", "{text}"] {
            if !url.contains(placeholder) {
                return Err(format!("PHIEU_SMS_GATEWAY_URL must contain {placeholder}"));
            }
        }
        let template = Self { url, method };
        let example = template.request("84912345678", "x");
        let parsed = url::Url::parse(&example.url).map_err(|e| format!("PHIEU_SMS_GATEWAY_URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err("PHIEU_SMS_GATEWAY_URL must be an http:// or https:// address".into());
        }
        let query = template.url.split_once('?').map(|(_, query)| query).unwrap_or_default();
        if method == GatewayMethod::Post && !(query.contains("{phone}") && query.contains("{text}")) {
            return Err("PHIEU_SMS_GATEWAY_METHOD=POST posts the query of PHIEU_SMS_GATEWAY_URL: put {phone} and {text} after the \"?\"".into());
        }
        Ok(template)
    }

    /// The request for one message, the values percent-encoded into the template.
    pub fn request(&self, phone: &str, text: &str) -> GatewayRequest {
        let filled = self
            .url
            .replace("{phone}", &utf8_percent_encode(phone, VALUE).to_string())
            .replace("{text}", &utf8_percent_encode(text, VALUE).to_string());
        match self.method {
            GatewayMethod::Get => GatewayRequest { method: self.method, url: filled, body: None },
            GatewayMethod::Post => {
                let (url, query) = filled.split_once('?').unwrap_or((&filled, ""));
                let query = query.split('#').next().unwrap_or_default();
                GatewayRequest { method: self.method, url: url.to_string(), body: Some(query.to_string()) }
            }
        }
    }
}

/// The URL may carry the gateway's key: it is never printed.
impl fmt::Debug for GatewayTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GatewayTemplate(***, {:?})", self.method)
    }
}

/// Sends SMS through the gateway: 2xx is sent; 408, 429, 5xx and failures to connect are
/// temporary; any other answer (4xx, a redirect) is a permanent failure; a timeout or any
/// other error once connected leaves the message uncertain, as the gateway may have taken
/// it: it is never sent again.
pub struct SmsGateway {
    template: GatewayTemplate,
    client: reqwest::blocking::Client,
    organisation: String,
}

impl SmsGateway {
    /// Must run outside the async runtime (the blocking client runs its own). `timeout`: for
    /// the whole request, the gateway's answer included. Connecting has less (at most half),
    /// so that a slow connection fails as a connection, before anything was sent.
    pub fn connect(template: GatewayTemplate, organisation: String, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::blocking::Client::builder()
            .connect_timeout((timeout / 2).min(Duration::from_secs(10)))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { template, client, organisation })
    }
}

impl Carrier for SmsGateway {
    fn send(&self, message: &QueuedMessage, invitation: &Invitation) -> Result<(), SendFailure> {
        let failure = |message: String, kind: FailureKind| SendFailure { message, kind };
        let permanent = FailureKind::Permanent { bounced: false };
        let phone = RespondentPhone::parse(&message.to)
            .map_err(|_| failure("số điện thoại không hợp lệ".into(), permanent))?
            .international();
        let sms = invitation_sms(&self.organisation, invitation.grouped_code, invitation.url);
        let request = self.template.request(&phone, &sms.text);
        let builder = match request.body {
            None => self.client.get(&request.url),
            Some(body) => self
                .client
                .post(&request.url)
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body),
        };
        match builder.send() {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => {
                let status = response.status();
                let temporary = status.is_server_error()
                    || status == StatusCode::REQUEST_TIMEOUT
                    || status == StatusCode::TOO_MANY_REQUESTS;
                let kind = if temporary { FailureKind::Temporary } else { permanent };
                Err(failure(format!("cổng SMS trả lời HTTP {}", status.as_u16()), kind))
            }
            // Without the URL, which holds the phone number and perhaps the gateway's key.
            Err(error) => {
                let error = error.without_url();
                let mut reason = error.to_string();
                let mut source = std::error::Error::source(&error);
                while let Some(cause) = source {
                    reason.push_str(&format!(": {cause}"));
                    source = cause.source();
                }
                // Not connected: the gateway has nothing, try again later. Connected (a
                // timeout waiting for the answer, a connection cut): it may have the
                // message and send it, so it is not sent again.
                if error.is_connect() {
                    Err(failure(format!("không kết nối được tới cổng SMS: {reason}"), FailureKind::Temporary))
                } else {
                    Err(failure(
                        format!("cổng SMS không trả lời rõ, có thể đã nhận tin: {reason}"),
                        FailureKind::Uncertain,
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_fills_the_placeholders_percent_encoded() {
        let template =
            GatewayTemplate::parse("https://sms.example.vn/send?to={phone}&msg={text}&key=k", "get").unwrap();
        let request = template.request("84912345678", "Ma: K7QM-3XD9 tai https://ks.vn/s/K7?a=1&b=2 +");
        assert_eq!(request.method, GatewayMethod::Get);
        assert_eq!(
            request.url,
            "https://sms.example.vn/send?to=84912345678&msg=Ma%3A%20K7QM-3XD9%20tai%20https%3A%2F%2Fks.vn%2Fs%2FK7%3Fa%3D1%26b%3D2%20%2B&key=k"
        );
        assert_eq!(request.body, None);
    }

    #[test]
    fn post_sends_the_query_as_a_form_body() {
        let template =
            GatewayTemplate::parse("http://10.0.0.5:8080/api/sms?dest={phone}&content={text}", "POST").unwrap();
        let request = template.request("84912345678", "Ma so 1");
        assert_eq!(request.url, "http://10.0.0.5:8080/api/sms");
        assert_eq!(request.body.as_deref(), Some("dest=84912345678&content=Ma%20so%201"));
        let decoded: Vec<(String, String)> =
            form_urlencoded::parse(request.body.unwrap().as_bytes()).into_owned().collect();
        assert_eq!(decoded[1], ("content".to_string(), "Ma so 1".to_string()));
    }

    #[test]
    fn templates_need_both_placeholders_an_http_url_and_a_known_method() {
        assert!(
            GatewayTemplate::parse("https://sms.example.vn/send?to={phone}", "GET").unwrap_err().contains("{text}")
        );
        assert!(GatewayTemplate::parse("ftp://sms.example.vn/{phone}/{text}", "GET").unwrap_err().contains("http"));
        assert!(
            GatewayTemplate::parse("https://sms.example.vn/?to={phone}&m={text}", "PUT").unwrap_err().contains("PUT")
        );
        let in_path = GatewayTemplate::parse("https://sms.example.vn/{phone}/{text}", "POST").unwrap_err();
        assert!(in_path.contains("after the"), "{in_path}");
        assert!(GatewayTemplate::parse("https://sms.example.vn/{phone}/{text}", "GET").is_ok());
    }

    #[test]
    fn the_template_never_prints_its_url() {
        let template = GatewayTemplate::parse("https://sms.example.vn/?key=bi-mat&to={phone}&m={text}", "GET").unwrap();
        assert!(!format!("{template:?}").contains("bi-mat"));
    }
}
