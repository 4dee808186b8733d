//! From a case's shape (`tests/corpus/replies/shapes/NAME.eml.in`) to its mail: the client's
//! headers, MIME structure and quoting written out by hand from the fixture, with the real
//! notification put where the client quotes it. The shape's language:
//!
//! - `%customer: LINE` lines at the very top: Casey's mail for this case (an inline answer
//!   needs the questions it answers); without them, [`CUSTOMER_TEXT`].
//! - `{{reply_to}}`, `{{subject}}`, `{{message_id}}`: the notification's.
//! - The shape's literal addresses are the scenario's: [`SHAPE_AGENT`] (the agent's own, in
//!   From) becomes the address the notification was sent to, [`SHAPE_SERVICE`] (named by
//!   attributions and header blocks) the address it came from, as a client writes them.
//! - `{{quote "P"}}`: the notification's text, every line prefixed with `P` (an empty line
//!   gets `P` without its trailing spaces); `{{quote "P" W}}` re-wraps lines longer than `W`
//!   at spaces as the client does, `{{quote "P" W flowed}}` marks the soft breaks with a
//!   trailing space (RFC 3676). `{{quote_head "P"}}` and `{{quote_body "P"}}` are the two
//!   halves: the marker and header block down to the rule and the blank line after it, and
//!   the customer's text (an inline answer writes that part out itself).
//! - `{{quote_html}}`: the text HTML-escaped, lines joined with `<br>`; `{{quote_html_div}}`:
//!   one `<div>` a line, `<div><br></div>` for an empty one; `{{quote_html_head}}`: the
//!   first half as `{{quote_html}}` writes it (an inline answer in HTML writes the rest).
//! - A line `{{encode E [latin1]}}` … `{{end}}` (E: `qp`, `base64`, `8bit`): the lines between
//!   are the part's decoded content, written out in that transfer encoding (and ISO-8859-1
//!   with `latin1`).
//!
//! Every line of the mail ends in CRLF.
//!
//! The notification is read from a mail ([`Notification::from_mail`]): the one the crate
//! composes for the corpus (`scenario.rs`), or the one a running daemon delivered to the
//! agent's mailbox (the end-to-end test, `tests/e2e/answers.rs`).

/// What Casey wrote, unless a shape gives the text its inline answer needs.
pub const CUSTOMER_TEXT: &str = "Hello,\n\nI was charged twice for order 4417 (invoice INV-2026-0912). Could you\nrefund one of the two payments?\n\nThanks,\nCasey\n";

/// The agent's address as the shapes write it (From, Return-Path).
pub const SHAPE_AGENT: &str = "jason@example.test";
/// The support address as the shapes write it (attributions, header blocks).
pub const SHAPE_SERVICE: &str = "support@example.test";

/// A notification as the agent's client received it: what a reply quotes and answers.
#[derive(Debug, Clone)]
pub struct Notification {
    /// Its text, decoded (marker, header block, Casey's text), with LF line ends.
    pub text: String,
    /// Its Message-ID, with angle brackets.
    pub message_id: String,
    /// Its Subject.
    pub subject: String,
    /// The Reply-To address that carries the token.
    pub reply_to: String,
    /// The address it was sent to: the agent's own, who answers from it.
    pub agent: String,
    /// The address it came from: the support address.
    pub service: String,
}

impl Notification {
    /// Reads a notification from its mail's bytes.
    pub fn from_mail(raw: &[u8]) -> Result<Notification, String> {
        let parsed = mail_parser::MessageParser::default()
            .parse(raw)
            .ok_or("the notification does not parse")?;
        let first = |a: Option<&mail_parser::Address>, what: &str| {
            a.and_then(|a| a.first())
                .and_then(|a| a.address())
                .map(str::to_string)
                .ok_or(format!("the notification has no {what} address"))
        };
        Ok(Notification {
            text: parsed
                .body_text(0)
                .ok_or("the notification has no text")?
                .replace("\r\n", "\n"),
            message_id: format!(
                "<{}>",
                parsed
                    .message_id()
                    .ok_or("the notification has no Message-ID")?
            ),
            subject: parsed.subject().unwrap_or_default().to_string(),
            reply_to: first(parsed.reply_to(), "Reply-To")?,
            agent: first(parsed.to(), "To")?,
            service: first(parsed.from(), "From")?,
        })
    }
}

