//! Rows about the covered components.

use super::*;

pub(crate) fn components() -> Vec<Row> {
    let c = |s: &str| format!("{s}{}", params(NOW));
    vec![
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
        prepped(
            "a covered query parameter repeated in the query",
            Err(BadComponent),
            &c(
                r#"("@method" "@target-uri" "approov-token" "content-digest" "@query-param";name="to")"#,
            ),
            Box::new(|r| r.path.push_str("&to=mallory")),
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
    ]
}
