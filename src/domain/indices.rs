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
    /// Design effect of a weighted figure: its variance over that of a simple random sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deff: Option<f64>,
    /// Hidden by disclosure control (`value` is then `None`; `n` stays).
    pub suppressed: bool,
}

/// How one index is computed, resolved against a wave's layout.
enum Step {
    /// The slots of its valid answers and of its hits, and what a weighted estimate needs.
    Share { valid: Vec<usize>, hits: Vec<usize>, spread: Linear },
    /// The positions (in the form's order) of the indices it averages, and what its
    /// interval needs.
    Mean { parts: Vec<usize>, spread: Option<Linear> },
}

/// An index as a weighted sum of share indices M = Σ cₖRₖ (a share is itself with c = 1;
/// nested means are flattened), with the product slots of every pair: what its linearised
/// variance needs. Per respondent, z = Σₖ cₖ/Xₖ (hₖ − Rₖvₖ), so Σz² expands into
/// Σₖₗ cₖcₗ/(XₖXₗ) (Σhₖhₗ − RₗΣhₖvₗ − RₖΣhₗvₖ + RₖRₗΣvₖvₗ), all kept in the tally. The
/// term of (k, l) equals that of (l, k), so only pairs k ≤ l are kept and the others counted
/// twice: a SIPAS mean of 39 items reads half the products it would otherwise.
struct Linear {
    /// (position of the share index, coefficient).
    shares: Vec<(usize, f64)>,
    /// Every pair k ≤ l of `shares`.
    pairs: Vec<Pair>,
}

/// A pair of a mean's shares (k ≤ l) and the slots of Σhₖhₗ, Σvₖvₗ, Σhₖvₗ, Σhₗvₖ; `None`
/// for a share's own pair when the layout keeps no products for it (a share not in any
/// mean): its answers are then 0 or 1 per respondent, so Σh² = Σhv = H and Σv² = V.
struct Pair {
    k: usize,
    l: usize,
    slots: Option<[usize; 4]>,
}

/// A group's answers within one stratum of a sampling design.
pub struct StratumPart<'t> {
    pub tally: &'t Tally,
    /// The group's respondents in the stratum.
    pub respondents: u64,
    /// The stratum's weight N_h / r_h (1 outside any drawn stratum).
    pub weight: f64,
    /// r_h: the stratum's respondents, in the group or not.
    pub stratum_respondents: u64,
    /// r_h / N_h (0 outside any drawn stratum).
    pub sampling_fraction: f64,
}

impl<'t> StratumPart<'t> {
    /// A group's answers as one simple random sample, unweighted.
    fn simple(tally: &'t Tally, respondents: u64) -> Self {
        Self { tally, respondents, weight: 1.0, stratum_respondents: respondents, sampling_fraction: 0.0 }
    }
}

impl Linear {
    fn of_mean(form: &Form, layout: &Layout, mean: &str) -> Option<Self> {
        let position = |id: &str| form.indices.iter().position(|i| i.id == id);
        let weighted = mean_parts(form, mean);
        let shares: Vec<(usize, f64)> =
            weighted.iter().map(|(id, w)| Some((position(id)?, *w))).collect::<Option<_>>()?;
        let ids: Vec<&String> = weighted.keys().collect();
        let mut pairs = Vec::with_capacity(ids.len() * (ids.len() + 1) / 2);
        for (k, a) in ids.iter().enumerate() {
            for (l, b) in ids.iter().enumerate().skip(k) {
                pairs.push(Pair { k, l, slots: Some(pair_slots(layout, a, b)?) });
            }
        }
        Some(Self { shares, pairs })
    }

    fn of_share(layout: &Layout, position: usize, id: &str) -> Self {
        Self { shares: vec![(position, 1.0)], pairs: vec![Pair { k: 0, l: 0, slots: pair_slots(layout, id, id) }] }
    }

