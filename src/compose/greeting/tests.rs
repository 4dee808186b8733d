//! The name we greet by, case by case; sign-offs also from real mail of the reply corpus.
use super::*;

/// The name a display name gives, for a mailbox at `someone@customer.test`.
fn display(name: &str) -> Option<String> {
    name_in_display(name, "someone@customer.test")
}

fn some(name: &str) -> Option<String> {
    Some(name.to_string())
}

#[test]
fn the_given_name_where_the_name_puts_it_first() {
    assert_eq!(display("Alice Doe"), some("Alice"));
    assert_eq!(display("Alice"), some("Alice"));
    assert_eq!(display("Alice Mary Doe"), some("Alice"));
    assert_eq!(display("  \"Alice Doe\"  "), some("Alice"));
    assert_eq!(display("'Alice Doe'"), some("Alice"));
}

#[test]
fn family_name_first_with_a_comma_is_read_the_right_way_round() {
    assert_eq!(display("Doe, Alice"), some("Alice"));
    assert_eq!(display("Doe, Alice Mary"), some("Alice"));
    assert_eq!(display("DOE, Alice"), some("Alice"));
    assert_eq!(display("de la Cruz, María"), some("María"));
    assert_eq!(display("Doe, Dr. Alice"), some("Alice"));
    // A suffix after the comma is no given name.
    assert_eq!(display("Alice Doe, PhD"), some("Alice"));
    assert_eq!(display("Alice Doe, Jr."), some("Alice"));
    assert_eq!(display("Doe, Alice, Ph.D."), some("Alice"));
}

#[test]
fn a_family_name_in_capitals_is_not_the_given_name() {
    assert_eq!(display("Alice DOE"), some("Alice"));
    assert_eq!(display("DOE Alice"), some("Alice"));
    assert_eq!(display("DUPONT Jean-Pierre"), some("Jean-Pierre"));
    // Two capitals are initials used as a name, not a family name.
    assert_eq!(display("AJ Smith"), some("AJ"));
}

#[test]
fn titles_suffixes_and_initials_are_not_greeted() {
    assert_eq!(display("Dr. Alice Doe"), some("Alice"));
    assert_eq!(display("Prof. Dr. Alice Doe"), some("Alice"));
    assert_eq!(display("Mrs Alice Doe"), some("Alice"));
    assert_eq!(display("Herr Hans Müller"), some("Hans"));
    assert_eq!(display("Mme Camille Martin"), some("Camille"));
    assert_eq!(display("Alice Doe Jr."), some("Alice"));
    assert_eq!(display("J. Alice Doe"), some("Alice"));
    assert_eq!(display("J. Doe"), None);
    assert_eq!(
        display("Dr. Doe"),
        None,
        "a title and one name: a family name"
    );
    assert_eq!(display("Herr Müller"), None);
}

#[test]
fn company_relay_and_role_affixes_are_cut() {
    assert_eq!(display("Alice Doe (Acme)"), some("Alice"));
    assert_eq!(display("Alice Doe [Acme Corp]"), some("Alice"));
    assert_eq!(display("Alice Doe | Acme Corp"), some("Alice"));
    assert_eq!(display("Alice Doe - Acme GmbH"), some("Alice"));
    assert_eq!(display("Alice Doe / Acme"), some("Alice"));
    assert_eq!(display("Alice Doe via Zendesk"), some("Alice"));
    assert_eq!(display("Alice Doe via LinkedIn"), some("Alice"));
    assert_eq!(display("\"Alice Doe (via Google Docs)\""), some("Alice"));
    assert_eq!(display("Alice Doe <alice@customer.test>"), some("Alice"));
}

#[test]
fn hyphenated_and_two_part_given_names() {
    assert_eq!(display("Jean-Luc Picard"), some("Jean-Luc"));
    assert_eq!(display("jean-luc picard"), some("Jean-Luc"));
    assert_eq!(display("JEAN-LUC PICARD"), some("Jean-Luc"));
    // Kept simple (see the module's rules): the first of two given names written apart.
    assert_eq!(display("Mary Ann Smith"), some("Mary"));
    assert_eq!(display("Smith, Mary Ann"), some("Mary"));
}

#[test]
fn addresses_handles_and_roles_are_no_name() {
    for name in [
        "alice.doe",
        "alice_doe",
        "alice.doe@example.com",
        "info",
        "Info",
        "support",
        "Acme Support",
        "noreply",
        "no-reply",
        "NOREPLY",
        "Billing Team",
        "Acme GmbH",
        "Acme Inc.",
        "4711",
        "jd4711",
        "Alice 2",
        "",
        "   ",
        "()",
        "A.",
        "-",
    ] {
        assert_eq!(display(name), None, "{name:?}");
    }
    for name in ["Sales", "office", "Customer Service", "Contact"] {
        assert_eq!(display(name), None, "{name:?}");
    }
    // A role word alone is a role; beside a given name it may be a family name.
    assert_eq!(display("Casey Customer"), some("Casey"));
    assert_eq!(display("Joe Root"), some("Joe"));
    // The local part repeated as the display name is a handle too, unless someone wrote it
    // like a name.
    assert_eq!(name_in_display("alice", "alice@customer.test"), None);
    assert_eq!(name_in_display("jdoe", "jdoe@customer.test"), None);
    assert_eq!(
        name_in_display("alice@customer.test", "alice@customer.test"),
        None
    );
    assert_eq!(
        name_in_display("Alice", "alice@customer.test"),
        some("Alice")
    );
}

