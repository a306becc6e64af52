//! `Signature-Input` / `Signature` values that are not what they should be.

use super::*;

/// `Signature-Input` / `Signature` values that are not what they should be.
pub(crate) fn malformed_headers() -> Vec<Row> {
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
