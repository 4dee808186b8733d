//! An HTML document read as the lines a reader sees, each with its blockquote depth, and
//! which line every leaf of the tree (a text, a `<br>`, an `<img>`, an empty element) is on,
//! so that lines can be taken out of the document itself.

use ego_tree::NodeId;
use ego_tree::iter::Edge;
use scraper::node::Text;
use scraper::{Html, Node};

/// Elements whose content a reader never sees; the sanitizer drops them with their content.
pub(super) const HIDDEN: [&str; 14] = [
    "head", "script", "style", "template", "noscript", "title", "iframe", "object", "embed",
    "textarea", "select", "svg", "math", "xml",
];

/// Elements that start and end a line.
const BLOCKS: [&str; 37] = [
    "address",
    "article",
    "aside",
    "body",
    "caption",
    "center",
    "dd",
    "details",
    "dialog",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "html",
    "legend",
    "main",
    "nav",
    "p",
    "section",
    "summary",
    "table",
    "tbody",
    "tfoot",
    "thead",
    "tr",
];

/// What a `<hr>` reads as: a rule, as the text cut knows rules.
const RULE: &str = "------------------------------";

/// One line as a reader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// How many blockquotes it is inside.
    pub depth: usize,
    /// Its text, whitespace collapsed as a browser does (none at either end).
    pub text: String,
}

impl Line {
    /// The line as a text mail quotes it: `> ` once per blockquote (`>` alone for an empty
    /// quoted line).
    pub fn quoted(&self) -> String {
        if self.text.is_empty() {
            ">".repeat(self.depth)
        } else {
            format!("{}{}", "> ".repeat(self.depth), self.text)
        }
    }
}

/// A document's lines, and the line every leaf of its tree is on.
#[derive(Debug, Clone, Default)]
pub struct Lines {
    /// The lines, top to bottom.
    pub lines: Vec<Line>,
    /// Every leaf (a node without children, or a hidden element) with the index of its line;
    /// `lines.len()` for leaves after the last line (trailing whitespace).
    leaves: Vec<(NodeId, usize)>,
}

/// Parses a whole HTML document (a mail's HTML part), its preformatted text split into one
/// text node a line.
pub fn document(html: &str) -> Html {
    let mut doc = Html::parse_document(html);
    split_preformatted(&mut doc);
    doc
}

/// Parses an HTML fragment (what the sanitizer gives), as [`document`] does.
pub fn fragment(html: &str) -> Html {
    let mut doc = Html::parse_fragment(html);
    split_preformatted(&mut doc);
    doc
}

/// The content of the document's `<body>` (the fragment's, for a fragment), serialized.
pub fn body_html(doc: &Html) -> String {
    let body = doc
        .tree
        .root()
        .descendants()
        .find(|n| n.value().as_element().is_some_and(|e| e.name() == "body"))
        .or_else(|| doc.tree.root().children().find(|n| n.value().is_element()));
    body.and_then(scraper::ElementRef::wrap)
        .map(|e| e.inner_html())
        .unwrap_or_default()
}

/// Whether an element keeps its text's line breaks and spaces (`<pre>`, or a
/// `white-space: pre…` style).
fn is_preformatted(node: &Node) -> bool {
    node.as_element().is_some_and(|e| {
        e.name() == "pre"
            || e.name() == "plaintext"
            || e.name() == "listing"
            || e.attr("style").is_some_and(|s| {
                s.to_ascii_lowercase()
                    .replace(' ', "")
                    .contains("white-space:pre")
            })
    })
}

/// Splits every multi-line text node inside preformatted elements into one node a line, so
/// that a line can be taken out without the lines it shares a node with.
fn split_preformatted(doc: &mut Html) {
    let mut pre: Vec<NodeId> = Vec::new();
    let mut split: Vec<NodeId> = Vec::new();
    for edge in doc.tree.root().traverse() {
        match edge {
            Edge::Open(n) if is_preformatted(n.value()) => pre.push(n.id()),
            Edge::Close(n) if pre.last() == Some(&n.id()) => {
                pre.pop();
            }
            Edge::Open(n)
                if !pre.is_empty()
                    && n.value()
                        .as_text()
                        .is_some_and(|t| t.trim_end_matches('\n').contains('\n')) =>
            {
                split.push(n.id());
            }
            _ => {}
        }
    }
    for id in split {
        let Some(text) = doc.tree.get(id).and_then(|n| n.value().as_text()) else {
            continue;
        };
        let pieces: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
        let Some(mut node) = doc.tree.get_mut(id) else {
            continue;
        };
        for piece in pieces {
            node.insert_before(Node::Text(Text {
                text: piece.as_str().into(),
            }));
        }
        node.detach();
    }
}

