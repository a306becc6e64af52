//! Query strings as forms write them (`name=value&…`, `%XX` escapes, `+`
//! for space): finding one parameter, and removing it. Used for the token
//! query parameter (a route's `query_param`) and query substitution.

use std::borrow::Cow;

/// Decodes `%XX` escapes and `+` (as space); `None` for a broken escape.
pub(crate) fn form_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

/// The parameter appears more than once, or its value does not decode to
/// UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ambiguous;

fn is_name(pair_name: &str, name: &str) -> bool {
    form_decode(pair_name).as_deref() == Some(name.as_bytes())
}

/// The decoded value of parameter `name` in `query`, `None` if absent.
pub fn value<'q>(query: &'q str, name: &str) -> Result<Option<Cow<'q, str>>, Ambiguous> {
    let mut found = None;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if !is_name(k, name) {
            continue;
        }
        if found.is_some() {
            return Err(Ambiguous);
        }
        let decoded = form_decode(v).ok_or(Ambiguous)?;
        found = Some(if decoded == v.as_bytes() {
            Cow::Borrowed(v)
        } else {
            Cow::Owned(String::from_utf8(decoded).map_err(|_| Ambiguous)?)
        });
    }
    Ok(found)
}

/// `query` without every `name=…` pair; `None` when it has none. An empty
/// result is `Some("")`.
pub fn without(query: &str, name: &str) -> Option<String> {
    let mut removed = false;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let k = pair.split_once('=').map_or(*pair, |(k, _)| k);
            let drop = is_name(k, name);
            removed |= drop;
            !drop
        })
        .collect();
    removed.then(|| kept.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_removes_one_parameter() {
        assert_eq!(value("a=1&t=x.y.z", "t"), Ok(Some(Cow::Borrowed("x.y.z"))));
        assert_eq!(
            value("a=1&%74=x%2Ey", "t"),
            Ok(Some(Cow::Owned("x.y".to_owned())))
        );
        assert_eq!(value("a=1", "t"), Ok(None));
        assert_eq!(value("t=1&t=2", "t"), Err(Ambiguous));
        assert_eq!(value("t=%zz", "t"), Err(Ambiguous));
        assert_eq!(value("t=%ff", "t"), Err(Ambiguous));
        assert_eq!(value("t", "t"), Ok(Some(Cow::Borrowed(""))));
        assert_eq!(without("a=1&t=x&b=2", "t").as_deref(), Some("a=1&b=2"));
        assert_eq!(without("t=x", "t").as_deref(), Some(""));
        assert_eq!(without("t=x&%74=y&tt=1", "t").as_deref(), Some("tt=1"));
        assert_eq!(without("a=1", "t"), None);
    }
}
