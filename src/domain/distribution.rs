//! How a group answered each choice question: counts per option and shares, read from the
//! same tallies as the indices (no answer is read again).
//!
//! An option's share is of the item's valid answers (those with a non-missing code), so the
//! shares of a single-choice item's substantive options add up to 100; the share of a missing
//! option ("Không trả lời") is of all the group's forms, since it is outside the valid answers.
//! An expectation's share is of what its item declares (`Denominator`): every valid form by
//! default, as the methodology publishes "x% of those asked want …".

use crate::domain::form::{Denominator, Form, IndexRule, Item};
use crate::domain::tally::{Layout, Tally};

/// One choice item's answers in one group.
#[derive(Debug, Clone, PartialEq)]
pub struct Distribution {
    /// Answers with a non-missing code: always published, like an index's `n`.
    pub answered: u64,
    /// Per option, in the form's order (missing ones included); `None` when hidden by
    /// disclosure control.
    pub counts: Option<Vec<u64>>,
    /// The value of the share index defined on this item alone, when the form has exactly one.
    pub positive_share: Option<f64>,
}

impl Distribution {
    pub fn suppressed(&self) -> bool {
        self.counts.is_none()
    }

    /// Hides the counts and everything computed from them; `answered` stays.
    pub fn hide(&mut self) {
        self.counts = None;
        self.positive_share = None;
    }

    pub fn count(&self, option: usize) -> Option<u64> {
        self.counts.as_ref().and_then(|c| c.get(option).copied())
    }

    /// Option `option`'s share in %: of the valid answers, or for a missing option of all the
    /// group's `responses`. `None` when hidden or without a denominator.
    pub fn share(&self, item: &Item, option: usize, responses: u64) -> Option<f64> {
        let missing = item.options.get(option)?.missing;
        percent(self.count(option)?, if missing { responses } else { self.answered })
    }

    /// An expectation option's share in %, of the denominator its item declares.
    pub fn expectation_share(&self, item: &Item, option: usize, responses: u64) -> Option<f64> {
        match item.denominator {
            Denominator::ValidForms => percent(self.count(option)?, responses),
            Denominator::Answered => self.share(item, option, responses),
        }
    }

    /// The item's substantive options by expectation share, highest first; equal shares keep
    /// the form's order. Empty when hidden.
    pub fn ranked(&self, item: &Item) -> Vec<usize> {
        let Some(counts) = &self.counts else { return Vec::new() };
        let mut options: Vec<usize> = (0..item.options.len()).filter(|&o| !item.options[o].missing).collect();
        // The denominator is the same for every option: counts rank as shares do.
        options.sort_by_key(|&o| std::cmp::Reverse(counts[o]));
        options
    }
}

fn percent(count: u64, of: u64) -> Option<f64> {
    (of > 0).then(|| 100.0 * count as f64 / of as f64)
}

/// The items a distribution is kept for: every choice item, in the form's order (free text
/// has no options to count).
pub fn choice_items(form: &Form) -> impl Iterator<Item = &Item> {
    form.items.iter().filter(|i| !i.is_text())
}

/// One item resolved against a wave's layout.
struct Resolved {
    /// Slot per option, `None` for an option the layout lacks (never answered).
    options: Vec<Option<usize>>,
    answered: Option<usize>,
    /// Option positions of the positive codes of the one share index on this item alone.
    positive: Option<Vec<usize>>,
}

/// The form's choice items resolved to slots of a wave's layout once, then counted for any
/// number of groups from their tallies.
pub struct DistributionPlan<'a> {
    items: Vec<&'a Item>,
    resolved: Vec<Resolved>,
}

