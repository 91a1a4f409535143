//! The JSON API under /api/v1. Extend it, never break it.

mod auth;
pub mod delivery;
mod forms;
pub mod lists;
mod microdata;
pub mod openapi;
mod places;
mod report;
mod report_crosstab;
pub(crate) mod report_docx;
mod report_items;
pub(crate) mod report_tables;
mod responses;
pub mod sampling;
mod users;
pub mod waves;

use crate::scratch::{Scratch, SealedFile};
use crate::web::error::ApiError;
use actix_web::{HttpResponse, web};
use futures_util::{TryStreamExt, stream};
use std::io::Read;

pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .route("/openapi.json", web::get().to(openapi::document))
            .configure(auth::routes)
            .configure(delivery::routes)
            .configure(forms::routes)
            .configure(lists::routes)
            .configure(microdata::routes)
            .configure(places::routes)
            .configure(report::routes)
            .configure(report_docx::routes)
            .configure(waves::routes)
            .configure(responses::routes)
            .configure(sampling::routes)
            .configure(users::routes),
    );
}

/// A JSON body that failed to parse becomes a 400 with serde's explanation.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(4 * 1024 * 1024)
        .error_handler(|err, _| super::error::ApiError::BadRequest(format!("Dữ liệu JSON không hợp lệ: {err}")).into())
}

/// A file to download, not to keep in any cache.
pub(crate) fn download(content_type: &str, file_name: &str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response
        .content_type(content_type)
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{file_name}\"")))
        .insert_header(("Cache-Control", "no-store"));
    response
}

/// Deflate level of the workbooks written. Measured on 1,000,000 answers' microdata: the
/// library's default 6 takes 40.7 s for 142 MB, 3 takes 29.8 s for 187 MB, 1 takes 25.1 s
/// for 270 MB; compressing is most of the time at 6.
const XLSX_COMPRESSION: u8 = 3;

/// A workbook whose sheets go to this instance's temporary directory as they are written
/// (constant memory).
pub(crate) fn new_workbook(scratch: &Scratch) -> Result<rust_xlsxwriter::Workbook, rust_xlsxwriter::XlsxError> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    workbook.set_tempdir(scratch.dir())?;
    workbook.set_zip_compression_level(XLSX_COMPRESSION);
    Ok(workbook)
}

/// Chunks a response may be ahead of the socket.
const CHUNKS_AHEAD: usize = 4;

/// A response body made chunk by chunk on a blocking thread, a few chunks ahead of the one
/// being sent: formatting a national results document (some 100 MB) and writing it to the
/// socket run side by side instead of in turn. Making stops when the client leaves.
pub(crate) fn stream_made_ahead(
    chunks: impl Iterator<Item = Vec<u8>> + Send + 'static,
) -> impl futures_util::Stream<Item = Result<web::Bytes, std::convert::Infallible>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || {
        for chunk in chunks {
            if sender.blocking_send(web::Bytes::from(chunk)).is_err() {
                return;
            }
        }
    });
    stream::unfold(receiver, |mut receiver| async move { receiver.recv().await.map(|chunk| (Ok(chunk), receiver)) })
}

/// Bytes per chunk when streaming a finished file.
const FILE_CHUNK: usize = 256 * 1024;

/// A finished temporary file (a workbook written in constant memory) streamed to the client
/// a chunk at a time; it is deleted when the stream ends.
pub(crate) fn stream_file(file: SealedFile, content_type: &str, name: &str) -> Result<HttpResponse, ApiError> {
    let handle = file.open().map_err(|_| ApiError::Internal)?;
    let chunks = stream::try_unfold((handle, file), |(mut handle, file)| async move {
        let (handle, chunk) = tokio::task::spawn_blocking(move || {
            let mut chunk = vec![0u8; FILE_CHUNK];
            let read = handle.read(&mut chunk)?;
            chunk.truncate(read);
            Ok::<_, std::io::Error>((handle, chunk))
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok::<_, std::io::Error>((!chunk.is_empty()).then(|| (web::Bytes::from(chunk), (handle, file))))
    });
    Ok(download(content_type, name).streaming(chunks.map_err(actix_web::error::ErrorInternalServerError)))
}
