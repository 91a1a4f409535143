//! The one rounding rule for figures people read (pages, printed report, Excel's display
//! format): one decimal, half up, Vietnamese decimal comma. JSON and CSV carry unrounded values.

/// `91.25` → `"91,3"`, `-0.25` → `"-0,3"` (half away from zero, so a change reads like the
/// figures it is the difference of).
pub fn one_decimal(value: f64) -> String {
    let tenths = tenths_half_up(value);
    let sign = if tenths < 0 { "-" } else { "" };
    format!("{sign}{},{}", tenths.unsigned_abs() / 10, tenths.unsigned_abs() % 10)
}

/// A change as people read it: the sign always shown unless it rounds to nothing
/// (`33.33` → `"+33,3"`, `-100.0` → `"-100,0"`, `0.04` → `"0,0"`).
pub fn signed_one_decimal(change: f64) -> String {
    match tenths_half_up(change) > 0 {
        true => format!("+{}", one_decimal(change)),
        false => one_decimal(change),
    }
}

/// The value in tenths, rounded half away from zero. Figures are ratios of counts computed in
/// binary floating point, so 73/80 = 91.25 may arrive as 91.249999…: a relative nudge far
/// below one tenth puts such values back on their exact half before rounding.
fn tenths_half_up(value: f64) -> i64 {
    let scaled = value * 10.0;
    (scaled + scaled * 1e-12).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_shows_its_sign_unless_it_rounds_to_nothing() {
        assert_eq!(signed_one_decimal(100.0 / 3.0), "+33,3");
        assert_eq!(signed_one_decimal(-100.0), "-100,0");
        assert_eq!(signed_one_decimal(0.04), "0,0");
        assert_eq!(signed_one_decimal(-0.04), "0,0");
        assert_eq!(signed_one_decimal(0.05), "+0,1");
    }

    #[test]
    fn halves_round_up_with_a_decimal_comma() {
        assert_eq!(one_decimal(100.0 * 73.0 / 80.0), "91,3");
        assert_eq!(one_decimal(91.24), "91,2");
        assert_eq!(one_decimal(100.0), "100,0");
        assert_eq!(one_decimal(0.0), "0,0");
        assert_eq!(one_decimal(0.05), "0,1");
        assert_eq!(one_decimal(2.675 * 10.0), "26,8");
    }

    #[test]
    fn a_half_computed_as_slightly_less_still_rounds_up() {
        let just_below = 91.25 - 1e-13;
        assert_eq!(one_decimal(just_below), "91,3");
    }

    #[test]
    fn negative_changes_round_away_from_zero() {
        assert_eq!(one_decimal(-0.25), "-0,3");
        assert_eq!(one_decimal(-4.3), "-4,3");
        assert_eq!(one_decimal(-0.04), "0,0");
    }

    #[test]
    fn every_share_of_small_counts_rounds_half_up_exactly() {
        // Every k/n for n up to 400 against exact integer arithmetic: 1000k/n in tenths.
        for n in 1..=400u64 {
            for k in 0..=n {
                let exact_tenths = (2000 * k + n) / (2 * n); // round(1000k/n), halves up
                let expected = format!("{},{}", exact_tenths / 10, exact_tenths % 10);
                assert_eq!(one_decimal(100.0 * k as f64 / n as f64), expected, "{k}/{n}");
            }
        }
    }
}
