//! Turning answer counts into the indices a form declares.

use crate::domain::form::{Form, IndexRule};
use crate::domain::tally::{Layout, Slot, Tally};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexValue {
    pub id: String,
    pub label: String,
    #[serde(flatten)]
    pub figure: Figure,
}

/// One index's figure for one group, without the index's name: groups are many, and their
/// figures are listed in the form's order of indices.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Figure {
    /// Percentage, unrounded; `None` when no valid answer stands behind it.
    pub value: Option<f64>,
    /// Valid answers behind the figure (for a mean: the smallest n of its parts).
    pub n: u64,
    /// 95% Wilson interval for shares, so that small groups are read with care.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci_low: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci_high: Option<f64>,
}

/// How one index is computed, resolved against a wave's layout.
enum Step {
    /// The slots of its valid answers and of its hits.
    Share { valid: Vec<usize>, hits: Vec<usize> },
    /// The positions (in the form's order) of the indices it averages.
    Mean { parts: Vec<usize> },
}

/// A form's indices resolved to slots of a wave's layout once, then computed for any number
/// of groups from their tallies.
pub struct IndexPlan<'a> {
    form: &'a Form,
    steps: Vec<Step>,
}

impl<'a> IndexPlan<'a> {
    pub fn new(form: &'a Form, layout: &Layout) -> Self {
        let position = |id: &str| form.indices.iter().position(|i| i.id == id);
        let steps = form
            .indices
            .iter()
            .map(|index| match &index.rule {
                IndexRule::Share { items, positive } => Step::Share {
                    valid: items.iter().filter_map(|i| layout.position(&Slot::Answered { item: i.clone() })).collect(),
                    hits: items
                        .iter()
                        .flat_map(|i| positive.iter().map(move |c| (i, c)))
                        .filter_map(|(i, c)| layout.option(i, c))
                        .collect(),
                },
                IndexRule::Mean { of } => Step::Mean { parts: of.iter().filter_map(|id| position(id)).collect() },
            })
            .collect();
        Self { form, steps }
    }

    /// How many leading slots of a tally the plan reads (see `Tally::decode_first`).
    pub fn slots_read(&self) -> usize {
        let slots = self.steps.iter().flat_map(|step| match step {
            Step::Share { valid, hits } => valid.iter().chain(hits).max().copied(),
            Step::Mean { .. } => None,
        });
        slots.max().map_or(0, |last| last + 1)
    }

    /// Every index's figure, in the form's order of indices.
    pub fn compute(&self, tally: &Tally) -> Vec<Figure> {
        let sum = |slots: &[usize]| slots.iter().map(|&s| tally.get(s)).sum::<u64>();
        let mut figures: Vec<Figure> = Vec::with_capacity(self.steps.len());
        // `form.indices` is in dependency order, so every part is computed before its mean.
        for step in &self.steps {
            let figure = match step {
                Step::Share { valid, hits } => share(sum(hits), sum(valid)),
                Step::Mean { parts } => {
                    let parts: Vec<Figure> = parts.iter().filter_map(|&p| figures.get(p).copied()).collect();
                    let values: Option<Vec<f64>> = parts.iter().map(|p| p.value).collect();
                    Figure {
                        value: values.map(|v| v.iter().sum::<f64>() / v.len() as f64),
                        n: parts.iter().map(|p| p.n).min().unwrap_or(0),
                        ci_low: None,
                        ci_high: None,
                    }
                }
            };
            figures.push(figure);
        }
        figures
    }

    /// Figures named by their indices' ids and labels.
    pub fn labelled(&self, figures: Vec<Figure>) -> Vec<IndexValue> {
        self.form
            .indices
            .iter()
            .zip(figures)
            .map(|(index, figure)| IndexValue { id: index.id.clone(), label: index.label.clone(), figure })
            .collect()
    }
}

fn share(hits: u64, valid: u64) -> Figure {
    if valid == 0 {
        return Figure { value: None, n: 0, ci_low: None, ci_high: None };
    }
    let (low, high) = wilson_interval(hits, valid);
    Figure { value: Some(100.0 * hits as f64 / valid as f64), n: valid, ci_low: Some(low), ci_high: Some(high) }
}

