//! The report's `response_rates` and `comments` tables as JSON, CSV and workbook sheets.
//! Response rates count invitations, which reveal no answer: nothing is suppressed, but an
//! agency officer sees only its agency. Comments are shown only at places of at least k
//! answers (see `service::report_comments`).

use crate::domain::response_rates::{Dimension, RateRow, channel_label, dimension_label};
use crate::service::report_comments::{Comment, CommentReader, sample_note};
use crate::service::report_print::ListedComments;
use crate::service::report_rates::ResponseRates;
use crate::service::report_text::{COMMENT_TITLES, RATE_TITLES};
use crate::storage::waves::Wave;
use crate::storage::{Database, StorageError};
use crate::web::AppState;
use crate::web::api::waves::{ResultsParams, find_wave};
use crate::web::auth::ApiUser;
use crate::web::csv_export::{Cell, CsvWriter};
use crate::web::error::ApiError;
use actix_web::{HttpResponse, web};
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use std::sync::Arc;

const RATES_HEADER: [&str; 11] = [
    "dimension",
    "locality_code",
    "locality_name",
    "level",
    "agency_code",
    "agency_name",
    "channel",
    "channel_label",
    "invited",
    "answered",
    "rate",
];

const COMMENTS_HEADER: [&str; 8] =
    ["item_id", "item_label", "locality_code", "locality_name", "level", "agency_code", "agency_name", "text"];

/// A row of the `response_rates` table, for JSON and CSV alike.
#[derive(Serialize)]
struct RateJson<'a> {
    dimension: Dimension,
    locality_code: Option<&'a str>,
    locality_name: Option<&'a str>,
    level: Option<&'a str>,
    agency_code: Option<&'a str>,
    agency_name: Option<&'a str>,
    channel: Option<&'a str>,
    channel_label: Option<&'a str>,
    invited: u64,
    answered: u64,
    /// In %, unrounded; `null` before any code is issued.
    rate: Option<f64>,
}

fn rate_json<'a>(rates: &'a ResponseRates, row: &'a RateRow) -> RateJson<'a> {
    RateJson {
        dimension: row.dimension,
        locality_code: row.locality.as_ref().map(|l| l.code.as_str()),
        locality_name: row.locality.as_ref().map(|l| l.name.as_str()),
        level: row.locality.as_ref().map(|l| l.level.as_str()),
        agency_code: row.agency_code.as_deref(),
        agency_name: rates.agency_name(row),
        channel: row.channel,
        channel_label: row.channel.map(channel_label),
        invited: row.counts.invited,
        answered: row.counts.answered,
        rate: row.counts.rate(),
    }
}

/// A row of the `comments` table.
#[derive(Serialize)]
struct CommentJson<'a> {
    item_id: &'a str,
    item_label: &'a str,
    /// `null` when the comment is published for the whole wave only.
    locality_code: Option<&'a str>,
    locality_name: Option<&'a str>,
    level: &'a str,
    agency_code: Option<&'a str>,
    agency_name: Option<&'a str>,
    text: &'a str,
}

fn comment_json(comment: &Comment) -> CommentJson<'_> {
    CommentJson {
        item_id: &comment.item_id,
        item_label: &comment.item_label,
        locality_code: comment.locality.as_ref().map(|l| l.code.as_str()),
        locality_name: comment.locality.as_ref().map(|l| l.name.as_str()),
        level: comment.locality.as_ref().map_or("wave", |l| l.level.as_str()),
        agency_code: comment.agency_code.as_deref(),
        agency_name: comment.agency_name.as_deref(),
        text: &comment.text,
    }
}

/// The response rates `user` may see, audited like every report.
async fn rates_for(
    state: &AppState,
    user: &ApiUser,
    id: &str,
    params: &ResultsParams,
) -> Result<ResponseRates, ApiError> {
    let wave = find_wave(state, id).await?;
    let query = params.query_for(&user.0, &wave)?;
    state.audit(&user.0, "wave.report", &wave.id).await?;
    Ok(state.survey.db.run(move |db| ResponseRates::read(db, &wave, &query)).await?)
}

pub async fn rates_json(
    state: &AppState,
    user: &ApiUser,
    id: &str,
    params: &ResultsParams,
) -> Result<HttpResponse, ApiError> {
    let rates = rates_for(state, user, id, params).await?;
    let rows: Vec<RateJson> = rates.rows.iter().map(|row| rate_json(&rates, row)).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({"table": "response_rates", "rows": rows})))
}

