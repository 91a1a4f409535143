//! A survey wave's life: draft → open → closed.

use chrono::NaiveDate;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WaveStatus {
    Draft,
    Open,
    Closed,
}

impl WaveStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WaveStatus::Draft => "draft",
            WaveStatus::Open => "open",
            WaveStatus::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [WaveStatus::Draft, WaveStatus::Open, WaveStatus::Closed].into_iter().find(|w| w.as_str() == s)
    }
    pub fn label(self) -> &'static str {
        match self {
            WaveStatus::Draft => "Nháp",
            WaveStatus::Open => "Đang khảo sát",
            WaveStatus::Closed => "Đã kết thúc",
        }
    }
    /// The only moves allowed: a closed wave stays closed, so its results stay fixed.
    pub fn can_become(self, next: WaveStatus) -> bool {
        matches!((self, next), (WaveStatus::Draft, WaveStatus::Open) | (WaveStatus::Open, WaveStatus::Closed))
    }
}

/// Whether a wave takes answers on `today`: it must be open and inside its dates.
pub fn accepts_answers(
    status: WaveStatus,
    opens_on: Option<NaiveDate>,
    closes_on: Option<NaiveDate>,
    today: NaiveDate,
) -> bool {
    status == WaveStatus::Open && opens_on.is_none_or(|d| d <= today) && closes_on.is_none_or(|d| today <= d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_forward_transitions_are_allowed() {
        assert!(WaveStatus::Draft.can_become(WaveStatus::Open));
        assert!(WaveStatus::Open.can_become(WaveStatus::Closed));
        assert!(!WaveStatus::Closed.can_become(WaveStatus::Open));
        assert!(!WaveStatus::Draft.can_become(WaveStatus::Closed));
    }

    #[test]
    fn answers_are_taken_only_while_open_and_within_dates() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let today = d("2026-11-22");
        assert!(accepts_answers(WaveStatus::Open, None, None, today));
        assert!(accepts_answers(WaveStatus::Open, Some(today), Some(today), today));
        assert!(!accepts_answers(WaveStatus::Open, None, Some(d("2026-11-21")), today));
        assert!(!accepts_answers(WaveStatus::Open, Some(d("2026-11-23")), None, today));
        assert!(!accepts_answers(WaveStatus::Draft, None, None, today));
    }
}
