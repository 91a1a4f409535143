//! Localities form a tree of any depth; the levels are data (province → district → commune
//! before 2025, province → commune since).

use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Locality {
    pub code: String,
    pub name: String,
    pub level: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalityError {
    #[error("mã địa bàn “{0}” không hợp lệ (chỉ gồm chữ, số, - và _, tối đa 32 ký tự)")]
    InvalidCode(String),
    #[error("tên địa bàn {0}")]
    Name(crate::domain::text::TextError),
    #[error("cấp “{0}” không hợp lệ (chữ thường không dấu, ví dụ province, district, commune)")]
    InvalidLevel(String),
    #[error("địa bàn không thể là cấp trên của chính nó")]
    OwnParent,
}

/// Official codes are zero-padded digits; other schemes may use letters, so accept a safe set.
/// Whether `level` can name a level of the tree (lowercase letters and _).
pub fn is_level(level: &str) -> bool {
    !level.is_empty() && level.chars().all(|c| c.is_ascii_lowercase() || c == '_')
}

pub fn parse_code(code: &str) -> Result<String, LocalityError> {
    let code = code.trim();
    let ok =
        !code.is_empty() && code.len() <= 32 && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok { Ok(code.to_string()) } else { Err(LocalityError::InvalidCode(code.into())) }
}

impl Locality {
    pub fn parse(code: &str, name: &str, level: &str, parent_code: Option<&str>) -> Result<Self, LocalityError> {
        let code = parse_code(code)?;
        let name = crate::domain::text::name(name).map_err(LocalityError::Name)?;
        let level = level.trim();
        if !is_level(level) {
            return Err(LocalityError::InvalidLevel(level.into()));
        }
        let parent_code = match parent_code.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => Some(parse_code(p)?),
            None => None,
        };
        if parent_code.as_deref() == Some(code.as_str()) {
            return Err(LocalityError::OwnParent);
        }
        Ok(Self { code, name, level: level.to_string(), parent_code })
    }
}

/// A rejected line of a locality list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LineError {
    pub line: usize,
    pub reason: String,
}

/// Reads a `code,name,level,parent_code` CSV (header required, UTF-8, optional BOM) and
/// orders it so every parent precedes its children, each with its line number. All lines
/// are checked; any error rejects the whole list.
pub fn parse_csv(text: &str) -> Result<Vec<(usize, Locality)>, Vec<LineError>> {
    let mut rows = Vec::new();
    let mut seen = HashMap::new();
    read_lines(text, &["code", "name", "level"], &["parent_code"], |line, fields, optional| {
        let locality = Locality::parse(fields[0], fields[1], fields[2], optional[0]).map_err(|e| e.to_string())?;
        if let Some(first) = seen.insert(locality.code.clone(), line) {
            return Err(format!("mã “{}” đã có ở dòng {first}", locality.code));
        }
        rows.push((line, locality));
        Ok(())
    })?;
    Ok(parents_first(rows))
}

/// Reads an `old_code,new_code` CSV: which unit of an earlier tree each old one became (units
/// merged in a reorganisation share a new code). Same rules as `parse_csv`.
pub fn parse_crosswalk(text: &str) -> Result<Vec<(String, String)>, Vec<LineError>> {
    let mut rows = Vec::new();
    let mut seen = HashMap::new();
    read_lines(text, &["old_code", "new_code"], &[], |line, fields, _| {
        let code = |field: &str| parse_code(field).map_err(|e| e.to_string());
        let (old, new) = (code(fields[0])?, code(fields[1])?);
        if let Some(first) = seen.insert(old.clone(), line) {
            return Err(format!("mã cũ “{old}” đã có ở dòng {first}"));
        }
        rows.push((old, new));
        Ok(())
    })?;
    Ok(rows)
}

