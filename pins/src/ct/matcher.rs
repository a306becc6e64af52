//! Which logged certificates are ours.
//!
//! First a pre-filter over the entry's raw bytes: one ASCII
//! case-insensitive Aho-Corasick pass for every watched name and, for each,
//! the one-label wildcard that would cover it (`*.example.com` for
//! `api.example.com`). A name in a certificate is an IA5String inside the
//! DER, so every certificate that can match holds one of these byte
//! strings; the rest (nearly all of a log) is skipped without an X.509
//! parse. Then the real rule on the parsed subjectAltName dNSNames
//! (lower case, trailing dot ignored): a domain's own name; every name
//! below it when `include_subdomains`; a `*.` wildcard of one left label.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use x509_parser::extensions::GeneralName;

/// The label that stands for a wildcard's `*` in a host judged.
pub const WILDCARD_LABEL: &str = "wildcard";

/// One watched domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watched {
    /// Lower case, no trailing dot.
    pub name: String,
    /// Whether names below it count.
    pub include_subdomains: bool,
}

/// A certificate name that falls under a watched domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// Index into the domains.
    pub domain: usize,
    /// The host an app would connect to that this name serves (a
    /// wildcard's `*` replaced by [`WILDCARD_LABEL`]).
    pub host: String,
    /// The name as the certificate has it.
    pub san: String,
}

/// The watched domains and their pre-filter.
#[derive(Clone, Debug)]
pub struct Matcher {
    domains: Vec<Watched>,
    filter: AhoCorasick,
    /// Which domain each needle belongs to.
    owner: Vec<usize>,
}

impl Matcher {
    /// A matcher for `domains` (names lower-cased here).
    pub fn new(domains: Vec<Watched>) -> Result<Matcher, String> {
        let domains: Vec<Watched> = domains
            .into_iter()
            .map(|d| Watched {
                name: d.name.trim_end_matches('.').to_ascii_lowercase(),
                include_subdomains: d.include_subdomains,
            })
            .collect();
        let mut needles = Vec::new();
        let mut owner = Vec::new();
        for (i, d) in domains.iter().enumerate() {
            needles.push(d.name.clone());
            owner.push(i);
            if let Some((_, parent)) = d.name.split_once('.')
                && parent.contains('.')
            {
                needles.push(format!("*.{parent}"));
                owner.push(i);
            }
        }
        let filter = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&needles)
            .map_err(|e| format!("the watch list: {e}"))?;
        Ok(Matcher {
            domains,
            filter,
            owner,
        })
    }

    /// The domains.
    pub fn domains(&self) -> &[Watched] {
        &self.domains
    }

    /// Whether `bytes` may hold a watched name (never false for one that does).
    pub fn prefilter(&self, bytes: &[u8]) -> bool {
        self.filter.is_match(bytes)
    }

    /// The domains whose needles occur in `bytes` (for an entry that does
    /// not parse).
    pub fn prefilter_domains(&self, bytes: &[u8]) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .filter
            .find_overlapping_iter(bytes)
            .map(|m| self.owner[m.pattern().as_usize()])
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The hits among certificate `names` (dNSNames as the certificate has them).
    pub fn hits(&self, names: &[String]) -> Vec<Hit> {
        let mut out: Vec<Hit> = Vec::new();
        for san in names {
            let n = san.trim_end_matches('.').to_ascii_lowercase();
            for (i, d) in self.domains.iter().enumerate() {
                if let Some(host) = covers(&n, d)
                    && !out.iter().any(|h| h.domain == i && h.host == host)
                {
                    out.push(Hit {
                        domain: i,
                        host,
                        san: san.clone(),
                    });
                }
            }
        }
        out
    }
}

/// The host of `d` that certificate name `n` (lower case) serves, if any.
fn covers(n: &str, d: &Watched) -> Option<String> {
    if n == d.name {
        return Some(d.name.clone());
    }
    if let Some(rest) = n.strip_prefix("*.") {
        if d.name
            .split_once('.')
            .is_some_and(|(_, parent)| parent == rest)
        {
            return Some(d.name.clone());
        }
        if d.include_subdomains && (rest == d.name || rest.ends_with(&format!(".{}", d.name))) {
            return Some(format!("{WILDCARD_LABEL}.{rest}"));
        }
        return None;
    }
    (d.include_subdomains && n.ends_with(&format!(".{}", d.name)) && !n.contains('*'))
        .then(|| n.to_owned())
}

/// The subjectAltName dNSNames of a certificate (DER) or of a
/// precertificate's TBSCertificate; `Err` when it does not parse.
pub fn dns_names(der: &[u8], is_tbs: bool) -> Result<Vec<String>, String> {
    use x509_parser::prelude::FromDer;
    let names = |san: Option<&x509_parser::extensions::SubjectAlternativeName<'_>>| {
        san.map(|s| {
            s.general_names
                .iter()
                .filter_map(|g| match g {
                    GeneralName::DNSName(d) => Some((*d).to_owned()),
                    _ => None,
                })
                .take(1000)
                .collect()
        })
        .unwrap_or_default()
    };
    if is_tbs {
        let (_, tbs) = x509_parser::certificate::TbsCertificate::from_der(der)
            .map_err(|e| format!("the TBSCertificate does not parse: {e}"))?;
        let san = tbs
            .subject_alternative_name()
            .map_err(|e| format!("subjectAltName: {e}"))?;
        Ok(names(san.as_ref().map(|s| s.value)))
    } else {
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der)
            .map_err(|e| format!("the certificate does not parse: {e}"))?;
        let san = cert
            .subject_alternative_name()
            .map_err(|e| format!("subjectAltName: {e}"))?;
        Ok(names(san.as_ref().map(|s| s.value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> Matcher {
        Matcher::new(vec![
            Watched {
                name: "api.example.com".into(),
                include_subdomains: false,
            },
            Watched {
                name: "CDN.Example.com.".into(),
                include_subdomains: true,
            },
        ])
        .unwrap()
    }

    #[test]
    fn names_wildcards_and_subdomains() {
        let m = m();
        let hosts = |names: &[&str]| -> Vec<(usize, String)> {
            m.hits(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .into_iter()
                .map(|h| (h.domain, h.host))
                .collect()
        };
        assert_eq!(
            hosts(&["API.example.com."]),
            vec![(0, "api.example.com".into())]
        );
        assert_eq!(
            hosts(&["*.example.com"]),
            vec![(0, "api.example.com".into()), (1, "cdn.example.com".into())]
        );
        assert_eq!(hosts(&["x.api.example.com", "*.api.example.com"]), vec![]);
        assert_eq!(
            hosts(&["a.b.cdn.example.com"]),
            vec![(1, "a.b.cdn.example.com".into())]
        );
        assert_eq!(
            hosts(&["*.cdn.example.com"]),
            vec![(1, "wildcard.cdn.example.com".into())]
        );
        assert_eq!(
            hosts(&["xcdn.example.com", "example.com", "*.*.example.com"]),
            vec![]
        );
    }

    #[test]
    fn the_prefilter_never_misses_what_the_rule_matches() {
        let m = m();
        for (bytes, hit) in [
            (&b"\x82\x0fAPI.EXAMPLE.COM"[..], true),
            (b"\x82\x0d*.example.com", true),
            (b"\x82\x13x.y.cdn.example.com", true),
            (b"\x82\x0bexample.com", false),
            (b"\x82\x0fapi.example.org", false),
        ] {
            assert_eq!(m.prefilter(bytes), hit, "{bytes:?}");
        }
        assert_eq!(m.prefilter_domains(b"..*.example.com.."), vec![0, 1]);
    }
}
