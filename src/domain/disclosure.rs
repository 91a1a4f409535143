//! Statistical disclosure control that holds against subtraction: which figures of a set of
//! published tables to suppress so that no hidden figure can be recovered from the published
//! ones, alone or by adding and subtracting them.
//!
//! A table is made of cells. Each cell has a count `n` of valid answers, always published (a
//! count reveals no answer), and a figure built from an additive quantity, such as the number of
//! positive answers, that must stay hidden when `n` is small. Relations tie cells together: a
//! total's quantity is the sum of its parts' (a district is its communes plus its own-level row;
//! a locality's all-agencies cell is its per-agency cells). A suppressed cell is safe when the
//! published quantities and the relations leave its own quantity undetermined: no combination of
//! the relations isolates it.
//!
//! What this does not cover: bounds. A quantity lies between 0 and `n`, so the hidden cells of a
//! relation whose hidden sum is 0, or the sum of their counts (all of them 100% positive), are
//! known exactly all the same; only the counts reach this module, not the quantities.

/// `quantity(total) = Σ quantity(parts)`, cells named by their index in the counts given to
/// [`suppress`]. The cells of one relation are distinct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub total: usize,
    pub parts: Vec<usize>,
}

/// The cells to suppress under threshold `k`: every cell with `0 < n < k`, and complementary
/// cells so that no suppressed cell's quantity follows from the published cells through the
/// relations. Cells with `n = 0` hold nothing and are known to be 0: they are never suppressed.
///
/// Protection assumes that the counts add up like the quantities (`n(total) = Σ n(parts)`, as
/// valid answers do): then a hidden cell can always be protected by hiding more. Suppression is
/// a heuristic (a few more cells than an optimal pattern may be hidden), its safety is exact.
///
/// The pattern depends only on the counts, the relations and `k`: tables whose counts are equal
/// (indices over the same valid answers) share it. To suppress many tables with the same
/// relations, index them once with [`RelationIndex`].
///
/// # Panics
/// If a relation names a cell outside `counts`.
pub fn suppress(counts: &[u64], relations: &[Relation], k: u64) -> Vec<bool> {
    RelationIndex::new(counts.len(), relations).suppress(counts, k)
}

/// Relations indexed by cell, built once for any number of suppressions over the same cells
/// (the report's tables for every index share their relations; only the counts differ).
#[derive(Debug, Clone)]
pub struct RelationIndex<'a> {
    relations: &'a [Relation],
    /// The relations cell `c` belongs to are `cell_relations[relation_starts[c]..relation_starts[c + 1]]`.
    relation_starts: Vec<usize>,
    cell_relations: Vec<usize>,
}

impl<'a> RelationIndex<'a> {
    /// # Panics
    /// If a relation names a cell at or beyond `cell_count`.
    pub fn new(cell_count: usize, relations: &'a [Relation]) -> Self {
        let mut relation_starts = vec![0; cell_count + 1];
        for relation in relations {
            relation_starts[relation.total + 1] += 1;
            for &part in &relation.parts {
                relation_starts[part + 1] += 1;
            }
        }
        for cell in 0..cell_count {
            relation_starts[cell + 1] += relation_starts[cell];
        }
        let mut next = relation_starts.clone();
        let mut cell_relations = vec![0; relation_starts[cell_count]];
        for (r, relation) in relations.iter().enumerate() {
            cell_relations[next[relation.total]] = r;
            next[relation.total] += 1;
            for &part in &relation.parts {
                cell_relations[next[part]] = r;
                next[part] += 1;
            }
        }
        RelationIndex { relations, relation_starts, cell_relations }
    }

    /// [`suppress`] with these relations.
    ///
    /// # Panics
    /// If `counts` does not have one count per cell.
    pub fn suppress(&self, counts: &[u64], k: u64) -> Vec<bool> {
        self.suppress_keeping(counts, k, &[])
    }

    /// [`suppress`], never choosing as a complement a cell `kept` marks: a figure another
    /// table already publishes, so hiding it here would protect nothing.
    pub fn suppress_keeping(&self, counts: &[u64], k: u64, kept: &[bool]) -> Vec<bool> {
        let limits = Limits { max_exact_unknowns: 50_000, max_elimination_work: 50_000_000 };
        if !kept.contains(&true) {
            return self.suppress_within(counts, k, &[], limits);
        }
        self.suppress_within(counts, k, &self.unprotectable(counts, kept), limits)
    }

    /// `kept`, and the cells that could not be protected if hidden: one relation would give
    /// each away, all its other members being kept or empty (known to be 0). Such a cell is
    /// never chosen as a complement. With nothing kept, a total can always be hidden, so
    /// there are none.
    fn unprotectable(&self, counts: &[u64], kept: &[bool]) -> Vec<bool> {
        let mut frozen: Vec<bool> =
            counts.iter().enumerate().map(|(cell, &n)| n == 0 || kept.get(cell).copied().unwrap_or(false)).collect();
        let mut changed = true;
        while changed {
            changed = false;
            for relation in self.relations {
                let mut open = members(relation).filter(|&cell| !frozen[cell]);
                if let (Some(only), None) = (open.next(), open.next()) {
                    frozen[only] = true;
                    changed = true;
                }
            }
        }
        frozen
    }

