//! The report's `items` and `expectations` tables as JSON and CSV (long format, unrounded)
//! and as the workbook's sheets "Từng câu hỏi" and "Mong đợi". Hidden distributions keep
//! their valid answers and lose counts and shares.

use crate::domain::form::{Denominator, Form, ItemKind};
use crate::service::report_items::{
    ItemTable, OptionRow, Unit, perception_beside_satisfaction, ranked_expectation_items, unit_rows,
};
use crate::service::report_text::{
    EXPECTATION_TITLES, ITEM_TITLES, RANKED_EXPECTATION_TITLES, RANKED_EXPECTATIONS_HEADING, SIDE_BY_SIDE_TITLES,
    denominator_statement,
};
use crate::service::results::WaveResults;
use crate::web::api::report::UnitColumns;
use crate::web::csv_export::{Cell, CsvWriter};
use serde::Serialize;
use std::sync::Arc;

/// Groups per chunk of a streamed table (each has a row per option of every item).
const GROUPS_PER_CHUNK: usize = 16;

const COMMON_HEADER: [&str; 6] = ["locality_code", "locality_name", "level", "agency_code", "agency_name", "responses"];
const ITEMS_HEADER: [&str; 10] = [
    "item_id",
    "item_label",
    "option_code",
    "option_label",
    "missing",
    "count",
    "share",
    "answered",
    "positive_share",
    "suppressed",
];
const EXPECTATIONS_HEADER: [&str; 11] = [
    "item_id",
    "item_label",
    "rank",
    "option_code",
    "option_label",
    "count",
    "share",
    "denominator",
    "answered",
    "suppressed",
    "item_rank",
];

/// The rows of `results`, the whole wave first, a chunk of groups at a time, each chunk
/// written by `write`.
pub fn chunked(
    table: ItemTable,
    form: Arc<Form>,
    results: WaveResults,
    mut write: impl FnMut(&[OptionRow]) -> Vec<u8>,
) -> impl Iterator<Item = Vec<u8>> {
    let mut next = None::<usize>;
    std::iter::from_fn(move || {
        let rows = match next {
            None => unit_rows(table, &form, Unit::overall(&results.overall)),
            Some(start) if start < results.groups.len() => {
                let end = (start + GROUPS_PER_CHUNK).min(results.groups.len());
                let groups = results.groups[start..end].iter();
                groups.flat_map(|g| unit_rows(table, &form, Unit::group(g))).collect()
            }
            Some(_) => return None,
        };
        next = Some(next.map_or(0, |start| start + GROUPS_PER_CHUNK));
        Some(write(&rows))
    })
}

pub fn csv_header(table: ItemTable) -> Vec<u8> {
    let mut head = CsvWriter::new();
    let own: &[&str] = match table {
        ItemTable::Items => &ITEMS_HEADER,
        ItemTable::Expectations => &EXPECTATIONS_HEADER,
    };
    head.header(&COMMON_HEADER.iter().chain(own).copied().collect::<Vec<_>>());
    head.into_bytes()
}

pub fn csv_rows(table: ItemTable, rows: &[OptionRow]) -> Vec<u8> {
    let mut csv = CsvWriter::continued();
    let decimal = |x: Option<f64>| x.map_or(Cell::Text(""), Cell::Decimal);
    let flag = |b: bool| Cell::Text(if b { "true" } else { "false" });
    for row in rows {
        let unit = &row.unit;
        let mut cells = UnitColumns::of(unit.locality, unit.agency, unit.responses).cells().to_vec();
        cells.extend([Cell::Text(&row.item.id), Cell::Text(&row.item.text)]);
        let count = row.count.map_or(Cell::Text(""), |n| Cell::Integer(n as i64));
        match table {
            ItemTable::Items => cells.extend([
                Cell::Text(&row.option.code),
                Cell::Text(&row.option.label),
                flag(row.option.missing),
                count,
                decimal(row.share),
                Cell::Integer(row.answered as i64),
                decimal(row.positive_share),
                flag(row.suppressed),
            ]),
            ItemTable::Expectations => cells.extend([
                row.rank.map_or(Cell::Text(""), |r| Cell::Integer(r as i64)),
                Cell::Text(&row.option.code),
                Cell::Text(&row.option.label),
                count,
                decimal(row.share),
                Cell::Text(denominator_name(row.item.denominator)),
                Cell::Integer(row.answered as i64),
                flag(row.suppressed),
                row.item_rank.map_or(Cell::Text(""), |r| Cell::Integer(r as i64)),
            ]),
        }
        csv.row(&cells);
    }
    csv.into_bytes()
}

