//! A wave's anonymised microdata and its codebook, as CSV and as a workbook. Both files take
//! their rows from [`Microdata`] and their codebook from [`codebook`]: they hold the same.

use crate::domain::account::Role;
use crate::domain::microdata::{CODEBOOK_COLUMNS, Microdata, codebook, generalise};
use crate::scratch::{Scratch, SealedFile};
use crate::storage::tallies::GrowingTable;
use crate::storage::tallies::RawAnswer;
use crate::storage::{Database, StorageError, StorageResult};
use crate::web::AppState;
use crate::web::api::waves::find_wave;
use crate::web::auth::{ApiUser, require};
use crate::web::csv_export::{Cell, CsvWriter};
use crate::web::error::ApiError;
use actix_web::{HttpResponse, web};
use futures_util::{StreamExt, TryStreamExt};
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::Arc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/waves/{id}/answers.csv", web::get().to(answers_csv))
        .route("/waves/{id}/answers.xlsx", web::get().to(answers_xlsx))
        .route("/waves/{id}/answers-codebook.csv", web::get().to(codebook_csv));
}

/// Who may read answers one by one, anonymised.
const MICRODATA_ROLES: &[Role] = &[Role::Administrator, Role::Analyst];

/// The wave and its microdata, for a user who may read it, when the wave has at least k
/// answers; the reading is audited.
async fn microdata_of(state: &AppState, user: &ApiUser, id: &str) -> Result<(String, Arc<Microdata>), ApiError> {
    require(&user.0, MICRODATA_ROLES)?;
    let wave = find_wave(state, id).await?;
    let form = state.survey.wave_form(&wave.form_hash).await?;
    let min_cell = wave.min_cell.unwrap_or(state.survey.min_cell);
    let suppression = state.survey.suppression(&wave, &form).await?;
    let wave_q = wave.clone();
    let (places, answers) = state
        .survey
        .db
        .run(move |db| {
            db.refresh_statistics(GrowingTable::Responses)?;
            let leaves = db.leaf_cell_sizes(&wave_q.id)?;
            let tree = db.wave_tree(&wave_q)?;
            let answers: u64 = leaves.iter().map(|(_, _, n)| n).sum();
            let hidden = |locality: &str, agency: &str| suppression.hides_a_figure_of(&tree, locality, agency);
            Ok((generalise(&leaves, &tree, min_cell, &hidden), answers))
        })
        .await?;
    if answers < min_cell {
        return Err(ApiError::Invalid(BTreeMap::from([(
            "wave".to_string(),
            format!("Đợt có dưới {min_cell} phiếu: không xuất dữ liệu từng phiếu."),
        )])));
    }
    state.audit(&user.0, "wave.microdata", &wave.id).await?;
    Ok((wave.id, Arc::new(Microdata::new(form, places))))
}

fn corrupt(e: serde_json::Error) -> StorageError {
    StorageError::Corrupt(e.to_string())
}

