//! The log journal: a local file where log rows wait while the database
//! cannot take them, drained in order when it can again.
//!
//! The file starts with a line naming its generation, then one JSON row per
//! line. Draining commits each chunk together with a mark (generation and
//! byte offset) in the database, in one transaction, so a drain cut short by
//! a crash resumes after its last committed chunk: no row lost, none twice.
//! The file is bounded ([`MAX_BYTES`]); when it is full the writer holds
//! rows in memory instead, and intake slows down.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};
use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, AsyncWriteExt, BufReader};

use crate::store::{LogRow, Store, StoreError};

/// The journal's size at most.
pub const MAX_BYTES: u64 = 256 * 1024 * 1024;
/// Rows per drained chunk (one transaction each).
const CHUNK: usize = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("log journal {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("log journal {path} is not a journal: {reason}")]
    Corrupt { path: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Serialize, Deserialize)]
struct Header {
    journal: String,
}

pub struct Journal {
    path: PathBuf,
    /// The settings row holding the drain mark (`journal:INSTANCE`).
    mark_name: String,
    /// This file's generation, from its first line.
    generation: String,
    /// Where the rows not yet drained start.
    drained_to: u64,
    /// The file's length.
    len: u64,
    /// Rows written and not yet drained (an estimate across restarts).
    pub rows: u64,
}

