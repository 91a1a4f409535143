//! The report's crosstabs (every index by a background item: gender, age band, occupation…)
//! as JSON, CSV and a workbook sheet, through the crosstab's own disclosure control.

use crate::domain::form::{Form, Item};
use crate::domain::indices::Figure;
use crate::service::crosstab::{Category, Crosstab, CrosstabError, crosstab_items, crosstabs};
use crate::service::report_text::{headline_columns, own_level_label};
use crate::web::AppState;
use crate::web::api::report::write_figure;
use crate::web::api::waves::{ResultsParams, find_wave};
use crate::web::auth::ApiUser;
use crate::web::csv_export::{Cell, CsvWriter};
use crate::web::error::ApiError;
use actix_web::HttpResponse;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CrosstabParams {
    /// Background items to break every index down by, comma-separated, or `all`: the
    /// default of `table=crosstab`; in `report.xlsx` it adds the sheet of crosstabs. With
    /// `level`, each locality of that level gets its table after the whole wave's.
    pub crosstab: Option<String>,
}

const HEADER: [&str; 18] = [
    "locality_code",
    "locality_name",
    "level",
    "agency_code",
    "agency_name",
    "item_id",
    "item_text",
    "category",
    "option_code",
    "option_label",
    "responses",
    "index_id",
    "index_label",
    "value",
    "n",
    "ci_low",
    "ci_high",
    "suppressed",
];

/// The items asked for (`None` or `all`: every item that splits respondents), or a clear
/// error naming the ones that can be used.
pub fn chosen_items<'f>(form: &'f Form, asked: Option<&str>) -> Result<Vec<&'f Item>, ApiError> {
    let usable = crosstab_items(form);
    let asked = asked.map(str::trim).filter(|a| !a.is_empty() && *a != "all");
    let Some(asked) = asked else { return Ok(usable) };
    asked
        .split(',')
        .map(|id| {
            usable.iter().copied().find(|i| i.id == id.trim()).ok_or_else(|| {
                let ids: Vec<&str> = usable.iter().map(|i| i.id.as_str()).collect();
                ApiError::Invalid(BTreeMap::from([(
                    "crosstab".to_string(),
                    format!(
                        "Không lập được bảng chéo theo “{}”: chỉ theo câu hỏi thông tin người trả lời có một lựa chọn ({}).",
                        id.trim(),
                        ids.join(", ")
                    ),
                )]))
            })
        })
        .collect()
}

/// The crosstabs `user` may see, audited like every report.
pub async fn crosstabs_for(
    state: &AppState,
    user: &ApiUser,
    id: &str,
    params: &ResultsParams,
    asked: Option<&str>,
) -> Result<(Arc<Form>, Vec<Crosstab>), ApiError> {
    let (form, tables) = compute(state, user, id, params, asked).await?;
    Ok((form, tables.map_err(level_error)?))
}

/// The crosstabs of the workbook: by the workbook's level when the wave's counts are kept
/// that fine, else for the whole wave only, with the reason to print on the sheet (the
/// workbook's other sheets are still wanted at that level).
pub async fn workbook_crosstabs(
    state: &AppState,
    user: &ApiUser,
    id: &str,
    params: &ResultsParams,
    asked: &str,
) -> Result<(Vec<Crosstab>, Option<String>), ApiError> {
    match compute(state, user, id, params, Some(asked)).await?.1 {
        Ok(tables) => Ok((tables, None)),
        Err(error @ CrosstabError::TooFine { .. }) => {
            let whole =
                ResultsParams { level: None, by: params.by.clone(), compare: params.compare.clone(), ..*params };
            Ok((crosstabs_for(state, user, id, &whole, Some(asked)).await?.1, Some(level_message(error)?)))
        }
        Err(error) => Err(level_error(error)),
    }
}