    fn suppress_within(&self, counts: &[u64], k: u64, kept: &[bool], limits: Limits) -> Vec<bool> {
        assert_eq!(counts.len() + 1, self.relation_starts.len(), "one count per cell");
        let mut suppression = Suppression::new(self, counts, kept);
        for (cell, &n) in counts.iter().enumerate() {
            if 0 < n && n < k {
                suppression.hide(cell);
            }
        }
        let mut check = ExactCheck::new(counts.len(), self.relations.len(), limits);
        loop {
            suppression.apply_local_rule();
            if !check.hide_more_where_determined(&mut suppression) {
                return suppression.suppressed;
            }
        }
    }

    /// The relations `cell` belongs to, in the relations' order.
    pub fn relations_of(&self, cell: usize) -> &[usize] {
        &self.cell_relations[self.relation_starts[cell]..self.relation_starts[cell + 1]]
    }
}

/// How much the exact check may take on: components beyond these are protected by
/// [`all_around`] instead.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Hidden cells in one component.
    max_exact_unknowns: usize,
    /// Entries merged during one component's elimination.
    max_elimination_work: usize,
}

struct Suppression<'a> {
    counts: &'a [u64],
    /// Cells never chosen as complements (shorter than the counts when few or none are).
    kept: &'a [bool],
    relations: &'a [Relation],
    index: &'a RelationIndex<'a>,
    suppressed: Vec<bool>,
    hidden_members: Vec<u32>,
    /// Relations whose hidden-member count reached 1: each may need a second hidden member.
    lone_hidden: Vec<usize>,
    /// Cells hidden since the last exact check: only their components can have changed.
    fresh: Vec<usize>,
}

impl<'a> Suppression<'a> {
    fn new(index: &'a RelationIndex<'a>, counts: &'a [u64], kept: &'a [bool]) -> Self {
        Suppression {
            counts,
            kept,
            relations: index.relations,
            index,
            suppressed: vec![false; counts.len()],
            hidden_members: vec![0; index.relations.len()],
            lone_hidden: Vec::new(),
            fresh: Vec::new(),
        }
    }

    fn relations_of(&self, cell: usize) -> &[usize] {
        self.index.relations_of(cell)
    }

    fn can_hide(&self, cell: usize) -> bool {
        !self.suppressed[cell] && self.counts[cell] > 0 && !self.kept.get(cell).copied().unwrap_or(false)
    }

    fn hide(&mut self, cell: usize) {
        if self.suppressed[cell] {
            return;
        }
        self.suppressed[cell] = true;
        self.fresh.push(cell);
        for &r in self.index.relations_of(cell) {
            self.hidden_members[r] += 1;
            if self.hidden_members[r] == 1 {
                self.lone_hidden.push(r);
            }
        }
    }

    /// A relation with exactly one hidden member gives it away: hide a second one, to a fixed
    /// point. Linear in the size of the relations, as a relation's count reaches 1 only once.
    fn apply_local_rule(&mut self) {
        while let Some(r) = self.lone_hidden.pop() {
            if self.hidden_members[r] == 1
                && let Some(cell) = self.second_member(r)
            {
                self.hide(cell);
            }
        }
    }

    /// How many of `cell`'s relations other than `except` hiding it would leave with a lone
    /// hidden member (none hidden yet), and how many it would complete (one hidden).
    fn opened_and_completed(&self, cell: usize, except: Option<usize>) -> (usize, usize) {
        self.relations_of(cell).iter().filter(|&&r| Some(r) != except).fold(
            (0, 0),
            |(opened, completed), &r| match self.hidden_members[r] {
                0 => (opened + 1, completed),
                1 => (opened, completed + 1),
                _ => (opened, completed),
            },
        )
    }

    /// A part rather than the total (totals are the figures most read); among parts, the one
    /// that leaves the fewest other relations with a lone hidden member, counting those it
    /// completes against those it opens (in a two-way table this closes rectangles instead of
    /// spreading along rows and columns), then the smallest.
    fn second_member(&self, r: usize) -> Option<usize> {
        let relation = &self.relations[r];
        relation
            .parts
            .iter()
            .copied()
            .filter(|&cell| self.can_hide(cell))
            .min_by_key(|&cell| {
                let (opened, completed) = self.opened_and_completed(cell, Some(r));
                (opened as i64 - completed as i64, self.counts[cell], cell)
            })
            .or_else(|| self.can_hide(relation.total).then_some(relation.total))
    }

    /// The cell to hide so that a determined cell in the relations `around` stops being
    /// determined: parts before totals, then the one opening the fewest relations (each would
    /// need a further complement), then the smallest.
    fn complement_among(&self, around: &[usize]) -> Option<usize> {
        around
            .iter()
            .flat_map(|&r| {
                let relation = &self.relations[r];
                std::iter::once((true, relation.total)).chain(relation.parts.iter().map(|&part| (false, part)))
            })
            .filter(|&(_, cell)| self.can_hide(cell))
            .min_by_key(|&(is_total, cell)| {
                (is_total, self.opened_and_completed(cell, None).0, self.counts[cell], cell)
            })
            .map(|(_, cell)| cell)
    }
}

