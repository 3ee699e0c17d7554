//! The import floors of `crates/keyflow/src` (`docs/ARCHITECTURE.md`,
//! "Floors"): every `crate::…` path (and `super::…` that leaves its
//! top-level module, and `keyflow::…` in `main.rs`) is read from the source,
//! each file is mapped to its top-level module, and an import from a higher
//! floor, a cycle between modules, or a module missing from the table fails.
//!
//! `cargo test -p keyflow --test tidy -- --nocapture module_graph` prints the
//! graph's figures (cycles, upward imports, file sizes);
//! `KEYFLOW_GRAPH_SRC=/other/checkout/crates/keyflow/src` points it at
//! another tree, e.g. an older commit unpacked with `git archive`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The floors, lowest first: a module may import its own floor and the
/// floors below, never one above; within a floor the imports form no cycle.
/// Keep in step with the table in `docs/ARCHITECTURE.md`.
pub const FLOORS: &[(&str, &[&str])] = &[
    ("base", &["secret", "clock", "config"]),
    ("store", &["store"]),
    ("memory", &["pool", "pins", "catalog", "usage"]),
    ("upstream", &["upstream"]),
    ("services", &["keys", "models", "tokens", "access", "settings", "stats"]),
    ("state", &["state"]),
    ("surfaces", &["edge", "proxy", "images", "admin", "console", "health", "jobs", "cluster"]),
    ("app", &["app"]),
    ("commands", &["migrate", "dbcopy", "commands", "cli", "lib", "main"]),
];

/// Lines past which a source file should be split (the size rule's limit).
const LARGE_FILE: usize = 600;

fn floor_of(module: &str) -> Option<usize> {
    FLOORS.iter().position(|(_, modules)| modules.contains(&module))
}

/// One import: where it is and what it names.
#[derive(Debug, Clone)]
struct Import {
    from: String,
    to: String,
    file: String,
    line: usize,
}

/// Everything the checks and the summary read.
struct Graph {
    imports: Vec<Import>,
    /// Relative path and line count of every file.
    sizes: Vec<(String, usize)>,
    modules: BTreeSet<String>,
}

fn src_dir() -> PathBuf {
    match std::env::var_os("KEYFLOW_GRAPH_SRC") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
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

/// The file's module path from the crate root: `upstream/failover.rs` →
/// `[upstream, failover]`, `proxy/mod.rs` → `[proxy]`, `lib.rs` → `[lib]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

/// The source with comments, strings and character literals blanked out
/// (newlines kept, so line numbers stay right): a path in a doc comment or
/// a message is not an import.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_char(chars.get(i.wrapping_sub(1))) {
            // A raw string: r"…", r#"…"#; anything else starting with r# is
            // a raw identifier and stays.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match chars.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    Some(&other) => blank(&mut out, other),
                }
                j += 1;
            }
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if let Some(&inner) = chars.get(i) {
                    blank(&mut out, inner);
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// The identifier starting at `i`, if any.
fn ident_at(chars: &[char], mut i: usize) -> (String, usize) {
    let mut name = String::new();
    while let Some(&c) = chars.get(i) {
        if c.is_alphanumeric() || c == '_' {
            name.push(c);
            i += 1;
        } else {
            break;
        }
    }
    (name, i)
}

fn skip_space(chars: &[char], mut i: usize) -> usize {
    while chars.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    i
}

/// The first segments a path names at `i` (just after `crate::`): one
/// identifier, or every item of a `{…}` group.
fn first_segments(chars: &[char], i: usize) -> Vec<String> {
    let i = skip_space(chars, i);
    if chars.get(i) != Some(&'{') {
        let (name, _) = ident_at(chars, i);
        return if name.is_empty() { Vec::new() } else { vec![name] };
    }
    let mut names = Vec::new();
    let mut depth = 0;
    let mut j = i;
    let mut expect_item = false;
    while let Some(&c) = chars.get(j) {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    expect_item = true;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => expect_item = true,
            c if expect_item && (c.is_alphanumeric() || c == '_') => {
                let (name, end) = ident_at(chars, j);
                names.push(name);
                expect_item = false;
                j = end;
                continue;
            }
            c if c.is_whitespace() => {}
            _ => expect_item = false,
        }
        j += 1;
    }
    names
}

