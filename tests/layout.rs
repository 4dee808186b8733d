//! The layout ARCHITECTURE.md promises, checked on the sources: modules depend only
//! downwards (domain ← mail/config ← decide ← store ← the I/O modules ← daemon), no two
//! modules import each other even indirectly, and no production file outgrows a reader.
//! A change that breaks it fails here with the offending file and reference.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crate's top-level modules, lowest first. A module may use modules of its own band or
/// lower ones, never a higher band; within a band there must be no circle.
const BANDS: &[(&str, &[&str])] = &[
    ("the domain model", &["domain"]),
    ("pure readers", &["mail", "hours", "lang"]),
    ("configuration", &["config"]),
    ("pure decisions' parts", &["route", "compose"]),
    ("the decision", &["decide"]),
    ("the store", &["store"]),
    (
        "I/O and shells",
        &[
            "liveness",
            "logging",
            "reload",
            "oauth2",
            "metrics",
            "processor",
            "actions",
            "outbox",
            "ingest",
            "sla",
            "backup",
            "privacy",
            "ops",
        ],
    ),
    ("wiring", &["daemon"]),
];

/// Modules only tests use.
const TEST_ONLY: &[&str] = &["testing", "testutil"];

/// Above this many lines of production code a file is split (tests are not counted).
const MAX_FILE_LINES: usize = 700;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("src is readable")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's production code: without a trailing `#[cfg(test)] mod tests { … }` and without
/// comment lines (doc links are not dependencies). `None` for a test-only file.
fn production_code(path: &Path) -> Option<String> {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return None;
    }
    let text = std::fs::read_to_string(path).expect("source is readable");
    let code = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => &text,
    };
    Some(code.to_string())
}

/// The top-level module a file belongs to (`src/store/commit.rs` → `store`).
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// Every `crate::NAME` a piece of code refers to (in paths and in `use crate::{…}` groups).
fn references(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                for item in group.split([',', '}']) {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        found.insert(name);
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        }
    }
    found
}

/// Module → (module it uses → the first file that uses it).
fn graph() -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for path in files {
        let (Some(module), Some(code)) = (module_of(&path), production_code(&path)) else {
            continue;
        };
        let uses = graph.entry(module.clone()).or_default();
        for dep in references(&code) {
            if dep != module {
                uses.entry(dep).or_insert_with(|| path.clone());
            }
        }
    }
    graph
}

fn band_of(module: &str) -> Option<usize> {
    BANDS.iter().position(|(_, mods)| mods.contains(&module))
}

#[test]
fn every_module_has_a_place_in_the_layering() {
    for module in graph().keys() {
        assert!(
            band_of(module).is_some() || TEST_ONLY.contains(&module.as_str()),
            "src/{module}: add it to a band of tests/layout.rs and to ARCHITECTURE.md"
        );
    }
}

#[test]
fn modules_depend_only_downwards() {
    let mut wrong = Vec::new();
    for (module, uses) in graph() {
        let Some(band) = band_of(&module) else {
            continue;
        };
        for (dep, file) in uses {
            if TEST_ONLY.contains(&dep.as_str()) {
                continue;
            }
            match band_of(&dep) {
                Some(b) if b <= band => {}
                Some(b) => wrong.push(format!(
                    "{} uses crate::{dep} ({}) from {} ({})",
                    file.display(),
                    BANDS[b].0,
                    module,
                    BANDS[band].0
                )),
                None => {}
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "upward dependencies:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_two_modules_import_each_other_even_through_others() {
    let graph = graph();
    // Depth-first search for a back edge; report the circle.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeMap<String, PathBuf>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut circle = path[i..].to_vec();
            circle.push(m.to_string());
            return Some(circle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for dep in graph.get(m).into_iter().flat_map(|u| u.keys()) {
            if let Some(circle) = visit(dep, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        if let Some(circle) = visit(m, &graph, &mut Vec::new(), &mut done) {
            panic!("import circle: {}", circle.join(" → "));
        }
    }
}

#[test]
fn no_production_file_outgrows_a_reader() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let lines = production_code(path)?.lines().count();
            (lines > MAX_FILE_LINES).then(|| format!("{}: {lines} lines", path.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these files (at most {MAX_FILE_LINES} lines of production code each):\n{}",
        long.join("\n")
    );
}