fn members(relation: &Relation) -> impl Iterator<Item = usize> + '_ {
    std::iter::once(relation.total).chain(relation.parts.iter().copied())
}

/// Finds the hidden cells that the published cells determine, one connected component of hidden
/// cells at a time (hidden cells are connected when they share a relation; the relations of a
/// component involve no other hidden cell, so components are independent systems).
struct ExactCheck {
    /// Per cell and per relation: the check that last reached it, so that nothing is cleared.
    cell_visit: Vec<u32>,
    relation_visit: Vec<u32>,
    /// Per relation: the check in which a complement was hidden in it.
    relation_complemented: Vec<u32>,
    visit: u32,
    /// A cell's column in its component's system, valid where `cell_visit` is current.
    column: Vec<usize>,
    limits: Limits,
    /// The component being checked, the buffers of its solution: reused, as most are tiny.
    component: Component,
    echelon: Echelon,
    solution: Vec<u64>,
    determined: Vec<usize>,
}

#[derive(Default)]
struct Component {
    cells: Vec<usize>,
    relations: Vec<usize>,
    /// Relation `relations[i]` restricted to the hidden cells, as (column, coefficient):
    /// `entries[row_starts[i]..row_starts[i + 1]]`.
    row_starts: Vec<usize>,
    entries: Vec<(usize, u64)>,
}

impl ExactCheck {
    fn new(cells: usize, relations: usize, limits: Limits) -> Self {
        ExactCheck {
            cell_visit: vec![0; cells],
            relation_visit: vec![0; relations],
            relation_complemented: vec![0; relations],
            visit: 0,
            column: vec![0; cells],
            limits,
            component: Component::default(),
            echelon: Echelon::default(),
            solution: Vec::new(),
            determined: Vec::new(),
        }
    }

    /// Checks every component that gained a hidden cell since the last check and, for each
    /// hidden cell that its component's relations determine, hides one more cell in one of its
    /// relations. Returns whether anything was hidden.
    fn hide_more_where_determined(&mut self, suppression: &mut Suppression) -> bool {
        self.visit += 1;
        let visit = self.visit;
        // Hidden only once every component is checked: a cell hidden earlier could join two
        // components, one of them already numbered.
        let mut to_hide = Vec::new();
        for start in std::mem::take(&mut suppression.fresh) {
            if self.cell_visit[start] == visit {
                continue;
            }
            self.find_component(suppression, start);
            let solved = self.component.cells.len() <= self.limits.max_exact_unknowns && self.solve();
            let relations = &self.component.relations;
            if !solved {
                to_hide.extend(all_around(suppression, relations));
                continue;
            }
            for &cell in &self.determined {
                let relations_of_cell = suppression.relations_of(cell);
                // A complement chosen in one of its relations this round may already protect
                // it; the next round tells.
                if relations_of_cell.iter().any(|&r| self.relation_complemented[r] == visit) {
                    continue;
                }
                // With counts that add up, the component's relations always have a cell left to
                // hide (see `all_around`); otherwise nothing can protect this cell.
                let Some(complement) =
                    suppression.complement_among(relations_of_cell).or_else(|| suppression.complement_among(relations))
                else {
                    continue;
                };
                for &r in suppression.relations_of(complement) {
                    self.relation_complemented[r] = visit;
                }
                to_hide.push(complement);
            }
        }
        let hid_any = to_hide.iter().any(|&cell| !suppression.suppressed[cell]);
        for cell in to_hide {
            suppression.hide(cell);
        }
        hid_any
    }

    /// Gathers the hidden cells connected to `start`, the relations they belong to and those
    /// relations restricted to them. Columns are numbered in discovery order, which keeps
    /// related cells close in the elimination.
    fn find_component(&mut self, suppression: &Suppression, start: usize) {
        let visit = self.visit;
        let component = &mut self.component;
        component.cells.clear();
        component.relations.clear();
        component.row_starts.clear();
        component.row_starts.push(0);
        component.entries.clear();
        component.cells.push(start);
        self.cell_visit[start] = visit;
        self.column[start] = 0;
        let mut next = 0;
        while next < component.cells.len() {
            let cell = component.cells[next];
            next += 1;
            for &r in suppression.relations_of(cell) {
                if self.relation_visit[r] == visit {
                    continue;
                }
                self.relation_visit[r] = visit;
                component.relations.push(r);
                for (i, member) in members(&suppression.relations[r]).enumerate() {
                    if !suppression.suppressed[member] {
                        continue;
                    }
                    if self.cell_visit[member] != visit {
                        self.cell_visit[member] = visit;
                        self.column[member] = component.cells.len();
                        component.cells.push(member);
                    }
                    component.entries.push((self.column[member], if i == 0 { 1 } else { MODULUS - 1 }));
                }
                component.row_starts.push(component.entries.len());
            }
        }
    }

