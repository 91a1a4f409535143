//! Response rates: codes issued and codes used, for the whole wave, per channel, per agency
//! and per locality at a level (rolled up the tree). Counts of invitations reveal no answer,
//! so nothing here is suppressed.

use super::locality::{Locality, LocalityTree};
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::AddAssign;

/// Invitations of one locality (where the invited person lives, or where a code was issued),
/// agency and channel, as counted by the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationCell {
    pub locality_code: String,
    /// `""` without an agency.
    pub agency_code: String,
    /// How the code reached the person: `email`, `letter`, `sms`, `enumerator` for sampled
    /// people, else how it was issued (`desk`, `standard`).
    pub channel: String,
    pub counts: Counts,
}

/// Codes issued (`invited`) and used to answer (`answered`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub invited: u64,
    pub answered: u64,
}

impl Counts {
    /// Answered in % of invited, unrounded; `None` before any code is issued.
    pub fn rate(&self) -> Option<f64> {
        (self.invited > 0).then(|| 100.0 * self.answered as f64 / self.invited as f64)
    }
}

impl AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.invited += other.invited;
        self.answered += other.answered;
    }
}

/// The channels in the order reports list them, with their Vietnamese names. Codes Nội vụ
/// issued through the API (no list, no delivery) are `direct`.
pub const CHANNELS: [(&str, &str); 6] = [
    ("email", "Thư điện tử"),
    ("letter", "Thư qua bưu điện"),
    ("sms", "Tin nhắn SMS"),
    ("enumerator", "Điều tra viên"),
    ("desk", "Mã phát tại bộ phận một cửa"),
    ("direct", "Mã Nội vụ phát trực tiếp"),
];

/// The reported channel of a stored one.
fn reported_channel(stored: &str) -> &str {
    if stored == "standard" { "direct" } else { stored }
}

/// What a row counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dimension {
    Wave,
    Channel,
    Agency,
    Locality,
}

/// One row of the response-rate table.
#[derive(Debug, Clone, PartialEq)]
pub struct RateRow {
    pub dimension: Dimension,
    /// The locality at the level asked (locality rows only).
    pub locality: Option<Locality>,
    /// The agency's code (agency rows, and locality rows by agency); `""` without one.
    pub agency_code: Option<String>,
    /// The reported channel (channel rows only).
    pub channel: Option<&'static str>,
    pub counts: Counts,
}

impl RateRow {
    fn new(dimension: Dimension, counts: Counts) -> Self {
        RateRow { dimension, locality: None, agency_code: None, channel: None, counts }
    }
}

/// The table: the whole wave first, then each channel used (in `CHANNELS` order), each agency
/// when `by_agency`, and each locality at `level` when asked (× agency when `by_agency`: the
/// sampling strata when `level` is the draw's). Invitations of a locality above `level` or
/// outside the tree count in every row but the locality rows.
pub fn rate_rows(cells: &[InvitationCell], tree: &LocalityTree, level: Option<&str>, by_agency: bool) -> Vec<RateRow> {
    let mut whole = Counts::default();
    let mut channels: BTreeMap<usize, Counts> = BTreeMap::new();
    let mut agencies: BTreeMap<&str, Counts> = BTreeMap::new();
    let mut places: BTreeMap<(&str, &str), (&Locality, Counts)> = BTreeMap::new();
    for cell in cells {
        whole += cell.counts;
        let channel = reported_channel(&cell.channel);
        // Stored channels are those of `CHANNELS` and `standard`; should another appear, it
        // still counts, as `direct`.
        let position = CHANNELS.iter().position(|(c, _)| *c == channel).unwrap_or(CHANNELS.len() - 1);
        *channels.entry(position).or_default() += cell.counts;
        if by_agency {
            *agencies.entry(cell.agency_code.as_str()).or_default() += cell.counts;
        }
        if let Some(place) = level.and_then(|level| tree.ancestor_at_level(&cell.locality_code, level)) {
            let agency = if by_agency { cell.agency_code.as_str() } else { "" };
            places.entry((place.code.as_str(), agency)).or_insert((place, Counts::default())).1 += cell.counts;
        }
    }
    let mut rows = vec![RateRow::new(Dimension::Wave, whole)];
    rows.extend(channels.into_iter().map(|(position, counts)| RateRow {
        channel: Some(CHANNELS[position].0),
        ..RateRow::new(Dimension::Channel, counts)
    }));
    rows.extend(agencies.into_iter().map(|(agency, counts)| RateRow {
        agency_code: Some(agency.to_string()),
        ..RateRow::new(Dimension::Agency, counts)
    }));
    rows.extend(places.into_iter().map(|((_, agency), (place, counts))| RateRow {
        locality: Some(place.clone()),
        agency_code: by_agency.then(|| agency.to_string()),
        ..RateRow::new(Dimension::Locality, counts)
    }));
    rows
}