/// `GET /waves/{id}/answers.csv`: one row per answer in random order, option codes per
/// item, the locality generalised until each locality × agency cell has at least k rows, the
/// month only; streamed a page at a time.
#[utoipa::path(
    get,
    path = "/waves/{id}/answers.csv",
    tag = "waves",
    params(("id" = String, Path, description = "the wave's id")),
    responses(
        (status = 200, description = "anonymised microdata", content_type = "text/csv"),
        (status = 403, description = "administrators and analysts only"),
        (status = 422, description = "the wave has fewer answers than the threshold"),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn answers_csv(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (wave_id, microdata) = microdata_of(&state, &user, &path).await?;
    let mut head = CsvWriter::new();
    head.header(&microdata.columns());
    let head = head.into_bytes();
    let db = state.survey.db.clone();
    let page_rows = state.settings.export_page_rows;
    let reading = Some(read_page(db.clone(), wave_id.clone(), String::new(), page_rows));
    let pipeline = (reading, VecDeque::new());
    let pages = futures_util::stream::try_unfold(pipeline, move |(mut reading, mut formatting)| {
        let (db, wave_id, microdata) = (db.clone(), wave_id.clone(), microdata.clone());
        async move {
            // Pages are read one after another (each starts after the last id of the one
            // before) and written on the blocking threads, several at once, in order.
            // One page per core, so that writing keeps up with reading.
            while formatting.len() < crate::cores() {
                let Some(read) = reading.take() else { break };
                let page = read.await.map_err(task_failed)??;
                let Some(last) = page.last().map(|row| row.0.clone()) else { break };
                reading = Some(read_page(db.clone(), wave_id.clone(), last, page_rows));
                let microdata = microdata.clone();
                formatting.push_back(tokio::task::spawn_blocking(move || csv_rows(&microdata, page)));
            }
            let Some(written) = formatting.pop_front() else { return Ok(None) };
            let csv = written.await.map_err(task_failed)??;
            Ok::<_, StorageError>(Some((web::Bytes::from(csv), (reading, formatting))))
        }
    });
    let body = futures_util::stream::once(async move { Ok(web::Bytes::from(head)) })
        .chain(pages)
        .map_err(|e: StorageError| actix_web::error::ErrorInternalServerError(e.to_string()));
    Ok(super::download("text/csv; charset=utf-8", "phieu-tra-loi.csv").streaming(body))
}

fn task_failed(e: tokio::task::JoinError) -> StorageError {
    StorageError::Task(e.to_string())
}

/// A page of stored answers as rows of the microdata CSV.
fn csv_rows(microdata: &Microdata, page: Vec<RawAnswer>) -> StorageResult<Vec<u8>> {
    let mut csv = CsvWriter::continued();
    for (_, locality, agency, _, day, stored) in page {
        microdata
            .row((locality, agency), &day, &stored, |cells| {
                csv.row(&cells.iter().map(|c| Cell::Text(c)).collect::<Vec<_>>())
            })
            .map_err(corrupt)?;
    }
    Ok(csv.into_bytes())
}

/// The page of a wave's answers after id `after`, read on the database's threads.
fn read_page(
    db: Database,
    wave_id: String,
    after: String,
    rows: i64,
) -> tokio::task::JoinHandle<StorageResult<Vec<RawAnswer>>> {
    tokio::spawn(async move { db.run(move |db| db.raw_answers_after(&wave_id, &after, rows)).await })
}

/// `GET /waves/{id}/answers.xlsx`: the rows of `answers.csv` on the sheet "Dữ liệu" (then
/// "Dữ liệu 2"… past a sheet's 1,048,576 rows), every cell text, and the codebook on
/// "Sổ mã"; written in constant memory to a temporary file, then streamed.
#[utoipa::path(
    get,
    path = "/waves/{id}/answers.xlsx",
    tag = "waves",
    params(("id" = String, Path, description = "the wave's id")),
    responses(
        (status = 200, description = "anonymised microdata and its codebook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 403, description = "administrators and analysts only"),
        (status = 422, description = "the wave has fewer answers than the threshold"),
    ),
    security(("bearer" = [])),
)]
pub(super) async fn answers_xlsx(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (wave_id, microdata) = microdata_of(&state, &user, &path).await?;
    let scratch = state.survey.scratch.clone();
    let page_rows = state.settings.export_page_rows;
    let file = state.survey.db.run(move |db| write_workbook(db, &wave_id, &microdata, &scratch, page_rows)).await?;
    super::stream_file(file, super::XLSX, "phieu-tra-loi.xlsx")
}

fn xlsx_error(e: XlsxError) -> StorageError {
    StorageError::Io(e.to_string())
}

