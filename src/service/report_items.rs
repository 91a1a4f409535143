//! The report's `items` and `expectations` tables: one row per unit, choice item and option,
//! from the distributions `wave_results` read with the indices (already through the wave's
//! disclosure control).

use crate::domain::distribution::{Distribution, choice_items};
use crate::domain::form::{ChoiceOption, Form, Item, ItemKind};
use crate::service::results::{AgencyRef, GroupResult, LocalityRef, Overall};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemTable {
    /// Every choice item's options, with counts and shares of valid answers.
    Items,
    /// The expectation items' options, ranked, with shares of the declared denominator.
    Expectations,
}

impl ItemTable {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "items" => Some(ItemTable::Items),
            "expectations" => Some(ItemTable::Expectations),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ItemTable::Items => "items",
            ItemTable::Expectations => "expectations",
        }
    }
}

/// The whole wave or one group: whose distributions a set of rows shows.
#[derive(Clone, Copy)]
pub struct Unit<'a> {
    pub locality: Option<&'a LocalityRef>,
    pub agency: Option<&'a AgencyRef>,
    pub responses: u64,
    pub items: &'a [Distribution],
}

impl<'a> Unit<'a> {
    pub fn overall(overall: &'a Overall) -> Self {
        Unit { locality: None, agency: None, responses: overall.responses, items: &overall.items }
    }

    pub fn group(group: &'a GroupResult) -> Self {
        Unit {
            locality: group.locality.as_ref(),
            agency: group.agency.as_ref(),
            responses: group.responses,
            items: &group.items,
        }
    }
}

/// One option of one item in one unit.
pub struct OptionRow<'a> {
    pub unit: Unit<'a>,
    pub item: &'a Item,
    pub option: &'a ChoiceOption,
    /// `None` when the item is hidden in this unit.
    pub count: Option<u64>,
    /// %: of valid answers (a missing option: of all forms); expectations: of the declared
    /// denominator.
    pub share: Option<f64>,
    pub answered: u64,
    pub positive_share: Option<f64>,
    pub suppressed: bool,
    /// Expectations: the option's place among its item's options (1 = most chosen; equal
    /// shares share a place).
    pub rank: Option<u32>,
    /// Expectations asked as items of their own: the item's place among them
    /// (`ranked_expectation_items`).
    pub item_rank: Option<u32>,
}

/// A unit's rows of `table`, items in the form's order; an expectation's options ranked
/// (in the form's order when hidden).
pub fn unit_rows<'a>(table: ItemTable, form: &'a Form, unit: Unit<'a>) -> Vec<OptionRow<'a>> {
    let mut rows = Vec::new();
    let item_ranks = match table {
        ItemTable::Expectations => ranked_expectation_items(form, unit.items),
        ItemTable::Items => Vec::new(),
    };
    for (item, distribution) in choice_items(form).zip(unit.items) {
        let item_rank = item_ranks.iter().find(|r| r.item.id == item.id).map(|r| r.rank);
        let row = |option: usize, share: Option<f64>, rank: Option<u32>| OptionRow {
            unit,
            item,
            option: &item.options[option],
            count: distribution.count(option),
            share,
            answered: distribution.answered,
            positive_share: distribution.positive_share,
            suppressed: distribution.suppressed(),
            rank,
            item_rank,
        };
        match table {
            ItemTable::Items => {
                for option in 0..item.options.len() {
                    rows.push(row(option, distribution.share(item, option, unit.responses), None));
                }
            }
            ItemTable::Expectations if item.kind == ItemKind::Expectation => {
                let ranked = distribution.ranked(item);
                let order: Vec<usize> = if distribution.suppressed() {
                    (0..item.options.len()).filter(|&o| !item.options[o].missing).collect()
                } else {
                    ranked
                };
                let mut place = 0;
                for (i, &option) in order.iter().enumerate() {
                    if i == 0 || distribution.count(order[i - 1]) != distribution.count(option) {
                        place = i as u32 + 1;
                    }
                    let rank = (!distribution.suppressed()).then_some(place);
                    rows.push(row(option, distribution.expectation_share(item, option, unit.responses), rank));
                }
            }
            ItemTable::Expectations => {}
        }
    }
    rows
}

/// An expectation item's place among its unit's expectation items.
pub struct RankedExpectation<'a> {
    pub item: &'a Item,
    /// % wishing for it: the share of its declared positive options.
    pub share: f64,
    pub answered: u64,
    /// 1 = most wished; equal shares share a place.
    pub rank: u32,
}

