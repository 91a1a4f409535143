//! Agencies' lists of people who completed procedures: finding the header, reading each
//! row into a contact, and saying for every line what happened to it and why.
//!
//! Columns the survey does not need (ID numbers, birth dates …) are never read into a
//! contact, so they cannot be stored.

use crate::domain::claimed_keys::ClaimedKeys;
use crate::domain::contact::{RespondentEmail, RespondentPhone, clean_text, folded};
use crate::domain::locality::Locality;
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Characters of a cell read into a contact; a longer one rejects its row.
pub const MAX_FIELD_CHARS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Name,
    Address,
    Phone,
    Email,
    Procedure,
    CompletedOn,
    Locality,
    RespondentKind,
}

impl Field {
    pub const ALL: [Field; 8] = [
        Field::Name,
        Field::Address,
        Field::Phone,
        Field::Email,
        Field::Procedure,
        Field::CompletedOn,
        Field::Locality,
        Field::RespondentKind,
    ];

    /// The name used in forms and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Address => "address",
            Field::Phone => "phone",
            Field::Email => "email",
            Field::Procedure => "procedure",
            Field::CompletedOn => "completed_on",
            Field::Locality => "locality",
            Field::RespondentKind => "respondent_kind",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// What the officer reads.
    pub fn label(self) -> &'static str {
        match self {
            Field::Name => "Họ và tên",
            Field::Address => "Địa chỉ",
            Field::Phone => "Số điện thoại",
            Field::Email => "Email",
            Field::Procedure => "Thủ tục, lĩnh vực",
            Field::CompletedOn => "Ngày trả kết quả",
            Field::Locality => "Xã, phường",
            Field::RespondentKind => "Cá nhân hay tổ chức",
        }
    }
}

/// Header words by field, folded (no diacritics, lower case). Longer phrases first so that
/// "ngay tra ket qua" is not taken for something shorter.
const HEADERS: &[(Field, &[&str])] = &[
    (
        Field::Name,
        &["ho va ten", "ho ten", "ten nguoi nop", "ten to chuc", "ten ca nhan", "nguoi nop ho so", "name", "full name"],
    ),
    (Field::Address, &["dia chi", "address"]),
    (Field::Phone, &["so dien thoai", "dien thoai", "sdt", "so dt", "dt", "phone", "mobile"]),
    (Field::Email, &["email", "e-mail", "thu dien tu"]),
    (Field::Procedure, &["thu tuc", "linh vuc", "ten thu tuc", "procedure"]),
    (Field::CompletedOn, &["ngay tra ket qua", "ngay hen tra", "ngay tra", "ngay hoan thanh", "completed", "date"]),
    (Field::Locality, &["ma xa", "xa/phuong", "xa", "phuong", "don vi hanh chinh", "locality", "commune"]),
    (Field::RespondentKind, &["ca nhan/to chuc", "ca nhan / to chuc", "doi tuong", "loai"]),
];

/// Header words of columns that must never be stored, not even in the copy of a pending list
/// kept for a corrected mapping: identity documents and birth dates.
const NEVER_KEPT: &[&str] = &[
    "cccd",
    "cmnd",
    "can cuoc",
    "chung minh",
    "ho chieu",
    "dinh danh",
    "ngay sinh",
    "nam sinh",
    "sinh ngay",
    "passport",
    "birth",
    "id number",
    "identity",
];

pub fn never_kept(header: &str) -> bool {
    let header = folded(header);
    NEVER_KEPT.iter().any(|word| header.contains(word))
}

pub fn recognise(header: &str) -> Option<Field> {
    // "Date of birth" must not be read as a date of service, nor "Phone / CCCD" as a phone.
    if never_kept(header) {
        return None;
    }
    let header = folded(header);
    let header = header.trim_matches(|c: char| !c.is_alphanumeric());
    if header.is_empty() {
        return None;
    }
    HEADERS.iter().find_map(|(field, names)| names.contains(&header).then_some(*field)).or_else(|| {
        HEADERS
            .iter()
            .find_map(|(field, names)| names.iter().any(|n| n.len() > 3 && header.starts_with(n)).then_some(*field))
    })
}

