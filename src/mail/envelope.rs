//! What an envelope sender stands for: forwarders and bounce-signing relays rewrite the
//! Return-Path, and the address inside is the one to compare with the From. Pure.
//!
//! - SRS (the Sender Rewriting Scheme, libsrs2 and postsrsd): a forwarder turns
//!   `alice@example.com` into `SRS0=HHHH=TT=example.com=alice@forwarder.net`; a second
//!   forwarder wraps that into `SRS1=HHHH=forwarder.net==HHHH=TT=example.com=alice@next.org`
//!   (the separator after `SRS0`/`SRS1` may be `=`, `+` or `-`).
//! - BATV (draft-levine-smtp-batv-01) and its vendors' variants sign the local part:
//!   `prvs=TAG=alice@example.com`, the older `prvs=alice=TAG@…`, Barracuda's
//!   `btv1==TAG==alice@…` and SparkPost's `msprvs1=TAG=alice@…`.
//!
//! The hashes are the rewriter's secret and are not checked: nothing here makes an envelope
//! more trustworthy than it was (whoever sends can write any envelope, decoded or not); it
//! only stops a forwarder's or a signer's rewriting from hiding an envelope that matches.

use crate::domain::EmailAddress;

/// The address `address` stands for once SRS and BATV rewriting is undone, as far as the
/// forms allow (an SRS1 around a foreign, opaque SRS0 gives that SRS0 address); `address`
/// itself when it is neither.
pub fn original(address: &EmailAddress) -> EmailAddress {
    let mut current = address.clone();
    // SRS1 → SRS0 → the original, which may still carry a BATV tag: a few steps at most.
    for _ in 0..4 {
        match unwrap_once(current.local_part(), current.domain())
            .and_then(|a| EmailAddress::parse(&a))
        {
            Some(inner) => current = inner,
            None => break,
        }
    }
    current
}

/// One layer of rewriting undone, if `local` is a rewritten local part.
fn unwrap_once(local: &str, domain: &str) -> Option<String> {
    if let Some(rest) = srs_rest(local, "srs0") {
        // HASH=TT=DOMAIN=LOCAL; the original local part may hold `=` itself.
        let mut parts = rest.splitn(4, '=');
        let (_hash, _stamp) = (parts.next()?, parts.next()?);
        let (orig_domain, orig_local) = (parts.next()?, parts.next()?);
        return (!orig_domain.is_empty() && !orig_local.is_empty())
            .then(|| format!("{orig_local}@{orig_domain}"));
    }
    if let Some(rest) = srs_rest(local, "srs1") {
        // HASH=FIRST-FORWARDER=<the SRS0 local part after "SRS0", separator included>.
        let mut parts = rest.splitn(3, '=');
        let (_hash, first_hop, srs0) = (parts.next()?, parts.next()?, parts.next()?);
        return (!first_hop.is_empty() && !srs0.is_empty())
            .then(|| format!("srs0{srs0}@{first_hop}"));
    }
    // `EmailAddress` is lowercase already; the prefixes are compared as such.
    let user = if let Some(rest) = local.strip_prefix("prvs=") {
        let (a, b) = rest.split_once('=')?;
        if is_batv_tag(a) {
            b
        } else if is_batv_tag(b) {
            a
        } else {
            return None;
        }
    } else if let Some(rest) = local.strip_prefix("msprvs1=") {
        rest.split_once('=')?.1
    } else if let Some(rest) = local.strip_prefix("btv1==") {
        rest.split_once("==")?.1
    } else {
        return None;
    };
    (!user.is_empty()).then(|| format!("{user}@{domain}"))
}

/// What follows `prefix` and its separator (`=`, `+` or `-`), case-insensitively.
fn srs_rest<'a>(local: &'a str, prefix: &str) -> Option<&'a str> {
    let head = local.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = &local[prefix.len()..];
    rest.strip_prefix(['=', '+', '-'])
}