/// Expectation items ranked against one another by the share wishing for each, most wished
/// first: forms that ask each expectation as a question of its own (SIPAS 2023: ten items
/// on a four-point scale) are read as one list, as forms with one multiple-choice item rank
/// its options. Only items whose share the form declares and the unit shows take part, and
/// only when at least two do.
pub fn ranked_expectation_items<'a>(form: &'a Form, items: &[Distribution]) -> Vec<RankedExpectation<'a>> {
    let mut ranked: Vec<(&Item, f64, u64)> = choice_items(form)
        .zip(items)
        .filter(|(item, _)| item.kind == ItemKind::Expectation)
        .filter_map(|(item, d)| Some((item, d.positive_share?, d.answered)))
        .collect();
    if ranked.len() < 2 {
        return Vec::new();
    }
    // Stable: equal shares keep the form's order.
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut place = 0;
    ranked
        .iter()
        .enumerate()
        .map(|(i, &(item, share, answered))| {
            if i == 0 || ranked[i - 1].1 != share {
                place = i as u32 + 1;
            }
            RankedExpectation { item, share, answered, rank: place }
        })
        .collect()
}

/// Perception criteria beside the satisfaction questions of the same factor.
pub struct FactorSideBySide<'a> {
    /// The section the factor's questions are in.
    pub title: &'a str,
    /// Each item with its answers in the unit (`positive_share` is what sets them side by side).
    pub perception: Vec<(&'a Item, &'a Distribution)>,
    pub satisfaction: Vec<(&'a Item, &'a Distribution)>,
}