/// Which column holds which field; the officer may correct it before confirming.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMap(pub HashMap<Field, usize>);

impl ColumnMap {
    pub fn get(&self, field: Field) -> Option<usize> {
        self.0.get(&field).copied()
    }

    /// A mapping chosen by the officer for a header of `width` columns: it needs a name and
    /// a way to reach the person, and no column may stand for two fields.
    pub fn chosen(fields: HashMap<Field, usize>, width: usize) -> Result<Self, String> {
        if !fields.contains_key(&Field::Name) {
            return Err("cần chọn cột họ tên".into());
        }
        if ![Field::Address, Field::Phone, Field::Email].iter().any(|f| fields.contains_key(f)) {
            return Err("cần chọn ít nhất một cột địa chỉ, điện thoại hoặc email".into());
        }
        if let Some(column) = fields.values().find(|c| **c >= width) {
            return Err(format!("tệp không có cột thứ {}", column + 1));
        }
        let mut columns: Vec<usize> = fields.values().copied().collect();
        columns.sort_unstable();
        if let Some(pair) = columns.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(format!("cột thứ {} được chọn cho hai thông tin", pair[0] + 1));
        }
        Ok(Self(fields))
    }
}

/// A list's header as found: how many rows precede the data, the label of each column (a
/// merged header's two rows read as one), and the mapping recognised from the labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub rows: usize,
    pub labels: Vec<String>,
    pub columns: ColumnMap,
}

/// The header among the first rows (lists often start with a title block): the row, or two
/// rows of a merged header ("Thông tin liên hệ" above "Điện thoại | Email"), recognising the
/// most columns, which must include a name.
pub fn find_header(rows: &[Vec<String>]) -> Option<Header> {
    let map_of = |labels: &[String]| {
        let mut map = HashMap::new();
        for (column, label) in labels.iter().enumerate() {
            if let Some(field) = recognise(label) {
                map.entry(field).or_insert(column);
            }
        }
        map
    };
    let mut candidates = Vec::new();
    for (index, row) in rows.iter().enumerate().take(30) {
        candidates.push((index, row.clone()));
        if let Some(below) = rows.get(index + 1) {
            let width = row.len().max(below.len());
            let merged: Vec<String> = (0..width)
                .map(|c| {
                    let lower = below.get(c).map_or("", String::as_str);
                    if recognise(lower).is_some() { lower } else { row.get(c).map_or("", String::as_str) }
                })
                .map(str::to_string)
                .collect();
            candidates.push((index + 1, merged));
        }
    }
    candidates
        .into_iter()
        .map(|(index, labels)| (index, map_of(&labels), labels))
        .filter(|(_, map, _)| map.contains_key(&Field::Name) && map.len() >= 2)
        .max_by_key(|(index, map, _)| (map.len(), std::cmp::Reverse(*index)))
        .map(|(index, map, labels)| Header { rows: index + 1, labels, columns: ColumnMap(map) })
}

/// Dates as offices type them: 15/03/2026, 15-3-2026, 2026-03-15, or an Excel serial day.
pub fn parse_date(raw: &str) -> Option<NaiveDate> {
    let raw = raw.trim();
    let raw = raw.split_whitespace().next().unwrap_or("");
    for format in ["%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d", "%Y/%m/%d"] {
        if let Ok(date) = NaiveDate::parse_from_str(raw, format) {
            return Some(date);
        }
    }
    let serial: f64 = raw.parse().ok()?;
    // Excel's day 1 is 1900-01-01 and it counts a 29 February 1900 that never was.
    (20_000.0..80_000.0)
        .contains(&serial)
        .then(|| NaiveDate::from_ymd_opt(1899, 12, 30).unwrap() + Duration::days(serial as i64))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RespondentKind {
    Person,
    Organisation,
}

/// A person or organisation that can be sampled and invited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub name: String,
    pub address: Option<String>,
    pub phone: Option<RespondentPhone>,
    pub email: Option<RespondentEmail>,
    pub procedure: Option<String>,
    pub completed_on: Option<NaiveDate>,
    pub locality_code: String,
    pub kind: RespondentKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    Accepted,
    /// Accepted, with something the officer should know (an unusable phone, say).
    Warning,
    /// The same person as an earlier line: merged into it.
    Duplicate,
    Rejected,
}

