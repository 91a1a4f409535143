//! What a list file may hold, in one place. Every reader (CSV, XLSX, the kept copy read
//! again for a corrected mapping) stops at these limits before allocating beyond them, so
//! an import's memory is bounded whatever the file. No real list comes near them; Excel's
//! own limits are 1,048,576 rows, 16,384 columns and 32,767 characters per cell.

/// Lines (rows, blank ones included) read from one file: at least 2,000,000 rows of data
/// with their title block fit. Also the most report lines an upload can have.
pub const MAX_ROWS: usize = 2_500_000;
/// Cells per row. Real lists have a few dozen columns; the page showing the header lists
/// every column.
pub const MAX_COLUMNS: usize = 1_024;
/// Fields of a CSV line, empty ones included (Excel's own column count): trailing empty
/// fields, which some exports write, do not count against [`MAX_COLUMNS`].
pub const MAX_CSV_FIELDS: usize = 16_384;
/// Bytes of one cell: Excel's 32,767 characters at two bytes each (Vietnamese in UTF-8).
pub const MAX_CELL_BYTES: usize = 64 * 1024;
/// Bytes of one row's text (a CSV record, or an XLSX row's cells together).
pub const MAX_LINE_BYTES: usize = 256 * 1024;
/// Text of all cells of one file together: every row is copied (for a corrected mapping)
/// and cleaned, so this bounds the work and the disk an import takes, which shared strings
/// referred to from many cells could otherwise multiply. Two million rows of a real list
/// hold a few hundred MiB.
pub const MAX_FILE_TEXT_BYTES: u64 = 1024 * 1024 * 1024;
/// Parts (files) inside an XLSX archive; a workbook has a few dozen.
pub const MAX_ZIP_ENTRIES: usize = 10_000;
/// Bytes of an XLSX archive's table of entries (names, extra fields, comments), which the
/// zip reader holds in memory; a workbook's is a few KiB.
pub const MAX_ZIP_DIRECTORY_BYTES: usize = 4 * 1024 * 1024;
/// Bytes one XLSX part may decompress to.
pub const MAX_PART_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Decompressed bytes per compressed byte of an XLSX part, checked as it is read (Apache
/// POI refuses above 100 too); the first [`RATIO_FREE_BYTES`] of a part are not checked.
pub const MAX_RATIO: u64 = 100;
pub const RATIO_FREE_BYTES: u64 = 1024 * 1024;
/// Bytes of XML between two tags (one text node or one tag), which the XML reader buffers.
pub const MAX_XML_RUN: usize = 1024 * 1024;
/// Shared strings of an XLSX workbook, held in memory while its sheet is read: counted
/// as read, never allocated from the count the file declares.
pub const MAX_SHARED_STRINGS: usize = 3_000_000;
pub const MAX_SHARED_BYTES: usize = 96 * 1024 * 1024;
/// Characters of a column label as kept with the upload and shown on its page.
pub const MAX_LABEL_CHARS: usize = 200;
/// Characters of a cell read into a contact (name, address, procedure …): a longer one
/// rejects its row, so that what is stored per row stays small (the rule is the domain's).
pub use crate::domain::respondent_list::MAX_FIELD_CHARS;

/// A limit a file went beyond; the message names the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    #[error("tệp có hơn {n} dòng (giới hạn {n} dòng mỗi tệp; hãy chia danh sách thành nhiều tệp)", n = number(MAX_ROWS))]
    Rows,
    #[error("dòng {0} có hơn {n} cột (giới hạn {n} cột mỗi dòng)", n = number(MAX_COLUMNS))]
    Columns(usize),
    #[error("dòng {0} có hơn {n} ô kể cả ô trống (giới hạn {n} ô mỗi dòng)", n = number(MAX_CSV_FIELDS))]
    Fields(usize),
    #[error("dòng {0} có một ô dài hơn giới hạn {k} KiB mỗi ô", k = MAX_CELL_BYTES / 1024)]
    Cell(usize),
    #[error("dòng {0} dài hơn giới hạn {k} KiB mỗi dòng", k = MAX_LINE_BYTES / 1024)]
    Line(usize),
    #[error("các ô của tệp có hơn {m} MiB chữ (giới hạn {m} MiB mỗi tệp; hãy chia danh sách thành nhiều tệp)", m = MAX_FILE_TEXT_BYTES / 1024 / 1024)]
    Text,
    #[error("tệp Excel có hơn {n} phần nén (giới hạn {n})", n = number(MAX_ZIP_ENTRIES))]
    Entries,
    #[error("mục lục của tệp Excel dài hơn giới hạn {} MiB", MAX_ZIP_DIRECTORY_BYTES / 1024 / 1024)]
    Directory,
    #[error("phần “{0}” của tệp Excel giải nén ra hơn giới hạn {m} MiB", m = MAX_PART_BYTES / 1024 / 1024)]
    PartSize(String),
    #[error("phần “{0}” của tệp Excel nén hơn {r}:1, vượt giới hạn tỉ lệ nén {r}:1 (tệp bất thường, có thể là bom nén)", r = MAX_RATIO)]
    Ratio(String),
    #[error("phần “{0}” của tệp Excel có một đoạn XML dài hơn giới hạn {k} KiB", k = MAX_XML_RUN / 1024)]
    XmlRun(String),
    #[error("tệp Excel có hơn {n} chuỗi dùng chung (giới hạn {n}; hãy lưu danh sách thành CSV)", n = number(MAX_SHARED_STRINGS))]
    SharedStrings,
    #[error("một chuỗi dùng chung của tệp Excel dài hơn giới hạn {} KiB mỗi ô", MAX_CELL_BYTES / 1024)]
    SharedString,
    #[error("chuỗi dùng chung của tệp Excel dài hơn giới hạn {} MiB (hãy lưu danh sách thành CSV)", MAX_SHARED_BYTES / 1024 / 1024)]
    SharedBytes,
}

