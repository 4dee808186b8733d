//! The whole pure pipeline (parse, classify, thread, route, compose: `decide`) on arbitrary
//! bytes, with an in-memory store holding one open ticket. A crash is a panic, or a broken
//! invariant of `hostile_support::check`: an outgoing header the customer shaped, a mail to
//! someone who may not get it, an acknowledgement with attachments or unescaped HTML.
//!
//! Seed it with the hostile corpus (ARCHITECTURE.md, "Hostile input"):
//! `cargo fuzz run pipeline corpus/pipeline ../tests/corpus/hostile ../tests/corpus/replies`

#![no_main]

#[path = "../../tests/hostile_support/mod.rs"]
mod hostile_support;

use std::sync::LazyLock;

use hostile_support::{LIMIT, MemState, check, config, run, templates};
use libfuzzer_sys::fuzz_target;

static FIXTURE: LazyLock<(
    frontdesk::config::Config,
    frontdesk::compose::Templates,
    MemState,
)> = LazyLock::new(|| {
    contain_mail_parser_panics();
    (config(LIMIT), templates(), MemState::default())
});

/// libfuzzer-sys's panic hook aborts on every panic, even one that is caught. frontdesk
/// contains mail-parser's own panics (`parse::parse_message`: crafted input reaches its
/// assertions) and treats such mail as unparseable, so a panic raised inside mail-parser
/// unwinds to that guard here as in the daemon. Any other panic, and a mail-parser panic
/// that escapes the guard, still aborts: a crash.
fn contain_mail_parser_panics() {
    let aborting = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_mail_parser = info
            .location()
            .is_some_and(|l| l.file().contains("/mail-parser-"));
        if !in_mail_parser {
            aborting(info);
        }
    }));
}

fuzz_target!(|raw: &[u8]| {
    let (cfg, templates, state) = &*FIXTURE;
    let decision = run(raw, cfg, templates, state).expect("the in-memory store never fails");
    if let Err(e) = check(raw, &decision, cfg, state) {
        panic!("invariant broken: {e}");
    }
});
