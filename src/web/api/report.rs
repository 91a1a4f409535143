//! A wave's report as files: the `indices` table as JSON and CSV (long format, unrounded,
//! for machines) and the workbook officials send on (summary, indices by unit with a chart,
//! method). Every figure has gone through the wave's disclosure control.

use crate::domain::form::Form;
use crate::domain::indices::Figure;
use crate::scratch::{Scratch, SealedFile};
use crate::service::crosstab::Crosstab;
use crate::service::report::{IndexRow, group_rows, overall_rows};
use crate::service::report_items::ItemTable;
use crate::service::report_text::{headline_columns, locality_label, method_statements, ranked_units};
use crate::service::results::{AgencyRef, GroupResult, LocalityRef, WaveResults};
use crate::storage::StorageError;
use crate::storage::waves::Wave;
use crate::web::AppState;
use crate::web::api::report_crosstab::{self, CrosstabParams};
use crate::web::api::report_items;
use crate::web::api::report_tables::{self, RateAndCommentSheets};
use crate::web::api::waves::{ResultsParams, find_wave, visible_results_with};
use crate::web::auth::ApiUser;
use crate::web::csv_export::{Cell, CsvWriter};
use crate::web::error::ApiError;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/waves/{id}/report", web::get().to(report_json))
        .route("/waves/{id}/report.csv", web::get().to(report_csv))
        .route("/waves/{id}/report.xlsx", web::get().to(report_xlsx));
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TableParams {
    /// `indices`, `items` (every choice item's options: counts, shares of valid answers),
    /// `expectations` (expectation items' options ranked, shares of the declared denominator),
    /// `response_rates`, `comments` or `crosstab` (every index by background items, see
    /// `crosstab`).
    table: Option<String>,
}

const INDICES_HEADER: [&str; 14] = [
    "locality_code",
    "locality_name",
    "level",
    "agency_code",
    "agency_name",
    "responses",
    "index_id",
    "index_label",
    "value",
    "n",
    "ci_low",
    "ci_high",
    "suppressed",
    "rank",
];

/// Groups per chunk of a streamed table.
const GROUPS_PER_CHUNK: usize = 64;

fn checked_table(params: &TableParams) -> Result<&str, ApiError> {
    match params.table.as_deref() {
        Some(table @ ("indices" | "response_rates" | "comments" | "crosstab")) => Ok(table),
        other => Err(ApiError::Invalid(BTreeMap::from([(
            "table".to_string(),
            format!(
                "Chưa có bảng “{}”; hiện có: indices, items, expectations, response_rates, comments, crosstab.",
                other.unwrap_or_default()
            ),
        )]))),
    }
}

/// The wave, its pinned form and its results as the user may see them (with the item
/// distributions when `items`).
pub(super) async fn results_for(
    state: &AppState,
    user: &ApiUser,
    id: &str,
    params: &ResultsParams,
    items: bool,
) -> Result<(Wave, Arc<Form>, WaveResults), ApiError> {
    let wave = find_wave(state, id).await?;
    let (form, results) = visible_results_with(state, &user.0, &wave, params, items).await?;
    state.audit(&user.0, "wave.report", &wave.id).await?;
    Ok((wave, form, results))
}

/// The rows of `results`, a chunk of groups at a time, each chunk written by `write`.
fn chunked(
    form: Arc<Form>,
    results: WaveResults,
    mut write: impl FnMut(&mut dyn Iterator<Item = IndexRow>) -> Vec<u8>,
) -> impl Iterator<Item = Vec<u8>> {
    let mut next = None::<usize>;
    std::iter::from_fn(move || {
        let chunk = match next {
            None => write(&mut overall_rows(&form, &results.overall)),
            Some(start) if start < results.groups.len() => {
                let end = (start + GROUPS_PER_CHUNK).min(results.groups.len());
                write(&mut results.groups[start..end].iter().flat_map(|g| group_rows(&form, g)))
            }
            Some(_) => return None,
        };
        next = Some(next.map_or(0, |start| start + GROUPS_PER_CHUNK));
        Some(chunk)
    })
}

