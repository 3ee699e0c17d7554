//! Per-key resources: batch files, batches, custom voices and video jobs.
//!
//! Upstream keeps these inside one account; the mock is stricter and pins
//! each to the key that created it, so a gateway that sends a follow-up
//! request with another key is caught (it gets `ApiError::NotOwned`).

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::text::now_secs;

/// An uploaded batch input file.
#[derive(Debug, Clone)]
pub(crate) struct FileRecord {
    pub id: String,
    pub owner: String,
    pub bytes: u64,
    pub created_at: u64,
    pub filename: String,
    pub purpose: String,
    pub line_count: u64,
}

impl FileRecord {
    /// The upload answer's `data`: camelCase `createdAt`, no line count.
    pub fn upload_json(&self) -> Value {
        json!({
            "id": self.id, "object": "file", "bytes": self.bytes,
            "createdAt": self.created_at, "filename": self.filename, "purpose": self.purpose,
        })
    }

    /// A list item: snake_case `created_at` and `line_count`.
    pub fn list_json(&self) -> Value {
        json!({
            "id": self.id, "object": "file", "bytes": self.bytes,
            "created_at": self.created_at, "filename": self.filename,
            "purpose": self.purpose, "line_count": self.line_count,
        })
    }
}

/// A batch job; it stays `in_queue` unless cancelled.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub id: String,
    pub owner: String,
    pub endpoint: String,
    pub input_file_id: String,
    pub file_name: String,
    pub completion_window: String,
    pub status: &'static str,
    pub created_at: u64,
    pub expires_at: u64,
    pub cancelling_at: Option<u64>,
    pub cancelled_at: Option<u64>,
    pub total: u64,
    pub metadata: Value,
}

impl Batch {
    /// The unwrapped batch object; list items also carry `file_name`.
    pub fn to_json(&self, with_file_name: bool) -> Value {
        let mut value = json!({
            "id": self.id, "object": "batch", "endpoint": self.endpoint, "errors": null,
            "input_file_id": self.input_file_id, "completion_window": self.completion_window,
            "status": self.status, "output_file_id": null, "error_file_id": null,
            "created_at": self.created_at, "in_progress_at": null, "expires_at": self.expires_at,
            "finalizing_at": null, "completed_at": null, "failed_at": null, "expired_at": null,
            "cancelling_at": self.cancelling_at, "cancelled_at": self.cancelled_at,
            "request_counts": {"total": self.total, "completed": 0, "failed": 0},
            "metadata": self.metadata,
        });
        if with_file_name {
            value["file_name"] = Value::String(self.file_name.clone());
        }
        value
    }

    /// A cancel request moves the batch to `cancelling`; the next read finds
    /// it `cancelled`, which is how a queued batch ends upstream too.
    fn settle(&mut self) {
        if self.status == "cancelling" {
            self.status = "cancelled";
            self.cancelled_at = Some(now_secs());
        }
    }
}

/// A custom voice made by `POST /v1/uploads/audio/voice`.
#[derive(Debug, Clone)]
pub(crate) struct Voice {
    pub owner: String,
    pub model: String,
    pub custom_name: String,
    pub text: String,
    pub uri: String,
}

/// A video job; each status poll moves it one step towards `Succeed`.
#[derive(Debug, Clone)]
pub(crate) struct Video {
    pub owner: String,
    pub polls: u32,
    pub url: String,
    pub seed: u64,
}

/// All per-key resources of the mock.
#[derive(Debug, Default)]
pub(crate) struct Resources {
    pub files: Vec<FileRecord>,
    pub batches: Vec<Batch>,
    pub voices: Vec<Voice>,
    pub videos: HashMap<String, Video>,
}

impl Resources {
    /// The owner's file `id`.
    pub fn file(&self, owner: &str, id: &str) -> Result<&FileRecord, ApiError> {
        self.files.iter().find(|file| file.id == id && file.owner == owner).ok_or(ApiError::NotOwned)
    }

    /// The owner's files, newest first.
    pub fn files_of(&self, owner: &str) -> Vec<&FileRecord> {
        self.files.iter().rev().filter(|file| file.owner == owner).collect()
    }

    /// The owner's batch `id`, settled (see `Batch::settle`).
    pub fn batch(&mut self, owner: &str, id: &str) -> Result<&mut Batch, ApiError> {
        let batch =
            self.batches.iter_mut().find(|batch| batch.id == id && batch.owner == owner).ok_or(ApiError::NotOwned)?;
        batch.settle();
        Ok(batch)
    }

    /// The owner's batches, newest first, settled.
    pub fn batches_of(&mut self, owner: &str) -> Vec<Batch> {
        self.batches
            .iter_mut()
            .rev()
            .filter(|batch| batch.owner == owner)
            .map(|batch| {
                batch.settle();
                batch.clone()
            })
            .collect()
    }

    /// Cancels the owner's batch; a finished or cancelled one is returned unchanged.
    pub fn cancel_batch(&mut self, owner: &str, id: &str) -> Result<Batch, ApiError> {
        let batch = self.batch(owner, id)?;
        if batch.status == "in_queue" || batch.status == "in_progress" {
            batch.status = "cancelling";
            batch.cancelling_at = Some(now_secs());
        }
        Ok(batch.clone())
    }

    /// Removes the owner's voice `uri`.
    pub fn delete_voice(&mut self, owner: &str, uri: &str) -> Result<(), ApiError> {
        let index =
            self.voices.iter().position(|voice| voice.uri == uri && voice.owner == owner).ok_or(ApiError::NotOwned)?;
        self.voices.remove(index);
        Ok(())
    }

    /// Whether the owner may speak with voice `uri`.
    pub fn owns_voice(&self, owner: &str, uri: &str) -> bool {
        self.voices.iter().any(|voice| voice.uri == uri && voice.owner == owner)
    }

    /// One status poll of the owner's video: `(status, url, seed)` after the step.
    pub fn poll_video(&mut self, owner: &str, id: &str) -> Result<(&'static str, String, u64), ApiError> {
        let video = self.videos.get_mut(id).filter(|video| video.owner == owner).ok_or(ApiError::NotOwned)?;
        video.polls = video.polls.saturating_add(1);
        let status = match video.polls {
            1 => "InQueue",
            2 => "InProgress",
            _ => "Succeed",
        };
        Ok((status, video.url.clone(), video.seed))
    }
}
