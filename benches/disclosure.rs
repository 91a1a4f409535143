//! Disclosure control at national scale: `domain::disclosure::suppress` on a synthetic table
//! shaped like the national report by agency — a nation, 63 provinces with 11 districts each and
//! 16 communes per district, a provincial and a district own-level row under every province and
//! district, crossed with 20 agencies and an all-agencies column; totals by locality at every
//! level and by agency in every locality. Base cells (commune or own-level row × agency) get a
//! random count, under k = 5 for BENCH_SMALL_PERCENT of them; every other cell is the sum of its
//! parts. Prints the table's size, how many cells are hidden, and the time per call (the caller
//! runs it once per index, about 100 indices): `suppress` from scratch, and
//! `RelationIndex::suppress` with the relations indexed once for every index.
//!
//! cargo bench --bench disclosure
//! BENCH_SMALL_PERCENT=20 BENCH_RUNS=5 BENCH_SEED=7 cargo bench --bench disclosure

use phieu::domain::disclosure::{Relation, RelationIndex, suppress};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::{Duration, Instant};

const PROVINCES: usize = 63;
const DISTRICTS_PER_PROVINCE: usize = 11;
const COMMUNES_PER_DISTRICT: usize = 16;
const AGENCIES: usize = 20;
const K: u64 = 5;

fn env_number(name: &str, default: f64) -> f64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The localities as a tree, parents before children: the nation, provinces, then under each
/// province its districts and its own-level row, under each district its communes and its own
/// row.
fn locality_tree() -> Vec<Vec<usize>> {
    let mut children: Vec<Vec<usize>> = vec![Vec::new()];
    let add_child = |children: &mut Vec<Vec<usize>>, parent: usize| {
        children.push(Vec::new());
        let child = children.len() - 1;
        children[parent].push(child);
        child
    };
    for _ in 0..PROVINCES {
        let province = add_child(&mut children, 0);
        for _ in 0..DISTRICTS_PER_PROVINCE {
            let district = add_child(&mut children, province);
            for _ in 0..=COMMUNES_PER_DISTRICT {
                add_child(&mut children, district);
            }
        }
        add_child(&mut children, province);
    }
    children
}

fn national_table(small_share: f64, rng: &mut ChaCha8Rng) -> (Vec<u64>, Vec<Relation>) {
    let children = locality_tree();
    let columns = AGENCIES + 1;
    let all = AGENCIES;
    let cell = |node: usize, column: usize| node * columns + column;
    let mut counts = vec![0; children.len() * columns];
    for node in (0..children.len()).rev() {
        for column in 0..columns {
            counts[cell(node, column)] = if !children[node].is_empty() {
                children[node].iter().map(|&child| counts[cell(child, column)]).sum()
            } else if column == all {
                (0..AGENCIES).map(|agency| counts[cell(node, agency)]).sum()
            } else if rng.gen_bool(small_share) {
                rng.gen_range(1..K)
            } else {
                rng.gen_range(K..=80)
            };
        }
    }
    let mut relations = Vec::new();
    for (node, node_children) in children.iter().enumerate() {
        if !node_children.is_empty() {
            for column in 0..columns {
                let parts = node_children.iter().map(|&child| cell(child, column)).collect();
                relations.push(Relation { total: cell(node, column), parts });
            }
        }
        relations.push(Relation { total: cell(node, all), parts: (0..AGENCIES).map(|a| cell(node, a)).collect() });
    }
    (counts, relations)
}

fn main() {
    let small_percent = env_number("BENCH_SMALL_PERCENT", 3.0);
    let runs = env_number("BENCH_RUNS", 7.0) as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(env_number("BENCH_SEED", 2024.0) as u64);
    let (counts, relations) = national_table(small_percent / 100.0, &mut rng);
    let primary = counts.iter().filter(|&&n| 0 < n && n < K).count();
    println!(
        "table: {} cells, {} relations ({} memberships); {} cells under k = {K} ({small_percent}% of base cells drawn small)",
        counts.len(),
        relations.len(),
        relations.iter().map(|r| 1 + r.parts.len()).sum::<usize>(),
        primary,
    );
    let runs = runs.max(1);
    let mut hidden = 0;
    let one_shot = median_time(runs, || hidden = suppress(&counts, &relations, K).iter().filter(|&&s| s).count());
    println!(
        "suppressed: {hidden} cells ({:.2}% of all; {} complementary)",
        100.0 * hidden as f64 / counts.len() as f64,
        hidden - primary
    );
    let mut index = None;
    let indexing = median_time(1, || index = Some(RelationIndex::new(counts.len(), &relations)));
    let index = index.expect("built");
    let reused = median_time(runs, || assert_eq!(index.suppress(&counts, K).iter().filter(|&&s| s).count(), hidden));
    println!("time per call, median of {runs}: suppress {}", milliseconds(one_shot));
    println!("  RelationIndex::suppress {}; the index built once in {}", milliseconds(reused), milliseconds(indexing));
}

/// Median wall time and median time on the CPU (from /proc/thread-self/schedstat, so that a
/// busy machine's waits are told apart; zero where it is missing) of `runs` calls.
fn median_time(runs: usize, mut call: impl FnMut()) -> (Duration, Duration) {
    let mut wall = Vec::with_capacity(runs);
    let mut cpu = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (started, started_cpu) = (Instant::now(), cpu_time());
        call();
        wall.push(started.elapsed());
        cpu.push(cpu_time().saturating_sub(started_cpu));
    }
    wall.sort_unstable();
    cpu.sort_unstable();
    (wall[runs / 2], cpu[runs / 2])
}

fn cpu_time() -> Duration {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(schedstat.split_whitespace().next().and_then(|ns| ns.parse().ok()).unwrap_or(0))
}

fn milliseconds((wall, cpu): (Duration, Duration)) -> String {
    format!("{:.1} ms (on the CPU {:.1} ms)", wall.as_secs_f64() * 1e3, cpu.as_secs_f64() * 1e3)
}
