//! Turning answer counts into the indices a form declares.

use crate::domain::form::{Form, IndexRule};
use crate::domain::tally::{Layout, Part, Slot, Tally, mean_parts};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexValue {
    pub id: String,
    pub label: String,
    #[serde(flatten)]
    pub figure: Figure,
    /// Points gained since the wave compared with, when both figures are published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<f64>,
}

/// One index's figure for one group, without the index's name: groups are many, and their
/// figures are listed in the form's order of indices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Figure {
    /// Percentage, unrounded; `None` when no valid answer stands behind it.
    pub value: Option<f64>,
    /// Valid answers behind a share; for a mean, the forms behind it (the group's answers).
    pub n: u64,
    /// 95% interval: Wilson for shares; for means, normal with a linearised variance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci_low: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci_high: Option<f64>,
    /// Hidden by disclosure control (`value` is then `None`; `n` stays).
    pub suppressed: bool,
}

/// How one index is computed, resolved against a wave's layout.
enum Step {
    /// The slots of its valid answers and of its hits.
    Share { valid: Vec<usize>, hits: Vec<usize> },
    /// The positions (in the form's order) of the indices it averages, and what its
    /// interval needs.
    Mean { parts: Vec<usize>, spread: Option<MeanSpread> },
}

/// A mean index as a weighted sum of share indices M = Σ wᵢRᵢ (nested means flattened), with
/// the product slots of every pair: the linearised variance of M for n respondents is
/// n/(n−1) Σᵢⱼ wᵢwⱼ/(VᵢVⱼ) Σᵣ (hᵢ − Rᵢvᵢ)(hⱼ − Rⱼvⱼ), and the inner sum expands into
/// Σhᵢhⱼ − RⱼΣhᵢvⱼ − RᵢΣhⱼvᵢ + RᵢRⱼΣvᵢvⱼ, all kept in the tally.
struct MeanSpread {
    /// (position of the share index, weight).
    shares: Vec<(usize, f64)>,
    /// For every ordered pair (a, b) of `shares`: the slots of Σhₐh_b, Σvₐv_b, Σhₐv_b, Σh_bvₐ.
    pairs: Vec<[usize; 4]>,
}

impl MeanSpread {
    fn new(form: &Form, layout: &Layout, mean: &str) -> Option<Self> {
        let position = |id: &str| form.indices.iter().position(|i| i.id == id);
        let weighted = mean_parts(form, mean);
        let shares: Vec<(usize, f64)> =
            weighted.iter().map(|(id, w)| Some((position(id)?, *w))).collect::<Option<_>>()?;
        let ids: Vec<&String> = weighted.keys().collect();
        // Symmetric products are stored once, under either order.
        let product = |left: Part, right: Part| {
            layout
                .position(&Slot::Product { left: left.clone(), right: right.clone() })
                .or_else(|| layout.position(&Slot::Product { left: right, right: left }))
        };
        let mut pairs = Vec::with_capacity(ids.len() * ids.len());
        for a in &ids {
            for b in &ids {
                let (a, b) = ((*a).clone(), (*b).clone());
                pairs.push([
                    product(Part::Hits(a.clone()), Part::Hits(b.clone()))?,
                    product(Part::Valid(a.clone()), Part::Valid(b.clone()))?,
                    layout.position(&Slot::Product { left: Part::Hits(a.clone()), right: Part::Valid(b.clone()) })?,
                    layout.position(&Slot::Product { left: Part::Hits(b), right: Part::Valid(a) })?,
                ]);
            }
        }
        Some(Self { shares, pairs })
    }

    /// The 95% interval in percent, given each share's (hits, valid) and the respondents.
    fn interval(&self, tally: &Tally, sums: &[(u64, u64)], respondents: u64) -> Option<(f64, f64)> {
        if respondents < 2 {
            return None;
        }
        let parts: Vec<(f64, f64, f64)> = self
            .shares
            .iter()
            .map(|&(p, w)| {
                let (hits, valid) = sums[p];
                (valid > 0).then(|| (w, hits as f64 / valid as f64, valid as f64))
            })
            .collect::<Option<_>>()?;
        let mean: f64 = parts.iter().map(|(w, r, _)| w * r).sum();
        let m = parts.len();
        let mut sum_of_squares = 0.0;
        for (k, slots) in self.pairs.iter().enumerate() {
            let ((wa, ra, va), (wb, rb, vb)) = (parts[k / m], parts[k % m]);
            let [hh, vv, hv_ab, hv_ba] = slots.map(|s| tally.get(s) as f64);
            sum_of_squares += wa * wb / (va * vb) * (hh - rb * hv_ab - ra * hv_ba + ra * rb * vv);
        }
        let n = respondents as f64;
        let margin = Z_95 * (n / (n - 1.0) * sum_of_squares.max(0.0)).sqrt();
        Some((100.0 * (mean - margin).max(0.0), 100.0 * (mean + margin).min(1.0)))
    }
}

