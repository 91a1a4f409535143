//! Word documents (WordprocessingML) written by hand: paragraphs, headings and tables are
//! all a report needs, and the body is written straight into the zip entry, a row at a time,
//! so a commune-level table costs no more memory than a short one. Text is XML-escaped here
//! and only here: names come from uploaded lists.

use std::borrow::Cow;
use std::io::{self, Seek, Write};
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

pub const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

const W: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";

/// A4 in twentieths of a point, with the margins of Vietnamese administrative documents
/// (top and bottom 20 mm, left 30 mm, right 15 mm).
const PAGE_WIDTH: u32 = 11_906;
const PAGE_HEIGHT: u32 = 16_838;
const MARGIN_TOP: u32 = 1_134;
const MARGIN_BOTTOM: u32 = 1_134;
const MARGIN_LEFT: u32 = 1_701;
const MARGIN_RIGHT: u32 = 850;

/// The width between the margins, which tables' columns share.
pub fn text_width(landscape: bool) -> u32 {
    (if landscape { PAGE_HEIGHT } else { PAGE_WIDTH }) - MARGIN_LEFT - MARGIN_RIGHT
}

/// A section's page: A4 upright or turned, with the same margins.
fn page_setup(landscape: bool) -> String {
    let (width, height, orient) =
        if landscape { (PAGE_HEIGHT, PAGE_WIDTH, r#" w:orient="landscape""#) } else { (PAGE_WIDTH, PAGE_HEIGHT, "") };
    format!(
        r#"<w:sectPr><w:pgSz w:w="{width}" w:h="{height}"{orient}/><w:pgMar w:top="{MARGIN_TOP}" w:right="{MARGIN_RIGHT}" w:bottom="{MARGIN_BOTTOM}" w:left="{MARGIN_LEFT}" w:header="720" w:footer="720" w:gutter="0"/></w:sectPr>"#
    )
}

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/></Types>"#;

const PACKAGE_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#;

const DOCUMENT_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>"#;

/// Times New Roman 13 pt as administrative documents are set; headings bold; `TableGrid`
/// draws every border, plain tables (such as a letterhead) none.
const STYLES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:styles xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:docDefaults><w:rPrDefault><w:rPr><w:rFonts w:ascii="Times New Roman" w:hAnsi="Times New Roman" w:eastAsia="Times New Roman" w:cs="Times New Roman"/><w:sz w:val="26"/><w:szCs w:val="26"/><w:lang w:val="vi-VN"/></w:rPr></w:rPrDefault><w:pPrDefault><w:pPr><w:spacing w:after="120" w:line="276" w:lineRule="auto"/></w:pPr></w:pPrDefault></w:docDefaults><w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/><w:qFormat/></w:style><w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/><w:basedOn w:val="Normal"/><w:next w:val="Normal"/><w:qFormat/><w:pPr><w:spacing w:before="240" w:after="120"/><w:jc w:val="center"/></w:pPr><w:rPr><w:b/><w:sz w:val="28"/><w:szCs w:val="28"/></w:rPr></w:style><w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/><w:basedOn w:val="Normal"/><w:next w:val="Normal"/><w:qFormat/><w:pPr><w:keepNext/><w:spacing w:before="240" w:after="120"/><w:outlineLvl w:val="0"/></w:pPr><w:rPr><w:b/><w:sz w:val="28"/><w:szCs w:val="28"/></w:rPr></w:style><w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="heading 2"/><w:basedOn w:val="Normal"/><w:next w:val="Normal"/><w:qFormat/><w:pPr><w:keepNext/><w:spacing w:before="120" w:after="60"/><w:outlineLvl w:val="1"/></w:pPr><w:rPr><w:b/><w:i/></w:rPr></w:style><w:style w:type="paragraph" w:styleId="Note"><w:name w:val="Note"/><w:basedOn w:val="Normal"/><w:qFormat/><w:rPr><w:i/><w:sz w:val="22"/><w:szCs w:val="22"/></w:rPr></w:style><w:style w:type="table" w:default="1" w:styleId="TableNormal"><w:name w:val="Normal Table"/><w:tblPr><w:tblInd w:w="0" w:type="dxa"/><w:tblCellMar><w:top w:w="0" w:type="dxa"/><w:left w:w="108" w:type="dxa"/><w:bottom w:w="0" w:type="dxa"/><w:right w:w="108" w:type="dxa"/></w:tblCellMar></w:tblPr></w:style><w:style w:type="table" w:styleId="TableGrid"><w:name w:val="Table Grid"/><w:basedOn w:val="TableNormal"/><w:pPr><w:spacing w:after="0" w:line="240" w:lineRule="auto"/></w:pPr><w:rPr><w:sz w:val="24"/><w:szCs w:val="24"/></w:rPr><w:tblPr><w:tblBorders><w:top w:val="single" w:sz="4" w:space="0" w:color="000000"/><w:left w:val="single" w:sz="4" w:space="0" w:color="000000"/><w:bottom w:val="single" w:sz="4" w:space="0" w:color="000000"/><w:right w:val="single" w:sz="4" w:space="0" w:color="000000"/><w:insideH w:val="single" w:sz="4" w:space="0" w:color="000000"/><w:insideV w:val="single" w:sz="4" w:space="0" w:color="000000"/></w:tblBorders></w:tblPr></w:style></w:styles>"#;

/// How a paragraph lines up.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub enum Align {
    #[default]
    Left,
    Centre,
    Right,
}

/// How a run of text looks.
#[derive(Clone, Copy, Default)]
pub struct Look {
    pub bold: bool,
    pub italic: bool,
    /// Shown in capitals, kept as typed (so an edit keeps the office's own spelling).
    pub caps: bool,
    /// 9 pt, for a figure's interval under it.
    pub small: bool,
}

pub const PLAIN: Look = Look { bold: false, italic: false, caps: false, small: false };
pub const BOLD: Look = Look { bold: true, ..PLAIN };
pub const ITALIC: Look = Look { italic: true, ..PLAIN };
pub const SMALL: Look = Look { small: true, ..PLAIN };

struct Run<'a> {
    text: Cow<'a, str>,
    look: Look,
    /// Starts a new line within the paragraph.
    new_line: bool,
}

