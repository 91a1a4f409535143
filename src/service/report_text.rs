//! The words a wave's report says in every format that carries them (workbook, Word
//! document, printable page): one source, so the formats cannot drift apart.

use crate::domain::form::{Denominator, Form, IndexDefinition};
use crate::domain::wave::Weighting;
use crate::service::results::GroupResult;
use crate::storage::waves::Wave;

/// The method statements, each a heading and its sentence.
pub fn method_statements(
    wave: &Wave,
    form: &Form,
    min_cell: u64,
    weighting: Weighting,
) -> [(&'static str, String); 10] {
    let averaged: Vec<String> = form
        .indices
        .iter()
        .filter_map(|i| Some(format!("{} (trung bình các đơn vị cấp “{}”)", i.label, i.aggregate.children_level()?)))
        .collect();
    let aggregation = match averaged.is_empty() {
        true => "mỗi cấp gộp mọi phiếu bên dưới.".to_string(),
        false => format!("mỗi cấp gộp mọi phiếu bên dưới, trừ: {}.", averaged.join("; ")),
    };
    [
        ("Bộ phiếu", format!("{} — {}", form.id, form.title)),
        ("Phiên bản", format!("{} (mã nội dung {})", wave.form_version, &wave.form_hash[..12])),
        ("Chỉ số thành phần", "Tỷ lệ % câu trả lời hợp lệ ở mức tích cực; “Không trả lời / Không biết” không tính vào mẫu số.".into()),
        ("Chỉ số tổng hợp", format!("Trung bình cộng các chỉ số thành phần theo quy định của bộ phiếu; {aggregation}")),
        ("Khoảng tin cậy 95%", "Wilson cho tỷ lệ; với chỉ số trung bình: phương sai tuyến tính hóa, coi như mẫu ngẫu nhiên đơn giản trong từng đơn vị.".into()),
        ("Trọng số", match weighting {
            Weighting::None => "Không dùng trọng số thiết kế (mỗi phiếu có trọng số 1).".into(),
            Weighting::Design => "Trọng số thiết kế: mỗi phiếu thuộc một tầng của lần chọn mẫu có trọng số N_h / số phiếu của tầng (điều chỉnh theo tỷ lệ không trả lời); phiếu từ mã phát tại quầy và phiếu ngoài các tầng có trọng số 1. Khoảng tin cậy theo phương sai tuyến tính hóa phân tầng.".into(),
        }),
        ("Ẩn số liệu", format!("Ẩn số liệu dựa trên dưới {min_cell} câu trả lời hợp lệ và các ô có thể suy ra chúng bằng phép trừ; số phiếu vẫn được công bố.")),
        ("Từng câu hỏi", "Tỷ lệ % mỗi phương án trên số câu trả lời hợp lệ của câu hỏi; riêng “Không trả lời / Không biết”: trên tổng số phiếu của đơn vị. Câu hỏi có số liệu bị ẩn chỉ công bố số câu trả lời hợp lệ.".into()),
        ("Mong đợi", "Tỷ lệ % người được hỏi chọn mỗi nội dung, trên tổng số phiếu hợp lệ (hoặc trên số người trả lời câu hỏi, nếu bộ phiếu quy định như vậy); xếp từ cao xuống thấp.".into()),
        ("Làm tròn", "Hiển thị một chữ số thập phân, làm tròn nửa lên; các ô của bảng Excel chứa giá trị chưa làm tròn.".into()),
    ]
}

/// Column titles of the tables the workbook and the printed report (page and Word document)
/// share.
pub const ITEM_TITLES: [&str; 6] =
    ["Câu hỏi", "Phương án", "Số lượt chọn", "Tỷ lệ (%)", "Số trả lời hợp lệ", "Tỷ lệ tích cực (%)"];
pub const EXPECTATION_TITLES: [&str; 4] = ["Xếp hạng", "Nội dung", "Số người chọn", "Tỷ lệ (%)"];
pub const RATE_TITLES: [&str; 7] =
    ["Theo", "Địa bàn", "Cơ quan", "Kênh", "Số mã đã phát", "Số phiếu trả lời", "Tỷ lệ phản hồi (%)"];
pub const COMMENT_TITLES: [&str; 4] = ["Câu hỏi", "Địa bàn", "Cơ quan", "Ý kiến"];
pub const SIDE_BY_SIDE_TITLES: [&str; 5] =
    ["Yếu tố", "Tiêu chí đánh giá", "Tỷ lệ đánh giá tích cực (%)", "Câu hỏi về sự hài lòng", "Tỷ lệ hài lòng (%)"];
pub const RANKED_EXPECTATIONS_HEADING: &str = "Các mong đợi xếp theo tỷ lệ mong muốn";
pub const RANKED_EXPECTATION_TITLES: [&str; 4] = ["Xếp hạng", "Mong đợi", "Tỷ lệ mong muốn (%)", "Số trả lời hợp lệ"];

/// What an expectation item's shares are of.
pub fn denominator_statement(denominator: Denominator) -> &'static str {
    match denominator {
        Denominator::ValidForms => "Tỷ lệ % trên tổng số phiếu hợp lệ",
        Denominator::Answered => "Tỷ lệ % trên số người trả lời câu hỏi",
    }
}

/// A group's name as people read it: the locality, the agency, or both; a row of answers
/// invited at a locality above the level shown says so ("Tỉnh X (cấp tỉnh)").
pub fn unit_name(group: &GroupResult) -> String {
    match (locality_label(group), &group.agency) {
        (Some(l), Some(a)) => format!("{l} · {}", a.name),
        (Some(l), None) => l,
        (None, Some(a)) => a.name.clone(),
        (None, None) => "(khác)".into(),
    }
}

/// A group's locality as people read it.
pub fn locality_label(group: &GroupResult) -> Option<String> {
    group.locality.as_ref().map(|l| match group.own_level {
        true => format!("{} ({})", l.name, own_level_label(&l.level)),
        false => l.name.clone(),
    })
}

/// Levels are data; the usual ones get their Vietnamese names.
pub fn own_level_label(level: &str) -> String {
    match level {
        "province" => "cấp tỉnh".into(),
        "district" => "cấp huyện".into(),
        "commune" => "cấp xã".into(),
        other => format!("cấp {other}"),
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

/// The units as a report lists them: by their rank on the first headline index (SIPAS), best
/// first; units without a rank (a hidden figure, a row of a locality's own answers) after,
/// in the results' order.
pub fn ranked_units<'g>(form: &Form, groups: &'g [GroupResult]) -> Vec<&'g GroupResult> {
    let lead = headline_columns(form).1.first().copied();
    let mut units: Vec<&GroupResult> = groups.iter().collect();
    units.sort_by_key(|g| lead.and_then(|p| g.ranks.get(p).copied().flatten()).unwrap_or(u32::MAX));
    units
}