fn denominator_name(denominator: Denominator) -> &'static str {
    match denominator {
        Denominator::ValidForms => "valid_forms",
        Denominator::Answered => "answered",
    }
}

/// A row of the `items` or `expectations` table as JSON: the CSV's columns, `null` for
/// what is hidden or has no denominator; only the table's own columns.
#[derive(Serialize)]
struct JsonRow<'a> {
    #[serde(flatten)]
    unit: UnitColumns<'a>,
    item_id: &'a str,
    item_label: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rank: Option<Option<u32>>,
    option_code: &'a str,
    option_label: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    missing: Option<bool>,
    count: Option<u64>,
    share: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    denominator: Option<&'static str>,
    answered: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    positive_share: Option<Option<f64>>,
    suppressed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    item_rank: Option<Option<u32>>,
}

/// The rows as JSON objects separated by commas, `first` telling whether one was written.
pub fn json_rows(table: ItemTable, rows: &[OptionRow], first: &mut bool) -> Vec<u8> {
    let mut chunk = Vec::new();
    let items = table == ItemTable::Items;
    for row in rows {
        if !std::mem::take(first) {
            chunk.push(b',');
        }
        let unit = &row.unit;
        let json = JsonRow {
            unit: UnitColumns::of(unit.locality, unit.agency, unit.responses),
            item_id: &row.item.id,
            item_label: &row.item.text,
            rank: (!items).then_some(row.rank),
            option_code: &row.option.code,
            option_label: &row.option.label,
            missing: items.then_some(row.option.missing),
            count: row.count,
            share: row.share,
            denominator: (!items).then(|| denominator_name(row.item.denominator)),
            answered: row.answered,
            positive_share: items.then_some(row.positive_share),
            suppressed: row.suppressed,
            item_rank: (!items).then_some(row.item_rank),
        };
        serde_json::to_writer(&mut chunk, &json).expect("rows serialise");
    }
    chunk
}

/// Expectation items charted; beyond this the table still has them all.
const MAX_CHARTED_ITEMS: usize = 12;