pub async fn rates_csv(
    state: &AppState,
    user: &ApiUser,
    id: &str,
    params: &ResultsParams,
) -> Result<HttpResponse, ApiError> {
    let rates = rates_for(state, user, id, params).await?;
    let mut csv = CsvWriter::new();
    csv.header(&RATES_HEADER);
    for row in &rates.rows {
        let row = rate_json(&rates, row);
        csv.row(&[
            Cell::Text(dimension_code(row.dimension)),
            text(row.locality_code),
            text(row.locality_name),
            text(row.level),
            text(row.agency_code),
            text(row.agency_name),
            text(row.channel),
            text(row.channel_label),
            Cell::Integer(row.invited as i64),
            Cell::Integer(row.answered as i64),
            row.rate.map_or(Cell::Text(""), Cell::Decimal),
        ]);
    }
    Ok(super::download("text/csv; charset=utf-8", "ty-le-phan-hoi.csv").body(csv.into_bytes()))
}

fn text(value: Option<&str>) -> Cell<'_> {
    Cell::Text(value.unwrap_or(""))
}

fn dimension_code(dimension: Dimension) -> &'static str {
    match dimension {
        Dimension::Wave => "wave",
        Dimension::Channel => "channel",
        Dimension::Agency => "agency",
        Dimension::Locality => "locality",
    }
}

/// The wave's comments `user` may read, a page of answers at a time, audited.
async fn comment_pages(
    state: &AppState,
    user: &ApiUser,
    id: &str,
    params: &ResultsParams,
) -> Result<BoxStream<'static, Result<Vec<Comment>, StorageError>>, ApiError> {
    let wave = find_wave(state, id).await?;
    let scope = params.query_for(&user.0, &wave)?.agency_scope;
    let form = state.survey.wave_form(&wave.form_hash).await?;
    let min_cell = wave.min_cell.unwrap_or(state.survey.min_cell);
    state.audit(&user.0, "wave.comments", &wave.id).await?;
    let reader = Arc::new(state.survey.db.run(move |db| CommentReader::new(db, &wave, form, min_cell, scope)).await?);
    let db = state.survey.db.clone();
    Ok(futures_util::stream::try_unfold(reader.first(), move |cursor| {
        let (db, reader) = (db.clone(), reader.clone());
        async move { db.run(move |db| reader.page(db, cursor)).await }
    })
    .boxed())
}

fn internal(e: StorageError) -> actix_web::Error {
    actix_web::error::ErrorInternalServerError(e.to_string())
}

