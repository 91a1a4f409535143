//! A survey wave's life: draft → open → closed.

use crate::domain::locality::LocalityTree;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// How a wave's figures are estimated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weighting {
    /// Every answer weighs 1.
    #[default]
    None,
    /// Answers weigh N_h / responding_h in the stratum of the wave's sample they came from
    /// (desk answers and answers outside every stratum weigh 1).
    Design,
}

impl Weighting {
    pub fn as_str(self) -> &'static str {
        match self {
            Weighting::None => "none",
            Weighting::Design => "design",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Weighting::None, Weighting::Design].into_iter().find(|w| w.as_str() == s)
    }
}

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

/// Invitations issued by a wave's administrators may be used by anyone; those agencies hand
/// out at their own desk (only where the wave allows it) are marked, and so are their
/// answers, because the unit being assessed chose who got them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Standard,
    Desk,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Standard => "standard",
            Channel::Desk => "desk",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Channel::Standard, Channel::Desk].into_iter().find(|c| c.as_str() == s)
    }
}

/// Which answers results count: all (default), all but desk answers, or desk answers only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeskFilter {
    #[default]
    Include,
    Exclude,
    Only,
}

impl DeskFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            DeskFilter::Include => "include",
            DeskFilter::Exclude => "exclude",
            DeskFilter::Only => "only",
        }
    }
    /// The answers this filter leaves out, as a filter; `None` when it leaves none out.
    pub fn complement(self) -> Option<Self> {
        match self {
            DeskFilter::Include => None,
            DeskFilter::Exclude => Some(DeskFilter::Only),
            DeskFilter::Only => Some(DeskFilter::Exclude),
        }
    }
    pub fn counts(self, channel: Channel) -> bool {
        match self {
            DeskFilter::Include => true,
            DeskFilter::Exclude => channel != Channel::Desk,
            DeskFilter::Only => channel == Channel::Desk,
        }
    }
}

/// Why an agency may not take part in a wave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfScope {
    Agency,
    Locality,
}

impl OutOfScope {
    pub fn message(self) -> &'static str {
        match self {
            OutOfScope::Agency => "Cơ quan này không thuộc phạm vi của đợt khảo sát.",
            OutOfScope::Locality => "Cơ quan này không thuộc địa bàn của đợt khảo sát.",
        }
    }
}

/// Whether an agency (seated in `agency_locality`) is inside a wave's coverage: listed among
/// its agencies and seated within one of its localities. An empty list covers everything.
pub fn covers_agency(
    agencies: &[String],
    localities: &[String],
    agency_code: &str,
    agency_locality: &str,
    tree: &LocalityTree,
) -> Result<(), OutOfScope> {
    if !agencies.is_empty() && !agencies.iter().any(|a| a == agency_code) {
        return Err(OutOfScope::Agency);
    }
    if !localities.is_empty() && !localities.iter().any(|root| tree.is_within(agency_locality, root)) {
        return Err(OutOfScope::Locality);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::locality::Locality;

    #[test]
    fn an_agency_is_covered_only_when_listed_and_seated_within_the_wave() {
        let tree = LocalityTree::new([
            Locality::parse("01", "Tỉnh", "province", None).unwrap(),
            Locality::parse("0101", "Huyện A", "district", Some("01")).unwrap(),
            Locality::parse("0102", "Huyện B", "district", Some("01")).unwrap(),
            Locality::parse("010101", "Xã A1", "commune", Some("0101")).unwrap(),
        ]);
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(covers_agency(&[], &[], "X", "010101", &tree), Ok(()));
        assert_eq!(covers_agency(&s(&["X"]), &s(&["0101"]), "X", "010101", &tree), Ok(()));
        assert_eq!(covers_agency(&s(&["Y"]), &[], "X", "010101", &tree), Err(OutOfScope::Agency));
        assert_eq!(covers_agency(&[], &s(&["0102"]), "X", "010101", &tree), Err(OutOfScope::Locality));
        // A provincial agency is not inside a district wave.
        assert_eq!(covers_agency(&[], &s(&["0101"]), "X", "01", &tree), Err(OutOfScope::Locality));
    }

    #[test]
    fn desk_filter_selects_channels() {
        assert!(DeskFilter::Include.counts(Channel::Desk) && DeskFilter::Include.counts(Channel::Standard));
        assert!(!DeskFilter::Exclude.counts(Channel::Desk) && DeskFilter::Exclude.counts(Channel::Standard));
        assert!(DeskFilter::Only.counts(Channel::Desk) && !DeskFilter::Only.counts(Channel::Standard));
        assert_eq!(DeskFilter::Include.complement(), None);
        assert_eq!(DeskFilter::Exclude.complement(), Some(DeskFilter::Only));
        assert_eq!(DeskFilter::Only.complement(), Some(DeskFilter::Exclude));
    }

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
