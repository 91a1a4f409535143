//! Reading agencies' files row by row, without holding the file in memory: CSV (UTF-8 with
//! or without BOM, or Windows-1258; comma, semicolon or tab) and XLSX.

use super::list_limits::{LimitExceeded, MAX_COLUMNS, MAX_CSV_FIELDS, MAX_LINE_BYTES, RowBudget};
use crate::scratch::Reopen;
use std::io::{BufRead, BufReader, Read};

#[derive(Debug, thiserror::Error)]
pub enum ListFileError {
    #[error("không đọc được tệp: {0}")]
    Unreadable(String),
    #[error("tệp Excel không có trang tính nào")]
    EmptyWorkbook,
    #[error("dòng {line}: {reason}")]
    BadLine { line: usize, reason: String },
    #[error("tệp vượt giới hạn: {0}")]
    Limit(#[from] LimitExceeded),
}

/// A data row with its line number as the spreadsheet shows it.
pub type Row = (usize, Vec<String>);

pub type Rows = Box<dyn Iterator<Item = Result<Row, ListFileError>> + Send>;

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// Opens `source` by content, not by name: spreadsheets arrive renamed more often than not.
pub fn open_rows(source: &(impl Reopen + ?Sized)) -> Result<Rows, ListFileError> {
    let unreadable = |e: std::io::Error| ListFileError::Unreadable(e.to_string());
    let mut head = [0u8; 4096];
    let read = source.reopen().and_then(|mut f| f.read(&mut head)).map_err(unreadable)?;
    let head = &head[..read];
    let rows = if head.starts_with(ZIP_MAGIC) { super::list_xlsx::xlsx_rows(source)? } else { csv_rows(source, head)? };
    Ok(budgeted(rows))
}

/// Every reader's rows go through the one [`RowBudget`] of the file.
fn budgeted(rows: Rows) -> Rows {
    let mut budget = RowBudget::default();
    let mut failed = false;
    Box::new(rows.map_while(move |row| {
        if failed {
            return None;
        }
        let checked = match &row {
            Ok((line, cells)) => budget.row(*line, cells),
            Err(ListFileError::BadLine { .. }) => budget.line(),
            Err(_) => Ok(()),
        };
        failed = checked.is_err() || matches!(row, Err(ListFileError::Limit(_) | ListFileError::Unreadable(_)));
        Some(checked.map_err(ListFileError::from).and(row))
    }))
}

fn csv_rows(source: &(impl Reopen + ?Sized), head: &[u8]) -> Result<Rows, ListFileError> {
    let delimiter = sniff_delimiter(head);
    let file = source.reopen().map_err(|e| ListFileError::Unreadable(e.to_string()))?;
    let utf8 = head.starts_with(b"\xEF\xBB\xBF") || is_probably_utf8(head);
    let text: Box<dyn Read + Send> = if utf8 {
        Box::new(BufReader::new(file))
    } else {
        // Windows-1258 is decoded as it is read, a buffer at a time.
        Box::new(BufReader::new(
            encoding_rs_io::DecodeReaderBytesBuilder::new()
                .encoding(Some(encoding_rs::WINDOWS_1258))
                .build(BufReader::new(file)),
        ))
    };
    let records = BoundedCsv::new(BufReader::new(KeepBlankLines::new(text)), delimiter, MAX_CSV_FIELDS, MAX_LINE_BYTES);
    Ok(Box::new(records.map(|record| {
        record.map(|(line, mut cells)| {
            // Trailing empty fields, which some exports write, are no columns.
            while cells.len() > 1 && cells.last().is_some_and(String::is_empty) {
                cells.pop();
            }
            (line, cells.into_iter().map(|c| c.trim_start_matches('\u{feff}').to_string()).collect())
        })
    })))
}

/// CSV records read with the buffers capped: the `csv` crate grows its record without
/// limit, so a line of separators or a 100 MB line would take memory in proportion.
/// Here a record longer than `max_bytes` or with more than `max_fields` fields stops the
/// file with the limit named; memory stays at most a few times `max_bytes`.
struct BoundedCsv<R> {
    input: R,
    core: csv_core::Reader,
    max_fields: usize,
    max_bytes: usize,
    /// The record's bytes and where its fields end, reused from record to record.
    out: Vec<u8>,
    ends: Vec<usize>,
    done: bool,
}

impl<R: BufRead> BoundedCsv<R> {
    fn new(input: R, delimiter: u8, max_fields: usize, max_bytes: usize) -> Self {
        let core = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
        let (out, ends) = (vec![0; 1024.min(max_bytes)], vec![0; 16.min(max_fields + 1)]);
        Self { input, core, max_fields, max_bytes, out, ends, done: false }
    }

