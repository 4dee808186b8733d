//! `frontdesk replies list`: the canned answers an agent can send with `#reply NAME`, read
//! from the configured templates directory. It needs neither the daemon nor the store nor
//! the service's secrets.

use std::path::Path;

use frontdesk::compose::{REPLIES_DIR, canned_replies};
use frontdesk::config::Config;

/// Prints the canned answers of the configuration at `config`: a name and a preview (the
/// file's first line, or the comment it opens with) each, or JSON with the file too.
pub(crate) fn list(config: &Path, json: bool) -> anyhow::Result<()> {
    let cfg = Config::load_without_secrets(config)?;
    let dir = cfg.service.templates_dir.as_deref();
    let replies = dir.map(canned_replies).transpose()?.unwrap_or_default();
    let mut out = String::new();
    if json {
        let rows: Vec<serde_json::Value> = replies
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.name,
                    "file": r.path.display().to_string(),
                    "preview": r.preview(),
                })
            })
            .collect();
        out = serde_json::to_string_pretty(&rows)?;
        out.push('\n');
    } else if replies.is_empty() {
        let whence = match dir {
            Some(d) => format!("{} holds none", d.join(REPLIES_DIR).display()),
            None => "service.templates_dir is not set".to_string(),
        };
        out.push_str(&format!(
            "no canned answers: {whence}; each is {REPLIES_DIR}/NAME.txt.hbs in the templates \
             directory (examples: /usr/share/frontdesk/templates/{REPLIES_DIR}/)\n"
        ));
    } else {
        let width = replies
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(0)
            .max(4);
        out.push_str(&format!("{:<width$}  PREVIEW\n", "NAME"));
        for r in &replies {
            out.push_str(&format!("{:<width$}  {}\n", r.name, r.preview()));
        }
        out.push_str(&format!(
            "{} canned answer(s); an agent sends one with #reply NAME at the top of an answer\n",
            replies.len()
        ));
    }
    crate::write_stdout(out.as_bytes())
}