/// The top-level modules `text` (the code of the file at `path`) imports.
fn imports_of(path: &[String], root_items: &BTreeSet<String>, text: &str) -> Vec<(String, usize)> {
    let code = code_only(text);
    let chars: Vec<char> = code.chars().collect();
    let binary = path.first().is_some_and(|m| m == "main");
    let mut found = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let starts = |i: usize, word: &str| {
        !ident_char(chars.get(i.wrapping_sub(1)))
            && word.chars().enumerate().all(|(k, w)| chars.get(i + k) == Some(&w))
            && chars.get(i + word.len()) == Some(&':')
            && chars.get(i + word.len() + 1) == Some(&':')
    };
    while i < chars.len() {
        if chars[i] == '\n' {
            line += 1;
        }
        let prefix = if starts(i, "crate") {
            Some("crate")
        } else if binary && starts(i, "keyflow") {
            Some("keyflow")
        } else if starts(i, "super") && chars.get(i.wrapping_sub(1)) != Some(&':') {
            Some("super")
        } else {
            None
        };
        let Some(prefix) = prefix else {
            i += 1;
            continue;
        };
        let mut j = i + prefix.len() + 2;
        let names = if prefix == "super" {
            // Climbs from the file's module; only a climb past the top-level
            // module reaches another one.
            let mut depth = path.len().saturating_sub(1);
            loop {
                let (name, end) = ident_at(&chars, j);
                if name == "super" && chars.get(end) == Some(&':') {
                    depth = depth.saturating_sub(1);
                    j = end + 2;
                } else {
                    break;
                }
            }
            if depth > 0 {
                i = j;
                continue;
            }
            first_segments(&chars, j)
        } else {
            first_segments(&chars, j)
        };
        for name in names {
            // `crate::App` and other items of the crate root belong to `lib`.
            let module = if root_items.contains(&name) { name } else { "lib".to_string() };
            found.push((module, line));
        }
        i = j;
    }
    found
}

/// The modules `lib.rs` declares.
fn root_modules(src: &Path) -> BTreeSet<String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    code_only(&lib)
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line.strip_prefix("pub mod ").or_else(|| line.strip_prefix("mod "))?;
            Some(rest.trim_end_matches(';').trim().to_string())
        })
        .collect()
}

fn graph() -> Graph {
    let src = src_dir();
    let root_items = root_modules(&src);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut imports = Vec::new();
    let mut sizes = Vec::new();
    let mut modules = BTreeSet::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src").to_path_buf();
        let path = module_path(&relative);
        let from = path[0].clone();
        modules.insert(from.clone());
        let text = std::fs::read_to_string(&file).expect("read");
        sizes.push((relative.display().to_string(), text.lines().count()));
        for (to, line) in imports_of(&path, &root_items, &text) {
            if to != from {
                imports.push(Import { from: from.clone(), to, file: relative.display().to_string(), line });
            }
        }
    }
    Graph { imports, sizes, modules }
}

impl Graph {
    /// Module → the modules it imports.
    fn edges(&self) -> BTreeMap<&str, BTreeSet<&str>> {
        let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for module in &self.modules {
            edges.entry(module).or_default();
        }
        for import in &self.imports {
            edges.entry(&import.from).or_default().insert(&import.to);
        }
        edges
    }

    /// Groups of modules that import each other (strongly connected
    /// components of more than one module), by Tarjan's algorithm.
    fn cycles(&self) -> Vec<Vec<String>> {
        struct Walk<'a> {
            edges: BTreeMap<&'a str, BTreeSet<&'a str>>,
            index: BTreeMap<&'a str, usize>,
            low: BTreeMap<&'a str, usize>,
            stack: Vec<&'a str>,
            on_stack: BTreeSet<&'a str>,
            next: usize,
            groups: Vec<Vec<String>>,
        }
        fn visit<'a>(walk: &mut Walk<'a>, v: &'a str) {
            walk.index.insert(v, walk.next);
            walk.low.insert(v, walk.next);
            walk.next += 1;
            walk.stack.push(v);
            walk.on_stack.insert(v);
            let targets: Vec<&'a str> = walk.edges.get(v).map(|t| t.iter().copied().collect()).unwrap_or_default();
            for w in targets {
                if !walk.index.contains_key(w) {
                    visit(walk, w);
                    let low = walk.low[v].min(walk.low[w]);
                    walk.low.insert(v, low);
                } else if walk.on_stack.contains(w) {
                    let low = walk.low[v].min(walk.index[w]);
                    walk.low.insert(v, low);
                }
            }
            if walk.low[v] == walk.index[v] {
                let mut group = Vec::new();
                while let Some(w) = walk.stack.pop() {
                    walk.on_stack.remove(w);
                    group.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    walk.groups.push(group);
                }
            }
        }
        let edges = self.edges();
        let nodes: Vec<&str> = edges.keys().copied().collect();
        let mut walk = Walk {
            edges,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            next: 0,
            groups: Vec::new(),
        };
        for v in nodes {
            if !walk.index.contains_key(v) {
                visit(&mut walk, v);
            }
        }
        walk.groups.sort();
        walk.groups
    }

    /// Imports from a higher floor, one line per module pair with its first
    /// place and the number of places.
    fn upward(&self) -> Vec<String> {
        let mut pairs: BTreeMap<(&str, &str), (usize, &Import)> = BTreeMap::new();
        for import in self.imports.iter().filter(|i| self.is_upward(i)) {
            pairs.entry((&import.from, &import.to)).or_insert((0, import)).0 += 1;
        }
        pairs
            .into_iter()
            .map(|((from, to), (n, first))| {
                format!(
                    "{from} ({}) → {to} ({}): {n} place(s), first {}:{}",
                    FLOORS[floor_of(from).unwrap_or(0)].0,
                    FLOORS[floor_of(to).unwrap_or(0)].0,
                    first.file,
                    first.line
                )
            })
            .collect()
    }

    fn is_upward(&self, import: &Import) -> bool {
        matches!((floor_of(&import.from), floor_of(&import.to)), (Some(from), Some(to)) if to > from)
    }

    fn unplaced(&self) -> Vec<&str> {
        self.modules.iter().map(String::as_str).filter(|m| floor_of(m).is_none()).collect()
    }
}