    fn record(&mut self) -> Result<Option<Row>, ListFileError> {
        use csv_core::ReadRecordResult::*;
        let line = self.core.line() as usize;
        let (out, ends) = (&mut self.out, &mut self.ends);
        let (mut out_len, mut ends_len) = (0, 0);
        loop {
            let input = self.input.fill_buf().map_err(|e| ListFileError::Unreadable(e.to_string()))?;
            let (result, read, written, ended) =
                self.core.read_record(input, &mut out[out_len..], &mut ends[ends_len..]);
            self.input.consume(read);
            out_len += written;
            ends_len += ended;
            match result {
                InputEmpty => continue,
                OutputFull if out.len() >= self.max_bytes => return Err(LimitExceeded::Line(line).into()),
                OutputFull => out.resize((out.len() * 2).min(self.max_bytes), 0),
                OutputEndsFull if ends.len() > self.max_fields => return Err(LimitExceeded::Fields(line).into()),
                OutputEndsFull => ends.resize((ends.len() * 2).min(self.max_fields + 1), 0),
                Record => break,
                End => return Ok(None),
            }
        }
        let mut cells = Vec::with_capacity(ends_len);
        let mut start = 0;
        for &end in &ends[..ends_len] {
            match std::str::from_utf8(&out[start..end]) {
                Ok(cell) => cells.push(cell.to_string()),
                Err(_) => {
                    return Err(ListFileError::BadLine {
                        line, reason: "dòng có ký tự không phải UTF-8".into()
                    });
                }
            }
            start = end;
        }
        Ok(Some((line, cells)))
    }
}

impl<R: BufRead> Iterator for BoundedCsv<R> {
    type Item = Result<Row, ListFileError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let record = self.record().transpose();
        // A limit or a read error ends the file; a line that is not UTF-8 does not.
        self.done = matches!(record, None | Some(Err(ListFileError::Limit(_) | ListFileError::Unreadable(_))));
        record
    }
}

/// UTF-8 unless the first bytes contain a sequence UTF-8 cannot have (a cut-off character
/// at the end of the sample does not count).
fn is_probably_utf8(head: &[u8]) -> bool {
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

/// The delimiter used most in the first lines, outside quotes.
fn sniff_delimiter(head: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in head.iter().take(4096) {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3).max_by_key(|&i| (counts[i], std::cmp::Reverse(i))).unwrap_or(0);
    [b',', b';', b'\t'][best]
}

/// The CSV reader skips empty lines and then reports the next record at the empty line's
/// number, and miscounts after a CRLF empty line. This adapter turns CRLF and lone CR into
/// LF and puts a space into each empty line, so every line is a record carrying the number
/// the officer sees; empty records are skipped later.
struct KeepBlankLines<R> {
    inner: R,
    previous: u8,
    after_cr: bool,
    pending: Option<u8>,
}

impl<R: Read> KeepBlankLines<R> {
    fn new(inner: R) -> Self {
        Self { inner, previous: b'\n', after_cr: false, pending: None }
    }

    fn next_byte(&mut self) -> std::io::Result<Option<u8>> {
        loop {
            let mut one = [0u8; 1];
            // Byte-sized reads are fine: the source is buffered and so is the CSV reader.
            if self.inner.read(&mut one)? == 0 {
                return Ok(None);
            }
            let byte = one[0];
            if self.after_cr && byte == b'\n' {
                self.after_cr = false;
                continue;
            }
            self.after_cr = byte == b'\r';
            return Ok(Some(if byte == b'\r' { b'\n' } else { byte }));
        }
    }
}

impl<R: Read> Read for KeepBlankLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut written = 0;
        while written < buf.len() {
            let byte = match self.pending.take() {
                Some(b) => b,
                None => match self.next_byte()? {
                    Some(b) if b == b'\n' && self.previous == b'\n' => {
                        self.pending = Some(b);
                        b' '
                    }
                    Some(b) => b,
                    None => break,
                },
            };
            buf[written] = byte;
            written += 1;
            self.previous = byte;
        }
        Ok(written)
    }
}

#[cfg(test)]
mod kept_copy_tests {
    use super::*;

