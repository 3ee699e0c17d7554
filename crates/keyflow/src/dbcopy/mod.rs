//! `keyflow db copy --from URL --to URL`: moves a deployment between
//! databases (SQLite and PostgreSQL, either way) through the store API.
//!
//! Both stores are opened as the gateway opens them (the source without the
//! secret when it holds nothing sealed, so it is not sealed in place), and
//! every value is read plain through one and written through the other:
//! with `KEYFLOW_SECRET` the target seals keys and secret settings under
//! its own salt, and no sealed byte is copied raw (`cipher_kdf` stays
//! behind). The copy
//! merges and never deletes, and a second run adds nothing: keys collapse
//! on their fingerprint and are then brought to the source's state, tokens
//! on their hash, pins, facts, prices and named values compare equal, and
//! log rows resume after a high-water mark the target keeps per source
//! (`logs.rs`), written in the same transaction as each batch. Key ids
//! differ between the databases; pins and log rows are re-pointed through
//! the keys themselves. The [`Report`] counts what moved and never shows a
//! key, a password or a database password.

mod endpoint;
mod keys;
mod logs;
mod report;
mod tables;

use std::sync::Arc;

pub use report::{Report, Tally};

use crate::secret::Secret;
use crate::store::{redacted_url, Store, StoreError};

/// Why a copy did not run or stopped.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("--from and --to name the same database ({0}): nothing to copy")]
    SameDatabase(String),
    #[error("the source database {0} does not exist")]
    MissingSource(String),
    #[error("an in-memory database ({0}) cannot be copied from or to")]
    InMemory(String),
    /// The store's error is part of the message (not a `source`), so it
    /// prints once under `anyhow`'s `{:#}`.
    #[error("{what}: {error}")]
    Store { what: &'static str, error: StoreError },
}

/// Names the step a store error stopped.
fn at(what: &'static str) -> impl FnOnce(StoreError) -> CopyError {
    move |error| CopyError::Store { what, error }
}

/// Copies everything `from` holds into `to` and reports what moved. With
/// `secret`, the target is sealed with it; the source is opened with it
/// only when it holds sealed values (a plain source stays as it is).
pub async fn copy(from: &str, to: &str, secret: Option<&Secret>, pool_size: u32) -> Result<Report, CopyError> {
    let source_id = endpoint::identity(from)?;
    if source_id == endpoint::identity(to)? {
        return Err(CopyError::SameDatabase(redacted_url(from)));
    }
    if let Some(path) = endpoint::sqlite_file(from) {
        if !path.is_file() {
            return Err(CopyError::MissingSource(redacted_url(from)));
        }
    }
    let source = endpoint::open_source(from, secret, pool_size).await.map_err(at("opening the source"))?;
    let target = crate::store::open_sized(to, secret, pool_size).await.map_err(at("opening the target"))?;
    let mut report = Report::new(redacted_url(from), redacted_url(to));
    run(source, target, &source_id, &mut report).await?;
    Ok(report)
}

/// The steps in order: keys first, since pins and log rows name them.
async fn run(
    source: Arc<dyn Store>,
    target: Arc<dyn Store>,
    source_id: &str,
    report: &mut Report,
) -> Result<(), CopyError> {
    let (source, target) = (source.as_ref(), target.as_ref());
    let mark = logs::mark_name(source_id);
    let key_ids = keys::copy_keys(source, target, report).await.map_err(at("copying keys"))?;
    tables::copy_settings(source, target, &mark, report).await.map_err(at("copying settings"))?;
    tables::copy_tokens(source, target, report).await.map_err(at("copying client tokens"))?;
    tables::copy_pins(source, target, &key_ids, report).await.map_err(at("copying pins"))?;
    tables::copy_facts(source, target, report).await.map_err(at("copying model facts"))?;
    tables::copy_prices(source, target, report).await.map_err(at("copying prices"))?;
    logs::copy_logs(source, target, &mark, &key_ids, report).await.map_err(at("copying log rows"))?;
    Ok(())
}
