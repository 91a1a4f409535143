//! The report as a Word document officials edit into their own: the heading of an
//! administrative document, the summary with every index, the headline indices by unit with
//! their intervals, the workbook's main tables (comparison, items, expectations, response
//! rates, comments) and the method. The figures are the workbook's (same roles, scope, disclosure control and
//! audit), written as people read them: one decimal with a comma, `*` when hidden.

use super::report::results_for;
use crate::domain::form::Form;
use crate::domain::rounding::one_decimal;
use crate::scratch::{Scratch, SealedFile};
use crate::service::report::overall_rows;
use crate::service::report_print::{Column, ListedComments, Marks, PrintedReport, PrintedTable, Section, interval};
use crate::service::report_rates::ResponseRates;
use crate::service::report_text::{headline_columns, method_statements, ranked_units, unit_name};
use crate::service::results::WaveResults;
use crate::storage::waves::Wave;
use crate::web::AppState;
use crate::web::api::report_tables::rates_and_comments;
use crate::web::api::waves::ResultsParams;
use crate::web::auth::ApiUser;
use crate::web::docx::{Align, BOLD, DOCX, Document, ITALIC, Look, PLAIN, Paragraph, SMALL, Table, text_width};
use crate::web::error::ApiError;
use actix_web::{HttpResponse, web};
use std::borrow::Cow;
use std::io::{self, BufWriter, Seek, Write};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/waves/{id}/report.docx", web::get().to(report_docx));
}

/// `GET /waves/{id}/report.docx`: the report as an editable Word document.
#[utoipa::path(
    get,
    path = "/waves/{id}/report.docx",
    tag = "waves",
    params(("id" = String, Path, description = "the wave's id"), ResultsParams),
    responses(
        (status = 200, description = "heading, summary with every index, headline indices by unit with intervals, comparison when asked, every item's distribution, expectations ranked, response rates, comments, method", content_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (status = 403, description = "the role may not"),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn report_docx(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
    params: web::Query<ResultsParams>,
) -> Result<HttpResponse, ApiError> {
    docx_file(&state, &user, &path, &params).await
}

/// The document as `user` may see it, as a download (the official pages link to it too).
pub(crate) async fn docx_file(
    state: &AppState,
    user: &ApiUser,
    id: &str,
    params: &ResultsParams,
) -> Result<HttpResponse, ApiError> {
    let (wave, form, results) = results_for(state, user, id, params, true).await?;
    let query = params.query_for(&user.0, &wave)?;
    let (wave_id, scope) = (wave.id.clone(), query.agency_scope.clone());
    let min_cell = wave.min_cell.unwrap_or(state.survey.min_cell);
    let totals = state.survey.db.run(move |db| db.invitation_totals(&wave_id, scope.as_deref())).await?;
    let (rates, comments) = rates_and_comments(state, &wave, form.clone(), query).await?;
    let (scratch, organisation) = (state.survey.scratch.clone(), state.settings.organisation.clone());
    let compared = params.compare.is_some();
    let file = web::block(move || {
        let report = Report {
            organisation: &organisation,
            wave: &wave,
            form: &form,
            results: &results,
            rates: &rates,
            comments: &comments,
            compared,
            totals,
            min_cell,
        };
        report.write(&scratch)
    })
    .await
    .map_err(|_| ApiError::Internal)?
    .map_err(|e| {
        tracing::error!(error = %e, "writing the report document");
        ApiError::Internal
    })?;
    crate::web::api::stream_file(file, DOCX, "bao-cao-khao-sat.docx")
}

/// What the document is written from.
struct Report<'a> {
    organisation: &'a str,
    wave: &'a Wave,
    form: &'a Form,
    results: &'a WaveResults,
    rates: &'a ResponseRates,
    comments: &'a ListedComments,
    /// Whether the results carry the change since an earlier wave (`compare=`).
    compared: bool,
    /// Invitations issued and answered.
    totals: (i64, i64),
    min_cell: u64,
}

/// Table columns, in twentieths of a point.
const NUMBER_COLUMN: u32 = 900;
const INDEX_COLUMN: u32 = 850;
const UNIT_COLUMN_MIN: u32 = 2_000;

fn number(text: impl Into<Cow<'static, str>>) -> Paragraph<'static> {
    Paragraph::new(text).align(Align::Right)
}

fn header<'a>(text: &'a str) -> Paragraph<'a> {
    Paragraph::default().run(text, BOLD).align(Align::Centre)
}

