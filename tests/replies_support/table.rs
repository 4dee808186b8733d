//! The corpus's table (`tests/corpus/replies/README.md`): one row a case, read by the tests
//! so that the README and the files cannot drift apart.

use std::path::{Path, PathBuf};

/// `tests/corpus/replies`.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/replies")
}

/// What must become of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The agent wrote something: it reaches the customer, exactly.
    Relay,
    /// Nothing of the agent's own is left: refused with a notice to the agent.
    Refuse,
}

/// One row of the cases table.
#[derive(Debug, Clone)]
pub struct Case {
    /// The file name without `.eml`.
    pub name: String,
    /// Relay or refuse.
    pub expect: Expect,
}

impl Case {
    /// `NAME.eml`.
    pub fn eml(&self) -> PathBuf {
        corpus_dir().join(format!("{}.eml", self.name))
    }

    /// `NAME.expected.txt`.
    pub fn expected(&self) -> PathBuf {
        corpus_dir().join(format!("{}.expected.txt", self.name))
    }

    /// `shapes/NAME.eml.in`.
    pub fn shape(&self) -> PathBuf {
        corpus_dir()
            .join("shapes")
            .join(format!("{}.eml.in", self.name))
    }
}

/// The rows of the README's table whose header starts `| case | expect |`, in order.
pub fn cases() -> Vec<Case> {
    let readme = std::fs::read_to_string(corpus_dir().join("README.md")).expect("README.md");
    let mut in_table = false;
    let mut out = Vec::new();
    for line in readme.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 {
            in_table = false;
            continue;
        }
        if cells[1] == "case" && cells[2] == "expect" {
            in_table = true;
            continue;
        }
        if !in_table || cells[1].starts_with("---") {
            continue;
        }
        let name = cells[1].trim_matches('`').to_string();
        let expect = match cells[2] {
            "relay" => Expect::Relay,
            "refuse" => Expect::Refuse,
            other => panic!("README row {name}: expect is {other:?}, not relay or refuse"),
        };
        out.push(Case { name, expect });
    }
    out
}

/// The rows of the table of hand-made files (header `| hand-made file |`).
pub fn hand_made() -> Vec<String> {
    let readme = std::fs::read_to_string(corpus_dir().join("README.md")).expect("README.md");
    let mut in_table = false;
    let mut out = Vec::new();
    for line in readme.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 3 {
            in_table = false;
            continue;
        }
        if cells[1] == "hand-made file" {
            in_table = true;
            continue;
        }
        if in_table && !cells[1].starts_with("---") {
            out.push(cells[1].trim_matches('`').to_string());
        }
    }
    out
}
