//! How far a wave has come: sampled, invited, delivered and answered people, per stratum and
//! rolled up the locality tree.

use super::locality::LocalityTree;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::ops::AddAssign;

/// Counts of sampled people.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub sampled: i64,
    pub invited: i64,
    pub delivered: i64,
    pub answered: i64,
}

impl Tally {
    /// Response rate in % of those invited; `None` before anyone is.
    pub fn rate(&self) -> Option<f64> {
        (self.invited > 0).then(|| 100.0 * self.answered as f64 / self.invited as f64)
    }
}

impl AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.sampled += other.sampled;
        self.invited += other.invited;
        self.delivered += other.delivered;
        self.answered += other.answered;
    }
}

/// One locality's figures: everyone sampled in it or beneath it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalityProgress {
    pub code: String,
    pub name: String,
    pub level: String,
    pub parent_code: Option<String>,
    /// How many rolled-up ancestors sit above it (0 at the top), for indented tables.
    #[serde(skip)]
    pub depth: usize,
    #[serde(flatten)]
    pub tally: Tally,
    pub rate: Option<f64>,
}

/// Adds each tally (keyed by the locality the people live in, usually a commune) to that
/// locality and every ancestor of it. Returns every locality with sampled people beneath
/// it, depth first: each parent before its children, siblings by code. Tallies of a
/// locality outside the tree are left out.
pub fn roll_up<'a>(tree: &LocalityTree, tallies: impl IntoIterator<Item = (&'a str, Tally)>) -> Vec<LocalityProgress> {
    let mut totals: HashMap<&str, Tally> = HashMap::new();
    for (code, tally) in tallies {
        for locality in tree.ancestors(code) {
            *totals.entry(locality.code.as_str()).or_default() += tally;
        }
    }
    // Parent → children among the rolled-up localities; a locality whose parent is not
    // among them is a root.
    let mut children: BTreeMap<Option<&str>, Vec<&str>> = BTreeMap::new();
    for &code in totals.keys() {
        let parent = tree.get(code).and_then(|l| l.parent_code.as_deref()).filter(|p| totals.contains_key(p));
        children.entry(parent).or_default().push(code);
    }
    children.values_mut().for_each(|codes| codes.sort_unstable());
    let mut out = Vec::with_capacity(totals.len());
    let mut stack: Vec<(&str, usize)> =
        children.get(&None).map(|roots| roots.iter().rev().map(|&c| (c, 0)).collect()).unwrap_or_default();
    while let Some((code, depth)) = stack.pop() {
        // A corrupt cycle cannot revisit: every locality is emitted once at most.
        if out.len() >= totals.len() {
            break;
        }
        let (Some(locality), Some(&tally)) = (tree.get(code), totals.get(code)) else { continue };
        out.push(LocalityProgress {
            code: locality.code.clone(),
            name: locality.name.clone(),
            level: locality.level.clone(),
            parent_code: locality.parent_code.clone(),
            depth,
            tally,
            rate: tally.rate(),
        });
        if let Some(kids) = children.get(&Some(code)) {
            stack.extend(kids.iter().rev().map(|&c| (c, depth + 1)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::locality::Locality;
    use proptest::prelude::*;

    fn tree() -> LocalityTree {
        LocalityTree::new([
            Locality::parse("01", "Tỉnh Một", "province", None).unwrap(),
            Locality::parse("001", "Huyện Một", "district", Some("01")).unwrap(),
            Locality::parse("002", "Huyện Hai", "district", Some("01")).unwrap(),
            Locality::parse("003", "Huyện Ba", "district", Some("01")).unwrap(),
            Locality::parse("00001", "Xã Một Một", "commune", Some("001")).unwrap(),
            Locality::parse("00002", "Xã Một Hai", "commune", Some("001")).unwrap(),
            Locality::parse("00003", "Xã Hai Một", "commune", Some("002")).unwrap(),
            Locality::parse("00009", "Xã trực thuộc tỉnh", "commune", Some("01")).unwrap(),
        ])
    }

    fn tally(sampled: i64, invited: i64, delivered: i64, answered: i64) -> Tally {
        Tally { sampled, invited, delivered, answered }
    }

    fn find<'a>(rows: &'a [LocalityProgress], code: &str) -> &'a LocalityProgress {
        rows.iter().find(|r| r.code == code).unwrap_or_else(|| panic!("no {code}"))
    }

    #[test]
    fn communes_roll_up_to_their_district_and_province_in_tree_order() {
        let rows = roll_up(
            &tree(),
            [("00001", tally(4, 4, 3, 1)), ("00002", tally(2, 2, 2, 2)), ("00003", tally(3, 0, 0, 0))],
        );
        let order: Vec<(&str, usize)> = rows.iter().map(|r| (r.code.as_str(), r.depth)).collect();
        assert_eq!(order, [("01", 0), ("001", 1), ("00001", 2), ("00002", 2), ("002", 1), ("00003", 2)]);
        assert_eq!(find(&rows, "001").tally, tally(6, 6, 5, 3));
        assert_eq!(find(&rows, "01").tally, tally(9, 6, 5, 3));
        assert_eq!(find(&rows, "001").rate, Some(50.0));
        assert_eq!(find(&rows, "002").rate, None, "nobody invited yet: no rate");
        assert!(rows.iter().all(|r| r.code != "003"), "a district without sampled people is left out");
    }

    #[test]
    fn people_above_commune_level_count_in_their_own_locality_and_above() {
        let rows =
            roll_up(&tree(), [("001", tally(2, 2, 2, 0)), ("00001", tally(1, 1, 1, 1)), ("00009", tally(5, 5, 5, 5))]);
        assert_eq!(find(&rows, "001").tally, tally(3, 3, 3, 1), "own people and the commune's");
        assert_eq!(find(&rows, "01").tally, tally(8, 8, 8, 6));
        assert_eq!(find(&rows, "00009").depth, 1, "a commune directly under the province");
    }

    #[test]
    fn localities_outside_the_tree_are_left_out() {
        let rows = roll_up(&tree(), [("99999", tally(7, 7, 7, 7)), ("00003", tally(1, 1, 0, 0))]);
        assert_eq!(find(&rows, "01").tally, tally(1, 1, 0, 0));
        assert_eq!(rows.len(), 3);
    }

    proptest! {
        #[test]
        fn a_parent_is_the_sum_of_its_children_when_people_live_in_communes(
            counts in proptest::collection::vec((0usize..4, 0i64..50, 0i64..50, 0i64..50, 0i64..50), 0..20)
        ) {
            let communes = ["00001", "00002", "00003", "00009"];
            let tallies: Vec<(&str, Tally)> =
                counts.iter().map(|&(c, s, i, d, a)| (communes[c], tally(s, i, d, a))).collect();
            let rows = roll_up(&tree(), tallies.iter().copied());
            for parent in &rows {
                let kids: Vec<&LocalityProgress> =
                    rows.iter().filter(|r| r.parent_code.as_deref() == Some(parent.code.as_str())).collect();
                if parent.level == "commune" {
                    prop_assert!(kids.is_empty());
                    continue;
                }
                let mut sum = Tally::default();
                kids.iter().for_each(|k| sum += k.tally);
                prop_assert_eq!(sum, parent.tally, "{}", parent.code);
                prop_assert!(kids.iter().all(|k| k.depth == parent.depth + 1));
            }
            let mut everyone = Tally::default();
            tallies.iter().for_each(|(_, t)| everyone += *t);
            if !tallies.is_empty() {
                prop_assert_eq!(find(&rows, "01").tally, everyone);
            }
        }
    }
}
