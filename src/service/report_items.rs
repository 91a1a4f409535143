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
}

/// A unit's rows of `table`, items in the form's order; an expectation's options ranked
/// (in the form's order when hidden).
pub fn unit_rows<'a>(table: ItemTable, form: &'a Form, unit: Unit<'a>) -> Vec<OptionRow<'a>> {
    let mut rows = Vec::new();
    for (item, distribution) in choice_items(form).zip(unit.items) {
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
}
