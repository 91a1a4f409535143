//! Use cases that join the domain to storage, shared by the API, the pages and the CLI.

pub mod answering;
pub mod demo;
pub mod invitations;
pub mod results;

use crate::domain::code::CodeHasher;
use crate::domain::form::FormRegistry;
use crate::storage::Database;
use crate::storage::responses::ResponseWriter;
use std::sync::Arc;

/// Everything a request may need, cheap to clone into each worker.
#[derive(Clone)]
pub struct Survey {
    pub db: Database,
    pub forms: Arc<FormRegistry>,
    pub writer: ResponseWriter,
    pub hasher: CodeHasher,
    pub base_url: Arc<str>,
}