/// Hands each non-blank record's `required` then `optional` columns (found by header name)
/// to `each` with its line number; every line is checked and any error rejects the file.
fn read_lines(
    text: &str,
    required: &[&str],
    optional: &[&str],
    mut each: impl FnMut(usize, &[&str], &[Option<&str>]) -> Result<(), String>,
) -> Result<(), Vec<LineError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let error = |line: usize, reason: String| LineError { line, reason };
    let headers = reader.headers().map_err(|e| vec![error(1, e.to_string())])?.clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let Some(required_columns) = required.iter().map(|name| column(name)).collect::<Option<Vec<usize>>>() else {
        let names: Vec<&str> = required.iter().chain(optional).copied().collect();
        return Err(vec![error(1, format!("cần các cột {}", names.join(", ")))]);
    };
    let optional_columns: Vec<Option<usize>> = optional.iter().map(|name| column(name)).collect();
    let mut errors = Vec::new();
    let mut lines = LineCounter::new(text);
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                errors.push(error(line, e.to_string()));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| lines.line_at(p.byte() as usize));
        if record.iter().all(str::is_empty) {
            continue;
        }
        let fields: Vec<&str> = required_columns.iter().map(|&i| record.get(i).unwrap_or("")).collect();
        let optional: Vec<Option<&str>> =
            optional_columns.iter().map(|i| i.map(|i| record.get(i).unwrap_or(""))).collect();
        if let Err(reason) = each(line, &fields, &optional) {
            errors.push(error(line, reason));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// Line numbers of records read in order: the newlines before a record are counted from
/// where the previous one started, so a whole file costs one pass over it.
struct LineCounter<'a> {
    text: &'a str,
    /// Where counting stopped, and the newlines before it.
    byte: usize,
    newlines: usize,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, byte: 0, newlines: 0 }
    }

    /// The line where the record starting at `byte` (at or after the previous one) begins;
    /// the reader's own count is one short after blank lines, and officials look for the
    /// line their spreadsheet shows.
    fn line_at(&mut self, byte: usize) -> usize {
        let byte = byte.clamp(self.byte, self.text.len());
        self.newlines += self.text.as_bytes()[self.byte..byte].iter().filter(|&&b| b == b'\n').count();
        self.byte = byte;
        let mut line = 1 + self.newlines;
        for &b in &self.text.as_bytes()[byte..] {
            match b {
                b'\n' => line += 1,
                b'\r' => {}
                _ => break,
            }
        }
        line
    }
}

/// Stable order in which each locality follows its parent when the parent is in the list.
fn parents_first(rows: Vec<(usize, Locality)>) -> Vec<(usize, Locality)> {
    let index: HashMap<String, usize> = rows.iter().enumerate().map(|(i, (_, l))| (l.code.clone(), i)).collect();
    let depth = |mut i: usize| {
        let mut d = 0;
        while let Some(&p) = rows[i].1.parent_code.as_ref().and_then(|p| index.get(p)) {
            d += 1;
            i = p;
            if d > rows.len() {
                break;
            }
        }
        d
    };
    let depths: Vec<usize> = (0..rows.len()).map(depth).collect();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| depths[i]);
    let mut slots: Vec<Option<(usize, Locality)>> = rows.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

pub struct LocalityTree {
    by_code: HashMap<String, Locality>,
}

impl LocalityTree {
    pub fn new(localities: impl IntoIterator<Item = Locality>) -> Self {
        Self { by_code: localities.into_iter().map(|l| (l.code.clone(), l)).collect() }
    }

    pub fn get(&self, code: &str) -> Option<&Locality> {
        self.by_code.get(code)
    }

    /// The codes of the localities at `level`, in code order.
    pub fn codes_at_level(&self, level: &str) -> Vec<&str> {
        let mut codes: Vec<&str> =
            self.by_code.values().filter(|l| l.level == level).map(|l| l.code.as_str()).collect();
        codes.sort_unstable();
        codes
    }

    /// The locality itself or its nearest ancestor at `level`; `None` when the locality sits
    /// above that level or outside the tree.
    pub fn ancestor_at_level(&self, code: &str, level: &str) -> Option<&Locality> {
        let mut current = self.by_code.get(code);
        // Bounded walk: a corrupt parent cycle must not hang a results request.
        for _ in 0..=self.by_code.len() {
            let locality = current?;
            if locality.level == level {
                return Some(locality);
            }
            current = locality.parent_code.as_deref().and_then(|p| self.by_code.get(p));
        }
        None
    }