impl Report<'_> {
    /// Written to an encrypted temporary file, the body a row at a time.
    fn write(&self, scratch: &Scratch) -> io::Result<SealedFile> {
        let file = scratch.create()?;
        let mut doc = Document::new(BufWriter::new(file.open()?))?;
        self.heading(&mut doc)?;
        self.summary(&mut doc)?;
        self.by_unit(&mut doc)?;
        let printed = PrintedReport {
            form: self.form,
            results: self.results,
            rates: self.rates,
            comments: self.comments,
            compared: self.compared,
            min_cell: self.min_cell,
        };
        let sections = printed.sections();
        // After "1. Tổng hợp" and "2. Chỉ số theo đơn vị".
        for (section, number) in sections.iter().zip(3..) {
            self.section(&mut doc, number, section)?;
        }
        self.method(&mut doc, 3 + sections.len())?;
        doc.finish()?.flush()?;
        Ok(file)
    }

    /// The issuing office with the number to fill, the national title and motto with the
    /// date to fill, side by side as on every administrative document; then the title.
    fn heading(&self, doc: &mut Document<impl Write + Seek>) -> io::Result<()> {
        let width = text_width(false);
        let issuer_width = width * 2 / 5;
        doc.start_table(&Table { widths: &[issuer_width, width - issuer_width], grid: false })?;
        let issuer = Paragraph::default()
            .run(self.organisation, Look { bold: true, caps: true, ..PLAIN })
            .line("Số: ……/BC-……", PLAIN)
            .align(Align::Centre);
        let nation = Paragraph::default()
            .run("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", BOLD)
            .line("Độc lập - Tự do - Hạnh phúc", BOLD)
            .line("……, ngày …… tháng …… năm ……", ITALIC)
            .align(Align::Centre);
        doc.row(&[issuer, nation], false)?;
        doc.end_table()?;
        doc.paragraph(&Paragraph::styled("Title", "BÁO CÁO KẾT QUẢ KHẢO SÁT").line(self.wave.name.as_str(), BOLD))?;
        let form = format!("Bộ phiếu: {} (phiên bản {})", self.form.title, self.wave.form_version);
        doc.paragraph(&Paragraph::new(form).align(Align::Centre))
    }

    fn summary(&self, doc: &mut Document<impl Write + Seek>) -> io::Result<()> {
        doc.heading(1, "1. Tổng hợp")?;
        let (issued, used) = self.totals;
        let overall = &self.results.overall;
        doc.paragraph(&Paragraph::new(format!("Số thư mời / mã khảo sát đã phát: {issued}")))?;
        doc.paragraph(&Paragraph::new(format!("Số phiếu hợp lệ: {}", overall.responses)))?;
        if issued > 0 {
            let rate = one_decimal(100.0 * used as f64 / issued as f64);
            doc.paragraph(&Paragraph::new(format!("Tỷ lệ phản hồi: {rate}%")))?;
        }
        let width = text_width(false);
        let interval_width = 2 * NUMBER_COLUMN;
        let widths = [width - 2 * NUMBER_COLUMN - interval_width, NUMBER_COLUMN, NUMBER_COLUMN, interval_width];
        doc.start_table(&Table { widths: &widths, grid: true })?;
        doc.row(&["Chỉ số", "Giá trị (%)", "n", "KTC 95%"].map(header), true)?;
        let mut marks = Marks::default();
        for row in overall_rows(self.form, overall) {
            let figure = &row.figure;
            let cells = [
                Paragraph::new(row.index.label.as_str()),
                number(marks.figure(figure)),
                number(figure.n.to_string()),
                number(interval(figure).unwrap_or_default()),
            ];
            doc.row(&cells, false)?;
        }
        doc.end_table()?;
        self.note(doc, marks.note(self.min_cell).as_deref())
    }

    /// The headline indices of every unit, best ranked on SIPAS first, each with its 95%
    /// interval in small type under it, as the workbook's sheet; on a turned page when they do
    /// not fit an upright one.
    fn by_unit(&self, doc: &mut Document<impl Write + Seek>) -> io::Result<()> {
        let groups = ranked_units(self.form, &self.results.groups);
        if groups.is_empty() {
            doc.heading(1, "2. Chỉ số theo đơn vị")?;
            let none = "Báo cáo này không chia theo đơn vị (chưa chọn cấp địa bàn hoặc theo cơ quan).";
            return doc.paragraph(&Paragraph::new(none));
        }
        let (headline, positions) = headline_columns(self.form);
        let columns = positions.len().max(1) as u32;
        let fixed = 2 * NUMBER_COLUMN + UNIT_COLUMN_MIN;
        let landscape = text_width(false) < fixed + columns * INDEX_COLUMN;
        let width = text_width(landscape);
        let index_width = INDEX_COLUMN.min(width.saturating_sub(fixed) / columns);
        let mut widths = vec![width - 2 * NUMBER_COLUMN - columns * index_width, NUMBER_COLUMN, NUMBER_COLUMN];
        widths.extend(std::iter::repeat_n(index_width, positions.len()));
        if landscape {
            doc.end_section(false)?;
        }
        doc.heading(1, "2. Chỉ số theo đơn vị")?;
        doc.start_table(&Table { widths: &widths, grid: true })?;
        let mut titles: Vec<Paragraph> = ["Đơn vị", "Số phiếu", "Xếp hạng SIPAS"].map(header).into();
        titles.extend(headline.iter().map(|h| header(&h.label)));
        doc.row(&titles, true)?;
        let mut marks = Marks::default();
        for group in groups {
            let rank = positions.first().and_then(|&p| group.ranks.get(p).copied().flatten());
            let mut cells = vec![
                Paragraph::new(unit_name(group)),
                number(group.responses.to_string()),
                number(rank.map(|r| r.to_string()).unwrap_or_default()),
            ];
            cells.extend(positions.iter().map(|&p| {
                let figure = &group.figures[p];
                let value = number(marks.figure(figure));
                match interval(figure) {
                    Some(interval) => value.line(interval, SMALL),
                    None => value,
                }
            }));
            doc.row(&cells, false)?;
        }
        doc.end_table()?;
        self.note(doc, marks.note(self.min_cell).as_deref())?;
        if landscape {
            doc.end_section(true)?;
        }
        Ok(())
    }

    /// One of the workbook's tables: its parts under the section's heading, each a title, a
    /// sentence and a table upright on the page, text columns sharing what numbers leave.
    fn section(&self, doc: &mut Document<impl Write + Seek>, number: usize, section: &Section) -> io::Result<()> {
        doc.heading(1, &format!("{number}. {}", section.heading))?;
        for part in &section.parts {
            if let Some(title) = &part.title {
                doc.heading(2, title)?;
            }
            if let Some(statement) = &part.statement {
                doc.paragraph(&Paragraph::new(statement.as_str()))?;
            }
            if let Some(table) = &part.table {
                self.table(doc, table)?;
            }
        }
        self.note(doc, section.note.as_deref())
    }

    fn table(&self, doc: &mut Document<impl Write + Seek>, table: &PrintedTable) -> io::Result<()> {
        let share = |column: &Column| match column {
            Column::Number => 0,
            Column::Text => 1,
            Column::Wide => 2,
        };
        let numbers = table.columns.iter().filter(|&&c| c == Column::Number).count() as u32;
        let shares = table.columns.iter().map(share).sum::<u32>().max(1);
        let text = (text_width(false) - numbers * NUMBER_COLUMN) / shares;
        let widths: Vec<u32> =
            table.columns.iter().map(|c| if *c == Column::Number { NUMBER_COLUMN } else { share(c) * text }).collect();
        doc.start_table(&Table { widths: &widths, grid: true })?;
        doc.row(&table.titles.iter().map(|t| header(t)).collect::<Vec<_>>(), true)?;
        for row in &table.rows {
            let cells: Vec<Paragraph> = row
                .iter()
                .zip(&table.columns)
                .map(|(cell, column)| match column {
                    Column::Number => Paragraph::new(cell.as_str()).align(Align::Right),
                    Column::Text | Column::Wide => Paragraph::new(cell.as_str()),
                })
                .collect();
            doc.row(&cells, false)?;
        }
        doc.end_table()
    }

    fn method(&self, doc: &mut Document<impl Write + Seek>, number: usize) -> io::Result<()> {
        doc.heading(1, &format!("{number}. Phương pháp"))?;
        for (key, statement) in method_statements(self.wave, self.form, self.min_cell, self.results.overall.weighting) {
            doc.paragraph(&Paragraph::default().run(format!("{key}: "), BOLD).run(statement, PLAIN))?;
        }
        Ok(())
    }

    fn note(&self, doc: &mut Document<impl Write + Seek>, note: Option<&str>) -> io::Result<()> {
        match note {
            Some(note) => doc.paragraph(&Paragraph::styled("Note", note)),
            None => Ok(()),
        }
    }
}
