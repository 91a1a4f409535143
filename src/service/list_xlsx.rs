//! Reading the first sheet of an XLSX workbook row by row, under the limits of
//! [`super::list_limits`]: every part is decompressed through a counting reader (size and
//! compression ratio), shared strings are kept compactly and counted as read (the count a
//! file declares is never trusted), and no row, cell or XML run grows past its limit.
//! Nothing runs on another thread, so nothing can be left behind by a panic.

use super::list_files::{ListFileError, Row, Rows};
use super::list_limits::*;
use crate::scratch::{ReadSeek, Reopen};
use quick_xml::events::{BytesStart, Event};
use std::collections::HashMap;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

fn unreadable(e: impl std::fmt::Display) -> ListFileError {
    ListFileError::Unreadable(e.to_string())
}

/// Where a part's bytes are in the archive.
struct Part {
    name: String,
    start: u64,
    compressed: u64,
    deflated: bool,
}

/// The parts of the archive, without reading any of them.
fn parts(source: &(impl Reopen + ?Sized)) -> Result<HashMap<String, Part>, ListFileError> {
    let mut file = source.reopen().map_err(unreadable)?;
    check_directory(&mut file)?;
    let mut archive = zip::ZipArchive::new(file).map_err(unreadable)?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(LimitExceeded::Entries.into());
    }
    let mut parts = HashMap::new();
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(unreadable)?;
        let deflated = match entry.compression() {
            zip::CompressionMethod::Stored => false,
            zip::CompressionMethod::Deflated => true,
            _ => continue,
        };
        if entry.encrypted() {
            continue;
        }
        let Some(start) = entry.data_start() else { continue };
        let name = entry.name().map_err(unreadable)?.trim_start_matches('/').to_string();
        parts.insert(name.clone(), Part { name, start, compressed: entry.compressed_size(), deflated });
    }
    Ok(parts)
}

