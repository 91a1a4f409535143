//! Turning answer counts into the indices a form declares.

use crate::domain::form::{Form, IndexRule};
use crate::domain::tally::{Layout, Part, Slot, Tally, mean_parts};
use serde::Serialize;
use std::collections::HashMap;

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
    /// Every pair k ≤ l of `shares`: (the pair in the plan's `Pairs`, cₖcₗ, doubled off the
    /// diagonal).
    terms: Vec<(usize, f64)>,
}

/// A pair of share indices (positions in the form's order, k ≤ l as first met) and the slots
/// of Σhₖhₗ, Σvₖvₗ, Σhₖvₗ, Σhₗvₖ; `None` for a share's own pair when the layout keeps no
/// products for it (a share not in any mean): its answers are then 0 or 1 per respondent, so
/// Σh² = Σhv = H and Σv² = V.
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

/// The plan's pairs of shares, each kept once however many indices use it: a SIPAS 2023
/// group's 89 indices need 1,332 pair terms but only 780 distinct pairs.
#[derive(Default)]
struct Pairs {
    pairs: Vec<Pair>,
    positions: HashMap<(usize, usize), usize>,
}

impl Pairs {
    /// The pair of share indices `k` and `l` (named `a` and `b`), added if new; `None` when a
    /// mean's pair has no product slots.
    fn of(&mut self, layout: &Layout, (k, a): (usize, &str), (l, b): (usize, &str)) -> Option<usize> {
        if let Some(&at) = self.positions.get(&(k.min(l), k.max(l))) {
            return Some(at);
        }
        let slots = pair_slots(layout, a, b);
        if slots.is_none() && k != l {
            return None;
        }
        self.pairs.push(Pair { k, l, slots });
        self.positions.insert((k.min(l), k.max(l)), self.pairs.len() - 1);
        Some(self.pairs.len() - 1)
    }
}

impl Linear {
    fn of_mean(form: &Form, layout: &Layout, pairs: &mut Pairs, mean: &str) -> Option<Self> {
        let position = |id: &str| form.indices.iter().position(|i| i.id == id);
        let weighted = mean_parts(form, mean);
        let shares: Vec<(usize, f64)> =
            weighted.iter().map(|(id, w)| Some((position(id)?, *w))).collect::<Option<_>>()?;
        let ids: Vec<&String> = weighted.keys().collect();
        let mut terms = Vec::with_capacity(ids.len() * (ids.len() + 1) / 2);
        for (k, a) in ids.iter().enumerate() {
            for (l, b) in ids.iter().enumerate().skip(k) {
                let (k, l) = (shares[k], shares[l]);
                // Off the diagonal the term of (k, l) stands for that of (l, k) too.
                let coefficient = k.1 * l.1 * if k.0 == l.0 { 1.0 } else { 2.0 };
                // A mean reads its products; a layout without them gives it no interval.
                let pair = pairs
                    .of(layout, (k.0, a.as_str()), (l.0, b.as_str()))
                    .filter(|&p| pairs.pairs[p].slots.is_some())?;
                terms.push((pair, coefficient));
            }
        }
        Some(Self { shares, terms })
    }

    fn of_share(layout: &Layout, pairs: &mut Pairs, position: usize, id: &str) -> Self {
        let pair = pairs.of(layout, (position, id), (position, id)).expect("a share's own pair always exists");
        Self { shares: vec![(position, 1.0)], terms: vec![(pair, 1.0)] }
    }

    /// Value and variance (as proportions) of Σ cₖRₖ from a group's `spread`; `None` where a
    /// share has no valid answer.
    fn estimate(&self, spread: &Spread) -> Option<(f64, f64)> {
        let mut value = 0.0;
        for &(p, c) in &self.shares {
            value += c * spread.ratios[p]?.0;
        }
        let mut variance = 0.0;
        for stratum in &spread.strata {
            let sum_z: f64 = self.shares.iter().map(|&(p, c)| c * stratum.centred[p]).sum();
            let sum_z2: f64 = self.terms.iter().map(|&(pair, c)| c * stratum.products[pair]).sum();
            let within = (sum_z2 - sum_z * sum_z / stratum.respondents).max(0.0);
            variance += stratum.factor * within;
        }
        Some((value, variance))
    }
}

/// What every index's linearised variance shares within one group: each share's ratio Rₖ and
/// weighted valid answers Xₖ over the strata, and per stratum of two or more respondents each
/// share's (Hₖ − RₖVₖ)/Xₖ and each pair's (Σhₖhₗ − RₗΣhₖvₗ − RₖΣhₗvₖ + RₖRₗΣvₖvₗ)/(XₖXₗ).
/// An index's Σz² is then Σ cₖcₗ times the pairs' terms, with no slot read again.
struct Spread {
    /// Per index position: (Rₖ, 1/Xₖ) of a share with valid answers (multiplying by the
    /// inverse: a division per pair was most of a national commune-level call's intervals).
    ratios: Vec<Option<(f64, f64)>>,
    strata: Vec<StratumSpread>,
}