/// The microdata workbook, read a page of answers at a time.
fn write_workbook(
    db: &Database,
    wave_id: &str,
    microdata: &Microdata,
    scratch: &Scratch,
    page_rows: i64,
) -> StorageResult<SealedFile> {
    let mut workbook = super::new_workbook(scratch).map_err(xlsx_error)?;
    // A national wave's sheet is larger than 4 GiB before compression (sipas-2023, 1,000,000
    // answers), which a zip holds only with ZIP64: without it the file was refused.
    workbook.use_zip_large_file(true);
    let mut data = DataSheets::new(&mut workbook, &microdata.columns(), SHEET_ROWS).map_err(xlsx_error)?;
    let mut after = String::new();
    loop {
        let page = db.raw_answers_after(wave_id, &after, page_rows)?;
        let Some(last) = page.last().map(|row| row.0.clone()) else { break };
        for (_, locality, agency, _, day, stored) in page {
            microdata
                .row((locality, agency), &day, &stored, |cells| data.row(cells))
                .map_err(corrupt)?
                .map_err(xlsx_error)?;
        }
        after = last;
    }
    codebook_sheet(&mut workbook, microdata).map_err(xlsx_error)?;
    let io_error = |e: std::io::Error| StorageError::Io(e.to_string());
    let file = scratch.create().map_err(io_error)?;
    let mut out = std::io::BufWriter::new(file.open().map_err(io_error)?);
    workbook.save_to_writer(&mut out).map_err(xlsx_error)?;
    out.flush().map_err(io_error)?;
    drop(out);
    Ok(file)
}

/// Rows of a worksheet, its header included.
const SHEET_ROWS: u32 = 1_048_576;

/// The data sheets of a workbook being written: "Dữ liệu", then "Dữ liệu 2", "Dữ liệu 3"…
/// each time one is full, each starting with the header. Every cell is text.
struct DataSheets<'w> {
    workbook: &'w mut Workbook,
    columns: Vec<String>,
    /// Rows a sheet holds, its header included.
    rows_per_sheet: u32,
    sheets: usize,
    /// The next row of the last sheet.
    next: u32,
}

impl<'w> DataSheets<'w> {
    fn new(workbook: &'w mut Workbook, columns: &[&str], rows_per_sheet: u32) -> Result<Self, XlsxError> {
        let columns = columns.iter().map(|c| c.to_string()).collect();
        let mut sheets = Self { workbook, columns, rows_per_sheet, sheets: 0, next: 0 };
        sheets.add_sheet()?;
        Ok(sheets)
    }

    fn add_sheet(&mut self) -> Result<(), XlsxError> {
        self.sheets += 1;
        let name = match self.sheets {
            1 => "Dữ liệu".to_string(),
            n => format!("Dữ liệu {n}"),
        };
        let bold = Format::new().set_bold();
        let sheet = self.workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name(name)?;
        for (column, title) in self.columns.iter().enumerate() {
            sheet.write_string_with_format(0, column as u16, title, &bold)?;
        }
        self.next = 1;
        Ok(())
    }

    /// A row of text cells; empty ones are left blank.
    fn row(&mut self, cells: &[&str]) -> Result<(), XlsxError> {
        if self.next == self.rows_per_sheet {
            self.add_sheet()?;
        }
        let sheet = self.workbook.worksheet_from_index(self.sheets - 1)?;
        for (column, text) in cells.iter().enumerate() {
            sheet.write_string(self.next, column as u16, *text)?;
        }
        self.next += 1;
        Ok(())
    }
}

/// The codebook's columns on the sheet "Sổ mã".
const CODEBOOK_TITLES: [&str; 5] = ["Cột", "Câu hỏi / ý nghĩa", "Mã", "Phương án", "Là không trả lời"];