impl<'a> DistributionPlan<'a> {
    pub fn new(form: &'a Form, layout: &Layout) -> Self {
        let items: Vec<&Item> = choice_items(form).collect();
        let resolved = items
            .iter()
            .map(|item| {
                let alone: Vec<&Vec<String>> = form
                    .indices
                    .iter()
                    .filter_map(|index| match &index.rule {
                        IndexRule::Share { items, positive } if items.len() == 1 && items[0] == item.id => {
                            Some(positive)
                        }
                        _ => None,
                    })
                    .collect();
                let positive = match alone.as_slice() {
                    [codes] => Some(
                        item.options
                            .iter()
                            .enumerate()
                            .filter(|(_, o)| codes.contains(&o.code))
                            .map(|(i, _)| i)
                            .collect(),
                    ),
                    _ => None,
                };
                Resolved {
                    options: item.options.iter().map(|o| layout.option(&item.id, &o.code)).collect(),
                    answered: layout.answered(&item.id),
                    positive,
                }
            })
            .collect();
        Self { items, resolved }
    }

    /// The choice items, in the form's order: one `Distribution` each.
    pub fn items(&self) -> &[&'a Item] {
        &self.items
    }

    /// How many leading slots of a tally the plan reads (see `Tally::decode_first`).
    pub fn slots_read(&self) -> usize {
        let slots = self.resolved.iter().flat_map(|r| r.options.iter().chain([&r.answered]).flatten());
        slots.max().map_or(0, |last| last + 1)
    }

    /// Every choice item's distribution in a group's tally.
    pub fn compute(&self, tally: &Tally) -> Vec<Distribution> {
        self.resolved
            .iter()
            .map(|r| {
                let counts: Vec<u64> = r.options.iter().map(|s| s.map_or(0, |s| tally.get(s))).collect();
                let answered = r.answered.map_or(0, |s| tally.get(s));
                let positive_share =
                    r.positive.as_ref().and_then(|p| percent(p.iter().map(|&o| counts[o]).sum(), answered));
                Distribution { answered, counts: Some(counts), positive_share }
            })
            .collect()
    }