/// The workbook's sheets "Từng câu hỏi" (the whole wave's distribution of every choice item),
/// "Đánh giá và hài lòng" (perception beside satisfaction, per factor) and "Mong đợi"
/// (expectation items ranked when asked one by one, and each one's options ranked, with bar
/// charts).
pub fn write_sheets(
    workbook: &mut rust_xlsxwriter::Workbook,
    form: &Form,
    results: &WaveResults,
) -> Result<(), rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Chart, ChartType, Format};
    let (bold, percent) = (Format::new().set_bold(), Format::new().set_num_format("0.0"));
    let overall = Unit::overall(&results.overall);
    let hidden = "*";

    let sheet = workbook.add_worksheet_with_constant_memory()?;
    sheet.set_name("Từng câu hỏi")?;
    sheet.set_column_width(0, 60)?;
    sheet.set_column_width(1, 40)?;
    for (column, title) in ITEM_TITLES.iter().enumerate() {
        sheet.write_string_with_format(0, column as u16, *title, &bold)?;
    }
    for (i, row) in unit_rows(ItemTable::Items, form, overall).iter().enumerate() {
        let r = 1 + i as u32;
        sheet.write_string(r, 0, &row.item.text)?;
        sheet.write_string(r, 1, &row.option.label)?;
        match row.count {
            Some(count) => sheet.write_number(r, 2, count as f64)?,
            None => sheet.write_string(r, 2, hidden)?,
        };
        if let Some(share) = row.share {
            sheet.write_number_with_format(r, 3, share, &percent)?;
        } else if row.suppressed {
            sheet.write_string(r, 3, hidden)?;
        }
        sheet.write_number(r, 4, row.answered as f64)?;
        if let Some(share) = row.positive_share {
            sheet.write_number_with_format(r, 5, share, &percent)?;
        }
    }

    side_by_side_sheet(workbook, form, &results.overall.items)?;

    let name = "Mong đợi";
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    sheet.set_name(name)?;
    sheet.set_column_width(1, 70)?;
    let rows = unit_rows(ItemTable::Expectations, form, overall);
    let mut r = 0u32;
    let mut charted = 0;
    // Expectations asked one by one: first the list of them, most wished first.
    let ranked = ranked_expectation_items(form, &results.overall.items);
    if !ranked.is_empty() {
        sheet.write_string_with_format(r, 0, RANKED_EXPECTATIONS_HEADING, &bold)?;
        for (column, title) in RANKED_EXPECTATION_TITLES.iter().enumerate() {
            sheet.write_string_with_format(r + 1, column as u16, *title, &bold)?;
        }
        let first = r + 2;
        for (i, expectation) in ranked.iter().enumerate() {
            let at = first + i as u32;
            sheet.write_number(at, 0, expectation.rank as f64)?;
            sheet.write_string(at, 1, &expectation.item.text)?;
            sheet.write_number_with_format(at, 2, expectation.share, &percent)?;
            sheet.write_number(at, 3, expectation.answered as f64)?;
        }
        let last = first + ranked.len() as u32 - 1;
        let mut chart = Chart::new(ChartType::Bar);
        chart.add_series().set_categories((name, first, 1, last, 1)).set_values((name, first, 2, last, 2));
        chart.title().set_name("Tỷ lệ mong muốn (%)");
        chart.legend().set_hidden();
        chart.y_axis().set_reverse();
        sheet.insert_chart(r, 5, &chart)?;
        charted += 1;
        r = (last + 2).max(r + 17);
    }
    let expectations = form.items.iter().filter(|i| i.kind == ItemKind::Expectation);
    for item in expectations {
        let options: Vec<&OptionRow> = rows.iter().filter(|row| row.item.id == item.id).collect();
        sheet.write_string_with_format(r, 0, &item.text, &bold)?;
        sheet.write_string(r + 1, 0, denominator_statement(item.denominator))?;
        for (column, title) in EXPECTATION_TITLES.iter().enumerate() {
            sheet.write_string_with_format(r + 2, column as u16, *title, &bold)?;
        }
        let first = r + 3;
        for (i, row) in options.iter().enumerate() {
            let at = first + i as u32;
            if let Some(rank) = row.rank {
                sheet.write_number(at, 0, rank as f64)?;
            }
            sheet.write_string(at, 1, &row.option.label)?;
            match (row.count, row.share) {
                (Some(count), share) => {
                    sheet.write_number(at, 2, count as f64)?;
                    if let Some(share) = share {
                        sheet.write_number_with_format(at, 3, share, &percent)?;
                    }
                }
                (None, _) => {
                    sheet.write_string(at, 2, hidden)?;
                    sheet.write_string(at, 3, hidden)?;
                }
            }
        }
        let last = first + options.len().max(1) as u32 - 1;
        let shown = options.first().is_some_and(|row| !row.suppressed && row.share.is_some());
        if shown && charted < MAX_CHARTED_ITEMS {
            let mut chart = Chart::new(ChartType::Bar);
            chart.add_series().set_categories((name, first, 1, last, 1)).set_values((name, first, 3, last, 3));
            chart.title().set_name("Tỷ lệ mong đợi (%)");
            chart.set_name(&item.id);
            chart.legend().set_hidden();
            // Bars are drawn from the bottom: the most chosen goes on top.
            chart.y_axis().set_reverse();
            sheet.insert_chart(r, 5, &chart)?;
            charted += 1;
        }
        // Room for the chart before the next item.
        r = (last + 2).max(r + if shown { 17 } else { 0 });
    }
    Ok(())
}

/// The sheet "Đánh giá và hài lòng": per factor asked both ways, its perception criteria's
/// positive shares beside its satisfaction questions' (not written when no factor is).
fn side_by_side_sheet(
    workbook: &mut rust_xlsxwriter::Workbook,
    form: &Form,
    items: &[crate::domain::distribution::Distribution],
) -> Result<(), rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::Format;
    let factors = perception_beside_satisfaction(form, items);
    if factors.is_empty() {
        return Ok(());
    }
    let (bold, percent) = (Format::new().set_bold(), Format::new().set_num_format("0.0"));
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    sheet.set_name("Đánh giá và hài lòng")?;
    for (column, width) in [(0, 30), (1, 60), (2, 14), (3, 60), (4, 14)] {
        sheet.set_column_width(column, width)?;
    }
    for (column, title) in SIDE_BY_SIDE_TITLES.iter().enumerate() {
        sheet.write_string_with_format(0, column as u16, *title, &bold)?;
    }
    let mut r = 1u32;
    for factor in &factors {
        sheet.write_string_with_format(r, 0, factor.title, &bold)?;
        // Row by row, both sides (a constant-memory sheet takes its rows in order).
        for i in 0..factor.perception.len().max(factor.satisfaction.len()) {
            for (column, side) in [(1u16, &factor.perception), (3, &factor.satisfaction)] {
                let Some((item, distribution)) = side.get(i) else { continue };
                sheet.write_string(r, column, &item.text)?;
                match distribution.positive_share {
                    Some(share) => sheet.write_number_with_format(r, column + 1, share, &percent)?,
                    None if distribution.suppressed() => sheet.write_string(r, column + 1, "*")?,
                    None => sheet,
                };
            }
            r += 1;
        }
    }
    Ok(())
}