    /// Value and variance (as proportions) of Σ cₖRₖ estimated from weighted strata, the
    /// shares' (hits, valid) per stratum given by `sums`; a stratum of fewer than two
    /// respondents adds no variance. `None` where a share has no valid answer.
    fn estimate(&self, strata: &[StratumPart], sums: &[Vec<(u64, u64)>]) -> Option<(f64, f64)> {
        // Weighted totals Ŷₖ, X̂ₖ and ratios Rₖ.
        let totals: Vec<(f64, f64)> = self
            .shares
            .iter()
            .map(|&(p, _)| {
                strata.iter().zip(sums).fold((0.0, 0.0), |(y, x), (stratum, sums)| {
                    (y + stratum.weight * sums[p].0 as f64, x + stratum.weight * sums[p].1 as f64)
                })
            })
            .collect();
        let ratios: Vec<f64> = totals.iter().map(|&(y, x)| (x > 0.0).then(|| y / x)).collect::<Option<_>>()?;
        let value: f64 = self.shares.iter().zip(&ratios).map(|((_, c), r)| c * r).sum();
        // αₖ = cₖ/Xₖ and βₖ = αₖRₖ: the term of (k, l) is αₖαₗΣhₖhₗ − αₖβₗΣhₖvₗ − βₖαₗΣhₗvₖ
        // + βₖβₗΣvₖvₗ.
        let alpha: Vec<f64> = self.shares.iter().zip(&totals).map(|((_, c), (_, x))| c / x).collect();
        let beta: Vec<f64> = alpha.iter().zip(&ratios).map(|(a, r)| a * r).collect();
        let mut variance = 0.0;
        for (stratum, sums) in strata.iter().zip(sums) {
            let r = stratum.stratum_respondents as f64;
            if stratum.stratum_respondents < 2 {
                continue;
            }
            let share = |k: usize| (sums[self.shares[k].0].0 as f64, sums[self.shares[k].0].1 as f64);
            let sum_z: f64 = (0..self.shares.len()).map(|k| alpha[k] * (share(k).0 - ratios[k] * share(k).1)).sum();
            let mut sum_z2 = 0.0;
            for &Pair { k, l, slots } in &self.pairs {
                let [hh, vv, hv_kl, hv_lk] = match slots {
                    Some(slots) => slots.map(|s| stratum.tally.get(s) as f64),
                    None => [share(k).0, share(k).1, share(k).0, share(k).0],
                };
                let term = alpha[k] * alpha[l] * hh - alpha[k] * beta[l] * hv_kl - beta[k] * alpha[l] * hv_lk
                    + beta[k] * beta[l] * vv;
                sum_z2 += if k == l { term } else { 2.0 * term };
            }
            let within = (sum_z2 - sum_z * sum_z / r).max(0.0);
            variance += stratum.weight.powi(2) * (1.0 - stratum.sampling_fraction) * r / (r - 1.0) * within;
        }
        Some((value, variance))
    }
}

/// Slots of Σhₐh_b, Σvₐv_b, Σhₐv_b, Σh_bvₐ (symmetric products are stored once, under either
/// order).
fn pair_slots(layout: &Layout, a: &str, b: &str) -> Option<[usize; 4]> {
    let product = |left: Part, right: Part| {
        layout
            .position(&Slot::Product { left: left.clone(), right: right.clone() })
            .or_else(|| layout.position(&Slot::Product { left: right, right: left }))
    };
    let (a, b) = (a.to_string(), b.to_string());
    Some([
        product(Part::Hits(a.clone()), Part::Hits(b.clone()))?,
        product(Part::Valid(a.clone()), Part::Valid(b.clone()))?,
        layout.position(&Slot::Product { left: Part::Hits(a.clone()), right: Part::Valid(b.clone()) })?,
        layout.position(&Slot::Product { left: Part::Hits(b), right: Part::Valid(a) })?,
    ])
}

const Z_95: f64 = 1.959_963_984_540_054;

