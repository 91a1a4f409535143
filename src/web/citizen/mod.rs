//! The pages a citizen sees: code entry, the questionnaire, and what follows a submission.

mod view;

use super::AppState;
use super::auth::{CSRF_FIELD, csrf_valid};
use crate::domain::code::InvitationCode;
use crate::service::answering::{AnswerError, OpenInvitation};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use std::collections::BTreeMap;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(code_entry_page))
        .route("/", web::post().to(enter_code))
        .route("/s/{code}", web::get().to(questionnaire))
        .route("/s/{code}", web::post().to(submit))
        .route("/s/{code}/tu-choi", web::get().to(opt_out_page))
        .route("/s/{code}/tu-choi", web::post().to(opt_out))
        .route("/cam-on", web::get().to(thank_you));
}

/// Form fields in order, repeated keys kept: checkboxes send one pair per ticked box.
pub fn form_fields(body: &[u8]) -> BTreeMap<String, Vec<String>> {
    let mut fields: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in form_urlencoded::parse(body) {
        fields.entry(key.into_owned()).or_default().push(value.into_owned());
    }
    fields
}

fn message(state: &AppState, req: &HttpRequest, status: StatusCode, title: &str, paragraphs: &[&str]) -> HttpResponse {
    let link = context! { href => "/", label => "Về trang nhập mã" };
    state.page(req, status, "message.html", context! { title, paragraphs, link })
}

/// The invitation code in the path, once the rate limits admit it (with the key its
/// failures count under); otherwise the page to show instead.
fn admitted(state: &AppState, req: &HttpRequest, raw: &str) -> Result<(InvitationCode, String), Box<HttpResponse>> {
    let Ok(code) = InvitationCode::parse(raw) else {
        return Err(Box::new(answer_error_page(state, req, &AnswerError::UnknownCode)));
    };
    match state.admit_code(req, &code) {
        Some(failures) => Ok((code, failures)),
        None => Err(Box::new(too_many(state, req))),
    }
}

fn too_many(state: &AppState, req: &HttpRequest) -> HttpResponse {
    message(
        state,
        req,
        StatusCode::TOO_MANY_REQUESTS,
        "Tạm thời chưa thể mở phiếu",
        &["Có quá nhiều lần nhập mã không đúng từ mạng của Ông/Bà. Vui lòng thử lại sau ít phút."],
    )
}

fn answer_error_page(state: &AppState, req: &HttpRequest, error: &AnswerError) -> HttpResponse {
    match error {
        AnswerError::UnknownCode => message(
            state,
            req,
            StatusCode::NOT_FOUND,
            "Không tìm thấy phiếu khảo sát",
            &["Mã khảo sát này không có trong hệ thống. Vui lòng kiểm tra lại mã in trong thư mời."],
        ),
        AnswerError::WaveClosed => message(
            state,
            req,
            StatusCode::GONE,
            "Đợt khảo sát đã kết thúc",
            &["Đợt khảo sát này không còn nhận câu trả lời. Xin cảm ơn Ông/Bà đã quan tâm."],
        ),
        AnswerError::NotYetOpen => message(
            state,
            req,
            StatusCode::FORBIDDEN,
            "Đợt khảo sát chưa bắt đầu",
            &["Đợt khảo sát này chưa nhận câu trả lời. Vui lòng quay lại trong thời gian khảo sát ghi trong thư mời."],
        ),
        AnswerError::AlreadyAnswered => message(
            state,
            req,
            StatusCode::CONFLICT,
            "Phiếu này đã được trả lời",
            &[
                "Câu trả lời cho mã khảo sát này đã được ghi nhận trước đó. Mỗi thư mời chỉ trả lời được một lần.",
                "Xin cảm ơn Ông/Bà đã tham gia khảo sát.",
            ],
        ),
        AnswerError::Invalid(_) | AnswerError::Storage(_) => message(
            state,
            req,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Có lỗi xảy ra",
            &[
                "Hệ thống chưa lưu được phiếu. Vui lòng bấm quay lại và gửi lại sau ít phút; câu trả lời của Ông/Bà chưa bị mất trên trang trước.",
            ],
        ),
    }
}

async fn code_entry_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    render_code_entry(&state, &req, StatusCode::OK, "", None)
}

fn render_code_entry(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    value: &str,
    error: Option<String>,
) -> HttpResponse {
    state.page(req, status, "code_entry.html", context! { title => "Nhập mã khảo sát", value, error })
}

async fn enter_code(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let fields = form_fields(&body);
    let first = |k: &str| fields.get(k).and_then(|v| v.first()).map(String::as_str);
    if !csrf_valid(&req, first(CSRF_FIELD)) {
        return render_code_entry(
            &state,
            &req,
            StatusCode::FORBIDDEN,
            "",
            Some("Phiên làm việc đã hết hạn, vui lòng nhập lại mã.".into()),
        );
    }
    let typed = first("code").unwrap_or_default();
    let code = match InvitationCode::parse(typed) {
        Ok(code) => code,
        Err(e) => {
            return render_code_entry(&state, &req, StatusCode::UNPROCESSABLE_ENTITY, typed, Some(e.to_string()));
        }
    };
    let Some(failures) = state.admit_code(&req, &code) else {
        return too_many(&state, &req);
    };
    match state.survey.open_invitation(&code).await {
        Ok(_) | Err(AnswerError::AlreadyAnswered | AnswerError::WaveClosed | AnswerError::NotYetOpen) => {
            HttpResponse::SeeOther().insert_header(("Location", format!("/s/{}", code.as_str()))).finish()
        }
        Err(error) => {
            state.note_code_failure(&failures, &error);
            match error {
                AnswerError::UnknownCode => render_code_entry(
                    &state,
                    &req,
                    StatusCode::NOT_FOUND,
                    typed,
                    Some("Không tìm thấy phiếu khảo sát với mã này. Vui lòng kiểm tra lại mã in trong thư mời.".into()),
                ),
                other => answer_error_page(&state, &req, &other),
            }
        }
    }
}