/// Per factor (an item `dimension`) asked both ways, its perception criteria ("is the
/// waiting area adequate?") beside its satisfaction questions, in the form's order: what
/// people found and how satisfied they were, read together.
pub fn perception_beside_satisfaction<'a>(form: &'a Form, items: &'a [Distribution]) -> Vec<FactorSideBySide<'a>> {
    let mut factors: Vec<(&str, FactorSideBySide)> = Vec::new();
    for (item, distribution) in choice_items(form).zip(items) {
        let Some(dimension) = item.dimension.as_deref() else { continue };
        if !matches!(item.kind, ItemKind::Perception | ItemKind::Satisfaction) {
            continue;
        }
        let at = match factors.iter().position(|(d, _)| *d == dimension) {
            Some(at) => at,
            None => {
                let title = form.sections.iter().find(|s| s.id == item.section).map_or(dimension, |s| &s.title);
                let factor = FactorSideBySide { title, perception: Vec::new(), satisfaction: Vec::new() };
                factors.push((dimension, factor));
                factors.len() - 1
            }
        };
        let factor = &mut factors[at].1;
        let side = if item.kind == ItemKind::Perception { &mut factor.perception } else { &mut factor.satisfaction };
        side.push((item, distribution));
    }
    factors
        .into_iter()
        .map(|(_, factor)| factor)
        .filter(|f| !f.perception.is_empty() && !f.satisfaction.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::form::parse_form;
    use serde_json::json;

    #[test]
    fn expectations_are_ranked_with_equal_shares_sharing_a_place_and_items_keep_every_option() {
        let json = json!({
            "id": "t", "version": "1", "title": "T", "sections": [{"id": "s", "title": "S"}],
            "items": [
                {"id": "sat", "section": "s", "kind": "satisfaction", "text": "Hài lòng?",
                 "options": [{"code": "5", "label": "Có"}, {"code": "0", "label": "Không trả lời", "missing": true}]},
                {"id": "wish", "section": "s", "kind": "expectation", "text": "Mong muốn", "max_choices": 3,
                 "options": [{"code": "a", "label": "A"}, {"code": "b", "label": "B"}, {"code": "c", "label": "C"}]}
            ],
            "indices": [{"id": "sipas", "label": "S", "rule": "share", "items": ["sat"], "positive": ["5"]}]
        });
        let form = parse_form("t.json", &json.to_string(), None).unwrap();
        let items = [
            Distribution { answered: 3, counts: Some(vec![3, 1]), positive_share: Some(100.0) },
            Distribution { answered: 4, counts: Some(vec![1, 3, 3]), positive_share: None },
        ];
        let unit = Unit { locality: None, agency: None, responses: 5, items: &items };
        let rows = unit_rows(ItemTable::Expectations, &form, unit);
        let seen: Vec<(&str, Option<u32>, Option<f64>)> =
            rows.iter().map(|r| (r.option.code.as_str(), r.rank, r.share)).collect();
        assert_eq!(seen, [("b", Some(1), Some(60.0)), ("c", Some(1), Some(60.0)), ("a", Some(3), Some(20.0))]);
        let rows = unit_rows(ItemTable::Items, &form, unit);
        assert_eq!(rows.len(), 2 + 3);
        assert_eq!((rows[1].option.code.as_str(), rows[1].share), ("0", Some(20.0)), "missing: of all 5 forms");
        assert_eq!(rows[2].share, Some(25.0), "a: 1 of 4 valid answers");
    }

    fn distribution(positive_share: Option<f64>) -> Distribution {
        Distribution { answered: 10, counts: positive_share.map(|_| vec![5, 5]), positive_share }
    }

    #[test]
    fn expectation_items_asked_apart_are_ranked_by_the_share_wishing_for_each() {
        let wish = json!([{"code": "1", "label": "Không mong muốn"}, {"code": "4", "label": "Rất mong muốn"}]);
        let json = json!({
            "id": "t", "version": "1", "title": "T", "sections": [{"id": "s", "title": "S"}],
            "items": [
                {"id": "sat", "section": "s", "kind": "satisfaction", "text": "Hài lòng?", "options": wish},
                {"id": "w1", "section": "s", "kind": "expectation", "text": "Một", "options": wish},
                {"id": "w2", "section": "s", "kind": "expectation", "text": "Hai", "options": wish},
                {"id": "w3", "section": "s", "kind": "expectation", "text": "Ba", "options": wish},
                {"id": "w4", "section": "s", "kind": "expectation", "text": "Bốn", "options": wish}
            ],
            "indices": [{"id": "sipas", "label": "S", "rule": "share", "items": ["sat"], "positive": ["4"]}]
        });
        let form = parse_form("t.json", &json.to_string(), None).unwrap();
        // w4 is hidden in this unit: it takes no place.
        let items = [Some(90.0), Some(50.0), Some(80.0), Some(50.0), None].map(distribution);
        let ranked: Vec<(&str, u32, f64)> =
            ranked_expectation_items(&form, &items).iter().map(|r| (r.item.id.as_str(), r.rank, r.share)).collect();
        assert_eq!(ranked, [("w2", 1, 80.0), ("w1", 2, 50.0), ("w3", 2, 50.0)]);
        // One item alone is not a ranking.
        let items = [Some(90.0), Some(50.0), None, None, None].map(distribution);
        assert!(ranked_expectation_items(&form, &items).is_empty());
    }

    #[test]
    fn perception_criteria_stand_beside_the_satisfaction_questions_of_their_factor() {
        let yes_no = json!([{"code": "1", "label": "Có"}, {"code": "2", "label": "Không"}]);
        let json = json!({
            "id": "t", "version": "1", "title": "T",
            "sections": [{"id": "access", "title": "Tiếp cận dịch vụ"}, {"id": "other", "title": "Khác"}],
            "items": [
                {"id": "seats", "section": "access", "kind": "perception", "dimension": "service.access", "text": "Đủ chỗ ngồi", "options": yes_no},
                {"id": "sat_other", "section": "other", "kind": "satisfaction", "dimension": "service.other", "text": "Hài lòng khác", "options": yes_no},
                {"id": "equipment", "section": "access", "kind": "perception", "dimension": "service.access", "text": "Đủ thiết bị", "options": yes_no},
                {"id": "sat_access", "section": "access", "kind": "satisfaction", "dimension": "service.access", "text": "Hài lòng tiếp cận", "options": yes_no}
            ],
            "indices": [{"id": "sipas", "label": "S", "rule": "share", "items": ["sat_access"], "positive": ["1"]}]
        });
        let form = parse_form("t.json", &json.to_string(), None).unwrap();
        let items = [Some(70.0), Some(40.0), None, Some(60.0)].map(distribution);
        let factors = perception_beside_satisfaction(&form, &items);
        assert_eq!(factors.len(), 1, "a factor asked only one way has nothing beside it");
        let access = &factors[0];
        assert_eq!(access.title, "Tiếp cận dịch vụ");
        let ids = |side: &[(&Item, &Distribution)]| {
            side.iter().map(|(i, d)| (i.id.clone(), d.positive_share)).collect::<Vec<_>>()
        };
        assert_eq!(ids(&access.perception), [("seats".to_string(), Some(70.0)), ("equipment".to_string(), None)]);
        assert_eq!(ids(&access.satisfaction), [("sat_access".to_string(), Some(60.0))]);
    }
}