impl LineStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Warning => "warning",
            Self::Duplicate => "duplicate",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        [Self::Accepted, Self::Warning, Self::Duplicate, Self::Rejected].into_iter().find(|s| s.as_str() == stored)
    }

    /// How the report shows the outcome to an officer.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Accepted => "Nhận",
            Self::Warning => "Nhận, cần lưu ý",
            Self::Duplicate => "Trùng, đã gộp",
            Self::Rejected => "Loại",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LineReport {
    pub line: usize,
    pub status: LineStatus,
    pub reason: String,
}

/// What the rows are checked against.
pub struct ListContext<'a> {
    pub period: Option<(NaiveDate, NaiveDate)>,
    /// Localities a row may belong to (the wave's, at any level).
    pub localities: &'a [Locality],
    /// Used when the list has no locality column (an agency serving one commune).
    pub default_locality: Option<&'a str>,
}

/// Resolves a locality written as a code or a name, diacritics and prefixes optional.
pub struct LocalityResolver<'a> {
    by_code: HashMap<&'a str, &'a Locality>,
    /// Spreadsheets turn "00001" into the number 1: codes without their leading zeros.
    by_unpadded_code: HashMap<&'a str, Vec<&'a Locality>>,
    by_name: HashMap<String, Vec<&'a Locality>>,
}

const PREFIXES: [&str; 6] = ["xa ", "phuong ", "thi tran ", "dac khu ", "quan ", "huyen "];

fn bare(name: &str) -> String {
    let name = folded(name);
    PREFIXES.iter().find_map(|p| name.strip_prefix(p)).map(str::to_string).unwrap_or(name)
}

impl<'a> LocalityResolver<'a> {
    pub fn new(localities: &'a [Locality]) -> Self {
        let mut by_name: HashMap<String, Vec<&Locality>> = HashMap::new();
        for l in localities {
            by_name.entry(folded(&l.name)).or_default().push(l);
            let short = bare(&l.name);
            if short != folded(&l.name) {
                by_name.entry(short).or_default().push(l);
            }
        }
        let mut by_unpadded_code: HashMap<&str, Vec<&Locality>> = HashMap::new();
        for l in localities {
            by_unpadded_code.entry(l.code.trim_start_matches('0')).or_default().push(l);
        }
        Self { by_code: localities.iter().map(|l| (l.code.as_str(), l)).collect(), by_unpadded_code, by_name }
    }

    pub fn resolve(&self, written: &str) -> Result<&'a Locality, String> {
        let written = written.trim();
        if let Some(l) = self.by_code.get(written) {
            return Ok(l);
        }
        // Official codes are padded by level (province 01, district 001, commune 00001), so a
        // bare number can fit several levels: a list names the most specific place.
        if written.chars().all(|c| c.is_ascii_digit())
            && let Some(candidates) = self.by_unpadded_code.get(written.trim_start_matches('0'))
            && let Some(longest) = candidates.iter().map(|l| l.code.len()).max()
            && let [one] = candidates.iter().filter(|l| l.code.len() == longest).collect::<Vec<_>>()[..]
        {
            return Ok(one);
        }
        let candidates = self.by_name.get(&folded(written)).or_else(|| self.by_name.get(&bare(written)));
        match candidates.map(Vec::as_slice) {
            Some([one]) => Ok(one),
            Some(many) if !many.is_empty() => {
                let codes: Vec<&str> = many.iter().map(|l| l.code.as_str()).collect();
                Err(format!("địa bàn “{written}” trùng tên ở nhiều nơi ({}): ghi mã địa bàn", codes.join(", ")))
            }
            _ => Err(format!("không tìm thấy địa bàn “{written}” trong phạm vi đợt khảo sát")),
        }
    }
}

