//! Checking a submission against its form.
//!
//! Input arrives as item id → the strings given (one for a single choice or a text, several
//! for a multi-select): the shape both an HTML form and the JSON API reduce to. Answers to
//! questions that `show_if` hides are dropped, and `required` applies only to shown ones.

use crate::domain::form::{Form, Item};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AnswerValue {
    Choice(String),
    Choices(Vec<String>),
    Text(String),
}

impl AnswerValue {
    pub fn codes(&self) -> &[String] {
        match self {
            AnswerValue::Choice(code) => std::slice::from_ref(code),
            AnswerValue::Choices(codes) => codes,
            AnswerValue::Text(_) => &[],
        }
    }
}

/// A submission that passed every rule of its form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ValidAnswers(BTreeMap<String, AnswerValue>);

impl ValidAnswers {
    pub fn get(&self, item: &str) -> Option<&AnswerValue> {
        self.0.get(item)
    }
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("answers serialise")
    }
    pub fn iter(&self) -> impl Iterator<Item = (&String, &AnswerValue)> {
        self.0.iter()
    }
}

impl ValidAnswers {
    /// Reads answers back from storage; the form says which strings are texts.
    pub fn from_stored(form: &Form, json: &str) -> Result<Self, serde_json::Error> {
        // Read straight into strings: a JSON value tree per answer was most of the cost of
        // recounting a wave (`/verify`, crosstabs) from its raw answers.
        let stored: StoredCodes = serde_json::from_str(json)?;
        let owned = |text: Text| text.0.into_owned();
        let answers = stored
            .0
            .into_iter()
            .map(|(id, codes)| {
                let answer = match codes {
                    Codes::One(s) if form.item(&id.0).is_some_and(Item::is_text) => AnswerValue::Text(owned(s)),
                    Codes::One(code) => AnswerValue::Choice(owned(code)),
                    Codes::Many(codes) => AnswerValue::Choices(codes.into_iter().map(owned).collect()),
                };
                (owned(id), answer)
            })
            .collect();
        Ok(Self(answers))
    }
}

/// A stored answer's strings with their item id, as stored: an option code (or a text), or
/// several codes; borrowed from the stored text. The one reader of the stored format.
pub(crate) struct StoredCodes<'a>(pub(crate) Vec<(Text<'a>, Codes<'a>)>);

/// A string of the stored answers, borrowed unless it holds an escape.
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

pub(crate) enum Codes<'a> {
    One(Text<'a>),
    Many(Vec<Text<'a>>),
}

impl<'de> serde::Deserialize<'de> for Text<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match deserializer.deserialize_str(TextVisitor)? {
            Codes::One(text) => Ok(text),
            Codes::Many(_) => Err(serde::de::Error::custom("a string")),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Codes<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor)
    }
}

impl<'de> serde::Deserialize<'de> for StoredCodes<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StoredCodesVisitor)
    }
}

struct StoredCodesVisitor;

impl<'de> serde::de::Visitor<'de> for StoredCodesVisitor {
    type Value = StoredCodes<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("stored answers by item id")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(256));
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(StoredCodes(entries))
    }
}

/// Reads a string, or a list of strings, as stored answers hold them.
struct TextVisitor;

impl<'de> serde::de::Visitor<'de> for TextVisitor {
    type Value = Codes<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a code, a text or a list of codes")
    }
    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Codes::One(Text(Cow::Borrowed(text))))
    }
    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Codes::One(Text(Cow::Owned(text.to_string()))))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut codes = Vec::new();
        while let Some(code) = seq.next_element()? {
            codes.push(code);
        }
        Ok(Codes::Many(codes))
    }
}

/// Errors keyed by item id, worded for the person filling in the form.
pub type ItemErrors = BTreeMap<String, String>;

/// What one answer adds to the result counters: `(item, code)` for every chosen code, and
/// `(item, ANSWERED)` once per item answered with at least one non-missing code.
pub const ANSWERED: &str = "*";

