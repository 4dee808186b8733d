//! The `Authentication-Results` header field (RFC 8601), parsed: who vouches (the
//! authserv-id) and what each method found. Pure and total: every input gives an
//! [`AuthResults`], and what cannot be read is left out rather than guessed.
//!
//! The grammar's traps are the point of this module. Comments (`(2048-bit key; unprotected)`,
//! nested, with `;` or `=` inside) and quoted strings (`reason="a; b"`, a quoted local part
//! in `smtp.mailfrom`) never split a result or start a property; CFWS may stand between every
//! token (`dkim (x) / 1 = (y) fail`); a method may appear several times (one result per DKIM
//! signature); `ptype.property=value` pairs carry the identities (`header.d`, `header.i`,
//! `header.from`, `smtp.mailfrom`, `policy.*`). Deviations seen in real headers are read
//! leniently where that cannot invent a result: Microsoft 365 writes no authserv-id and
//! scatters bare words (`contoso.com;`) and `action=none` between results, many writers end
//! with a `;`, and values such as `header.b=gfT/i2HB` or a URI go unquoted.

/// One parsed `Authentication-Results` header field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthResults {
    /// Who added the field (`mx.google.com`), as written; `None` when the field names none
    /// (Microsoft 365's own form), which no trusted id can match.
    pub authserv_id: Option<String>,
    /// The `authres-version` after the id, if one was given.
    pub version: Option<u32>,
    /// Every result the field reports, in order; empty for `none`.
    pub results: Vec<MethodResult>,
}

/// One `method=result` with what came with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MethodResult {
    /// The method, lowercased: `dkim`, `spf`, `dmarc`, `arc`, `compauth` …
    pub method: String,
    /// The method's version (`dkim/1`), if written.
    pub method_version: Option<u32>,
    /// The result, lowercased: `pass`, `fail`, `none`, `bestguesspass` …
    pub result: String,
    /// The `reason=` text, unquoted, if given.
    pub reason: Option<String>,
    /// The `ptype.property=value` pairs, in order.
    pub properties: Vec<Property>,
}

/// A `ptype.property=value` pair (`header.d=example.com`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Property {
    /// `smtp`, `header`, `body` or `policy`, lowercased.
    pub ptype: String,
    /// The property (`d`, `i`, `from`, `mailfrom` …), lowercased.
    pub name: String,
    /// The value as written, with quotes removed.
    pub value: String,
}

impl MethodResult {
    /// The first value of `ptype.name` (case-insensitive), if the result carries one.
    pub fn property(&self, ptype: &str, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|p| p.ptype.eq_ignore_ascii_case(ptype) && p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_str())
    }
}

impl AuthResults {
    /// Whether the field was added by `authserv_id` (compared case-insensitively, RFC 8601
    /// §2.5).
    pub fn added_by(&self, authserv_id: &str) -> bool {
        self.authserv_id
            .as_deref()
            .is_some_and(|id| id.eq_ignore_ascii_case(authserv_id))
    }
}

/// Parses the value of one `Authentication-Results` field (the text after the colon,
/// folded or unfolded).
pub fn parse(value: &str) -> AuthResults {
    let mut p = Parser {
        s: value.chars().collect(),
        i: 0,
    };
    let mut out = AuthResults::default();
    p.skip_cfws();
    let start = p.i;
    let id = if p.peek() == Some('"') {
        p.quoted()
    } else {
        let word = p.word(&['=']);
        p.skip_cfws();
        if p.peek() == Some('=') {
            // `spf=pass …` straight away: no authserv-id (Microsoft 365). Read it as a result.
            p.i = start;
            if let Some(r) = p.resinfo() {
                out.results.push(r);
            }
            None
        } else {
            Some(word)
        }
    };
    out.authserv_id = id.filter(|id| !id.is_empty());
    if out.authserv_id.is_some() {
        p.skip_cfws();
        if p.peek().is_some_and(|c| c.is_ascii_digit()) {
            out.version = p.word(&[]).parse().ok();
        }
    }
    loop {
        p.skip_to_semicolon();
        if p.peek().is_none() {
            break;
        }
        p.i += 1;
        if let Some(r) = p.resinfo() {
            out.results.push(r);
        }
    }
    out
}

/// A cursor over the field's characters.
struct Parser {
    s: Vec<char>,
    i: usize,
}