#[test]
fn cjk_names_are_greeted_in_full_as_written() {
    assert_eq!(display("山田太郎"), some("山田太郎"));
    assert_eq!(display("山田 太郎"), some("山田 太郎"));
    assert_eq!(display("王小明"), some("王小明"));
    assert_eq!(display("김민준"), some("김민준"));
    assert_eq!(display("山田 太郎 (Acme)"), some("山田 太郎"));
    assert_eq!(display("ヤマダ・タロウ"), some("ヤマダ・タロウ"));
}

#[test]
fn cyrillic_greek_and_arabic_names_read_like_latin_ones() {
    assert_eq!(display("Анна Иванова"), some("Анна"));
    assert_eq!(display("Иванова, Анна"), some("Анна"));
    assert_eq!(display("анна иванова"), some("Анна"));
    assert_eq!(display("ИВАНОВА Анна"), some("Анна"));
    assert_eq!(display("Γιώργος Παπαδόπουλος"), some("Γιώργος"));
    assert_eq!(display("ΑΛΕΞΗΣ ΠΑΠΑΣ"), some("Αλεξης"));
    assert_eq!(display("محمد عبد الله"), some("محمد"));
}

#[test]
fn case_is_mended_only_where_the_script_has_case() {
    assert_eq!(display("alice doe"), some("Alice"));
    assert_eq!(display("ALICE DOE"), some("Alice"));
    assert_eq!(display("o'brien, siobhan"), some("Siobhan"));
    assert_eq!(display("Seán O'Brien"), some("Seán"));
    assert_eq!(display("McKenzie Doe"), some("McKenzie"));
    assert_eq!(display("ÉLODIE MARTIN"), some("Élodie"));
    assert_eq!(display("zoë"), some("Zoë"));
    assert_eq!(display("محمد"), some("محمد"), "no case: unchanged");
}

#[test]
fn a_display_name_cannot_smuggle_lines_or_controls() {
    assert_eq!(display("Eve\r\nBcc: victim@x.test"), None);
    assert_eq!(display("Eve\u{202E}Doe"), some("EveDoe"));
}

#[test]
fn sign_offs_after_a_closing() {
    assert_eq!(
        signoff_name("Please help.\n\nThanks,\nAlice"),
        some("Alice")
    );
    assert_eq!(
        signoff_name("Please help.\n\nThanks,\n\nalice"),
        some("Alice")
    );
    assert_eq!(
        signoff_name("Hi,\nthe printer is on fire.\n\nBest regards,\nAlice Doe\n"),
        some("Alice")
    );
    assert_eq!(signoff_name("Help!\nCheers,\nBob"), some("Bob"));
    assert_eq!(signoff_name("Hilfe!\n\nDanke,\nJörg"), some("Jörg"));
    assert_eq!(
        signoff_name("Die Rechnung fehlt.\n\nViele Grüße\nJörg Müller"),
        some("Jörg")
    );
    assert_eq!(
        signoff_name("Mit freundlichen Grüßen\nDr. Hans Müller"),
        some("Hans")
    );
    assert_eq!(
        signoff_name("La facture.\n\nMerci,\nÉlodie"),
        some("Élodie")
    );
    assert_eq!(
        signoff_name("La facture.\n\nCordialement,\nMARTIN Élodie"),
        some("Élodie")
    );
    assert_eq!(signoff_name("La factura.\n\nSaludos,\nJosé"), some("José"));
    assert_eq!(signoff_name("Gracias,\nMaría José"), some("María"));
    assert_eq!(
        signoff_name("Спасибо за помощь.\n\nThanks,\nАнна"),
        some("Анна")
    );
    assert_eq!(signoff_name("Help.\n\nThanks,\n山田太郎"), some("山田太郎"));
    assert_eq!(signoff_name("Help.\n\nRegards, Roman"), some("Roman"));
    assert_eq!(signoff_name("Help.\n\nBest, Alice"), some("Alice"));
    assert_eq!(
        signoff_name("Help.\n\nBest regards,\n- Alice"),
        some("Alice")
    );
}

#[test]
fn the_name_may_be_followed_by_a_short_signature() {
    let text = "Order 4417 was charged twice.\n\nKind regards,\nAlice Doe\nHead of Purchasing\n+49 30 1234567\n";
    assert_eq!(signoff_name(text), some("Alice"));
    let long = "Charged twice.\n\nThanks,\nAlice\nHead of Purchasing\nAcme Corp\nMain Street 1\n";
    assert_eq!(signoff_name(long), None, "a long block is no sign-off");
}