const Z_95: f64 = 1.959_963_984_540_054;

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
                IndexRule::Mean { of } => Step::Mean {
                    parts: of.iter().filter_map(|id| position(id)).collect(),
                    spread: MeanSpread::new(form, layout, &index.id),
                },
            })
            .collect();
        Self { form, steps }
    }

    /// How many leading slots of a tally the plan reads (see `Tally::decode_first`).
    pub fn slots_read(&self) -> usize {
        let slots = self.steps.iter().flat_map(|step| match step {
            Step::Share { valid, hits } => valid.iter().chain(hits).max().copied(),
            Step::Mean { spread, .. } => spread.as_ref().and_then(|s| s.pairs.iter().flatten().max().copied()),
        });
        slots.max().map_or(0, |last| last + 1)
    }

    /// How many leading slots `valid_counts` and `hit_counts` read: no product slots.
    pub fn count_slots_read(&self) -> usize {
        let slots = self.steps.iter().flat_map(|step| match step {
            Step::Share { valid, hits } => valid.iter().chain(hits).max().copied(),
            Step::Mean { .. } => None,
        });
        slots.max().map_or(0, |last| last + 1)
    }

    /// Every index's `n` as `compute` gives it, without the figures: what disclosure control
    /// decides by.
    pub fn valid_counts(&self, tally: &Tally, respondents: u64) -> Vec<u64> {
        let mut counts: Vec<u64> = Vec::with_capacity(self.steps.len());
        for step in &self.steps {
            let n = match step {
                Step::Share { valid, .. } => valid.iter().map(|&s| tally.get(s)).sum(),
                Step::Mean { parts, .. } => {
                    if parts.iter().all(|&p| counts.get(p).is_some_and(|&n| n > 0)) {
                        respondents
                    } else {
                        0
                    }
                }
            };
            counts.push(n);
        }
        counts
    }

    /// Every share index's positive answers (0 for means), read from the slots
    /// `count_slots_read` covers.
    pub fn hit_counts(&self, tally: &Tally) -> Vec<u64> {
        let hits = self.steps.iter().map(|step| match step {
            Step::Share { hits, .. } => hits.iter().map(|&s| tally.get(s)).sum(),
            Step::Mean { .. } => 0,
        });
        hits.collect()
    }

    /// Every index's figure, in the form's order of indices, for a group of `respondents`.
    pub fn compute(&self, tally: &Tally, respondents: u64) -> Vec<Figure> {
        let sum = |slots: &[usize]| slots.iter().map(|&s| tally.get(s)).sum::<u64>();
        let mut figures: Vec<Figure> = Vec::with_capacity(self.steps.len());
        // (hits, valid) of each share, (0, 0) for means.
        let mut sums: Vec<(u64, u64)> = Vec::with_capacity(self.steps.len());
        // `form.indices` is in dependency order, so every part is computed before its mean.
        for step in &self.steps {
            let figure = match step {
                Step::Share { valid, hits } => {
                    let (hits, valid) = (sum(hits), sum(valid));
                    sums.push((hits, valid));
                    share(hits, valid)
                }
                Step::Mean { parts, spread } => {
                    sums.push((0, 0));
                    let parts: Vec<Figure> = parts.iter().filter_map(|&p| figures.get(p).copied()).collect();
                    let values: Option<Vec<f64>> = parts.iter().map(|p| p.value).collect();
                    let value = values.map(|v| v.iter().sum::<f64>() / v.len() as f64);
                    let interval = value.and(spread.as_ref()).and_then(|s| s.interval(tally, &sums, respondents));
                    Figure {
                        value,
                        n: if value.is_some() { respondents } else { 0 },
                        ci_low: interval.map(|i| i.0),
                        ci_high: interval.map(|i| i.1),
                        suppressed: false,
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
            .map(|(index, figure)| IndexValue {
                id: index.id.clone(),
                label: index.label.clone(),
                figure,
                change: None,
            })
            .collect()
    }
}

fn share(hits: u64, valid: u64) -> Figure {
    if valid == 0 {
        return Figure { value: None, n: 0, ci_low: None, ci_high: None, suppressed: false };
    }
    let (low, high) = wilson_interval(hits, valid);
    Figure {
        value: Some(100.0 * hits as f64 / valid as f64),
        n: valid,
        ci_low: Some(low),
        ci_high: Some(high),
        suppressed: false,
    }
}

/// An index declared `mean_of_children` for a group: the unweighted mean of its units'
/// figures (units without valid answers left out). Its `n` is what stands behind the units
/// together; its interval treats the units as independent strata, each unit's standard error
/// read from its own 95% interval. Hidden where any unit is hidden: the mean and the other
/// units would give that one away.
pub fn mean_of_units(units: &[Figure]) -> Figure {
    let n = units.iter().map(|u| u.n).sum();
    if units.iter().any(|u| u.suppressed) {
        return Figure { value: None, n, ci_low: None, ci_high: None, suppressed: true };
    }
    let valued: Vec<&Figure> = units.iter().filter(|u| u.value.is_some()).collect();
    if valued.is_empty() {
        return Figure { value: None, n, ci_low: None, ci_high: None, suppressed: false };
    }
    let m = valued.len() as f64;
    let value = valued.iter().filter_map(|u| u.value).sum::<f64>() / m;
    let variance: Option<f64> = valued
        .iter()
        .map(|u| Some(((u.ci_high? - u.ci_low?) / (2.0 * Z_95)).powi(2)))
        .sum::<Option<f64>>()
        .map(|sum| sum / (m * m));
    let margin = variance.map(|v| Z_95 * v.sqrt());
    Figure {
        value: Some(value),
        n,
        ci_low: margin.map(|e| (value - e).max(0.0)),
        ci_high: margin.map(|e| (value + e).min(100.0)),
        suppressed: false,
    }
}

/// 95% Wilson score interval in percent.
pub fn wilson_interval(hits: u64, n: u64) -> (f64, f64) {
    let z = Z_95;
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

    fn unit(value: f64, n: u64, half_width: f64) -> Figure {
        Figure {
            value: Some(value),
            n,
            ci_low: Some(value - half_width),
            ci_high: Some(value + half_width),
            suppressed: false,
        }
    }

    #[test]
    fn mean_of_units_averages_values_not_answers() {
        // 90% of 100 and 60% of 10: pooled would be 87.3; the mean of the units is 75.
        let mean = mean_of_units(&[unit(90.0, 100, Z_95 * 3.0), unit(60.0, 10, Z_95 * 4.0), Figure::default()]);
        assert_eq!(mean.value, Some(75.0));
        assert_eq!(mean.n, 110);
        // se = √(3² + 4²) / 2 = 2.5
        assert!((mean.ci_high.unwrap() - (75.0 + Z_95 * 2.5)).abs() < 1e-9, "{mean:?}");
        assert!((mean.ci_low.unwrap() - (75.0 - Z_95 * 2.5)).abs() < 1e-9, "{mean:?}");
    }

    #[test]
    fn mean_of_units_is_hidden_when_a_unit_is() {
        let hidden = Figure { n: 3, suppressed: true, ..Figure::default() };
        let mean = mean_of_units(&[unit(90.0, 100, 1.0), hidden]);
        assert_eq!((mean.value, mean.suppressed, mean.n), (None, true, 103));
        assert_eq!(mean_of_units(&[]).value, None);
    }
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

    /// Figures of hand-made counts, for a group of 12 respondents.
    fn compute(form: &Form, counts: &Counts) -> Vec<IndexValue> {
        let plan = IndexPlan::new(form, &counts.0);
        plan.labelled(plan.compute(&counts.1, 12))
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
        assert_eq!(value(&values, "sipas"), (Some(47.5), 12), "a mean's n is the forms behind it");
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
    fn a_mean_index_has_the_interval_of_its_linearised_variance() {
        // Respondents as (answer to a, answer to b); "0" is "không trả lời".
        let people = [("5", "4"), ("4", "1"), ("2", "5"), ("5", "0"), ("1", "2"), ("4", "4"), ("0", "5"), ("3", "3")];
        let form = form();
        let mut layout = Layout::default();
        layout.extend_for(&form);
        let mut tally = Tally::default();
        for (a, b) in people {
            let given = [("a", a), ("b", b)].into_iter().map(|(i, c)| (i.to_string(), vec![c.to_string()])).collect();
            let valid = crate::domain::answers::validate(&form, &given).unwrap();
            for (slot, n) in crate::domain::tally::increments(&form, &layout, &valid) {
                tally.add(slot, n);
            }
        }
        let plan = IndexPlan::new(&form, &layout);
        let figures = plan.labelled(plan.compute(&tally, people.len() as u64));
        let sipas = figures.iter().find(|f| f.id == "sipas").unwrap().figure;

        // By hand from the respondents: a is 4 of 7 valid, b 4 of 7; M = (Ra + Rb) / 2 and
        // zᵣ = Σᵢ ½(hᵢᵣ − Rᵢvᵢᵣ)/Vᵢ, var = n/(n−1) Σ zᵣ².
        let positive = |c: &str| (c == "4" || c == "5") as u8 as f64;
        let answered = |c: &str| (c != "0") as u8 as f64;
        let (ra, rb) = (4.0 / 7.0, 4.0 / 7.0);
        let z: f64 = people
            .iter()
            .map(|(a, b)| {
                let z = 0.5 * (positive(a) - ra * answered(a)) / 7.0 + 0.5 * (positive(b) - rb * answered(b)) / 7.0;
                z * z
            })
            .sum();
        let margin = Z_95 * (8.0 / 7.0 * z).sqrt();
        let mean = (ra + rb) / 2.0;
        assert!((sipas.value.unwrap() - 100.0 * mean).abs() < 1e-9);
        assert_eq!(sipas.n, 8);
        assert!((sipas.ci_low.unwrap() - 100.0 * (mean - margin)).abs() < 1e-9, "{sipas:?}");
        assert!((sipas.ci_high.unwrap() - 100.0 * (mean + margin)).abs() < 1e-9, "{sipas:?}");
        assert!(sipas.ci_low.unwrap() > 20.0 && sipas.ci_high.unwrap() < 95.0, "{sipas:?}");
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