/// What a row of the table is counted by, as people read it.
pub fn dimension_label(dimension: Dimension) -> &'static str {
    match dimension {
        Dimension::Wave => "Toàn đợt",
        Dimension::Channel => "Kênh",
        Dimension::Agency => "Cơ quan",
        Dimension::Locality => "Địa bàn",
    }
}

/// The Vietnamese name of a reported channel.
pub fn channel_label(channel: &str) -> &'static str {
    CHANNELS.iter().find(|(c, _)| *c == channel).map_or("", |(_, label)| label)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> LocalityTree {
        LocalityTree::new([
            Locality::parse("01", "Tỉnh", "province", None).unwrap(),
            Locality::parse("001", "Huyện Một", "district", Some("01")).unwrap(),
            Locality::parse("002", "Huyện Hai", "district", Some("01")).unwrap(),
            Locality::parse("00001", "Xã Một", "commune", Some("001")).unwrap(),
            Locality::parse("00002", "Xã Hai", "commune", Some("001")).unwrap(),
            Locality::parse("00003", "Xã Ba", "commune", Some("002")).unwrap(),
        ])
    }

    fn cell(locality: &str, agency: &str, channel: &str, invited: u64, answered: u64) -> InvitationCell {
        InvitationCell {
            locality_code: locality.into(),
            agency_code: agency.into(),
            channel: channel.into(),
            counts: Counts { invited, answered },
        }
    }

    #[test]
    fn rows_roll_invitations_up_to_the_level_and_split_channels_and_agencies() {
        let cells = [
            cell("00001", "A", "letter", 4, 1),
            cell("00002", "A", "sms", 6, 3),
            cell("00003", "B", "standard", 10, 8),
            cell("001", "", "desk", 2, 2),
        ];
        let rows = rate_rows(&cells, &tree(), Some("district"), true);
        let find = |d: Dimension, key: &str| {
            rows.iter()
                .find(|r| {
                    r.dimension == d
                        && match d {
                            Dimension::Wave => true,
                            Dimension::Channel => r.channel == Some(key),
                            Dimension::Agency => r.agency_code.as_deref() == Some(key),
                            Dimension::Locality => {
                                format!("{}/{}", r.locality.as_ref().unwrap().code, r.agency_code.as_ref().unwrap())
                                    == key
                            }
                        }
                })
                .unwrap()
                .counts
        };
        assert_eq!(find(Dimension::Wave, ""), Counts { invited: 22, answered: 14 });
        assert_eq!(find(Dimension::Channel, "direct"), Counts { invited: 10, answered: 8 });
        assert_eq!(find(Dimension::Channel, "desk"), Counts { invited: 2, answered: 2 });
        assert_eq!(find(Dimension::Agency, "A"), Counts { invited: 10, answered: 4 });
        assert_eq!(find(Dimension::Locality, "001/A"), Counts { invited: 10, answered: 4 });
        assert_eq!(find(Dimension::Locality, "001/"), Counts { invited: 2, answered: 2 });
        assert_eq!(find(Dimension::Locality, "002/B"), Counts { invited: 10, answered: 8 });
        let order: Vec<Option<&str>> =
            rows.iter().filter(|r| r.dimension == Dimension::Channel).map(|r| r.channel).collect();
        assert_eq!(order, [Some("letter"), Some("sms"), Some("desk"), Some("direct")]);
        assert_eq!(find(Dimension::Wave, "").rate(), Some(1400.0 / 22.0));
    }

    #[test]
    fn a_locality_above_the_level_counts_only_outside_the_locality_rows() {
        let cells = [cell("00001", "", "letter", 3, 0), cell("001", "", "standard", 2, 1)];
        let rows = rate_rows(&cells, &tree(), Some("commune"), false);
        let places: Vec<_> = rows.iter().filter(|r| r.dimension == Dimension::Locality).collect();
        assert_eq!(places.len(), 1);
        assert_eq!((places[0].locality.as_ref().unwrap().code.as_str(), places[0].counts.invited), ("00001", 3));
        assert_eq!(places[0].agency_code, None);
        assert_eq!(rows[0].counts, Counts { invited: 5, answered: 1 });
        assert!(rows.iter().all(|r| r.dimension != Dimension::Agency), "agencies only when asked");
        assert_eq!(Counts::default().rate(), None);
    }
}
