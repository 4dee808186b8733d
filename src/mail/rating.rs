//! A customer's rating by reply to the closing mail: a number from 1 to 5, or a word, on the
//! first line of their own text (the quote below is not read). The words are
//! [`RATING_WORDS`], one table per language; a desk that adds a language's templates adds
//! its words there.

use super::relay::text_before_quote;
use super::sanitize;

/// The words that rate, per language (lowercase), each with its score. Only the whole first
/// word counts, and only when nothing but punctuation follows it on its line before a
/// comment ("good, thanks" rates; "good morning, I still …" does not).
pub const RATING_WORDS: &[(&str, &[(&str, u8)])] = &[
    (
        "en",
        &[
            ("excellent", 5),
            ("great", 5),
            ("perfect", 5),
            ("good", 4),
            ("ok", 3),
            ("okay", 3),
            ("fine", 3),
            ("poor", 2),
            ("bad", 2),
            ("terrible", 1),
            ("awful", 1),
        ],
    ),
    (
        "de",
        &[
            ("ausgezeichnet", 5),
            ("super", 5),
            ("gut", 4),
            ("schlecht", 2),
            ("furchtbar", 1),
        ],
    ),
    (
        "fr",
        &[
            ("parfait", 5),
            ("excellent", 5),
            ("bien", 4),
            ("bon", 4),
            ("moyen", 3),
            ("mal", 2),
            ("mauvais", 2),
            ("nul", 1),
        ],
    ),
    (
        "es",
        &[
            ("excelente", 5),
            ("perfecto", 5),
            ("bueno", 4),
            ("bien", 4),
            ("regular", 3),
            ("malo", 2),
            ("mal", 2),
            ("fatal", 1),
        ],
    ),
];

/// Rating words that also open everyday sentences ("OK, I tried that but…", "Super, aber es
/// geht wieder nicht"): they rate only alone on their line, so a reply that goes on in the
/// same breath is a reply, not a score. The words a closing mail suggests ("good", "gut",
/// "bien", "bueno" …) keep a comment on their line.
const EVERYDAY_WORDS: &[&str] = &["ok", "okay", "fine", "super", "moyen", "regular"];

/// At most this many characters of comment are kept.
const COMMENT_CHARS: usize = 500;

/// What follows a rating on its line before the comment: punctuation and spaces.
const SEPARATORS: &[char] = &[',', '.', ';', ':', '!', '-', '–', '—', ')', ' ', '\t'];

/// A rating read from a customer's text: the score and their comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRating {
    /// 1 to 5.
    pub score: u8,
    /// The rest of the first line and the lines right below it (up to a blank line or a
    /// signature), cleaned; may be empty.
    pub comment: String,
}

/// The rating on the first line of the customer's own text, if it is one: `4`, `4, thanks`,
/// `4/5`, `5 out of 5`, `good!`, `schlecht - …`. Anything else (`10`, `4 printers …`, `good
/// morning`) is no rating, and the reply is handled as any other.
pub fn read_rating(text: &str) -> Option<ReadRating> {
    let own = text_before_quote(text);
    let mut lines = own
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty() && *l != "--");
    let first = lines.next()?;
    let (score, rest) = number(first).or_else(|| word(first))?;
    let mut comment = rest.trim_start_matches(SEPARATORS).trim_end().to_string();
    for line in lines {
        if !comment.is_empty() {
            comment.push(' ');
        }
        comment.push_str(line);
    }
    Some(ReadRating {
        score,
        comment: sanitize::body_line(&comment, COMMENT_CHARS),
    })
}

/// `4`, `4/5`, `4 / 5`, `4 out of 5` at the start of the line, then a separator or the end.
fn number(line: &str) -> Option<(u8, &str)> {
    let digit = line.chars().next()?;
    let score = u8::try_from(digit.to_digit(10)?).ok()?;
    let mut rest = &line[1..];
    if !(1..=5).contains(&score) || rest.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    for scale in ["/5", " / 5", " out of 5", " von 5", " sur 5", " de 5"] {
        if let Some(r) = rest.strip_prefix(scale) {
            rest = r;
            break;
        }
    }
    ends_rating(rest).then_some((score, rest))
}

