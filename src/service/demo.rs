//! A demo province so that a newcomer sees a working system within a minute: Bắc Ninh's
//! real districts and communes (2024 list), one-stop desks, an open SIPAS wave, a few hundred
//! invitations and synthetic answers given through the same path as real ones.

use super::Survey;
use crate::domain::form::{Form, Item};
use crate::domain::locality;
use crate::domain::wave::{Channel, WaveStatus};
use crate::storage::localities::Agency;
use crate::storage::waves::NewWave;
use rand::Rng;
use rand::seq::SliceRandom;
use std::collections::BTreeMap;

const LOCALITIES: &str = include_str!("demo_localities.csv");
const PROVINCE: &str = "27";
const FORM: &str = "sipas-2017";

pub struct DemoSummary {
    pub wave_id: String,
    pub answered: usize,
    /// Unanswered invitation links to try.
    pub sample_links: Vec<(String, String)>,
}

/// Fills an empty database; does nothing (returns `None`) when a wave already exists.
pub async fn seed(survey: &Survey, invitations: usize, answers: usize) -> anyhow::Result<Option<DemoSummary>> {
    let form = survey.forms.newest(FORM).ok_or_else(|| anyhow::anyhow!("the demo needs the {FORM} form"))?;
    if !survey.db.run(|db| db.waves()).await?.is_empty() {
        return Ok(None);
    }
    let localities = locality::parse_csv(LOCALITIES).map_err(|e| anyhow::anyhow!("demo localities: {e:?}"))?;
    let localities: Vec<_> = localities.into_iter().map(|(_, l)| l).collect();
    let districts: Vec<_> = localities.iter().filter(|l| l.level == "district").cloned().collect();
    let communes: Vec<_> = localities.iter().filter(|l| l.level == "commune").cloned().collect();
    let mut agencies: Vec<Agency> = districts
        .iter()
        .map(|d| Agency {
            code: format!("MC{}", d.code),
            name: format!("Bộ phận Một cửa UBND {}", d.name),
            locality_code: d.code.clone(),
        })
        .collect();
    agencies.push(Agency {
        code: "TTHCC27".into(),
        name: "Trung tâm Phục vụ hành chính công tỉnh Bắc Ninh".into(),
        locality_code: PROVINCE.into(),
    });
    let seeded_agencies = agencies.clone();
    let wave_form = form.clone();
    let wave_id = survey
        .db
        .run(move |db| {
            db.save_localities(&localities)?
                .map_err(|_| crate::storage::StorageError::Corrupt("demo locality order".into()))?;
            for agency in &seeded_agencies {
                db.save_agency(agency)?;
            }
            let id = db.create_wave(&NewWave {
                name: "Khảo sát SIPAS năm 2026 — tỉnh Bắc Ninh (dữ liệu mẫu)",
                form: &wave_form,
                opens_on: None,
                closes_on: None,
                period_from: None,
                period_to: None,
                desk_codes: false,
                min_cell: None,
                weighting: Default::default(),
                localities: &[PROVINCE.to_string()],
                agencies: &[],
            })?;
            db.transition_wave(&id, WaveStatus::Open)?;
            Ok(id)
        })
        .await?;

    let mut issued = Vec::new();
    let per_commune = 10;
    let mut chosen = communes.clone();
    chosen.shuffle(&mut rand::thread_rng());
    for commune in chosen.iter().take(invitations.div_ceil(per_commune)) {
        let agency = format!("MC{}", commune.parent_code.clone().unwrap_or_default());
        let batch =
            survey.issue_invitations(&wave_id, &commune.code, Some(&agency), Channel::Standard, per_commune).await?;
        let mood = rand::thread_rng().gen_range(-1..=1);
        issued.extend(batch.into_iter().map(|i| (i, mood)));
    }
    let mut answered = 0;
    for (invitation, mood) in issued.iter().take(answers) {
        let code = crate::domain::code::InvitationCode::parse(&invitation.code)?;
        let open = survey.open_invitation(&code).await?;
        survey.answer(&code, &open, &synthetic_answers(&form, *mood)).await?;
        answered += 1;
    }
    let sample_links = issued.iter().skip(answers).take(3).map(|(i, _)| (i.code.clone(), i.url.clone())).collect();
    Ok(Some(DemoSummary { wave_id, answered, sample_links }))
}

/// Plausible answers: satisfaction leaning towards "hài lòng", shifted by a district mood.
pub fn synthetic_answers(form: &Form, mood: i32) -> BTreeMap<String, Vec<String>> {
    let mut rng = rand::thread_rng();
    let mut given: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for item in &form.items {
        if let Some(rule) = &item.show_if
            && !given.get(&rule.item).is_some_and(|codes| rule.is_met_by(codes))
        {
            continue;
        }
        if let Some(answer) = synthetic_answer(item, mood, &mut rng) {
            given.insert(item.id.clone(), answer);
        }
    }
    given
}

fn synthetic_answer(item: &Item, mood: i32, rng: &mut impl Rng) -> Option<Vec<String>> {
    if item.is_text() {
        return (item.required || rng.gen_bool(0.1))
            .then(|| vec!["Mong cơ quan tiếp tục cải thiện chất lượng phục vụ.".to_string()]);
    }
    let valid: Vec<&str> = item.options.iter().filter(|o| !o.missing).map(|o| o.code.as_str()).collect();
    if let Some(max) = item.max_choices {
        let mut codes = valid.clone();
        codes.retain(|c| *c != "other");
        codes.shuffle(rng);
        let take = rng.gen_range(1..=max.min(codes.len()).max(1));
        return Some(codes.into_iter().take(take).map(String::from).collect());
    }
    let is_five_level = ["1", "2", "3", "4", "5"].iter().all(|c| valid.contains(c)) && valid.len() == 5;
    let code = if is_five_level {
        let weights = [4 - mood, 8 - mood, 18, 45 + 2 * mood, 25 + 3 * mood];
        let roll = rng.gen_range(0..weights.iter().sum::<i32>());
        let mut acc = 0;
        let level = weights.iter().position(|w| {
            acc += w;
            roll < acc
        });
        (level.unwrap_or(3) + 1).to_string()
    } else if rng.gen_bool(0.8) {
        valid.first().copied().unwrap_or_default().to_string()
    } else {
        valid.choose(rng).copied().unwrap_or_default().to_string()
    };
    Some(vec![code])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::answers::validate;
    use crate::domain::form::load_dir;

    #[test]
    fn synthetic_answers_always_satisfy_the_shipped_forms() {
        let forms = load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("survey_forms")).unwrap();
        for form in &forms {
            for mood in [-1, 0, 1] {
                for _ in 0..50 {
                    let given = synthetic_answers(form, mood);
                    if let Err(errors) = validate(form, &given) {
                        panic!("{}: {errors:?}", form.id);
                    }
                }
            }
        }
    }
}