/// A case's shape, read: Casey's text for it (if it has its own) and the template.
pub struct Shape {
    /// `%customer:` lines, joined (each with its newline).
    pub customer: Option<String>,
    /// The rest.
    pub template: String,
}

impl Shape {
    /// Reads a shape file's text.
    pub fn parse(text: &str) -> Shape {
        let mut customer: Option<String> = None;
        let mut rest = text;
        while let Some(line) = rest.strip_prefix("%customer:") {
            let (line, after) = line.split_once('\n').unwrap_or((line, ""));
            let c = customer.get_or_insert_with(String::new);
            c.push_str(line.strip_prefix(' ').unwrap_or(line));
            c.push('\n');
            rest = after;
        }
        Shape {
            customer,
            template: rest.to_string(),
        }
    }

    /// Casey's text for this shape: its own, or [`CUSTOMER_TEXT`].
    pub fn customer_text(&self) -> &str {
        self.customer.as_deref().unwrap_or(CUSTOMER_TEXT)
    }

    /// The mail: the shape's addresses made `n`'s, placeholders filled with `n`'s content,
    /// encoded parts encoded, CRLF.
    pub fn render(&self, n: &Notification) -> Result<Vec<u8>, String> {
        let template = self
            .template
            .replace(SHAPE_AGENT, &n.agent)
            .replace(SHAPE_SERVICE, &n.service);
        let filled = fill(&template, n)?;
        let filled = filled.strip_suffix('\n').unwrap_or(&filled);
        let mut out = Vec::new();
        let mut lines = filled.split('\n');
        while let Some(line) = lines.next() {
            if let Some(spec) = line.trim_end().strip_prefix("{{encode ") {
                let spec = spec.strip_suffix("}}").ok_or("unclosed {{encode")?;
                let mut content = Vec::new();
                loop {
                    match lines.next() {
                        Some(l) if l.trim_end() == "{{end}}" => break,
                        Some(l) => content.push(l),
                        None => return Err("{{encode without {{end}}".into()),
                    }
                }
                out.extend_from_slice(&encode(spec, &content.join("\n"))?);
                continue;
            }
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Ok(out)
    }
}

/// The notification's lines: the head (marker, header block, rule, blank line) and the body.
fn halves(text: &str) -> (Vec<&str>, Vec<&str>) {
    let lines: Vec<&str> = text.trim_end_matches('\n').split('\n').collect();
    let rule = lines
        .iter()
        .position(|l| l.len() > 40 && l.chars().all(|c| c == '-'))
        .map_or(0, |i| i + 1);
    let split = if lines.get(rule).is_some_and(|l| l.is_empty()) {
        rule + 1
    } else {
        rule
    };
    (lines[..split].to_vec(), lines[split..].to_vec())
}

fn fill(template: &str, n: &Notification) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let end = rest[start..]
            .find("}}")
            .map(|e| start + e)
            .ok_or("unclosed {{")?;
        let inner = &rest[start + 2..end];
        let replaced = placeholder(inner, n)?;
        out.push_str(&rest[..start]);
        match replaced {
            Some(r) => out.push_str(&r),
            None => out.push_str(&rest[start..end + 2]),
        }
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The text of one placeholder; `None` for the encoding markers (handled after filling).
fn placeholder(inner: &str, n: &Notification) -> Result<Option<String>, String> {
    let (name, args) = inner.split_once(' ').unwrap_or((inner, ""));
    let (head, body) = halves(&n.text);
    let all: Vec<&str> = head.iter().chain(&body).copied().collect();
    Ok(Some(match name {
        "reply_to" => n.reply_to.clone(),
        "subject" => n.subject.clone(),
        "message_id" => n.message_id.clone(),
        "quote" => quoted(&all, args)?,
        "quote_head" => quoted(&head, args)?,
        "quote_body" => quoted(&body, args)?,
        "quote_html" => all
            .iter()
            .map(|l| escape(l))
            .collect::<Vec<_>>()
            .join("<br>\n"),
        "quote_html_head" => head
            .iter()
            .map(|l| escape(l))
            .collect::<Vec<_>>()
            .join("<br>\n"),
        "quote_html_div" => all
            .iter()
            .map(|l| match l.is_empty() {
                true => "<div><br></div>".to_string(),
                false => format!("<div>{}</div>", escape(l)),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        "encode" | "end" => return Ok(None),
        other => return Err(format!("unknown placeholder {{{{{other}}}}}")),
    }))
}

/// `"P" [W [flowed]]`: lines prefixed with P, re-wrapped at W.
fn quoted(lines: &[&str], args: &str) -> Result<String, String> {
    let args = args.trim();
    let rest = args.strip_prefix('"').ok_or("quote needs a \"prefix\"")?;
    let close = rest.find('"').ok_or("unclosed prefix")?;
    let prefix = &rest[..close];
    let mut opts = rest[close + 1..].split_whitespace();
    let width: Option<usize> = match opts.next() {
        Some(w) => Some(w.parse().map_err(|_| format!("bad width {w}"))?),
        None => None,
    };
    let flowed = opts.next() == Some("flowed");
    let mut out = Vec::new();
    for line in lines {
        if line.is_empty() {
            out.push(prefix.trim_end().to_string());
            continue;
        }
        let pieces = match width {
            Some(w) => wrap(line, w.saturating_sub(prefix.chars().count()).max(20)),
            None => vec![line.to_string()],
        };
        let last = pieces.len() - 1;
        for (i, p) in pieces.into_iter().enumerate() {
            let soft = if flowed && i < last { " " } else { "" };
            out.push(format!("{prefix}{p}{soft}"));
        }
    }
    Ok(out.join("\n"))
}

/// Greedy word wrap at `width` characters; a word longer than the width stays whole.
fn wrap(line: &str, width: usize) -> Vec<String> {
    if line.chars().count() <= width {
        return vec![line.to_string()];
    }
    let mut out = Vec::new();
    let mut current = String::new();
    for word in line.split(' ') {
        let len = current.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            out.push(std::mem::take(&mut current));
        } else if len > 0 {
            current.push(' ');
        }
        current.push_str(word);
    }
    out.push(current);
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One encoded part body, each line ending in CRLF.
fn encode(spec: &str, content: &str) -> Result<Vec<u8>, String> {
    let mut words = spec.split_whitespace();
    let encoding = words.next().ok_or("{{encode}} needs an encoding")?;
    let bytes: Vec<u8> = match words.next() {
        None => content.as_bytes().to_vec(),
        Some("latin1") => content
            .chars()
            .map(|c| u8::try_from(u32::from(c)).map_err(|_| format!("{c:?} is not Latin-1")))
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("unknown charset {other}")),
    };
    let crlf = |b: &[u8]| -> Vec<u8> {
        let mut out = Vec::new();
        for line in b.split(|c| *c == b'\n') {
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
        out
    };
    Ok(match encoding {
        "8bit" => crlf(&bytes),
        "base64" => {
            let text = data_encoding::BASE64.encode(&crlf(&bytes));
            let lines: Vec<&[u8]> = text.as_bytes().chunks(76).collect();
            crlf(&lines.join(&b"\n"[..]))
        }
        "qp" => {
            let lines: Vec<Vec<u8>> = bytes.split(|c| *c == b'\n').map(qp_line).collect();
            crlf(&lines.join(&b"\n"[..]))
        }
        other => return Err(format!("unknown encoding {other}")),
    })
}

/// One line in quoted-printable (RFC 2045 §6.7): soft breaks keep lines at 76 characters.
fn qp_line(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut width = 0;
    for (i, &b) in line.iter().enumerate() {
        let last = i + 1 == line.len();
        let literal = matches!(b, 33..=60 | 62..=126) || (matches!(b, b' ' | b'\t') && !last);
        let piece = match literal {
            true => vec![b],
            false => format!("={b:02X}").into_bytes(),
        };
        if width + piece.len() > 75 {
            out.extend_from_slice(b"=\n");
            width = 0;
        }
        width += piece.len();
        out.extend_from_slice(&piece);
    }
    out
}
