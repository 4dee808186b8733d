//! The sanitizer policy for HTML we pass on to a customer (an agent's answer): ammonia's
//! allow-list, narrowed. What stays is text formatting, links, lists, tables, blockquotes
//! and the inline images the mail itself carries; nothing that runs, loads or submits.
//!
//! - Scripts, style sheets, `<head>`, frames, objects, forms' fields and templates go with
//!   their content; every other element not on the list goes, its text stays.
//! - No event handler, `id`, `class` or other attribute outside the list.
//! - Links: `http`, `https`, `mailto` and `tel` only, never relative, with `rel="noopener
//!   noreferrer"`.
//! - `style` attributes keep only properties that cannot load anything (colours, fonts,
//!   text, spacing, borders); a value with `url(`, `image`, `expression`, `@import` or a CSS
//!   escape drops the whole attribute.
//! - Images: a `cid:` image the mail carries stays, renamed to the relay's own Content-ID; a
//!   remote image becomes a link to it (`[image: ALT]`), so nothing is fetched unless the
//!   customer clicks, and a tracking pixel (1 or 2 pixels, or hidden) goes; any other image
//!   (`data:`, a `cid:` the mail does not carry, a relative address) leaves its alt text.

use std::collections::HashSet;

use ammonia::{Builder, UrlRelative};
use ego_tree::NodeId;
use scraper::node::Text;
use scraper::{Html, Node, StrTendril};

use super::lines::{HIDDEN, body_html, fragment};

/// `style` properties that stay: none of them takes an image or an address.
const STYLE_PROPERTIES: [&str; 38] = [
    "color",
    "background-color",
    "font",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "font-variant",
    "text-align",
    "text-decoration",
    "text-indent",
    "text-transform",
    "letter-spacing",
    "line-height",
    "white-space",
    "vertical-align",
    "direction",
    "margin",
    "margin-top",
    "margin-right",
    "margin-bottom",
    "margin-left",
    "padding",
    "padding-top",
    "padding-right",
    "padding-bottom",
    "padding-left",
    "border",
    "border-top",
    "border-right",
    "border-bottom",
    "border-left",
    "border-color",
    "border-style",
    "border-width",
    "border-collapse",
    "list-style-type",
    "width",
];

/// An agent's HTML made safe for a customer, and the inline images it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clean {
    /// The sanitized HTML (a fragment: the content of a `<body>`).
    pub html: String,
    /// The Content-IDs of the images it shows, as the agent's mail names them, in order.
    pub images: Vec<String>,
}

/// Sanitizes an HTML fragment for a customer. `inline` gives, for a Content-ID that an
/// `<img src="cid:…">` names, the Content-ID the image goes out under, when the mail carries
/// that image; see the module's documentation for the policy.
pub fn clean(html: &str, inline: &dyn Fn(&str) -> Option<String>) -> Clean {
    let mut doc = fragment(html);
    let images = images(&mut doc, inline);
    let html = builder().clean(&body_html(&doc)).to_string();
    Clean { html, images }
}

/// The ammonia policy (the module's documentation says what it allows).
fn builder() -> Builder<'static> {
    let mut b = Builder::default();
    b.rm_tags(["area", "map"])
        .add_tags(["font"])
        .add_clean_content_tags(HIDDEN)
        .add_tag_attributes("font", ["color", "face", "size"])
        .add_tag_attributes("table", ["width", "border", "cellpadding", "cellspacing"])
        .add_tag_attributes("td", ["width", "valign", "nowrap"])
        .add_tag_attributes("th", ["width", "valign", "nowrap"])
        .add_generic_attributes(["style", "dir", "align"])
        .filter_style_properties(STYLE_PROPERTIES.into_iter().collect::<HashSet<_>>())
        .url_schemes(
            ["http", "https", "mailto", "tel", "cid"]
                .into_iter()
                .collect(),
        )
        .url_relative(UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer"))
        .strip_comments(true)
        .attribute_filter(|element, attribute, value| match (element, attribute) {
            ("img", "src") => value
                .get(..4)
                .is_some_and(|s| s.eq_ignore_ascii_case("cid:"))
                .then_some(value.into()),
            (_, "href") if value.trim_start().to_ascii_lowercase().starts_with("cid:") => None,
            (_, "style") => {
                let v = value.to_ascii_lowercase();
                let loads = ["url(", "image", "expression", "@import", "\\"]
                    .iter()
                    .any(|bad| v.contains(bad));
                (!loads).then_some(value.into())
            }
            _ => Some(value.into()),
        });
    b
}

