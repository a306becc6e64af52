//! The request under test, the row type, and how a row is signed.

use super::*;

pub(crate) const NOW: i64 = 1_800_000_000;
pub(crate) const BODY: &[u8] = b"{\"amount\":10,\"to\":\"alice\"}";
pub(crate) const COVER: &str = r#"("@method" "@target-uri" "approov-token" "content-digest")"#;

#[derive(Clone)]
pub(crate) struct Req {
    pub(crate) method: String,
    pub(crate) scheme: String,
    pub(crate) authority: String,
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) key: Option<Result<InstallKey, IpkError>>,
    pub(crate) now: f64,
}

impl Req {
    pub(crate) fn base() -> Req {
        let mut headers = HeaderMap::new();
        headers.insert("approov-token", ApproovVectors::token().parse().unwrap());
        headers.insert(
            "content-digest",
            content_digest("sha-256", BODY).unwrap().parse().unwrap(),
        );
        headers.insert("x-device-id", "device-42".parse().unwrap());
        Req {
            method: "POST".into(),
            scheme: "https".into(),
            authority: "api.example.com".into(),
            path: "/v1/pay?amount=10&to=alice&note=a+b%20c".into(),
            headers,
            body: Some(BODY.to_vec()),
            key: Some(InstallKey::from_ipk(&ApproovVectors::ipk())),
            now: NOW as f64,
        }
    }
    pub(crate) fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: &self.method,
            scheme: &self.scheme,
            authority: &self.authority,
            path_and_query: &self.path,
            headers: &self.headers,
        }
    }
    pub(crate) fn set(&mut self, name: &str, value: &str) {
        self.headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    pub(crate) fn add(&mut self, name: &str, value: &str) {
        self.headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    pub(crate) fn sig_bytes(&self) -> Vec<u8> {
        let v = self.headers["signature"].to_str().unwrap();
        let b64 = v.trim_start_matches("install=:").trim_end_matches(':');
        STANDARD.decode(b64).unwrap()
    }
    pub(crate) fn set_sig(&mut self, bytes: &[u8]) {
        let v = format!("install=:{}:", STANDARD.encode(bytes));
        self.set("signature", &v);
    }
}

pub(crate) type Edit = Box<dyn Fn(&mut Req)>;

pub(crate) struct Row {
    pub(crate) name: &'static str,
    /// The `install` member signed (parameters included).
    pub(crate) member: String,
    /// Applied before signing.
    pub(crate) prep: Edit,
    /// Applied after signing (the alteration on the way).
    pub(crate) tamper: Edit,
    pub(crate) want: Result<(), SignatureError>,
}

pub(crate) fn params(created: i64) -> String {
    format!(";alg=\"ecdsa-p256-sha256\";created={created}")
}

pub(crate) fn std_member() -> String {
    format!("{COVER}{}", params(NOW))
}

pub(crate) fn none() -> Edit {
    Box::new(|_| {})
}

pub(crate) fn row(name: &'static str, want: Result<(), SignatureError>, tamper: Edit) -> Row {
    Row {
        name,
        member: std_member(),
        prep: none(),
        tamper,
        want,
    }
}

pub(crate) fn signed_as(
    name: &'static str,
    want: Result<(), SignatureError>,
    member: String,
) -> Row {
    Row {
        name,
        member,
        prep: none(),
        tamper: none(),
        want,
    }
}

pub(crate) fn prepped(
    name: &'static str,
    want: Result<(), SignatureError>,
    member: &str,
    prep: Edit,
) -> Row {
    Row {
        name,
        member: member.to_owned(),
        prep,
        tamper: none(),
        want,
    }
}

/// Signs `r` with `member`, as the SDK would. A member that yields no base
/// (the rows about bad components) gets a random 64-byte signature.
pub(crate) fn sign(signer: &InstallSigner, r: &mut Req, member: &str) {
    let input = format!("install={member}");
    let sig = match signature_base(&r.parts(), &input) {
        Ok(base) => signer.sign_raw(base.as_bytes()),
        Err(_) => [7u8; 64],
    };
    r.set("signature-input", &input);
    r.set_sig(&sig);
}

pub(crate) fn der_of(raw: &[u8]) -> Vec<u8> {
    let int = |b: &[u8]| {
        let b = &b[b.iter().position(|&x| x != 0).unwrap_or(31)..];
        let mut v = vec![0x02];
        if b[0] & 0x80 != 0 {
            v.extend([b.len() as u8 + 1, 0]);
        } else {
            v.push(b.len() as u8);
        }
        v.extend_from_slice(b);
        v
    };
    let body = [int(&raw[..32]), int(&raw[32..])].concat();
    [vec![0x30, body.len() as u8], body].concat()
}