/// Characters that end an unquoted word anywhere in the field.
fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ';' | '"')
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    /// Skips whitespace and comments; a comment nests, honours `\` escapes, and an
    /// unterminated one runs to the end.
    fn skip_cfws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.i += 1;
            } else if c == '(' {
                let mut depth = 0usize;
                while let Some(c) = self.peek() {
                    self.i += 1;
                    match c {
                        '\\' => self.i += 1,
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            } else {
                break;
            }
        }
    }

    /// A quoted string at the cursor, unescaped; `None` for an unterminated one (which runs
    /// to the end and is worth nothing: the text was cut or crafted).
    fn quoted(&mut self) -> Option<String> {
        let mut out = String::new();
        self.i += 1;
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                '"' => return Some(out),
                '\\' => {
                    if let Some(next) = self.peek() {
                        out.push(next);
                        self.i += 1;
                    }
                }
                _ => out.push(c),
            }
        }
        None
    }

    /// An unquoted word: up to whitespace, a comment, `;`, a quote or one of `stops`.
    fn word(&mut self, stops: &[char]) -> String {
        let start = self.i;
        while let Some(c) = self.peek() {
            if ends_word(c) || stops.contains(&c) {
                break;
            }
            self.i += 1;
        }
        self.s[start..self.i].iter().collect()
    }

    /// A value: a quoted string (with an unquoted `@domain` after it, for a quoted local
    /// part), or a word that may hold `=`, `/`, `:` and `@` (`header.b=gfT/i2HB`, a URI).
    /// `None` for an unterminated quoted string.
    fn value(&mut self) -> Option<String> {
        if self.peek() == Some('"') {
            let mut v = self.quoted()?;
            if self.peek() == Some('@') {
                v.push_str(&self.word(&[]));
            }
            Some(v)
        } else {
            Some(self.word(&[]))
        }
    }

    /// Moves to the next `;` that is outside comments and quoted strings (or to the end).
    fn skip_to_semicolon(&mut self) {
        loop {
            self.skip_cfws();
            match self.peek() {
                None | Some(';') => return,
                Some('"') => {
                    self.quoted();
                }
                Some(_) => {
                    if self.word(&[]).is_empty() {
                        self.i += 1;
                    }
                }
            }
        }
    }

    /// One `method[/version]=result [reason=…] [ptype.property=value …]`, up to the next
    /// `;`. `None` for a part without `method=` (`none`, Microsoft's bare `contoso.com`).
    fn resinfo(&mut self) -> Option<MethodResult> {
        self.skip_cfws();
        let method = self.word(&['=', '/']).to_ascii_lowercase();
        if method.is_empty() {
            return None;
        }
        self.skip_cfws();
        let mut method_version = None;
        if self.peek() == Some('/') {
            self.i += 1;
            self.skip_cfws();
            method_version = self.word(&['=']).parse().ok();
            self.skip_cfws();
        }
        if self.peek() != Some('=') {
            return None;
        }
        self.i += 1;
        self.skip_cfws();
        let result = self.word(&[]).to_ascii_lowercase();
        if result.is_empty() {
            return None;
        }
        let mut r = MethodResult {
            method,
            method_version,
            result,
            ..MethodResult::default()
        };
        loop {
            self.skip_cfws();
            match self.peek() {
                None | Some(';') => break,
                Some('"') => {
                    self.quoted();
                    continue;
                }
                Some(_) => {}
            }
            let key = self.word(&['=', '.']);
            if key.is_empty() {
                self.i += 1;
                continue;
            }
            self.skip_cfws();
            let mut name = None;
            if self.peek() == Some('.') {
                self.i += 1;
                self.skip_cfws();
                name = Some(self.word(&['=']));
                self.skip_cfws();
            }
            if self.peek() != Some('=') {
                // A stray word: nothing to read from it.
                continue;
            }
            self.i += 1;
            self.skip_cfws();
            let Some(value) = self.value() else {
                break;
            };
            match name {
                Some(name) if !name.is_empty() => r.properties.push(Property {
                    ptype: key.to_ascii_lowercase(),
                    name: name.to_ascii_lowercase(),
                    value,
                }),
                Some(_) => {}
                None if key.eq_ignore_ascii_case("reason") => r.reason = Some(value),
                // Microsoft's `action=none` and the like: not a property of RFC 8601.
                None => {}
            }
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real fields, byte for byte as their origin holds them, with the header name: the
    /// value after the first colon is what a mail parser hands on.
    fn field(raw: &str) -> AuthResults {
        parse(raw.split_once(':').expect("a header field").1)
    }

    /// `(method, result, [(ptype.name, value)…])` of one result.
    type Row = (String, String, Vec<(String, String)>);
    /// A [`Row`] as a test writes it.
    type Want<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

    fn summary(r: &AuthResults) -> Vec<Row> {
        r.results
            .iter()
            .map(|m| {
                (
                    m.method.clone(),
                    m.result.clone(),
                    m.properties
                        .iter()
                        .map(|p| (format!("{}.{}", p.ptype, p.name), p.value.clone()))
                        .collect(),
                )
            })
            .collect()
    }

    fn expect(r: &AuthResults, want: &[Want<'_>]) {
        let want: Vec<Row> = want
            .iter()
            .map(|(m, res, props)| {
                (
                    m.to_string(),
                    res.to_string(),
                    props
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(summary(r), want, "{r:?}");
    }

    #[test]
    fn opendkim() {
        // OpenDKIM's usual field (the acceptance's reproduction): a comment holding `;`.
        // linux-mailinglist-archives/osmocom-net-gprs.lists.osmocom.org.0, m at
        // 92ff96c0de0adf6a1d2c1c0fdfc1cc570f0fe2f8 (lists.osmocom.org runs OpenDKIM and
        // OpenDMARC under one authserv-id).
        let r = field(
            "Authentication-Results: lists.osmocom.org;\n\tdkim=pass (2048-bit key; unprotected) header.d=gmail.com header.i=@gmail.com header.b=uAJR7L9S",
        );
        assert_eq!(r.authserv_id.as_deref(), Some("lists.osmocom.org"));
        expect(
            &r,
            &[(
                "dkim",
                "pass",
                &[
                    ("header.d", "gmail.com"),
                    ("header.i", "@gmail.com"),
                    ("header.b", "uAJR7L9S"),
                ],
            )],
        );
        // A failed signature with a quoted reason and a quoted header.b, then OpenDKIM's
        // ATPS result. stalwartlabs/mail-auth resources/arf/004.eml
        // (0e93300e5c77b5e83ea5562d9a7e781278514fa2; DKIM-Filter: OpenDKIM Filter v2.11.0).
        let r = field(
            "Authentication-Results: box.mydomain.name;\n\tdkim=fail reason=\"signature verification failed\" (2048-bit key; unprotected) header.d=interpublication.org header.i=@interpublication.org header.b=\"PrsTNnuH\";\n\tdkim-atps=neutral\n",
        );
        expect(
            &r,
            &[
                (
                    "dkim",
                    "fail",
                    &[
                        ("header.d", "interpublication.org"),
                        ("header.i", "@interpublication.org"),
                        ("header.b", "PrsTNnuH"),
                    ],
                ),
                ("dkim-atps", "neutral", &[]),
            ],
        );
        assert_eq!(
            r.results[0].reason.as_deref(),
            Some("signature verification failed")
        );
    }

    #[test]
    fn opendmarc() {
        // Same message as `opendkim`: OpenDMARC's field above OpenDKIM's.
        let r = field(
            "Authentication-Results: lists.osmocom.org; dmarc=pass (p=none dis=none) header.from=gmail.com",
        );
        assert!(
            r.added_by("LISTS.osmocom.org"),
            "ids compare case-insensitively"
        );
        expect(&r, &[("dmarc", "pass", &[("header.from", "gmail.com")])]);
        // OpenDMARC 1.3.2's own failure report quotes its field.
        // stalwartlabs/mail-auth resources/arf/004.eml (as above).
        let r = field(
            "Authentication-Results: box.mydomain.name; dmarc=fail header.from=interpublication.org",
        );
        expect(
            &r,
            &[("dmarc", "fail", &[("header.from", "interpublication.org")])],
        );
    }

    #[test]
    fn rspamd() {
        // mail.highsecure.ru runs Rspamd (its author's server). rspamd/rspamd
        // test/functional/messages/arcbad.eml (eaac8e914ef09f837fe53cc4973e0b2312ab1118):
        // a quoted reason with parentheses and a comma, a comment after the last property.
        let r = field(
            "Authentication-Results: mail.highsecure.ru;\n\tdkim=pass header.d=freebsd.org header.s=dkim header.b=H7pb97c0;\n\tdkim=fail (body hash did not verify) header.d=outlook.com header.s=selector1 header.b=LWxzK+W8;\n\tdmarc=fail reason=\"SPF not aligned (relaxed), DKIM not aligned (relaxed)\" header.from=outlook.com (policy=none);\n\tspf=pass (mail.highsecure.ru: domain of owner-freebsd-test@freebsd.org designates 96.47.72.81 as permitted sender) smtp.mailfrom=owner-freebsd-test@freebsd.org\n",
        );
        expect(
            &r,
            &[
                (
                    "dkim",
                    "pass",
                    &[
                        ("header.d", "freebsd.org"),
                        ("header.s", "dkim"),
                        ("header.b", "H7pb97c0"),
                    ],
                ),
                (
                    "dkim",
                    "fail",
                    &[
                        ("header.d", "outlook.com"),
                        ("header.s", "selector1"),
                        ("header.b", "LWxzK+W8"),
                    ],
                ),
                ("dmarc", "fail", &[("header.from", "outlook.com")]),
                (
                    "spf",
                    "pass",
                    &[("smtp.mailfrom", "owner-freebsd-test@freebsd.org")],
                ),
            ],
        );
        assert_eq!(
            r.results[2].reason.as_deref(),
            Some("SPF not aligned (relaxed), DKIM not aligned (relaxed)")
        );
        // Rspamd's field for mail its own users submitted. Same repository,
        // test/functional/messages/dmarc/good_dkim_rspamd.eml.
        let r = field(
            "Authentication-Results: mail.highsecure.ru;\r\n\tauth=pass smtp.auth=vsevolod@highsecure.ru smtp.mailfrom=vsevolod@rspamd.com\r\n",
        );
        expect(
            &r,
            &[(
                "auth",
                "pass",
                &[
                    ("smtp.auth", "vsevolod@highsecure.ru"),
                    ("smtp.mailfrom", "vsevolod@rspamd.com"),
                ],
            )],
        );
    }

    #[test]
    fn gmail() {
        // Several results per method, a comment with `:`. stalwartlabs/mail-auth
        // resources/arc/001.txt (0e93300e5c77b5e83ea5562d9a7e781278514fa2).
        let r = field(
            "Authentication-Results: mx.google.com;\n       dkim=pass header.i=@ietf.org header.s=ietf1 header.b=jqktrzno;\n       dkim=pass header.i=@ietf.org header.s=ietf1 header.b=jqktrzno;\n       dkim=neutral (body hash did not verify) header.i=@stalw.art header.s=velikisrpan22 header.b=QS+O8z2Y;\n       spf=pass (google.com: domain of jmap-bounces@ietf.org designates 50.223.129.194 as permitted sender) smtp.mailfrom=jmap-bounces@ietf.org;\n       dmarc=fail (p=NONE sp=NONE dis=NONE) header.from=stalw.art\n",
        );
        assert_eq!(r.authserv_id.as_deref(), Some("mx.google.com"));
        let dkim = [
            ("header.i", "@ietf.org"),
            ("header.s", "ietf1"),
            ("header.b", "jqktrzno"),
        ];
        expect(
            &r,
            &[
                ("dkim", "pass", &dkim),
                ("dkim", "pass", &dkim),
                (
                    "dkim",
                    "neutral",
                    &[
                        ("header.i", "@stalw.art"),
                        ("header.s", "velikisrpan22"),
                        ("header.b", "QS+O8z2Y"),
                    ],
                ),
                ("spf", "pass", &[("smtp.mailfrom", "jmap-bounces@ietf.org")]),
                ("dmarc", "fail", &[("header.from", "stalw.art")]),
            ],
        );
    }

    #[test]
    fn amavis() {
        // A comment after the authserv-id. stalwartlabs/mail-auth resources/arc/001.txt
        // (as above).
        let r = field(
            "Authentication-Results: ietfa.amsl.com (amavisd-new); dkim=pass (2048-bit key)\n header.d=stalw.art\n",
        );
        assert_eq!(r.authserv_id.as_deref(), Some("ietfa.amsl.com"));
        assert_eq!(r.version, None);
        expect(&r, &[("dkim", "pass", &[("header.d", "stalw.art")])]);
    }

    #[test]
    fn microsoft_365() {
        // No authserv-id, bare words between results, `action=`, `compauth=`. lieser/dkim_verifier
        // test/unittest/arhParserSpec.mjs.js, "Missing authserv-id and DMARC action (Outlook)"
        // (1badb6c8d639bd5973f870fa7bfc6f96facba9ca).
        let r = field(
            "Authentication-Results: spf=pass (sender IP is 185.67.36.66)\r\n smtp.mailfrom=posteo.net; dkim=pass (signature was verified)\r\n header.d=posteo.net;dmarc=pass action=none\r\n header.from=posteo.net;compauth=pass reason=100\r\n",
        );
        assert_eq!(r.authserv_id, None, "nothing to trust it by");
        expect(
            &r,
            &[
                ("spf", "pass", &[("smtp.mailfrom", "posteo.net")]),
                ("dkim", "pass", &[("header.d", "posteo.net")]),
                ("dmarc", "pass", &[("header.from", "posteo.net")]),
                ("compauth", "pass", &[]),
            ],
        );
        assert_eq!(r.results[3].reason.as_deref(), Some("100"));
        // Microsoft's own example of the older form with the tenant's name between results.
        // MicrosoftDocs/microsoft-365-docs
        // microsoft-365/security/office-365-security/email-validation-and-authentication.md
        // (0d1e3bdef88e75d033a912d67423d52b3f94b771).
        let r = field(
            "Authentication-Results: spf=none (sender IP is 10.2.3.4)\n  smtp.mailfrom=fabrikam.com; contoso.com; dkim=pass\n  (signature was verified) header.d=outbound.fabrikam.com;\n  contoso.com; dmarc=bestguesspass action=none\n  header.from=fabrikam.com; compauth=pass reason=109",
        );
        assert_eq!(r.authserv_id, None);
        expect(
            &r,
            &[
                ("spf", "none", &[("smtp.mailfrom", "fabrikam.com")]),
                ("dkim", "pass", &[("header.d", "outbound.fabrikam.com")]),
                ("dmarc", "bestguesspass", &[("header.from", "fabrikam.com")]),
                ("compauth", "pass", &[]),
            ],
        );
    }

    #[test]
    fn spamassassin_corner_cases() {
        // apache/spamassassin t/data/nice/authres (e325d2ebf8d99e26395e65e34a498218a48a6122):
        // a version, CFWS around `=` in reason, a quoted reason holding `(`; a trailing `;`;
        // a quoted local part with escaped quotes.
        let r = field(
            "Authentication-Results: authrestest4int 2; spf=fail reason (BAH) = \"just some (<>.%&! reason\" smtp.mailfrom=dogma.slashnull.org",
        );
        assert_eq!(r.version, Some(2));
        expect(
            &r,
            &[("spf", "fail", &[("smtp.mailfrom", "dogma.slashnull.org")])],
        );
        assert_eq!(
            r.results[0].reason.as_deref(),
            Some("just some (<>.%&! reason")
        );
        let r = field(
            "Authentication-RESULTS:  authrestest5int;\n        dkim=pass (2048-bit key; unprotected) header.d=gmail.com header.i=@gmail.com header.b=SI+iqkld;\n",
        );
        expect(
            &r,
            &[(
                "dkim",
                "pass",
                &[
                    ("header.d", "gmail.com"),
                    ("header.i", "@gmail.com"),
                    ("header.b", "SI+iqkld"),
                ],
            )],
        );
        let r = field(
            "Authentication-Results: authrestest6int;\n        dkim=fail (2048-bit key; unprotected) header.d=gmail.com header.i=\" foo bar \\\"xyz\\\"@gmail.com\" header.b=SI+iqkld;\n",
        );
        assert_eq!(
            r.results[0].property("header", "i"),
            Some(" foo bar \"xyz\"@gmail.com")
        );
        assert_eq!(r.results[0].property("header", "b"), Some("SI+iqkld"));
    }

    #[test]
    fn rfc_8601_and_other_writers() {
        // RFC 8601 B.7, the comment-heavy example: CFWS between every token, a method
        // version, `policy.*`. marcbradshaw/Mail-AuthenticationResults
        // t/05-parser-comment-heavy.t (f31eefac3ab6130ad4d05ed6640bc948227a6d5b).
        let r = field(
            "Authentication-Results: foo.example.net (foobar) 1 (baz);\n           dkim (Because I like it) / 1 (One yay) = (wait for it) fail\n\n             policy (A dot can go here) . (like that) expired\n             (this surprised me) = (as I wasn't expecting it) 1362471462",
        );
        assert_eq!(r.authserv_id.as_deref(), Some("foo.example.net"));
        assert_eq!(r.version, Some(1));
        expect(&r, &[("dkim", "fail", &[("policy.expired", "1362471462")])]);
        assert_eq!(r.results[0].method_version, Some(1));
        // RFC 8601 B.2: a service that checked nothing.
        // lieser/dkim_verifier test/unittest/arhParserSpec.mjs.js (as above).
        let r = field("Authentication-Results: example.org 1; none\r\n");
        assert_eq!(r.authserv_id.as_deref(), Some("example.org"));
        assert!(r.results.is_empty());
        // Same file: nested comments, a quoted authserv-id, an unquoted URI value after a
        // fold, a quoted property value with a space.
        let r = field(
            "Authentication-Results: example.com;\r\n          dkim=pass (good (comment (another)) signature(s)) header.d=example.com\r\n",
        );
        expect(&r, &[("dkim", "pass", &[("header.d", "example.com")])]);
        let r = field("Authentication-Results: \"example.org\"; none\r\n");
        assert_eq!(r.authserv_id.as_deref(), Some("example.org"));
        let r = field(
            "Authentication-Results: mx1.messagingengine.com;\r\n    bimi=pass header.d=amazon.com header.selector=default\r\n      policy.authority=pass policy.mark-type=\"Registered Mark\"\r\n      policy.authority-uri=\r\n      https://d3frv9g52qce38.cloudfront.net/amazondefault/amazon_web_services_inc.pem\r\n",
        );
        assert_eq!(
            r.results[0].property("policy", "mark-type"),
            Some("Registered Mark")
        );
        assert_eq!(
            r.results[0].property("policy", "authority-uri"),
            Some("https://d3frv9g52qce38.cloudfront.net/amazondefault/amazon_web_services_inc.pem")
        );
        // Fastmail's field with its own x- methods and non-RFC key=value pairs.
        // marcbradshaw/Mail-AuthenticationResults t/04-fastmail.t (as above).
        let r = field(
            "Authentication-Results: mx6.messagingengine.com;\n    arc=none (no signatures found);\n    dkim=pass (1024-bit rsa key sha256) header.d=mail.ru header.i=@mail.ru header.b=oF80QtY/ x-bits=1024 x-keytype=rsa x-algorithm=sha256 x-selector=mail2;\n    dmarc=pass (p=reject,d=none) header.from=mail.ru;\n    iprev=pass policy.iprev=94.100.177.106 (smtp46.i.mail.ru);\n    spf=pass smtp.mailfrom=fmdeliverability@mail.ru smtp.helo=smtp46.i.mail.ru;\n    x-aligned-from=pass;\n    x-ptr=pass x-ptr-helo=smtp46.i.mail.ru x-ptr-lookup=smtp46.i.mail.ru;\n    x-return-mx=pass smtp.domain=mail.ru smtp.result=pass smtp_is_org_domain=yes header.domain=mail.ru header.result=pass header_is_org_domain=yes;\n    x-tls=pass version=TLSv1.2 cipher=ECDHE-RSA-AES128-GCM-SHA256 bits=128/128",
        );
        let methods: Vec<&str> = r.results.iter().map(|m| m.method.as_str()).collect();
        assert_eq!(
            methods,
            [
                "arc",
                "dkim",
                "dmarc",
                "iprev",
                "spf",
                "x-aligned-from",
                "x-ptr",
                "x-return-mx",
                "x-tls"
            ]
        );
        assert_eq!(r.results[1].property("header", "b"), Some("oF80QtY/"));
        assert_eq!(
            r.results[3].property("policy", "iprev"),
            Some("94.100.177.106")
        );
    }

    /// Hostile text: quotes and comments hide `;` and `=`, and nothing malformed panics or
    /// turns into a result.
    #[test]
    fn nothing_hidden_becomes_a_result() {
        let r = parse(
            "mx.example.test; spf=pass smtp.mailfrom=\"x;dkim=pass header.d=victim.example\"@evil.test",
        );
        expect(
            &r,
            &[(
                "spf",
                "pass",
                &[(
                    "smtp.mailfrom",
                    "x;dkim=pass header.d=victim.example@evil.test",
                )],
            )],
        );
        let r = parse("mx.example.test; dkim=fail (; dkim=pass header.d=victim.example)");
        expect(&r, &[("dkim", "fail", &[])]);
        for junk in [
            "",
            ";",
            "(",
            "\"",
            "mx; =pass",
            "mx; dkim=",
            "mx; dkim/=pass",
            "mx; dkim=pass header.=x .d=y header.d",
            "mx; dkim=pass (unterminated; dkim=pass header.d=a.example",
            "mx; dkim=pass header.d=\"unterminated",
            "))); ((",
            "mx \\",
        ] {
            let r = parse(junk);
            assert!(
                r.results
                    .iter()
                    .all(|m| m.property("header", "d").is_none()),
                "{junk:?}: {r:?}"
            );
        }
    }
}
