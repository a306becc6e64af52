//! Message signing, table-driven: one signed request altered every way we
//! could think of, each row with the exact refusal it must get (or `Ok`
//! for the variants that must pass). The request is signed at run time
//! with Approov's test key; the clock is injected.

#![allow(clippy::unwrap_used)]

use attestgate::msgsig::{
    InstallKey, IpkError, MessageSigning, MessageSigningPolicy, ReplayMode, RequestParts,
    SignatureError, content_digest, signature_base,
};
use attestgate_testkit::msgsig::{ApproovVectors, InstallSigner};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName, HeaderValue};

use SignatureError::*;

const NOW: i64 = 1_800_000_000;
const BODY: &[u8] = b"{\"amount\":10,\"to\":\"alice\"}";
const COVER: &str = r#"("@method" "@target-uri" "approov-token" "content-digest")"#;

#[derive(Clone)]
struct Req {
    method: String,
    scheme: String,
    authority: String,
    path: String,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    key: Option<Result<InstallKey, IpkError>>,
    now: f64,
}

impl Req {
    fn base() -> Req {
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
    fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: &self.method,
            scheme: &self.scheme,
            authority: &self.authority,
            path_and_query: &self.path,
            headers: &self.headers,
        }
    }
    fn set(&mut self, name: &str, value: &str) {
        self.headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    fn add(&mut self, name: &str, value: &str) {
        self.headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    fn sig_bytes(&self) -> Vec<u8> {
        let v = self.headers["signature"].to_str().unwrap();
        let b64 = v.trim_start_matches("install=:").trim_end_matches(':');
        STANDARD.decode(b64).unwrap()
    }
    fn set_sig(&mut self, bytes: &[u8]) {
        let v = format!("install=:{}:", STANDARD.encode(bytes));
        self.set("signature", &v);
    }
}

type Edit = Box<dyn Fn(&mut Req)>;

struct Row {
    name: &'static str,
    /// The `install` member signed (parameters included).
    member: String,
    /// Applied before signing.
    prep: Edit,
    /// Applied after signing (the alteration on the way).
    tamper: Edit,
    want: Result<(), SignatureError>,
}

fn params(created: i64) -> String {
    format!(";alg=\"ecdsa-p256-sha256\";created={created}")
}

fn std_member() -> String {
    format!("{COVER}{}", params(NOW))
}

fn none() -> Edit {
    Box::new(|_| {})
}

fn row(name: &'static str, want: Result<(), SignatureError>, tamper: Edit) -> Row {
    Row {
        name,
        member: std_member(),
        prep: none(),
        tamper,
        want,
    }
}

fn signed_as(name: &'static str, want: Result<(), SignatureError>, member: String) -> Row {
    Row {
        name,
        member,
        prep: none(),
        tamper: none(),
        want,
    }
}

fn prepped(name: &'static str, want: Result<(), SignatureError>, member: &str, prep: Edit) -> Row {
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
fn sign(signer: &InstallSigner, r: &mut Req, member: &str) {
    let input = format!("install={member}");
    let sig = match signature_base(&r.parts(), &input) {
        Ok(base) => signer.sign_raw(base.as_bytes()),
        Err(_) => [7u8; 64],
    };
    r.set("signature-input", &input);
    r.set_sig(&sig);
}

fn der_of(raw: &[u8]) -> Vec<u8> {
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

fn rows() -> Vec<Row> {
    let c = |s: &str| format!("{s}{}", params(NOW));
    let other_token = attestgate_testkit::tokens::TestKeys::new().hs256(300, serde_json::json!({}));
    let rsa_ipk = {
        let pem = std::fs::read_to_string(
            attestgate_testkit::repo_root().join("tests/fixtures/rsa2048.pem"),
        )
        .unwrap();
        pem.lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>()
    };
    let mut v = vec![
        // ------------------------------------------------ passes
        row("as signed", Ok(()), none()),
        row(
            "token header with extra outer spaces",
            Ok(()),
            Box::new(|r| {
                let t = format!("  {}\t", ApproovVectors::token());
                r.set("approov-token", &t);
            }),
        ),
        row(
            "a second, unrelated signature on both headers",
            Ok(()),
            Box::new(|r| {
                let i = r.headers["signature-input"].to_str().unwrap().to_owned();
                let s = r.headers["signature"].to_str().unwrap().to_owned();
                r.set(
                    "signature-input",
                    &format!("{i}, proxy=(\"@method\");created=1"),
                );
                r.set("signature", &format!("{s}, proxy=:AAAA:"));
            }),
        ),
        row(
            "signature headers split over two lines",
            Ok(()),
            Box::new(|r| {
                let i = r.headers["signature-input"].to_str().unwrap().to_owned();
                let s = r.headers["signature"].to_str().unwrap().to_owned();
                r.set("signature-input", "proxy=(\"@method\");created=1");
                r.add("signature-input", &i);
                r.set("signature", &s);
                r.add("signature", "proxy=:AAAA:");
            }),
        ),
        row(
            "https default port in Host is the same authority",
            Ok(()),
            Box::new(|r| r.authority = "API.example.com:443".into()),
        ),
        signed_as(
            "every derived component",
            Ok(()),
            c(
                r#"("@method" "@target-uri" "@authority" "@scheme" "@request-target" "@path" "@query" "approov-token" "content-digest")"#,
            ),
        ),
        signed_as(
            "@query-param, decoded and re-encoded",
            Ok(()),
            c(
                r#"("@method" "@target-uri" "approov-token" "content-digest" "@query-param";name="note" "@query-param";name="to")"#,
            ),
        ),
        signed_as(
            "content-digest;sf",
            Ok(()),
            c(r#"("@method" "@target-uri" "approov-token" "content-digest";sf)"#),
        ),
        signed_as(
            "content-digest;key=\"sha-256\"",
            Ok(()),
            c(r#"("@method" "@target-uri" "approov-token" "content-digest";key="sha-256")"#),
        ),
        signed_as(
            "approov-token;bs",
            Ok(()),
            c(r#"("@method" "@target-uri" "approov-token";bs "content-digest")"#),
        ),
        signed_as(
            "field covered plain and ;bs",
            Ok(()),
            c(r#"("@method" "@target-uri" "approov-token" "approov-token";bs "content-digest")"#),
        ),
        signed_as(
            "keyid, nonce and tag",
            Ok(()),
            format!(
                "{COVER}{};keyid=\"k\";nonce=\"n\";tag=\"approov\"",
                params(NOW)
            ),
        ),
        signed_as(
            "expires in the future",
            Ok(()),
            format!("{COVER}{};expires={}", params(NOW), NOW + 30),
        ),
        signed_as(
            "created at the max_age edge",
            Ok(()),
            format!("{COVER}{}", params(NOW - 64)),
        ),
        signed_as(
            "created in the future within leeway",
            Ok(()),
            format!("{COVER}{}", params(NOW + 5)),
        ),
        signed_as(
            "params in another order",
            Ok(()),
            format!("{COVER};created={NOW};alg=\"ecdsa-p256-sha256\""),
        ),
        prepped(
            "a multi-line covered header",
            Ok(()),
            &c(r#"("@method" "@target-uri" "approov-token" "content-digest" "x-device-id")"#),
            Box::new(|r| r.add("x-device-id", "second")),
        ),
        // ------------------------------------------------ altered on the way
        row(
            "method changed",
            Err(BadSignature),
            Box::new(|r| r.method = "PUT".into()),
        ),
        row(
            "method case changed",
            Err(BadSignature),
            Box::new(|r| r.method = "post".into()),
        ),
        row(
            "one query byte changed",
            Err(BadSignature),
            Box::new(|r| r.path = r.path.replace("amount=10", "amount=19")),
        ),
        row(
            "query reordered",
            Err(BadSignature),
            Box::new(|r| r.path = "/v1/pay?to=alice&amount=10&note=a+b%20c".into()),
        ),
        row(
            "query removed",
            Err(BadSignature),
            Box::new(|r| r.path = "/v1/pay".into()),
        ),
        row(
            "path changed",
            Err(BadSignature),
            Box::new(|r| r.path = r.path.replace("/v1/", "/v2/")),
        ),
        row(
            "authority changed",
            Err(BadSignature),
            Box::new(|r| r.authority = "evil.example.com".into()),
        ),
        row(
            "port added",
            Err(BadSignature),
            Box::new(|r| r.authority = "api.example.com:8443".into()),
        ),
        row(
            "scheme changed",
            Err(BadSignature),
            Box::new(|r| r.scheme = "http".into()),
        ),
        row(
            "one body byte changed",
            Err(DigestMismatch),
            Box::new(|r| r.body.as_mut().unwrap()[3] ^= 1),
        ),
        row(
            "body emptied",
            Err(DigestMismatch),
            Box::new(|r| r.body = Some(Vec::new())),
        ),
        row(
            "body replaced and digest recomputed",
            Err(BadSignature),
            Box::new(|r| {
                r.body = Some(b"{\"amount\":9999}".to_vec());
                r.set(
                    "content-digest",
                    &content_digest("sha-256", b"{\"amount\":9999}").unwrap(),
                );
            }),
        ),
        row(
            "digest header dropped",
            Err(DigestMissing),
            Box::new(|r| {
                r.headers.remove("content-digest");
            }),
        ),
        row(
            "digest header in string form instead",
            Err(BadSignature),
            Box::new(|r| {
                let d = STANDARD.encode(ring::digest::digest(&ring::digest::SHA256, BODY));
                r.set("content-digest", &format!("sha-256=\"{d}\""));
            }),
        ),
        row(
            "a sha-512 digest added",
            Err(BadSignature),
            Box::new(|r| {
                let both = format!(
                    "{}, {}",
                    content_digest("sha-256", BODY).unwrap(),
                    content_digest("sha-512", BODY).unwrap()
                );
                r.set("content-digest", &both);
            }),
        ),
        row("token swapped for another token", Err(BadSignature), {
            let t = other_token.clone();
            Box::new(move |r| r.set("approov-token", &t))
        }),
        row(
            "token header repeated",
            Err(BadSignature),
            Box::new(|r| r.add("approov-token", "x")),
        ),
        row(
            "token header dropped",
            Err(AbsentComponent),
            Box::new(|r| {
                r.headers.remove("approov-token");
            }),
        ),
        row(
            "one signature byte flipped",
            Err(BadSignature),
            Box::new(|r| {
                let mut s = r.sig_bytes();
                s[10] ^= 0x40;
                r.set_sig(&s);
            }),
        ),
        row(
            "r and s swapped",
            Err(BadSignature),
            Box::new(|r| {
                let s = r.sig_bytes();
                r.set_sig(&[&s[32..], &s[..32]].concat());
            }),
        ),
        row(
            "signature of 63 bytes",
            Err(SignatureLength),
            Box::new(|r| {
                let s = r.sig_bytes();
                r.set_sig(&s[..63]);
            }),
        ),
        row(
            "signature of 65 bytes",
            Err(SignatureLength),
            Box::new(|r| {
                let s = r.sig_bytes();
                r.set_sig(&[&s[..], &[0]].concat());
            }),
        ),
        row(
            "signature DER-encoded",
            Err(SignatureLength),
            Box::new(|r| {
                let s = r.sig_bytes();
                r.set_sig(&der_of(&s));
            }),
        ),
        row(
            "signature empty",
            Err(SignatureLength),
            Box::new(|r| r.set("signature", "install=::")),
        ),
        row(
            "signature all zero",
            Err(BadSignature),
            Box::new(|r| r.set_sig(&[0u8; 64])),
        ),
        row(
            "created changed after signing",
            Err(BadSignature),
            Box::new(|r| {
                r.set(
                    "signature-input",
                    &format!("install={COVER}{}", params(NOW - 1)),
                );
            }),
        ),
        row(
            "a component dropped from the input after signing",
            Err(BadSignature),
            Box::new(|r| {
                r.set("signature-input", &format!("install=(\"@method\" \"@target-uri\" \"approov-token\" \"content-digest\" \"@path\"){}", params(NOW)));
            }),
        ),
        row(
            "components reordered after signing",
            Err(BadSignature),
            Box::new(|r| {
                r.set("signature-input", &format!("install=(\"@target-uri\" \"@method\" \"approov-token\" \"content-digest\"){}", params(NOW)));
            }),
        ),
        row(
            "signature moved to another label",
            Err(NoInstallLabel),
            Box::new(|r| {
                let i = r.headers["signature-input"]
                    .to_str()
                    .unwrap()
                    .replacen("install=", "sig1=", 1);
                let s = r.headers["signature"]
                    .to_str()
                    .unwrap()
                    .replacen("install=", "sig1=", 1);
                r.set("signature-input", &i);
                r.set("signature", &s);
            }),
        ),
        // ------------------------------------------------ keys
        row(
            "the wrong key (another install)",
            Err(BadSignature),
            Box::new(|r| r.key = Some(InstallKey::from_ipk(&InstallSigner::generate().ipk()))),
        ),
        row("token without ipk", Err(NoKey), Box::new(|r| r.key = None)),
        row(
            "ipk garbage",
            Err(BadKey),
            Box::new(|r| r.key = Some(InstallKey::from_ipk("garbage"))),
        ),
        row("ipk an RSA key", Err(BadKey), {
            let k = rsa_ipk.clone();
            Box::new(move |r| r.key = Some(InstallKey::from_ipk(&k)))
        }),
        // ------------------------------------------------ time
        signed_as(
            "expires passed",
            Err(Expired),
            format!("{COVER}{};expires={}", params(NOW - 30), NOW - 6),
        ),
        signed_as(
            "expires before created",
            Err(Expired),
            format!("{COVER}{};expires={}", params(NOW), NOW - 1),
        ),
        signed_as(
            "created older than max_age + leeway",
            Err(TooOld),
            format!("{COVER}{}", params(NOW - 65)),
        ),
        signed_as(
            "created long ago",
            Err(TooOld),
            format!("{COVER}{}", params(1744292750)),
        ),
        signed_as(
            "created negative",
            Err(TooOld),
            format!("{COVER}{}", params(-1)),
        ),
        signed_as(
            "created beyond the leeway ahead",
            Err(Future),
            format!("{COVER}{}", params(NOW + 6)),
        ),
        signed_as(
            "created far in the future",
            Err(Future),
            format!("{COVER}{}", params(999_999_999_999_999)),
        ),
        signed_as(
            "no created",
            Err(NoCreated),
            format!("{COVER};alg=\"ecdsa-p256-sha256\""),
        ),
        signed_as(
            "created a string",
            Err(BadParameter),
            format!("{COVER};alg=\"ecdsa-p256-sha256\";created=\"{NOW}\""),
        ),
        signed_as(
            "created a decimal",
            Err(BadParameter),
            format!("{COVER};alg=\"ecdsa-p256-sha256\";created={NOW}.5"),
        ),
        signed_as(
            "expires a token",
            Err(BadParameter),
            format!("{COVER}{};expires=soon", params(NOW)),
        ),
        // ------------------------------------------------ algorithm and parameters
        signed_as("no alg", Err(Algorithm), format!("{COVER};created={NOW}")),
        signed_as(
            "alg p384",
            Err(Algorithm),
            format!("{COVER};alg=\"ecdsa-p384-sha384\";created={NOW}"),
        ),
        signed_as(
            "alg rsa-pss",
            Err(Algorithm),
            format!("{COVER};alg=\"rsa-pss-sha512\";created={NOW}"),
        ),
        signed_as(
            "alg hmac",
            Err(Algorithm),
            format!("{COVER};alg=\"hmac-sha256\";created={NOW}"),
        ),
        signed_as(
            "alg upper case",
            Err(Algorithm),
            format!("{COVER};alg=\"ECDSA-P256-SHA256\";created={NOW}"),
        ),
        signed_as(
            "alg a token",
            Err(BadParameter),
            format!("{COVER};alg=ecdsa-p256-sha256;created={NOW}"),
        ),
        signed_as(
            "alg empty",
            Err(Algorithm),
            format!("{COVER};alg=\"\";created={NOW}"),
        ),
        signed_as(
            "unknown parameter",
            Err(BadParameter),
            format!("{COVER}{};foo=1", params(NOW)),
        ),
        signed_as(
            "keyid not a string",
            Err(BadParameter),
            format!("{COVER}{};keyid=1", params(NOW)),
        ),
        signed_as(
            "alg repeated",
            Err(Syntax),
            format!("{COVER}{};alg=\"ecdsa-p256-sha256\"", params(NOW)),
        ),
        // ------------------------------------------------ components
        signed_as(
            "@target-uri not covered",
            Err(MissingComponent),
            c(r#"("@method" "approov-token" "content-digest")"#),
        ),
        signed_as(
            "approov-token not covered",
            Err(MissingComponent),
            c(r#"("@method" "@target-uri" "content-digest")"#),
        ),
        signed_as(
            "@method not covered",
            Err(MissingComponent),
            c(r#"("@target-uri" "approov-token" "content-digest")"#),
        ),
        signed_as("nothing covered", Err(MissingComponent), c("()")),
        signed_as(
            "content-digest not covered, with a body",
            Err(DigestMissing),
            c(r#"("@method" "@target-uri" "approov-token")"#),
        ),
        signed_as(
            "a component listed twice",
            Err(DuplicateComponent),
            c(r#"("@method" "@target-uri" "approov-token" "content-digest" "@method")"#),
        ),
        signed_as(
            "a field listed twice",
            Err(DuplicateComponent),
            c(r#"("@method" "@target-uri" "approov-token" "content-digest" "approov-token")"#),
        ),
        signed_as(
            "a field name in upper case",
            Err(BadComponent),
            c(r#"("@method" "@target-uri" "approov-token" "content-digest" "X-Device-Id")"#),
        ),
        signed_as(
            "a component as a token",
            Err(BadComponent),
            c(r#"("@method" "@target-uri" "approov-token" "content-digest" x-device-id)"#),
        ),
        signed_as(
            "a component as an integer",
            Err(BadComponent),
            c(r#"("@method" "@target-uri" "approov-token" "content-digest" 1)"#),
        ),
        signed_as(
            "an unknown derived component",
            Err(BadComponent),
            c(r#"("@method" "@target-uri" "approov-token" "content-digest" "@foo")"#),
        ),
        signed_as(
            "@status (response only)",
            Err(BadComponent),
            c(r#"("@method" "@target-uri" "approov-token" "content-digest" "@status")"#),
        ),
        signed_as(
            "@signature-params covered",
            Err(BadComponent),
            c(r#"("@method" "@target-uri" "approov-token" "content-digest" "@signature-params")"#),
        ),
        signed_as(
            "a field with ;req",
            Err(BadComponent),
            c(r#"("@method" "@target-uri" "approov-token";req "content-digest")"#),
        ),
        signed_as(
            "a field with ;tr",
            Err(BadComponent),
            c(r#"("@method" "@target-uri" "approov-token";tr "content-digest")"#),
        ),
        signed_as(
            "a field with ;bs;sf",
            Err(BadComponent),
            c(r#"("@method" "@target-uri" "approov-token" "content-digest";bs;sf)"#),
        ),
        signed_as(
            "a field with ;sf=?0",
            Err(BadComponent),
            c(r#"("@method" "@target-uri" "approov-token" "content-digest";sf=?0)"#),
        ),
        signed_as(
            "a field with ;key=1",
            Err(BadComponent),
            c(r#"("@method" "@target-uri" "approov-token" "content-digest";key=1)"#),
        ),
        signed_as(
            "@method with a parameter",
            Err(BadComponent),
            c(r#"("@method";name="x" "@target-uri" "approov-token" "content-digest")"#),
        ),
        signed_as(
            "@query-param without name",
            Err(BadComponent),
            c(r#"("@method" "@target-uri" "approov-token" "content-digest" "@query-param")"#),
        ),
        signed_as(
            "@query-param name not a string",
            Err(BadComponent),
            c(
                r#"("@method" "@target-uri" "approov-token" "content-digest" "@query-param";name=to)"#,
            ),
        ),
        signed_as(
            "a covered field absent",
            Err(AbsentComponent),
            c(r#"("@method" "@target-uri" "approov-token" "content-digest" "x-absent")"#),
        ),
        signed_as(
            "a covered query parameter absent",
            Err(AbsentComponent),
            c(
                r#"("@method" "@target-uri" "approov-token" "content-digest" "@query-param";name="nope")"#,
            ),
        ),
        signed_as(
            "a ;key absent from the dictionary",
            Err(AbsentComponent),
            c(r#"("@method" "@target-uri" "approov-token" "content-digest";key="sha-512")"#),
        ),
        prepped(
            "a ;sf field that does not parse",
            Err(AbsentComponent),
            &c(r#"("@method" "@target-uri" "approov-token" "content-digest" "x-odd";sf)"#),
            Box::new(|r| r.set("x-odd", "((")),
        ),
        prepped(
            "a ;key field that is not a dictionary",
            Err(AbsentComponent),
            &c(r#"("@method" "@target-uri" "approov-token" "content-digest" "x-odd";key="a")"#),
            Box::new(|r| r.set("x-odd", "1, 2")),
        ),
        prepped(
            "a ;sf field re-serialized",
            Ok(()),
            &c(r#"("@method" "@target-uri" "approov-token" "content-digest" "x-list";sf)"#),
            Box::new(|r| r.set("x-list", "1,   2;a=?1 ,(\"x\"   y)")),
        ),
        signed_as(
            "33 components",
            Err(TooManyComponents),
            c(&format!(
                "(\"@method\" \"@target-uri\" \"approov-token\" \"content-digest\" {})",
                (0..29)
                    .map(|i| format!("\"x-h{i}\""))
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
        ),
    ];
    v.extend(malformed_headers());
    v
}

/// `Signature-Input` / `Signature` values that are not what they should be.
fn malformed_headers() -> Vec<Row> {
    let input = |value: &'static str, want: SignatureError| -> Row {
        let name: &'static str = Box::leak(format!("Signature-Input: {value}").into_boxed_str());
        row(
            name,
            Err(want),
            Box::new(move |r| r.set("signature-input", value)),
        )
    };
    let sig = |value: &'static str, want: SignatureError| -> Row {
        let name: &'static str = Box::leak(format!("Signature: {value}").into_boxed_str());
        row(
            name,
            Err(want),
            Box::new(move |r| r.set("signature", value)),
        )
    };
    let mut v = vec![
        input("", LabelsDiffer),
        input("install", WrongType),
        input("install=", Syntax),
        input("install=(", Syntax),
        input("install=(\"@method\"", Syntax),
        input("install=(@method)", Syntax),
        input("install=\"@method\"", WrongType),
        input("install=:AAAA:", WrongType),
        input("install=(\"@method\");alg=", Syntax),
        input("install=(\"@method\");=1", Syntax),
        input("install=(\"@method\");Alg=\"x\"", Syntax),
        input("install=(\"@method\") x", Syntax),
        input("install=(\"@method\"),", Syntax),
        input(",install=(\"@method\")", Syntax),
        input("Install=(\"@method\")", Syntax),
        input("install=(\"@method\"\t\"x\")", Syntax),
        input("install=(\"@method\");created=1234567890123456", Syntax),
        input("install=(\"@me\\thod\")", Syntax),
        input("install=(\"@method\");created=-", Syntax),
        input("install=(\"@method\");created=?2", Syntax),
        input("install=(\"@method\"), install=(\"@path\")", Syntax),
        input("install=(\"@method\");created=1;created=2", Syntax),
        input("sig1=(\"@method\");created=1", LabelsDiffer),
        sig("", LabelsDiffer),
        sig("install", WrongType),
        sig("install=abc", WrongType),
        sig("install=\"abc\"", WrongType),
        sig("install=?1", WrongType),
        sig("install=1", WrongType),
        sig("install=(:AAAA:)", WrongType),
        sig("install=:AAAA:;x=1", WrongType),
        sig("install=:!!!!:", Syntax),
        sig("install=:AAAA", Syntax),
        sig("install=:AAA=A:", Syntax),
        sig("install=:AAAA:, install=:AAAA:", Syntax),
        sig("sig1=:AAAA:", LabelsDiffer),
        sig("install=:AAAA:, sig1=:AAAA:", LabelsDiffer),
    ];
    v.push(row(
        "no Signature",
        Err(Missing),
        Box::new(|r| {
            r.headers.remove("signature");
        }),
    ));
    v.push(row(
        "no Signature-Input",
        Err(Missing),
        Box::new(|r| {
            r.headers.remove("signature-input");
        }),
    ));
    v.push(row(
        "neither header",
        Err(Missing),
        Box::new(|r| {
            r.headers.remove("signature");
            r.headers.remove("signature-input");
        }),
    ));
    v.push(row(
        "Signature-Input over 8 KiB",
        Err(TooLong),
        Box::new(|r| {
            let big = format!("install=(\"@method\");nonce=\"{}\"", "a".repeat(9000));
            r.set("signature-input", &big);
        }),
    ));
    v.push(row(
        "Signature over 8 KiB in many lines",
        Err(TooLong),
        Box::new(|r| {
            for i in 0..200 {
                r.add("signature", &format!("s{i}=:{}:", "A".repeat(60)));
            }
        }),
    ));
    v.push(row(
        "100 labels",
        Err(Syntax),
        Box::new(|r| {
            let many: Vec<String> = (0..100).map(|i| format!("s{i}=(\"@method\")")).collect();
            r.set("signature-input", &many.join(","));
        }),
    ));
    v.push(row(
        "inner list of 100 items",
        Err(Syntax),
        Box::new(|r| {
            let items = (0..100)
                .map(|i| format!("\"x-{i}\""))
                .collect::<Vec<_>>()
                .join(" ");
            r.set("signature-input", &format!("install=({items});created=1"));
        }),
    ));
    v.push(row(
        "non-ASCII in Signature-Input",
        Err(NotAscii),
        Box::new(|r| {
            r.headers.insert(
                "signature-input",
                HeaderValue::from_bytes("install=(\"@méthod\")".as_bytes()).unwrap(),
            );
        }),
    ));
    v.push(row(
        "non-ASCII in Signature",
        Err(NotAscii),
        Box::new(|r| {
            r.headers.insert(
                "signature",
                HeaderValue::from_bytes(b"install=:\xff\xfe:").unwrap(),
            );
        }),
    ));
    v.push(row(
        "non-ASCII in a covered field",
        Err(NotAscii),
        Box::new(|r| {
            r.headers.insert(
                "approov-token",
                HeaderValue::from_bytes(b"tok\xe9n").unwrap(),
            );
        }),
    ));
    v
}

#[test]
fn every_row_gets_its_answer() {
    let signer = InstallSigner::approov_test_key();
    let signing = MessageSigning::new(
        MessageSigningPolicy {
            replay: ReplayMode::Off,
            ..MessageSigningPolicy::default()
        },
        None,
    )
    .unwrap();
    let rows = rows();
    let mut names = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for row in &rows {
        assert!(names.insert(row.name), "row names are unique: {}", row.name);
        let mut r = Req::base();
        (row.prep)(&mut r);
        sign(&signer, &mut r, &row.member);
        (row.tamper)(&mut r);
        let got = signing
            .verify(&r.parts(), r.body.as_deref(), r.key.as_ref(), r.now)
            .map(|s| assert!(s.is_some(), "{}", row.name));
        if got != row.want {
            failures.push(format!("{}: got {got:?}, want {:?}", row.name, row.want));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(rows.len() > 120, "{}", rows.len());
}

#[test]
fn the_table_reaches_every_refusal() {
    let seen: std::collections::BTreeSet<&str> = rows()
        .iter()
        .filter_map(|r| r.want.err())
        .map(|e| e.as_str())
        .collect();
    // DigestSyntax is reached in the digest module's own table.
    for e in [
        Missing,
        TooLong,
        NotAscii,
        Syntax,
        NoInstallLabel,
        LabelsDiffer,
        WrongType,
        BadComponent,
        DuplicateComponent,
        TooManyComponents,
        MissingComponent,
        AbsentComponent,
        BadParameter,
        Algorithm,
        NoCreated,
        TooOld,
        Future,
        Expired,
        NoKey,
        BadKey,
        SignatureLength,
        BadSignature,
        DigestMissing,
        DigestMismatch,
    ] {
        assert!(seen.contains(e.as_str()), "{e:?} not covered");
    }
}

#[test]
fn optional_signing_passes_unsigned_and_keyless_requests_only() {
    let signer = InstallSigner::approov_test_key();
    let signing = MessageSigning::new(
        MessageSigningPolicy {
            required: false,
            replay: ReplayMode::Off,
            ..MessageSigningPolicy::default()
        },
        None,
    )
    .unwrap();
    let check = |r: &Req| signing.verify(&r.parts(), r.body.as_deref(), r.key.as_ref(), r.now);
    let unsigned = Req::base();
    assert_eq!(check(&unsigned), Ok(None));
    let mut keyless = Req::base();
    sign(&signer, &mut keyless, &std_member());
    keyless.key = None;
    assert_eq!(check(&keyless), Ok(None));
    // present: checked, and refused when wrong
    let mut altered = Req::base();
    sign(&signer, &mut altered, &std_member());
    assert!(matches!(check(&altered), Ok(Some(_))));
    altered.method = "PUT".into();
    assert_eq!(check(&altered), Err(BadSignature));
    let mut half = Req::base();
    half.set("signature", "install=:AAAA:");
    assert_eq!(check(&half), Err(Missing));
}

#[test]
fn a_digest_is_optional_when_the_policy_says_so_but_checked_when_sent() {
    let signer = InstallSigner::approov_test_key();
    let signing = MessageSigning::new(
        MessageSigningPolicy {
            content_digest: attestgate::msgsig::ContentDigestRule::Optional,
            replay: ReplayMode::Off,
            ..MessageSigningPolicy::default()
        },
        None,
    )
    .unwrap();
    let member = format!(
        "(\"@method\" \"@target-uri\" \"approov-token\"){}",
        params(NOW)
    );
    let mut r = Req::base();
    r.headers.remove("content-digest");
    sign(&signer, &mut r, &member);
    let check = |r: &Req| signing.verify(&r.parts(), r.body.as_deref(), r.key.as_ref(), r.now);
    assert!(matches!(check(&r), Ok(Some(_))));
    // an uncovered digest that is sent must still match the body
    r.set(
        "content-digest",
        &content_digest("sha-256", b"other").unwrap(),
    );
    assert_eq!(check(&r), Err(DigestMismatch));
    r.set("content-digest", "md5=:AAAA:");
    assert_eq!(check(&r), Err(DigestSyntax));
    // a GET without a body needs no digest even when required-with-body
    let strict = MessageSigning::new(
        MessageSigningPolicy {
            replay: ReplayMode::Off,
            ..MessageSigningPolicy::default()
        },
        None,
    )
    .unwrap();
    let mut get = Req::base();
    get.method = "GET".into();
    get.body = None;
    get.headers.remove("content-digest");
    sign(&signer, &mut get, &member);
    assert!(matches!(
        strict.verify(&get.parts(), None, get.key.as_ref(), get.now),
        Ok(Some(_))
    ));
}

#[test]
fn errors_and_debug_never_show_the_token_or_key() {
    let r = Req::base();
    let key = r.key.clone().unwrap().unwrap();
    assert!(!format!("{key:?}").contains(&ApproovVectors::ipk()[..20]));
    let signing = MessageSigning::new(
        MessageSigningPolicy {
            replay: ReplayMode::Redis,
            redis_url: Some("redis://:hunter2@127.0.0.1:1".into()),
            ..MessageSigningPolicy::default()
        },
        None,
    );
    let problems = signing.unwrap_err();
    assert!(problems.iter().all(|p| !p.to_string().contains("hunter2")));
    let parts = format!("{:?}", r.parts());
    assert!(parts.contains("approov-token") && !parts.contains("eyJ"), "{parts}");
    for e in [BadSignature, Syntax, NoKey] {
        let text = format!("{e} {e:?}");
        assert!(!text.contains("eyJ"), "{text}");
    }
}