/// A hashed identity key (same phone, same email, or same name at the same address): what
/// duplicates are found by, held during an import in 8 bytes rather than the phone or
/// email itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentityKey(u64);

impl IdentityKey {
    /// Salted per import, so that a key cannot be matched against a table of phone hashes.
    fn of(salt: &str, kind: &str, value: &str) -> Self {
        let digest = Sha256::digest(format!("{salt}\0{kind}:{value}").as_bytes());
        // 64 bits: two different people share a key once in about 10^7 lists of a million.
        Self(u64::from_be_bytes(digest[..8].try_into().expect("a digest has 32 bytes")))
    }

    pub fn bits(self) -> u64 {
        self.0
    }
}

/// The same phone, the same email, or the same name at the same address is one person.
fn identity_keys(salt: &str, contact: &Contact) -> Vec<IdentityKey> {
    let mut keys = Vec::new();
    if let Some(phone) = &contact.phone {
        keys.push(IdentityKey::of(salt, "phone", phone.as_str()));
    }
    if let Some(email) = &contact.email {
        keys.push(IdentityKey::of(salt, "email", email.as_str()));
    }
    if let Some(address) = &contact.address {
        keys.push(IdentityKey::of(salt, "name", &format!("{}|{}", folded(&contact.name), folded(address))));
    }
    keys
}

/// One batch of rows read: the contacts to keep and a report line for every data row.
#[derive(Debug, Default)]
pub struct CleanedBatch {
    pub contacts: Vec<(usize, Contact)>,
    pub report: Vec<LineReport>,
}

impl CleanedBatch {
    pub fn rejected(&self) -> usize {
        self.report.iter().filter(|r| r.status == LineStatus::Rejected).count()
    }
}

/// Reads data rows through a column map, a batch at a time, remembering the identity keys
/// of the contacts kept so far (12 bytes each at most, see [`ClaimedKeys`]) so that later
/// lines are merged into the first.
pub struct ListCleaner<'a> {
    columns: ColumnMap,
    context: ListContext<'a>,
    resolver: LocalityResolver<'a>,
    salt: String,
    claimed: ClaimedKeys,
}

impl<'a> ListCleaner<'a> {
    /// `salt` keys the duplicate hashes: one per import.
    pub fn new(columns: ColumnMap, context: ListContext<'a>, salt: &str) -> Self {
        let resolver = LocalityResolver::new(context.localities);
        Self { columns, context, resolver, salt: salt.to_string(), claimed: ClaimedKeys::default() }
    }

    /// Cleans `rows` (each with its line in the file, in file order, after the rows of
    /// earlier batches).
    pub fn clean_batch(&mut self, rows: Vec<(usize, Vec<String>)>) -> CleanedBatch {
        let mut batch = CleanedBatch::default();
        for (line, cells) in rows {
            if cells.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            let (contact, warnings) = match self.read(&cells) {
                Err(reason) => {
                    batch.report.push(LineReport { line, status: LineStatus::Rejected, reason });
                    continue;
                }
                Ok(read) => read,
            };
            let keys = identity_keys(&self.salt, &contact);
            if let Some(first) = keys.iter().find_map(|k| self.claimed.line_of(k.bits())) {
                let reason = format!("trùng với dòng {first}, đã gộp");
                batch.report.push(LineReport { line, status: LineStatus::Duplicate, reason });
                continue;
            }
            for key in keys {
                self.claimed.claim(key.bits(), line);
            }
            let status = if warnings.is_empty() { LineStatus::Accepted } else { LineStatus::Warning };
            batch.report.push(LineReport { line, status, reason: warnings.join("; ") });
            batch.contacts.push((line, contact));
        }
        batch
    }

