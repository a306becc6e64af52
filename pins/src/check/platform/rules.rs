//! The rules that differ between platforms, each with where it is
//! written (docs/PINNING.md has the same table for people):
//!
//! | rule | platforms | source |
//! |---|---|---|
//! | a pin matches any certificate of the built chain, root included | Android, OkHttp, TrustKit | Android "Network security configuration" (`<pin-set>`); OkHttp `CertificatePinner` docs (the cleaned chain); TrustKit README |
//! | leaf identities match the leaf, CA identities a CA of the chain; both given: both must match | iOS | Apple, "Identity Pinning: How to configure server certificates for your app" (`NSPinnedLeafIdentities`, `NSPinnedCAIdentities`) |
//! | after the pin set's expiration no pin is checked | Android, TrustKit | `<pin-set expiration>`; `kTSKExpirationDate` |
//! | `*.name` pins one label, `**.name` any number (4.3.0+); 3.x reads `**.name` as a host name | OkHttp | `CertificatePinner` docs; OkHttp 4.3.0 change log |
//! | the leaf needs EKU serverAuth; validity at most 825 days (issued from 2019-07-01) | iOS, TrustKit | Apple support HT210176, "Requirements for trusted certificates in iOS 13" |
//! | validity at most 398 days (issued from 2020-09-01, Apple's preinstalled roots only) | iOS, TrustKit | Apple support HT211025, "About upcoming limits on trusted certificates" |
//! | a missing intermediate is fetched from the leaf's AIA caIssuers URL | iOS, TrustKit (not Android, not OkHttp) | Apple `SecTrustSetNetworkFetchAllowed` (on by default for SSL); Android's TrustManagerImpl builds from the chain sent and the trust store only |

use super::facts::{Eku, Facts};
use super::path::PathCert;
use super::{Check, PinSet, Platform};
use crate::model::PinKind;

/// 2019-07-01T00:00:00Z: Apple's iOS 13 rules apply to certificates
/// issued from then on.
const APPLE_IOS13: i64 = 1_561_939_200;
/// 2020-09-01T00:00:00Z: Apple's 398-day limit applies from then on.
const APPLE_398: i64 = 1_598_918_400;
const DAY: i64 = 86_400;

/// Apple's extended key usage rule (iOS 13): `None` when it holds.
pub(super) fn apple_eku(leaf: &Facts) -> Option<String> {
    (leaf.not_before >= APPLE_IOS13 && leaf.eku == Eku::Absent).then(|| {
        "the leaf has no extended key usage extension: iOS 13 and later require one holding serverAuth (Apple HT210176)".to_owned()
    })
}

/// Apple's validity-period limits: `None` when they hold.
pub(super) fn apple_validity(leaf: &Facts, public_roots: bool) -> Option<String> {
    let days = (leaf.not_after - leaf.not_before) / DAY;
    let span = leaf.not_after - leaf.not_before;
    if leaf.not_before >= APPLE_IOS13 && span > 825 * DAY {
        return Some(format!(
            "the leaf is valid for {days} days: iOS 13 and later refuse more than 825 (Apple HT210176)"
        ));
    }
    if public_roots && leaf.not_before >= APPLE_398 && span > 398 * DAY {
        return Some(format!(
            "the leaf is valid for {days} days: Apple refuses more than 398 under its preinstalled roots (Apple HT211025)"
        ));
    }
    None
}

/// Whether `platform`, running the config rendered from `set`, pins
/// `host` at all; when it does not, why (a sentence).
pub(super) fn unpinned_host(platform: Platform, set: &PinSet, host: &str) -> Option<String> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == set.name {
        return None;
    }
    let below = host
        .strip_suffix(set.name.as_str())
        .and_then(|p| p.strip_suffix('.'))
        .filter(|p| !p.is_empty());
    match below {
        None => Some(format!("{host} is not {} nor below it", set.name)),
        Some(_) if !set.include_subdomains => Some(format!(
            "{host} is below {} but include_subdomains is false",
            set.name
        )),
        Some(prefix) if platform == Platform::Okhttp3 && prefix.contains('.') => Some(format!(
            "OkHttp 3.x pins {} and one label below it only (\"*.{}\"; \"**.{}\" needs OkHttp 4.3.0): {host} is NOT pinned",
            set.name, set.name, set.name
        )),
        Some(_) => None,
    }
}

fn role_name(c: &PathCert, position: usize) -> String {
    format!("#{position} {} ({})", c.role.as_str(), c.subject)
}

fn label(set: &PinSet, pin: crate::spki::Pin) -> String {
    set.pins
        .iter()
        .find(|p| p.pin == pin && !p.label.is_empty())
        .map(|p| format!(" {:?}", p.label))
        .unwrap_or_default()
}

