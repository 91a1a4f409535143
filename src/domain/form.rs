//! Questionnaires as data: the model of a form file, its loader and its validation.
//!
//! Methodologies change by decision, not by release, so every question, option and index
//! rule lives in `survey_forms/*.json`. The loader rejects anything it does not understand
//! and reports each problem with the file and the JSON path.

use crate::domain::locality::is_level;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    Background,
    Perception,
    Satisfaction,
    Rating,
    Expectation,
    Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceOption {
    pub code: String,
    pub label: String,
    /// "Không trả lời" style answers: stored, but outside every index denominator.
    #[serde(default)]
    pub missing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShowIf {
    pub item: String,
    #[serde(rename = "in")]
    pub codes: Vec<String>,
}

impl ShowIf {
    /// Whether the earlier item's chosen codes make the dependent item shown.
    pub fn is_met_by(&self, chosen: &[String]) -> bool {
        chosen.iter().any(|c| self.codes.contains(c))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemFile {
    id: String,
    section: String,
    kind: ItemKind,
    #[serde(default)]
    dimension: Option<String>,
    text: String,
    #[serde(default)]
    help: Option<String>,
    #[serde(default)]
    options: Option<Vec<ChoiceOption>>,
    #[serde(default)]
    scale: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    max_choices: Option<usize>,
    #[serde(default)]
    show_if: Option<ShowIf>,
    #[serde(default)]
    max_length: Option<usize>,
    /// Checked by the validator, so that a wrong value gets a message naming both choices.
    #[serde(default)]
    denominator: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "rule", rename_all = "lowercase")]
pub enum IndexRule {
    /// Share of valid answers to `items` whose code is in `positive`, pooled over the items.
    Share { items: Vec<String>, positive: Vec<String> },
    /// Unweighted mean of other indices.
    Mean { of: Vec<String> },
}

/// How an index is formed above the units it is first computed for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// From every answer beneath, as one group.
    #[default]
    Pooled,
    /// The unweighted mean of the values of the units at this locality level beneath
    /// (national practice averages provinces); at that level and below, pooled.
    MeanOfChildren(String),
}

impl Aggregate {
    /// The level whose units are averaged, for `mean_of_children`.
    pub fn children_level(&self) -> Option<&str> {
        match self {
            Aggregate::Pooled => None,
            Aggregate::MeanOfChildren(level) => Some(level),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct IndexDefinition {
    pub id: String,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimension: Option<String>,
    #[serde(flatten)]
    pub rule: IndexRule,
    /// Always written out, so that what a form declares is visible (absent in a file: pooled).
    pub aggregate: Aggregate,
}

/// Index as written in a file. A separate type because serde cannot combine a flattened
/// rule with `deny_unknown_fields`.
#[derive(Debug, Deserialize)]
#[serde(tag = "rule", rename_all = "lowercase", deny_unknown_fields)]
enum IndexFile {
    Share {
        id: String,
        label: String,
        #[serde(default)]
        dimension: Option<String>,
        items: Vec<String>,
        positive: Vec<String>,
        #[serde(default)]
        aggregate: Aggregate,
    },
    Mean {
        id: String,
        label: String,
        #[serde(default)]
        dimension: Option<String>,
        of: Vec<String>,
        #[serde(default)]
        aggregate: Aggregate,
    },
}

impl From<IndexFile> for IndexDefinition {
    fn from(file: IndexFile) -> Self {
        match file {
            IndexFile::Share { id, label, dimension, items, positive, aggregate } => IndexDefinition {
                id,
                label: nfc(label),
                dimension,
                rule: IndexRule::Share { items, positive },
                aggregate,
            },
            IndexFile::Mean { id, label, dimension, of, aggregate } => {
                IndexDefinition { id, label: nfc(label), dimension, rule: IndexRule::Mean { of }, aggregate }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FormFile {
    id: String,
    version: String,
    title: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "unique_keys")]
    scales: BTreeMap<String, Vec<ChoiceOption>>,
    sections: Vec<Section>,
    items: Vec<ItemFile>,
    indices: Vec<IndexFile>,
}

/// A JSON object read as a map that refuses a repeated key (serde would keep the last).
fn unique_keys<'de, D>(deserializer: D) -> Result<BTreeMap<String, Vec<ChoiceOption>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct UniqueKeys;
    impl<'de> serde::de::Visitor<'de> for UniqueKeys {
        type Value = BTreeMap<String, Vec<ChoiceOption>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object of scales")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut scales = BTreeMap::new();
            while let Some((name, options)) = map.next_entry::<String, Vec<ChoiceOption>>()? {
                if scales.contains_key(&name) {
                    return Err(serde::de::Error::custom(format!("duplicate scale name \"{name}\"")));
                }
                scales.insert(name, options);
            }
            Ok(scales)
        }
    }
    deserializer.deserialize_map(UniqueKeys)
}

/// One question as the rest of the program sees it: scales expanded, text NFC.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub id: String,
    pub section: String,
    pub kind: ItemKind,
    pub dimension: Option<String>,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    pub options: Vec<ChoiceOption>,
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_choices: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_if: Option<ShowIf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    #[serde(skip_serializing_if = "Denominator::is_default")]
    pub denominator: Denominator,
}

pub const DEFAULT_TEXT_LENGTH: usize = 2000;

/// What an expectation option's share is a share of: the methodology publishes "x% of those
/// asked want …", so every valid form of the group unless the form says otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Denominator {
    #[default]
    ValidForms,
    /// Only those who answered the item with a non-missing code.
    Answered,
}

impl Denominator {
    fn is_default(&self) -> bool {
        *self == Denominator::ValidForms
    }
}

impl Item {
    pub fn is_text(&self) -> bool {
        self.kind == ItemKind::Text
    }
    pub fn is_multiple(&self) -> bool {
        self.max_choices.is_some()
    }
    /// Whether the item puts each respondent in one group at most: a single-choice question
    /// about the respondent (gender, age band, occupation…), what a crosstab breaks down by.
    pub fn splits_respondents(&self) -> bool {
        self.kind == ItemKind::Background && !self.is_multiple() && !self.options.is_empty()
    }
    pub fn option(&self, code: &str) -> Option<&ChoiceOption> {
        self.options.iter().find(|o| o.code == code)
    }
    pub fn text_limit(&self) -> usize {
        self.max_length.unwrap_or(DEFAULT_TEXT_LENGTH)
    }
}

/// A validated questionnaire. Indices are kept in an order where every index comes after
/// the indices it is computed from.
#[derive(Debug, Clone, Serialize)]
pub struct Form {
    pub id: String,
    pub version: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub sections: Vec<Section>,
    pub items: Vec<Item>,
    pub indices: Vec<IndexDefinition>,
    /// SHA-256 of the file's text, hex: what a wave pins, with the text itself.
    pub content_hash: String,
    #[serde(skip)]
    pub source: Arc<str>,
    #[serde(skip)]
    item_positions: HashMap<String, usize>,
}

impl Form {
    pub fn item(&self, id: &str) -> Option<&Item> {
        self.item_positions.get(id).map(|&i| &self.items[i])
    }
    /// SIPAS, the widest indices built only from SIPAS's shares, then their parts (2017: factors; 2023: areas, sub-areas).
    pub fn headline_indices(&self) -> Vec<&IndexDefinition> {
        let by_id: HashMap<&str, &IndexDefinition> = self.indices.iter().map(|i| (i.id.as_str(), i)).collect();
        fn add_shares<'a>(by_id: &HashMap<&str, &'a IndexDefinition>, id: &str, found: &mut HashSet<&'a str>) {
            match by_id.get(id).map(|i| (i.id.as_str(), &i.rule)) {
                Some((id, IndexRule::Share { .. })) => {
                    found.insert(id);
                }
                Some((_, IndexRule::Mean { of })) => of.iter().for_each(|part| add_shares(by_id, part, found)),
                None => {}
            }
        }
        let shares_of = |id: &str| {
            let mut found = HashSet::new();
            add_shares(&by_id, id, &mut found);
            found
        };
        fn parts_of(index: &IndexDefinition) -> &[String] {
            match &index.rule {
                IndexRule::Mean { of } => of,
                IndexRule::Share { .. } => &[],
            }
        }
        let of_sipas = shares_of("sipas");
        let covered: Vec<&IndexDefinition> =
            self.indices.iter().filter(|i| i.id != "sipas" && shares_of(&i.id).is_subset(&of_sipas)).collect();
        let inside_another: HashSet<&str> = covered.iter().flat_map(|i| parts_of(i)).map(String::as_str).collect();
        let widest: Vec<&IndexDefinition> =
            covered.into_iter().filter(|i| !inside_another.contains(i.id.as_str())).collect();
        let ids = std::iter::once("sipas")
            .chain(widest.iter().map(|i| i.id.as_str()))
            .chain(widest.iter().flat_map(|i| parts_of(i)).map(String::as_str));
        let mut seen = HashSet::new();
        ids.filter(|id| seen.insert(*id)).filter_map(|id| by_id.get(id).copied()).collect()
    }

    pub fn items_in<'a>(&'a self, section: &'a str) -> impl Iterator<Item = &'a Item> + 'a {
        self.items.iter().filter(move |i| i.section == section)
    }
}