/// A BATV tag as signers write it: the draft's ten characters (key digit, three day digits,
/// six hex digits) or a vendor's hex run of similar length.
fn is_batv_tag(s: &str) -> bool {
    (6..=12).contains(&s.len()) && s.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orig(a: &str) -> String {
        original(&EmailAddress::parse(a).expect("valid")).to_string()
    }

    /// Real rewritten envelopes → the address they stand for.
    #[test]
    fn srs_and_batv_forms() {
        let cases: &[(&str, &str)] = &[
            // Issue 16's report: a customer forwarded through srs1.zonevs.eu.
            (
                "SRS0=hash=tt=kreata.ee=andris@srs1.zonevs.eu",
                "andris@kreata.ee",
            ),
            // roehling/postsrsd tests/blackbox/milter.py (ad76f54598eb227f361cc680013525fb2e4c1d17):
            // "Recover original mail address from valid SRS0 address".
            (
                "SRS0=9KJ-=2W=otherdomain.com=sender@example.com",
                "sender@otherdomain.com",
            ),
            // Same file: "Recover mail address from all-lowercase SRS0 address".
            (
                "srs0=xjo9=2v=otherdomain.com=test@example.com",
                "test@otherdomain.com",
            ),
            // Same file: "Recover original SRS0 address from valid SRS1 address" (a foreign,
            // opaque SRS0 inside: decoded as far as it goes).
            (
                "SRS1=JIBX=thirddomain.com==opaque+string@example.com",
                "srs0=opaque+string@thirddomain.com",
            ),
            // jichu4n/srslib test_srslib.py (85959cd6060eefdfae12aa8d573eee94518ccc5a):
            // `-` and `+` separators, hashes holding `+`.
            (
                "SRS0-ASd+=11=example.com=alice@1st.com",
                "alice@example.com",
            ),
            (
                "SRS1+ASd+=1st.com=-QwEr=11=example.com=alice@2nd.com",
                "alice@example.com",
            ),
            // linux-mailinglist-archives/nbd.other.debian.org.0, m at
            // aeba07cc00b08a72e228907e4d61254538df1398 and 93bbaef1bb8824ef3e862518fce040e1e23ec565
            // (Old-Return-Path of list mail; BATV as IronPort writes it).
            (
                "prvs=16481e4b5d=yun.zhou@windriver.com",
                "yun.zhou@windriver.com",
            ),
            (
                "prvs=10001294c=damien.lemoal@opensource.wdc.com",
                "damien.lemoal@opensource.wdc.com",
            ),
            // The forms rspamd's rules/misc.lua lists beside ENVFROM_PRVS
            // (eaac8e914ef09f837fe53cc4973e0b2312ab1118), verbatim: Barracuda, SparkPost.
            ("btv1==TAG==USER@example.com", "user@example.com"),
            ("msprvs1=TAG=USER@example.com", "user@example.com"),
            // Its older tag-last `prvs=USER=TAG@example.com`, with a tag as IronPort writes one.
            ("prvs=alice=0123456789@example.com", "alice@example.com"),
            // Constructed: SRS around the BATV-signed sender of the nbd archive above.
            (
                "SRS0=ab12=XY=wdc.com=prvs=09697c964=johannes@fwd.example",
                "johannes@wdc.com",
            ),
            // Not rewritten, or not decodable: unchanged. VERP (the list's own
            // Return-Path in the nbd archive above) is not SRS.
            (
                "bounce-nbd=lists+nbd=lfdr.de@other.debian.org",
                "bounce-nbd=lists+nbd=lfdr.de@other.debian.org",
            ),
            ("alice@example.com", "alice@example.com"),
            // postsrsd fuzz/seeds/srs/malformed3, and a prvs without a tag.
            ("SRS0=AAAA=AA=@example.com", "srs0=aaaa=aa=@example.com"),
            (
                "prvs=hello=world@example.com",
                "prvs=hello=world@example.com",
            ),
        ];
        for (rewritten, expected) in cases {
            assert_eq!(&orig(rewritten), expected, "{rewritten}");
        }
    }
}