    /// Finds the cells of the component whose quantity its relations determine (`e_j` in the
    /// row space of the relations restricted to the hidden cells); false when the elimination
    /// costs too much.
    ///
    /// Arithmetic is modulo the prime p = 2^61 − 1 (exact, and fast with u128 products). The
    /// system is brought to echelon form, then one solution of the homogeneous system is drawn
    /// with pseudo-random values for the free unknowns: a cell whose value in it is 0 is taken
    /// as determined. Both errors are harmless or negligible:
    /// - a cell that is not determined gets 0 only if the random values fall on the zero set of
    ///   a nonzero linear form, with probability 1/p; it is then hidden needlessly, not exposed;
    /// - a cell that is determined over the rationals always gets 0 unless p divides the
    ///   denominator of the combination isolating it, a nonzero minor of the coefficient matrix.
    ///   The coefficients are 0 and ±1, so a t × t minor is at most t^(t/2) (Hadamard): below p
    ///   for any component of up to 25 hidden cells; at any size, minors are 0 or ±1 for trees
    ///   and two-way tables with margins (their matrices are totally unimodular). Anywhere else
    ///   it needs p to divide one specific nonzero integer of the table's own making.
    fn solve(&mut self) -> bool {
        let component = &self.component;
        self.echelon.reset(component.cells.len(), self.limits.max_elimination_work);
        for bounds in component.row_starts.windows(2) {
            if !self.echelon.insert(&component.entries[bounds[0]..bounds[1]]) {
                return false;
            }
        }
        // Seeded from the component, so the same table always gets the same pattern.
        let mut random = SplitMix64(0x5eed ^ component.cells[0] as u64);
        self.echelon.null_vector(&mut self.solution, || random.next_nonzero_residue());
        self.determined.clear();
        self.determined.extend(
            component.cells.iter().zip(&self.solution).filter(|&(_, &value)| value == 0).map(|(&cell, _)| cell),
        );
        true
    }
}

/// The fallback for a component too large to solve: every cell with answers in every relation
/// around it, to be hidden. Repeated while the component stays unsolved (it grows, so it does),
/// this reaches a pattern where every relation touching the component has all its cells with
/// answers hidden; then the counts themselves, restricted to the component, solve the
/// homogeneous system with every entry positive, so no hidden cell is determined. Safe and
/// coarse: it hides the whole connected table.
fn all_around<'s>(suppression: &'s Suppression, relations: &'s [usize]) -> impl Iterator<Item = usize> + 's {
    relations.iter().flat_map(|&r| members(&suppression.relations[r])).filter(|&cell| suppression.can_hide(cell))
}

/// 2^61 − 1, a Mersenne prime: products of two residues fit in u128 and reduce with shifts.
const MODULUS: u64 = (1 << 61) - 1;

fn reduce(x: u128) -> u64 {
    let folded = (x as u64 & MODULUS) + (x >> 61) as u64;
    let folded = (folded & MODULUS) + (folded >> 61);
    if folded >= MODULUS { folded - MODULUS } else { folded }
}

fn multiply(a: u64, b: u64) -> u64 {
    reduce(a as u128 * b as u128)
}

fn add(a: u64, b: u64) -> u64 {
    let sum = a + b;
    if sum >= MODULUS { sum - MODULUS } else { sum }
}

fn inverse(a: u64) -> u64 {
    if a == 1 {
        return 1;
    }
    // Fermat: a^(p−2).
    let (mut base, mut exponent, mut result) = (a, MODULUS - 2, 1);
    while exponent > 0 {
        if exponent & 1 == 1 {
            result = multiply(result, base);
        }
        base = multiply(base, base);
        exponent >>= 1;
    }
    result
}

/// A sparse row echelon form modulo [`MODULUS`]: rows sorted by column, each stored row's
/// first entry is 1 and its column belongs to no other stored row.
#[derive(Default)]
struct Echelon {
    pivot_row: Vec<Option<usize>>,
    /// Stored row `i` is `entries[row_starts[i]..row_starts[i + 1]]`.
    row_starts: Vec<usize>,
    entries: Vec<(usize, u64)>,
    work: usize,
    max_work: usize,
    row: Vec<(usize, u64)>,
    scratch: Vec<(usize, u64)>,
}

impl Echelon {
    fn reset(&mut self, columns: usize, max_work: usize) {
        self.pivot_row.clear();
        self.pivot_row.resize(columns, None);
        self.row_starts.clear();
        self.row_starts.push(0);
        self.entries.clear();
        self.work = 0;
        self.max_work = max_work;
    }

