//! The report's comments: free-text answers, each with its item and the place the
//! microdata would publish its answer at (`domain::comments`), read a page of answers at a
//! time so memory stays bounded whatever the wave's size.
//!
//! Order: answers are read by id, and ids are random, from a random id onwards and round
//! to it again; each page's comments are shuffled. Every request sees another order, and
//! none follows submission.

use crate::domain::comments::comment_places;
use crate::domain::form::Form;
use crate::domain::locality::{Locality, LocalityTree};
use crate::domain::microdata::Published;
use crate::storage::tallies::GrowingTable;
use crate::storage::waves::Wave;
use crate::storage::{Database, StorageError, StorageResult};
use rand::seq::SliceRandom;
use std::collections::HashMap;
use std::sync::Arc;

/// Answers read per page.
const PAGE: i64 = 2_000;

/// One free-text answer as the report shows it.
pub struct Comment {
    pub item_id: String,
    pub item_label: String,
    /// Where it is published; `None` for the whole wave.
    pub locality: Option<Locality>,
    pub agency_code: Option<String>,
    pub agency_name: Option<String>,
    pub text: String,
}

/// What a report listing only `most` of the comments says under them. Comments come in
/// random order, so those listed are a random sample.
pub fn sample_note(most: usize) -> String {
    format!("Bảng chỉ liệt kê {most} ý kiến chọn ngẫu nhiên; toàn bộ ý kiến: tải bảng ý kiến (CSV).")
}

/// Where the reading has come to.
#[derive(Clone)]
pub enum Cursor {
    /// Answers after this id, up to the last one.
    Ahead(String),
    /// Then answers after this id again from the first, up to the starting id.
    Wrapped(String),
    Done,
}

/// What reading a wave's comments needs, read once per request.
pub struct CommentReader {
    wave_id: String,
    form: Arc<Form>,
    places: HashMap<(String, String), Published>,
    tree: Arc<LocalityTree>,
    agency_names: HashMap<String, String>,
    /// An agency officer reads only comments published under its agency.
    agency_scope: Option<String>,
    /// A random id: reading starts after it and ends with it.
    start: String,
}

impl CommentReader {
    pub fn new(
        db: &Database,
        wave: &Wave,
        form: Arc<Form>,
        min_cell: u64,
        agency_scope: Option<String>,
    ) -> StorageResult<Self> {
        db.refresh_statistics(GrowingTable::Responses)?;
        let tree = db.wave_tree(wave)?;
        let places = comment_places(&db.leaf_cell_sizes(&wave.id)?, &tree, min_cell);
        let agency_names = db.all_agencies()?.into_iter().map(|a| (a.code, a.name)).collect();
        Ok(CommentReader {
            wave_id: wave.id.clone(),
            form,
            places,
            tree,
            agency_names,
            agency_scope,
            start: uuid::Uuid::new_v4().to_string(),
        })
    }

    pub fn first(&self) -> Cursor {
        Cursor::Ahead(self.start.clone())
    }

    /// Calls `each` on the comments in the reader's order, at most `most` of them, and says
    /// whether any were left out.
    pub fn list<E: From<StorageError>>(
        &self,
        db: &Database,
        most: usize,
        mut each: impl FnMut(Comment) -> Result<(), E>,
    ) -> Result<bool, E> {
        let (mut listed, mut cursor) = (0, self.first());
        while let Some((comments, next)) = self.page(db, cursor)? {
            for comment in comments {
                if listed == most {
                    return Ok(true);
                }
                listed += 1;
                each(comment)?;
            }
            cursor = next;
        }
        Ok(false)
    }

    /// The comments of the next page of answers, shuffled, and where to go on; `None` at
    /// the end.
    pub fn page(&self, db: &Database, cursor: Cursor) -> StorageResult<Option<(Vec<Comment>, Cursor)>> {
        let (after, wrapped) = match cursor {
            Cursor::Ahead(after) => (after, false),
            Cursor::Wrapped(after) => (after, true),
            Cursor::Done => return Ok(None),
        };
        let mut answers = db.raw_answers_after(&self.wave_id, &after, PAGE)?;
        let last = answers.last().map(|row| row.0.clone()).filter(|_| answers.len() as i64 == PAGE);
        let next = match (last, wrapped) {
            (Some(last), false) => Cursor::Ahead(last),
            (None, false) => Cursor::Wrapped(String::new()),
            (Some(last), true) if last < self.start => Cursor::Wrapped(last),
            (_, true) => Cursor::Done,
        };
        if wrapped {
            answers.retain(|row| row.0 <= self.start);
        }
        Ok(Some((self.comments_of(answers)?, next)))
    }

    fn comments_of(&self, answers: Vec<crate::storage::tallies::RawAnswer>) -> StorageResult<Vec<Comment>> {
        let mut comments = Vec::new();
        for (_, locality, agency, _, _, json) in answers {
            let Some((place, published_agency)) = self.places.get(&(locality, agency)) else { continue };
            if self.agency_scope.as_ref().is_some_and(|scope| scope != published_agency) {
                continue;
            }
            let stored: HashMap<String, serde_json::Value> =
                serde_json::from_str(&json).map_err(|e| StorageError::Corrupt(e.to_string()))?;
            for item in self.form.items.iter().filter(|i| i.is_text()) {
                let Some(text) = stored.get(&item.id).and_then(|v| v.as_str()).filter(|t| !t.trim().is_empty()) else {
                    continue;
                };
                comments.push(Comment {
                    item_id: item.id.clone(),
                    item_label: item.text.clone(),
                    locality: self.tree.get(place).cloned(),
                    agency_code: (!published_agency.is_empty()).then(|| published_agency.clone()),
                    agency_name: self.agency_names.get(published_agency).cloned(),
                    text: text.to_string(),
                });
            }
        }
        comments.shuffle(&mut rand::thread_rng());
        Ok(comments)
    }
}