/// A rating word of any language at the start of the line, then a separator or the end.
fn word(line: &str) -> Option<(u8, &str)> {
    let end = line
        .find(|c: char| !c.is_alphabetic())
        .unwrap_or(line.len());
    let (first, rest) = line.split_at(end);
    let first = first.to_lowercase();
    let score = RATING_WORDS
        .iter()
        .flat_map(|(_, words)| words.iter())
        .find(|(w, _)| *w == first)
        .map(|(_, s)| *s)?;
    let alone = rest
        .trim_matches(|c: char| SEPARATORS.contains(&c) || c.is_whitespace())
        .is_empty();
    if EVERYDAY_WORDS.contains(&first.as_str()) && !alone {
        return None;
    }
    ends_rating(rest).then_some((score, rest))
}

/// Whether what follows a rating leaves it one: nothing, or punctuation and then a space or
/// the end (a bare space followed by a word is a sentence, "4 printers", "good morning";
/// punctuation inside a word is a word, "4.5", "fine-tuning").
fn ends_rating(rest: &str) -> bool {
    let trimmed = rest.trim_start();
    let after = trimmed.trim_start_matches(|c: char| SEPARATORS.contains(&c) && !c.is_whitespace());
    trimmed.is_empty()
        || (after.len() < trimmed.len() && after.chars().next().is_none_or(char::is_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rated(text: &str) -> Option<(u8, String)> {
        read_rating(text).map(|r| (r.score, r.comment))
    }

    #[test]
    fn an_everyday_word_that_opens_a_sentence_is_no_rating() {
        for reply in [
            "OK, I tried that but the printer is broken again",
            "Super, aber es geht wieder nicht",
            "Regular, sigue sin funcionar",
            "fine - except that it still crashes",
        ] {
            assert_eq!(rated(reply), None, "{reply}");
        }
        assert_eq!(rated("OK"), Some((3, String::new())));
        assert_eq!(rated("super!\nDanke"), Some((5, "Danke".into())));
        // A clear rating word keeps the rest of its line as the comment.
        assert_eq!(rated("good, thanks"), Some((4, "thanks".into())));
    }

    #[test]
    fn numbers_from_one_to_five_rate_with_the_rest_as_comment() {
        let cases: &[(&str, u8, &str)] = &[
            ("4", 4, ""),
            ("4, thanks", 4, "thanks"),
            ("  5!\n", 5, ""),
            ("1 - the fix did not work", 1, "the fix did not work"),
            ("4/5", 4, ""),
            ("3 / 5: slow but fine", 3, "slow but fine"),
            ("5 out of 5.", 5, ""),
            (
                "2.\nIt took a week.\nStill works.",
                2,
                "It took a week. Still works.",
            ),
            ("\n\n4, thanks\n\nKim\n", 4, "thanks"),
        ];
        for (text, score, comment) in cases {
            assert_eq!(rated(text), Some((*score, comment.to_string())), "{text:?}");
        }
    }

    #[test]
    fn words_rate_in_every_language_of_the_table() {
        let cases: &[(&str, u8, &str)] = &[
            ("good", 4, ""),
            ("Good, thanks a lot", 4, "thanks a lot"),
            ("BAD!", 2, ""),
            ("excellent.", 5, ""),
            ("gut", 4, ""),
            (
                "Schlecht - niemand hat geantwortet",
                2,
                "niemand hat geantwortet",
            ),
            ("bien, merci", 4, "merci"),
            ("Malo", 2, ""),
        ];
        for (text, score, comment) in cases {
            assert_eq!(rated(text), Some((*score, comment.to_string())), "{text:?}");
        }
    }

    #[test]
    fn the_quote_below_is_not_read() {
        let text = "4, thanks\n\nOn Fri, 4 Dec 2026, Jason Miller wrote:\n> How did we do? 1\n";
        assert_eq!(rated(text), Some((4, "thanks".into())));
        // Only a quote, nothing of their own: no rating, even though the quote has a number.
        assert_eq!(rated("> 5\n> good\n"), None);
        // A signature ends the comment.
        assert_eq!(rated("5, great\n--\nKim Kerr\n"), Some((5, "great".into())));
    }

    #[test]
    fn anything_else_is_no_rating() {
        for text in [
            "",
            "thanks!",
            "0",
            "6",
            "10",
            "45 minutes later it broke again",
            "4 printers are still broken",
            "Good morning, the problem is back",
            "goodness, no",
            "Hello,\n4",
            "I'd say 4",
            "-4",
            "4.5",
            "fine-tuning did not help",
        ] {
            assert_eq!(rated(text), None, "{text:?}");
        }
    }
}