/// The normal 95% interval in percent of a proportion with this variance, within 0–100%.
fn normal_interval(value: f64, variance: f64) -> (f64, f64) {
    let margin = Z_95 * variance.sqrt();
    (100.0 * (value - margin).max(0.0), 100.0 * (value + margin).min(1.0))
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
                    spread: Linear::of_share(layout, position(&index.id).expect("the form's own index"), &index.id),
                    valid: items.iter().filter_map(|i| layout.position(&Slot::Answered { item: i.clone() })).collect(),
                    hits: items
                        .iter()
                        .flat_map(|i| positive.iter().map(move |c| (i, c)))
                        .filter_map(|(i, c)| layout.option(i, c))
                        .collect(),
                },
                IndexRule::Mean { of } => Step::Mean {
                    parts: of.iter().filter_map(|id| position(id)).collect(),
                    spread: Linear::of_mean(form, layout, &index.id),
                },
            })
            .collect();
        Self { form, steps }
    }

    /// How many leading slots of a tally the plan reads (see `Tally::decode_first`).
    pub fn slots_read(&self) -> usize {
        let slots = self.steps.iter().flat_map(|step| match step {
            Step::Share { valid, hits, spread } => valid
                .iter()
                .chain(hits)
                .chain(spread.pairs.iter().flat_map(|p| p.slots.iter().flatten()))
                .max()
                .copied(),
            Step::Mean { spread, .. } => {
                spread.as_ref().and_then(|s| s.pairs.iter().flat_map(|p| p.slots.iter().flatten()).max().copied())
            }
        });
        slots.max().map_or(0, |last| last + 1)
    }

    /// How many leading slots `valid_counts` and `hit_counts` read: no product slots.
    pub fn count_slots_read(&self) -> usize {
        let slots = self.steps.iter().flat_map(|step| match step {
            Step::Share { valid, hits, .. } => valid.iter().chain(hits).max().copied(),
            Step::Mean { .. } => None,
        });
        slots.max().map_or(0, |last| last + 1)
    }

    /// Every index's `n` as `compute` gives it, without the figures: what disclosure control
    /// decides by.
    pub fn valid_counts(&self, tally: &Tally, respondents: u64) -> Vec<u64> {
        let mut counts = self.share_valid_counts(tally);
        self.complete_mean_counts(&mut counts, respondents);
        counts
    }

    /// Every share index's valid answers (0 for means): unlike a mean's `n`, these add up
    /// over groups of answers.
    pub fn share_valid_counts(&self, tally: &Tally) -> Vec<u64> {
        let valid = self.steps.iter().map(|step| match step {
            Step::Share { valid, .. } => valid.iter().map(|&s| tally.get(s)).sum(),
            Step::Mean { .. } => 0,
        });
        valid.collect()
    }

    /// Sets each mean index's `n` in `counts` (which hold the shares' valid answers of a
    /// group of `respondents`): every form behind it, when each of its parts has answers.
    pub fn complete_mean_counts(&self, counts: &mut [u64], respondents: u64) {
        for (i, step) in self.steps.iter().enumerate() {
            if let Step::Mean { parts, .. } = step {
                // Parts come before their mean, so a mean of means reads completed counts.
                let answered = parts.iter().all(|&p| counts.get(p).is_some_and(|&n| n > 0));
                counts[i] = if answered { respondents } else { 0 };
            }
        }
    }

    /// How many indices the form has: the length of every per-index vector the plan gives.
    pub fn indices(&self) -> usize {
        self.steps.len()
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
                Step::Share { valid, hits, .. } => {
                    let (hits, valid) = (sum(hits), sum(valid));
                    sums.push((hits, valid));
                    share(hits, valid)
                }
                Step::Mean { parts, spread } => {
                    sums.push((0, 0));
                    let parts: Vec<Figure> = parts.iter().filter_map(|&p| figures.get(p).copied()).collect();
                    let values: Option<Vec<f64>> = parts.iter().map(|p| p.value).collect();
                    let value = values.map(|v| v.iter().sum::<f64>() / v.len() as f64);
                    let interval = value.and(spread.as_ref()).filter(|_| respondents >= 2).and_then(|spread| {
                        let whole = StratumPart::simple(tally, respondents);
                        let (mean, variance) = spread.estimate(&[whole], std::slice::from_ref(&sums))?;
                        Some(normal_interval(mean, variance))
                    });
                    Figure {
                        value,
                        n: if value.is_some() { respondents } else { 0 },
                        ci_low: interval.map(|i| i.0),
                        ci_high: interval.map(|i| i.1),
                        ..Figure::default()
                    }
                }
            };
            figures.push(figure);
        }
        figures
    }

    /// Every index's figure from a group's answers in the strata of a sampling design: values
    /// weighted (Σ w·hits / Σ w·valid per share), `n` unweighted, the interval from the
    /// stratified linearised variance, and the design effect: that variance over the one of a
    /// simple random sample of the same answers, unweighted.
    pub fn compute_weighted(&self, strata: &[StratumPart]) -> Vec<Figure> {
        let mut whole = Tally::default();
        for stratum in strata {
            whole.merge(stratum.tally);
        }
        let respondents: u64 = strata.iter().map(|s| s.respondents).sum();
        let unweighted = self.compute(&whole, respondents);
        let sums: Vec<Vec<(u64, u64)>> = strata.iter().map(|s| self.share_sums(s.tally)).collect();
        let simple = [StratumPart::simple(&whole, respondents)];
        let simple_sums = [self.share_sums(&whole)];
        let mut figures: Vec<Figure> = Vec::with_capacity(self.steps.len());
        for (step, base) in self.steps.iter().zip(&unweighted) {
            let spread = match step {
                Step::Share { spread, .. } => Some(spread),
                Step::Mean { spread, .. } => spread.as_ref(),
            };
            let figure = match spread.filter(|_| base.value.is_some()) {
                Some(spread) => {
                    let estimate = spread.estimate(strata, &sums);
                    let srs = spread.estimate(&simple, &simple_sums).map(|(_, v)| v).filter(|&v| v > 0.0);
                    let interval = estimate.filter(|_| respondents >= 2).map(|(v, var)| normal_interval(v, var));
                    Figure {
                        value: estimate.map(|(v, _)| 100.0 * v),
                        n: base.n,
                        ci_low: interval.map(|i| i.0),
                        ci_high: interval.map(|i| i.1),
                        deff: estimate.zip(srs).map(|((_, design), srs)| design / srs),
                        suppressed: false,
                    }
                }
                None => Figure { value: None, n: base.n, ..Figure::default() },
            };
            figures.push(figure);
        }
        figures
    }

    /// Each share's (hits, valid) in `tally`, (0, 0) for means.
    fn share_sums(&self, tally: &Tally) -> Vec<(u64, u64)> {
        let sum = |slots: &[usize]| slots.iter().map(|&s| tally.get(s)).sum::<u64>();
        self.steps
            .iter()
            .map(|step| match step {
                Step::Share { valid, hits, .. } => (sum(hits), sum(valid)),
                Step::Mean { .. } => (0, 0),
            })
            .collect()
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
        return Figure::default();
    }
    let (low, high) = wilson_interval(hits, valid);
    Figure {
        value: Some(100.0 * hits as f64 / valid as f64),
        n: valid,
        ci_low: Some(low),
        ci_high: Some(high),
        ..Figure::default()
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
        return Figure { n, suppressed: true, ..Figure::default() };
    }
    let valued: Vec<&Figure> = units.iter().filter(|u| u.value.is_some()).collect();
    if valued.is_empty() {
        return Figure { n, ..Figure::default() };
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
        ..Figure::default()
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
            ..Figure::default()
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

    /// Tallies of respondents given as (answer to a, answer to b).
    fn tally_of(form: &Form, layout: &Layout, people: &[(&str, &str)]) -> Tally {
        let mut tally = Tally::default();
        for (a, b) in people {
            let given = [("a", a), ("b", b)].into_iter().map(|(i, c)| (i.to_string(), vec![c.to_string()])).collect();
            let valid = crate::domain::answers::validate(form, &given).unwrap();
            for (slot, n) in crate::domain::tally::increments(form, layout, &valid) {
                tally.add(slot, n);
            }
        }
        tally
    }

    #[test]
    fn design_weights_give_the_weighted_share_mean_interval_and_design_effect() {
        let form = form();
        let mut layout = Layout::default();
        layout.extend_for(&form);
        let repeat = |n: usize, a: &'static str, b: &'static str| std::iter::repeat_n((a, b), n);
        // Three strata sampled at 9/1000 (0.9%), 10/300 (3.3%) and 7/200 (3.5%).
        let strata: [(f64, Vec<(&str, &str)>); 3] = [
            (1000.0, repeat(3, "5", "4").chain(repeat(6, "2", "4")).collect()),
            (300.0, repeat(9, "5", "4").chain(repeat(1, "1", "1")).collect()),
            (200.0, repeat(5, "4", "5").chain(repeat(2, "4", "0")).collect()),
        ];
        let tallies: Vec<Tally> = strata.iter().map(|(_, people)| tally_of(&form, &layout, people)).collect();
        let parts: Vec<StratumPart> = strata
            .iter()
            .zip(&tallies)
            .map(|((population, people), tally)| StratumPart {
                tally,
                respondents: people.len() as u64,
                weight: population / people.len() as f64,
                stratum_respondents: people.len() as u64,
                sampling_fraction: people.len() as f64 / population,
            })
            .collect();
        let plan = IndexPlan::new(&form, &layout);
        let figures = plan.labelled(plan.compute_weighted(&parts));
        let figure = |id: &str| figures.iter().find(|f| f.id == id).unwrap().figure;

        // By hand, respondent by respondent: M = Σ cᵢRᵢ with weighted Rᵢ = Σw·h / Σw·v,
        // zᵣ = Σᵢ cᵢ(hᵢᵣ − Rᵢvᵢᵣ)/X̂ᵢ, var = Σₕ w²(1 − f) r/(r − 1) Σ (zᵣ − z̄ₕ)².
        let positive = |c: &str| (c == "4" || c == "5") as u8 as f64;
        let answered = |c: &str| (c != "0") as u8 as f64;
        fn pick<'a>(i: usize, person: &(&'a str, &'a str)) -> &'a str {
            if i == 0 { person.0 } else { person.1 }
        }
        let by_hand = |coefficients: &[(usize, f64)], weighted: bool| {
            let w = |h: usize| if weighted { strata[h].0 / strata[h].1.len() as f64 } else { 1.0 };
            let totals: Vec<(f64, f64)> = coefficients
                .iter()
                .map(|&(i, _)| {
                    let mut t = (0.0, 0.0);
                    for (h, (_, people)) in strata.iter().enumerate() {
                        for p in people {
                            t.0 += w(h) * positive(pick(i, p));
                            t.1 += w(h) * answered(pick(i, p));
                        }
                    }
                    t
                })
                .collect();
            let value: f64 = coefficients.iter().zip(&totals).map(|((_, c), (y, x))| c * y / x).sum();
            let z = |p: &(&str, &str)| -> f64 {
                coefficients
                    .iter()
                    .zip(&totals)
                    .map(|(&(i, c), &(y, x))| c * (positive(pick(i, p)) - y / x * answered(pick(i, p))) / x)
                    .sum()
            };
            let variance: f64 = if weighted {
                strata
                    .iter()
                    .enumerate()
                    .map(|(h, (population, people))| {
                        let r = people.len() as f64;
                        let mean = people.iter().map(z).sum::<f64>() / r;
                        let squares: f64 = people.iter().map(|p| (z(p) - mean).powi(2)).sum();
                        w(h).powi(2) * (1.0 - r / population) * r / (r - 1.0) * squares
                    })
                    .sum()
            } else {
                let everyone: Vec<&(&str, &str)> = strata.iter().flat_map(|(_, p)| p).collect();
                let n = everyone.len() as f64;
                n / (n - 1.0) * everyone.iter().map(|p| z(p).powi(2)).sum::<f64>()
            };
            (value, variance)
        };
        for (id, coefficients) in [("a", vec![(0, 1.0)]), ("sipas", vec![(0, 0.5), (1, 0.5)])] {
            let (value, variance) = by_hand(&coefficients, true);
            let (_, simple) = by_hand(&coefficients, false);
            let f = figure(id);
            assert!((f.value.unwrap() - 100.0 * value).abs() < 1e-9, "{id}: {f:?} vs {value}");
            let margin = Z_95 * variance.sqrt();
            assert!((f.ci_low.unwrap() - 100.0 * (value - margin)).abs() < 1e-9, "{id}: {f:?}");
            assert!((f.ci_high.unwrap() - 100.0 * (value + margin)).abs() < 1e-9, "{id}: {f:?}");
            assert!((f.deff.unwrap() - variance / simple).abs() < 1e-9, "{id}: {f:?}");
        }
        // 803⅓ weighted satisfied of 1,500 against 19 of 26 answers: the design matters.
        assert!((figure("a").value.unwrap() - 100.0 * (1000.0 / 3.0 + 270.0 + 200.0) / 1500.0).abs() < 1e-9);
        let whole = parts.iter().fold(Tally::default(), |mut t, p| {
            t.merge(p.tally);
            t
        });
        let unweighted = plan.labelled(plan.compute(&whole, 26));
        let unweighted_a = unweighted.iter().find(|f| f.id == "a").unwrap().figure.value.unwrap();
        assert!((unweighted_a - 100.0 * 19.0 / 26.0).abs() < 1e-9);
        assert!(unweighted_a - figure("a").value.unwrap() > 15.0);
        assert_eq!((figure("a").n, figure("sipas").n), (26, 26), "n stays the answers behind");
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