/// The questionnaires: every version loaded from the files, and the forms waves pinned.
#[derive(Debug, Default)]
pub struct FormRegistry {
    /// Each form's versions as loaded from `survey_forms/`, oldest first.
    files: BTreeMap<String, Vec<Arc<Form>>>,
    /// Forms by content hash, each parsed once: the files' and those waves pinned.
    by_hash: RwLock<HashMap<String, Arc<Form>>>,
}

impl FormRegistry {
    pub fn new(forms: Vec<Form>) -> Self {
        let mut files: BTreeMap<String, Vec<Arc<Form>>> = BTreeMap::new();
        let mut by_hash = HashMap::new();
        for form in forms {
            let form = Arc::new(form);
            by_hash.insert(form.content_hash.clone(), form.clone());
            files.entry(form.id.clone()).or_default().push(form);
        }
        for versions in files.values_mut() {
            versions.sort_by(|a, b| compare_versions(&a.version, &b.version));
        }
        Self { files, by_hash: RwLock::new(by_hash) }
    }
    /// What `form_id` alone means: the newest version.
    pub fn newest(&self, id: &str) -> Option<Arc<Form>> {
        self.files.get(id).and_then(|v| v.last()).cloned()
    }
    pub fn version(&self, id: &str, version: &str) -> Option<Arc<Form>> {
        self.files.get(id)?.iter().find(|f| f.version == version).cloned()
    }
    /// Every loaded version of a form, oldest first.
    pub fn versions(&self, id: &str) -> &[Arc<Form>] {
        self.files.get(id).map_or(&[], Vec::as_slice)
    }
    /// The newest version of each form.
    pub fn all_newest(&self) -> impl Iterator<Item = &Form> {
        self.files.values().filter_map(|v| v.last()).map(|f| f.as_ref())
    }
    /// A form by content hash, if loaded or pinned before.
    pub fn by_hash(&self, hash: &str) -> Option<Arc<Form>> {
        self.by_hash.read().unwrap_or_else(|e| e.into_inner()).get(hash).cloned()
    }
    /// Keeps a pinned form parsed for the next request.
    pub fn remember(&self, form: Form) -> Arc<Form> {
        let form = Arc::new(form);
        let mut by_hash = self.by_hash.write().unwrap_or_else(|e| e.into_inner());
        by_hash.entry(form.content_hash.clone()).or_insert(form).clone()
    }
}

