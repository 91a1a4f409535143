//! Hostile list files, written to any `Write` so that the benchmark can make them at full
//! size on disk and the tests small in memory.

#![allow(dead_code)] // shared with the benchmark

use std::io::{Seek, Write};

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/></Types>"#;
const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Danh sach" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#;
const SHEET_START: &str = r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#;
const SHEET_END: &str = "</sheetData></worksheet>";
/// A header and one person, the second row's name a shared string.
const SMALL_SHEET: &str = r#"<row r="1"><c r="A1" t="inlineStr"><is><t>Họ và tên</t></is></c><c r="B1" t="inlineStr"><is><t>Địa chỉ</t></is></c></row><row r="2"><c r="A2" t="s"><v>0</v></c><c r="B2" t="inlineStr"><is><t>Thôn Đông</t></is></c></row>"#;

/// A deflated workbook whose sheet body and shared strings are written by the callbacks.
pub fn workbook<W: Write + Seek>(
    out: W,
    sheet_rows: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    shared: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut zip = zip::ZipWriter::new(out);
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(true);
    for (name, content) in [
        ("[Content_Types].xml", CONTENT_TYPES),
        ("_rels/.rels", RELS),
        ("xl/workbook.xml", WORKBOOK),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
    ] {
        zip.start_file(name, options)?;
        zip.write_all(content.as_bytes())?;
    }
    zip.start_file("xl/worksheets/sheet1.xml", options)?;
    zip.write_all(SHEET_START.as_bytes())?;
    sheet_rows(&mut zip)?;
    zip.write_all(SHEET_END.as_bytes())?;
    zip.start_file("xl/sharedStrings.xml", options)?;
    shared(&mut zip)?;
    zip.finish()?;
    Ok(())
}

/// A 2 KB workbook whose shared strings declare a hundred billion entries.
pub fn declared_count_bomb(out: impl Write + Seek, declared: &str) -> std::io::Result<()> {
    workbook(
        out,
        |w| w.write_all(SMALL_SHEET.as_bytes()),
        |w| {
            write!(
                w,
                r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{declared}" uniqueCount="{declared}"><si><t>Nguyễn Văn An</t></si></sst>"#
            )
        },
    )
}

/// Shared strings that decompress to `decompressed` bytes of one short entry repeated:
/// about a thousand to one, and many small strings for a reader to hold.
pub fn zip_bomb(out: impl Write + Seek, decompressed: u64) -> std::io::Result<()> {
    workbook(
        out,
        |w| w.write_all(SMALL_SHEET.as_bytes()),
        |w| {
            w.write_all(br#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#)?;
            let item = "<si><t>An</t></si>";
            let block = item.repeat(1 + 1_048_576 / item.len());
            let mut written = 0;
            while written < decompressed {
                w.write_all(block.as_bytes())?;
                written += block.len() as u64;
            }
            w.write_all(b"</sst>")
        },
    )
}

/// `count` distinct shared strings of `length` letters each, compressing about 5:1: a
/// workbook within the ratio limit that fills the shared strings to their limit.
pub fn many_shared_strings(out: impl Write + Seek, count: usize, length: usize) -> std::io::Result<()> {
    workbook(
        out,
        |w| w.write_all(SMALL_SHEET.as_bytes()),
        |w| {
            w.write_all(br#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#)?;
            let mut state = 0x2545_f491_4f6c_dd1du64;
            let mut text = String::with_capacity(length);
            for _ in 0..count {
                text.clear();
                for _ in 0..length {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    text.push((b'a' + (state % 26) as u8) as char);
                }
                write!(w, "<si><t>{text}</t></si>")?;
            }
            w.write_all(b"</sst>")
        },
    )
}

/// One shared string of a full cell's length, referred to from four cells of every row:
/// a workbook of a few KiB whose cells hold `rows` × 256 KiB of text.
pub fn repeated_long_string(out: impl Write + Seek, rows: usize) -> std::io::Result<()> {
    workbook(
        out,
        |w| {
            w.write_all(SMALL_SHEET.as_bytes())?;
            for r in 3..rows + 3 {
                write!(w, "<row r=\"{r}\">")?;
                for column in ["A", "B", "C", "D"] {
                    write!(w, r#"<c r="{column}{r}" t="s"><v>0</v></c>"#)?;
                }
                w.write_all(b"</row>")?;
            }
            Ok(())
        },
        |w| write!(w, "<sst><si><t>{}</t></si></sst>", "a".repeat(64 * 1024)),
    )
}

/// A header, then one-cell rows (without row numbers, as some generators write them)
/// until the sheet holds `rows` rows.
pub fn one_cell_rows(out: impl Write + Seek, rows: usize) -> std::io::Result<()> {
    workbook(
        out,
        |w| {
            w.write_all(SMALL_SHEET.as_bytes())?;
            let block = "<row><c><v>1</v></c></row>".repeat(1000);
            for _ in 0..rows / 1000 {
                w.write_all(block.as_bytes())?;
            }
            Ok(())
        },
        |w| w.write_all(r#"<sst><si><t>Nguyễn Văn An</t></si></sst>"#.as_bytes()),
    )
}

/// Lines of `width` commas and nothing else, `bytes` in all.
pub fn separators_csv(out: &mut impl Write, bytes: usize, width: usize) -> std::io::Result<()> {
    let line = format!("{}\n", ",".repeat(width));
    for _ in 0..bytes / line.len() {
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// One line of `bytes` letters, no separator, no end.
pub fn single_line_csv(out: &mut impl Write, bytes: usize) -> std::io::Result<()> {
    let block = "a".repeat(1 << 20);
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len());
        out.write_all(&block.as_bytes()[..n])?;
        left -= n;
    }
    Ok(())
}

/// A header of `columns` named columns (the name and address first, then `label` with a
/// number) and one person.
pub fn wide_header_csv(out: &mut impl Write, columns: usize, label: &str) -> std::io::Result<()> {
    out.write_all("Họ và tên,Địa chỉ".as_bytes())?;
    for i in 2..columns {
        write!(out, ",{label} {i}")?;
    }
    out.write_all("\nNguyễn Văn An,Thôn Đông".as_bytes())?;
    for _ in 2..columns {
        out.write_all(b",001099001234")?;
    }
    out.write_all(b"\n")
}

/// A header, then `lines` blank lines.
pub fn many_lines_csv(out: &mut impl Write, lines: usize) -> std::io::Result<()> {
    out.write_all("Họ và tên,Địa chỉ\n".as_bytes())?;
    let block = "\n".repeat(10_000);
    for _ in 0..lines / 10_000 {
        out.write_all(block.as_bytes())?;
    }
    out.write_all("\n".repeat(lines % 10_000).as_bytes())
}

pub fn in_memory(write: impl FnOnce(&mut std::io::Cursor<Vec<u8>>) -> std::io::Result<()>) -> Vec<u8> {
    let mut cursor = std::io::Cursor::new(Vec::new());
    write(&mut cursor).unwrap();
    cursor.into_inner()
}