    #[test]
    fn a_kept_copy_reads_back_as_written_without_the_dropped_columns() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut copy = KeptCopy::new(file.reopen().unwrap(), vec![2]);
        let cell = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        copy.row(&(1, cell(&["Họ tên", "SĐT", "Số CCCD"]))).unwrap();
        copy.row(&(4, cell(&["Nguyễn Văn An", "0912, \"345\"", "001099001234"]))).unwrap();
        copy.unreadable(5, "dòng 5: lỗi").unwrap();
        copy.row(&(7, cell(&[]))).unwrap();
        copy.finish().unwrap();
        let rows: Vec<_> = kept_copy_rows(file.path()).unwrap().collect();
        assert_eq!(rows[0].as_ref().unwrap(), &(1, cell(&["Họ tên", "SĐT", ""])));
        assert_eq!(rows[1].as_ref().unwrap(), &(4, cell(&["Nguyễn Văn An", "0912, \"345\"", ""])));
        assert!(matches!(&rows[2], Err(ListFileError::BadLine { line: 5, reason }) if reason == "dòng 5: lỗi"));
        assert_eq!(rows[3].as_ref().unwrap(), &(7, cell(&[])));
        assert!(!std::fs::read_to_string(file.path()).unwrap().contains("001099001234"));
    }

    #[test]
    fn a_kept_copy_is_read_again_under_the_same_limits() {
        use std::io::Write;
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "1,,Họ tên,Địa chỉ").unwrap();
        writeln!(file, "2,,{}", "a".repeat(MAX_LINE_BYTES + 100)).unwrap();
        let rows: Vec<_> = kept_copy_rows(file.path()).unwrap().collect();
        assert_eq!(rows.len(), 2, "reading stops at the limit");
        assert!(matches!(rows[1], Err(ListFileError::Limit(LimitExceeded::Line(2)))), "{:?}", rows[1]);
        let mut wide = tempfile::NamedTempFile::new().unwrap();
        writeln!(wide, "1,{}a", ",".repeat(MAX_COLUMNS + 5)).unwrap();
        let rows: Vec<_> = kept_copy_rows(wide.path()).unwrap().collect();
        assert!(matches!(rows[..], [Err(ListFileError::Limit(LimitExceeded::Fields(1)))]), "{rows:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_temp(bytes: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("phieu-list-{}", uuid::Uuid::new_v4().simple()));
        std::fs::File::create(&path).unwrap().write_all(bytes).unwrap();
        path
    }

    fn rows_of(bytes: &[u8]) -> Vec<Row> {
        let path = write_temp(bytes);
        let rows = open_rows(&path).unwrap().map(Result::unwrap).collect();
        let _ = std::fs::remove_file(path);
        rows
    }

    #[test]
    fn utf8_csv_with_bom_semicolons_and_blank_lines_keeps_line_numbers() {
        let rows = rows_of(
            "\u{feff}Họ và tên;SĐT\nNguyễn Văn An;0912345678\n\n\r\nTrần Thị Bình;\"0987 654 321\"\n".as_bytes(),
        );
        let data: Vec<_> = rows.iter().filter(|(_, cells)| cells.iter().any(|c| !c.trim().is_empty())).collect();
        assert_eq!(data[0], &(1, vec!["Họ và tên".to_string(), "SĐT".into()]));
        assert_eq!(data[1], &(2, vec!["Nguyễn Văn An".to_string(), "0912345678".into()]));
        assert_eq!(data[2], &(5, vec!["Trần Thị Bình".to_string(), "0987 654 321".into()]));
    }

    #[test]
    fn windows_1258_csv_is_decoded_to_unicode() {
        // "Hà Nội" in Windows-1258: H, a + combining grave (0xCC), space, N, ô (0xF4) + dot below (0xF2), i.
        let bytes = b"Ho ten,Dia chi\r\nAn,H\x61\xCC N\xF4\xF2i\r\n";
        let rows = rows_of(bytes);
        let address: String = unicode_normalization::UnicodeNormalization::nfc(rows[1].1[1].as_str()).collect();
        assert_eq!(address, "Hà Nội");
    }

    #[test]
    fn tab_separated_lists_are_recognised() {
        let rows = rows_of(b"Ho ten\tSDT\nAn\t0912345678\n");
        assert_eq!(rows[1].1, vec!["An".to_string(), "0912345678".into()]);
    }

    #[test]
    fn csv_lines_beyond_the_limits_stop_the_file_with_the_limit() {
        let path = write_temp(format!("Họ tên,SĐT\nAn,09\n{}\nBình,08\n", "x".repeat(MAX_LINE_BYTES + 1)).as_bytes());
        let rows: Vec<_> = open_rows(&path).unwrap().collect();
        assert_eq!(rows.len(), 3);
        assert!(matches!(rows[2], Err(ListFileError::Limit(LimitExceeded::Line(3)))), "{:?}", rows[2]);
        let _ = std::fs::remove_file(path);
        // A quoted field running over many short lines is one record, and bounded as one.
        let path = write_temp(format!("Họ tên,SĐT\n\"{}", "ab\n".repeat(MAX_LINE_BYTES)).as_bytes());
        let rows: Vec<_> = open_rows(&path).unwrap().collect();
        assert!(matches!(rows[1], Err(ListFileError::Limit(LimitExceeded::Line(2)))), "{:?}", rows[1]);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn trailing_empty_fields_are_no_columns_but_are_bounded() {
        let path =
            write_temp(format!("Họ tên,SĐT{}\nAn,09{}\n", ",".repeat(5_000), ",".repeat(MAX_CSV_FIELDS)).as_bytes());
        let rows: Vec<_> = open_rows(&path).unwrap().collect();
        assert_eq!(rows[0].as_ref().unwrap(), &(1, vec!["Họ tên".to_string(), "SĐT".into()]));
        assert!(matches!(rows[1], Err(ListFileError::Limit(LimitExceeded::Fields(2)))), "{:?}", rows[1]);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_line_that_is_not_utf8_is_reported_and_reading_goes_on() {
        let rows: Vec<_> = {
            // Past the sample the encoding is judged on, so the file is read as UTF-8.
            let mut bytes = b"Ho ten,SDT\n".to_vec();
            bytes.extend(b"An,09\n".repeat(1000));
            bytes.extend(b"B\xffnh,08\nChi,07\n");
            let path = write_temp(&bytes);
            let rows = open_rows(&path).unwrap().collect();
            let _ = std::fs::remove_file(path);
            rows
        };
        assert!(matches!(&rows[1001], Err(ListFileError::BadLine { line: 1002, .. })), "{:?}", rows[1001]);
        assert_eq!(rows[1002].as_ref().unwrap(), &(1003, vec!["Chi".to_string(), "07".into()]));
    }

    #[test]
    fn a_file_that_is_neither_csv_nor_xlsx_is_refused_clearly() {
        let path = write_temp(b"PK\x03\x04not really a zip");
        let error = open_rows(&path).err().expect("refused");
        assert!(error.to_string().starts_with("không đọc được tệp"), "{error}");
        let _ = std::fs::remove_file(path);
    }
}

/// The copy of a list kept while it is pending, so that a corrected column mapping can read
/// it again: UTF-8 CSV whose records are the original line number, a kind (empty for a row,
/// `!` for a line the reader could not read, followed by the reason) and the cells, with
/// the columns that are never kept (identity documents, birth dates) left empty.
pub struct KeptCopy {
    writer: csv::Writer<Box<dyn std::io::Write + Send>>,
    dropped: Vec<usize>,
}

const UNREADABLE: &str = "!";

impl KeptCopy {
    pub fn new(file: impl std::io::Write + Send + 'static, mut dropped: Vec<usize>) -> Self {
        dropped.sort_unstable();
        let file: Box<dyn std::io::Write + Send> = Box::new(file);
        Self { writer: csv::WriterBuilder::new().flexible(true).from_writer(file), dropped }
    }

    pub fn row(&mut self, (line, cells): &Row) -> std::io::Result<()> {
        // `dropped` is sorted: a search, not a scan, per cell.
        let kept =
            cells.iter().enumerate().map(|(i, c)| if self.dropped.binary_search(&i).is_ok() { "" } else { c.as_str() });
        let line = line.to_string();
        self.writer.write_record([line.as_str(), ""].into_iter().chain(kept)).map_err(std::io::Error::other)
    }

    pub fn unreadable(&mut self, line: usize, reason: &str) -> std::io::Result<()> {
        self.writer.write_record([line.to_string().as_str(), UNREADABLE, reason]).map_err(std::io::Error::other)
    }

    pub fn finish(mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

/// Reads a kept copy back as the rows (and unreadable lines) it was written from.
pub fn kept_copy_rows(source: &(impl Reopen + ?Sized)) -> Result<Rows, ListFileError> {
    let corrupt = |e: &dyn std::fmt::Display| ListFileError::Unreadable(format!("bản lưu danh sách hỏng: {e}"));
    let file = source.reopen().map_err(|e| corrupt(&e))?;
    // The same bounded reader as an upload's: a line number and a kind before the cells.
    let records = BoundedCsv::new(BufReader::new(file), b',', MAX_COLUMNS + 2, MAX_LINE_BYTES + 64);
    let rows = records.map(move |record| {
        let (_, record) = record.map_err(|e| match e {
            ListFileError::BadLine { reason, .. } => corrupt(&reason),
            other => other,
        })?;
        let line: usize = record.first().and_then(|l| l.parse().ok()).ok_or_else(|| corrupt(&"số dòng"))?;
        match record.get(1).map(String::as_str) {
            Some(UNREADABLE) => {
                Err(ListFileError::BadLine { line, reason: record.get(2).cloned().unwrap_or_default() })
            }
            _ => Ok((line, record.into_iter().skip(2).collect())),
        }
    });
    Ok(budgeted(Box::new(rows)))
}