async fn questionnaire(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let (code, failures) = match admitted(&state, &req, &path) {
        Ok(admitted) => admitted,
        Err(page) => return *page,
    };
    match state.survey.open_invitation(&code).await {
        Ok(open) => render_form(&state, &req, &code, &open, &BTreeMap::new(), &BTreeMap::new(), StatusCode::OK),
        Err(AnswerError::AlreadyAnswered) => message(
            &state,
            &req,
            StatusCode::OK,
            "Phiếu này đã được trả lời",
            &["Câu trả lời cho mã khảo sát này đã được ghi nhận. Xin cảm ơn Ông/Bà đã tham gia khảo sát."],
        ),
        Err(error) => {
            state.note_code_failure(&failures, &error);
            answer_error_page(&state, &req, &error)
        }
    }
}

fn render_form(
    state: &AppState,
    req: &HttpRequest,
    code: &InvitationCode,
    open: &OpenInvitation,
    given: &BTreeMap<String, Vec<String>>,
    errors: &BTreeMap<String, String>,
    status: StatusCode,
) -> HttpResponse {
    let page = view::questionnaire(&open.form, given, errors);
    state.page(
        req,
        status,
        "questionnaire.html",
        context! {
            title => open.form.title.clone(),
            form_title => open.form.title.clone(),
            description => open.form.description.clone(),
            code => code.as_str(),
            sections => page.sections,
            errors => page.errors,
        },
    )
}

async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (code, failures) = match admitted(&state, &req, &path) {
        Ok(admitted) => admitted,
        Err(page) => return *page,
    };
    let mut given = form_fields(&body);
    let csrf = given.remove(CSRF_FIELD);
    let open = match state.survey.open_invitation(&code).await {
        Ok(open) => open,
        Err(error) => {
            state.note_code_failure(&failures, &error);
            return answer_error_page(&state, &req, &error);
        }
    };
    if !csrf_valid(&req, csrf.as_ref().and_then(|v| v.first()).map(String::as_str)) {
        // Keep what was typed: show the form again with a fresh token instead of losing it.
        let errors = BTreeMap::from([(
            String::new(),
            "Phiên làm việc đã hết hạn. Vui lòng kiểm tra và bấm “Gửi phiếu” lại.".to_string(),
        )]);
        return render_form(&state, &req, &code, &open, &given, &errors, StatusCode::FORBIDDEN);
    }
    match state.survey.answer(&code, &open, &given).await {
        Ok(()) => HttpResponse::SeeOther().insert_header(("Location", "/cam-on")).finish(),
        Err(AnswerError::Invalid(errors)) => {
            render_form(&state, &req, &code, &open, &given, &errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(error) => answer_error_page(&state, &req, &error),
    }
}

/// The opt-out link of an invitation: a page that asks, then erases on a confirmed POST
/// (a link followed by a mail scanner must not erase anything).
async fn opt_out_page(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    if InvitationCode::parse(&path).is_err() {
        return answer_error_page(&state, &req, &AnswerError::UnknownCode);
    }
    state.page(
        &req,
        StatusCode::OK,
        "opt_out.html",
        context! { title => "Từ chối tham gia khảo sát", code => path.as_str() },
    )
}

async fn opt_out(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (code, failures) = match admitted(&state, &req, &path) {
        Ok(admitted) => admitted,
        Err(page) => return *page,
    };
    let fields = form_fields(&body);
    if !csrf_valid(&req, fields.get(CSRF_FIELD).and_then(|v| v.first()).map(String::as_str)) {
        return opt_out_page(state, req, path).await;
    }
    let hash = state.survey.hasher.hash(&code);
    match state.survey.db.run(move |db| db.opt_out(&hash)).await {
        Ok(true) => message(
            &state,
            &req,
            StatusCode::OK,
            "Đã ghi nhận Ông/Bà từ chối tham gia",
            &[
                "Họ tên, địa chỉ và số điện thoại của Ông/Bà đã được xóa khỏi danh sách khảo sát. Ông/Bà sẽ không nhận thêm thư nhắc.",
            ],
        ),
        Ok(false) => {
            state.note_code_failure(&failures, &AnswerError::UnknownCode);
            answer_error_page(&state, &req, &AnswerError::UnknownCode)
        }
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

async fn thank_you(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    message(
        &state,
        &req,
        StatusCode::OK,
        "Cảm ơn Ông/Bà đã trả lời phiếu khảo sát",
        &[
            "Câu trả lời của Ông/Bà đã được ghi nhận. Phiếu được lưu ẩn danh và chỉ dùng để tổng hợp số liệu chung.",
            "Ý kiến của Ông/Bà giúp cơ quan nhà nước phục vụ người dân tốt hơn.",
        ],
    )
}
