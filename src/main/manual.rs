//! The manual page frontdesk(1), generated from the same clap definition that parses the
//! command line, with the sections clap does not know: every full command line, the files,
//! the environment and the exit statuses.

use clap::CommandFactory;

use crate::Cli;

/// Every exit status with its meaning, for the man page's EXIT STATUS section.
const EXIT_STATUSES: &[(&str, &str)] = &[
    ("0", "Success; for run, a clean stop on SIGTERM or SIGINT."),
    (
        "1",
        "Any other failure, one that may pass: the store cannot be opened, a server is \
         unreachable or refuses the login (check-config --connect), a task of the daemon \
         stopped unexpectedly. Under systemd, Restart=on-failure tries again.",
    ),
    (
        "2",
        "Usage: an unknown command or option, or a missing argument.",
    ),
    (
        "78",
        "Configuration error (EX_CONFIG from sysexits.h): the configuration file, a secret \
         file it names or a template is missing or broken. The unit sets \
         RestartPreventExitStatus=78, so systemd does not restart into the same error.",
    ),
];

/// The manual page frontdesk(1) in roff, generated from the clap definition.
///
/// clap_mangen's own subcommand list points at pages per subcommand (frontdesk-tickets(1)…)
/// that are not shipped, so this page has its own COMMANDS section naming every full command
/// line (`frontdesk tickets show NUMBER [--json]`), plus the files and environment an
/// administrator needs.
pub(crate) fn man_page() -> std::io::Result<Vec<u8>> {
    use clap_mangen::roff::{Roff, bold, italic, roman};
    let mut cmd = Cli::command();
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone()).title("FRONTDESK");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    for line in command_lines("frontdesk", &cmd) {
        roff.control("TP", []);
        roff.text([bold(line.words), roman(line.args)]);
        roff.text([roman(line.about)]);
    }
    roff.control("SH", ["FILES"]);
    roff.control("TP", []);
    roff.text([italic(frontdesk::config::DEFAULT_CONFIG_PATH)]);
    roff.text([roman(
        "The configuration (--config). Every key is documented in the example, \
         /usr/share/doc/frontdesk/examples/frontdesk.toml when installed from the package.",
    )]);
    roff.control("TP", []);
    roff.text([italic("/etc/frontdesk/credentials/")]);
    roff.text([roman(
        "The token key, the passwords and any file an OAuth2 helper needs, root-only; the \
         systemd unit frontdesk.service hands every file here to the daemon with \
         LoadCredential=, as /run/credentials/frontdesk.service/frontdesk_FILE.",
    )]);
    roff.control("TP", []);
    roff.text([italic("/var/lib/frontdesk")]);
    roff.text([roman(
        "The state directory (service.state_dir): the store, and control.sock through which \
         the ops commands reach a running daemon.",
    )]);
    roff.control("TP", []);
    roff.text([italic("/usr/share/frontdesk/templates")]);
    roff.text([roman(
        "The built-in mail templates, for reference: copy one into service.templates_dir \
         (e.g. /etc/frontdesk/templates) and edit it there to replace the built-in one. \
         Its replies/ holds example canned answers: the ones agents send with #reply NAME are \
         replies/NAME.txt.hbs in service.templates_dir (see replies list).",
    )]);
    roff.control("SH", ["ENVIRONMENT"]);
    roff.control("TP", []);
    roff.text([bold("FRONTDESK__SECTION__KEY")]);
    roff.text([roman(
        "Overrides any configuration key, e.g. FRONTDESK__IMAP__PASSWORD or \
         FRONTDESK__SERVICE__STATE_DIR.",
    )]);
    roff.control("TP", []);
    roff.text([bold("FRONTDESK_CONFIG")]);
    roff.text([roman("The configuration file, when --config is not given.")]);
    roff.control("TP", []);
    roff.text([bold("JOURNAL_STREAM")]);
    roff.text([roman(
        "Set by systemd when stderr goes to the journal. While it names stderr, the log goes \
         to journald natively: each line with its priority (error 3, warning 4, info 6) and the \
         fields EVENT, INBOX, TICKET and the rest, so journalctl -u frontdesk -p warning finds \
         the failures.",
    )]);
    roff.control("TP", []);
    roff.text([bold("RUST_LOG")]);
    roff.text([roman(
        "Log filter, e.g. info,frontdesk=debug. It opens up the daemon's own lines only: the \
         libraries that speak IMAP, SMTP, TLS and HTTP or hold mail stay at warn, every other \
         one at info, so no setting logs a password, token or mail.",
    )]);
    roff.control("SH", ["EXIT STATUS"]);
    for (status, meaning) in EXIT_STATUSES {
        roff.control("TP", []);
        roff.text([bold(*status)]);
        roff.text([roman(*meaning)]);
    }
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman("frontdesk.toml(5), systemctl(1), journalctl(1)")]);
    roff.to_writer(&mut out)?;
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// One runnable command as the man page lists it.
struct CommandLine {
    /// The words that select it: `frontdesk tickets show`.
    words: String,
    /// Its own arguments and flags: ` NUMBER [--json]`.
    args: String,
    /// Its one-line description.
    about: String,
}

/// Every runnable command below `cmd`, in definition order; groups like `tickets` contribute
/// their subcommands, not themselves.
fn command_lines(prefix: &str, cmd: &clap::Command) -> Vec<CommandLine> {
    let mut lines = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let words = format!("{prefix} {}", sub.get_name());
        if sub.has_subcommands() {
            lines.extend(command_lines(&words, sub));
            continue;
        }
        let mut args = String::new();
        for arg in sub
            .get_arguments()
            .filter(|a| !a.is_global_set() && !a.is_hide_set() && a.get_id() != "help")
        {
            let name = arg
                .get_value_names()
                .and_then(|v| v.first())
                .map_or_else(|| arg.get_id().as_str().to_uppercase(), |v| v.to_string());
            match (arg.is_positional(), arg.is_required_set(), arg.get_long()) {
                (true, true, _) => args.push_str(&format!(" {name}")),
                (true, false, _) => args.push_str(&format!(" [{name}]")),
                (false, _, Some(long)) => args.push_str(&format!(" [--{long}]")),
                (false, _, None) => {}
            }
        }
        let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
        lines.push(CommandLine { words, args, about });
    }
    lines
}