impl Journal {
    /// Opens the journal at `path` as left by an earlier run, or `None`
    /// when there is none; the database's mark says how much of it was
    /// already drained.
    pub async fn open(path: &Path, instance: &str, store: &dyn Store) -> Result<Journal, JournalError> {
        let mark_name = format!("journal:{instance}");
        let io = |source| JournalError::Io { path: path.display().to_string(), source };
        let mut journal =
            Journal { path: path.to_path_buf(), mark_name, generation: String::new(), drained_to: 0, len: 0, rows: 0 };
        let file = match File::open(path).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(journal),
            Err(e) => return Err(io(e)),
        };
        journal.len = file.metadata().await.map_err(io)?.len();
        let mut header = String::new();
        BufReader::new(file).read_line(&mut header).await.map_err(io)?;
        let parsed: Header = serde_json::from_str(header.trim()).map_err(|e| JournalError::Corrupt {
            path: path.display().to_string(),
            reason: format!("first line: {e}"),
        })?;
        journal.generation = parsed.journal;
        journal.drained_to = header.len() as u64;
        if let Some(mark) = store.load_value(&journal.mark_name).await? {
            if let Some((generation, offset)) = mark.split_once(':') {
                if generation == journal.generation {
                    journal.drained_to = offset.parse().unwrap_or(journal.drained_to).max(journal.drained_to);
                }
            }
        }
        // Unknown until read; at least one row when anything is left.
        journal.rows = u64::from(journal.drained_to < journal.len);
        Ok(journal)
    }

    /// Whether rows wait in the file.
    pub fn has_rows(&self) -> bool {
        self.drained_to < self.len
    }

    /// Appends `rows`; false (and nothing written) when the file would
    /// grow past [`MAX_BYTES`].
    pub async fn append(&mut self, rows: &[LogRow]) -> Result<bool, JournalError> {
        let io = |source| JournalError::Io { path: self.path.display().to_string(), source };
        let mut text = String::new();
        if self.len == 0 {
            self.generation = Alphanumeric.sample_string(&mut rand::rng(), 16);
            let header = Header { journal: self.generation.clone() };
            text.push_str(&serde_json::to_string(&header).unwrap_or_default());
            text.push('\n');
        }
        for row in rows {
            text.push_str(&serde_json::to_string(row).unwrap_or_default());
            text.push('\n');
        }
        if self.len + text.len() as u64 > MAX_BYTES {
            return Ok(false);
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await.map_err(io)?;
        }
        let mut file = OpenOptions::new().create(true).append(true).open(&self.path).await.map_err(io)?;
        file.write_all(text.as_bytes()).await.map_err(io)?;
        // On disk before the rows count as kept: the queue forgets them next.
        file.sync_data().await.map_err(io)?;
        if self.len == 0 {
            self.drained_to = text.find('\n').map_or(0, |i| i as u64 + 1);
        }
        self.len += text.len() as u64;
        self.rows += rows.len() as u64;
        Ok(true)
    }

    /// Commits the next chunk to the store with its mark; returns how many
    /// rows went. Removes the file once everything is drained.
    pub async fn drain_chunk(&mut self, store: &dyn Store) -> Result<usize, JournalError> {
        if !self.has_rows() {
            return Ok(0);
        }
        let io = |source| JournalError::Io { path: self.path.display().to_string(), source };
        let mut file = File::open(&self.path).await.map_err(io)?;
        file.seek(SeekFrom::Start(self.drained_to)).await.map_err(io)?;
        let mut reader = BufReader::new(file);
        let mut rows = Vec::with_capacity(CHUNK);
        let mut offset = self.drained_to;
        let mut line = String::new();
        while rows.len() < CHUNK {
            line.clear();
            let n = reader.read_line(&mut line).await.map_err(io)?;
            // A line cut short by a crash while appending ends the journal.
            if n == 0 || !line.ends_with('\n') {
                break;
            }
            offset += n as u64;
            match serde_json::from_str::<LogRow>(line.trim_end()) {
                Ok(row) => rows.push(row),
                Err(e) => tracing::error!(error = %e, "unreadable row in the log journal skipped"),
            }
        }
        let start = self.drained_to;
        if offset > start {
            let mark = format!("{}:{offset}", self.generation);
            store.insert_logs_marked(&rows, (&self.mark_name, &mark)).await?;
            self.drained_to = offset;
            self.rows = self.rows.saturating_sub(rows.len() as u64);
        }
        // Done, or only a torn last line is left: nothing more will come.
        if offset >= self.len || offset == start {
            self.remove().await?;
        }
        Ok(rows.len())
    }

    async fn remove(&mut self) -> Result<(), JournalError> {
        match tokio::fs::remove_file(&self.path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(JournalError::Io { path: self.path.display().to_string(), source }),
        }
        self.len = 0;
        self.drained_to = 0;
        self.rows = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: i64) -> LogRow {
        LogRow { ts_ms: i, route: "/v1/chat/completions".into(), status: 200, ..LogRow::default() }
    }

    #[tokio::test]
    async fn rows_wait_and_drain_once_across_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.jsonl");
        let store = crate::store::open("sqlite::memory:").await.expect("store");
        let mut journal = Journal::open(&path, "a", store.as_ref()).await.expect("open");
        assert!(!journal.has_rows());
        let rows: Vec<LogRow> = (0..5_000).map(row).collect();
        assert!(journal.append(&rows[..3_000]).await.expect("append"));
        assert!(journal.append(&rows[3_000..]).await.expect("append"));
        // One chunk drains, then the process "restarts".
        assert_eq!(journal.drain_chunk(store.as_ref()).await.expect("drain"), CHUNK);
        let mut journal = Journal::open(&path, "a", store.as_ref()).await.expect("reopen");
        assert!(journal.has_rows());
        while journal.drain_chunk(store.as_ref()).await.expect("drain") > 0 {}
        assert!(!path.exists(), "a drained journal is removed");
        let (stored, total) = store.query_logs(&Default::default(), 0, 10).await.expect("query");
        assert_eq!(total, 5_000, "every row once");
        assert_eq!(stored[0].ts_ms, 4_999);
        // A new journal after a drained one starts a new generation.
        let mut journal = Journal::open(&path, "a", store.as_ref()).await.expect("open");
        assert!(journal.append(&rows[..10]).await.expect("append"));
        let mut journal = Journal::open(&path, "a", store.as_ref()).await.expect("reopen");
        assert_eq!(journal.drain_chunk(store.as_ref()).await.expect("drain"), 10);
    }

    #[tokio::test]
    async fn a_torn_last_line_is_left_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.jsonl");
        let store = crate::store::open("sqlite::memory:").await.expect("store");
        let mut journal = Journal::open(&path, "a", store.as_ref()).await.expect("open");
        assert!(journal.append(&[row(1), row(2)]).await.expect("append"));
        let mut file = OpenOptions::new().append(true).open(&path).await.expect("open");
        file.write_all(b"{\"ts_ms\":3,\"rou").await.expect("torn write");
        let mut journal = Journal::open(&path, "a", store.as_ref()).await.expect("reopen");
        assert_eq!(journal.drain_chunk(store.as_ref()).await.expect("drain"), 2);
        assert_eq!(journal.drain_chunk(store.as_ref()).await.expect("drain"), 0);
        assert!(!path.exists());
    }
}