async fn compute(
    state: &AppState,
    user: &ApiUser,
    id: &str,
    params: &ResultsParams,
    asked: Option<&str>,
) -> Result<(Arc<Form>, Result<Vec<Crosstab>, CrosstabError>), ApiError> {
    let wave = find_wave(state, id).await?;
    let query = params.query_for(&user.0, &wave)?;
    let form = state.survey.wave_form(&wave.form_hash).await?;
    let ids: Vec<String> = chosen_items(&form, asked)?.iter().map(|i| i.id.clone()).collect();
    let suppression = state.survey.suppression(&wave, &form).await?;
    state.audit(&user.0, "wave.report", &wave.id).await?;
    let (form_q, cache) = (form.clone(), state.survey.crosstabs.clone());
    let tables = state
        .survey
        .db
        .run(move |db| {
            let items: Vec<&Item> = ids.iter().filter_map(|id| form_q.item(id)).collect();
            Ok(crosstabs(db, &form_q, &wave, &items, &query, &suppression, &cache))
        })
        .await?;
    Ok((form, tables))
}

fn level_error(error: CrosstabError) -> ApiError {
    match level_message(error) {
        Ok(message) => ApiError::Invalid(BTreeMap::from([("level".to_string(), message)])),
        Err(error) => error,
    }
}

/// Why a crosstab cannot be broken down by the level asked, as officials read it.
fn level_message(error: CrosstabError) -> Result<String, ApiError> {
    Ok(match error {
        CrosstabError::Storage(error) => return Err(error.into()),
        CrosstabError::UnknownLevel { levels } => {
            let levels: Vec<String> = levels.iter().map(|l| format!("“{l}” ({})", own_level_label(l))).collect();
            format!("Không có cấp địa bàn này; các cấp hiện có: {}.", levels.join(", "))
        }
        CrosstabError::TooFine { finest: Some(level) } => format!(
            "Đợt có quá nhiều địa bàn và cơ quan để lập bảng chéo đến cấp này; hãy chọn {} (“{level}”) hoặc cấp trên.",
            own_level_label(&level)
        ),
        CrosstabError::TooFine { finest: None } => {
            "Đợt có quá nhiều địa bàn và cơ quan để lập bảng chéo theo địa bàn; \
            bảng chéo chỉ lập được cho toàn đợt và từng cơ quan."
                .to_string()
        }
    })
}

/// A row of the `crosstab` table: one index of one category of one group.
#[derive(Serialize)]
struct Row<'a> {
    /// The locality of the group; none for the whole wave.
    locality_code: Option<&'a str>,
    locality_name: Option<&'a str>,
    level: Option<&'a str>,
    agency_code: Option<&'a str>,
    agency_name: Option<&'a str>,
    item_id: &'a str,
    item_text: &'a str,
    /// `total`, `option` or `blank` (those who left the item unanswered).
    category: &'static str,
    option_code: Option<&'a str>,
    option_label: Option<&'a str>,
    responses: u64,
    index_id: &'a str,
    index_label: &'a str,
    #[serde(flatten)]
    figure: &'a Figure,
}

fn rows<'a>(form: &'a Form, tables: &'a [Crosstab]) -> impl Iterator<Item = Row<'a>> {
    tables.iter().flat_map(move |table| {
        let item = form.item(&table.item_id).expect("crosstab items come from the form");
        table.groups.iter().flat_map(move |group| {
            group.rows.iter().flat_map(move |row| {
                let option = match row.category {
                    Category::Option(i) => item.options.get(i),
                    _ => None,
                };
                form.indices.iter().zip(&row.figures).map(move |(index, figure)| Row {
                    locality_code: group.locality.as_ref().map(|l| l.code.as_str()),
                    locality_name: group.locality.as_ref().map(|l| l.name.as_str()),
                    level: group.locality.as_ref().map(|l| l.level.as_str()),
                    agency_code: group.agency.as_ref().map(|a| a.code.as_str()),
                    agency_name: group.agency.as_ref().map(|a| a.name.as_str()),
                    item_id: &item.id,
                    item_text: &item.text,
                    category: match row.category {
                        Category::Total => "total",
                        Category::Option(_) => "option",
                        Category::Blank => "blank",
                    },
                    option_code: option.map(|o| o.code.as_str()),
                    option_label: option.map(|o| o.label.as_str()),
                    responses: row.responses,
                    index_id: &index.id,
                    index_label: &index.label,
                    figure,
                })
            })
        })
    })
}

