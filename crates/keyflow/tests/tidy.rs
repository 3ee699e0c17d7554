//! Small rules the repository keeps: the README's configuration table is
//! the one the code knows, every source file opens with a `//!` line, and no
//! file grows past the size where it should be split.
//!
//! `KEYFLOW_BLESS=1 cargo test --test tidy` rewrites the README table.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

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

#[test]
fn source_files_open_with_a_doc_line_and_stay_small() {
    let mut files = Vec::new();
    for krate in ["crates/keyflow/src", "crates/keyflow-mock/src"] {
        rust_files(&root().join(krate), &mut files);
    }
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        if !text.starts_with("//!") {
            problems.push(format!("{}: does not open with a `//!` line", file.display()));
        }
        let lines = text.lines().count();
        if lines > 1000 {
            problems.push(format!("{}: {lines} lines; split it", file.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