/// A paragraph: runs of text, a style of `STYLES` and an alignment.
#[derive(Default)]
pub struct Paragraph<'a> {
    runs: Vec<Run<'a>>,
    style: Option<&'static str>,
    align: Align,
}

impl<'a> Paragraph<'a> {
    pub fn new(text: impl Into<Cow<'a, str>>) -> Self {
        Self::default().run(text, PLAIN)
    }

    pub fn styled(style: &'static str, text: impl Into<Cow<'a, str>>) -> Self {
        Self { style: Some(style), ..Self::new(text) }
    }

    pub fn run(mut self, text: impl Into<Cow<'a, str>>, look: Look) -> Self {
        self.runs.push(Run { text: text.into(), look, new_line: false });
        self
    }

    /// A run on a line of its own.
    pub fn line(mut self, text: impl Into<Cow<'a, str>>, look: Look) -> Self {
        let new_line = !self.runs.is_empty();
        self.runs.push(Run { text: text.into(), look, new_line });
        self
    }

    pub fn align(mut self, align: Align) -> Self {
        self.align = align;
        self
    }

    pub fn bold(mut self) -> Self {
        self.runs.iter_mut().for_each(|r| r.look.bold = true);
        self
    }
}

/// A table's columns, in twentieths of a point; `grid` draws the borders.
pub struct Table<'a> {
    pub widths: &'a [u32],
    pub grid: bool,
}

/// A document being written into a zip archive.
pub struct Document<W: Write + Seek> {
    zip: ZipWriter<W>,
    /// The widths of the table being written.
    widths: Vec<u32>,
}

