//! The printable report of a wave (`/quan-ly/dot/{id}/bao-cao`): headed as an official
//! document, its tables and bar charts drawn on the server as inline SVG, laid out for A4 so
//! the browser prints it to PDF. After the indices by unit come the workbook's main tables,
//! built by `service::report_print` as for the Word document. Figures are those of the
//! results API, through the same disclosure control, rounded by the one rule for people.

use super::{level_label, one_decimal, refused};
use crate::domain::indices::Figure;
use crate::service::report_print::{PrintedReport, interval};
use crate::service::report_text::{headline_columns, method_statements, ranked_units, unit_name};
use crate::service::results::WaveResults;
use crate::web::AppState;
use crate::web::api::report_docx::docx_file;
use crate::web::api::report_tables::rates_and_comments;
use crate::web::api::waves::{ResultsParams, find_wave, visible_results_with};
use crate::web::auth::{ApiUser, PageUser};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/quan-ly/dot/{id}/bao-cao", web::get().to(page))
        .route("/quan-ly/dot/{id}/bao-cao.docx", web::get().to(docx));
}

/// Units beyond this many are listed in the table but not charted.
const MAX_CHARTED: usize = 60;

/// Geometry of a horizontal bar chart, in SVG user units.
const LABEL_WIDTH: f64 = 310.0;
const BAR_SPACE: f64 = 290.0;
/// Longer labels are cut (the table beside the chart has them whole).
const LABEL_CHARS: usize = 52;
const ROW_HEIGHT: f64 = 20.0;

/// Section numbers, more than the report ever has.
const ROMAN: [&str; 12] = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"];

/// A figure as a table cell shows it.
fn cell(figure: &Figure) -> minijinja::Value {
    context! {
        value => figure.value.map(one_decimal),
        suppressed => figure.suppressed,
        n => figure.n,
        interval => interval(figure),
    }
}

/// Bars of a chart (value in %, 0–100), hidden and empty figures left out.
fn bars<'a>(rows: impl Iterator<Item = (&'a str, &'a Figure)>) -> (Vec<minijinja::Value>, f64) {
    let bars: Vec<minijinja::Value> = rows
        .filter_map(|(label, figure)| Some((label, figure.value?)))
        .take(MAX_CHARTED)
        .enumerate()
        .map(|(i, (label, value))| {
            let y = i as f64 * ROW_HEIGHT;
            let width = BAR_SPACE * value.clamp(0.0, 100.0) / 100.0;
            let label: String = match label.chars().count() > LABEL_CHARS {
                true => label.chars().take(LABEL_CHARS - 1).chain(['…']).collect(),
                false => label.to_string(),
            };
            context! {
                label, y, text_y => y + ROW_HEIGHT * 0.7, width,
                value_x => LABEL_WIDTH + width + 4.0, value => one_decimal(value),
            }
        })
        .collect();
    let height = bars.len() as f64 * ROW_HEIGHT;
    (bars, height)
}

/// The same report as a Word document, for the session's official.
async fn docx(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    params: web::Query<ResultsParams>,
    user: Option<PageUser>,
) -> HttpResponse {
    let Some(PageUser(user)) = user else { return super::redirect("/dang-nhap") };
    docx_file(&state, &ApiUser(user), &path, &params).await.unwrap_or_else(|error| refused(&state, &req, &error))
}

async fn page(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    params: web::Query<ResultsParams>,
    user: Option<PageUser>,
) -> HttpResponse {
    let Some(PageUser(user)) = user else { return super::redirect("/dang-nhap") };
    let loaded = async {
        let wave = find_wave(&state, &path).await?;
        let (form, results) = visible_results_with(&state, &user, &wave, &params, true).await?;
        let query = params.query_for(&user, &wave)?;
        let (wave_id, scope) = (wave.id.clone(), query.agency_scope.clone());
        let totals = state.survey.db.run(move |db| db.invitation_totals(&wave_id, scope.as_deref())).await?;
        let (rates, comments) = rates_and_comments(&state, &wave, form.clone(), query).await?;
        Ok::<_, crate::web::error::ApiError>((wave, form, results, totals, rates, comments))
    };
    let (wave, form, results, (issued, used), rates, comments) = match loaded.await {
        Ok(loaded) => loaded,
        Err(error) => return refused(&state, &req, &error),
    };
    let (headline, positions) = headline_columns(&form);
    let WaveResults { overall, groups } = &results;
    let overall_rows: Vec<_> = headline
        .iter()
        .zip(&positions)
        .map(|(index, &p)| context! { label => index.label, figure => cell(&overall.indices[p].figure) })
        .collect();
    let (overall_bars, overall_height) =
        bars(headline.iter().zip(&positions).map(|(index, &p)| (index.label.as_str(), &overall.indices[p].figure)));
    let groups = ranked_units(&form, groups);
    let names: Vec<String> = groups.iter().copied().map(unit_name).collect();
    let lead = positions.first().copied();
    let units: Vec<_> = groups
        .iter()
        .zip(&names)
        .map(|(g, name)| {
            let rank = lead.and_then(|p| g.ranks.get(p).copied().flatten());
            let cells: Vec<_> = positions.iter().map(|&p| cell(&g.figures[p])).collect();
            context! { name, responses => g.responses, rank, cells }
        })
        .collect();
    let (unit_bars, unit_height) = match lead {
        Some(p) => bars(groups.iter().zip(&names).map(|(g, name)| (name.as_str(), &g.figures[p]))),
        None => (Vec::new(), 0.0),
    };
    let rate = (issued > 0).then(|| one_decimal(100.0 * used as f64 / issued as f64));
    let level = params.level.as_deref().filter(|l| !l.is_empty());
    let min_cell = wave.min_cell.unwrap_or(state.survey.min_cell);
    let printed = PrintedReport {
        form: &form,
        results: &results,
        rates: &rates,
        comments: &comments,
        compared: params.compare.is_some(),
        min_cell,
    };
    // I. and II. are the overview and the overall indices; the table by unit, when there is
    // one, comes next.
    let mut numbers = ROMAN[2..].iter();
    let units_number = if units.is_empty() { None } else { numbers.next() };
    let sections: Vec<_> = printed
        .sections()
        .iter()
        .zip(&mut numbers)
        .map(|(section, number)| context! { number, section => minijinja::Value::from_serialize(section) })
        .collect();
    let method_number = numbers.next();
    state.page(
        &req,
        StatusCode::OK,
        "report.html",
        context! {
            title => format!("Báo cáo: {}", wave.name),
            query => req.query_string(),
            organisation => state.settings.organisation,
            wave => context! { id => wave.id, name => wave.name, form_version => wave.form_version },
            form_title => form.title,
            issued, answered => overall.responses, rate,
            level_label => level.map(level_label),
            headers => headline.iter().map(|h| h.label.as_str()).collect::<Vec<_>>(),
            overall_rows, overall_bars, overall_height,
            units, units_number, unit_bars, unit_height, charted_all => groups.len() <= MAX_CHARTED,
            sections, method_number,
            lead_label => headline.first().map(|h| h.label.as_str()),
            label_width => LABEL_WIDTH, chart_width => LABEL_WIDTH + BAR_SPACE + 60.0,
            method => method_statements(&wave, &form, min_cell, overall.weighting)
                .into_iter()
                .map(|(heading, statement)| context! { heading, statement })
                .collect::<Vec<_>>(),
        },
    )
}