    /// The locality itself, then its parent, up to the top; empty outside the tree.
    pub fn ancestors(&self, code: &str) -> Vec<&Locality> {
        let mut chain = Vec::new();
        let mut current = self.by_code.get(code);
        // Bounded walk, as above: a corrupt cycle ends the chain.
        while let Some(locality) = current {
            if chain.len() > self.by_code.len() {
                break;
            }
            chain.push(locality);
            current = locality.parent_code.as_deref().and_then(|p| self.by_code.get(p));
        }
        chain
    }

    /// Codes of the localities at `level` beneath `root`.
    pub fn descendants_at_level(&self, root: &str, level: &str) -> Vec<String> {
        let mut codes: Vec<String> = self
            .by_code
            .values()
            .filter(|l| l.level == level && l.code != root && self.is_within(&l.code, root))
            .map(|l| l.code.clone())
            .collect();
        codes.sort();
        codes
    }

    /// Codes of the localities that are not at `level` and not beneath one that is (those
    /// above it, or in a branch without it), sorted.
    pub fn outside_level(&self, level: &str) -> Vec<String> {
        let mut codes: Vec<String> =
            self.by_code.keys().filter(|c| self.ancestor_at_level(c, level).is_none()).cloned().collect();
        codes.sort();
        codes
    }

    /// The levels of the tree from the top down (province → district → commune): by the depth
    /// of their deepest locality (a commune straight under its province stays below the
    /// districts), then by name.
    pub fn levels_top_down(&self) -> Vec<String> {
        let mut depth: HashMap<&str, usize> = HashMap::new();
        for locality in self.by_code.values() {
            let d = self.ancestors(&locality.code).len();
            depth.entry(&locality.level).and_modify(|e| *e = (*e).max(d)).or_insert(d);
        }
        let mut levels: Vec<(usize, &str)> = depth.into_iter().map(|(level, d)| (d, level)).collect();
        levels.sort();
        levels.into_iter().map(|(_, level)| level.to_string()).collect()
    }

    /// Whether `code` is `root` or lies beneath it.
    pub fn is_within(&self, code: &str, root: &str) -> bool {
        let mut current = Some(code);
        for _ in 0..=self.by_code.len() {
            match current {
                Some(c) if c == root => return true,
                Some(c) => current = self.by_code.get(c).and_then(|l| l.parent_code.as_deref()),
                None => return false,
            }
        }
        false
    }
}