/// The pin rule of `platform` on `path` (leaf first), at `t`.
pub(super) fn pins(
    platform: Platform,
    set: &PinSet,
    host: &str,
    path: &[PathCert],
    t: i64,
) -> Check {
    if let Some(why) = unpinned_host(platform, set, host) {
        return Check::pass(format!("no pin applies: {why}"));
    }
    if matches!(platform, Platform::Android | Platform::Trustkit)
        && let Some(day) = set.expires.filter(|d| crate::clock::date_start(*d) <= t)
    {
        return Check::pass(format!(
            "the pin set expired on {}: pins are no longer checked",
            crate::clock::date_text(day)
        ));
    }
    if platform == Platform::Ios {
        return ios(set, path);
    }
    let pinned = |p| set.pins.iter().any(|q| q.pin == p);
    match path.iter().enumerate().find(|(_, c)| pinned(c.pin)) {
        Some((i, c)) => Check::pass(format!(
            "{} has pinned key {}{}",
            role_name(c, i),
            c.pin,
            label(set, c.pin)
        )),
        None => Check::fail("no certificate of the chain has a pinned key".into()),
    }
}

fn ios(set: &PinSet, path: &[PathCert]) -> Check {
    let of = |k: PinKind| -> Vec<crate::spki::Pin> {
        set.pins
            .iter()
            .filter(|p| p.kind == k)
            .map(|p| p.pin)
            .collect()
    };
    let (leaf_ids, ca_ids) = (of(PinKind::Leaf), of(PinKind::Ca));
    let mut ok = true;
    let mut said = Vec::new();
    if !leaf_ids.is_empty() {
        match path.first().filter(|c| leaf_ids.contains(&c.pin)) {
            Some(c) => said.push(format!(
                "the leaf's key is a pinned leaf identity{}",
                label(set, c.pin)
            )),
            None => {
                ok = false;
                said.push("the leaf's key is not among the leaf identities".into());
            }
        }
    }
    if !ca_ids.is_empty() {
        match path
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, c)| ca_ids.contains(&c.pin))
        {
            Some((i, c)) => said.push(format!(
                "{} is a pinned CA identity{}",
                role_name(c, i),
                label(set, c.pin)
            )),
            None => {
                ok = false;
                said.push("no CA certificate of the chain is among the CA identities".into());
            }
        }
    }
    if leaf_ids.is_empty() && ca_ids.is_empty() {
        return Check::fail("no pins".into());
    }
    if !leaf_ids.is_empty() && !ca_ids.is_empty() {
        said.push("(both kinds are given, so both must match)".into());
    }
    Check {
        ok,
        detail: said.join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(not_before: i64, days: i64, eku: Eku) -> Facts {
        Facts {
            subject: "CN=t".into(),
            not_before,
            not_after: not_before + days * DAY,
            eku,
            ca_issuers: Vec::new(),
        }
    }

    #[test]
    fn apple_limits_apply_by_issue_date_and_root() {
        let y2021 = 1_609_459_200;
        let y2018 = 1_514_764_800;
        // 398 days: the public limit, at the edge and one day past it
        assert_eq!(
            apple_validity(&leaf(y2021, 398, Eku::ServerAuth), true),
            None
        );
        assert!(apple_validity(&leaf(y2021, 399, Eku::ServerAuth), true).is_some());
        // a private root: 825 days holds, 826 does not
        assert_eq!(
            apple_validity(&leaf(y2021, 825, Eku::ServerAuth), false),
            None
        );
        assert!(apple_validity(&leaf(y2021, 826, Eku::ServerAuth), false).is_some());
        // issued before the rules: neither applies
        assert_eq!(apple_validity(&leaf(y2018, 3650, Eku::Absent), true), None);
        assert_eq!(apple_eku(&leaf(y2018, 90, Eku::Absent)), None);
        assert!(apple_eku(&leaf(y2021, 90, Eku::Absent)).is_some());
        assert_eq!(apple_eku(&leaf(y2021, 90, Eku::ServerAuth)), None);
    }

    #[test]
    fn okhttp_3_pins_one_label_below_and_4_every_level() {
        let set = PinSet {
            name: "cdn.example.com".into(),
            include_subdomains: true,
            expires: None,
            pins: Vec::new(),
        };
        for (host, v3, v4) in [
            ("cdn.example.com", true, true),
            ("x.cdn.example.com", true, true),
            ("a.b.cdn.example.com", false, true),
            ("CDN.example.com.", true, true),
            ("xcdn.example.com", false, false),
            ("example.com", false, false),
        ] {
            assert_eq!(
                unpinned_host(Platform::Okhttp3, &set, host).is_none(),
                v3,
                "{host}"
            );
            assert_eq!(
                unpinned_host(Platform::Okhttp, &set, host).is_none(),
                v4,
                "{host}"
            );
        }
    }
}