#[test]
fn quotes_signatures_and_footers_end_the_customers_own_text() {
    assert_eq!(
        signoff_name("Help.\n\nThanks,\nAlice\n\nSent from my iPhone"),
        some("Alice")
    );
    assert_eq!(
        signoff_name("Help.\n\nThanks,\nAlice\n-- \nAlice Doe\nAcme Corp"),
        some("Alice")
    );
    // Only the customer's own text counts, not the quoted mail's sign-off.
    let quoted = "Any news?\n\nOn Mon, 1 Dec 2025 at 10:00, Jason Miller <jason@example.test> wrote:\n> Kind regards,\n> Jason\n";
    assert_eq!(signoff_name(quoted), None);
    // Nothing but a signature after the separator: not taken.
    assert_eq!(signoff_name("Help.\n-- \nAlice Doe"), None);
}

#[test]
fn no_sentence_phone_address_or_company_is_taken_for_a_name() {
    for text in [
        "Help.\n\nThanks,",
        "Help.\n\nThanks",
        "Thanks Thanmai",
        "Thanks, Alice",
        "Help.\n\nThanks,\nLooking forward to your answer.",
        "Help.\n\nThanks,\nLooking Forward",
        "Help.\n\nThanks,\nlooking forward to it",
        "Help.\n\nBest regards, and see you soon",
        "Help.\n\nThanks,\nbye",
        "Help.\n\nThanks,\n+49 30 1234567",
        "Help.\n\nThanks,\nalice@customer.test",
        "Help.\n\nThanks,\nMain Street 12",
        "Help.\n\nThanks,\nAcme Corp",
        "Help.\n\nThanks,\nAcme GmbH",
        "Help.\n\nThanks,\nThe Support Team",
        "Help.\n\nThanks,\nhttps://acme.example",
        "Help.\n\nThanks,\nI hope you can help me with this soon",
        "Alice\nwas here.",
        "Thank you for your help!",
        "",
    ] {
        assert_eq!(signoff_name(text), None, "{text:?}");
    }
}

#[test]
fn the_display_name_comes_first_then_the_sign_off() {
    let text = "Help.\n\nThanks,\nAlice";
    assert_eq!(
        greeting_name(Some("Doe, Alice"), "a@x.test", ""),
        some("Alice")
    );
    assert_eq!(
        greeting_name(Some("Robert Doe"), "a@x.test", text),
        some("Robert")
    );
    assert_eq!(
        greeting_name(Some("alice.doe"), "a@x.test", text),
        some("Alice")
    );
    assert_eq!(greeting_name(None, "a@x.test", text), some("Alice"));
    assert_eq!(greeting_name(Some("info"), "info@x.test", "Help."), None);
    assert_eq!(greeting_name(None, "alice.doe@x.test", "Help."), None);
}

/// Real mail of the reply corpus (`tests/corpus/replies/`, origins in its README): agents'
/// answers from real clients, read as the acknowledgement reads a customer's mail (decoded
/// text, quote cut by [`text_before_quote`]).
fn corpus(name: &str) -> Option<String> {
    let path = format!(
        "{}/tests/corpus/replies/{name}.eml",
        env!("CARGO_MANIFEST_DIR")
    );
    let raw = std::fs::read(&path).expect("corpus file");
    let mail = crate::mail::parse::parse_bytes(&raw).expect("corpus mail parses");
    signoff_name(&mail.text)
}

#[test]
fn sign_offs_in_real_mail() {
    // "Best regards,\nJohn" above a "--" signature.
    assert_eq!(corpus("crisp-answer-double-signature-gmail"), some("John"));
    assert_eq!(corpus("crisp-answer-wrote-url-gmail"), some("John"));
    // "Cheers 🎉\nSarah" above a "—————" rule and a signature block.
    assert_eq!(
        corpus("crisp-answer-unicode-signature-gmail"),
        some("Sarah")
    );
    // "Best regards,\n\n//Jef".
    assert_eq!(corpus("disc-outlook-mac-reply-to-signature"), some("Jef"));
    // "Best regards\n\nSome One".
    assert_eq!(corpus("disc-outlook-swedish"), some("Some"));
    // "Thanks,\nAlex" in an HTML-only mail (Thunderbird's, indented when read as text).
    assert_eq!(corpus("talon-html-thunderbird"), some("Alex"));
    // "Thanks,\nSome One" above a "--" signature.
    assert_eq!(corpus("disc-gmail-signature-after-quote"), some("Some"));
    // "Thanks Thanmai" thanks someone; "thanks" alone signs nothing; a name only below the
    // "-- " separator ("Győrvári Gábor - Scr34m") is a signature, not a sign-off.
    assert_eq!(corpus("talon-leading-space-attribution"), None);
    assert_eq!(corpus("disc-eudora-you-wrote"), None);
    assert_eq!(corpus("crisp-hungarian-signature-below"), None);
    // "Regards, Roman" below the quote: only the text above the quote is read.
    assert_eq!(corpus("talon-attribution-two-lines"), None);
}