/// `GET /waves/{id}/report.csv?table=indices`: UTF-8 with BOM, unrounded, long format.
#[utoipa::path(
    get,
    path = "/waves/{id}/report.csv",
    tag = "waves",
    params(("id" = String, Path, description = "the wave's id"), TableParams, ResultsParams, CrosstabParams),
    responses(
        (status = 200, description = "the table, one row per unit and index", content_type = "text/csv"),
        (status = 403, description = "the role may not"),
        (status = 422, description = "unknown table"),
    ),
    security(("bearer" = [])),
)]
async fn report_csv(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
    table: web::Query<TableParams>,
    params: web::Query<ResultsParams>,
    crosstab: web::Query<CrosstabParams>,
) -> Result<HttpResponse, ApiError> {
    if let Some(items) = table.table.as_deref().and_then(ItemTable::parse) {
        let (_, form, results) = results_for(&state, &user, &path, &params, true).await?;
        let rows = report_items::chunked(items, form, results, move |rows| report_items::csv_rows(items, rows));
        let chunks = std::iter::once(report_items::csv_header(items)).chain(rows);
        let chunks = chunks.map(|c| Ok::<_, std::convert::Infallible>(web::Bytes::from(c)));
        let name = match items {
            ItemTable::Items => "tung-cau-hoi.csv",
            ItemTable::Expectations => "mong-doi.csv",
        };
        return Ok(super::download("text/csv; charset=utf-8", name).streaming(futures_util::stream::iter(chunks)));
    }
    match checked_table(&table)? {
        "response_rates" => return report_tables::rates_csv(&state, &user, &path, &params).await,
        "comments" => return report_tables::comments_csv(&state, &user, &path, &params).await,
        "crosstab" => {
            return report_crosstab::crosstab_csv(&state, &user, &path, &params, crosstab.crosstab.as_deref()).await;
        }
        _ => {}
    }
    let (_, form, results) = results_for(&state, &user, &path, &params, false).await?;
    let mut head = CsvWriter::new();
    head.header(&INDICES_HEADER);
    let rows = chunked(form, results, |rows| {
        let mut csv = CsvWriter::continued();
        for row in rows {
            csv.row(&csv_cells(&row));
        }
        csv.into_bytes()
    });
    let chunks = std::iter::once(head.into_bytes()).chain(rows).map(|c| Ok::<_, std::convert::Infallible>(c.into()));
    Ok(super::download("text/csv; charset=utf-8", "chi-so.csv").streaming(futures_util::stream::iter(chunks)))
}

/// The columns that name a unit, first in every per-unit table of the report (JSON and CSV
/// alike): the whole wave has no locality and the level `wave`.
#[derive(Serialize)]
pub(super) struct UnitColumns<'a> {
    locality_code: Option<&'a str>,
    locality_name: Option<&'a str>,
    level: &'a str,
    agency_code: Option<&'a str>,
    agency_name: Option<&'a str>,
    responses: u64,
}

impl<'a> UnitColumns<'a> {
    pub(super) fn of(locality: Option<&'a LocalityRef>, agency: Option<&'a AgencyRef>, responses: u64) -> Self {
        UnitColumns {
            locality_code: locality.map(|l| l.code.as_str()),
            locality_name: locality.map(|l| l.name.as_str()),
            level: locality.map_or("wave", |l| l.level.as_str()),
            agency_code: agency.map(|a| a.code.as_str()),
            agency_name: agency.map(|a| a.name.as_str()),
            responses,
        }
    }

    /// As CSV cells: empty where JSON has `null`.
    pub(super) fn cells(&self) -> [Cell<'a>; 6] {
        let text = |value: Option<&'a str>| Cell::Text(value.unwrap_or(""));
        [
            text(self.locality_code),
            text(self.locality_name),
            Cell::Text(self.level),
            text(self.agency_code),
            text(self.agency_name),
            Cell::Integer(self.responses as i64),
        ]
    }
}

fn csv_cells<'a>(row: &'a IndexRow) -> [Cell<'a>; 14] {
    let decimal = |x: Option<f64>| x.map_or(Cell::Text(""), Cell::Decimal);
    let [locality_code, locality_name, level, agency_code, agency_name, responses] =
        UnitColumns::of(row.locality, row.agency, row.responses).cells();
    [
        locality_code,
        locality_name,
        level,
        agency_code,
        agency_name,
        responses,
        Cell::Text(&row.index.id),
        Cell::Text(&row.index.label),
        decimal(row.figure.value),
        Cell::Integer(row.figure.n as i64),
        decimal(row.figure.ci_low),
        decimal(row.figure.ci_high),
        Cell::Text(if row.figure.suppressed { "true" } else { "false" }),
        row.rank.map_or(Cell::Text(""), |r| Cell::Integer(r as i64)),
    ]
}