/// Reads a document as lines, walking it once.
struct Reader {
    lines: Vec<Line>,
    leaves: Vec<(NodeId, usize)>,
    text: String,
    /// The depth of the line being built, from its first content on.
    line_depth: Option<usize>,
    depth: usize,
    space: bool,
    pre: Vec<NodeId>,
    /// A list item's marker, written before its first content.
    marker: Option<String>,
    /// Open lists: the next number of an `<ol>`, `None` for a `<ul>`.
    lists: Vec<Option<u32>>,
    /// Open links: their target and the text read inside them so far.
    links: Vec<(String, String)>,
}

impl Reader {
    fn leaf(&mut self, id: NodeId) {
        self.leaves.push((id, self.lines.len()));
    }

    fn write(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        if self.line_depth.is_none() {
            self.line_depth = Some(self.depth);
            if let Some(m) = self.marker.take() {
                self.text.push_str(&m);
            }
        }
        self.text.push_str(s);
        for (_, text) in &mut self.links {
            text.push_str(s);
        }
    }

    fn text(&mut self, t: &str) {
        if !self.pre.is_empty() {
            let line = t.strip_suffix('\n');
            self.write(&line.unwrap_or(t).replace('\t', "    "));
            if line.is_some() {
                self.end_line(true);
            }
            return;
        }
        let mut out = String::new();
        for c in t.chars() {
            if c.is_ascii_whitespace() {
                self.space = true;
                continue;
            }
            let at_start = self.text.is_empty() && out.is_empty();
            let after_space = out.ends_with(' ') || (out.is_empty() && self.text.ends_with(' '));
            if self.space && !at_start && !after_space {
                out.push(' ');
            }
            self.space = false;
            out.push(c);
        }
        self.write(&out);
    }

    /// Ends the line being built: always for a `<br>` (a blank line too), otherwise only when
    /// it has content.
    fn end_line(&mut self, always: bool) {
        if always || self.line_depth.is_some() {
            let text = self.text.replace('\u{a0}', " ");
            let text = match self.pre.is_empty() {
                true => text.trim(),
                false => text.trim_end(),
            };
            self.lines.push(Line {
                depth: self.line_depth.unwrap_or(self.depth),
                text: text.to_string(),
            });
        }
        self.text.clear();
        self.line_depth = None;
        self.space = false;
    }

    fn open(&mut self, name: &str, el: &scraper::node::Element) {
        match name {
            "br" => self.end_line(true),
            "hr" => {
                self.end_line(false);
                self.write(RULE);
                self.end_line(false);
            }
            "img" => {
                let alt = el.attr("alt").map(str::trim).unwrap_or_default();
                if self.space && !self.text.is_empty() {
                    self.write(" ");
                }
                self.space = false;
                match alt.is_empty() {
                    true => self.write("[image]"),
                    false => self.write(&format!("[image: {alt}]")),
                }
            }
            "blockquote" => {
                self.end_line(false);
                self.depth += 1;
            }
            "ul" | "ol" => {
                self.end_line(false);
                let start = el.attr("start").and_then(|s| s.trim().parse().ok());
                self.lists
                    .push((name == "ol").then_some(start.unwrap_or(1)));
            }
            "li" => {
                self.end_line(false);
                self.marker = Some(match self.lists.last_mut() {
                    Some(Some(n)) => {
                        *n += 1;
                        format!("{}. ", *n - 1)
                    }
                    _ => "- ".to_string(),
                });
            }
            "td" | "th" => self.space = true,
            "a" => {
                let href = el.attr("href").unwrap_or_default().trim().to_string();
                self.links.push((href, String::new()));
            }
            _ if BLOCKS.contains(&name) => self.end_line(false),
            _ => {}
        }
    }

