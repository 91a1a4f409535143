//! Drawing the sample: how many per stratum, and which ones, reproducibly.
//!
//! A draw depends only on the seed, the stratum's key and the frame in its canonical order:
//! the generator is ChaCha20 keyed by SHA-256(seed, stratum), and bounded integers are
//! drawn by rejection, so the same lists and seed give the same sample on any machine and
//! any future version.

use rand::RngCore;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SizeRule {
    /// n = N / (1 + N·e²), rounded up.
    Slovin { margin: f64 },
    /// The same number in every stratum (all of it when smaller).
    Quota(usize),
    /// A total shared in proportion to the strata's populations (largest remainders).
    Proportional { total: usize },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamplingError {
    #[error("sai số phải lớn hơn 0 và nhỏ hơn 1")]
    InvalidMargin,
}

pub fn slovin(population: usize, margin: f64) -> usize {
    let n = population as f64;
    let size = (n / (1.0 + n * margin * margin)).ceil() as usize;
    size.min(population)
}

/// Sample size of each stratum, in the order given.
pub fn sample_sizes(populations: &[usize], rule: SizeRule) -> Result<Vec<usize>, SamplingError> {
    Ok(match rule {
        SizeRule::Slovin { margin } => {
            if !(margin > 0.0 && margin < 1.0) {
                return Err(SamplingError::InvalidMargin);
            }
            populations.iter().map(|&n| slovin(n, margin)).collect()
        }
        SizeRule::Quota(quota) => populations.iter().map(|&n| n.min(quota)).collect(),
        SizeRule::Proportional { total } => proportional(populations, total),
    })
}

/// Largest-remainder allocation of `total` (at most everyone). A share never exceeds its
/// stratum: total ≤ ΣN makes every exact share ≤ N, and only fractional shares round up.
fn proportional(populations: &[usize], total: usize) -> Vec<usize> {
    let population: usize = populations.iter().sum();
    let total = total.min(population);
    if population == 0 {
        return vec![0; populations.len()];
    }
    let exact: Vec<f64> = populations.iter().map(|&n| total as f64 * n as f64 / population as f64).collect();
    let mut sizes: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut by_remainder: Vec<usize> = (0..populations.len()).collect();
    // Ties broken by position so the allocation is deterministic.
    by_remainder
        .sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())).then(a.cmp(&b)));
    let missing = total - sizes.iter().sum::<usize>();
    for &i in by_remainder.iter().take(missing) {
        sizes[i] += 1;
    }
    sizes
}

/// Positions (into the stratum's frame, `0..population`) of the sample and of the
/// reserve, in draw order: replacements are taken from the reserve in that order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draw {
    pub sample: Vec<usize>,
    pub reserve: Vec<usize>,
}

fn generator(seed: u64, stratum: &str) -> ChaCha20Rng {
    let mut hasher = Sha256::new();
    hasher.update(seed.to_le_bytes());
    hasher.update(stratum.as_bytes());
    ChaCha20Rng::from_seed(hasher.finalize().into())
}

/// Uniform in `0..bound` without modulo bias.
fn below(rng: &mut ChaCha20Rng, bound: usize) -> usize {
    let bound = bound as u64;
    let zone = u64::MAX - (u64::MAX % bound);
    loop {
        let x = rng.next_u64();
        if x < zone {
            return (x % bound) as usize;
        }
    }
}

