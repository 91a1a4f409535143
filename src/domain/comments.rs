//! Where free-text answers may be shown: the place the microdata's threshold would publish
//! their answer at (its locality generalised upward, its agency left out when the agency is
//! small in the whole wave), and only where that place holds at least k answers. No date goes
//! with a comment: a day or a month could single its writer out of the place's answers.

use super::locality::LocalityTree;
use super::microdata::{Published, generalise};
use std::collections::HashMap;

/// The published place of every leaf cell (invitation locality, agency) whose comments may
/// be shown; a leaf cell missing from the map keeps its comments hidden.
pub fn comment_places(
    leaves: &[(String, String, u64)],
    tree: &LocalityTree,
    min_cell: u64,
) -> HashMap<(String, String), Published> {
    // A comment gives no figure away, so only the threshold moves it: the tables' hidden
    // figures, which also move microdata rows, are not asked.
    let mut places = generalise(leaves, tree, min_cell, &|_, _| false);
    let mut sizes: HashMap<Published, u64> = HashMap::new();
    for (l, a, n) in leaves {
        *sizes.entry(places[&(l.clone(), a.clone())].clone()).or_default() += n;
    }
    places.retain(|_, place| sizes[place] >= min_cell);
    places
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::locality::Locality;

    fn tree() -> LocalityTree {
        LocalityTree::new([
            Locality::parse("01", "Tỉnh", "province", None).unwrap(),
            Locality::parse("001", "Huyện Một", "district", Some("01")).unwrap(),
            Locality::parse("00001", "Xã Một", "commune", Some("001")).unwrap(),
            Locality::parse("00002", "Xã Hai", "commune", Some("001")).unwrap(),
        ])
    }

    fn cell(l: &str, a: &str, n: u64) -> (String, String, u64) {
        (l.into(), a.into(), n)
    }

    #[test]
    fn small_cells_show_their_comments_higher_up_and_a_small_wave_shows_none() {
        let places = comment_places(&[cell("00001", "A", 2), cell("00002", "A", 1)], &tree(), 3);
        assert_eq!(places[&("00001".into(), "A".into())], ("001".into(), "A".into()));
        assert_eq!(places[&("00002".into(), "A".into())], ("001".into(), "A".into()));
        let places = comment_places(&[cell("00001", "A", 2), cell("00002", "A", 1)], &tree(), 4);
        assert!(places.is_empty(), "3 answers in the whole wave: {places:?}");
    }
}
