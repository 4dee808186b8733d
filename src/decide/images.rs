//! The inline images of an agent's HTML answer: the `cid:` parts its cut HTML shows, renamed
//! after the relay's Message-ID so the customer's client finds them and the agent's own
//! client's names never leave.

use super::{Ctx, State};
use crate::domain::{MessageIdKind, TicketStamp};
use crate::mail::parse::{self, Attachment};
use crate::mail::relay::HtmlAnswer;

/// The inline images a cut HTML answer shows, in its order, each with the Content-ID its
/// HTML now names it by ([`image_id`]).
pub(super) fn inline_images<'a, S: State>(
    ctx: &Ctx<'a, S>,
    ticket: TicketStamp,
    answer: &HtmlAnswer,
) -> Vec<Attachment<'a>> {
    let parts = parse::attachments(ctx.mime);
    let relay_id = ctx.composer().message_id(MessageIdKind::Reply, ticket);
    let mut images: Vec<Attachment<'a>> = Vec::new();
    for cid in &answer.images {
        let Some(k) = image_part(&parts, cid) else {
            continue;
        };
        let renamed = image_id(k, &relay_id);
        if images
            .iter()
            .any(|i| i.content_id.as_deref() == Some(renamed.as_str()))
        {
            continue;
        }
        let mut image = parts[k].clone();
        image.content_id = Some(renamed);
        images.push(image);
    }
    images
}

/// Which of a mail's parts is the image with Content-ID `cid`.
pub(super) fn image_part(parts: &[Attachment<'_>], cid: &str) -> Option<usize> {
    parts
        .iter()
        .position(|a| a.content_id.as_deref() == Some(cid) && a.content_type.starts_with("image/"))
}

/// The Content-ID the mail's part `k` goes out under in the relay with Message-ID
/// `relay_id`: ours, not the agent's client's.
pub(super) fn image_id(k: usize, relay_id: &str) -> String {
    format!("image{}.{}", k + 1, relay_id.trim_matches(['<', '>']))
}