/// Checks the end-of-central-directory record before the zip reader builds its table of
/// entries (which holds every entry's name, extra field and comment): the entry count and
/// the table's size must be within the limits, and the record must end the file, so that a
/// record faked inside an archive comment cannot stand in for the real one. A ZIP64 archive
/// (no workbook needs one) counts as too many entries.
fn check_directory(file: &mut Box<dyn ReadSeek>) -> Result<(), ListFileError> {
    const RECORD: usize = 22;
    let length = file.seek(SeekFrom::End(0)).map_err(unreadable)?;
    let tail_length = length.min(RECORD as u64 + u16::MAX as u64);
    file.seek(SeekFrom::Start(length - tail_length)).map_err(unreadable)?;
    let mut tail = vec![0u8; tail_length as usize];
    file.read_exact(&mut tail).map_err(unreadable)?;
    let record = tail
        .windows(4)
        .rposition(|w| w == b"PK\x05\x06")
        .and_then(|at| tail.get(at..at + RECORD).map(|r| (at, r)))
        .ok_or_else(|| unreadable("không phải tệp Excel (.xlsx) hợp lệ"))?;
    let (at, record) = record;
    let u16_at = |i: usize| u16::from_le_bytes([record[i], record[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([record[i], record[i + 1], record[i + 2], record[i + 3]]);
    if at + RECORD + u16_at(20) as usize != tail.len() {
        return Err(unreadable("không phải tệp Excel (.xlsx) hợp lệ"));
    }
    if u16_at(10) == u16::MAX || u16_at(10) as usize > MAX_ZIP_ENTRIES {
        return Err(LimitExceeded::Entries.into());
    }
    if u32_at(12) as usize > MAX_ZIP_DIRECTORY_BYTES {
        return Err(LimitExceeded::Directory.into());
    }
    Ok(())
}

/// Counts the decompressed bytes of a part and the bytes between two `<`, stopping at the
/// limits; the limit hit is kept for the caller (the XML reader only sees an I/O error).
struct Counting<R> {
    inner: R,
    name: String,
    read: u64,
    run: usize,
    hit: LimitHit,
    /// Compressed bytes taken from the file so far: the ratio is checked as the part is
    /// read, so a uniform bomb stops after its first MiB.
    compressed: Arc<AtomicU64>,
}

/// Counts the compressed bytes read from the archive.
struct CompressedCount<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CompressedCount<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        let mut hit = None;
        let so_far = self.compressed.load(Ordering::Relaxed).saturating_mul(MAX_RATIO);
        if self.read > RATIO_FREE_BYTES && self.read > so_far {
            hit = Some(LimitExceeded::Ratio(self.name.clone()));
        } else if self.read > MAX_PART_BYTES {
            hit = Some(LimitExceeded::PartSize(self.name.clone()));
        }
        for &byte in &buf[..n] {
            self.run = if byte == b'<' { 0 } else { self.run + 1 };
            if self.run > MAX_XML_RUN {
                hit = Some(LimitExceeded::XmlRun(self.name.clone()));
            }
        }
        if let Some(limit) = hit {
            *self.hit.lock().unwrap_or_else(|e| e.into_inner()) = Some(limit.clone());
            return Err(std::io::Error::other(limit.to_string()));
        }
        Ok(n)
    }
}

/// Where a counting reader leaves the limit it hit.
type LimitHit = Arc<Mutex<Option<LimitExceeded>>>;

type Xml = quick_xml::Reader<BufReader<Counting<Box<dyn Read + Send>>>>;

/// An XML reader over one part, and the limit it hits if it does.
fn open(source: &(impl Reopen + ?Sized), part: &Part) -> Result<(Xml, LimitHit), ListFileError> {
    let mut file = source.reopen().map_err(unreadable)?;
    file.seek(SeekFrom::Start(part.start)).map_err(unreadable)?;
    let compressed = Arc::new(AtomicU64::new(0));
    let raw = BufReader::new(CompressedCount { inner: file.take(part.compressed), count: compressed.clone() });
    let data: Box<dyn Read + Send> =
        if part.deflated { Box::new(flate2::bufread::DeflateDecoder::new(raw)) } else { Box::new(raw) };
    let hit = Arc::new(Mutex::new(None));
    let counting = Counting { inner: data, name: part.name.clone(), read: 0, run: 0, hit: hit.clone(), compressed };
    let mut xml = quick_xml::Reader::from_reader(BufReader::new(counting));
    // No stack of open elements: nesting cannot grow memory.
    xml.config_mut().check_end_names = false;
    xml.config_mut().expand_empty_elements = false;
    Ok((xml, hit))
}

/// Reads the next event, turning an I/O error caused by a limit into that limit.
fn next<'b>(
    xml: &mut Xml,
    hit: &Mutex<Option<LimitExceeded>>,
    buf: &'b mut Vec<u8>,
) -> Result<Event<'b>, ListFileError> {
    buf.clear();
    xml.read_event_into(buf).map_err(|e| match hit.lock().unwrap_or_else(|e| e.into_inner()).take() {
        Some(limit) => ListFileError::Limit(limit),
        None => unreadable(format!("tệp Excel hỏng: {e}")),
    })
}

fn attribute(element: &BytesStart, name: &str) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok().map(|v| v.into_owned()))
}

/// `&amp;`, `&#233;` … as the text they stand for.
fn push_reference(text: &mut String, reference: &str) {
    match reference {
        "amp" => text.push('&'),
        "lt" => text.push('<'),
        "gt" => text.push('>'),
        "quot" => text.push('"'),
        "apos" => text.push('\''),
        _ => {
            if let Ok(Some(c)) = quick_xml::events::BytesRef::new(reference).resolve_char_ref() {
                text.push(c)
            }
        }
    }
}

