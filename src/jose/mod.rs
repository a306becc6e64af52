//! Parsing the two JSON parts of a compact JWS: the protected header and the
//! claims. Both refuse duplicate member names (RFC 7515 §4 / RFC 7519 §4 say a
//! parser must either reject them or take the last; taking any one of two
//! `alg` or `exp` values lets a token mean different things to different
//! parsers, so we reject).
//!
//! The parse borrows from the decoded bytes and allocates nothing for
//! members without escapes. Members we do not know are skipped, but still
//! take part in the duplicate check, must be UTF-8 and obey the nesting
//! limit.

pub mod alg;
pub(crate) mod b64;

mod claims;
mod header;
mod strict;

#[cfg(test)]
use crate::reason::Reason;
pub(crate) use claims::{Claims, KNOWN_CLAIMS, parse_claims};
#[cfg(test)]
use header::{COMMON_HEADERS, RawHeader};
pub(crate) use header::{common_header, parse_header};
#[cfg(test)]
use std::borrow::Cow;
#[cfg(test)]
use std::collections::HashSet;
#[cfg(test)]
use strict::Want;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_rules() {
        let ok = |s: &str| {
            parse_header(s.as_bytes()).map(|h| (h.alg.into_owned(), h.kid.map(Cow::into_owned)))
        };
        assert_eq!(
            ok(r#"{"alg":"HS256","typ":"JWT"}"#),
            Ok(("HS256".into(), None))
        );
        assert_eq!(
            ok(r#"{"alg":"ES256","kid":"k1","typ":"jwt"}"#),
            Ok(("ES256".into(), Some("k1".into())))
        );
        assert_eq!(ok(r#"{"alg":"H\u0053256"}"#), Ok(("HS256".into(), None)));
        for bad in [
            r#"{"alg":"HS256","alg":"none"}"#,
            r#"{"alg":"HS256","a\u006cg":"none"}"#,
            r#"{"alg":"HS256","crit":["exp"]}"#,
            r#"{"alg":"HS256","enc":"A256GCM"}"#,
            r#"{"alg":"HS256","typ":"JWT","enc":"A128CBC-HS256"}"#,
            r#"{"alg":"HS256","\u0065nc":"A256GCM"}"#,
            r#"{"alg":"HS256","zip":"DEF"}"#,
            r#"{"alg":"HS256","epk":{"kty":"EC"}}"#,
            r#"{"alg":"HS256","apu":"x","apv":"y"}"#,
            r#"{"alg":"HS256","iv":"AAAA"}"#,
            r#"{"alg":"HS256","tag":"AAAA"}"#,
            r#"{"alg":"HS256","p2s":"AAAA","p2c":1000}"#,
            r#"{"alg":"HS256","b64":false}"#,
            r#"{"enc":null,"alg":"HS256"}"#,
            r#"{"alg":"HS256","typ":"JOSE+JSON"}"#,
            r#"{"alg":"HS256","kid":7}"#,
            r#"{"alg":null}"#,
            r#"{"typ":"JWT"}"#,
            r#"["alg","HS256"]"#,
            r#"{"alg":"HS256"} x"#,
            r#"{"alg":"HS256""#,
            "",
        ] {
            assert_eq!(ok(bad).err(), Some(Reason::Malformed), "{bad}");
        }
        assert_eq!(
            parse_header(b"{\"alg\":\"HS\xff256\"}").err(),
            Some(Reason::Malformed)
        );
    }

    #[test]
    fn common_headers_parse_alike_on_both_paths() {
        for (bytes, alg) in COMMON_HEADERS {
            let raw: RawHeader<'_> = serde_json::from_slice(bytes).unwrap();
            assert!(!raw.crit);
            assert!(matches!(raw.typ, Some(Want::Ok(t)) if t == "JWT"));
            assert!(raw.kid.is_none());
            assert!(matches!(raw.alg, Some(Want::Ok(a)) if a == alg));
            let fast = parse_header(bytes).unwrap();
            assert_eq!((&*fast.alg, fast.kid.is_none()), (alg, true));
            let encoded = crate::jose::b64::encode_segment(bytes);
            let from_segment = common_header(&encoded).unwrap();
            assert_eq!(
                (&*from_segment.alg, from_segment.kid.is_none()),
                (alg, true)
            );
            // One byte more or less takes the full parse, with its result.
            let spaced = [bytes, b" "].concat();
            let slow = parse_header(&spaced).unwrap();
            assert_eq!((&*slow.alg, slow.kid.is_none()), (alg, true));
        }
    }

    #[test]
    fn claims_rules() {
        let c = parse_claims(
            br#"{"exp":1700000000,"nbf":1.5,"ip":"1.2.3.4","aud":["a","b"],"x":{"y":[1,2]}}"#,
        )
        .unwrap();
        assert_eq!(c.exp, 1_700_000_000.0);
        assert_eq!(c.nbf, Some(1.5));
        assert_eq!(c.ip.as_deref(), Some("1.2.3.4"));
        assert_eq!(c.aud, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(
            parse_claims(br#"{"exp":2.5e9,"aud":"x"}"#).unwrap().aud,
            vec!["x".to_owned()]
        );
        for (bad, why) in [
            (r#"{}"#, Reason::Claims),
            (r#"{"exp":"1700000000"}"#, Reason::Claims),
            (r#"{"exp":null}"#, Reason::Claims),
            (r#"{"exp":true}"#, Reason::Claims),
            (r#"{"exp":[1]}"#, Reason::Claims),
            (r#"{"exp":{"a":1}}"#, Reason::Claims),
            (r#"{"exp":1,"nbf":"0"}"#, Reason::Claims),
            (r#"{"exp":1,"aud":[1]}"#, Reason::Claims),
            (r#"{"exp":1,"iss":5}"#, Reason::Claims),
            (r#"{"exp":1,"pay":false}"#, Reason::Claims),
            (r#"{"exp":1,"exp":2}"#, Reason::Malformed),
            (r#"{"exp":1,"x":1,"x":2}"#, Reason::Malformed),
            (r#"[{"exp":1}]"#, Reason::Malformed),
            (r#"{"exp":1e999}"#, Reason::Malformed),
            (r#"{"exp":1}{"#, Reason::Malformed),
        ] {
            assert_eq!(parse_claims(bad.as_bytes()).err(), Some(why), "{bad}");
        }
        assert_eq!(
            parse_claims(b"{\"exp\":1,\"did\":\"\xc3\x28\"}").err(),
            Some(Reason::Malformed)
        );
    }

    #[test]
    fn skipped_members_are_utf8_and_depth_limited() {
        // Invalid UTF-8 in a member nobody reads: serde_json alone skips it.
        assert_eq!(
            parse_header(b"{\"alg\":\"HS256\",\"x\":\"\xff\"}").err(),
            Some(Reason::Malformed)
        );
        assert_eq!(
            parse_claims(b"{\"exp\":1,\"x\":\"\xff\xfe\"}").err(),
            Some(Reason::Malformed)
        );
        assert_eq!(
            parse_claims(b"{\"exp\":1,\"x\":{\"\xff\":1}}").err(),
            Some(Reason::Malformed)
        );
        // Nesting: what serde_json::Value (and so VerifiedToken::claims) can
        // read passes, deeper is malformed, in every position.
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let mut verdicts = HashSet::new();
        for depth in (120..=130).chain([1, 100, 5000]) {
            for json in [
                format!(r#"{{"exp":1,"x":{}}}"#, nested(depth)),
                format!(r#"{{"exp":1,"x":{{"y":{}}}}}"#, nested(depth - 1)),
                format!(r#"{{"exp":{},"x":1}}"#, nested(depth)),
                format!(r#"{{"alg":"HS256","x":{}}}"#, nested(depth)),
            ] {
                let ok = serde_json::from_str::<serde_json::Value>(&json).is_ok();
                verdicts.insert(ok);
                let claims = parse_claims(json.as_bytes()).err();
                assert_eq!(
                    claims != Some(Reason::Malformed),
                    ok,
                    "claims {depth}: {claims:?}"
                );
                if json.starts_with(r#"{"alg""#) {
                    assert_eq!(parse_header(json.as_bytes()).is_ok(), ok, "header {depth}");
                }
            }
        }
        assert_eq!(verdicts.len(), 2, "both sides of the limit were tried");
    }

    #[test]
    fn many_members_spill_and_still_catch_duplicates() {
        let mut members: Vec<String> = (0..40).map(|i| format!("\"m{i}\":{i}")).collect();
        members.push("\"exp\":1".into());
        let json = format!("{{{}}}", members.join(","));
        assert!(parse_claims(json.as_bytes()).is_ok());
        members.push("\"m3\":0".into());
        let json = format!("{{{}}}", members.join(","));
        assert_eq!(parse_claims(json.as_bytes()).err(), Some(Reason::Malformed));
    }
}