/// A row of the `indices` table as JSON.
#[derive(Serialize)]
struct JsonRow<'a> {
    #[serde(flatten)]
    unit: UnitColumns<'a>,
    index_id: &'a str,
    index_label: &'a str,
    #[serde(flatten)]
    figure: Figure,
    rank: Option<u32>,
}

/// `GET /waves/{id}/report?table=indices`: the same table as JSON, `{"table","rows"}`.
#[utoipa::path(
    get,
    path = "/waves/{id}/report",
    tag = "waves",
    params(("id" = String, Path, description = "the wave's id"), TableParams, ResultsParams, CrosstabParams),
    responses(
        (status = 200, description = "`{table, rows}`: the rows of the CSV as objects"),
        (status = 403, description = "the role may not"),
        (status = 422, description = "unknown table"),
    ),
    security(("bearer" = [])),
)]
async fn report_json(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
    table: web::Query<TableParams>,
    params: web::Query<ResultsParams>,
    crosstab: web::Query<CrosstabParams>,
) -> Result<HttpResponse, ApiError> {
    if let Some(items) = table.table.as_deref().and_then(ItemTable::parse) {
        let (_, form, results) = results_for(&state, &user, &path, &params, true).await?;
        let mut first = true;
        let rows =
            report_items::chunked(items, form, results, move |rows| report_items::json_rows(items, rows, &mut first));
        let head = format!(r#"{{"table":"{}","rows":["#, items.name()).into_bytes();
        let body = std::iter::once(head).chain(rows).chain(std::iter::once(b"]}".to_vec()));
        let chunks = body.map(|c| Ok::<_, std::convert::Infallible>(web::Bytes::from(c)));
        return Ok(HttpResponse::Ok().content_type("application/json").streaming(futures_util::stream::iter(chunks)));
    }
    match checked_table(&table)? {
        "response_rates" => return report_tables::rates_json(&state, &user, &path, &params).await,
        "comments" => return report_tables::comments_json(&state, &user, &path, &params).await,
        "crosstab" => {
            return report_crosstab::crosstab_json(&state, &user, &path, &params, crosstab.crosstab.as_deref()).await;
        }
        _ => {}
    }
    let (_, form, results) = results_for(&state, &user, &path, &params, false).await?;
    let mut first = true;
    let rows = chunked(form, results, move |rows| {
        let mut chunk = Vec::new();
        for row in rows {
            if !std::mem::take(&mut first) {
                chunk.push(b',');
            }
            let json = JsonRow {
                unit: UnitColumns::of(row.locality, row.agency, row.responses),
                index_id: &row.index.id,
                index_label: &row.index.label,
                figure: row.figure,
                rank: row.rank,
            };
            serde_json::to_writer(&mut chunk, &json).expect("rows serialise");
        }
        chunk
    });
    let body =
        std::iter::once(br#"{"table":"indices","rows":["#.to_vec()).chain(rows).chain(std::iter::once(b"]}".to_vec()));
    let chunks = body.map(|c| Ok::<_, std::convert::Infallible>(web::Bytes::from(c)));
    Ok(HttpResponse::Ok().content_type("application/json").streaming(futures_util::stream::iter(chunks)))
}

/// `GET /waves/{id}/report.xlsx`: the workbook officials send on.
#[utoipa::path(
    get,
    path = "/waves/{id}/report.xlsx",
    tag = "waves",
    params(("id" = String, Path, description = "the wave's id"), ResultsParams, CrosstabParams),
    responses(
        (status = 200, description = "summary, indices by unit with a chart, every item's distribution, expectations ranked with charts, response rates, comments, crosstabs when asked, method", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 403, description = "the role may not"),
    ),
    security(("bearer" = [])),
)]
async fn report_xlsx(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
    params: web::Query<ResultsParams>,
    crosstab: web::Query<CrosstabParams>,
) -> Result<HttpResponse, ApiError> {
    let crosstabs = match &crosstab.crosstab {
        Some(asked) => Some(report_crosstab::workbook_crosstabs(&state, &user, &path, &params, asked).await?),
        None => None,
    };
    let (wave, form, results) = results_for(&state, &user, &path, &params, true).await?;
    // The units asked for are localities (or localities by agency): agencies alone as well.
    let by_agency_only = params.by.as_deref() == Some("agency") && params.level.is_none();
    let agencies = match by_agency_only {
        true => None,
        false => {
            let agencies = ResultsParams { level: None, by: Some("agency".into()), compare: None, ..*params };
            let (_, agencies) = visible_results_with(&state, &user.0, &wave, &agencies, false).await?;
            agencies.groups.iter().any(|g| g.agency.is_some()).then_some(agencies)
        }
    };
    let query = params.query_for(&user.0, &wave)?;
    let min_cell = wave.min_cell.unwrap_or(state.survey.min_cell);
    let compared = params.compare.is_some();
    let max_comments = state.survey.report_comments;
    let scratch = state.survey.scratch.clone();
    let file = state
        .survey
        .db
        .run(move |db| {
            let sheets = RateAndCommentSheets::read(db, &wave, form.clone(), &query, min_cell, max_comments)?;
            let crosstabs = crosstabs.as_ref().map(|(tables, note)| (tables.as_slice(), note.as_deref()));
            let agencies = agencies.as_ref();
            let report = Workbook {
                wave: &wave,
                form: &form,
                results: &results,
                agencies,
                sheets,
                crosstabs,
                min_cell,
                compared,
            };
            report.write(&scratch).map_err(|e| StorageError::Io(e.to_string()))
        })
        .await?;
    super::stream_file(file, super::XLSX, "bao-cao-khao-sat.xlsx")
}