pub async fn crosstab_json(
    state: &AppState,
    user: &ApiUser,
    id: &str,
    params: &ResultsParams,
    asked: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let (form, tables) = crosstabs_for(state, user, id, params, asked).await?;
    #[derive(Serialize)]
    struct Table<'a> {
        table: &'static str,
        rows: Vec<Row<'a>>,
    }
    let table = Table { table: "crosstab", rows: rows(&form, &tables).collect() };
    Ok(HttpResponse::Ok().json(table))
}

pub async fn crosstab_csv(
    state: &AppState,
    user: &ApiUser,
    id: &str,
    params: &ResultsParams,
    asked: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let (form, tables) = crosstabs_for(state, user, id, params, asked).await?;
    let mut csv = CsvWriter::new();
    csv.header(&HEADER);
    let decimal = |x: Option<f64>| x.map_or(Cell::Text(""), Cell::Decimal);
    for row in rows(&form, &tables) {
        csv.row(&[
            text(row.locality_code),
            text(row.locality_name),
            text(row.level),
            text(row.agency_code),
            text(row.agency_name),
            Cell::Text(row.item_id),
            Cell::Text(row.item_text),
            Cell::Text(row.category),
            text(row.option_code),
            text(row.option_label),
            Cell::Integer(row.responses as i64),
            Cell::Text(row.index_id),
            Cell::Text(row.index_label),
            decimal(row.figure.value),
            Cell::Integer(row.figure.n as i64),
            decimal(row.figure.ci_low),
            decimal(row.figure.ci_high),
            Cell::Text(if row.figure.suppressed { "true" } else { "false" }),
        ]);
    }
    Ok(super::download("text/csv; charset=utf-8", "bang-cheo.csv").body(csv.into_bytes()))
}

fn text(value: Option<&str>) -> Cell<'_> {
    Cell::Text(value.unwrap_or(""))
}

/// The label of a crosstab row as officials read it.
fn category_label(item: &Item, category: Category) -> &str {
    match category {
        Category::Total => "Chung",
        Category::Option(i) => item.options.get(i).map_or("", |o| o.label.as_str()),
        Category::Blank => "Không trả lời",
    }
}

/// The sheet "Theo đặc điểm người trả lời": per item and group, the headline indices of each
/// category.
pub fn write_sheet(
    workbook: &mut rust_xlsxwriter::Workbook,
    form: &Form,
    tables: &[Crosstab],
    note: Option<&str>,
) -> Result<(), rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::Format;
    let (bold, one) = (Format::new().set_bold(), Format::new().set_num_format("0.0"));
    let (headline, positions) = headline_columns(form);
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    sheet.set_name("Theo đặc điểm người trả lời")?;
    sheet.set_column_width(0, 45)?;
    sheet.write_string(0, 0, "Chỉ số theo đặc điểm người trả lời (gộp mọi phiếu, không gia trọng); * là số liệu ẩn")?;
    if let Some(note) = note {
        sheet.write_string(1, 0, format!("Chỉ có bảng toàn đợt: {note}"))?;
    }
    let mut r = 2;
    for table in tables {
        let Some(item) = form.item(&table.item_id) else { continue };
        for group in &table.groups {
            let whose = match (&group.locality, &group.agency) {
                (None, None) => "toàn đợt".to_string(),
                (None, Some(agency)) => agency.name.clone(),
                (Some(locality), None) => locality.name.clone(),
                (Some(locality), Some(agency)) => format!("{}, {}", agency.name, locality.name),
            };
            sheet.write_string_with_format(r, 0, format!("{} — {whose}", item.text), &bold)?;
            sheet.write_string_with_format(r + 1, 0, "Đặc điểm", &bold)?;
            sheet.write_string_with_format(r + 1, 1, "Số phiếu", &bold)?;
            for (k, index) in headline.iter().enumerate() {
                sheet.write_string_with_format(r + 1, 2 + k as u16, &index.label, &bold)?;
            }
            r += 2;
            for row in &group.rows {
                sheet.write_string(r, 0, category_label(item, row.category))?;
                sheet.write_number(r, 1, row.responses as f64)?;
                for (k, &p) in positions.iter().enumerate() {
                    write_figure(sheet, r, 2 + k as u16, &row.figures[p], &one)?;
                }
                r += 1;
            }
            r += 1;
        }
    }
    Ok(())
}
