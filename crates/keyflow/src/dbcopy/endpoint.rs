//! The two ends of a copy: where a URL's data really lives (so one database
//! spelled two ways is refused, and the log mark names its source one way),
//! and opening the source without changing it.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::PgConnectOptions;

use super::CopyError;
use crate::secret::Secret;
use crate::store::{redacted_url, Store, StoreError, StoreResult};

/// The file of a `sqlite:` URL as the store reads it, `None` for any other.
pub(super) fn sqlite_file(url: &str) -> Option<PathBuf> {
    let scheme_len = "sqlite:".len();
    if !url.get(..scheme_len)?.eq_ignore_ascii_case("sqlite:") {
        return None;
    }
    let rest = &url[scheme_len..];
    let path = rest.strip_prefix("//").unwrap_or(rest);
    Some(PathBuf::from(path.split('?').next().unwrap_or(path)))
}

/// The absolute form of a path that may not exist yet (a new target).
fn absolute(path: &Path) -> PathBuf {
    if let Ok(found) = std::fs::canonicalize(path) {
        return found;
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    match (std::fs::canonicalize(parent), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    }
}

/// One spelling per database, without a password: `sqlite:///abs/path` or
/// `postgres://user@host:port/database` (query options dropped: they
/// change how to connect, not where the data is).
pub(super) fn identity(url: &str) -> Result<String, CopyError> {
    if let Some(path) = sqlite_file(url) {
        if path.as_os_str() == ":memory:" || path.as_os_str().is_empty() {
            return Err(CopyError::InMemory(redacted_url(url)));
        }
        return Ok(format!("sqlite://{}", absolute(&path).display()));
    }
    let unsupported =
        || CopyError::Store { what: "reading the database url", error: StoreError::UnsupportedUrl(redacted_url(url)) };
    let scheme = url.split("://").next().unwrap_or_default().to_ascii_lowercase();
    if scheme != "postgres" && scheme != "postgresql" {
        return Err(unsupported());
    }
    let options = PgConnectOptions::from_str(url).map_err(|_| unsupported())?;
    let host = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => options.get_host().to_ascii_lowercase(),
    };
    let user = options.get_username();
    let database = options.get_database().unwrap_or(user);
    Ok(format!("postgres://{user}@{host}:{}/{database}", options.get_port()))
}

/// Opens the source without the secret when it holds nothing sealed: with
/// it, the store would seal a plain source in place, and a copy should not
/// change what it copies from.
pub(super) async fn open_source(url: &str, secret: Option<&Secret>, pool_size: u32) -> StoreResult<Arc<dyn Store>> {
    match crate::store::open_sized(url, None, pool_size).await {
        Err(StoreError::Secret(_)) if secret.is_some() => crate::store::open_sized(url, secret, pool_size).await,
        opened => opened,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(url: &str) -> String {
        identity(url).map_err(|e| e.to_string()).unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn one_database_has_one_identity() {
        assert_eq!(id("postgres://kf:one@DB.example/keyflow"), id("postgresql://kf:two@db.example:5432/keyflow"));
        assert_eq!(id("postgres://kf@db/keyflow?sslmode=require"), "postgres://kf@db:5432/keyflow");
        assert_ne!(id("postgres://kf@db/keyflow"), id("postgres://kf@db/other"));
        assert_ne!(id("postgres://kf@db/keyflow"), id("postgres://kf@db:5433/keyflow"));
        let dir = std::env::temp_dir();
        let plain = format!("sqlite://{}/kf-copy-x.db", dir.display());
        let dotted = format!("sqlite:{}/./kf-copy-x.db?mode=rwc", dir.display());
        assert_eq!(id(&plain), id(&dotted));
        assert!(id(&plain).starts_with("sqlite:///"), "{}", id(&plain));
    }

    #[test]
    fn identities_never_hold_a_password_and_odd_urls_are_refused() {
        assert!(!id("postgres://kf:hunter2@db/keyflow").contains("hunter2"));
        assert!(id("sqlite::memory:").contains("in-memory"));
        let mysql = id("mysql://root:hunter2@db/x");
        assert!(mysql.starts_with("error") && !mysql.contains("hunter2"), "{mysql}");
    }

    #[test]
    fn sqlite_files_are_read_as_the_store_reads_them() {
        assert_eq!(sqlite_file("sqlite://data/keyflow.db"), Some(PathBuf::from("data/keyflow.db")));
        assert_eq!(sqlite_file("sqlite:/srv/kf.db?mode=ro"), Some(PathBuf::from("/srv/kf.db")));
        assert_eq!(sqlite_file("postgres://kf@db/x"), None);
    }
}