    /// Reduces `new_row` (entries in any order, repeated columns summed) against the stored
    /// rows and stores what remains, if anything. False when the work budget is spent.
    fn insert(&mut self, new_row: &[(usize, u64)]) -> bool {
        let row = &mut self.row;
        row.clear();
        row.extend_from_slice(new_row);
        row.sort_unstable_by_key(|&(column, _)| column);
        row.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                earlier.1 = add(earlier.1, later.1);
            }
            same
        });
        row.retain(|&(_, value)| value != 0);
        while let Some(&(column, value)) = row.first() {
            let Some(pivot) = self.pivot_row[column] else {
                // Leading coefficients are almost always ±1: skip Fermat's 120 multiplications.
                let scale = if value == MODULUS - 1 { value } else { inverse(value) };
                self.entries.extend(row.iter().map(|&(c, v)| (c, if scale == 1 { v } else { multiply(v, scale) })));
                self.pivot_row[column] = Some(self.row_starts.len() - 1);
                self.row_starts.push(self.entries.len());
                return true;
            };
            // row −= value × pivot row, which cancels the first entry.
            let pivot_row = &self.entries[self.row_starts[pivot]..self.row_starts[pivot + 1]];
            self.work += row.len() + pivot_row.len();
            if self.work > self.max_work {
                return false;
            }
            let factor = MODULUS - value;
            self.scratch.clear();
            let (mut i, mut j) = (1, 1);
            while i < row.len() || j < pivot_row.len() {
                let next = match (row.get(i), pivot_row.get(j)) {
                    (Some(&(a, x)), Some(&(b, y))) if a == b => {
                        i += 1;
                        j += 1;
                        (a, add(x, multiply(factor, y)))
                    }
                    (Some(&(a, x)), Some(&(b, _))) if a < b => {
                        i += 1;
                        (a, x)
                    }
                    (Some(&(a, x)), None) => {
                        i += 1;
                        (a, x)
                    }
                    (_, Some(&(b, y))) => {
                        j += 1;
                        (b, multiply(factor, y))
                    }
                    (None, None) => unreachable!("the loop runs while an entry is left"),
                };
                if next.1 != 0 {
                    self.scratch.push(next);
                }
            }
            std::mem::swap(row, &mut self.scratch);
        }
        true
    }

    /// A solution of `rows · x = 0` with the free unknowns drawn from `free_value`: back
    /// substitution from the last column, as every row's other entries lie to the right of its
    /// pivot.
    fn null_vector(&self, x: &mut Vec<u64>, mut free_value: impl FnMut() -> u64) {
        x.clear();
        x.resize(self.pivot_row.len(), 0);
        for column in (0..x.len()).rev() {
            x[column] = match self.pivot_row[column] {
                None => free_value(),
                Some(pivot) => {
                    let rest = self.entries[self.row_starts[pivot] + 1..self.row_starts[pivot + 1]]
                        .iter()
                        .fold(0, |sum, &(c, value)| add(sum, multiply(value, x[c])));
                    if rest == 0 { 0 } else { MODULUS - rest }
                }
            };
        }
    }
}

struct SplitMix64(u64);

