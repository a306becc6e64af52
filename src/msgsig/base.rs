//! The signature base (RFC 9421 §2.5): one line per covered component,
//! `"<identifier>": <value>\n`, in the order of `Signature-Input`, then
//! `"@signature-params": <the inner list, serialized>` with no newline.

use super::components::{self, RequestParts};
use super::error::SignatureError;
use super::structured::{InnerList, write_inner, write_item};

/// Builds the signature base of `inner` (the `install` member of
/// `Signature-Input`) over `req`.
pub(crate) fn signature_base(
    req: &RequestParts<'_>,
    inner: &InnerList,
) -> Result<String, SignatureError> {
    let mut out = String::with_capacity(256 + req.path_and_query.len() * 2);
    let mut seen: Vec<String> = Vec::with_capacity(inner.items.len());
    for item in &inner.items {
        let mut id = String::new();
        write_item(&mut id, item);
        if seen.contains(&id) {
            return Err(SignatureError::DuplicateComponent);
        }
        for value in components::values(req, item)? {
            out.push_str(&id);
            out.push_str(": ");
            out.push_str(&value);
            out.push('\n');
        }
        seen.push(id);
    }
    out.push_str("\"@signature-params\": ");
    write_inner(&mut out, inner);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgsig::structured::{Member, parse_dictionary};

    /// RFC 9421 §2.5's example request and its signature base (the
    /// components of the RFC's example that apply to a request).
    #[test]
    fn rfc_9421_section_2_5_example() {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "example.com".parse().unwrap());
        headers.insert("date", "Tue, 20 Apr 2021 02:07:55 GMT".parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert(
            "content-digest",
            "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"
                .parse()
                .unwrap(),
        );
        headers.insert("content-length", "18".parse().unwrap());
        let req = RequestParts {
            method: "POST",
            scheme: "https",
            authority: "example.com",
            path_and_query: "/foo?param=Value&Pet=dog",
            headers: &headers,
        };
        let input = r#"sig1=("@method" "@authority" "@path" "content-digest" "content-length" "content-type");created=1618884473;keyid="test-key-rsa-pss""#;
        let dict = parse_dictionary(input).unwrap();
        let Member::Inner(inner) = &dict[0].1 else {
            panic!()
        };
        let want = concat!(
            "\"@method\": POST\n",
            "\"@authority\": example.com\n",
            "\"@path\": /foo\n",
            "\"content-digest\": sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:\n",
            "\"content-length\": 18\n",
            "\"content-type\": application/json\n",
            "\"@signature-params\": (\"@method\" \"@authority\" \"@path\" \"content-digest\" \"content-length\" \"content-type\");created=1618884473;keyid=\"test-key-rsa-pss\""
        );
        assert_eq!(signature_base(&req, inner).unwrap(), want);
    }
}