/// Simple random sample of `n` and then `reserve` more, without replacement (a partial
/// Fisher–Yates shuffle of the frame positions).
pub fn draw(seed: u64, stratum: &str, population: usize, n: usize, reserve: usize) -> Draw {
    let take = (n + reserve).min(population);
    let mut rng = generator(seed, stratum);
    let mut positions: Vec<usize> = (0..population).collect();
    for i in 0..take {
        let j = i + below(&mut rng, population - i);
        positions.swap(i, j);
    }
    positions.truncate(take);
    let reserve = positions.split_off(n.min(take));
    Draw { sample: positions, reserve }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn slovin_matches_hand_computed_sizes() {
        // N = 1000, e = 5%: 1000 / (1 + 2.5) = 285.7 → 286.
        assert_eq!(slovin(1000, 0.05), 286);
        assert_eq!(slovin(100, 0.05), 80);
        assert_eq!(slovin(10, 0.05), 10);
        assert_eq!(slovin(0, 0.05), 0);
        assert_eq!(sample_sizes(&[1], SizeRule::Slovin { margin: 0.0 }), Err(SamplingError::InvalidMargin));
    }

    #[test]
    fn quota_is_capped_by_the_population() {
        assert_eq!(sample_sizes(&[200, 50, 0], SizeRule::Quota(90)).unwrap(), [90, 50, 0]);
    }

    #[test]
    fn proportional_allocation_sums_to_the_total_and_respects_small_strata() {
        assert_eq!(sample_sizes(&[500, 300, 200], SizeRule::Proportional { total: 100 }).unwrap(), [50, 30, 20]);
        assert_eq!(sample_sizes(&[1, 1, 1], SizeRule::Proportional { total: 2 }).unwrap(), [1, 1, 0]);
        // 497.5 and 2.49: the larger remainder takes the last unit.
        assert_eq!(sample_sizes(&[1000, 5], SizeRule::Proportional { total: 500 }).unwrap(), [498, 2]);
        assert_eq!(sample_sizes(&[10, 20], SizeRule::Proportional { total: 1000 }).unwrap(), [10, 20]);
    }

    proptest! {
        #[test]
        fn proportional_never_exceeds_and_always_fills(pops in proptest::collection::vec(0usize..500, 1..12), total in 0usize..3000) {
            let sizes = sample_sizes(&pops, SizeRule::Proportional { total }).unwrap();
            prop_assert!(sizes.iter().zip(&pops).all(|(s, p)| s <= p));
            prop_assert_eq!(sizes.iter().sum::<usize>(), total.min(pops.iter().sum()));
        }

        #[test]
        fn a_draw_is_reproducible_and_without_repeats(seed in any::<u64>(), population in 0usize..300, n in 0usize..100, reserve in 0usize..30) {
            let first = draw(seed, "00001/AG1", population, n, reserve);
            prop_assert_eq!(&first, &draw(seed, "00001/AG1", population, n, reserve));
            let mut all: Vec<usize> = first.sample.iter().chain(&first.reserve).copied().collect();
            prop_assert_eq!(first.sample.len(), n.min(population));
            prop_assert_eq!(all.len(), (n + reserve).min(population));
            all.sort();
            all.dedup();
            prop_assert_eq!(all.len(), (n + reserve).min(population));
            prop_assert!(all.iter().all(|&p| p < population));
        }
    }

    #[test]
    fn seed_and_stratum_change_the_draw() {
        let a = draw(7, "00001", 1000, 20, 0);
        assert_ne!(a, draw(8, "00001", 1000, 20, 0));
        assert_ne!(a, draw(7, "00002", 1000, 20, 0));
    }

    #[test]
    fn a_recorded_draw_stays_the_same_across_versions() {
        // Pinned: if this changes, seeds recorded in past waves would redraw differently.
        assert_eq!(draw(2026, "27/MC256", 50, 5, 2), Draw { sample: vec![3, 18, 0, 26, 23], reserve: vec![27, 2] });
    }

    #[test]
    fn every_unit_is_equally_likely_chi_square() {
        // 20 units, samples of 5, 4,000 seeded draws: each unit expects 1,000 selections.
        let (population, n, draws) = (20usize, 5usize, 4_000u64);
        let mut counts = vec![0f64; population];
        for seed in 0..draws {
            for position in draw(seed, "stratum", population, n, 0).sample {
                counts[position] += 1.0;
            }
        }
        let expected = (draws as usize * n) as f64 / population as f64;
        let chi_square: f64 = counts.iter().map(|c| (c - expected).powi(2) / expected).sum();
        // Critical value of χ² with 19 degrees of freedom at p = 0.001.
        assert!(chi_square < 43.82, "χ² = {chi_square:.2}, counts {counts:?}");
    }
}
