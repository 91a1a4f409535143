//! Localities form a tree of any depth; the levels are data (province → district → commune
//! before 2025, province → commune since).

use serde::Serialize;
use std::collections::HashMap;
use unicode_normalization::UnicodeNormalization;

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
    #[error("tên địa bàn không được để trống")]
    EmptyName,
    #[error("cấp “{0}” không hợp lệ (chữ thường không dấu, ví dụ province, district, commune)")]
    InvalidLevel(String),
    #[error("địa bàn không thể là cấp trên của chính nó")]
    OwnParent,
}

/// Official codes are zero-padded digits; other schemes may use letters, so accept a safe set.
pub fn parse_code(code: &str) -> Result<String, LocalityError> {
    let code = code.trim();
    let ok = !code.is_empty()
        && code.len() <= 32
        && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok { Ok(code.to_string()) } else { Err(LocalityError::InvalidCode(code.into())) }
}

impl Locality {
    pub fn parse(code: &str, name: &str, level: &str, parent_code: Option<&str>) -> Result<Self, LocalityError> {
        let code = parse_code(code)?;
        let name: String = name.trim().nfc().collect();
        if name.is_empty() {
            return Err(LocalityError::EmptyName);
        }
        let level = level.trim();
        if level.is_empty() || !level.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
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
    }

    #[test]
    fn within_follows_parents() {
        let t = tree();
        assert!(t.is_within("09190", "27"));
        assert!(!t.is_within("09999", "256"));
        assert_eq!(t.descendants_at_level("27", "commune"), ["09190", "09999"]);
    }

    #[test]
    fn parse_rejects_bad_input_with_reasons() {
        assert_eq!(Locality::parse("a b", "X", "province", None), Err(LocalityError::InvalidCode("a b".into())));
        assert_eq!(Locality::parse("1", " ", "province", None), Err(LocalityError::EmptyName));
        assert_eq!(Locality::parse("1", "X", "Tỉnh", None), Err(LocalityError::InvalidLevel("Tỉnh".into())));
        assert_eq!(Locality::parse("1", "X", "province", Some("1")), Err(LocalityError::OwnParent));
    }
}
