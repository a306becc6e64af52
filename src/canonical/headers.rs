//! Header names as upstreams read them.
//!
//! CGI-style servers (Python's wsgiref, Django, gunicorn with
//! `header_map = "dangerous"`, Apache's CGI environment, nginx's
//! `$http_*` variables with `underscores_in_headers on`) turn a header
//! name into a variable by upper-casing it and writing `_` for `-`, so
//! `X-Approov-Did` and `X_Approov_Did` both become `HTTP_X_APPROOV_DID`.
//! A gateway that strips one spelling and forwards the other hands the
//! upstream a client-chosen value under a name it trusts.
//!
//! The rule: a header name is *folded* by lower-casing it (HTTP already
//! does), writing `-` for every character other than a letter or a digit
//! (`_`, and `.` which some CGI environments also map), merging runs of
//! `-` and trimming them at both ends (stricter than any upstream, so no
//! upstream's reading is missed). A client
//! header whose folded name equals a protected name, but that is not
//! spelled exactly as it, is a *look-alike* and is removed, whatever
//! `underscore_headers` says. Protected names:
//!
//! - *stripped* names (removed in every spelling): every route's
//!   `forward_claims` headers and the strip list;
//! - *guarded* names (the exact spelling is the client's own and is kept;
//!   look-alikes are removed): the token header, binding headers,
//!   substituted headers, and every `X-Forwarded-*` name.
//!
//! On top of that, `underscore_headers = "drop"` (the default, as nginx's
//! `underscores_in_headers off`) removes every header whose name holds
//! `_`.

use http::{HeaderMap, HeaderName};

/// `[server] underscore_headers`: what happens to a header whose name
/// holds `_` (look-alikes of protected names are removed either way).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnderscoreHeaders {
    /// Removed (nginx's default).
    #[default]
    Drop,
    /// Forwarded, unless it is a look-alike of a protected name.
    Forward,
}

/// The prefix every name of the `X-Forwarded-*` family has (guarded).
const FORWARDED_PREFIX: &str = "x-forwarded-";

/// Which client headers never reach an upstream.
#[derive(Clone, Debug, Default)]
pub struct HeaderRules {
    underscores: UnderscoreHeaders,
    stripped: Vec<HeaderName>,
    guarded: Vec<HeaderName>,
}

/// What [`HeaderRules::scan`] found in one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Header names to remove (every value of each).
    pub remove: Vec<HeaderName>,
    /// How many of them were removed for holding `_` (`underscore_headers
    /// = "drop"`).
    pub underscore: u32,
    /// How many of them were look-alikes of a protected name.
    pub lookalike: u32,
}

