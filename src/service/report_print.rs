//! The report's main tables as people read them, for the printable page and the Word
//! document alike: figures rounded by the one rule, `*` when hidden, `—` without answers.
//! Each format numbers the sections and lays the tables out its own way; the rows are built
//! here only.

use crate::domain::form::{Form, ItemKind};
use crate::domain::indices::Figure;
use crate::domain::response_rates::{channel_label, dimension_label};
use crate::domain::rounding::{one_decimal, signed_one_decimal};
use crate::service::report_comments::{Comment, sample_note};
use crate::service::report_items::{
    ItemTable, Unit, perception_beside_satisfaction, ranked_expectation_items, unit_rows,
};
use crate::service::report_rates::ResponseRates;
use crate::service::report_text::{
    COMMENT_TITLES, EXPECTATION_TITLES, ITEM_TITLES, RANKED_EXPECTATION_TITLES, RANKED_EXPECTATIONS_HEADING,
    RATE_TITLES, SIDE_BY_SIDE_TITLES, denominator_statement, headline_columns, ranked_units, unit_name,
};
use crate::service::results::WaveResults;
use serde::Serialize;

/// What a column holds, which sets its alignment and its share of the page's width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Column {
    Number,
    Text,
    /// Long text (a comment), given twice a text column's width.
    Wide,
}

#[derive(Debug, Serialize)]
pub struct PrintedTable {
    pub titles: Vec<String>,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<String>>,
}

impl PrintedTable {
    fn new<T: ToString>(titles: &[T], columns: &[Column]) -> Self {
        PrintedTable { titles: titles.iter().map(T::to_string).collect(), columns: columns.to_vec(), rows: Vec::new() }
    }
}

/// A part of a section: an optional title and sentence, then a table.
#[derive(Debug, Serialize)]
pub struct Part {
    pub title: Option<String>,
    pub statement: Option<String>,
    pub table: Option<PrintedTable>,
}

impl Part {
    fn table(table: PrintedTable) -> Self {
        Part { title: None, statement: None, table: Some(table) }
    }
}

/// A section of the report, unnumbered, with the note explaining the marks its tables use.
#[derive(Debug, Serialize)]
pub struct Section {
    pub heading: &'static str,
    pub parts: Vec<Part>,
    pub note: Option<String>,
}

/// Which marks a table used, so that the note under it explains just those.
#[derive(Default)]
pub struct Marks {
    hidden: bool,
    empty: bool,
}

impl Marks {
    /// A figure as people read it: one decimal with a comma, `*` when hidden, `—` without
    /// answers (as on the results pages).
    pub fn figure(&mut self, figure: &Figure) -> String {
        self.share(figure.value, figure.suppressed)
    }

    /// A percentage, `*` when hidden, `—` without a denominator.
    pub fn share(&mut self, value: Option<f64>, hidden: bool) -> String {
        match value {
            Some(value) => one_decimal(value),
            None if hidden => self.hidden(),
            None => {
                self.empty = true;
                "—".into()
            }
        }
    }

    fn count(&mut self, count: Option<u64>) -> String {
        count.map_or_else(|| self.hidden(), |n| n.to_string())
    }

    fn hidden(&mut self) -> String {
        self.hidden = true;
        "*".into()
    }