    fn read(&self, cells: &[String]) -> Result<(Contact, Vec<String>), String> {
        // What is stored per row stays small: a longer cell is no name, address or procedure.
        for field in Field::ALL {
            if let Some(cell) = self.columns.get(field).and_then(|i| cells.get(i))
                && cell.chars().nth(MAX_FIELD_CHARS).is_some()
            {
                return Err(format!("cột “{}” dài hơn giới hạn {MAX_FIELD_CHARS} ký tự", field.label()));
            }
        }
        let cell = |field: Field| {
            self.columns
                .get(field)
                .and_then(|i| cells.get(i))
                .map(|c| clean_text(&crate::domain::legacy_text::to_unicode(c)))
                .filter(|c| !c.is_empty())
        };
        read_contact(&cell, &self.context, &self.resolver)
    }
}

fn read_contact(
    cell: &dyn Fn(Field) -> Option<String>,
    context: &ListContext,
    resolver: &LocalityResolver,
) -> Result<(Contact, Vec<String>), String> {
    let mut warnings = Vec::new();
    let name = cell(Field::Name).ok_or("thiếu họ tên")?;
    let phone = match cell(Field::Phone) {
        None => None,
        Some(raw) => match RespondentPhone::parse(&raw) {
            Ok(phone) => Some(phone),
            Err(e) => {
                warnings.push(e.to_string());
                None
            }
        },
    };
    let email = match cell(Field::Email) {
        None => None,
        Some(raw) => {
            let parsed = RespondentEmail::parse(&raw);
            if parsed.is_none() {
                warnings.push(format!("email “{raw}” không hợp lệ"));
            }
            parsed
        }
    };
    let address = cell(Field::Address);
    if phone.is_none() && email.is_none() && address.is_none() {
        return Err("không có cách nào liên hệ (thiếu địa chỉ, số điện thoại hợp lệ và email)".into());
    }
    let completed_on = match cell(Field::CompletedOn) {
        None => None,
        Some(raw) => Some(parse_date(&raw).ok_or_else(|| format!("ngày “{raw}” không đọc được"))?),
    };
    if let (Some(date), Some((from, to))) = (completed_on, context.period)
        && (date < from || date > to)
    {
        return Err(format!(
            "ngày {} nằm ngoài kỳ khảo sát ({} – {})",
            date.format("%d/%m/%Y"),
            from.format("%d/%m/%Y"),
            to.format("%d/%m/%Y")
        ));
    }
    let locality_code = match (cell(Field::Locality), context.default_locality) {
        (Some(written), _) => resolver.resolve(&written)?.code.clone(),
        (None, Some(code)) => code.to_string(),
        (None, None) => return Err("thiếu xã/phường".into()),
    };
    let kind = match cell(Field::RespondentKind).map(|k| folded(&k)) {
        Some(k) if k.contains("to chuc") || k.contains("doanh nghiep") => RespondentKind::Organisation,
        _ => RespondentKind::Person,
    };
    Ok((
        Contact { name, address, phone, email, procedure: cell(Field::Procedure), completed_on, locality_code, kind },
        warnings,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    /// Cleans like an import does, in batches of two: line 4's duplicate of line 2 is in a
    /// later batch.
    fn clean_in_batches_of_two(
        rows: Vec<(usize, Vec<String>)>,
        columns: ColumnMap,
        context: ListContext,
    ) -> CleanedBatch {
        let mut cleaner = ListCleaner::new(columns, context, "test");
        let mut all = CleanedBatch::default();
        for pair in rows.chunks(2) {
            let batch = cleaner.clean_batch(pair.to_vec());
            all.contacts.extend(batch.contacts);
            all.report.extend(batch.report);
        }
        all
    }

    #[test]
    fn a_chosen_mapping_needs_a_name_a_way_to_reach_and_distinct_columns() {
        let map = |pairs: &[(Field, usize)]| pairs.iter().copied().collect::<HashMap<_, _>>();
        assert!(ColumnMap::chosen(map(&[(Field::Name, 0), (Field::Phone, 2)]), 3).is_ok());
        assert_eq!(ColumnMap::chosen(map(&[(Field::Phone, 2)]), 3).unwrap_err(), "cần chọn cột họ tên");
        assert!(ColumnMap::chosen(map(&[(Field::Name, 0), (Field::Procedure, 1)]), 3).unwrap_err().contains("ít nhất"));
        assert!(ColumnMap::chosen(map(&[(Field::Name, 0), (Field::Phone, 3)]), 3).unwrap_err().contains("thứ 4"));
        let twice = ColumnMap::chosen(map(&[(Field::Name, 1), (Field::Phone, 1)]), 3).unwrap_err();
        assert!(twice.contains("thứ 2") && twice.contains("hai"), "{twice}");
    }

    #[test]
    fn identity_documents_and_birth_dates_are_never_kept() {
        for header in ["Số CCCD", "CMND/CCCD", "Số định danh cá nhân", "Ngày sinh", "Năm sinh", "Hộ chiếu"]
        {
            assert!(never_kept(header), "{header}");
        }
        for header in ["Họ và tên", "Số điện thoại", "Địa chỉ", "Ngày trả kết quả", "Email"] {
            assert!(!never_kept(header), "{header}");
        }
    }

    #[test]
    fn a_column_never_kept_is_never_mapped_to_a_field() {
        for header in ["Date of birth", "Phone / CCCD", "Địa chỉ theo CCCD", "Ngày cấp CMND"] {
            assert_eq!(recognise(header), None, "{header}");
        }
        let rows = vec![vec!["Họ tên".to_string(), "SĐT".into(), "Date of birth".into()]];
        let header = find_header(&rows).unwrap();
        assert_eq!(header.columns.get(Field::CompletedOn), None);
    }

    #[test]
    fn a_cell_too_long_for_a_contact_rejects_its_row_with_a_short_reason() {
        let communes = communes();
        let context = ListContext { period: None, localities: &communes, default_locality: Some("09190") };
        let columns = find_header(&[row(&["Họ và tên", "Địa chỉ"])]).unwrap().columns;
        let long = "a".repeat(MAX_FIELD_CHARS + 1);
        let rows = vec![(2, row(&["Nguyễn Văn An", &long])), (3, row(&["Trần Thị Bình", &long[1..]]))];
        let list = clean_in_batches_of_two(rows, columns, context);
        assert_eq!(list.report[0].status, LineStatus::Rejected);
        assert_eq!(list.report[0].reason, "cột “Địa chỉ” dài hơn giới hạn 500 ký tự");
        assert_eq!(list.report[1].status, LineStatus::Accepted, "the limit itself is allowed");
    }

    #[test]
    fn field_names_are_those_of_the_json_api() {
        for field in Field::ALL {
            assert_eq!(serde_json::to_value(field).unwrap(), field.as_str());
            assert_eq!(Field::parse(field.as_str()), Some(field));
        }
    }

    #[test]
    fn identity_keys_do_not_hold_the_phone_or_email_itself() {
        let key = IdentityKey::of("upload-1", "phone", "0912345678");
        assert!(!key.bits().to_string().contains("912345678"));
        assert_eq!(key, IdentityKey::of("upload-1", "phone", "0912345678"));
        assert_ne!(key, IdentityKey::of("upload-1", "email", "0912345678"));
        assert_ne!(key, IdentityKey::of("upload-2", "phone", "0912345678"), "salted per import");
    }

    fn communes() -> Vec<Locality> {
        vec![
            Locality::parse("09190", "Phường Vũ Ninh", "commune", Some("256")).unwrap(),
            Locality::parse("09193", "Phường Đáp Cầu", "commune", Some("256")).unwrap(),
            Locality::parse("09301", "Xã Tân Lập", "commune", Some("258")).unwrap(),
            Locality::parse("09302", "Xã Tân Lập", "commune", Some("259")).unwrap(),
        ]
    }

    #[test]
    fn headers_are_recognised_in_vietnamese_and_english_with_or_without_diacritics() {
        assert_eq!(recognise("Họ và tên"), Some(Field::Name));
        assert_eq!(recognise("HO TEN"), Some(Field::Name));
        assert_eq!(recognise("SĐT"), Some(Field::Phone));
        assert_eq!(recognise("Số điện thoại liên hệ"), Some(Field::Phone));
        assert_eq!(recognise("Ngày trả kết quả"), Some(Field::CompletedOn));
        assert_eq!(recognise("Mã xã"), Some(Field::Locality));
        assert_eq!(recognise("Email"), Some(Field::Email));
        assert_eq!(recognise("Cá nhân/Tổ chức"), Some(Field::RespondentKind));
        assert_eq!(recognise("Số CCCD"), None, "ID numbers are never read");
        assert_eq!(recognise("Ngày sinh"), None);
    }

    #[test]
    fn header_is_found_below_a_title_block() {
        let rows = vec![
            row(&["UBND HUYỆN YÊN PHONG", "", ""]),
            row(&["DANH SÁCH TỔ CHỨC, CÁ NHÂN ĐÃ GIẢI QUYẾT TTHC QUÝ III/2026", "", ""]),
            row(&["", "", ""]),
            row(&["STT", "Họ và tên", "Địa chỉ", "SĐT", "Số CCCD", "Xã/Phường"]),
            row(&["1", "Nguyễn Văn An", "Thôn Đông", "0912345678", "001099001234", "Vũ Ninh"]),
        ];
        let header = find_header(&rows).unwrap();
        assert_eq!(header.rows, 4);
        assert_eq!(header.labels[1], "Họ và tên");
        let map = header.columns;
        assert_eq!(map.get(Field::Name), Some(1));
        assert_eq!(map.get(Field::Phone), Some(3));
        assert_eq!(map.get(Field::Locality), Some(5));
        assert_eq!(map.0.len(), 4, "the ID column is not mapped");
    }

    #[test]
    fn a_header_merged_over_two_rows_is_read_as_one() {
        let rows = vec![
            row(&["DANH SÁCH", "", "", ""]),
            row(&["Họ và tên", "Địa chỉ", "Thông tin liên hệ", ""]),
            row(&["", "", "Điện thoại", "Email"]),
            row(&["Nguyễn Văn An", "Thôn Đông", "0912345678", "an@example.vn"]),
        ];
        let header = find_header(&rows).unwrap();
        assert_eq!(header.rows, 3);
        assert_eq!(header.labels, ["Họ và tên", "Địa chỉ", "Điện thoại", "Email"]);
        let map = header.columns;
        assert_eq!((map.get(Field::Name), map.get(Field::Phone), map.get(Field::Email)), (Some(0), Some(2), Some(3)));
    }

    #[test]
    fn dates_in_office_formats_and_excel_serials() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 15).unwrap();
        for raw in ["15/03/2026", "15-3-2026", "2026-03-15", "15.03.2026", "46096", "15/03/2026 08:30"] {
            assert_eq!(parse_date(raw), Some(d), "{raw}");
        }
        assert_eq!(parse_date("hôm qua"), None);
    }

    #[test]
    fn localities_resolve_by_code_or_name_and_ambiguity_is_explained() {
        let communes = communes();
        let resolver = LocalityResolver::new(&communes);
        assert_eq!(resolver.resolve("09190").unwrap().code, "09190");
        assert_eq!(resolver.resolve("9190").unwrap().code, "09190", "a code that lost its leading zero in Excel");
        assert_eq!(resolver.resolve("phuong vu ninh").unwrap().code, "09190");
        assert_eq!(resolver.resolve("Đáp Cầu").unwrap().code, "09193");
        let ambiguous = resolver.resolve("Tân Lập").unwrap_err();
        assert!(ambiguous.contains("09301") && ambiguous.contains("09302"), "{ambiguous}");
        assert!(resolver.resolve("Xã Không Có").unwrap_err().contains("không tìm thấy"));
    }

    #[test]
    fn every_line_gets_an_outcome_with_its_reason() {
        let communes = communes();
        let period = (NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 12, 31).unwrap());
        let context = ListContext { period: Some(period), localities: &communes, default_locality: None };
        let header = row(&["Họ và tên", "Địa chỉ", "Điện thoại", "Email", "Ngày trả kết quả", "Xã"]);
        let columns = find_header(&[header]).unwrap().columns;
        let rows = vec![
            (2, row(&["Nguyễn Văn An", "Thôn Đông", "01682345678", "", "15/03/2026", "Vũ Ninh"])),
            (3, row(&["Trần Thị Bình", "Thôn Tây", "+84 912 000 111", "binh@example.vn", "2026-04-02", "09193"])),
            (4, row(&["Nguyễn Văn An (lần 2)", "Nơi khác", "0382345678", "", "20/03/2026", "Vũ Ninh"])),
            (5, row(&["Lê Văn Cường", "Xóm Chợ", "12345", "", "01/05/2026", "Vũ Ninh"])),
            (6, row(&["", "", "", "", "", ""])),
            (7, row(&["Phạm Thị Dung", "Thôn Bắc", "0987654321", "", "12/12/2025", "Vũ Ninh"])),
            (8, row(&["Hoàng Văn Em", "", "", "", "01/06/2026", "Vũ Ninh"])),
            (9, row(&["", "Thôn Nam", "0911111111", "", "01/06/2026", "Vũ Ninh"])),
            (10, row(&["Đỗ Văn Giang", "Thôn Nam", "0922222222", "", "01/06/2026", "Tân Lập"])),
            (11, row(&["NguyÔn V¨n Hïng", "Th«n Trung", "0933333333", "", "01/06/2026", "Vũ Ninh"])),
        ];
        let list = clean_in_batches_of_two(rows, columns, context);
        let outcome = |line: usize| list.report.iter().find(|r| r.line == line).unwrap().clone();
        assert_eq!(outcome(2).status, LineStatus::Accepted);
        assert_eq!(outcome(3).status, LineStatus::Accepted);
        assert_eq!(outcome(4).status, LineStatus::Duplicate, "same phone after the 2018 renumbering");
        assert!(outcome(4).reason.contains("dòng 2"));
        assert_eq!(outcome(5).status, LineStatus::Warning, "kept for the letter, phone flagged");
        assert!(list.report.iter().all(|r| r.line != 6), "blank lines are skipped");
        assert_eq!(outcome(7).status, LineStatus::Rejected);
        assert!(outcome(7).reason.contains("ngoài kỳ khảo sát"));
        assert!(outcome(8).reason.contains("không có cách nào liên hệ"));
        assert_eq!(outcome(9).reason, "thiếu họ tên");
        assert!(outcome(10).reason.contains("trùng tên"));
        assert_eq!(list.contacts.len(), 4);
        let an = &list.contacts[0].1;
        assert_eq!(an.phone.as_ref().unwrap().as_str(), "0382345678");
        assert_eq!(an.locality_code, "09190");
        let binh = &list.contacts[1].1;
        assert_eq!(binh.email.as_ref().unwrap().as_str(), "binh@example.vn");
        assert_eq!(binh.completed_on, NaiveDate::from_ymd_opt(2026, 4, 2));
        let hung = &list.contacts[3].1;
        assert_eq!(hung.name, "Nguyễn Văn Hùng", "TCVN3 text converted");
        assert_eq!(hung.address.as_deref(), Some("Thôn Trung"));
    }
}