/// 95% Wilson score interval in percent.
pub fn wilson_interval(hits: u64, n: u64) -> (f64, f64) {
    let z = 1.959_963_984_540_054_f64;
    let n_f = n as f64;
    let p = hits as f64 / n_f;
    let denominator = 1.0 + z * z / n_f;
    let centre = (p + z * z / (2.0 * n_f)) / denominator;
    let margin = z * ((p * (1.0 - p) / n_f) + z * z / (4.0 * n_f * n_f)).sqrt() / denominator;
    (100.0 * (centre - margin).max(0.0), 100.0 * (centre + margin).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::answers::ANSWERED;
    use crate::domain::form::parse_form;
    use serde_json::json;

    fn form() -> Form {
        let sat = json!([{"code": "1", "label": "1"}, {"code": "2", "label": "2"}, {"code": "3", "label": "3"},
                         {"code": "4", "label": "4"}, {"code": "5", "label": "5"},
                         {"code": "0", "label": "Không trả lời", "missing": true}]);
        let json = json!({
            "id": "t", "version": "1", "title": "T",
            "scales": {"sat": sat},
            "sections": [{"id": "s", "title": "S"}],
            "items": [
                {"id": "a", "section": "s", "kind": "satisfaction", "text": "A", "scale": "sat"},
                {"id": "b", "section": "s", "kind": "satisfaction", "text": "B", "scale": "sat"},
                {"id": "w", "section": "s", "kind": "expectation", "text": "W", "max_choices": 2,
                 "options": [{"code": "x", "label": "X"}, {"code": "y", "label": "Y"}]}
            ],
            "indices": [
                {"id": "sipas", "label": "SIPAS", "rule": "mean", "of": ["a", "b"]},
                {"id": "a", "label": "A", "rule": "share", "items": ["a"], "positive": ["4", "5"]},
                {"id": "b", "label": "B", "rule": "share", "items": ["b"], "positive": ["4", "5"]},
                {"id": "pooled", "label": "A+B", "rule": "share", "items": ["a", "b"], "positive": ["5"]},
                {"id": "wish_x", "label": "X", "rule": "share", "items": ["w"], "positive": ["x"]}
            ]
        });
        parse_form("t.json", &json.to_string(), None).unwrap()
    }

    /// Counts by (item, code), `ANSWERED` for valid answers, as a tally of the form's layout.
    struct Counts(Layout, Tally);

    impl Counts {
        fn new() -> Self {
            let mut layout = Layout::default();
            layout.extend_for(&form());
            Self(layout, Tally::default())
        }
        fn add(&mut self, item: &str, code: &str, n: u64) {
            let slot = if code == ANSWERED {
                self.0.position(&Slot::Answered { item: item.into() })
            } else {
                self.0.option(item, code)
            };
            self.1.add(slot.expect("slot of the form"), n);
        }
    }

    fn compute(form: &Form, counts: &Counts) -> Vec<IndexValue> {
        let plan = IndexPlan::new(form, &counts.0);
        plan.labelled(plan.compute(&counts.1))
    }

    fn value(values: &[IndexValue], id: &str) -> (Option<f64>, u64) {
        let v = values.iter().find(|v| v.id == id).unwrap();
        (v.figure.value, v.figure.n)
    }

    #[test]
    fn hand_computed_shares_and_mean() {
        // Item a: 10 answers, 3 at level 4 and 4 at level 5, 2 "không trả lời" besides.
        // Item b: 4 answers, 1 at level 5.
        let mut counts = Counts::new();
        counts.add("a", "4", 3);
        counts.add("a", "5", 4);
        counts.add("a", "2", 3);
        counts.add("a", "0", 2);
        counts.add("a", ANSWERED, 10);
        counts.add("b", "5", 1);
        counts.add("b", "1", 3);
        counts.add("b", ANSWERED, 4);
        let values = compute(&form(), &counts);
        assert_eq!(value(&values, "a"), (Some(70.0), 10));
        assert_eq!(value(&values, "b"), (Some(25.0), 4));
        assert_eq!(value(&values, "sipas"), (Some(47.5), 4));
        // Pooled: 5 answers at level 5 out of 14 valid.
        let (pooled, n) = value(&values, "pooled");
        assert_eq!(n, 14);
        assert!((pooled.unwrap() - 500.0 / 14.0).abs() < 1e-9);
    }

    #[test]
    fn multi_select_share_is_per_respondent_who_answered() {
        let mut counts = Counts::new();
        counts.add("w", "x", 3);
        counts.add("w", "y", 4);
        counts.add("w", ANSWERED, 5);
        assert_eq!(value(&compute(&form(), &counts), "wish_x"), (Some(60.0), 5));
    }

    #[test]
    fn index_without_valid_answers_has_no_value_and_neither_has_its_mean() {
        let mut counts = Counts::new();
        counts.add("a", "5", 1);
        counts.add("a", ANSWERED, 1);
        let values = compute(&form(), &counts);
        assert_eq!(value(&values, "b"), (None, 0));
        assert_eq!(value(&values, "sipas"), (None, 0));
    }

    #[test]
    fn wilson_interval_matches_hand_computed_cases() {
        // No hits in 10: the upper bound has the closed form z²/(n+z²) = 27.75%.
        let (low, high) = wilson_interval(0, 10);
        assert_eq!(low, 0.0);
        assert!((high - 27.75).abs() < 0.01, "{high}");
        // 81 of 263, worked by hand: 25.53% .. 36.62%.
        let (low, high) = wilson_interval(81, 263);
        assert!((low - 25.53).abs() < 0.01 && (high - 36.62).abs() < 0.01, "{low} {high}");
    }
}