/// What the workbook is written from.
struct Workbook<'a> {
    wave: &'a Wave,
    form: &'a Form,
    results: &'a WaveResults,
    /// The wave by agency alone, when the units asked for are localities.
    agencies: Option<&'a WaveResults>,
    /// Response rates (their whole-wave row is the summary's) and comments.
    sheets: RateAndCommentSheets<'a>,
    /// Every index by background items, when asked (`crosstab=`), and why they are not by
    /// locality when the wave is too large for the level asked.
    crosstabs: Option<(&'a [Crosstab], Option<&'a str>)>,
    min_cell: u64,
    /// Whether the results carry the change since an earlier wave (`compare=`).
    compared: bool,
}

/// Charts beyond this many units would be unreadable; the table still has them all.
const MAX_CHARTED_UNITS: usize = 100;

impl Workbook<'_> {
    /// Written in constant memory to a temporary file.
    fn write(&self, scratch: &Scratch) -> Result<SealedFile, Box<dyn std::error::Error + Send + Sync>> {
        let mut workbook = super::new_workbook(scratch)?;
        self.summary(&mut workbook)?;
        let units = "Chỉ số theo đơn vị";
        self.by_unit(&mut workbook, units, &self.results.groups, "Chỉ số hài lòng theo đơn vị (%)")?;
        if let Some(agencies) = self.agencies {
            let title = "Chỉ số hài lòng theo cơ quan (%)";
            self.by_unit(&mut workbook, "Chỉ số theo cơ quan", &agencies.groups, title)?;
        }
        if self.compared {
            self.comparison(&mut workbook)?;
        }
        report_items::write_sheets(&mut workbook, self.form, self.results)?;
        self.sheets.write(&mut workbook)?;
        if let Some((crosstabs, note)) = self.crosstabs {
            report_crosstab::write_sheet(&mut workbook, self.form, crosstabs, note)?;
        }
        self.method(&mut workbook)?;
        let file = scratch.create()?;
        let mut out = std::io::BufWriter::new(file.open()?);
        workbook.save_to_writer(&mut out)?;
        out.flush()?;
        drop(out);
        Ok(file)
    }

    fn summary(&self, workbook: &mut rust_xlsxwriter::Workbook) -> Result<(), rust_xlsxwriter::XlsxError> {
        use rust_xlsxwriter::{Chart, ChartType, Format};
        let (bold, percent) = (Format::new().set_bold(), Format::new().set_num_format("0.0"));
        let sheet = workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name("Tổng hợp")?;
        sheet.set_column_width(0, 60)?;
        sheet.write_string_with_format(0, 0, &self.wave.name, &bold)?;
        sheet.write_string(1, 0, format!("{} (phiên bản {})", self.form.title, self.wave.form_version))?;
        let totals = self.sheets.rates.totals();
        let overall = &self.results.overall;
        sheet.write_string(3, 0, "Số thư mời / mã khảo sát đã phát")?;
        sheet.write_number(3, 1, totals.invited as f64)?;
        sheet.write_string(4, 0, "Số phiếu hợp lệ")?;
        sheet.write_number(4, 1, overall.responses as f64)?;
        sheet.write_string(5, 0, "Tỷ lệ phản hồi (%)")?;
        if let Some(rate) = totals.rate() {
            sheet.write_number_with_format(5, 1, rate, &percent)?;
        }
        // SIPAS and its factors (or areas) again, beside the table, for their chart: the table
        // lists every index in the form's order. Rows are written in order (constant memory).
        let (headline, positions) = headline_columns(self.form);
        for (column, title) in
            ["Chỉ số", "Giá trị (%)", "n", "KTC 95% – cận dưới", "KTC 95% – cận trên"].iter().enumerate()
        {
            sheet.write_string_with_format(7, column as u16, *title, &bold)?;
        }
        sheet.set_column_width(6, 50)?;
        sheet.write_string_with_format(7, 6, "Chỉ số chính", &bold)?;
        sheet.write_string_with_format(7, 7, "Giá trị (%)", &bold)?;
        for (i, row) in overall_rows(self.form, overall).enumerate() {
            let r = 8 + i as u32;
            if let Some((index, &p)) = headline.get(i).zip(positions.get(i)) {
                sheet.write_string(r, 6, &index.label)?;
                write_figure(sheet, r, 7, &overall.indices[p].figure, &percent)?;
            }
            sheet.write_string(r, 0, &row.index.label)?;
            write_figure(sheet, r, 1, &row.figure, &percent)?;
            sheet.write_number(r, 2, row.figure.n as f64)?;
            for (column, bound) in [(3, row.figure.ci_low), (4, row.figure.ci_high)] {
                if let Some(bound) = bound {
                    sheet.write_number_with_format(r, column, bound, &percent)?;
                }
            }
        }
        if !headline.is_empty() {
            let name = "Tổng hợp";
            let last = 8 + headline.len() as u32 - 1;
            let mut chart = Chart::new(ChartType::Bar);
            chart.add_series().set_categories((name, 8, 6, last, 6)).set_values((name, 8, 7, last, 7));
            chart.title().set_name("Chỉ số SIPAS và các chỉ số thành phần (%)");
            chart.legend().set_hidden();
            chart.x_axis().set_min(0.0).set_max(100.0);
            chart.y_axis().set_reverse();
            sheet.insert_chart(last + 2, 6, &chart)?;
        }
        Ok(())
    }

    /// The headline indices of every unit of `groups` with their intervals, best ranked on
    /// SIPAS first, and a chart of SIPAS titled `chart_title`.
    fn by_unit(
        &self,
        workbook: &mut rust_xlsxwriter::Workbook,
        name: &str,
        groups: &[GroupResult],
        chart_title: &str,
    ) -> Result<(), rust_xlsxwriter::XlsxError> {
        use rust_xlsxwriter::{Chart, ChartType, Format};
        let (bold, percent) = (Format::new().set_bold(), Format::new().set_num_format("0.0"));
        let (headline, positions) = headline_columns(self.form);
        let sheet = workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name(name)?;
        sheet.set_column_width(0, 40)?;
        let mut titles: Vec<String> = ["Đơn vị", "Cơ quan", "Số phiếu", "Xếp hạng SIPAS"].map(String::from).into();
        titles.extend(headline.iter().map(|h| h.label.clone()));
        // Each figure's 95% interval after the figures, so the chart's column stays beside
        // the names.
        for h in &headline {
            titles.push(format!("{} – KTC 95% từ", h.label));
            titles.push(format!("{} – KTC 95% đến", h.label));
        }
        for (column, title) in titles.iter().enumerate() {
            sheet.write_string_with_format(0, column as u16, title, &bold)?;
        }
        let intervals = 4 + positions.len() as u16;
        let groups = ranked_units(self.form, groups);
        for (i, group) in groups.iter().enumerate() {
            let r = 1 + i as u32;
            sheet.write_string(r, 0, locality_label(group).unwrap_or_default())?;
            sheet.write_string(r, 1, group.agency.as_ref().map_or("", |a| a.name.as_str()))?;
            sheet.write_number(r, 2, group.responses as f64)?;
            if let Some(rank) = positions.first().and_then(|&p| group.ranks.get(p).copied().flatten()) {
                sheet.write_number(r, 3, rank as f64)?;
            }
            for (column, &p) in positions.iter().enumerate() {
                let figure = &group.figures[p];
                write_figure(sheet, r, 4 + column as u16, figure, &percent)?;
                let bounds = [figure.ci_low, figure.ci_high].into_iter().enumerate();
                for (side, bound) in bounds.filter_map(|(side, b)| Some((side, b?))) {
                    sheet.write_number_with_format(r, intervals + 2 * column as u16 + side as u16, bound, &percent)?;
                }
            }
        }
        if !groups.is_empty() && groups.len() <= MAX_CHARTED_UNITS {
            let last = groups.len() as u32;
            let mut chart = Chart::new(ChartType::Bar);
            chart
                .add_series()
                .set_categories((name, 1, 0, last, 0))
                .set_values((name, 1, 4, last, 4))
                .set_name(headline.first().map_or("SIPAS", |h| h.label.as_str()));
            chart.title().set_name(chart_title);
            chart.x_axis().set_min(0.0).set_max(100.0);
            sheet.insert_chart(1, intervals + 2 * positions.len() as u16 + 1, &chart)?;
        }
        Ok(())
    }

    /// The headline indices of the whole wave and of every unit beside their change since the
    /// compared wave: points, and places in the ranking.
    fn comparison(&self, workbook: &mut rust_xlsxwriter::Workbook) -> Result<(), rust_xlsxwriter::XlsxError> {
        use rust_xlsxwriter::Format;
        let (bold, one) = (Format::new().set_bold(), Format::new().set_num_format("0.0"));
        let signed = Format::new().set_num_format("+0.0;-0.0;0.0");
        let (headline, positions) = headline_columns(self.form);
        let sheet = workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name("So sánh với đợt trước")?;
        sheet.set_column_width(0, 40)?;
        sheet.write_string_with_format(0, 0, "Đơn vị", &bold)?;
        sheet.write_string_with_format(0, 1, "Cơ quan", &bold)?;
        for (k, index) in headline.iter().enumerate() {
            let column = 2 + 3 * k as u16;
            sheet.write_string_with_format(0, column, &index.label, &bold)?;
            sheet.write_string_with_format(0, column + 1, "Thay đổi (điểm)", &bold)?;
            sheet.write_string_with_format(0, column + 2, "Thay đổi xếp hạng (bậc)", &bold)?;
        }
        sheet.write_string(1, 0, "Toàn đợt")?;
        let overall = &self.results.overall.indices;
        for (k, &p) in positions.iter().enumerate() {
            let column = 2 + 3 * k as u16;
            write_figure(sheet, 1, column, &overall[p].figure, &one)?;
            if let Some(change) = overall[p].change {
                sheet.write_number_with_format(1, column + 1, change, &signed)?;
            }
        }
        for (i, group) in self.results.groups.iter().enumerate() {
            let r = 2 + i as u32;
            sheet.write_string(r, 0, locality_label(group).unwrap_or_default())?;
            sheet.write_string(r, 1, group.agency.as_ref().map_or("", |a| a.name.as_str()))?;
            for (k, &p) in positions.iter().enumerate() {
                let column = 2 + 3 * k as u16;
                write_figure(sheet, r, column, &group.figures[p], &one)?;
                if let Some(change) = group.changes.get(p).copied().flatten() {
                    sheet.write_number_with_format(r, column + 1, change, &signed)?;
                }
                if let Some(places) = group.rank_changes.get(p).copied().flatten() {
                    sheet.write_number(r, column + 2, places as f64)?;
                }
            }
        }
        Ok(())
    }

    fn method(&self, workbook: &mut rust_xlsxwriter::Workbook) -> Result<(), rust_xlsxwriter::XlsxError> {
        let sheet = workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name("Phương pháp")?;
        sheet.set_column_width(0, 30)?;
        sheet.set_column_width(1, 100)?;
        let lines = method_statements(self.wave, self.form, self.min_cell, self.results.overall.weighting);
        for (r, (key, value)) in lines.iter().enumerate() {
            sheet.write_string(r as u32, 0, *key)?;
            sheet.write_string(r as u32, 1, value)?;
        }
        Ok(())
    }
}

/// A figure as a number with one decimal shown, `*` when hidden, blank without answers.
pub(super) fn write_figure(
    sheet: &mut rust_xlsxwriter::Worksheet,
    row: u32,
    column: u16,
    figure: &Figure,
    format: &rust_xlsxwriter::Format,
) -> Result<(), rust_xlsxwriter::XlsxError> {
    match figure.value {
        Some(value) => sheet.write_number_with_format(row, column, value, format).map(|_| ()),
        None if figure.suppressed => sheet.write_string(row, column, "*").map(|_| ()),
        None => Ok(()),
    }
}
