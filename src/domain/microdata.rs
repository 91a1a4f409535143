//! Anonymised microdata: one row per answer, its locality generalised upward (commune →
//! district → province → the whole wave) until every locality × agency cell of the file
//! holds at least k answers, and its agency left out where even the whole wave's cell of that
//! agency is smaller. Its rows and its codebook are made here once, whatever file they go to.

use crate::domain::answers::{Codes, StoredCodes};
use crate::domain::form::{Form, Item};
use crate::domain::locality::LocalityTree;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Where the answers of one leaf cell (invitation locality, agency) are published:
/// (locality code, `""` for the whole wave; agency code, `""` when left out).
pub type Published = (String, String);

/// The published cell of every leaf cell, given the answers of each leaf cell. A place keeps
/// its rows when it holds at least `min_cell` of them and the wave's tables publish its
/// figures: `hidden(locality, agency)` tells where they hide one (below the threshold, or as
/// a complement), and there the rows would give it away, so they join the parent's.
pub fn generalise(
    leaves: &[(String, String, u64)],
    tree: &LocalityTree,
    min_cell: u64,
    hidden: &dyn Fn(&str, &str) -> bool,
) -> HashMap<(String, String), Published> {
    let small = |n: u64| 0 < n && n < min_cell;
    let withheld = |place: &Published, n: u64| small(n) || (n > 0 && hidden(&place.0, &place.1));
    let mut sizes: HashMap<Published, u64> = HashMap::new();
    for (l, a, n) in leaves {
        *sizes.entry((l.clone(), a.clone())).or_default() += n;
    }
    // Where a place's answers went when it was too small.
    let mut moved: HashMap<Published, Published> = HashMap::new();
    let mut merge = |sizes: &mut HashMap<Published, u64>, from: Published, to: Published| {
        let n = sizes.remove(&from).unwrap_or(0);
        *sizes.entry(to.clone()).or_default() += n;
        moved.insert(from, to);
    };
    // Level by level from the deepest: a small place joins its parent, which is then judged
    // with everything that joined it.
    let depth = |code: &str| if code.is_empty() { 0 } else { tree.ancestors(code).len().max(1) };
    let deepest = sizes.keys().map(|(l, _)| depth(l)).max().unwrap_or(0);
    for level in (1..=deepest).rev() {
        let here: Vec<Published> = sizes.keys().filter(|(l, _)| depth(l) == level).cloned().collect();
        for place in here {
            if withheld(&place, sizes[&place]) {
                let parent = tree.get(&place.0).and_then(|l| l.parent_code.clone()).unwrap_or_default();
                let agency = place.1.clone();
                merge(&mut sizes, place, (parent, agency));
            }
        }
    }
    // At the top, an agency whose whole-wave cell is still small is left out.
    let agencies: Vec<Published> = sizes.keys().filter(|(l, a)| l.is_empty() && !a.is_empty()).cloned().collect();
    for place in agencies {
        if withheld(&place, sizes[&place]) {
            merge(&mut sizes, place, (String::new(), String::new()));
        }
    }
    // Rows with neither locality nor agency are known to be the ones no other cell holds: if
    // they are still few, the smallest other cells join them.
    let top = (String::new(), String::new());
    while sizes.get(&top).is_some_and(|&n| small(n)) {
        let Some(smallest) = sizes.iter().filter(|(p, _)| **p != top).min_by_key(|(_, n)| **n).map(|(p, _)| p.clone())
        else {
            break;
        };
        merge(&mut sizes, smallest, top.clone());
    }
    leaves
        .iter()
        .map(|(l, a, _)| {
            let mut place = (l.clone(), a.clone());
            while let Some(next) = moved.get(&place) {
                place = next.clone();
            }
            ((l.clone(), a.clone()), place)
        })
        .collect()
}

/// The choice items, in the form's order: the microdata's columns after locality, agency and
/// month. Free text is left out (it may name people); comments are read apart.
fn choice_items(form: &Form) -> impl Iterator<Item = &Item> {
    form.items.iter().filter(|i| !i.is_text())
}