/// What becomes of one `<img>`.
enum Image {
    /// An inline image the mail carries: its Content-ID, and the one it goes out under.
    Inline(String, String),
    /// A remote image: a link to it with this label.
    Link(String),
    /// Its alt text, or nothing.
    Alt(String),
}

/// What becomes of each `<img>` (the module's documentation); the Content-IDs of the
/// inline images that stay.
fn images(doc: &mut Html, inline: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut plan: Vec<(NodeId, Image)> = Vec::new();
    for n in doc.tree.root().descendants() {
        let Some(el) = n.value().as_element().filter(|e| e.name() == "img") else {
            continue;
        };
        let in_link = n
            .ancestors()
            .any(|a| a.value().as_element().is_some_and(|e| e.name() == "a"));
        let src = el.attr("src").unwrap_or_default().trim();
        let alt = el.attr("alt").unwrap_or_default().trim();
        let lower = src.to_ascii_lowercase();
        let remote = lower.starts_with("http://") || lower.starts_with("https://");
        let cid = lower
            .strip_prefix("cid:")
            .map(|_| percent_decoded(&src[4..]));
        let image = match cid.and_then(|c| inline(&c).map(|r| (c, r))) {
            Some((cid, renamed)) => Image::Inline(cid, renamed),
            None if remote && is_pixel(el) => Image::Alt(String::new()),
            None if remote && !in_link => Image::Link(image_label(alt, src)),
            None => Image::Alt(alt.to_string()),
        };
        plan.push((n.id(), image));
    }
    let mut shown = Vec::new();
    for (id, image) in plan {
        let Some(mut node) = doc.tree.get_mut(id) else {
            continue;
        };
        match image {
            Image::Inline(cid, renamed) => {
                if let Node::Element(el) = node.value() {
                    set_attr(el, "src", &format!("cid:{renamed}"));
                }
                shown.push(cid);
            }
            Image::Link(label) => {
                // The element becomes the link (its `src` its `href`), its label its child.
                if let Node::Element(el) = node.value() {
                    el.name.local = "a".into();
                    el.attrs.retain(|(name, _)| &*name.local == "src");
                    for (name, _) in &mut el.attrs {
                        name.local = "href".into();
                    }
                }
                node.append(Node::Text(Text {
                    text: format!("[image: {label}]").as_str().into(),
                }));
            }
            Image::Alt(alt) => {
                if !alt.is_empty() {
                    node.insert_before(Node::Text(Text {
                        text: format!("[image: {alt}]").as_str().into(),
                    }));
                }
                node.detach();
            }
        }
    }
    shown
}

/// Sets an attribute that the element has (its name sorts the same).
fn set_attr(el: &mut scraper::node::Element, name: &str, value: &str) {
    for (n, v) in &mut el.attrs {
        if &*n.local == name {
            *v = StrTendril::from(value);
        }
    }
}

/// What a remote image's link says: its alt text, else its file name, else its host.
fn image_label(alt: &str, src: &str) -> String {
    if !alt.is_empty() {
        return alt.to_string();
    }
    let path = src.split(['?', '#']).next().unwrap_or_default();
    let after_scheme = path.split_once("://").map_or(path, |(_, rest)| rest);
    let (host, rest) = after_scheme.split_once('/').unwrap_or((after_scheme, ""));
    match rest.rsplit('/').find(|s| !s.is_empty()) {
        Some(file) => percent_decoded(file),
        None => host.to_string(),
    }
}

/// Whether an image is a tracking pixel: at most 2 pixels wide or high, or hidden.
fn is_pixel(el: &scraper::node::Element) -> bool {
    let tiny = |a: &str| {
        el.attr(a)
            .map(|v| v.trim().trim_end_matches("px").trim())
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|v| v <= 2.0)
    };
    let style = el
        .attr("style")
        .unwrap_or_default()
        .to_ascii_lowercase()
        .replace([' ', '\t', '\n'], "");
    tiny("width")
        || tiny("height")
        || ["display:none", "visibility:hidden", "opacity:0"]
            .iter()
            .any(|s| style.contains(s))
        || ["width:", "height:", "max-width:", "max-height:"]
            .iter()
            .any(|p| {
                style.split(';').any(|d| {
                    d.strip_prefix(p)
                        .map(|v| v.trim_end_matches("px"))
                        .and_then(|v| v.parse::<f64>().ok())
                        .is_some_and(|v| v <= 2.0)
                })
            })
}

/// `%XX` escapes decoded (a `cid:` address is URL-encoded, RFC 2392).
fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