/// A province of two districts, one of two communes (00001, 00002) and one of one (00003):
/// the tree unit tests of roll-ups share.
#[cfg(test)]
pub(crate) fn two_district_province() -> LocalityTree {
    let place = |code: &str, level: &str, parent: Option<&str>| Locality::parse(code, code, level, parent).unwrap();
    LocalityTree::new([
        place("01", "province", None),
        place("001", "district", Some("01")),
        place("002", "district", Some("01")),
        place("00001", "commune", Some("001")),
        place("00002", "commune", Some("001")),
        place("00003", "commune", Some("002")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> LocalityTree {
        LocalityTree::new([
            Locality::parse("27", "Tỉnh Bắc Ninh", "province", None).unwrap(),
            Locality::parse("256", "Thành phố Bắc Ninh", "district", Some("27")).unwrap(),
            Locality::parse("09190", "Phường Vũ Ninh", "commune", Some("256")).unwrap(),
            Locality::parse("09999", "Xã trực thuộc tỉnh", "commune", Some("27")).unwrap(),
        ])
    }

    #[test]
    fn commune_rolls_up_to_its_district_and_province() {
        let t = tree();
        assert_eq!(t.ancestor_at_level("09190", "district").unwrap().code, "256");
        assert_eq!(t.ancestor_at_level("09190", "province").unwrap().code, "27");
        assert_eq!(t.ancestor_at_level("09190", "commune").unwrap().code, "09190");
    }

    #[test]
    fn locality_above_the_level_has_no_group_and_mixed_depth_works() {
        let t = tree();
        assert_eq!(t.ancestor_at_level("27", "district"), None);
        assert_eq!(t.ancestor_at_level("09999", "district"), None);
        assert_eq!(t.ancestor_at_level("09999", "province").unwrap().code, "27");
        assert_eq!(t.outside_level("district"), ["09999", "27"]);
        assert_eq!(t.outside_level("province"), Vec::<String>::new());
        assert_eq!(t.levels_top_down(), ["province", "district", "commune"]);
    }

    #[test]
    fn crosswalk_maps_old_codes_once_each_and_reports_bad_lines() {
        let rows = parse_crosswalk("old_code,new_code\n00001,30001\n\n00002,30001\n").unwrap();
        assert_eq!(rows, [("00001".into(), "30001".into()), ("00002".into(), "30001".into())]);
        let errors = parse_crosswalk("old_code,new_code\n00001,30001\n00001,30002\n02,\n").unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4]);
        assert!(errors[0].reason.contains("dòng 2"), "{errors:?}");
        assert_eq!(parse_crosswalk("old,new\n1,2\n").unwrap_err()[0].reason, "cần các cột old_code, new_code");
    }

    #[test]
    fn within_follows_parents() {
        let t = tree();
        assert!(t.is_within("09190", "27"));
        assert!(!t.is_within("09999", "256"));
        assert_eq!(t.descendants_at_level("27", "commune"), ["09190", "09999"]);
    }

    #[test]
    fn ancestors_run_from_the_locality_to_the_top() {
        let t = tree();
        let codes: Vec<&str> = t.ancestors("09190").iter().map(|l| l.code.as_str()).collect();
        assert_eq!(codes, ["09190", "256", "27"]);
        assert!(t.ancestors("00000").is_empty());
    }

    #[test]
    fn csv_is_read_with_bom_and_children_before_parents_are_reordered() {
        let text = "\u{feff}code,name,level,parent_code\n00001,Phường Phúc Xá,commune,001\n\n001,Quận Ba Đình,district,01\n01,Thành phố Hà Nội,province,\n";
        let rows: Vec<_> = parse_csv(text).unwrap().into_iter().map(|(line, l)| (line, l.code)).collect();
        assert_eq!(rows, [(5, "01".to_string()), (4, "001".into()), (2, "00001".into())]);
    }

    #[test]
    fn a_national_tree_is_read_in_one_pass_with_every_line_number_right() {
        // Blank lines (every 7th) shift the numbering; the national benchmark times the import
        // (counting newlines from the start of the file for each record made it quadratic).
        let mut text = String::from("code,name,level,parent_code\n01,Tỉnh Một,province,\n");
        let mut expected = Vec::new();
        let mut line = 3;
        for i in 0..50_000 {
            if i % 7 == 0 {
                text.push_str("\r\n");
                line += 1;
            }
            text.push_str(&format!("{:05},Xã Số {i},commune,01\n", i + 100));
            expected.push(line);
            line += 1;
        }
        let rows = parse_csv(&text).unwrap();
        let lines: Vec<usize> = rows.iter().skip(1).map(|(line, _)| *line).collect();
        assert_eq!(lines, expected);
    }

    #[test]
    fn csv_errors_name_their_line() {
        let text = "code,name,level,parent_code\n01,Hà Nội,province,\n01,Trùng,province,\nx y,Sai,commune,01\n";
        let errors = parse_csv(text).unwrap_err();
        assert_eq!(errors[0].line, 3);
        assert!(errors[0].reason.contains("đã có ở dòng 2"), "{errors:?}");
        assert_eq!(errors[1].line, 4);
    }

    #[test]
    fn parse_rejects_bad_input_with_reasons() {
        assert_eq!(Locality::parse("a b", "X", "province", None), Err(LocalityError::InvalidCode("a b".into())));
        use crate::domain::text::TextError;
        assert_eq!(Locality::parse("1", " ", "province", None), Err(LocalityError::Name(TextError::Empty)));
        assert_eq!(
            Locality::parse("1", "Xã\u{0}", "province", None),
            Err(LocalityError::Name(TextError::ControlCharacter))
        );
        assert_eq!(Locality::parse("1", "X", "Tỉnh", None), Err(LocalityError::InvalidLevel("Tỉnh".into())));
        assert_eq!(Locality::parse("1", "X", "province", Some("1")), Err(LocalityError::OwnParent));
    }
}