/// The microdata of a wave: its columns, and where each leaf cell's answers are published.
pub struct Microdata {
    form: Arc<Form>,
    places: HashMap<(String, String), Published>,
    /// Each choice item's id with its position among them, sorted by id: a stored answer's
    /// items are found by walking along it (binary search when one is not where expected)
    /// rather than hashed into a map per row.
    positions: Vec<(String, usize)>,
}

impl Microdata {
    /// `places` as [`generalise`] made them.
    pub fn new(form: Arc<Form>, places: HashMap<(String, String), Published>) -> Self {
        let mut positions: Vec<(String, usize)> =
            choice_items(&form).enumerate().map(|(at, item)| (item.id.clone(), at)).collect();
        positions.sort();
        Self { form, places, positions }
    }

    pub fn form(&self) -> &Form {
        &self.form
    }

    /// The columns: `locality_code`, `agency_code`, `month`, then every choice item's id.
    pub fn columns(&self) -> Vec<&str> {
        let mut columns = vec!["locality_code", "agency_code", "month"];
        columns.extend(choice_items(&self.form).map(|i| i.id.as_str()));
        columns
    }

    /// One stored answer as its row of cells, handed to `write`: the published locality and
    /// agency of its leaf cell (invitation locality, agency), the month of `day`
    /// (`YYYY-MM-DD`), then each choice item's code (`;` between several, empty when none).
    pub fn row<T>(
        &self,
        leaf: (String, String),
        day: &str,
        stored: &str,
        write: impl FnOnce(&[&str]) -> T,
    ) -> Result<T, serde_json::Error> {
        // The export's cost is per row: the stored answers are read once, borrowing codes
        // from the stored text rather than building a JSON value of each.
        let stored: StoredCodes = serde_json::from_str(stored)?;
        let nowhere = (String::new(), String::new());
        let (locality, agency) = self.places.get(&leaf).unwrap_or(&nowhere);
        let mut codes: Vec<Cow<str>> = vec![Cow::Borrowed(""); self.positions.len()];
        // Answers are stored by item id, in the order of `positions`: the next item is
        // almost always the one after the last found.
        let mut next = 0;
        for (id, answer) in &stored.0 {
            let ahead = self.positions.get(next..(next + 4).min(self.positions.len())).unwrap_or_default();
            let found = match ahead.iter().position(|(item, _)| *item == id.0) {
                Some(step) => next + step,
                None => match self.positions.binary_search_by(|(item, _)| item.as_str().cmp(&id.0)) {
                    Ok(found) => found,
                    Err(_) => continue,
                },
            };
            next = found + 1;
            codes[self.positions[found].1] = match answer {
                Codes::One(code) => Cow::Borrowed(code.0.as_ref()),
                Codes::Many(codes) => Cow::Owned(codes.iter().map(|c| c.0.as_ref()).collect::<Vec<_>>().join(";")),
            };
        }
        let mut cells = Vec::with_capacity(3 + codes.len());
        cells.extend([locality.as_str(), agency.as_str(), day.get(..7).unwrap_or(day)]);
        cells.extend(codes.iter().map(|c| c.as_ref()));
        Ok(write(&cells))
    }
}

/// The codebook's columns, as machines read them.
pub const CODEBOOK_COLUMNS: [&str; 5] = ["column", "question", "code", "label", "missing"];

