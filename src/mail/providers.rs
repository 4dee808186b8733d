//! Public mailbox providers: domains where anyone can have an address, so sharing one with a
//! customer says nothing about working with them. Used by threading's colleague rule: a
//! reply from the customer's own company joins their ticket, one from another gmail.com
//! user does not.

use super::classify::organizational_domain;

/// Providers under every top-level domain they run (`yahoo.*`, `gmx.*` …), by the label
/// before the public suffix of the organizational domain.
const FAMILIES: [&str; 14] = [
    "aol",
    "gmx",
    "hotmail",
    "icloud",
    "live",
    "mail",
    "outlook",
    "proton",
    "protonmail",
    "yahoo",
    "yandex",
    "zoho",
    "gmail",
    "googlemail",
];

/// Providers by their organizational domain.
const DOMAINS: [&str; 38] = [
    "126.com",
    "163.com",
    "bigpond.com",
    "btinternet.com",
    "comcast.net",
    "fastmail.com",
    "free.fr",
    "freenet.de",
    "hey.com",
    "hushmail.com",
    "inbox.lv",
    "interia.pl",
    "laposte.net",
    "libero.it",
    "mac.com",
    "me.com",
    "msn.com",
    "naver.com",
    "o2.pl",
    "onet.pl",
    "orange.fr",
    "pm.me",
    "posteo.de",
    "qq.com",
    "rambler.ru",
    "rediffmail.com",
    "seznam.cz",
    "sfr.fr",
    "sky.com",
    "t-online.de",
    "tutanota.com",
    "tuta.io",
    "verizon.net",
    "virgilio.it",
    "web.de",
    "wp.pl",
    "ymail.com",
    "att.net",
];

/// Whether `domain` belongs to a public mailbox provider (its organizational domain is one
/// of the list, or one of the families under any suffix: `yahoo.co.uk`, `gmx.net`).
pub fn is_public_provider(domain: &str) -> bool {
    let org = organizational_domain(domain);
    let label = org.split('.').next().unwrap_or_default();
    DOMAINS.contains(&org.as_str()) || FAMILIES.contains(&label)
}

/// Whether two domains belong to one organization that is not a public mailbox provider:
/// the same organizational domain (by the public suffix list), and not gmail.com & co.
pub fn same_organization(a: &str, b: &str) -> bool {
    let org = organizational_domain(a);
    !org.is_empty() && org == organizational_domain(b) && !is_public_provider(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_are_recognised_under_every_suffix() {
        for domain in [
            "gmail.com",
            "GoogleMail.com",
            "outlook.com",
            "outlook.de",
            "hotmail.co.uk",
            "yahoo.com",
            "yahoo.co.jp",
            "mail.yahoo.fr",
            "gmx.de",
            "gmx.net",
            "web.de",
            "icloud.com",
            "me.com",
            "t-online.de",
        ] {
            assert!(is_public_provider(domain), "{domain}");
        }
        for domain in [
            "customer.test",
            "example.com",
            "acme.co.uk",
            "webde.example",
        ] {
            assert!(!is_public_provider(domain), "{domain}");
        }
    }

    #[test]
    fn colleagues_share_an_organization_that_is_not_a_provider() {
        assert!(same_organization("customer.test", "customer.test"));
        assert!(same_organization("eu.acme.co.uk", "acme.co.uk"));
        assert!(!same_organization("acme.co.uk", "other.co.uk"));
        assert!(!same_organization("gmail.com", "gmail.com"));
        assert!(!same_organization("yahoo.de", "yahoo.de"));
        // Two sites under a shared private suffix are two organizations.
        assert!(!same_organization("alice.github.io", "bob.github.io"));
    }
}
