//! Rows that must pass: variants of a correctly signed request.

use super::*;

pub(crate) fn passing() -> Vec<Row> {
    let c = |s: &str| format!("{s}{}", params(NOW));
    vec![
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
    ]
}