impl SplitMix64 {
    fn next_nonzero_residue(&mut self) -> u64 {
        loop {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            let residue = (z ^ (z >> 31)) % MODULUS;
            if residue != 0 {
                return residue;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn relation(total: usize, parts: &[usize]) -> Relation {
        Relation { total, parts: parts.to_vec() }
    }

    fn hidden(suppressed: &[bool]) -> Vec<usize> {
        suppressed.iter().enumerate().filter(|&(_, &s)| s).map(|(cell, _)| cell).collect()
    }

    /// An exact rational, reduced, with a positive denominator. Overflow panics: the test
    /// fails rather than concluding anything from a wrong number.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Ratio {
        numerator: i128,
        denominator: i128,
    }

    impl Ratio {
        const ZERO: Ratio = Ratio { numerator: 0, denominator: 1 };

        fn new(numerator: i128, denominator: i128) -> Ratio {
            assert_ne!(denominator, 0);
            let gcd = gcd(numerator.abs(), denominator.abs()).max(1);
            let sign = denominator.signum();
            Ratio { numerator: sign * numerator / gcd, denominator: sign * denominator / gcd }
        }

        fn integer(value: i128) -> Ratio {
            Ratio::new(value, 1)
        }

        fn minus_times(self, factor: Ratio, other: Ratio) -> Ratio {
            let product = factor.times(other);
            let numerator = self
                .numerator
                .checked_mul(product.denominator)
                .and_then(|a| product.numerator.checked_mul(self.denominator).and_then(|b| a.checked_sub(b)))
                .expect("rational overflow");
            Ratio::new(numerator, self.denominator.checked_mul(product.denominator).expect("rational overflow"))
        }

        fn times(self, other: Ratio) -> Ratio {
            let mul = |a: i128, b: i128| a.checked_mul(b).expect("rational overflow");
            Ratio::new(mul(self.numerator, other.numerator), mul(self.denominator, other.denominator))
        }

        fn reciprocal(self) -> Ratio {
            Ratio::new(self.denominator, self.numerator)
        }
    }

    fn gcd(mut a: i128, mut b: i128) -> i128 {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }

    /// The suppressed cells that the published cells determine through the relations, by
    /// Gauss–Jordan elimination over the rationals, written independently of the module: a
    /// cell is determined when some combination of the relations, restricted to the unknown
    /// (suppressed) cells, is that cell alone, i.e. when a row of the reduced form is e_j.
    fn determined(relations: &[Relation], suppressed: &[bool]) -> Vec<usize> {
        let unknowns = hidden(suppressed);
        let column_of = |cell: usize| unknowns.binary_search(&cell).ok();
        let mut rows: Vec<Vec<Ratio>> = Vec::new();
        for relation in relations {
            let mut row = vec![Ratio::ZERO; unknowns.len()];
            let mut any = false;
            let terms = std::iter::once((relation.total, 1)).chain(relation.parts.iter().map(|&part| (part, -1)));
            for (cell, coefficient) in terms {
                if let Some(column) = column_of(cell) {
                    row[column] = row[column].minus_times(Ratio::integer(-1), Ratio::integer(coefficient)); // += coefficient
                    any = true;
                }
            }
            if any {
                rows.push(row);
            }
        }
        let mut rank = 0;
        for column in 0..unknowns.len() {
            let Some(pivot) = (rank..rows.len()).find(|&r| rows[r][column] != Ratio::ZERO) else { continue };
            rows.swap(rank, pivot);
            let scale = rows[rank][column].reciprocal();
            for value in rows[rank].iter_mut() {
                *value = value.times(scale);
            }
            for r in 0..rows.len() {
                let factor = rows[r][column];
                if r == rank || factor == Ratio::ZERO {
                    continue;
                }
                let pivot_row = rows[rank].clone();
                for (value, pivot_value) in rows[r].iter_mut().zip(pivot_row) {
                    if pivot_value != Ratio::ZERO {
                        *value = value.minus_times(factor, pivot_value);
                    }
                }
            }
            rank += 1;
        }
        let mut determined: Vec<usize> = rows[..rank]
            .iter()
            .filter_map(|row| {
                let mut nonzero = row.iter().enumerate().filter(|(_, v)| **v != Ratio::ZERO);
                match (nonzero.next(), nonzero.next()) {
                    (Some((column, _)), None) => Some(unknowns[column]),
                    _ => None,
                }
            })
            .collect();
        determined.sort_unstable();
        determined
    }

    #[test]
    fn a_small_commune_hides_its_smallest_sibling_too() {
        // District 0 = communes 1 (3 answers), 2 (10) and 3 (20).
        let counts = [33, 3, 10, 20];
        let relations = [relation(0, &[1, 2, 3])];
        assert_eq!(hidden(&suppress(&counts, &relations, 5)), [1, 2]);
    }

    #[test]
    fn a_lone_hidden_child_hides_its_parent() {
        // District 0 = commune 1 + commune 2 (no answers); elsewhere 3 = 1 + 4, where 4 is
        // small and makes 1 a complement. Only the district's figure can then hide commune 1.
        let counts = [7, 7, 0, 10, 3];
        let relations = [relation(0, &[1, 2]), relation(3, &[1, 4])];
        let suppressed = suppress(&counts, &relations, 5);
        assert_eq!(hidden(&suppressed), [0, 1, 4]);
        assert_eq!(determined(&relations, &suppressed), Vec::<usize>::new());
    }

    #[test]
    fn cells_without_answers_are_never_hidden() {
        let counts = [20, 3, 0, 8, 9];
        let relations = [relation(0, &[1, 2, 3, 4])];
        assert_eq!(hidden(&suppress(&counts, &relations, 5)), [1, 3]);
        let all_empty = [0, 0, 0];
        assert_eq!(hidden(&suppress(&all_empty, &[relation(0, &[1, 2])], 5)), Vec::<usize>::new());
    }

    #[test]
    fn thresholds_of_zero_and_one_hide_nothing() {
        let counts = [6, 1, 2, 3, 0];
        let relations = [relation(0, &[1, 2, 3, 4])];
        for k in [0, 1] {
            assert_eq!(hidden(&suppress(&counts, &relations, k)), Vec::<usize>::new());
        }
        assert_eq!(hidden(&suppress(&counts, &relations, 2)), [1, 2]);
    }

    /// Communes (rows 0..5) by agencies (columns 0..5) with margins in row and column 5;
    /// `small` cells have 2 answers, the others 20.
    fn two_way_table(small: &[(usize, usize)]) -> (Vec<u64>, Vec<Relation>) {
        let cell = |row: usize, column: usize| row * 6 + column;
        let mut counts = vec![0; 36];
        for row in 0..5 {
            for column in 0..5 {
                let n = if small.contains(&(row, column)) { 2 } else { 20 };
                counts[cell(row, column)] = n;
                counts[cell(row, 5)] += n;
                counts[cell(5, column)] += n;
                counts[cell(5, 5)] += n;
            }
        }
        let mut relations = Vec::new();
        for i in 0..6 {
            relations.push(relation(cell(i, 5), &(0..5).map(|column| cell(i, column)).collect::<Vec<_>>()));
            relations.push(relation(cell(5, i), &(0..5).map(|row| cell(row, i)).collect::<Vec<_>>()));
        }
        (counts, relations)
    }

    #[test]
    fn a_bridge_between_two_protected_blocks_is_caught_by_the_exact_check() {
        // Two rectangles of small cells, each protected on its own, joined by a small cell
        // (1, 2): every row and column holds 0 or at least 2 hidden cells, so the local rule is
        // satisfied, yet row 1 minus the left rectangle's row gives the bridge away.
        let small = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (1, 2)];
        let (counts, relations) = two_way_table(&small);
        let bridge = 6 + 2;

        let index = RelationIndex::new(counts.len(), &relations);
        let mut local_only = Suppression::new(&index, &counts, &[]);
        for &(row, column) in &small {
            local_only.hide(row * 6 + column);
        }
        local_only.apply_local_rule();
        assert_eq!(hidden(&local_only.suppressed).len(), small.len(), "the local rule adds nothing");
        assert_eq!(determined(&relations, &local_only.suppressed), [bridge]);

        let suppressed = suppress(&counts, &relations, 5);
        assert_eq!(determined(&relations, &suppressed), Vec::<usize>::new());
        assert_eq!(hidden(&suppressed).len(), small.len() + 1, "one complement closes a cycle through the bridge");
    }

    #[test]
    fn the_fallback_for_too_large_components_protects_too() {
        let small = [(0, 0), (1, 1), (2, 2), (3, 3), (1, 2)];
        let (counts, relations) = two_way_table(&small);
        let tiny = Limits { max_exact_unknowns: 1, max_elimination_work: 1 };
        let suppressed = RelationIndex::new(counts.len(), &relations).suppress_within(&counts, 5, &[], tiny);
        assert!(small.iter().all(|&(row, column)| suppressed[row * 6 + column]));
        assert_eq!(determined(&relations, &suppressed), Vec::<usize>::new());
        let normal = suppress(&counts, &relations, 5);
        assert_eq!(determined(&relations, &normal), Vec::<usize>::new());
        assert!(hidden(&normal).len() <= hidden(&suppressed).len());
    }

    /// A locality tree (inner nodes with 1 to 4 children and maybe an own-level row) crossed
    /// with `agencies` agencies plus an all-agencies column (only that column when there are no
    /// agencies), with totals by locality at every level and by agency in every locality.
    /// Counts of the base cells (leaf × agency) come from `base_counts` in turn; every other
    /// count is the sum of its parts.
    fn hierarchical_table(
        depth: usize,
        shape: &[u8],
        agencies: usize,
        base_counts: &[u64],
    ) -> (Vec<u64>, Vec<Relation>) {
        let mut children: Vec<Vec<usize>> = vec![Vec::new()];
        let mut level = vec![0];
        let mut shape = shape.iter().cycle();
        let mut node = 0;
        while node < children.len() {
            if level[node] < depth {
                let choice = *shape.next().unwrap();
                let fanout = 1 + usize::from(choice % 4);
                let own_level_row = choice & 8 != 0;
                for _ in 0..fanout + usize::from(own_level_row) {
                    children.push(Vec::new());
                    level.push(if own_level_row && children[node].len() == fanout { depth } else { level[node] + 1 });
                    let child = children.len() - 1;
                    children[node].push(child);
                }
            }
            node += 1;
        }
        let columns = agencies + 1;
        let all = agencies;
        let cell = |node: usize, column: usize| node * columns + column;
        let mut counts = vec![0; children.len() * columns];
        let mut base = base_counts.iter().cycle();
        // Children are numbered after their parent: summing from the last node up fills totals.
        for node in (0..children.len()).rev() {
            for column in 0..columns {
                counts[cell(node, column)] = if !children[node].is_empty() {
                    children[node].iter().map(|&child| counts[cell(child, column)]).sum()
                } else if column == all && agencies > 0 {
                    (0..agencies).map(|agency| counts[cell(node, agency)]).sum()
                } else {
                    *base.next().unwrap()
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
            if agencies > 0 {
                relations
                    .push(Relation { total: cell(node, all), parts: (0..agencies).map(|a| cell(node, a)).collect() });
            }
        }
        (counts, relations)
    }

    #[test]
    fn the_test_table_adds_up() {
        let (counts, relations) = hierarchical_table(2, &[9], 2, &[1, 2, 3]);
        // Root with 2 districts (each with 2 communes and an own-level row) and its own row.
        assert_eq!(counts.len(), (1 + 3 + 6) * 3);
        for relation in &relations {
            assert_eq!(counts[relation.total], relation.parts.iter().map(|&part| counts[part]).sum::<u64>());
        }
    }

    /// A three-way table (say localities × agencies × an answer to a background question) with
    /// every margin: `dims` categories per axis plus a total at index `dims[axis]`. Interior
    /// counts come from `interior_counts` in turn.
    fn three_way_table(dims: [usize; 3], interior_counts: &[u64]) -> (Vec<u64>, Vec<Relation>) {
        let size = dims.map(|d| d + 1);
        let cell = |i: usize, j: usize, l: usize| (i * size[1] + j) * size[2] + l;
        let mut counts = vec![0; size[0] * size[1] * size[2]];
        let mut interior = interior_counts.iter().cycle();
        for i in 0..dims[0] {
            for j in 0..dims[1] {
                for l in 0..dims[2] {
                    let n = *interior.next().unwrap();
                    for a in [i, dims[0]] {
                        for b in [j, dims[1]] {
                            for c in [l, dims[2]] {
                                counts[cell(a, b, c)] += n;
                            }
                        }
                    }
                }
            }
        }
        let mut relations = Vec::new();
        for i in 0..size[0] {
            for j in 0..size[1] {
                for l in 0..size[2] {
                    let mut along = |is_total: bool, parts: Vec<usize>| {
                        if is_total {
                            relations.push(Relation { total: cell(i, j, l), parts });
                        }
                    };
                    along(i == dims[0], (0..dims[0]).map(|a| cell(a, j, l)).collect());
                    along(j == dims[1], (0..dims[1]).map(|b| cell(i, b, l)).collect());
                    along(l == dims[2], (0..dims[2]).map(|c| cell(i, j, c)).collect());
                }
            }
        }
        (counts, relations)
    }

    fn small_heavy_count() -> impl Strategy<Value = u64> {
        prop_oneof![1 => Just(0u64), 3 => 1u64..5, 3 => 5u64..40]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn no_suppressed_figure_can_be_recovered(
            depth in 1usize..=3,
            shape in proptest::collection::vec(any::<u8>(), 1..24),
            agencies in 0usize..=4,
            base_counts in proptest::collection::vec(small_heavy_count(), 1..64),
            k in 2u64..8,
        ) {
            let (counts, relations) = hierarchical_table(depth, &shape, agencies, &base_counts);
            let suppressed = suppress(&counts, &relations, k);
            prop_assert_eq!(suppressed.len(), counts.len());
            for (cell, &n) in counts.iter().enumerate() {
                if 0 < n && n < k {
                    prop_assert!(suppressed[cell], "cell {} with n = {} is published", cell, n);
                }
                if n == 0 {
                    prop_assert!(!suppressed[cell], "cell {} without answers is suppressed", cell);
                }
            }
            prop_assert_eq!(determined(&relations, &suppressed), Vec::<usize>::new());
        }

        #[test]
        fn no_suppressed_figure_of_a_three_way_table_can_be_recovered(
            dims in (1usize..=5, 1usize..=5, 1usize..=4),
            interior_counts in proptest::collection::vec(small_heavy_count(), 1..100),
        ) {
            let (counts, relations) = three_way_table([dims.0, dims.1, dims.2], &interior_counts);
            let suppressed = suppress(&counts, &relations, 5);
            for (cell, &n) in counts.iter().enumerate() {
                prop_assert!(suppressed[cell] || n == 0 || n >= 5, "cell {} with n = {} is published", cell, n);
            }
            prop_assert_eq!(determined(&relations, &suppressed), Vec::<usize>::new());
        }

        #[test]
        fn kept_totals_are_never_complements_and_still_nothing_hidden_is_recovered(
            rows in 1usize..=4,
            categories in 1usize..=5,
            interior in proptest::collection::vec(small_heavy_count(), 20),
        ) {
            // A crosstab: row 0 adds up the rows below it, column 0 the categories beside it;
            // the row totals (column 0) another table publishes whenever they are not small.
            let width = categories + 1;
            let cell = |row: usize, column: usize| row * width + column;
            let mut counts = vec![0; (rows + 1) * width];
            for row in 1..=rows {
                for column in 1..=categories {
                    let n = interior[(row * categories + column) % interior.len()];
                    for at in [cell(row, column), cell(row, 0), cell(0, column), cell(0, 0)] {
                        counts[at] += n;
                    }
                }
            }
            let mut relations = Vec::new();
            for row in 0..=rows {
                relations.push(relation(cell(row, 0), &(1..=categories).map(|c| cell(row, c)).collect::<Vec<_>>()));
            }
            for column in 0..=categories {
                relations.push(relation(cell(0, column), &(1..=rows).map(|r| cell(r, column)).collect::<Vec<_>>()));
            }
            // The other table's own pattern over the row totals: hidden ones are treated as
            // small here, the others are kept.
            let margin: Vec<u64> = (0..=rows).map(|r| counts[cell(r, 0)]).collect();
            let margin_hidden = suppress(&margin, &[relation(0, &(1..=rows).collect::<Vec<_>>())], 5);
            let (mut forced, mut kept) = (counts.clone(), vec![false; counts.len()]);
            for (row, &hide) in margin_hidden.iter().enumerate() {
                match hide {
                    true => forced[cell(row, 0)] = 1,
                    false => kept[cell(row, 0)] = true,
                }
            }
            let suppressed = RelationIndex::new(counts.len(), &relations).suppress_keeping(&forced, 5, &kept);
            for (at, &n) in counts.iter().enumerate() {
                prop_assert!(suppressed[at] || n == 0 || n >= 5, "cell {} with n = {} is published", at, n);
                prop_assert!(!(kept[at] && suppressed[at]), "kept cell {} is hidden", at);
            }
            for (row, &hide) in margin_hidden.iter().enumerate() {
                prop_assert!(!hide || suppressed[cell(row, 0)], "row total {} hidden elsewhere is published", row);
            }
            // What the kept totals give away on their own (two hidden totals of 1 answer
            // each are known together, say; empty cells are known to be 0) no pattern here can
            // hide; nothing more is given.
            let all_but_kept: Vec<bool> = kept.iter().zip(&counts).map(|(&k, &n)| !k && n > 0).collect();
            let already = determined(&relations, &all_but_kept);
            let given = determined(&relations, &suppressed);
            prop_assert!(given.iter().all(|c| already.contains(c)), "{:?} determined beyond {:?}", given, already);
        }

        #[test]
        fn nothing_is_hidden_when_no_cell_is_small(
            depth in 1usize..=3,
            shape in proptest::collection::vec(any::<u8>(), 1..24),
            agencies in 0usize..=4,
            base_counts in proptest::collection::vec(prop_oneof![Just(0u64), 5u64..40], 1..64),
        ) {
            let (counts, relations) = hierarchical_table(depth, &shape, agencies, &base_counts);
            prop_assert_eq!(hidden(&suppress(&counts, &relations, 5)), Vec::<usize>::new());
        }
    }
}