struct StratumSpread {
    /// r_h as a float.
    respondents: f64,
    /// w²(1 − f)·r/(r − 1): what the stratum's within sum of squares is multiplied by.
    factor: f64,
    /// Per index position (0 for means and for shares without valid answers).
    centred: Vec<f64>,
    /// Per pair of the plan (NaN where a share of it has no valid answer).
    products: Vec<f64>,
}

impl Spread {
    /// The spread of a group's answers in `strata`, whose shares' (hits, valid) per stratum
    /// are `sums`.
    fn of(pairs: &[Pair], strata: &[StratumPart], sums: &[Vec<(u64, u64)>]) -> Self {
        let positions = sums.first().map_or(0, Vec::len);
        let ratios: Vec<Option<(f64, f64)>> = (0..positions)
            .map(|p| {
                let (y, x) = strata.iter().zip(sums).fold((0.0, 0.0), |(y, x), (stratum, sums)| {
                    (y + stratum.weight * sums[p].0 as f64, x + stratum.weight * sums[p].1 as f64)
                });
                (x > 0.0).then(|| (y / x, 1.0 / x))
            })
            .collect();
        // NaN for a share without valid answers: no index reads a pair of one.
        let (ratio, inverse): (Vec<f64>, Vec<f64>) = ratios.iter().map(|r| r.unwrap_or((f64::NAN, f64::NAN))).unzip();
        let strata = strata
            .iter()
            .zip(sums)
            .filter(|(stratum, _)| stratum.stratum_respondents >= 2)
            .map(|(stratum, sums)| {
                let share = |k: usize| (sums[k].0 as f64, sums[k].1 as f64);
                let centred = (0..positions)
                    .map(|p| ratios[p].map_or(0.0, |(r, inv)| (share(p).0 - r * share(p).1) * inv))
                    .collect();
                let counts = stratum.tally.counts();
                // Counts are far below 2⁶³: converted as signed, one instruction where an
                // unsigned conversion takes several, four times per pair.
                let count = |slot: usize| counts.get(slot).map_or(0.0, |&n| n as i64 as f64);
                let products = pairs
                    .iter()
                    .map(|&Pair { k, l, slots }| {
                        let [hh, vv, hv_kl, hv_lk] = match slots {
                            Some(slots) => slots.map(count),
                            None => [share(k).0, share(k).1, share(k).0, share(k).0],
                        };
                        let (r_k, r_l) = (ratio[k], ratio[l]);
                        (hh - r_l * hv_kl - r_k * hv_lk + r_k * r_l * vv) * (inverse[k] * inverse[l])
                    })
                    .collect();
                let r = stratum.stratum_respondents as f64;
                StratumSpread {
                    respondents: r,
                    factor: stratum.weight.powi(2) * (1.0 - stratum.sampling_fraction) * r / (r - 1.0),
                    centred,
                    products,
                }
            })
            .collect();
        Spread { ratios, strata }
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
    /// The pairs of shares the steps' spreads read.
    pairs: Vec<Pair>,
}

impl<'a> IndexPlan<'a> {
    pub fn new(form: &'a Form, layout: &Layout) -> Self {
        let position = |id: &str| form.indices.iter().position(|i| i.id == id);
        let mut pairs = Pairs::default();
        let steps = form
            .indices
            .iter()
            .map(|index| match &index.rule {
                IndexRule::Share { items, positive } => Step::Share {
                    spread: Linear::of_share(
                        layout,
                        &mut pairs,
                        position(&index.id).expect("the form's own index"),
                        &index.id,
                    ),
                    valid: items.iter().filter_map(|i| layout.position(&Slot::Answered { item: i.clone() })).collect(),
                    hits: items
                        .iter()
                        .flat_map(|i| positive.iter().map(move |c| (i, c)))
                        .filter_map(|(i, c)| layout.option(i, c))
                        .collect(),
                },
                IndexRule::Mean { of } => Step::Mean {
                    parts: of.iter().filter_map(|id| position(id)).collect(),
                    spread: Linear::of_mean(form, layout, &mut pairs, &index.id),
                },
            })
            .collect();
        Self { form, steps, pairs: pairs.pairs }
    }