    /// Per item, its valid answers then the count of each substantive option: what
    /// disclosure control decides by and checks.
    pub fn valid_counts(&self, tally: &Tally) -> Vec<Vec<u64>> {
        let items = self.items.iter().zip(&self.resolved);
        items
            .map(|(item, r)| {
                let options = item.options.iter().zip(&r.options).filter(|(o, _)| !o.missing);
                std::iter::once(r.answered)
                    .chain(options.map(|(_, s)| *s))
                    .map(|s| s.map_or(0, |s| tally.get(s)))
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::answers;
    use crate::domain::form::parse_form;
    use crate::domain::tally::increments;
    use serde_json::json;

    fn form(denominator: &str) -> Form {
        let json = json!({
            "id": "t", "version": "1", "title": "T",
            "sections": [{"id": "s", "title": "S"}],
            "items": [
                {"id": "sat", "section": "s", "kind": "satisfaction", "text": "Hài lòng?",
                 "options": [{"code": "1", "label": "Không"}, {"code": "4", "label": "Hài lòng"},
                             {"code": "5", "label": "Rất hài lòng"}, {"code": "0", "label": "Không trả lời", "missing": true}]},
                {"id": "wish", "section": "s", "kind": "expectation", "text": "Mong muốn", "max_choices": 2,
                 "denominator": denominator,
                 "options": [{"code": "a", "label": "A"}, {"code": "b", "label": "B"}, {"code": "c", "label": "C"}]},
                {"id": "note", "section": "s", "kind": "text", "text": "Ý kiến"}
            ],
            "indices": [
                {"id": "sipas", "label": "S", "rule": "share", "items": ["sat"], "positive": ["4", "5"]},
                {"id": "wish_a", "label": "A", "rule": "share", "items": ["wish"], "positive": ["a"]},
                {"id": "wish_b", "label": "B", "rule": "share", "items": ["wish"], "positive": ["b"]}
            ]
        });
        parse_form("t.json", &json.to_string(), None).unwrap()
    }

    /// Five forms: sat 5, 4, 1, "0" (missing) and unanswered; wish {a, b}, {a}, {b}, {a},
    /// unanswered.
    fn tally(form: &Form, layout: &Layout) -> Tally {
        let forms: [&[(&str, &[&str])]; 5] = [
            &[("sat", &["5"]), ("wish", &["a", "b"])],
            &[("sat", &["4"]), ("wish", &["a"])],
            &[("sat", &["1"]), ("wish", &["b"])],
            &[("sat", &["0"]), ("wish", &["a"])],
            &[],
        ];
        let mut tally = Tally::default();
        for pairs in forms {
            let given = pairs.iter().map(|(k, v)| (k.to_string(), v.iter().map(|c| c.to_string()).collect())).collect();
            for (slot, n) in increments(form, layout, &answers::validate(form, &given).unwrap()) {
                tally.add(slot, n);
            }
        }
        tally
    }

    fn plan_and_tally(form: &Form) -> (Vec<Distribution>, Vec<Vec<u64>>) {
        let mut layout = Layout::default();
        layout.extend_for(form);
        let plan = DistributionPlan::new(form, &layout);
        assert_eq!(plan.items().iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["sat", "wish"], "no text");
        let tally = tally(form, &layout);
        (plan.compute(&tally), plan.valid_counts(&tally))
    }

    #[test]
    fn shares_are_of_valid_answers_and_a_missing_option_of_all_forms() {
        let form = form("valid_forms");
        let (items, _) = plan_and_tally(&form);
        let (sat, item) = (&items[0], form.item("sat").unwrap());
        assert_eq!(sat.answered, 3);
        assert_eq!(sat.counts, Some(vec![1, 1, 1, 1]));
        // 1 of 3 valid answers each; the missing answer is 1 of the 5 forms.
        let shares: Vec<Option<f64>> = (0..4).map(|o| sat.share(item, o, 5)).collect();
        assert_eq!(shares, [Some(100.0 / 3.0), Some(100.0 / 3.0), Some(100.0 / 3.0), Some(20.0)]);
        assert_eq!(sat.positive_share, Some(200.0 / 3.0), "the one index on the item: 4 or 5");
        assert_eq!(items[1].positive_share, None, "two indices on the item: none is the item's");
    }

    #[test]
    fn expectations_rank_by_the_declared_denominator() {
        let form_all = form("valid_forms");
        let (items, _) = plan_and_tally(&form_all);
        let (wish, item) = (&items[1], form_all.item("wish").unwrap());
        assert_eq!((wish.answered, wish.counts.clone()), (4, Some(vec![3, 2, 0])));
        assert_eq!(wish.ranked(item), [0, 1, 2]);
        // Of the 5 forms: a 60%, b 40%; of the 4 who answered: 75% and 50%.
        assert_eq!(wish.expectation_share(item, 0, 5), Some(60.0));
        assert_eq!(wish.expectation_share(item, 1, 5), Some(40.0));
        let form_answered = form("answered");
        let item = form_answered.item("wish").unwrap();
        assert_eq!(wish.expectation_share(item, 0, 5), Some(75.0));
        assert_eq!(wish.expectation_share(item, 1, 5), Some(50.0));
        assert_eq!(wish.share(item, 2, 5), Some(0.0));
    }

    #[test]
    fn hidden_items_keep_their_valid_answers_only() {
        let form = form("valid_forms");
        let (mut items, valid) = plan_and_tally(&form);
        assert_eq!(valid, [vec![3, 1, 1, 1], vec![4, 3, 2, 0]], "answered, then substantive options");
        items[0].hide();
        let item = form.item("sat").unwrap();
        assert!(items[0].suppressed());
        assert_eq!((items[0].answered, items[0].share(item, 0, 5), items[0].positive_share), (3, None, None));
        assert!(items[0].ranked(item).is_empty());
    }

    #[test]
    fn an_empty_group_has_counts_of_zero_and_no_shares() {
        let form = form("valid_forms");
        let mut layout = Layout::default();
        layout.extend_for(&form);
        let items = DistributionPlan::new(&form, &layout).compute(&Tally::default());
        let item = form.item("wish").unwrap();
        assert_eq!(
            (items[1].count(0), items[1].share(item, 0, 0), items[1].expectation_share(item, 0, 0)),
            (Some(0), None, None)
        );
    }
}
