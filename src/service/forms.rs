//! The form a wave pinned: found by content hash, parsed once per process.

use crate::domain::form::{Form, FormRegistry, parse_form};
use crate::storage::{Database, StorageError, StorageResult};
use std::sync::Arc;

/// The questionnaire and rules a wave was created with, whatever the files say today.
pub fn wave_form(db: &Database, forms: &FormRegistry, content_hash: &str) -> StorageResult<Arc<Form>> {
    if let Some(form) = forms.by_hash(content_hash) {
        return Ok(form);
    }
    let content = db
        .pinned_form_content(content_hash)?
        .ok_or_else(|| StorageError::Corrupt(format!("no pinned form {content_hash}")))?;
    let form = parse_form(&format!("pinned form {content_hash}"), &content, None).map_err(|errors| {
        StorageError::Corrupt(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
    })?;
    Ok(forms.remember(form))
}

/// Pins a form to every wave created before waves pinned one: the newest loaded version whose
/// counters the wave's tallies already hold (the version it was answered with), else the
/// newest. Warns about a file whose version was edited in place after a wave pinned it.
/// Run at start-up, before anything reads a wave.
pub fn pin_forms_of_earlier_waves(db: &Database, forms: &FormRegistry) -> StorageResult<()> {
    for (wave, form_id) in db.waves_without_pinned_form()? {
        let layout = db.tally_layout(&wave)?;
        let versions = forms.versions(&form_id);
        let answered_with = versions.iter().rev().find(|f| !layout.is_empty() && layout.covers(f));
        let form = answered_with
            .or(versions.last())
            .ok_or_else(|| StorageError::Corrupt(format!("wave {wave} uses unknown form {form_id}")))?;
        db.pin_wave_form(&wave, form)?;
        tracing::info!(wave, form = form_id, version = form.version, "form pinned to an earlier wave");
    }
    for (form_id, version, hash) in db.pinned_form_versions()? {
        if forms.version(&form_id, &version).is_some_and(|f| f.content_hash != hash) {
            tracing::warn!(
                form = form_id,
                version,
                "a form file changed without a new version; waves created before keep the text they pinned"
            );
        }
    }
    Ok(())
}
