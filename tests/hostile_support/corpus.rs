//! The hostile corpus: the table of `tests/corpus/hostile/README.md` (each case and its
//! expected outcome, in `frontdesk::testing::describe`'s words) and the big cases generated
//! here rather than committed. Read by `tests/hostile.rs` (its `outcome` column) and
//! `tests/e2e/hostile.rs` (its `e2e` column).

use frontdesk::testing::SUPPORT;

use super::shared::LIMIT;

/// Deterministic filler bytes (xorshift), so big cases are the same on every run.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Base64 with CRLF every 76 characters (RFC 2045).
fn base64_lines(data: &[u8]) -> String {
    let text = data_encoding::BASE64.encode(data);
    let mut out = String::with_capacity(text.len() + text.len() / 38);
    for chunk in text.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

fn headers(local: &str, subject: &str) -> String {
    format!(
        "From: Big Case <{local}@customer.test>\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n\
Message-ID: <{local}@customer.test>\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    )
}

/// The cases too big to commit, by the name the README's table gives them.
pub fn generated(name: &str) -> Option<Vec<u8>> {
    Some(match name {
        "attachment-25mb" => {
            let mut m = headers("attachment-25mb", "A 25 MB attachment");
            m.push_str("Content-Type: multipart/mixed; boundary=\"big\"\r\n\r\n--big\r\n");
            m.push_str(
                "Content-Type: text/plain; charset=utf-8\r\n\r\nThe log file is attached.\r\n",
            );
            m.push_str("--big\r\nContent-Type: application/octet-stream; name=\"huge.log\"\r\n");
            m.push_str("Content-Disposition: attachment; filename=\"huge.log\"\r\n");
            m.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
            m.push_str(&base64_lines(&noise(25 * 1024 * 1024)));
            m.push_str("--big--\r\n");
            m.into_bytes()
        }
        "recipients-5000" => {
            let mut m =
                format!("From: Many Recipients <recipients-5000@customer.test>\r\nTo: {SUPPORT}");
            for i in 0..5000 {
                m.push_str(&format!(",\r\n r{i} <r{i}@customer.test>"));
            }
            m.push_str("\r\nCc: ");
            m.push_str(
                &(0..5000)
                    .map(|i| format!("c{i}@customer.test"))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            m.push_str("\r\nSubject: To everyone\r\nMessage-ID: <recipients-5000@customer.test>\r\n\r\nHello all.\r\n");
            m.into_bytes()
        }
        "subject-1mb" => {
            let subject = "Help! ".repeat(1024 * 1024 / 6);
            let mut m = headers("subject-1mb", &subject);
            m.push_str("\r\nA very long subject on one line.\r\n");
            m.into_bytes()
        }
        "rfc822-nested-20" => {
            let mut inner = "From: Innermost <innermost@customer.test>\r\nSubject: level 20\r\n\
Content-Type: text/plain\r\n\r\nThe innermost text.\r\n"
                .to_string();
            for level in (1..20).rev() {
                inner = format!(
                    "From: Level {level} <level{level}@customer.test>\r\nSubject: level {level}\r\n\
Content-Type: multipart/mixed; boundary=\"n{level}\"\r\n\r\n--n{level}\r\nContent-Type: text/plain\r\n\r\n\
Level {level} text.\r\n--n{level}\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--n{level}--\r\n"
                );
            }
            let mut m = headers("rfc822-nested-20", "Twenty levels");
            m.push_str("Content-Type: multipart/mixed; boundary=\"n0\"\r\n\r\n--n0\r\nContent-Type: text/plain\r\n\r\n");
            m.push_str(
                "Twenty nested messages attached.\r\n--n0\r\nContent-Type: message/rfc822\r\n\r\n",
            );
            m.push_str(&inner);
            m.push_str("\r\n--n0--\r\n");
            m.into_bytes()
        }
        "multipart-nested-300" => {
            let mut m = headers("multipart-nested-300", "Three hundred levels");
            for level in 0..300 {
                m.push_str(&format!(
                    "Content-Type: multipart/mixed; boundary=\"m{level}\"\r\n\r\n--m{level}\r\n"
                ));
            }
            m.push_str("Content-Type: text/plain\r\n\r\nDeep down.\r\n");
            for level in (0..300).rev() {
                m.push_str(&format!("--m{level}--\r\n"));
            }
            m.into_bytes()
        }
        "from-1000-addresses" => {
            let from = (0..1000)
                .map(|i| format!("Author {i} <from{i}@customer.test>"))
                .collect::<Vec<_>>()
                .join(",\r\n ");
            format!(
                "From: {from}\r\nTo: {SUPPORT}\r\nSubject: A thousand authors\r\n\
Message-ID: <from-1000@customer.test>\r\n\r\nWe all wrote this.\r\n"
            )
            .into_bytes()
        }
        "overlong-lines" => {
            let mut m = headers("overlong-lines", "Long lines");
            m.push_str(&format!("X-Long: {}\r\n", "x".repeat(200_000)));
            m.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\n");
            m.push_str(&"word ".repeat(400_000));
            m.push_str("\r\n");
            m.into_bytes()
        }
        "headers-10000" => {
            let mut m = headers("headers-10000", "Ten thousand headers");
            for i in 0..10_000 {
                m.push_str(&format!("X-Filler-{i}: {i}\r\n"));
            }
            m.push_str("\r\nMany headers above.\r\n");
            m.into_bytes()
        }
        "attachments-1000" => {
            let mut m = headers("attachments-1000", "A thousand attachments");
            m.push_str("Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n--p\r\n");
            m.push_str("Content-Type: text/plain\r\n\r\nMany files.\r\n");
            for i in 0..1000 {
                m.push_str(&format!(
                    "--p\r\nContent-Type: text/plain; name=\"f{i}.txt\"\r\n\
Content-Disposition: attachment; filename=\"f{i}.txt\"\r\n\r\nfile {i}\r\n"
                ));
            }
            m.push_str("--p--\r\n");
            m.into_bytes()
        }
        "too-big" => {
            let mut m = headers("too-big", "Over the limit").into_bytes();
            m.extend_from_slice(b"\r\n");
            let fill = LIMIT as usize + 1 - m.len();
            m.extend(std::iter::repeat_n(b'a', fill));
            m
        }
        _ => return None,
    })
}

/// One row of the README's table.
#[derive(Debug, Clone)]
pub struct Case {
    /// The file name (`*.eml`) or the name of a generated case.
    pub name: String,
    /// The expected outcome in the column asked for (see the README for the words).
    pub expect: String,
}

impl Case {
    /// The case's bytes: the file, or generated.
    pub fn bytes(&self) -> Vec<u8> {
        if self.name.ends_with(".eml") {
            std::fs::read(corpus_dir().join(&self.name))
                .unwrap_or_else(|e| panic!("{}: {e}", self.name))
        } else {
            generated(&self.name).unwrap_or_else(|| panic!("no generator for {}", self.name))
        }
    }
}

/// `tests/corpus/hostile`.
pub fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/hostile")
}

/// The table of cases in `tests/corpus/hostile/README.md` (rows whose first cell is a
/// back-quoted name), each with its expectation in `column`: `outcome` (through `decide`)
/// or `e2e` (end to end, where that cell is empty the same as `outcome`).
pub fn cases(column: &str) -> Vec<Case> {
    let text = std::fs::read_to_string(corpus_dir().join("README.md")).expect("README.md");
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.trim_start().starts_with('|'))
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect()
        })
        .collect();
    let header = rows
        .iter()
        .find(|cells| cells.first() == Some(&"case"))
        .expect("the README's table has a header row");
    let index = |name: &str| {
        header
            .iter()
            .position(|c| *c == name)
            .unwrap_or_else(|| panic!("the README's table has no {name:?} column"))
    };
    let (outcome, wanted) = (index("outcome"), index(column));
    rows.iter()
        .filter_map(|cells| {
            let name = cells.first()?.strip_prefix('`')?.strip_suffix('`')?;
            let cell = cells.get(wanted).filter(|c| !c.is_empty());
            let expect = for_this_build(cell.or(cells.get(outcome))?);
            Some(Case {
                name: name.to_string(),
                expect,
            })
        })
        .collect()
}

/// An outcome cell for this build: `X (release: Y)` is X where debug assertions are on (in
/// mail-parser too: they are reachable from input) and Y where they are off.
fn for_this_build(cell: &str) -> String {
    let cell = cell.trim_matches('`');
    match cell.split_once(" (release: ") {
        Some((_, release)) if !cfg!(debug_assertions) => release.trim_end_matches(')').to_string(),
        Some((debug, _)) => debug.to_string(),
        None => cell.to_string(),
    }
}
