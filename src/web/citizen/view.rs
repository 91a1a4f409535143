//! The questionnaire as the template shows it: numbered questions with what the person
//! chose and the error beside each one.

use crate::domain::form::{Form, Item};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Serialize)]
pub struct OptionView {
    code: String,
    label: String,
    checked: bool,
}

#[derive(Serialize)]
pub struct QuestionView {
    id: String,
    number: usize,
    text: String,
    help: Option<String>,
    required: bool,
    is_text: bool,
    multiple: bool,
    max_choices: Option<usize>,
    max_length: usize,
    options: Vec<OptionView>,
    text_value: String,
    error: Option<String>,
    condition: Option<String>,
    show_if: Option<crate::domain::form::ShowIf>,
}

#[derive(Serialize)]
pub struct SectionView {
    title: String,
    description: Option<String>,
    questions: Vec<QuestionView>,
}

#[derive(Serialize)]
pub struct ErrorLink {
    /// The element to focus: the question's first input, or the submit button.
    anchor: String,
    number: usize,
    message: String,
}

pub struct QuestionnaireView {
    pub sections: Vec<SectionView>,
    pub errors: Vec<ErrorLink>,
}

fn condition(item: &Item, form: &Form, numbers: &HashMap<&str, usize>) -> Option<String> {
    let rule = item.show_if.as_ref()?;
    let target = form.item(&rule.item)?;
    let labels: Vec<String> =
        rule.codes.iter().filter_map(|c| target.option(c)).map(|o| format!("“{}”", o.label)).collect();
    Some(format!(
        "Chỉ trả lời câu này nếu ở câu {} Ông/Bà chọn {}.",
        numbers.get(rule.item.as_str()).copied().unwrap_or(0),
        labels.join(" hoặc ")
    ))
}

pub fn questionnaire(
    form: &Form,
    given: &BTreeMap<String, Vec<String>>,
    errors: &BTreeMap<String, String>,
) -> QuestionnaireView {
    let numbers: HashMap<&str, usize> =
        form.items.iter().enumerate().map(|(i, item)| (item.id.as_str(), i + 1)).collect();
    let mut error_links: Vec<ErrorLink> = Vec::new();
    if let Some(general) = errors.get("") {
        error_links.push(ErrorLink { anchor: "submit".into(), number: 0, message: general.clone() });
    }
    let sections = form
        .sections
        .iter()
        .map(|section| SectionView {
            title: section.title.clone(),
            description: section.description.clone(),
            questions: form
                .items_in(&section.id)
                .map(|item| {
                    let values = given.get(&item.id).cloned().unwrap_or_default();
                    let number = numbers[item.id.as_str()];
                    let error = errors.get(&item.id).cloned();
                    if let Some(message) = &error {
                        let anchor = if item.is_text() { format!("f-{}", item.id) } else { format!("f-{}-1", item.id) };
                        error_links.push(ErrorLink { anchor, number, message: message.clone() });
                    }
                    QuestionView {
                        id: item.id.clone(),
                        number,
                        text: item.text.clone(),
                        help: item.help.clone(),
                        required: item.required,
                        is_text: item.is_text(),
                        multiple: item.is_multiple(),
                        max_choices: item.max_choices,
                        max_length: item.text_limit(),
                        options: item
                            .options
                            .iter()
                            .map(|o| OptionView {
                                code: o.code.clone(),
                                label: o.label.clone(),
                                checked: values.contains(&o.code),
                            })
                            .collect(),
                        text_value: if item.is_text() { values.join("\n") } else { String::new() },
                        error,
                        condition: condition(item, form, &numbers),
                        show_if: item.show_if.clone(),
                    }
                })
                .collect(),
        })
        .collect();
    error_links.sort_by_key(|e| e.number);
    QuestionnaireView { sections, errors: error_links }
}