pub async fn comments_json(
    state: &AppState,
    user: &ApiUser,
    id: &str,
    params: &ResultsParams,
) -> Result<HttpResponse, ApiError> {
    let mut first = true;
    let rows = comment_pages(state, user, id, params).await?.map_ok(move |comments| {
        let mut chunk = Vec::new();
        for comment in &comments {
            if !std::mem::take(&mut first) {
                chunk.push(b',');
            }
            serde_json::to_writer(&mut chunk, &comment_json(comment)).expect("rows serialise");
        }
        web::Bytes::from(chunk)
    });
    let head = futures_util::stream::once(async { Ok(web::Bytes::from_static(br#"{"table":"comments","rows":["#)) });
    let tail = futures_util::stream::once(async { Ok(web::Bytes::from_static(b"]}")) });
    Ok(HttpResponse::Ok().content_type("application/json").streaming(head.chain(rows).chain(tail).map_err(internal)))
}

pub async fn comments_csv(
    state: &AppState,
    user: &ApiUser,
    id: &str,
    params: &ResultsParams,
) -> Result<HttpResponse, ApiError> {
    let rows = comment_pages(state, user, id, params).await?.map_ok(|comments| {
        let mut csv = CsvWriter::continued();
        for comment in &comments {
            let row = comment_json(comment);
            csv.row(&[
                Cell::Text(row.item_id),
                Cell::Text(row.item_label),
                text(row.locality_code),
                text(row.locality_name),
                Cell::Text(row.level),
                text(row.agency_code),
                text(row.agency_name),
                Cell::Text(row.text),
            ]);
        }
        web::Bytes::from(csv.into_bytes())
    });
    let mut head = CsvWriter::new();
    head.header(&COMMENTS_HEADER);
    let head = web::Bytes::from(head.into_bytes());
    let body = futures_util::stream::once(async move { Ok(head) }).chain(rows).map_err(internal);
    Ok(super::download("text/csv; charset=utf-8", "y-kien.csv").streaming(body))
}

/// The response rates and the comments the workbook lists, for the printable page and the
/// Word document.
pub async fn rates_and_comments(
    state: &AppState,
    wave: &Wave,
    form: Arc<crate::domain::form::Form>,
    query: crate::service::results::ResultsQuery,
) -> Result<(ResponseRates, ListedComments), ApiError> {
    let (wave, min_cell) = (wave.clone(), wave.min_cell.unwrap_or(state.survey.min_cell));
    let most = state.survey.report_comments;
    let read = state.survey.db.run(move |db| {
        let sheets = RateAndCommentSheets::read(db, &wave, form, &query, min_cell, most)?;
        let mut comments = Vec::new();
        let more = sheets.comments.list(db, most, |comment| {
            comments.push(comment);
            Ok::<_, StorageError>(())
        })?;
        Ok((sheets.rates, ListedComments { comments, capped_at: more.then_some(most) }))
    });
    Ok(read.await?)
}

/// The workbook's sheets of response rates and comments, written in constant memory.
pub struct RateAndCommentSheets<'a> {
    pub db: &'a Database,
    pub rates: ResponseRates,
    pub comments: CommentReader,
    /// Comments listed at most.
    max_comments: usize,
}

/// Rows a worksheet holds (Excel's limit, less the heading).
const MAX_SHEET_ROWS: u32 = 1_048_575;

/// The longest text a cell holds.
const MAX_CELL_CHARS: usize = 32_767;

impl<'a> RateAndCommentSheets<'a> {
    /// Reads what the sheets need; `None` scope for Nội vụ and analysts.
    pub fn read(
        db: &'a Database,
        wave: &Wave,
        form: Arc<crate::domain::form::Form>,
        query: &crate::service::results::ResultsQuery,
        min_cell: u64,
        max_comments: usize,
    ) -> Result<Self, StorageError> {
        let rates = ResponseRates::read(db, wave, query)?;
        let comments = CommentReader::new(db, wave, form, min_cell, query.agency_scope.clone())?;
        Ok(RateAndCommentSheets { db, rates, comments, max_comments })
    }

    pub fn write(
        &self,
        workbook: &mut rust_xlsxwriter::Workbook,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.rates_sheet(workbook)?;
        self.comments_sheet(workbook)
    }

    fn rates_sheet(&self, workbook: &mut rust_xlsxwriter::Workbook) -> Result<(), rust_xlsxwriter::XlsxError> {
        use rust_xlsxwriter::Format;
        let (bold, percent) = (Format::new().set_bold(), Format::new().set_num_format("0.0"));
        let sheet = workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name("Tỷ lệ phản hồi")?;
        sheet.set_column_width(1, 40)?;
        sheet.set_column_width(2, 40)?;
        sheet.set_column_width(3, 28)?;
        for (column, title) in RATE_TITLES.iter().enumerate() {
            sheet.write_string_with_format(0, column as u16, *title, &bold)?;
        }
        for (i, row) in self.rates.rows.iter().enumerate() {
            let r = 1 + i as u32;
            sheet.write_string(r, 0, dimension_label(row.dimension))?;
            if let Some(locality) = &row.locality {
                sheet.write_string(r, 1, &locality.name)?;
            }
            if let Some(name) = self.rates.agency_name(row) {
                sheet.write_string(r, 2, name)?;
            }
            if let Some(channel) = row.channel {
                sheet.write_string(r, 3, channel_label(channel))?;
            }
            sheet.write_number(r, 4, row.counts.invited as f64)?;
            sheet.write_number(r, 5, row.counts.answered as f64)?;
            if let Some(rate) = row.counts.rate() {
                sheet.write_number_with_format(r, 6, rate, &percent)?;
            }
        }
        Ok(())
    }

    fn comments_sheet(
        &self,
        workbook: &mut rust_xlsxwriter::Workbook,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let bold = rust_xlsxwriter::Format::new().set_bold();
        let sheet = workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name("Ý kiến")?;
        sheet.set_column_width(0, 40)?;
        sheet.set_column_width(1, 30)?;
        sheet.set_column_width(2, 30)?;
        sheet.set_column_width(3, 100)?;
        for (column, title) in COMMENT_TITLES.iter().enumerate() {
            sheet.write_string_with_format(0, column as u16, *title, &bold)?;
        }
        let mut r = 0;
        let most = self.max_comments.min(MAX_SHEET_ROWS as usize - 2);
        let more = self.comments.list(self.db, most, |comment| {
            r += 1;
            sheet.write_string(r, 0, &comment.item_label)?;
            sheet.write_string(r, 1, comment.locality.as_ref().map_or("Toàn đợt", |l| l.name.as_str()))?;
            sheet.write_string(r, 2, comment.agency_name.as_deref().unwrap_or(""))?;
            let text: String = comment.text.chars().take(MAX_CELL_CHARS).collect();
            sheet.write_string(r, 3, &text)?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })?;
        if more {
            sheet.write_string_with_format(r + 2, 0, sample_note(most), &bold)?;
        }
        Ok(())
    }
}