fn number(n: usize) -> String {
    crate::domain::text::thousands(n as i64)
}

/// Checks every row a reader hands on, whatever the reader: the row count, the columns
/// and the bytes. Readers check the same limits earlier, before allocating; this is the
/// one place that guarantees them for every upload path.
#[derive(Debug, Default)]
pub struct RowBudget {
    rows: usize,
    text: u64,
}

impl RowBudget {
    pub fn row(&mut self, line: usize, cells: &[String]) -> Result<(), LimitExceeded> {
        self.line()?;
        if cells.len() > MAX_COLUMNS {
            return Err(LimitExceeded::Columns(line));
        }
        let mut total = 0;
        for cell in cells {
            if cell.len() > MAX_CELL_BYTES {
                return Err(LimitExceeded::Cell(line));
            }
            total += cell.len();
        }
        if total > MAX_LINE_BYTES {
            return Err(LimitExceeded::Line(line));
        }
        self.text += total as u64;
        if self.text > MAX_FILE_TEXT_BYTES {
            return Err(LimitExceeded::Text);
        }
        Ok(())
    }

    /// Counts a line that could not be read: it still takes a report line.
    pub fn line(&mut self) -> Result<(), LimitExceeded> {
        self.rows += 1;
        if self.rows > MAX_ROWS {
            return Err(LimitExceeded::Rows);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_lists_fit_within_the_limits() {
        const { assert!(MAX_ROWS >= 2_000_000 + 100, "two million rows and a title block") };
        const { assert!(MAX_CELL_BYTES >= 32_767 * 2, "an Excel cell of Vietnamese text") };
        const { assert!(MAX_LINE_BYTES >= 4 * MAX_CELL_BYTES) };
        const { assert!(MAX_XML_RUN >= 6 * MAX_CELL_BYTES, "a cell's text with every character escaped") };
        assert_eq!(number(2_500_000), "2.500.000");
        assert_eq!(number(100), "100");
    }

    #[test]
    fn the_budget_counts_rows_and_measures_cells() {
        let mut budget = RowBudget::default();
        assert!(budget.row(1, &["a".repeat(MAX_CELL_BYTES)]).is_ok());
        assert_eq!(budget.row(2, &["a".repeat(MAX_CELL_BYTES + 1)]), Err(LimitExceeded::Cell(2)));
        assert_eq!(budget.row(3, &vec![String::new(); MAX_COLUMNS + 1]), Err(LimitExceeded::Columns(3)));
        let wide = vec!["a".repeat(MAX_CELL_BYTES); MAX_LINE_BYTES / MAX_CELL_BYTES + 1];
        assert_eq!(budget.row(4, &wide), Err(LimitExceeded::Line(4)));
        let mut budget = RowBudget { rows: MAX_ROWS - 1, text: 0 };
        assert!(budget.line().is_ok());
        assert_eq!(budget.row(9, &[]), Err(LimitExceeded::Rows));
        assert!(LimitExceeded::Rows.to_string().contains("2.500.000 dòng"));
    }

    #[test]
    fn the_budget_bounds_the_text_of_the_whole_file() {
        // Shared strings let a small workbook refer to one long string from every cell.
        let long = vec!["a".repeat(MAX_CELL_BYTES); MAX_LINE_BYTES / MAX_CELL_BYTES];
        let rows_allowed = MAX_FILE_TEXT_BYTES / MAX_LINE_BYTES as u64;
        let mut budget = RowBudget::default();
        for line in 0..rows_allowed as usize {
            assert!(budget.row(line, &long).is_ok(), "line {line}");
        }
        assert_eq!(budget.row(rows_allowed as usize, &long), Err(LimitExceeded::Text));
        assert!(LimitExceeded::Text.to_string().contains("1024 MiB"));
    }
}
