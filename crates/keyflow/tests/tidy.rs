//! Small rules the repository keeps: the README's configuration table is
//! the one the code knows, every Rust file opens with a `//!` line, and no
//! file grows past the size where it should be split (600 lines in `src`,
//! 1,000 in `tests` and `benches`), and (`floors`) no module imports from a
//! floor above its own or in a cycle.
//!
//! `KEYFLOW_BLESS=1 cargo test --test tidy` rewrites the README table.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

#[path = "tidy/floors.rs"]
mod floors;

const BEGIN: &str = "<!-- config-table:begin -->\n";
const END: &str = "<!-- config-table:end -->";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn readme_configuration_table_is_current() {
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let start = readme.find(BEGIN).expect("README lacks the config-table:begin marker") + BEGIN.len();
    let end = readme.find(END).expect("README lacks the config-table:end marker");
    let table = keyflow::config::env_help_markdown();
    if readme[start..end] != table {
        if std::env::var_os("KEYFLOW_BLESS").is_some() {
            let updated = format!("{}{}{}", &readme[..start], table, &readme[end..]);
            std::fs::write(&path, updated).expect("write README");
        } else {
            panic!("README configuration table is stale: run KEYFLOW_BLESS=1 cargo test -p keyflow --test tidy");
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Lines a source file under `crates/*/src` may have: past it, split the
/// file (tests of a big module go to a `tests.rs` file of their own).
const MAX_SOURCE_LINES: usize = 600;
/// Integration tests and benches may run longer: a suite reads top to bottom.
const MAX_TEST_LINES: usize = 1000;

#[test]
fn source_files_open_with_a_doc_line_and_stay_small() {
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root().join("crates")).expect("crates") {
        let krate = krate.expect("entry").path();
        for (folder, limit) in [("src", MAX_SOURCE_LINES), ("tests", MAX_TEST_LINES), ("benches", MAX_TEST_LINES)] {
            let dir = krate.join(folder);
            if dir.is_dir() {
                let mut found = Vec::new();
                rust_files(&dir, &mut found);
                files.extend(found.into_iter().map(|file| (file, limit)));
            }
        }
    }
    assert!(files.len() > 100, "found only {} Rust files: is the workspace layout as expected?", files.len());
    let mut problems = Vec::new();
    for (file, limit) in files {
        let text = std::fs::read_to_string(&file).expect("read");
        if !text.starts_with("//!") {
            problems.push(format!("{}: does not open with a `//!` line", file.display()));
        }
        let lines = text.lines().count();
        if lines > limit {
            problems.push(format!("{}: {lines} lines (at most {limit}); split it", file.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