impl<Out: Write + Seek> Document<Out> {
    /// Writes the package's fixed parts and opens the body.
    pub fn new(out: Out) -> io::Result<Self> {
        let mut zip = ZipWriter::new(out);
        let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in [
            ("[Content_Types].xml", CONTENT_TYPES),
            ("_rels/.rels", PACKAGE_RELS),
            ("word/_rels/document.xml.rels", DOCUMENT_RELS),
            ("word/styles.xml", STYLES),
        ] {
            zip.start_file(name, options).map_err(io::Error::other)?;
            zip.write_all(content.as_bytes())?;
        }
        zip.start_file("word/document.xml", options).map_err(io::Error::other)?;
        write!(
            zip,
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>{}<w:document xmlns:w="{W}"><w:body>"#,
            "\n"
        )?;
        Ok(Self { zip, widths: Vec::new() })
    }

    pub fn paragraph(&mut self, paragraph: &Paragraph) -> io::Result<()> {
        write_paragraph(&mut self.zip, paragraph)
    }

    pub fn heading(&mut self, level: u8, text: &str) -> io::Result<()> {
        let style = if level <= 1 { "Heading1" } else { "Heading2" };
        self.paragraph(&Paragraph::styled(style, text))
    }

    pub fn start_table(&mut self, table: &Table) -> io::Result<()> {
        let out = &mut self.zip;
        out.write_all(b"<w:tbl><w:tblPr>")?;
        if table.grid {
            out.write_all(br#"<w:tblStyle w:val="TableGrid"/>"#)?;
        }
        let total: u32 = table.widths.iter().sum();
        write!(out, r#"<w:tblW w:w="{total}" w:type="dxa"/><w:tblLayout w:type="fixed"/></w:tblPr><w:tblGrid>"#)?;
        for width in table.widths {
            write!(out, r#"<w:gridCol w:w="{width}"/>"#)?;
        }
        out.write_all(b"</w:tblGrid>")?;
        self.widths = table.widths.to_vec();
        Ok(())
    }

    /// A row of the open table, one paragraph per cell; a `header` row is repeated on each
    /// page the table runs onto.
    pub fn row(&mut self, cells: &[Paragraph], header: bool) -> io::Result<()> {
        let out = &mut self.zip;
        out.write_all(b"<w:tr>")?;
        if header {
            out.write_all(b"<w:trPr><w:tblHeader/></w:trPr>")?;
        }
        for (cell, width) in cells.iter().zip(self.widths.iter().chain(std::iter::repeat(&0))) {
            write!(out, r#"<w:tc><w:tcPr><w:tcW w:w="{width}" w:type="dxa"/></w:tcPr>"#)?;
            write_paragraph(out, cell)?;
            out.write_all(b"</w:tc>")?;
        }
        out.write_all(b"</w:tr>")
    }

    pub fn end_table(&mut self) -> io::Result<()> {
        self.widths.clear();
        // Word merges two tables that touch: an empty paragraph keeps them apart.
        self.zip.write_all(b"</w:tbl><w:p/>")
    }

    /// Ends the pages so far, laid out `landscape` or not; what follows starts a new page.
    pub fn end_section(&mut self, landscape: bool) -> io::Result<()> {
        write!(self.zip, "<w:p><w:pPr>{}</w:pPr></w:p>", page_setup(landscape))
    }

    /// Closes the last section (upright A4) and the archive.
    pub fn finish(mut self) -> io::Result<Out> {
        write!(self.zip, "{}</w:body></w:document>", page_setup(false))?;
        self.zip.finish().map_err(io::Error::other)
    }
}

fn write_paragraph(out: &mut impl Write, paragraph: &Paragraph) -> io::Result<()> {
    out.write_all(b"<w:p>")?;
    if paragraph.style.is_some() || paragraph.align != Align::Left {
        out.write_all(b"<w:pPr>")?;
        if let Some(style) = paragraph.style {
            write!(out, r#"<w:pStyle w:val="{style}"/>"#)?;
        }
        match paragraph.align {
            Align::Left => {}
            Align::Centre => out.write_all(br#"<w:jc w:val="center"/>"#)?,
            Align::Right => out.write_all(br#"<w:jc w:val="right"/>"#)?,
        }
        out.write_all(b"</w:pPr>")?;
    }
    for run in &paragraph.runs {
        out.write_all(b"<w:r>")?;
        let Look { bold, italic, caps, small } = run.look;
        if bold || italic || caps || small {
            out.write_all(b"<w:rPr>")?;
            let tags = [
                (bold, "<w:b/>"),
                (italic, "<w:i/>"),
                (caps, "<w:caps/>"),
                (small, r#"<w:sz w:val="18"/><w:szCs w:val="18"/>"#),
            ];
            for (on, tag) in tags {
                if on {
                    out.write_all(tag.as_bytes())?;
                }
            }
            out.write_all(b"</w:rPr>")?;
        }
        if run.new_line {
            out.write_all(b"<w:br/>")?;
        }
        out.write_all(br#"<w:t xml:space="preserve">"#)?;
        escape_into(out, &run.text)?;
        out.write_all(b"</w:t></w:r>")?;
    }
    out.write_all(b"</w:p>")
}

/// `text` as XML character data: markup characters escaped, and characters XML 1.0 cannot
/// carry at all (control characters, unpaired code points) left out, as Word refuses a file
/// that has them.
fn escape_into(out: &mut impl Write, text: &str) -> io::Result<()> {
    let mut plain = 0;
    for (i, c) in text.char_indices() {
        let replacement = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\t' | '\n' | '\r' => continue,
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => "",
            _ => continue,
        };
        out.write_all(&text.as_bytes()[plain..i])?;
        out.write_all(replacement.as_bytes())?;
        plain = i + c.len_utf8();
    }
    out.write_all(&text.as_bytes()[plain..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = Vec::new();
        escape_into(&mut out, text).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn markup_characters_are_escaped_and_vietnamese_kept() {
        assert_eq!(escaped("Tổ A & B <Một cửa> \"mới\""), "Tổ A &amp; B &lt;Một cửa&gt; &quot;mới&quot;");
        assert_eq!(escaped("Xã Hòa Bình"), "Xã Hòa Bình");
    }

    #[test]
    fn characters_xml_cannot_carry_are_left_out() {
        assert_eq!(escaped("a\u{0}b\u{1b}c\u{ffff}d\te"), "abcd\te");
    }

    #[test]
    fn a_document_is_a_zip_with_a_well_formed_body() {
        let mut doc = Document::new(std::io::Cursor::new(Vec::new())).unwrap();
        doc.heading(1, "1. <Tổng hợp> & ý kiến").unwrap();
        doc.start_table(&Table { widths: &[3000, 2000], grid: true }).unwrap();
        doc.row(&[Paragraph::new("Chỉ số"), Paragraph::new("Giá trị").align(Align::Right)], true).unwrap();
        doc.end_table().unwrap();
        doc.paragraph(&Paragraph::new("a").line("b", ITALIC)).unwrap();
        let bytes = doc.finish().unwrap().into_inner();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut body = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("word/document.xml").unwrap(), &mut body).unwrap();
        assert!(body.contains("1. &lt;Tổng hợp&gt; &amp; ý kiến"), "{body}");
        assert!(body.contains(r#"<w:tblHeader/>"#) && body.contains("<w:br/>"));
        let mut reader = quick_xml::Reader::from_str(&body);
        while reader.read_event().expect("well-formed") != quick_xml::events::Event::Eof {}
        for part in ["[Content_Types].xml", "_rels/.rels", "word/_rels/document.xml.rels", "word/styles.xml"] {
            assert!(zip.by_name(part).is_ok(), "{part}");
        }
    }
}