pub fn validate(form: &Form, given: &BTreeMap<String, Vec<String>>) -> Result<ValidAnswers, ItemErrors> {
    let mut errors = ItemErrors::new();
    for id in given.keys() {
        if form.item(id).is_none() {
            errors.insert(id.clone(), "Câu hỏi này không có trong phiếu.".into());
        }
    }
    let mut valid = BTreeMap::new();
    for item in &form.items {
        if !is_shown(item, &valid) {
            continue;
        }
        let values: Vec<&str> = given
            .get(&item.id)
            .map(|v| v.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        match check_item(item, &values) {
            Ok(Some(value)) => {
                valid.insert(item.id.clone(), value);
            }
            Ok(None) if item.required => {
                errors.insert(item.id.clone(), "Vui lòng trả lời câu hỏi này.".into());
            }
            Ok(None) => {}
            Err(message) => {
                errors.insert(item.id.clone(), message);
            }
        }
    }
    if errors.is_empty() { Ok(ValidAnswers(valid)) } else { Err(errors) }
}

fn is_shown(item: &Item, answered: &BTreeMap<String, AnswerValue>) -> bool {
    match &item.show_if {
        None => true,
        Some(rule) => answered.get(&rule.item).is_some_and(|answer| rule.is_met_by(answer.codes())),
    }
}

fn check_item(item: &Item, values: &[&str]) -> Result<Option<AnswerValue>, String> {
    if values.is_empty() {
        return Ok(None);
    }
    if item.is_text() {
        let text: String = values.join("\n").nfc().collect();
        if crate::domain::text::free_text(&text).is_err() {
            return Err("Câu trả lời không được chứa ký tự điều khiển (như ký tự NUL).".into());
        }
        let length = text.chars().count();
        if length > item.text_limit() {
            return Err(format!("Câu trả lời dài {length} ký tự, vượt quá giới hạn {} ký tự.", item.text_limit()));
        }
        return Ok(Some(AnswerValue::Text(text)));
    }
    for value in values {
        if item.option(value).is_none() {
            return Err(format!("Lựa chọn “{value}” không có trong câu hỏi này."));
        }
    }
    match item.max_choices {
        None if values.len() > 1 => Err("Câu hỏi này chỉ được chọn một phương án.".into()),
        None => Ok(Some(AnswerValue::Choice(values[0].to_string()))),
        Some(max) => {
            // Keep the form's option order so equal answers serialise equally.
            let codes: Vec<String> =
                item.options.iter().filter(|o| values.contains(&o.code.as_str())).map(|o| o.code.clone()).collect();
            if codes.len() > max {
                Err(format!("Chọn tối đa {max} phương án (bạn đã chọn {}).", codes.len()))
            } else {
                Ok(Some(AnswerValue::Choices(codes)))
            }
        }
    }
}

/// The counter increments one answer contributes; the same function serves the live
/// counters and the full recount, so the two can only disagree if storage does.
pub fn tallies<'a>(form: &'a Form, answers: &'a ValidAnswers) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::new();
    for (id, value) in answers.iter() {
        let Some(item) = form.item(id) else { continue };
        let codes = value.codes();
        for code in codes {
            out.push((id.as_str(), code.as_str()));
        }
        let any_valid = codes.iter().any(|c| item.option(c).is_some_and(|o| !o.missing));
        if any_valid {
            out.push((id.as_str(), ANSWERED));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::form::parse_form;
    use serde_json::json;

    fn form() -> Form {
        let json = json!({
            "id": "t", "version": "1", "title": "T",
            "sections": [{"id": "s", "title": "S"}],
            "items": [
                {"id": "type", "section": "s", "kind": "background", "text": "Loại", "required": true,
                 "options": [{"code": "1", "label": "Cá nhân"}, {"code": "2", "label": "Tổ chức"}]},
                {"id": "org", "section": "s", "kind": "text", "text": "Tên", "required": true, "max_length": 10,
                 "show_if": {"item": "type", "in": ["2"]}},
                {"id": "sat", "section": "s", "kind": "satisfaction", "text": "Hài lòng?",
                 "options": [{"code": "4", "label": "Hài lòng"}, {"code": "5", "label": "Rất hài lòng"},
                             {"code": "0", "label": "Không trả lời", "missing": true}]},
                {"id": "wish", "section": "s", "kind": "expectation", "text": "Mong muốn", "max_choices": 2,
                 "options": [{"code": "a", "label": "A"}, {"code": "b", "label": "B"}, {"code": "c", "label": "C"}]}
            ],
            "indices": [{"id": "sipas", "label": "S", "rule": "share", "items": ["sat"], "positive": ["4", "5"]}]
        });
        parse_form("t.json", &json.to_string(), None).unwrap()
    }

    fn given(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn missing_required_answer_is_reported_on_its_item() {
        let errors = validate(&form(), &given(&[])).unwrap_err();
        assert_eq!(errors.get("type").unwrap(), "Vui lòng trả lời câu hỏi này.");
    }

    #[test]
    fn hidden_question_is_neither_required_nor_kept() {
        let answers = validate(&form(), &given(&[("type", &["1"]), ("org", &["Công ty"])])).unwrap();
        assert_eq!(answers.get("org"), None);
    }

    #[test]
    fn shown_question_becomes_required() {
        let errors = validate(&form(), &given(&[("type", &["2"])])).unwrap_err();
        assert!(errors.contains_key("org"));
    }

    #[test]
    fn unknown_code_and_unknown_item_are_rejected() {
        let errors = validate(&form(), &given(&[("type", &["7"]), ("ghost", &["1"])])).unwrap_err();
        assert_eq!(errors.get("type").unwrap(), "Lựa chọn “7” không có trong câu hỏi này.");
        assert!(errors.contains_key("ghost"));
    }

    #[test]
    fn single_choice_rejects_two_codes_and_multi_choice_enforces_its_maximum() {
        let errors = validate(&form(), &given(&[("type", &["1", "2"]), ("wish", &["a", "b", "c"])])).unwrap_err();
        assert!(errors.get("type").unwrap().contains("một phương án"));
        assert!(errors.get("wish").unwrap().contains("tối đa 2"));
    }

    #[test]
    fn text_over_its_limit_is_rejected_and_text_is_nfc() {
        let errors = validate(&form(), &given(&[("type", &["2"]), ("org", &["12345678901"])])).unwrap_err();
        assert!(errors.get("org").unwrap().contains("11 ký tự"));
        let ok = validate(&form(), &given(&[("type", &["2"]), ("org", &["Phie\u{302}\u{301}u"])])).unwrap();
        assert_eq!(ok.get("org"), Some(&AnswerValue::Text("Phiếu".into())));
    }

    #[test]
    fn stored_answers_read_back_equal() {
        let f = form();
        let answers = validate(&f, &given(&[("type", &["2"]), ("org", &["1"]), ("wish", &["a"])])).unwrap();
        assert_eq!(ValidAnswers::from_stored(&f, &answers.to_json()).unwrap(), answers);
    }

    #[test]
    fn tallies_count_codes_and_only_non_missing_answers_as_answered() {
        let f = form();
        let answers = validate(&f, &given(&[("type", &["1"]), ("sat", &["0"]), ("wish", &["c", "a"])])).unwrap();
        let mut t = tallies(&f, &answers);
        t.sort();
        assert_eq!(t, [("sat", "0"), ("type", "*"), ("type", "1"), ("wish", "*"), ("wish", "a"), ("wish", "c")]);
    }
}