    pub fn note(&self, min_cell: u64) -> Option<String> {
        let mut parts = Vec::new();
        if self.hidden {
            parts.push(format!(
                "(*) Số liệu ẩn: dựa trên dưới {min_cell} câu trả lời hợp lệ hoặc có thể suy ra số liệu đó bằng phép trừ."
            ));
        }
        if self.empty {
            parts.push("(—) Không có câu trả lời.".to_string());
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// A figure's 95% interval as people read it, when it has one.
pub fn interval(figure: &Figure) -> Option<String> {
    figure.ci_low.zip(figure.ci_high).map(|(low, high)| format!("{}–{}", one_decimal(low), one_decimal(high)))
}

/// The comments a report lists: those the workbook lists, in the reader's order.
pub struct ListedComments {
    pub comments: Vec<Comment>,
    /// How many were listed at most, when some were left out.
    pub capped_at: Option<usize>,
}

/// What the tables are built from: the results with their item distributions.
pub struct PrintedReport<'a> {
    pub form: &'a Form,
    pub results: &'a WaveResults,
    pub rates: &'a ResponseRates,
    pub comments: &'a ListedComments,
    /// Whether the results carry the change since an earlier wave (`compare=`).
    pub compared: bool,
    pub min_cell: u64,
}

impl PrintedReport<'_> {
    /// The sections after the indices by unit, in the workbook's order of sheets; those
    /// without content left out.
    pub fn sections(&self) -> Vec<Section> {
        let mut sections = Vec::new();
        if self.compared {
            sections.push(self.comparison());
        }
        sections.push(self.items());
        sections.extend(self.side_by_side());
        sections.extend(self.expectations());
        sections.push(self.rates());
        sections.push(self.comments());
        sections
    }

    /// The headline indices of the whole wave, then the lead index (SIPAS) of every unit,
    /// beside their change since the compared wave.
    fn comparison(&self) -> Section {
        let (headline, positions) = headline_columns(self.form);
        let mut marks = Marks::default();
        let mut overall = PrintedTable::new(
            &["Chỉ số", "Giá trị (%)", "Thay đổi (điểm)"],
            &[Column::Text, Column::Number, Column::Number],
        );
        for (index, &p) in headline.iter().zip(&positions) {
            let value = &self.results.overall.indices[p];
            let change = value.change.map(signed_one_decimal).unwrap_or_default();
            overall.rows.push(vec![index.label.clone(), marks.figure(&value.figure), change]);
        }
        let mut parts = vec![Part {
            title: None,
            statement: Some(
                "Thay đổi so với đợt được so sánh: số điểm phần trăm tăng (+) hoặc giảm (-) và số bậc xếp hạng tăng (+) hoặc giảm (-); để trống khi một trong hai đợt không có số liệu công bố."
                    .into(),
            ),
            table: Some(overall),
        }];
        let units = ranked_units(self.form, &self.results.groups);
        if let (Some(&lead), Some(label), false) = (positions.first(), headline.first(), units.is_empty()) {
            let titles = ["Đơn vị", &format!("{} (%)", label.label), "Thay đổi (điểm)", "Thay đổi xếp hạng (bậc)"];
            let mut table = PrintedTable::new(&titles, &[Column::Text, Column::Number, Column::Number, Column::Number]);
            for group in units {
                let change = group.changes.get(lead).copied().flatten().map(signed_one_decimal);
                let places = group.rank_changes.get(lead).copied().flatten().map(|places| match places > 0 {
                    true => format!("+{places}"),
                    false => places.to_string(),
                });
                table.rows.push(vec![
                    unit_name(group),
                    marks.figure(&group.figures[lead]),
                    change.unwrap_or_default(),
                    places.unwrap_or_default(),
                ]);
            }
            parts.push(Part::table(table));
        }
        Section { heading: "So sánh với đợt trước", parts, note: marks.note(self.min_cell) }
    }

    /// The whole wave's distribution of every choice item; an item's question, valid
    /// answers and positive share on its first option's row.
    fn items(&self) -> Section {
        let mut marks = Marks::default();
        let columns = [Column::Text, Column::Text, Column::Number, Column::Number, Column::Number, Column::Number];
        let mut table = PrintedTable::new(&ITEM_TITLES, &columns);
        let rows = unit_rows(ItemTable::Items, self.form, Unit::overall(&self.results.overall));
        let mut previous = None;
        for row in &rows {
            let first = previous != Some(&row.item.id);
            previous = Some(&row.item.id);
            let (question, answered, positive) = match first {
                true => (
                    row.item.text.clone(),
                    row.answered.to_string(),
                    // Blank where no index is defined on the item alone.
                    match (row.positive_share, row.suppressed) {
                        (None, false) => String::new(),
                        (share, hidden) => marks.share(share, hidden),
                    },
                ),
                false => Default::default(),
            };
            let (count, share) = (marks.count(row.count), marks.share(row.share, row.suppressed));
            table.rows.push(vec![question, row.option.label.clone(), count, share, answered, positive]);
        }
        Section {
            heading: "Kết quả từng câu hỏi", parts: vec![Part::table(table)], note: marks.note(self.min_cell)
        }
    }

    /// Per factor asked both ways, its perception criteria's positive shares beside its
    /// satisfaction questions'; `None` when no factor is.
    fn side_by_side(&self) -> Option<Section> {
        let factors = perception_beside_satisfaction(self.form, &self.results.overall.items);
        let mut marks = Marks::default();
        let columns = [Column::Text, Column::Text, Column::Number, Column::Text, Column::Number];
        let mut table = PrintedTable::new(&SIDE_BY_SIDE_TITLES, &columns);
        for factor in &factors {
            for i in 0..factor.perception.len().max(factor.satisfaction.len()) {
                let mut row = vec![if i == 0 { factor.title.to_string() } else { String::new() }];
                for side in [&factor.perception, &factor.satisfaction] {
                    match side.get(i) {
                        Some((item, d)) => {
                            row.extend([item.text.clone(), marks.share(d.positive_share, d.suppressed())])
                        }
                        None => row.extend([String::new(), String::new()]),
                    }
                }
                table.rows.push(row);
            }
        }
        let part = Part {
            title: None,
            statement: Some(
                "Tỷ lệ đánh giá tích cực của từng tiêu chí bên cạnh tỷ lệ hài lòng của cùng yếu tố.".into(),
            ),
            table: Some(table),
        };
        (!factors.is_empty()).then(|| Section {
            heading: "Đánh giá và hài lòng",
            parts: vec![part],
            note: marks.note(self.min_cell),
        })
    }

    /// Expectations asked one by one ranked against each other, then each expectation
    /// item's options ranked, most chosen first, under the item's text and what its shares
    /// are of; `None` when the form asks for none.
    fn expectations(&self) -> Option<Section> {
        let rows = unit_rows(ItemTable::Expectations, self.form, Unit::overall(&self.results.overall));
        let mut marks = Marks::default();
        let ranked = ranked_expectation_items(self.form, &self.results.overall.items);
        let ranked = (!ranked.is_empty()).then(|| {
            let columns = [Column::Number, Column::Text, Column::Number, Column::Number];
            let mut table = PrintedTable::new(&RANKED_EXPECTATION_TITLES, &columns);
            for expectation in &ranked {
                table.rows.push(vec![
                    expectation.rank.to_string(),
                    expectation.item.text.clone(),
                    one_decimal(expectation.share),
                    expectation.answered.to_string(),
                ]);
            }
            Part { title: Some(RANKED_EXPECTATIONS_HEADING.into()), statement: None, table: Some(table) }
        });
        let items = self.form.items.iter().filter(|item| item.kind == ItemKind::Expectation).map(|item| {
            let columns = [Column::Number, Column::Text, Column::Number, Column::Number];
            let mut table = PrintedTable::new(&EXPECTATION_TITLES, &columns);
            for row in rows.iter().filter(|row| row.item.id == item.id) {
                table.rows.push(vec![
                    row.rank.map(|rank| rank.to_string()).unwrap_or_default(),
                    row.option.label.clone(),
                    marks.count(row.count),
                    marks.share(row.share, row.suppressed),
                ]);
            }
            Part {
                title: Some(item.text.clone()),
                statement: Some(format!("{}.", denominator_statement(item.denominator))),
                table: Some(table),
            }
        });
        let parts: Vec<Part> = ranked.into_iter().chain(items).collect();
        (!parts.is_empty()).then(|| Section { heading: "Mong đợi", parts, note: marks.note(self.min_cell) })
    }

    /// Invitations issued and used by the whole wave, channel, agency and locality, as the
    /// workbook's sheet (counts of invitations reveal no answer: nothing is hidden).
    fn rates(&self) -> Section {
        let mut marks = Marks::default();
        let columns =
            [Column::Text, Column::Text, Column::Text, Column::Text, Column::Number, Column::Number, Column::Number];
        let mut table = PrintedTable::new(&RATE_TITLES, &columns);
        for row in &self.rates.rows {
            table.rows.push(vec![
                dimension_label(row.dimension).to_string(),
                row.locality.as_ref().map(|l| l.name.clone()).unwrap_or_default(),
                self.rates.agency_name(row).unwrap_or_default().to_string(),
                row.channel.map(channel_label).unwrap_or_default().to_string(),
                row.counts.invited.to_string(),
                row.counts.answered.to_string(),
                marks.share(row.counts.rate(), false),
            ]);
        }
        let note = marks.empty.then(|| "(—) Chưa phát mã nào.".to_string());
        Section { heading: "Tỷ lệ phản hồi", parts: vec![Part::table(table)], note }
    }

    /// The comments the workbook lists, where it publishes them.
    fn comments(&self) -> Section {
        let ListedComments { comments, capped_at } = self.comments;
        let statement = format!(
            "Mỗi ý kiến được gắn với địa bàn có từ {} phiếu hợp lệ trở lên (địa bàn ít phiếu hơn được gộp lên cấp trên), không kèm ngày gửi.",
            self.min_cell
        );
        let table = (!comments.is_empty()).then(|| {
            let columns = [Column::Text, Column::Text, Column::Text, Column::Wide];
            let mut table = PrintedTable::new(&COMMENT_TITLES, &columns);
            for comment in comments {
                table.rows.push(vec![
                    comment.item_label.clone(),
                    comment.locality.as_ref().map_or("Toàn đợt", |l| l.name.as_str()).to_string(),
                    comment.agency_name.clone().unwrap_or_default(),
                    comment.text.clone(),
                ]);
            }
            table
        });
        let statement = match table {
            Some(_) => statement,
            None => format!("{statement} Không có ý kiến nào được công bố."),
        };
        let part = Part { title: None, statement: Some(statement), table };
        Section { heading: "Ý kiến của người dân", parts: vec![part], note: capped_at.map(sample_note) }
    }
}