    fn close(&mut self, name: &str) {
        match name {
            "blockquote" => {
                self.end_line(false);
                self.depth = self.depth.saturating_sub(1);
            }
            "ul" | "ol" => {
                self.end_line(false);
                self.lists.pop();
            }
            "li" => {
                self.end_line(false);
                self.marker = None;
            }
            "a" => {
                let Some((href, text)) = self.links.pop() else {
                    return;
                };
                let target = link_target(&href);
                if !target.is_empty() && !text.trim().is_empty() && !text.contains(target) {
                    self.write(&format!(" <{target}>"));
                }
            }
            _ if BLOCKS.contains(&name) => self.end_line(false),
            _ => {}
        }
    }
}

/// What a link's target reads as in text: a web address as it is, a mail address without
/// `mailto:`; nothing for anything else.
fn link_target(href: &str) -> &str {
    let lower = href.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        href
    } else if lower.starts_with("mailto:") {
        href[7..].split('?').next().unwrap_or_default()
    } else {
        ""
    }
}

impl Lines {
    /// Reads a parsed document (or fragment) as lines.
    pub fn read(doc: &Html) -> Lines {
        let mut r = Reader {
            lines: Vec::new(),
            leaves: Vec::new(),
            text: String::new(),
            line_depth: None,
            depth: 0,
            space: false,
            pre: Vec::new(),
            marker: None,
            lists: Vec::new(),
            links: Vec::new(),
        };
        let mut hidden: Option<NodeId> = None;
        for edge in doc.tree.root().traverse() {
            match edge {
                Edge::Open(n) => {
                    if hidden.is_some() {
                        continue;
                    }
                    let leaf = n.first_child().is_none();
                    match n.value() {
                        Node::Element(el) if HIDDEN.contains(&el.name()) => {
                            r.leaf(n.id());
                            hidden = Some(n.id());
                        }
                        Node::Element(el) => {
                            // A `<br>` belongs to the line it ends, a `<hr>` to its own.
                            if el.name() == "hr" {
                                r.end_line(false);
                            }
                            if leaf {
                                r.leaf(n.id());
                            }
                            if is_preformatted(n.value()) {
                                r.end_line(false);
                                r.pre.push(n.id());
                            }
                            r.open(el.name(), el);
                        }
                        Node::Text(t) => {
                            r.leaf(n.id());
                            r.text(t);
                        }
                        _ if leaf => r.leaf(n.id()),
                        _ => {}
                    }
                }
                Edge::Close(n) => {
                    if hidden == Some(n.id()) {
                        hidden = None;
                        continue;
                    }
                    if hidden.is_some() {
                        continue;
                    }
                    if let Node::Element(el) = n.value() {
                        r.close(el.name());
                        if r.pre.last() == Some(&n.id()) {
                            r.end_line(false);
                            r.pre.pop();
                        }
                    }
                }
            }
        }
        r.end_line(false);
        Lines {
            lines: r.lines,
            leaves: r.leaves,
        }
    }

    /// The lines as a text mail writes them, blockquotes as `>` quotes.
    pub fn quoted(&self) -> Vec<String> {
        self.lines.iter().map(Line::quoted).collect()
    }

    /// Takes the lines `keep` says no to out of `doc` (the document these lines were read
    /// from): every leaf on them, and every element left empty by that (a quote's
    /// blockquote, its client's container), up to the body. `keep(lines.len())` decides on
    /// the leaves after the last line.
    pub fn remove(&self, doc: &mut Html, keep: impl Fn(usize) -> bool) {
        for &(id, line) in &self.leaves {
            if keep(line) {
                continue;
            }
            let mut current = id;
            while let Some(node) = doc.tree.get(current) {
                let parent = node.parent().map(|p| p.id());
                if let Some(mut node) = doc.tree.get_mut(current) {
                    node.detach();
                }
                let Some(parent) = parent else {
                    break;
                };
                let removable = doc.tree.get(parent).is_some_and(|p| {
                    p.first_child().is_none()
                        && p.value()
                            .as_element()
                            .is_some_and(|e| !matches!(e.name(), "html" | "body"))
                });
                if !removable {
                    break;
                }
                current = parent;
            }
        }
    }
}
