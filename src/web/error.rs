//! Errors of the JSON API, each with a status and a message an integrator can act on.

use crate::service::answering::AnswerError;
use crate::storage::StorageError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    Unauthorized,
    Forbidden(String),
    NotFound(String),
    Conflict(String),
    Gone(String),
    Invalid(BTreeMap<String, String>),
    /// A list refused as it was read: kept as a failed upload the officer can find.
    InvalidUpload {
        upload_id: String,
        errors: BTreeMap<String, String>,
    },
    TooManyRequests,
    /// Too many attempts waiting at once: try again after this many seconds.
    RetryLater(u64),
    Internal,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::BadRequest(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::Conflict(m)
            | ApiError::Gone(m) => f.write_str(m),
            ApiError::Unauthorized => f.write_str("Cần đăng nhập: gửi Authorization: Bearer <token>."),
            ApiError::Invalid(_) => f.write_str("Câu trả lời chưa hợp lệ."),
            ApiError::InvalidUpload { .. } => f.write_str("Không đọc được danh sách."),
            ApiError::TooManyRequests => f.write_str("Quá nhiều yêu cầu, vui lòng thử lại sau."),
            ApiError::RetryLater(secs) => write!(f, "Quá nhiều yêu cầu đang chờ, vui lòng thử lại sau {secs} giây."),
            ApiError::Internal => f.write_str("Lỗi máy chủ, vui lòng thử lại sau."),
        }
    }
}

impl ApiError {
    /// A closed wave takes nothing more: no answers, lists or invitations.
    pub fn wave_closed() -> Self {
        ApiError::Gone("Đợt khảo sát đã kết thúc.".into())
    }

    fn kind(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Gone(_) => "gone",
            ApiError::Invalid(_) | ApiError::InvalidUpload { .. } => "invalid",
            ApiError::TooManyRequests | ApiError::RetryLater(_) => "too_many_requests",
            ApiError::Internal => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Invalid(_) | ApiError::InvalidUpload { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests | ApiError::RetryLater(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({"error": self.kind(), "message": self.to_string()});
        match self {
            ApiError::Invalid(errors) => body["errors"] = json!(errors),
            ApiError::InvalidUpload { upload_id, errors } => {
                body["errors"] = json!(errors);
                body["upload_id"] = json!(upload_id);
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::RetryLater(secs) = self {
            response.insert_header(("Retry-After", secs.to_string()));
        }
        response.json(body)
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        if error.is_nul_in_text() {
            return ApiError::BadRequest("Dữ liệu gửi lên chứa ký tự điều khiển (như ký tự NUL).".into());
        }
        tracing::error!(%error, "storage failure");
        ApiError::Internal
    }
}

impl From<crate::service::waves::WaveError> for ApiError {
    fn from(error: crate::service::waves::WaveError) -> Self {
        match error {
            crate::service::waves::WaveError::Invalid(errors) => ApiError::Invalid(errors),
            crate::service::waves::WaveError::Storage(e) => e.into(),
        }
    }
}

impl From<AnswerError> for ApiError {
    fn from(error: AnswerError) -> Self {
        match error {
            AnswerError::UnknownCode => ApiError::NotFound("Không tìm thấy mã mời này.".into()),
            AnswerError::WaveClosed => ApiError::wave_closed(),
            AnswerError::NotYetOpen => ApiError::Forbidden("Đợt khảo sát chưa bắt đầu.".into()),
            AnswerError::AlreadyAnswered => ApiError::Conflict("Mã mời này đã được dùng để trả lời.".into()),
            AnswerError::Invalid(errors) => ApiError::Invalid(errors),
            AnswerError::Storage(e) => e.into(),
        }
    }
}
