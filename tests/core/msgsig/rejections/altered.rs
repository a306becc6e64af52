//! Rows altered on the way (method, target, body, token, signature bytes), and the wrong keys.

use super::*;

pub(crate) fn altered() -> Vec<Row> {
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
    vec![
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
    ]
}
