//! The words a wave's report says in every format that carries them (workbook, Word
//! document, printable page): one source, so the formats cannot drift apart.

use crate::domain::form::{Form, IndexDefinition};
use crate::service::results::GroupResult;
use crate::storage::waves::Wave;

/// The method statements, each a heading and its sentence.
pub fn method_statements(wave: &Wave, form: &Form, min_cell: u64) -> [(&'static str, String); 8] {
    [
        ("Bộ phiếu", format!("{} — {}", form.id, form.title)),
        ("Phiên bản", format!("{} (mã nội dung {})", wave.form_version, &wave.form_hash[..12])),
        ("Chỉ số thành phần", "Tỷ lệ % câu trả lời hợp lệ ở mức tích cực; “Không trả lời / Không biết” không tính vào mẫu số.".into()),
        ("Chỉ số tổng hợp", "Trung bình cộng các chỉ số thành phần theo quy định của bộ phiếu; mỗi cấp gộp mọi phiếu bên dưới.".into()),
        ("Khoảng tin cậy 95%", "Wilson cho tỷ lệ; với chỉ số trung bình: phương sai tuyến tính hóa, coi như mẫu ngẫu nhiên đơn giản trong từng đơn vị.".into()),
        ("Trọng số", "Không dùng trọng số thiết kế (mỗi phiếu có trọng số 1).".into()),
        ("Ẩn số liệu", format!("Ẩn số liệu dựa trên dưới {min_cell} câu trả lời hợp lệ và các ô có thể suy ra chúng bằng phép trừ; số phiếu vẫn được công bố.")),
        ("Làm tròn", "Hiển thị một chữ số thập phân, làm tròn nửa lên; các ô của bảng Excel chứa giá trị chưa làm tròn.".into()),
    ]
}

/// A unit of a table by unit: its locality, its agency, or both.
pub fn unit_name(group: &GroupResult) -> String {
    match (&group.locality, &group.agency) {
        (Some(l), Some(a)) => format!("{} · {}", l.name, a.name),
        (Some(l), None) => l.name.clone(),
        (None, Some(a)) => a.name.clone(),
        (None, None) => "(khác)".into(),
    }
}

/// The indices a table by unit shows, SIPAS first (it is ranked and charted), with their
/// positions among the form's indices.
pub fn headline_columns(form: &Form) -> (Vec<&IndexDefinition>, Vec<usize>) {
    let mut headline = form.headline_indices();
    headline.sort_by_key(|h| h.id != "sipas");
    let positions = headline.iter().filter_map(|h| form.indices.iter().position(|i| i.id == h.id)).collect();
    (headline, positions)
}