    /// How many leading slots of a tally the plan reads (see `Tally::decode_first`).
    pub fn slots_read(&self) -> usize {
        let counts = self.steps.iter().flat_map(|step| match step {
            Step::Share { valid, hits, .. } => valid.iter().chain(hits).max().copied(),
            Step::Mean { .. } => None,
        });
        let products = self.pairs.iter().flat_map(|p| p.slots.iter().flatten()).copied();
        counts.chain(products).max().map_or(0, |last| last + 1)
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
        // (hits, valid) of each share, (0, 0) for means.
        let sums = self.share_sums(tally);
        // Read once for all the means' intervals, when the first needs it.
        let mut spread: Option<Spread> = None;
        let mut figures: Vec<Figure> = Vec::with_capacity(self.steps.len());
        // `form.indices` is in dependency order, so every part is computed before its mean.
        for (step, &(hits, valid)) in self.steps.iter().zip(&sums) {
            let figure = match step {
                Step::Share { .. } => share(hits, valid),
                Step::Mean { parts, spread: linear } => {
                    let parts: Vec<Figure> = parts.iter().filter_map(|&p| figures.get(p).copied()).collect();
                    let values: Option<Vec<f64>> = parts.iter().map(|p| p.value).collect();
                    let value = values.map(|v| v.iter().sum::<f64>() / v.len() as f64);
                    let interval = value.and(linear.as_ref()).filter(|_| respondents >= 2).and_then(|linear| {
                        let spread = spread.get_or_insert_with(|| {
                            let whole = StratumPart::simple(tally, respondents);
                            Spread::of(&self.pairs, &[whole], std::slice::from_ref(&sums))
                        });
                        let (mean, variance) = linear.estimate(spread)?;
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
        let spread = Spread::of(&self.pairs, strata, &sums);
        let simple = Spread::of(&self.pairs, &[StratumPart::simple(&whole, respondents)], &[self.share_sums(&whole)]);
        let mut figures: Vec<Figure> = Vec::with_capacity(self.steps.len());
        for (step, base) in self.steps.iter().zip(&unweighted) {
            let linear = match step {
                Step::Share { spread, .. } => Some(spread),
                Step::Mean { spread, .. } => spread.as_ref(),
            };
            let figure = match linear.filter(|_| base.value.is_some()) {
                Some(linear) => {
                    let estimate = linear.estimate(&spread);
                    let srs = linear.estimate(&simple).map(|(_, v)| v).filter(|&v| v > 0.0);
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
    fn a_mean_has_the_same_interval_whether_or_not_other_indices_share_its_pairs() {
        let form_of = |indices: serde_json::Value| {
            let sat = json!([{"code": "1", "label": "1"}, {"code": "5", "label": "5"},
                             {"code": "0", "label": "Không trả lời", "missing": true}]);
            let items: Vec<_> = ["a", "b", "c"]
                .iter()
                .map(|id| json!({"id": id, "section": "s", "kind": "satisfaction", "text": id, "scale": "sat"}))
                .collect();
            let json = json!({"id": "t", "version": "1", "title": "T", "scales": {"sat": sat},
                              "sections": [{"id": "s", "title": "S"}], "items": items, "indices": indices});
            parse_form("t.json", &json.to_string(), None).unwrap()
        };
        let share = |id: &str| json!({"id": id, "label": id, "rule": "share", "items": [id], "positive": ["5"]});
        let alone =
            form_of(json!([{"id": "sipas", "label": "AB", "rule": "mean", "of": ["a", "b"]}, share("a"), share("b")]));
        let nested = form_of(json!([
            {"id": "sipas", "label": "All", "rule": "mean", "of": ["ab", "c"]},
            {"id": "ab", "label": "AB", "rule": "mean", "of": ["a", "b"]},
            share("a"), share("b"), share("c")
        ]));
        // Eleven respondents' answers to a, b and c, spread so that no variance is zero.
        let people: Vec<[&str; 3]> =
            (0..11).map(|i| [["5", "1", "0"][i % 3], ["1", "5"][i % 2], ["5", "1"][i / 6]]).collect();
        let figure_of = |form: &Form, id: &str| {
            let mut layout = Layout::default();
            layout.extend_for(form);
            let mut tally = Tally::default();
            for person in &people {
                let given = ["a", "b", "c"]
                    .iter()
                    .zip(person)
                    .filter(|(item, _)| form.indices.iter().any(|i| i.id == **item))
                    .map(|(i, c)| (i.to_string(), vec![c.to_string()]))
                    .collect();
                let valid = crate::domain::answers::validate(form, &given).unwrap();
                for (slot, n) in crate::domain::tally::increments(form, &layout, &valid) {
                    tally.add(slot, n);
                }
            }
            let plan = IndexPlan::new(form, &layout);
            plan.labelled(plan.compute(&tally, people.len() as u64)).into_iter().find(|f| f.id == id).unwrap().figure
        };
        // The same mean of a and b, alone in one form and nested in a wider mean in the other.
        let (by_itself, beside_all) = (figure_of(&alone, "sipas"), figure_of(&nested, "ab"));
        assert!(by_itself.ci_high.unwrap() - by_itself.ci_low.unwrap() > 10.0, "{by_itself:?}");
        for (one, other) in [(by_itself.ci_low, beside_all.ci_low), (by_itself.ci_high, beside_all.ci_high)] {
            assert!((one.unwrap() - other.unwrap()).abs() < 1e-9, "{by_itself:?} {beside_all:?}");
        }
        let all = figure_of(&nested, "sipas");
        assert!(all.ci_low.unwrap() < all.value.unwrap() && all.value.unwrap() < all.ci_high.unwrap(), "{all:?}");
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