/// Orders versions such as "2017.2" < "2017.10": dot-separated parts compared as numbers
/// where both are numbers.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let part = |p: &str| p.parse::<u64>().map_err(|_| p.to_string());
    a.split('.').map(part).cmp(b.split('.').map(part))
}

/// One problem in a form file, located by JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormError {
    pub file: String,
    pub path: String,
    pub message: String,
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.path, self.message)
    }
}

/// Reads one form file. `expected_stem` is the file stem: a form's id names its file, as
/// `<id>` (the newest version) or `<id>@<version>` (an earlier one kept beside it).
pub fn parse_form(file: &str, json: &str, expected_stem: Option<&str>) -> Result<Form, Vec<FormError>> {
    let deserializer = &mut serde_json::Deserializer::from_str(json);
    let raw: FormFile = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { "$".to_string() } else { format!("$.{path}") };
        vec![FormError { file: file.to_string(), path, message: e.into_inner().to_string() }]
    })?;
    let mut form = Validator::new(file).run(normalize(raw), expected_stem)?;
    form.content_hash = hex::encode(sha2::Sha256::digest(json.as_bytes()));
    form.source = json.into();
    Ok(form)
}

/// Loads every `*.json` form in a directory except the schema, sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<Form>, Vec<FormError>> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| vec![io_error(dir, e)])?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| p.file_stem().is_some_and(|s| s != "schema"))
        .collect();
    entries.sort();
    let mut forms = Vec::new();
    // Each form's version in its plain `<id>.json` file.
    let mut plain_files = HashMap::new();
    let mut errors = Vec::new();
    for path in entries {
        let name = path.file_name().unwrap_or_default().to_string_lossy().to_string();
        let stem = path.file_stem().unwrap_or_default().to_string_lossy().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => match parse_form(&name, &text, Some(&stem)) {
                Ok(form) => {
                    if !stem.contains('@') {
                        plain_files.insert(form.id.clone(), form.version.clone());
                    }
                    forms.push(form)
                }
                Err(mut e) => errors.append(&mut e),
            },
            Err(e) => errors.push(io_error(&path, e)),
        }
    }
    check_newest_in_plain_file(&forms, &plain_files, &mut errors);
    if errors.is_empty() { Ok(forms) } else { Err(errors) }
}

/// `<id>.json` holds the newest version, and no two files hold one version.
fn check_newest_in_plain_file(forms: &[Form], plain_files: &HashMap<String, String>, errors: &mut Vec<FormError>) {
    let mut seen = HashSet::new();
    for form in forms {
        if !seen.insert((&form.id, &form.version)) {
            errors.push(FormError {
                file: format!("{}@{}.json", form.id, form.version),
                path: "$.version".into(),
                message: format!("version \"{}\" of \"{}\" is in two files", form.version, form.id),
            });
        }
    }
    let newest = |id: &str| forms.iter().filter(|f| f.id == id).max_by(|a, b| compare_versions(&a.version, &b.version));
    for (id, plain_version) in plain_files {
        if let Some(newer) = newest(id).filter(|n| compare_versions(&n.version, plain_version).is_gt()) {
            errors.push(FormError {
                file: format!("{id}.json"),
                path: "$.version".into(),
                message: format!(
                    "\"{}\" is older than version \"{}\" in {}@{}.json: the newest version goes in {}.json",
                    plain_version, newer.version, id, newer.version, id
                ),
            });
        }
    }
}

fn io_error(path: &Path, e: std::io::Error) -> FormError {
    FormError { file: path.display().to_string(), path: "$".into(), message: e.to_string() }
}

fn nfc(s: String) -> String {
    s.nfc().collect()
}

fn normalize_options(options: Vec<ChoiceOption>) -> Vec<ChoiceOption> {
    options.into_iter().map(|o| ChoiceOption { label: nfc(o.label), ..o }).collect()
}

fn normalize(mut raw: FormFile) -> FormFile {
    raw.title = nfc(raw.title);
    raw.description = raw.description.map(nfc);
    raw.scales = raw.scales.into_iter().map(|(k, v)| (k, normalize_options(v))).collect();
    for section in &mut raw.sections {
        section.title = nfc(std::mem::take(&mut section.title));
        section.description = section.description.take().map(nfc);
    }
    for item in &mut raw.items {
        item.text = nfc(std::mem::take(&mut item.text));
        item.help = item.help.take().map(nfc);
        item.options = item.options.take().map(normalize_options);
    }
    raw
}