#[test]
fn module_graph() {
    let graph = graph();
    let edges = graph.edges();
    let n_edges: usize = edges.values().map(BTreeSet::len).sum();
    let cycles = graph.cycles();
    let in_cycles: usize = cycles.iter().map(Vec::len).sum();
    println!("module graph of {}", src_dir().display());
    println!("  {} top-level modules, {} module-to-module imports", graph.modules.len(), n_edges);
    println!("  cycles: {} ({} modules in a cycle)", cycles.len(), in_cycles);
    for group in &cycles {
        println!("    {}", group.join(", "));
    }
    let upward = graph.upward();
    let n_places: usize = graph.imports.iter().filter(|i| graph.is_upward(i)).count();
    println!("  upward imports (against the floors table): {} module pairs, {n_places} places", upward.len());
    for line in &upward {
        println!("    {line}");
    }
    let unplaced = graph.unplaced();
    if !unplaced.is_empty() {
        println!("  modules on no floor: {}", unplaced.join(", "));
    }
    let mut lines: Vec<usize> = graph.sizes.iter().map(|(_, n)| *n).collect();
    lines.sort_unstable();
    let total: usize = lines.iter().sum();
    let median = lines.get(lines.len() / 2).copied().unwrap_or(0);
    let mut largest = graph.sizes.clone();
    largest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let over = largest.iter().filter(|(_, n)| *n > LARGE_FILE).count();
    println!(
        "  files: {} ({} lines; median {}, largest {}; {} over {LARGE_FILE})",
        lines.len(),
        total,
        median,
        lines.last().copied().unwrap_or(0),
        over
    );
    for (file, n) in largest.iter().take(5) {
        println!("    {n:>5} {file}");
    }
}

#[test]
fn modules_keep_to_their_floors() {
    let graph = graph();
    let mut problems = Vec::new();
    for module in graph.unplaced() {
        problems.push(format!(
            "module `{module}` is on no floor: add it to FLOORS in tests/tidy/floors.rs and to docs/ARCHITECTURE.md"
        ));
    }
    for line in graph.upward() {
        // The usual slip: a service reaching for the app's state.
        let hint = if line.contains("→ state (") {
            "; a service takes the handles it uses (see `keys::Keys`, `models::Models`), never `AppState`"
        } else {
            ""
        };
        problems.push(format!("upward import {line}{hint}"));
    }
    for group in graph.cycles() {
        problems.push(format!("modules import each other in a cycle: {}", group.join(", ")));
    }
    assert!(problems.is_empty(), "the import floors do not hold:\n{}", problems.join("\n"));
}

#[test]
fn the_reader_sees_through_comments_strings_and_groups() {
    let roots: BTreeSet<String> = ["pool", "store", "proxy", "images"].iter().map(|s| s.to_string()).collect();
    let text = r##"//! Mentions crate::proxy in a doc line.
use crate::{pool::{KeyPool, Lease}, store::KeyId};
use super::super::images::size;
fn f() -> &'static str { let _c = '"'; "crate::proxy" }
/* crate::proxy */ const R: &str = r#"crate::proxy"#;
let x = crate::App::new();
"##;
    let path = vec!["upstream".to_string(), "failover".to_string()];
    let found: Vec<String> = imports_of(&path, &roots, text).into_iter().map(|(m, _)| m).collect();
    assert_eq!(found, ["pool", "store", "images", "lib"]);
}
