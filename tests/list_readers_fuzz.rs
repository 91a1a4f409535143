//! Random and mutated CSV and XLSX files through the list readers: none may panic, and
//! none may allocate past a bound, measured by a counting allocator (this target runs a
//! single test, so the peak is the readers').

#[path = "api/hostile_files.rs"]
mod hostile_files;

use phieu::service::list_files::open_rows;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        } else {
            CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What reading a file of at most a few kilobytes may allocate at once: buffers of the
/// readers and one chunk of shared strings, nowhere near the file's declared sizes.
const BOUND: usize = 8 << 20;

/// What reading any file may allocate: the shared strings' limit and the readers' buffers.
const HOSTILE_BOUND: usize = phieu::service::list_limits::MAX_SHARED_BYTES + (32 << 20);

/// Reads every row of `bytes` and returns the most memory held meanwhile.
fn peak_while_reading(bytes: &[u8]) -> usize {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    file.flush().unwrap();
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    if let Ok(rows) = open_rows(file.path()) {
        for row in rows {
            drop(row);
        }
    }
    PEAK.load(Ordering::Relaxed) - before
}

fn valid_csv() -> Vec<u8> {
    "\u{feff}STT;Họ và tên;Địa chỉ;\"Số điện thoại\"\n1;Nguyễn Văn An;Thôn Đông;0912345678\n\n2;\"Trần, Thị\";\"a\"\"b\";09\r\n"
        .as_bytes()
        .to_vec()
}

fn valid_xlsx() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let deflated = zip::write::SimpleFileOptions::default();
        let parts = [
            (
                "xl/workbook.xml",
                r#"<workbook xmlns:r="r"><sheets><sheet name="A" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
            ),
            (
                "xl/_rels/workbook.xml.rels",
                r#"<Relationships><Relationship Id="rId1" Type="x/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="x/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#,
            ),
            (
                "xl/sharedStrings.xml",
                r#"<sst count="2" uniqueCount="2"><si><t>Họ và tên</t></si><si><r><t>Nguyễn </t></r><r><t>Văn An</t></r></si></sst>"#,
            ),
            (
                "xl/worksheets/sheet1.xml",
                r#"<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="inlineStr"><is><t>Địa chỉ</t></is></c></row><row r="2"><c r="A2" t="s"><v>1</v></c><c r="B2"><v>912345678</v></c><c r="C2" t="b"><v>1</v></c></row></sheetData></worksheet>"#,
            ),
        ];
        for (name, content) in parts {
            zip.start_file(name, deflated).unwrap();
            zip.write_all(content.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
    }
    out.into_inner()
}

/// A valid file with bytes overwritten, inserted and removed at random places.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len();
    prop::collection::vec((0..len, any::<u8>(), 0u8..3), 1..12).prop_map(move |edits| {
        let mut bytes = base.clone();
        for (at, byte, kind) in edits {
            let at = at.min(bytes.len().saturating_sub(1));
            match kind {
                0 if !bytes.is_empty() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ if !bytes.is_empty() => {
                    bytes.remove(at);
                }
                _ => {}
            }
        }
        bytes
    })
}

fn check(runner: &mut TestRunner, strategy: impl Strategy<Value = Vec<u8>>) {
    runner
        .run(&strategy, |bytes| {
            let peak = peak_while_reading(&bytes);
            prop_assert!(peak < BOUND, "{peak} bytes held reading a {}-byte file", bytes.len());
            Ok(())
        })
        .unwrap();
}

#[test]
fn readers_never_panic_nor_allocate_past_a_bound() {
    let mut runner = TestRunner::new(Config { cases: 400, failure_persistence: None, ..Config::default() });
    check(&mut runner, mutated(valid_csv()));
    check(&mut runner, mutated(valid_xlsx()));
    check(&mut runner, prop::collection::vec(any::<u8>(), 0..4096));
    // Text made of the bytes that matter to a CSV reader.
    let csv_bytes = prop::sample::select(vec![b',', b';', b'\t', b'"', b'\n', b'\r', b'a', 0xC3, 0xA1, 0xEF]);
    check(&mut runner, prop::collection::vec(csv_bytes, 0..4096));
    // Random bytes behind a zip signature, and the valid workbook's start with a random tail.
    let zip_tail = prop::collection::vec(any::<u8>(), 0..4096).prop_map(|tail| [b"PK\x03\x04".to_vec(), tail].concat());
    check(&mut runner, zip_tail);
    let xlsx = valid_xlsx();
    let cut = (0..xlsx.len(), prop::collection::vec(any::<u8>(), 0..256))
        .prop_map(move |(at, tail)| [xlsx[..at].to_vec(), tail].concat());
    check(&mut runner, cut);
    // The hostile files of the API tests: each once allocated in proportion to what it
    // declared or decompressed to. Now a zip bomb may fill the shared strings up to their
    // limit, and nothing holds more.
    for (name, bytes) in [
        ("declared count", hostile_files::in_memory(|out| hostile_files::declared_count_bomb(out, "100000000000"))),
        ("zip bomb", hostile_files::in_memory(|out| hostile_files::zip_bomb(out, 512 << 20))),
        ("one-cell rows", hostile_files::in_memory(|out| hostile_files::one_cell_rows(out, 1_000_000))),
        ("separators", hostile_files::in_memory(|out| hostile_files::separators_csv(out, 4 << 20, 1 << 20))),
        ("single line", hostile_files::in_memory(|out| hostile_files::single_line_csv(out, 16 << 20))),
    ] {
        let peak = peak_while_reading(&bytes);
        assert!(peak < HOSTILE_BOUND, "{name}: {peak} bytes held reading {} bytes", bytes.len());
    }
}