fn is_identifier(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

struct Validator {
    file: String,
    errors: Vec<FormError>,
}

impl Validator {
    fn new(file: &str) -> Self {
        Self { file: file.to_string(), errors: Vec::new() }
    }

    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FormError { file: self.file.clone(), path: path.into(), message: message.into() });
    }

    fn check_identifier(&mut self, path: &str, id: &str) {
        if !is_identifier(id) {
            self.error(
                path,
                format!("\"{id}\" is not a valid id (lowercase letters, digits and _, starting with a letter)"),
            );
        }
    }

    fn check_options(&mut self, path: &str, options: &[ChoiceOption]) {
        let mut seen = HashSet::new();
        for (i, option) in options.iter().enumerate() {
            let code_ok = !option.code.is_empty()
                && option.code.len() <= 32
                && option.code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !code_ok {
                self.error(
                    format!("{path}[{i}].code"),
                    format!("\"{}\" is not a valid option code (letters, digits, _ and -)", option.code),
                );
            }
            if option.label.trim().is_empty() {
                self.error(format!("{path}[{i}].label"), "label is empty");
            }
            if !seen.insert(option.code.as_str()) {
                self.error(format!("{path}[{i}].code"), format!("duplicate option code \"{}\"", option.code));
            }
        }
    }

    fn run(mut self, raw: FormFile, expected_stem: Option<&str>) -> Result<Form, Vec<FormError>> {
        let form_id_ok = raw.id.starts_with(|c: char| c.is_ascii_lowercase())
            && raw.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !form_id_ok {
            self.error("$.id", format!("\"{}\" is not a valid form id (lowercase letters, digits and -)", raw.id));
        }
        if let Some(stem) = expected_stem {
            match stem.split_once('@') {
                None if raw.id != stem => {
                    self.error("$.id", format!("form id \"{}\" must match its file name \"{stem}\"", raw.id))
                }
                Some((id, version)) if raw.id != id || raw.version != version => self.error(
                    "$.version",
                    format!(
                        "an earlier version's file is named \"{}@{}.json\", not \"{stem}.json\"",
                        raw.id, raw.version
                    ),
                ),
                _ => {}
            }
        }
        for (name, options) in &raw.scales {
            self.check_identifier(&format!("$.scales.{name}"), name);
            self.check_options(&format!("$.scales.{name}"), options);
        }

        let mut section_ids = HashSet::new();
        for (i, section) in raw.sections.iter().enumerate() {
            self.check_identifier(&format!("$.sections[{i}].id"), &section.id);
            if !section_ids.insert(section.id.clone()) {
                self.error(format!("$.sections[{i}].id"), format!("duplicate section id \"{}\"", section.id));
            }
        }

        let items = self.items(&raw, &section_ids);
        let item_positions: HashMap<String, usize> =
            items.iter().enumerate().map(|(i, item)| (item.id.clone(), i)).collect();
        let indices = self.indices(raw.indices.into_iter().map(Into::into).collect(), &items, &item_positions);

        if self.errors.is_empty() {
            Ok(Form {
                id: raw.id,
                version: raw.version,
                title: raw.title,
                description: raw.description,
                sections: raw.sections,
                items,
                indices,
                content_hash: String::new(),
                source: Arc::from(""),
                item_positions,
            })
        } else {
            Err(self.errors)
        }
    }

    fn items(&mut self, raw: &FormFile, section_ids: &HashSet<String>) -> Vec<Item> {
        let mut items: Vec<Item> = Vec::with_capacity(raw.items.len());
        let mut positions: HashMap<&str, usize> = HashMap::new();
        for (i, file_item) in raw.items.iter().enumerate() {
            let path = format!("$.items[{i}]");
            self.check_identifier(&format!("{path}.id"), &file_item.id);
            if positions.contains_key(file_item.id.as_str()) {
                self.error(format!("{path}.id"), format!("duplicate item id \"{}\"", file_item.id));
            }
            if file_item.text.trim().is_empty() {
                self.error(format!("{path}.text"), "question text is empty");
            }
            if let Some(dimension) = &file_item.dimension
                && !dimension.split('.').all(is_identifier)
            {
                self.error(format!("{path}.dimension"), format!("\"{dimension}\" is not a dotted path of ids"));
            }
            if !section_ids.contains(&file_item.section) {
                self.error(format!("{path}.section"), format!("section \"{}\" is not defined", file_item.section));
            }
            let options = self.item_options(&path, file_item, &raw.scales);
            if let Some(max) = file_item.max_choices
                && (max == 0 || max > options.len())
            {
                self.error(
                    format!("{path}.max_choices"),
                    format!("max_choices must be between 1 and the number of options ({})", options.len()),
                );
            }
            if file_item.max_length.is_some() && file_item.kind != ItemKind::Text {
                self.error(format!("{path}.max_length"), "max_length applies to text items only");
            }
            if let Some(show_if) = &file_item.show_if {
                self.check_show_if(&path, file_item, show_if, &positions, &items);
            }
            let denominator = self.denominator(&path, file_item);
            positions.entry(file_item.id.as_str()).or_insert(i);
            items.push(Item {
                id: file_item.id.clone(),
                section: file_item.section.clone(),
                kind: file_item.kind,
                dimension: file_item.dimension.clone(),
                text: file_item.text.clone(),
                help: file_item.help.clone(),
                options,
                required: file_item.required,
                max_choices: file_item.max_choices,
                show_if: file_item.show_if.clone(),
                max_length: file_item.max_length,
                denominator,
            });
        }
        items
    }

    fn denominator(&mut self, path: &str, item: &ItemFile) -> Denominator {
        let Some(value) = &item.denominator else { return Denominator::default() };
        let path = format!("{path}.denominator");
        if item.kind != ItemKind::Expectation {
            self.error(path, "denominator applies to expectation items only");
            return Denominator::default();
        }
        match value.as_str() {
            "valid_forms" => Denominator::ValidForms,
            "answered" => Denominator::Answered,
            other => {
                self.error(
                    path,
                    format!(
                        "\"{other}\" is not a denominator: use \"valid_forms\" (every valid form of the group) \
                         or \"answered\" (those who answered the item)"
                    ),
                );
                Denominator::default()
            }
        }
    }

    fn item_options(
        &mut self,
        path: &str,
        item: &ItemFile,
        scales: &BTreeMap<String, Vec<ChoiceOption>>,
    ) -> Vec<ChoiceOption> {
        match (&item.options, &item.scale, item.kind) {
            (None, None, ItemKind::Text) => Vec::new(),
            (Some(_), _, ItemKind::Text) | (_, Some(_), ItemKind::Text) => {
                self.error(path.to_string(), "a text item has neither options nor scale");
                Vec::new()
            }
            (Some(_), Some(_), _) => {
                self.error(path.to_string(), "give either options or scale, not both");
                Vec::new()
            }
            (None, None, _) => {
                self.error(path.to_string(), "a choice item needs options or a scale");
                Vec::new()
            }
            (Some(options), None, _) => {
                let options_path = format!("{path}.options");
                self.check_options(&options_path, options);
                if options.is_empty() {
                    self.error(options_path, "a choice item needs at least one option");
                }
                options.clone()
            }
            (None, Some(scale), _) => match scales.get(scale) {
                Some(options) => options.clone(),
                None => {
                    self.error(format!("{path}.scale"), format!("scale \"{scale}\" is not defined"));
                    Vec::new()
                }
            },
        }
    }

    fn check_show_if(
        &mut self,
        path: &str,
        item: &ItemFile,
        show_if: &ShowIf,
        earlier: &HashMap<&str, usize>,
        items: &[Item],
    ) {
        let path = format!("{path}.show_if");
        if show_if.item == item.id {
            self.error(format!("{path}.item"), "an item cannot depend on itself");
            return;
        }
        let Some(&target) = earlier.get(show_if.item.as_str()) else {
            self.error(
                format!("{path}.item"),
                format!("\"{}\" is not an earlier item: show_if may only look back", show_if.item),
            );
            return;
        };
        let target = &items[target];
        if target.is_text() {
            self.error(format!("{path}.item"), format!("\"{}\" is a text item and has no codes", target.id));
            return;
        }
        if show_if.codes.is_empty() {
            self.error(format!("{path}.in"), "list at least one code");
        }
        for (i, code) in show_if.codes.iter().enumerate() {
            if target.option(code).is_none() {
                self.error(
                    format!("{path}.in[{i}]"),
                    format!("\"{code}\" is not an option code of item \"{}\"", target.id),
                );
            }
        }
    }

    fn indices(
        &mut self,
        indices: Vec<IndexDefinition>,
        items: &[Item],
        item_positions: &HashMap<String, usize>,
    ) -> Vec<IndexDefinition> {
        let mut positions: HashMap<String, usize> = HashMap::new();
        for (i, index) in indices.iter().enumerate() {
            let path = format!("$.indices[{i}]");
            self.check_identifier(&format!("{path}.id"), &index.id);
            if positions.insert(index.id.clone(), i).is_some() {
                self.error(format!("{path}.id"), format!("duplicate index id \"{}\"", index.id));
            }
        }
        if !positions.contains_key("sipas") {
            self.error("$.indices", "no index has id \"sipas\"");
        }
        for (i, index) in indices.iter().enumerate() {
            let path = format!("$.indices[{i}]");
            if let Some(level) = index.aggregate.children_level().filter(|l| !is_level(l)) {
                self.error(
                    format!("{path}.aggregate.mean_of_children"),
                    format!("\"{level}\" is not a locality level (lowercase letters and _)"),
                );
            }
            match &index.rule {
                IndexRule::Share { items: ids, positive } => {
                    for (list, name) in [(ids, "items"), (positive, "positive")] {
                        if let Some(twice) = list.iter().enumerate().find(|(j, id)| list[..*j].contains(id)) {
                            self.error(
                                format!("{path}.{name}[{}]", twice.0),
                                format!("\"{}\" is listed twice", twice.1),
                            );
                        }
                    }
                    if ids.is_empty() {
                        self.error(format!("{path}.items"), "list at least one item");
                    }
                    if positive.is_empty() {
                        self.error(format!("{path}.positive"), "list at least one positive code");
                    }
                    for (j, id) in ids.iter().enumerate() {
                        let Some(item) = item_positions.get(id).map(|&p| &items[p]) else {
                            self.error(format!("{path}.items[{j}]"), format!("item \"{id}\" is not defined"));
                            continue;
                        };
                        if item.is_text() {
                            self.error(format!("{path}.items[{j}]"), format!("\"{id}\" is a text item"));
                            continue;
                        }
                        // Counters hold codes, not respondents: with several positive codes
                        // (or items) a respondent ticking two would be counted twice.
                        if item.is_multiple() && (ids.len() > 1 || positive.len() > 1) {
                            self.error(
                                format!("{path}.items[{j}]"),
                                format!("multi-select item \"{id}\" needs an index of its own with one positive code"),
                            );
                        }
                        for (k, code) in positive.iter().enumerate() {
                            if item.option(code).is_none() {
                                self.error(
                                    format!("{path}.positive[{k}]"),
                                    format!("\"{code}\" is not an option code of item \"{id}\""),
                                );
                            }
                        }
                    }
                }
                IndexRule::Mean { of } => {
                    if let Some(twice) = of.iter().enumerate().find(|(j, id)| of[..*j].contains(id)) {
                        self.error(format!("{path}.of[{}]", twice.0), format!("\"{}\" is listed twice", twice.1));
                    }
                    if of.is_empty() {
                        self.error(format!("{path}.of"), "list at least one index");
                    }
                    for (j, id) in of.iter().enumerate() {
                        if !positions.contains_key(id) {
                            self.error(format!("{path}.of[{j}]"), format!("index \"{id}\" is not defined"));
                        }
                    }
                }
            }
        }
        self.dependency_order(indices, &positions)
    }

    /// Orders indices so that each follows its parts; reports any cycle by its path.
    fn dependency_order(
        &mut self,
        indices: Vec<IndexDefinition>,
        positions: &HashMap<String, usize>,
    ) -> Vec<IndexDefinition> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Visiting,
            Done,
        }
        fn visit(
            i: usize,
            indices: &[IndexDefinition],
            positions: &HashMap<String, usize>,
            marks: &mut [Mark],
            order: &mut Vec<usize>,
            trail: &mut Vec<String>,
        ) -> Result<(), Vec<String>> {
            match marks[i] {
                Mark::Done => return Ok(()),
                Mark::Visiting => {
                    let start = trail.iter().position(|id| *id == indices[i].id).unwrap_or(0);
                    let mut cycle = trail[start..].to_vec();
                    cycle.push(indices[i].id.clone());
                    return Err(cycle);
                }
                Mark::New => {}
            }
            marks[i] = Mark::Visiting;
            trail.push(indices[i].id.clone());
            if let IndexRule::Mean { of } = &indices[i].rule {
                for id in of {
                    if let Some(&j) = positions.get(id) {
                        visit(j, indices, positions, marks, order, trail)?;
                    }
                }
            }
            trail.pop();
            marks[i] = Mark::Done;
            order.push(i);
            Ok(())
        }

        let mut marks = vec![Mark::New; indices.len()];
        let mut order = Vec::with_capacity(indices.len());
        for i in 0..indices.len() {
            let mut trail = Vec::new();
            if let Err(cycle) = visit(i, &indices, positions, &mut marks, &mut order, &mut trail) {
                self.error(format!("$.indices[{i}].of"), format!("cyclic index definition: {}", cycle.join(" → ")));
                return indices;
            }
        }
        let mut slots: Vec<Option<IndexDefinition>> = indices.into_iter().map(Some).collect();
        order.into_iter().filter_map(|i| slots[i].take()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn minimal() -> Value {
        json!({
            "id": "mini", "version": "1", "title": "Phiếu thử",
            "scales": {"sat": [
                {"code": "1", "label": "Không hài lòng"},
                {"code": "5", "label": "Hài lòng"},
                {"code": "0", "label": "Không trả lời", "missing": true}
            ]},
            "sections": [{"id": "s", "title": "Phần một"}],
            "items": [
                {"id": "type", "section": "s", "kind": "background", "text": "Loại",
                 "options": [{"code": "1", "label": "Cá nhân"}, {"code": "2", "label": "Tổ chức"}], "required": true},
                {"id": "org", "section": "s", "kind": "text", "text": "Tên tổ chức",
                 "show_if": {"item": "type", "in": ["2"]}},
                {"id": "sat", "section": "s", "kind": "satisfaction", "text": "Hài lòng?", "scale": "sat", "required": true}
            ],
            "indices": [
                {"id": "sipas", "label": "SIPAS", "rule": "mean", "of": ["sat"]},
                {"id": "sat", "label": "Hài lòng", "rule": "share", "items": ["sat"], "positive": ["5"]}
            ]
        })
    }

    fn errors_of(value: Value) -> Vec<String> {
        match parse_form("mini.json", &value.to_string(), Some("mini")) {
            Ok(_) => vec![],
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    fn assert_rejected(value: Value, expected: &str) {
        let errors = errors_of(value);
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "expected an error containing {expected:?}, got {errors:?}"
        );
    }

    #[test]
    fn minimal_form_loads_with_scales_expanded_and_indices_ordered() {
        let form = parse_form("mini.json", &minimal().to_string(), Some("mini")).unwrap();
        assert_eq!(form.item("sat").unwrap().options.len(), 3);
        let order: Vec<_> = form.indices.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(order, ["sat", "sipas"]);
        let headline: Vec<_> = form.headline_indices().iter().map(|i| i.id.as_str()).collect();
        assert_eq!(headline, ["sipas", "sat"]);
    }

    #[test]
    fn text_is_normalised_to_nfc() {
        let mut form = minimal();
        form["title"] = json!("Phie\u{302}\u{301}u"); // decomposed "Phiếu"
        let form = parse_form("mini.json", &form.to_string(), Some("mini")).unwrap();
        assert_eq!(form.title, "Phiếu");
    }

    #[test]
    fn unknown_key_is_rejected_with_its_path() {
        let mut form = minimal();
        form["items"][2]["colour"] = json!("red");
        assert_rejected(form, "mini.json: $.items[2].colour: unknown field `colour`");
    }

    #[test]
    fn an_expectation_declares_its_denominator_and_other_values_are_rejected() {
        let wish = |denominator: Value| {
            let mut form = minimal();
            let mut item = json!({"id": "wish", "section": "s", "kind": "expectation", "text": "Mong muốn",
                                  "max_choices": 2, "options": [{"code": "a", "label": "A"}, {"code": "b", "label": "B"}]});
            if !denominator.is_null() {
                item["denominator"] = denominator;
            }
            form["items"].as_array_mut().unwrap().push(item);
            form
        };
        let parsed = |value: Value| parse_form("mini.json", &value.to_string(), Some("mini")).unwrap();
        assert_eq!(parsed(wish(Value::Null)).item("wish").unwrap().denominator, Denominator::ValidForms);
        assert_eq!(parsed(wish(json!("answered"))).item("wish").unwrap().denominator, Denominator::Answered);
        assert_rejected(
            wish(json!("respondents")),
            "mini.json: $.items[3].denominator: \"respondents\" is not a denominator: use \"valid_forms\"",
        );
        let mut on_satisfaction = minimal();
        on_satisfaction["items"][2]["denominator"] = json!("answered");
        assert_rejected(on_satisfaction, "$.items[2].denominator: denominator applies to expectation items only");
    }

    #[test]
    fn duplicate_item_id_is_rejected() {
        let mut form = minimal();
        form["items"][2]["id"] = json!("type");
        assert_rejected(form, "$.items[2].id: duplicate item id \"type\"");
    }

    #[test]
    fn duplicate_option_code_is_rejected() {
        let mut form = minimal();
        form["items"][0]["options"][1]["code"] = json!("1");
        assert_rejected(form, "$.items[0].options[1].code: duplicate option code \"1\"");
    }

    #[test]
    fn duplicate_index_id_is_rejected() {
        let mut form = minimal();
        form["indices"][0]["id"] = json!("sat");
        assert_rejected(form, "$.indices[1].id: duplicate index id \"sat\"");
    }

    #[test]
    fn undefined_option_code_in_index_is_rejected() {
        let mut form = minimal();
        form["indices"][1]["positive"] = json!(["4"]);
        assert_rejected(form, "$.indices[1].positive[0]: \"4\" is not an option code of item \"sat\"");
    }

    #[test]
    fn undefined_option_code_in_show_if_is_rejected() {
        let mut form = minimal();
        form["items"][1]["show_if"]["in"] = json!(["9"]);
        assert_rejected(form, "$.items[1].show_if.in[0]: \"9\" is not an option code of item \"type\"");
    }

    #[test]
    fn show_if_pointing_at_a_later_item_is_rejected() {
        let mut form = minimal();
        form["items"][1]["show_if"] = json!({"item": "sat", "in": ["5"]});
        assert_rejected(form, "$.items[1].show_if.item: \"sat\" is not an earlier item");
    }

    #[test]
    fn cyclic_index_definition_is_rejected() {
        let mut form = minimal();
        form["indices"][1] = json!({"id": "sat", "label": "x", "rule": "mean", "of": ["sipas"]});
        assert_rejected(form, "cyclic index definition: sipas → sat → sipas");
    }

    #[test]
    fn undefined_references_are_rejected() {
        let mut form = minimal();
        form["items"][2]["scale"] = json!("nope");
        form["items"][0]["section"] = json!("elsewhere");
        form["indices"][0]["of"] = json!(["ghost"]);
        let errors = errors_of(form).join("\n");
        assert!(errors.contains("$.items[2].scale: scale \"nope\" is not defined"), "{errors}");
        assert!(errors.contains("$.items[0].section: section \"elsewhere\" is not defined"), "{errors}");
        assert!(errors.contains("$.indices[0].of[0]: index \"ghost\" is not defined"), "{errors}");
    }

    #[test]
    fn share_of_several_codes_of_a_multi_select_item_is_rejected() {
        let mut form = minimal();
        form["items"][0]["max_choices"] = json!(2);
        form["indices"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "both", "label": "x", "rule": "share", "items": ["type"], "positive": ["1", "2"]}));
        assert_rejected(
            form,
            "$.indices[2].items[0]: multi-select item \"type\" needs an index of its own with one positive code",
        );
    }

    #[test]
    fn repeated_scale_name_is_rejected_not_overwritten() {
        let json = minimal().to_string().replacen(
            "\"scales\":{",
            "\"scales\":{\"sat\":[{\"code\":\"1\",\"label\":\"x\"}],",
            1,
        );
        let errors = parse_form("mini.json", &json, Some("mini")).unwrap_err();
        assert!(errors[0].to_string().contains("duplicate scale name \"sat\""), "{errors:?}");
    }

    #[test]
    fn empty_text_bad_codes_bad_dimensions_and_repeated_references_are_rejected() {
        let mut form = minimal();
        form["items"][2]["text"] = json!(" ");
        form["items"][0]["options"][0]["code"] = json!("một");
        form["items"][2]["dimension"] = json!("Service Access");
        form["indices"][1]["positive"] = json!(["5", "5"]);
        let errors = errors_of(form).join("\n");
        assert!(errors.contains("$.items[2].text: question text is empty"), "{errors}");
        assert!(errors.contains("$.items[0].options[0].code: \"một\" is not a valid option code"), "{errors}");
        assert!(errors.contains("$.items[2].dimension: \"Service Access\" is not a dotted path of ids"), "{errors}");
        assert!(errors.contains("$.indices[1].positive[1]: \"5\" is listed twice"), "{errors}");
    }

    #[test]
    fn aggregation_is_pooled_unless_declared_and_names_a_level() {
        let mut form = minimal();
        form["indices"][0]["aggregate"] = json!({"mean_of_children": "province"});
        let parsed = parse_form("mini.json", &form.to_string(), Some("mini")).unwrap();
        let aggregate = |id: &str| parsed.indices.iter().find(|i| i.id == id).unwrap().aggregate.clone();
        assert_eq!(aggregate("sipas"), Aggregate::MeanOfChildren("province".into()));
        assert_eq!(aggregate("sat"), Aggregate::Pooled);
        form["indices"][0]["aggregate"] = json!({"mean_of_children": "Tỉnh"});
        assert_rejected(form.clone(), "$.indices[0].aggregate.mean_of_children: \"Tỉnh\" is not a locality level");
        form["indices"][0]["aggregate"] = json!("average");
        assert_rejected(form, "unknown variant `average`");
    }

    #[test]
    fn form_without_sipas_index_is_rejected() {
        let mut form = minimal();
        form["indices"][0]["id"] = json!("total");
        assert_rejected(form, "$.indices: no index has id \"sipas\"");
    }

    #[test]
    fn max_choices_beyond_options_is_rejected() {
        let mut form = minimal();
        form["items"][0]["max_choices"] = json!(5);
        assert_rejected(form, "$.items[0].max_choices: max_choices must be between 1 and the number of options (2)");
    }

    #[test]
    fn form_id_must_match_file_name() {
        let mut form = minimal();
        form["id"] = json!("other");
        assert_rejected(form, "$.id: form id \"other\" must match its file name \"mini\"");
    }

    fn shipped(id: &str) -> Form {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("survey_forms").join(format!("{id}.json"));
        let json = std::fs::read_to_string(path).unwrap();
        parse_form(&format!("{id}.json"), &json, Some(id)).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn headline(form: &Form) -> Vec<&str> {
        form.headline_indices().iter().map(|i| i.id.as_str()).collect()
    }

    #[test]
    fn headline_is_sipas_then_the_widest_indices_it_covers_then_their_parts() {
        let mut form = minimal();
        form["items"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "sat2", "section": "s", "kind": "satisfaction", "text": "Hài lòng 2?", "scale": "sat"}));
        // SIPAS averages the two item shares directly; "area" groups the same shares and
        // "other" averages a share outside SIPAS, so only "area" and its part lead.
        form["indices"] = json!([
            {"id": "sipas", "label": "SIPAS", "rule": "mean", "of": ["sat", "sat2"]},
            {"id": "area", "label": "Lĩnh vực", "rule": "mean", "of": ["sub"]},
            {"id": "sub", "label": "Nhóm", "rule": "mean", "of": ["sat", "sat2"]},
            {"id": "other", "label": "Khác", "rule": "mean", "of": ["sat", "type_share"]},
            {"id": "sat", "label": "Hài lòng", "rule": "share", "items": ["sat"], "positive": ["5"]},
            {"id": "sat2", "label": "Hài lòng 2", "rule": "share", "items": ["sat2"], "positive": ["5"]},
            {"id": "type_share", "label": "Cá nhân", "rule": "share", "items": ["type"], "positive": ["1"]}
        ]);
        let form = parse_form("mini.json", &form.to_string(), Some("mini")).unwrap();
        assert_eq!(headline(&form), ["sipas", "area", "sub"]);
    }

    #[test]
    fn shipped_headlines_are_sipas_with_factors_or_areas_and_sub_areas() {
        assert_eq!(
            headline(&shipped("sipas-2017")),
            ["sipas", "access", "procedures", "civil_servants", "results", "feedback"]
        );
        let form_2023 = shipped("sipas-2023");
        let IndexRule::Mean { of } = &form_2023.indices.iter().find(|i| i.id == "sipas").unwrap().rule else {
            panic!("sipas is a mean")
        };
        assert_eq!(of.len(), 39, "SIPAS 2023 averages the 39 satisfaction items");
        assert_eq!(
            headline(&form_2023),
            [
                "sipas",
                "area_policy",
                "area_services",
                "accountability",
                "participation",
                "policy_quality",
                "policy_results",
                "access",
                "procedures",
                "civil_servants",
                "results",
                "feedback"
            ]
        );
    }

    #[test]
    fn sipas_2023_is_the_mean_of_its_39_items_not_of_its_two_areas() {
        use crate::domain::{answers, indices::IndexPlan, tally};
        let form = shipped("sipas-2023");
        let policy_items: Vec<&str> = form
            .items
            .iter()
            .filter(|i| i.kind == ItemKind::Satisfaction && i.dimension.as_deref().unwrap_or("").starts_with("policy."))
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(policy_items.len(), 23);
        // Respondent 1: every item at 5. Respondent 2: area I at 1, area II at 5.
        // Respondent 3: every item "0" (missing), which must change no figure.
        let respondent = |policy: &str, service: &str| -> BTreeMap<String, Vec<String>> {
            form.items
                .iter()
                .filter(|i| !i.is_text() && i.show_if.is_none())
                .map(|i| {
                    let code = match i.kind {
                        ItemKind::Satisfaction if policy_items.contains(&i.id.as_str()) => policy,
                        ItemKind::Satisfaction => service,
                        _ => &i.options[0].code,
                    };
                    (i.id.clone(), vec![code.to_string()])
                })
                .collect()
        };
        let mut layout = tally::Layout::default();
        layout.extend_for(&form);
        let mut counts = tally::Tally::default();
        for (policy, service) in [("5", "5"), ("1", "5"), ("0", "0")] {
            let valid = answers::validate(&form, &respondent(policy, service)).unwrap();
            for (slot, n) in tally::increments(&form, &layout, &valid) {
                counts.add(slot, n);
            }
        }
        let plan = IndexPlan::new(&form, &layout);
        let figures = plan.labelled(plan.compute(&counts, 3));
        let value = |id: &str| figures.iter().find(|f| f.id == id).unwrap().figure.value.unwrap();
        assert_eq!(value("area_policy"), 50.0);
        assert_eq!(value("area_services"), 100.0);
        assert_eq!(figures.iter().find(|f| f.id == "accountability_info_forms").unwrap().figure.n, 2);
        // 23 items at 1/2 and 16 at 2/2: (23 × 50 + 16 × 100) / 39, not (50 + 100) / 2.
        assert!((value("sipas") - 2750.0 / 39.0).abs() < 1e-9, "{}", value("sipas"));
    }

    #[test]
    fn earlier_version_file_is_named_with_its_version() {
        let form = minimal().to_string();
        assert!(parse_form("mini@1.json", &form, Some("mini@1")).is_ok());
        let errors = parse_form("mini@2.json", &form, Some("mini@2")).unwrap_err();
        assert_eq!(errors[0].message, "an earlier version's file is named \"mini@1.json\", not \"mini@2.json\"");
    }

    fn write_versions(dir: &Path, versions: &[(&str, &str)]) {
        for (file, version) in versions {
            let mut form = minimal();
            form["version"] = json!(version);
            std::fs::write(dir.join(file), form.to_string()).unwrap();
        }
    }

    #[test]
    fn registry_keeps_every_version_and_form_id_alone_means_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        write_versions(dir.path(), &[("mini.json", "2017.10"), ("mini@2017.2.json", "2017.2")]);
        let registry = FormRegistry::new(load_dir(dir.path()).unwrap());
        assert_eq!(registry.newest("mini").unwrap().version, "2017.10");
        let versions: Vec<_> = registry.versions("mini").iter().map(|f| f.version.as_str()).collect();
        assert_eq!(versions, ["2017.2", "2017.10"]);
        let older = registry.version("mini", "2017.2").unwrap();
        assert_ne!(older.content_hash, registry.newest("mini").unwrap().content_hash);
        assert_eq!(registry.by_hash(&older.content_hash).unwrap().version, "2017.2");
    }

    #[test]
    fn an_older_version_in_the_plain_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        write_versions(dir.path(), &[("mini.json", "2"), ("mini@3.json", "3")]);
        let errors: Vec<String> = load_dir(dir.path()).unwrap_err().iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [
                "mini.json: $.version: \"2\" is older than version \"3\" in mini@3.json: the newest version goes in mini.json"
            ]
        );
    }

    #[test]
    fn content_hash_is_the_files_sha256_and_the_text_is_kept() {
        let text = minimal().to_string();
        let form = parse_form("mini.json", &text, Some("mini")).unwrap();
        assert_eq!(form.content_hash, hex::encode(sha2::Sha256::digest(text.as_bytes())));
        assert_eq!(&*form.source, text);
    }

    #[test]
    fn shipped_forms_load_cleanly() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("survey_forms");
        let forms = load_dir(&dir)
            .unwrap_or_else(|e| panic!("{}", e.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")));
        let ids: Vec<_> = forms.iter().map(|f| f.id.as_str()).collect();
        assert!(ids.contains(&"sipas-2017") && ids.contains(&"sipas-2023"), "{ids:?}");
    }
}