/// The path of the first sheet and of the shared strings, from the workbook and its
/// relationships; the usual names when those are missing.
fn locate(
    source: &(impl Reopen + ?Sized),
    parts: &HashMap<String, Part>,
) -> Result<(String, Option<String>), ListFileError> {
    let mut first_sheet = None;
    if let Some(part) = parts.get("xl/workbook.xml") {
        let (mut xml, hit) = open(source, part)?;
        let mut buf = Vec::new();
        loop {
            match next(&mut xml, &hit, &mut buf)? {
                Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "sheet" => {
                    first_sheet = attribute(&e, "id");
                    break;
                }
                Event::Eof => break,
                _ => {}
            }
        }
    }
    let mut targets = HashMap::new();
    let mut shared = None;
    if let Some(part) = parts.get("xl/_rels/workbook.xml.rels") {
        let (mut xml, hit) = open(source, part)?;
        let mut buf = Vec::new();
        loop {
            match next(&mut xml, &hit, &mut buf)? {
                Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "Relationship" => {
                    let (Some(id), Some(target)) = (attribute(&e, "Id"), attribute(&e, "Target")) else { continue };
                    let target = match target.strip_prefix('/') {
                        Some(absolute) => absolute.to_string(),
                        None => format!("xl/{target}"),
                    };
                    if attribute(&e, "Type").is_some_and(|t| t.ends_with("/sharedStrings")) {
                        shared = Some(target.clone());
                    }
                    if targets.len() < MAX_ZIP_ENTRIES {
                        targets.insert(id, target);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
    }
    let sheet = first_sheet
        .and_then(|id| targets.remove(&id))
        .filter(|t| parts.contains_key(t))
        .or_else(|| parts.contains_key("xl/worksheets/sheet1.xml").then(|| "xl/worksheets/sheet1.xml".into()))
        .ok_or(ListFileError::EmptyWorkbook)?;
    let shared = shared.or_else(|| Some("xl/sharedStrings.xml".into())).filter(|s| parts.contains_key(s));
    Ok((sheet, shared))
}

/// Shared strings in one place: texts in chunks that are never moved once full, and
/// where each text starts and how long it is.
#[derive(Default)]
struct SharedStrings {
    chunks: Vec<String>,
    spans: Vec<(u32, u32, u32)>,
    bytes: usize,
}

const CHUNK: usize = 1024 * 1024;

impl SharedStrings {
    fn push(&mut self, text: &str) -> Result<(), LimitExceeded> {
        if self.spans.len() >= MAX_SHARED_STRINGS {
            return Err(LimitExceeded::SharedStrings);
        }
        self.bytes += text.len();
        if self.bytes > MAX_SHARED_BYTES {
            return Err(LimitExceeded::SharedBytes);
        }
        if self.chunks.last().is_none_or(|c| c.len() + text.len() > c.capacity()) {
            self.chunks.push(String::with_capacity(CHUNK.max(text.len())));
        }
        let chunk = self.chunks.len() - 1;
        let start = self.chunks[chunk].len();
        self.chunks[chunk].push_str(text);
        self.spans.push((chunk as u32, start as u32, text.len() as u32));
        Ok(())
    }

    fn get(&self, index: usize) -> Option<&str> {
        let &(chunk, start, length) = self.spans.get(index)?;
        self.chunks.get(chunk as usize)?.get(start as usize..(start + length) as usize)
    }
}

fn read_shared_strings(source: &(impl Reopen + ?Sized), part: &Part) -> Result<SharedStrings, ListFileError> {
    let (mut xml, hit) = open(source, part)?;
    let mut strings = SharedStrings::default();
    let mut buf = Vec::new();
    let mut text = String::new();
    // Inside <si>; inside <t>; inside a phonetic run (<rPh>), whose text is not the cell's.
    let (mut item, mut in_text, mut phonetic) = (false, false, false);
    loop {
        match next(&mut xml, &hit, &mut buf)? {
            Event::Start(e) => match e.local_name().as_ref() {
                "sst" => {
                    let declared = attribute(&e, "uniqueCount").and_then(|c| c.parse::<u128>().ok());
                    if declared.is_some_and(|c| c > MAX_SHARED_STRINGS as u128) {
                        return Err(LimitExceeded::SharedStrings.into());
                    }
                }
                "si" => (item, in_text, phonetic) = (true, false, false),
                "t" => in_text = true,
                "rPh" => phonetic = true,
                _ => {}
            },
            Event::Empty(e) if e.local_name().as_ref() == "si" => strings.push("")?,
            Event::End(e) => match e.local_name().as_ref() {
                "si" if item => {
                    strings.push(&text)?;
                    text.clear();
                    item = false;
                }
                "t" => in_text = false,
                "rPh" => phonetic = false,
                _ => {}
            },
            Event::Text(t) if item && in_text && !phonetic => text.push_str(&t.xml10_content()),
            Event::CData(t) if item && in_text && !phonetic => text.push_str(&t),
            Event::GeneralRef(r) if item && in_text && !phonetic => push_reference(&mut text, &r),
            Event::Eof => break,
            _ => {}
        }
        if text.len() > MAX_CELL_BYTES {
            return Err(LimitExceeded::SharedString.into());
        }
    }
    Ok(strings)
}

/// "BC12" → column 54 (from 0); none when the reference has no letters.
fn column_of(reference: &str) -> Option<usize> {
    let mut column = 0usize;
    let mut any = false;
    for c in reference.chars().take_while(|c| c.is_ascii_alphabetic()) {
        column = column.checked_mul(26)?.checked_add((c.to_ascii_uppercase() as u8 - b'A') as usize + 1)?;
        any = true;
    }
    any.then(|| column - 1)
}

pub fn xlsx_rows(source: &(impl Reopen + ?Sized)) -> Result<Rows, ListFileError> {
    let parts = parts(source)?;
    let (sheet, shared) = locate(source, &parts)?;
    let shared = match shared {
        Some(name) => read_shared_strings(source, &parts[&name])?,
        None => SharedStrings::default(),
    };
    let (xml, hit) = open(source, &parts[&sheet])?;
    Ok(Box::new(SheetRows { xml, hit, shared, buf: Vec::new(), last_row: 0, done: false }))
}

struct SheetRows {
    xml: Xml,
    hit: LimitHit,
    shared: SharedStrings,
    buf: Vec<u8>,
    last_row: usize,
    done: bool,
}

/// The cell being read: where it is, its type, and its text so far.
struct Cell {
    column: usize,
    kind: String,
    text: String,
}

impl SheetRows {
    /// The next row with at least one cell, numbered as the spreadsheet shows it.
    fn row(&mut self) -> Result<Option<Row>, ListFileError> {
        let mut row: Option<(usize, Vec<String>, usize)> = None;
        let mut cell: Option<Cell> = None;
        // Inside <v> or <t>; inside a phonetic run (<rPh>), whose text is not the cell's.
        let (mut in_value, mut phonetic) = (false, false);
        loop {
            let event = next(&mut self.xml, &self.hit, &mut self.buf)?;
            match event {
                Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "row" => {
                    let number = attribute(&e, "r").and_then(|r| r.parse().ok()).unwrap_or(self.last_row + 1);
                    self.last_row = number;
                    row = Some((number, Vec::new(), 0));
                }
                Event::End(e) if e.local_name().as_ref() == "row" => {
                    if let Some((line, cells, _)) = row.take()
                        && !cells.is_empty()
                    {
                        return Ok(Some((line, cells)));
                    }
                }
                Event::Start(e) if e.local_name().as_ref() == "c" => {
                    let Some((line, cells, _)) = &row else { continue };
                    let column = attribute(&e, "r").and_then(|r| column_of(&r)).unwrap_or(cells.len());
                    if column >= MAX_COLUMNS {
                        return Err(LimitExceeded::Columns(*line).into());
                    }
                    let kind = attribute(&e, "t").unwrap_or_default();
                    cell = Some(Cell { column, kind, text: String::new() });
                }
                Event::Start(e) if matches!(e.local_name().as_ref(), "v" | "t") => in_value = !phonetic,
                Event::Start(e) if e.local_name().as_ref() == "rPh" => phonetic = true,
                Event::End(e) if e.local_name().as_ref() == "rPh" => phonetic = false,
                Event::End(e) if matches!(e.local_name().as_ref(), "v" | "t") => in_value = false,
                Event::Text(t) if in_value => {
                    if let Some(c) = cell.as_mut() {
                        c.text.push_str(&t.xml10_content())
                    }
                }
                Event::CData(t) if in_value => {
                    if let Some(c) = cell.as_mut() {
                        c.text.push_str(&t)
                    }
                }
                Event::GeneralRef(r) if in_value => {
                    if let Some(c) = cell.as_mut() {
                        push_reference(&mut c.text, &r)
                    }
                }
                Event::End(e) if e.local_name().as_ref() == "c" => {
                    let (Some(done), Some((line, cells, bytes))) = (cell.take(), row.as_mut()) else { continue };
                    let value = self.value(done.kind.as_str(), done.text);
                    if value.is_empty() {
                        continue;
                    }
                    *bytes += value.len();
                    if value.len() > MAX_CELL_BYTES {
                        return Err(LimitExceeded::Cell(*line).into());
                    }
                    if *bytes > MAX_LINE_BYTES {
                        return Err(LimitExceeded::Line(*line).into());
                    }
                    if cells.len() <= done.column {
                        cells.resize(done.column + 1, String::new());
                    }
                    cells[done.column] = value;
                }
                Event::Eof => return Ok(row.filter(|(_, cells, _)| !cells.is_empty()).map(|(l, c, _)| (l, c))),
                _ => {}
            }
            if let (Some(c), Some((line, _, _))) = (&cell, &row)
                && c.text.len() > MAX_CELL_BYTES
            {
                return Err(LimitExceeded::Cell(*line).into());
            }
        }
    }

    /// A cell as the officer typed it: numbers without a trailing ".0" (phone numbers are
    /// often stored as numbers), dates as Excel serial days (the list rules read those).
    fn value(&self, kind: &str, text: String) -> String {
        match kind {
            "s" => text.trim().parse().ok().and_then(|i| self.shared.get(i)).unwrap_or_default().to_string(),
            "inlineStr" | "str" | "d" => text,
            "b" => (if text.trim() == "1" { "true" } else { "false" }).to_string(),
            "e" => String::new(),
            _ => match text.trim().parse::<f64>() {
                Ok(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
                Ok(f) => f.to_string(),
                Err(_) => text,
            },
        }
    }
}

impl Iterator for SheetRows {
    type Item = Result<Row, ListFileError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let row = self.row().transpose();
        self.done = !matches!(row, Some(Ok(_)));
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workbook(sheet: &str, shared: &str) -> tempfile::NamedTempFile {
        use std::io::Write;
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut zip = zip::ZipWriter::new(file.reopen().unwrap());
        let options = zip::write::SimpleFileOptions::default();
        for (name, content) in [("xl/worksheets/sheet1.xml", sheet), ("xl/sharedStrings.xml", shared)] {
            zip.start_file(name, options).unwrap();
            zip.write_all(content.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
        file
    }

    #[test]
    fn cells_read_as_the_officer_typed_them() {
        let shared = "<sst uniqueCount=\"2\"><si><t>Nguyễn &amp; Văn An</t></si>\
            <si><r><t>Thôn </t></r><r><t>Đông</t></r><rPh><t>とう</t></rPh></si></sst>";
        let sheet = "<worksheet><sheetData><row r=\"2\"><c r=\"A2\" t=\"s\"><v>0</v></c>\
            <c r=\"C2\" t=\"s\"><v>1</v></c><c r=\"D2\"><v>912345678</v></c><c r=\"E2\"><v>46096.5</v></c>\
            <c r=\"F2\" t=\"b\"><v>1</v></c><c r=\"G2\" t=\"inlineStr\"><is><t>&#7843;nh</t><rPh><t>x</t></rPh></is></c>\
            <c r=\"H2\" t=\"e\"><v>#N/A</v></c></row><row><c t=\"str\"><v>x</v></c></row>\
            <row r=\"9\"/></sheetData></worksheet>";
        let file = workbook(sheet, shared);
        let rows: Vec<Row> = xlsx_rows(file.path()).unwrap().map(Result::unwrap).collect();
        let cells = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            rows,
            [
                (2, cells(&["Nguyễn & Văn An", "", "Thôn Đông", "912345678", "46096.5", "true", "ảnh"])),
                (3, cells(&["x"]))
            ]
        );
    }

    #[test]
    fn column_references_are_read_from_their_letters() {
        assert_eq!(column_of("A1"), Some(0));
        assert_eq!(column_of("Z9"), Some(25));
        assert_eq!(column_of("AA3"), Some(26));
        assert_eq!(column_of("XFD1048576"), Some(16_383));
        assert_eq!(column_of("12"), None);
        assert_eq!(column_of(&"Z".repeat(100)), None, "no overflow");
    }

    #[test]
    fn shared_strings_are_kept_in_chunks_with_limits() {
        let mut strings = SharedStrings::default();
        strings.push("Nguyễn Văn An").unwrap();
        strings.push("").unwrap();
        strings.push(&"x".repeat(CHUNK - 5)).unwrap();
        strings.push("Hà Nội").unwrap();
        assert_eq!(strings.get(0), Some("Nguyễn Văn An"));
        assert_eq!(strings.get(1), Some(""));
        assert_eq!(strings.get(3), Some("Hà Nội"));
        assert_eq!(strings.get(4), None);
        assert_eq!(strings.chunks.len(), 3, "a text is never split over two chunks");
    }
}