/// The folded form of a name, when it differs from the name: every
/// character other than a letter, a digit or `-` becomes `-`, runs of `-`
/// become one, and leading and trailing `-` go (`_X__Approov_Did_` folds
/// to `x-approov-did`). `None` for a name that is its own folded form.
fn folded(name: &str) -> Option<String> {
    let plain = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
    let b = name.as_bytes();
    let already = b.iter().all(|&c| plain(c))
        && !name.contains("--")
        && b.first() != Some(&b'-')
        && b.last() != Some(&b'-');
    if already {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    for &c in b {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(char::from(c));
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    if out.ends_with('-') {
        out.pop();
    }
    Some(out)
}

impl HeaderRules {
    /// Rules removing `stripped` in every spelling, look-alikes of
    /// `guarded` (and of `X-Forwarded-*`), and names with `_` as
    /// `underscores` says.
    pub fn new(
        underscores: UnderscoreHeaders,
        stripped: impl IntoIterator<Item = HeaderName>,
        guarded: impl IntoIterator<Item = HeaderName>,
    ) -> HeaderRules {
        let mut rules = HeaderRules {
            underscores,
            stripped: Vec::new(),
            guarded: Vec::new(),
        };
        for h in stripped {
            if !rules.stripped.contains(&h) {
                rules.stripped.push(h);
            }
        }
        for h in guarded {
            if !rules.guarded.contains(&h) && !rules.stripped.contains(&h) {
                rules.guarded.push(h);
            }
        }
        rules
    }

    /// The names removed in every spelling.
    pub fn stripped(&self) -> &[HeaderName] {
        &self.stripped
    }

    /// Whether `folded` is a protected name.
    fn protects(&self, folded: &str) -> bool {
        folded.starts_with(FORWARDED_PREFIX)
            || self.stripped.iter().any(|h| h.as_str() == folded)
            || self.guarded.iter().any(|h| h.as_str() == folded)
    }

    /// What to remove from `headers`, and why.
    pub fn scan(&self, headers: &HeaderMap) -> Scan {
        let mut scan = Scan::default();
        for name in headers.keys() {
            if self.stripped.contains(name) {
                scan.remove.push(name.clone());
                continue;
            }
            let Some(f) = folded(name.as_str()) else {
                continue;
            };
            let lookalike = self.protects(&f);
            let underscore =
                self.underscores == UnderscoreHeaders::Drop && name.as_str().contains('_');
            if lookalike || underscore {
                scan.remove.push(name.clone());
                scan.lookalike += u32::from(lookalike);
                scan.underscore += u32::from(underscore);
            }
        }
        scan
    }

    /// Removes from `headers` what [`HeaderRules::scan`] finds.
    pub fn apply(&self, headers: &mut HeaderMap) -> Scan {
        let scan = self.scan(headers);
        for name in &scan.remove {
            headers.remove(name);
        }
        scan
    }
}

/// Whether `name` reads as `protected` to an upstream that folds names
/// (itself, or a look-alike spelling of it).
pub fn reads_as(name: &HeaderName, protected: &str) -> bool {
    name.as_str() == protected || folded(name.as_str()).is_some_and(|f| f == protected)
}

/// A `tchar`: a byte a field name or another HTTP token may hold (RFC 9110
/// §5.6.2). Structured fields' tokens and `Connection` options read it.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> HeaderName {
        HeaderName::from_bytes(s.as_bytes()).unwrap()
    }

    fn rules(mode: UnderscoreHeaders) -> HeaderRules {
        HeaderRules::new(
            mode,
            [h("x-approov-did"), h("x-original-url")],
            [h("approov-token"), h("authorization"), h("api-key")],
        )
    }

    fn removed(mode: UnderscoreHeaders, names: &[&str]) -> (Vec<String>, u32, u32) {
        let mut map = HeaderMap::new();
        for n in names {
            map.append(h(n), "v".parse().unwrap());
        }
        let scan = rules(mode).apply(&mut map);
        let mut gone: Vec<String> = scan.remove.iter().map(|n| n.to_string()).collect();
        gone.sort();
        (gone, scan.underscore, scan.lookalike)
    }

    #[test]
    fn every_spelling_of_a_protected_name_is_removed() {
        use UnderscoreHeaders::{Drop, Forward};
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        // (mode, names sent, removed, underscore count, look-alike count)
        let table: Vec<(UnderscoreHeaders, &[&str], Vec<String>, u32, u32)> = vec![
            (Drop, &["X-Approov-Did"], s(&["x-approov-did"]), 0, 0),
            (
                Forward,
                &["x-approov-did", "X-APPROOV-DID"],
                s(&["x-approov-did"]),
                0,
                0,
            ),
            (Forward, &["X_Approov_Did"], s(&["x_approov_did"]), 0, 1),
            (Forward, &["x_approov-did"], s(&["x_approov-did"]), 0, 1),
            (Forward, &["X-Approov_Did"], s(&["x-approov_did"]), 0, 1),
            (Forward, &["x.approov.did"], s(&["x.approov.did"]), 0, 1),
            (Drop, &["X_Approov_Did"], s(&["x_approov_did"]), 1, 1),
            // leading/trailing `_` and runs fold away
            (
                Forward,
                &["_x-approov-did", "x-approov-did_"],
                s(&["_x-approov-did", "x-approov-did_"]),
                0,
                2,
            ),
            (
                Forward,
                &["x__approov__did", "x--approov-did"],
                s(&["x--approov-did", "x__approov__did"]),
                0,
                2,
            ),
            (Drop, &["_x-approov-did"], s(&["_x-approov-did"]), 1, 1),
            // guarded: the exact spelling stays, look-alikes go
            (
                Forward,
                &["approov-token", "approov_token"],
                s(&["approov_token"]),
                0,
                1,
            ),
            (Forward, &["Authorization", "authoriz_ation"], s(&[]), 0, 0),
            (Forward, &["api_key"], s(&["api_key"]), 0, 1),
            (
                Forward,
                &["x-forwarded-for", "x_forwarded_for"],
                s(&["x_forwarded_for"]),
                0,
                1,
            ),
            (
                Forward,
                &["x_forwarded_anything"],
                s(&["x_forwarded_anything"]),
                0,
                1,
            ),
            (Forward, &["x-forwarded-host"], s(&[]), 0, 0),
            (Forward, &["x_original_url"], s(&["x_original_url"]), 0, 1),
            // innocent names
            (Forward, &["x_custom", "content-type"], s(&[]), 0, 0),
            (Drop, &["x_custom", "content-type"], s(&["x_custom"]), 1, 0),
        ];
        for (mode, names, want, u, l) in table {
            assert_eq!(removed(mode, names), (want, u, l), "{mode:?} {names:?}");
        }
    }

    #[test]
    fn reads_as_folds() {
        assert!(reads_as(
            &h("x_http_method_override"),
            "x-http-method-override"
        ));
        assert!(reads_as(&h("x-http-method"), "x-http-method"));
        assert!(!reads_as(&h("x-http-methodx"), "x-http-method"));
        assert!(reads_as(&h("_x-http-method_"), "x-http-method"));
        assert_eq!(folded("x-approov-did"), None);
        assert_eq!(folded("X.Approov__Did-").as_deref(), Some("x-approov-did"));
    }
}