/// What each column and code of the microdata means, one row per fixed column and per option
/// of every choice item: column, question (or the column's meaning), code, label, and
/// `true` when the code stands for no answer.
pub fn codebook(form: &Form) -> impl Iterator<Item = [&str; 5]> {
    let fixed = [
        [
            "locality_code",
            "Mã địa bàn; gộp lên cấp trên khi ô địa bàn × cơ quan có ít phiếu, trống là toàn đợt",
            "",
            "",
            "",
        ],
        ["agency_code", "Mã cơ quan; trống khi không có hoặc khi cơ quan có ít phiếu trong cả đợt", "", "", ""],
        ["month", "Tháng trả lời (YYYY-MM)", "", "", ""],
    ];
    let options = choice_items(form).flat_map(|item| {
        item.options.iter().map(move |option| {
            let missing = if option.missing { "true" } else { "false" };
            [item.id.as_str(), item.text.as_str(), option.code.as_str(), option.label.as_str(), missing]
        })
    });
    fixed.into_iter().chain(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_reads_single_codes_lists_and_escaped_strings_and_leaves_texts_out() {
        let json = serde_json::json!({
            "id": "t", "version": "1", "title": "T",
            "sections": [{"id": "s", "title": "S"}],
            "items": [
                {"id": "sat", "section": "s", "kind": "satisfaction", "text": "Hài lòng?",
                 "options": [{"code": "1", "label": "Không"}, {"code": "5", "label": "Rất hài lòng"}]},
                {"id": "wish", "section": "s", "kind": "expectation", "text": "Mong muốn", "max_choices": 2,
                 "options": [{"code": "a", "label": "A"}, {"code": "b", "label": "B"}]},
                {"id": "note", "section": "s", "kind": "text", "text": "Ý kiến"},
                {"id": "gender", "section": "s", "kind": "background", "text": "Giới tính",
                 "options": [{"code": "1", "label": "Nam"}, {"code": "2", "label": "Nữ"}]}
            ],
            "indices": [{"id": "sipas", "label": "S", "rule": "share", "items": ["sat"], "positive": ["5"]}]
        });
        let form = crate::domain::form::parse_form("t.json", &json.to_string(), None).unwrap();
        let places = HashMap::from([(("00001".to_string(), "AG1".to_string()), ("001".to_string(), String::new()))]);
        let microdata = Microdata::new(Arc::new(form), places);
        assert_eq!(microdata.columns(), ["locality_code", "agency_code", "month", "sat", "wish", "gender"]);
        // An escaped code ("\u0062" is "b") is read like any other.
        let stored = r#"{"note":"Chữ \"ngoặc\"","sat":"5","wish":["a","\u0062"]}"#;
        let row = microdata
            .row(("00001".into(), "AG1".into()), "2026-11-30", stored, |cells| {
                cells.iter().map(|c| c.to_string()).collect::<Vec<_>>()
            })
            .unwrap();
        assert_eq!(row, ["001", "", "2026-11", "5", "a;b", ""]);
        let elsewhere = microdata.row(("00009".into(), "".into()), "2026-12-01", "{}", |cells| cells.len()).unwrap();
        assert_eq!(elsewhere, 6, "a leaf cell with no place is published for the whole wave");
        assert!(microdata.row(("00001".into(), "AG1".into()), "2026-11-30", r#"{"sat":5}"#, |_| ()).is_err());
    }
    use crate::domain::locality::two_district_province as tree;

    fn cell(l: &str, a: &str, n: u64) -> (String, String, u64) {
        (l.into(), a.into(), n)
    }

    fn published(map: &HashMap<(String, String), Published>, l: &str, a: &str) -> (String, String) {
        map[&(l.to_string(), a.to_string())].clone()
    }

    #[test]
    fn big_cells_stay_and_small_ones_move_up_until_big_enough() {
        let leaves = [cell("00001", "A", 7), cell("00002", "A", 2), cell("00003", "A", 3), cell("00003", "B", 6)];
        let map = generalise(&leaves, &tree(), 5, &|_, _| false);
        assert_eq!(published(&map, "00001", "A"), ("00001".into(), "A".into()));
        // 2 in 00002 and 3 in 00003 are too few in their districts apart (2, 3), so both
        // reach the province, where together they are 5.
        assert_eq!(published(&map, "00002", "A"), ("01".into(), "A".into()));
        assert_eq!(published(&map, "00003", "A"), ("01".into(), "A".into()));
        assert_eq!(published(&map, "00003", "B"), ("00003".into(), "B".into()));
    }

    #[test]
    fn a_place_whose_figures_the_tables_hide_joins_its_parent_with_the_small_one_it_protects() {
        // In district 001, 00002's 3 answers are hidden, and 00001's 6 beside them as their
        // complement: 00001's rows would give 00002's figures away (district minus 00001).
        let leaves = [cell("00001", "A", 6), cell("00002", "A", 3), cell("00003", "A", 10)];
        let hidden = |locality: &str, _: &str| locality == "00001" || locality == "00002";
        let map = generalise(&leaves, &tree(), 5, &hidden);
        assert_eq!(published(&map, "00001", "A"), ("001".into(), "A".into()));
        assert_eq!(published(&map, "00002", "A"), ("001".into(), "A".into()));
        assert_eq!(published(&map, "00003", "A"), ("00003".into(), "A".into()));
        // A district the tables hide too sends them on to the province.
        let hidden = |locality: &str, _: &str| locality != "00003" && locality != "01";
        let map = generalise(&leaves, &tree(), 5, &hidden);
        assert_eq!(published(&map, "00001", "A"), ("01".into(), "A".into()));
        assert_eq!(published(&map, "00003", "A"), ("00003".into(), "A".into()));
    }

    #[test]
    fn an_agency_too_small_in_the_whole_wave_is_left_out() {
        let leaves = [cell("00001", "A", 9), cell("00003", "B", 1), cell("00002", "", 4)];
        let map = generalise(&leaves, &tree(), 5, &|_, _| false);
        assert_eq!(published(&map, "00003", "B"), (String::new(), String::new()));
        assert_eq!(published(&map, "00002", ""), (String::new(), String::new()));
        assert_eq!(published(&map, "00001", "A"), ("00001".into(), "A".into()));
    }

    #[test]
    fn rows_left_without_place_are_never_fewer_than_k() {
        // 00002's 3 answers end with neither locality nor agency: then they would be known to
        // be 00002's, so the smallest other cell joins them.
        let leaves = [cell("00001", "A", 6), cell("00002", "B", 3), cell("00003", "C", 7)];
        let map = generalise(&leaves, &tree(), 5, &|_, _| false);
        assert_eq!(published(&map, "00002", "B"), (String::new(), String::new()));
        assert_eq!(published(&map, "00001", "A"), (String::new(), String::new()));
        assert_eq!(published(&map, "00003", "C"), ("00003".into(), "C".into()));
    }

    #[test]
    fn every_published_cell_holds_at_least_k_answers_when_the_wave_does() {
        let leaves = [cell("00001", "A", 1), cell("00002", "A", 1), cell("00003", "B", 1), cell("00003", "A", 4)];
        let map = generalise(&leaves, &tree(), 3, &|_, _| false);
        let mut sizes: HashMap<Published, u64> = HashMap::new();
        for (l, a, n) in &leaves {
            *sizes.entry(published(&map, l, a)).or_default() += n;
        }
        assert!(sizes.values().all(|&n| n >= 3), "{sizes:?}");
    }

    proptest::proptest! {
        #[test]
        fn no_published_cell_is_smaller_than_k(
            counts in proptest::collection::vec(0u64..8, 18),
            min_cell in 2u64..7,
        ) {
            let places = ["01", "001", "002", "00001", "00002", "00003"];
            let leaves: Vec<(String, String, u64)> = counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(i, &n)| (places[i % 6].to_string(), ["A", "B", ""][i / 6].to_string(), n))
                .collect();
            let map = generalise(&leaves, &tree(), min_cell, &|_, _| false);
            let mut sizes: HashMap<Published, u64> = HashMap::new();
            for (l, a, n) in &leaves {
                *sizes.entry(map[&(l.clone(), a.clone())].clone()).or_default() += n;
            }
            let total: u64 = leaves.iter().map(|(_, _, n)| n).sum();
            if total >= min_cell {
                proptest::prop_assert!(sizes.values().all(|&n| n >= min_cell), "{:?} from {:?}", sizes, leaves);
            }
        }
    }
}