fn codebook_sheet(workbook: &mut Workbook, microdata: &Microdata) -> Result<(), XlsxError> {
    let bold = Format::new().set_bold();
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    sheet.set_name("Sổ mã")?;
    sheet.set_column_width(1, 80)?;
    for (column, title) in CODEBOOK_TITLES.iter().enumerate() {
        sheet.write_string_with_format(0, column as u16, *title, &bold)?;
    }
    for (r, row) in codebook(microdata.form()).enumerate() {
        for (column, text) in row.iter().enumerate() {
            sheet.write_string(1 + r as u32, column as u16, *text)?;
        }
    }
    Ok(())
}

/// `GET /waves/{id}/answers-codebook.csv`: what each column and code of the microdata means.
#[utoipa::path(
    get,
    path = "/waves/{id}/answers-codebook.csv",
    tag = "waves",
    params(("id" = String, Path, description = "the wave's id")),
    responses((status = 200, description = "the microdata's codebook", content_type = "text/csv")),
    security(("bearer" = [])),
)]
pub(super) async fn codebook_csv(
    state: web::Data<AppState>,
    user: ApiUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require(&user.0, MICRODATA_ROLES)?;
    let wave = find_wave(&state, &path).await?;
    let form = state.survey.wave_form(&wave.form_hash).await?;
    let mut csv = CsvWriter::new();
    csv.header(&CODEBOOK_COLUMNS);
    for row in codebook(&form) {
        csv.row(&row.map(Cell::Text));
    }
    Ok(super::download("text/csv; charset=utf-8", "phieu-tra-loi-ma.csv").body(csv.into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader, Xlsx};
    use std::io::Read;

    fn written(rows_per_sheet: u32, rows: &[&[&str]]) -> Vec<u8> {
        let mut workbook = Workbook::new();
        let mut data = DataSheets::new(&mut workbook, &["locality_code", "q"], rows_per_sheet).unwrap();
        for row in rows {
            data.row(row).unwrap();
        }
        workbook.save_to_buffer().unwrap()
    }

    fn sheet(bytes: &[u8], name: &str) -> Vec<Vec<Data>> {
        let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
        workbook.worksheet_range(name).unwrap().rows().map(<[Data]>::to_vec).collect()
    }

    fn text(s: &str) -> Data {
        Data::String(s.to_string())
    }

    #[test]
    fn a_full_sheet_continues_on_the_next_with_the_header_again() {
        let bytes = written(3, &[&["00001", "1"], &["00002", "2"], &["00003", "3"], &["", "4"], &["00005", "5"]]);
        let workbook: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.clone())).unwrap();
        assert_eq!(workbook.sheet_names(), ["Dữ liệu", "Dữ liệu 2", "Dữ liệu 3"]);
        let header = vec![text("locality_code"), text("q")];
        assert_eq!(
            sheet(&bytes, "Dữ liệu"),
            [header.clone(), vec![text("00001"), text("1")], vec![text("00002"), text("2")]]
        );
        assert_eq!(
            sheet(&bytes, "Dữ liệu 2"),
            [header.clone(), vec![text("00003"), text("3")], vec![Data::Empty, text("4")]]
        );
        assert_eq!(sheet(&bytes, "Dữ liệu 3"), [header, vec![text("00005"), text("5")]]);
    }

    #[test]
    fn codes_stay_text_and_text_like_a_formula_is_never_one() {
        let bytes = written(SHEET_ROWS, &[&["01", "=HYPERLINK(\"http://x/\",\"x\")"], &["1.5", "-1"]]);
        assert_eq!(
            sheet(&bytes, "Dữ liệu")[1..],
            [vec![text("01"), text("=HYPERLINK(\"http://x/\",\"x\")")], vec![text("1.5"), text("-1")]]
        );
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut xml = String::new();
        zip.by_name("xl/worksheets/sheet1.xml").unwrap().read_to_string(&mut xml).unwrap();
        assert!(!xml.contains("<f>") && !xml.contains("<f "), "no formula: {xml}");
        assert_eq!(xml.matches("t=\"inlineStr\"").count(), 6, "every cell a string: {xml}");
    }
}
