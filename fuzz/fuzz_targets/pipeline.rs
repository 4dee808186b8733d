//! The whole pure pipeline (parse, classify, thread, route, compose: `decide`) on arbitrary
//! bytes, with an in-memory store holding one open ticket. A crash is a panic, or a broken
//! invariant of `hostile_support::decide::check`: an outgoing header the customer shaped, a mail to
//! someone who may not get it, an acknowledgement with attachments or unescaped HTML.
//!
//! Seed it with the hostile corpus (ARCHITECTURE.md, "Hostile input"):
//! `cargo fuzz run pipeline corpus/pipeline ../tests/corpus/hostile ../tests/corpus/replies`

#![no_main]

/// The pure pipeline with its checks, and the size limit and header check under them, as
/// `tests/hostile.rs` runs them (`tests/hostile_support/`; the corpus's part is not needed).
#[path = "../../tests/hostile_support"]
mod hostile_support {
    pub mod decide;
    pub mod shared;
}

use std::sync::LazyLock;

use frontdesk::testing::MemStore;
use hostile_support::decide::{check, config, run, store, templates};
use hostile_support::shared::LIMIT;
use libfuzzer_sys::fuzz_target;

static FIXTURE: LazyLock<(
    frontdesk::config::Config,
    frontdesk::compose::Templates,
    MemStore,
)> = LazyLock::new(|| {
    contain_mail_parser_panics();
    (config(LIMIT), templates(), store())
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
    let decision = run(raw, cfg, templates, state);
    if let Err(e) = check(raw, &decision, cfg, state) {
        panic!("invariant broken: {e}");
    }
});
