//! RFC 8941 parsing and canonical serialization: the RFC's own examples,
//! round trips, and a table of malformed fields.

use super::*;

fn dict_text(text: &str) -> String {
    let mut out = String::new();
    write_dictionary(&mut out, &parse_dictionary(text).unwrap());
    out
}

fn list_text(text: &str) -> String {
    let mut out = String::new();
    write_list(&mut out, &parse_list(text).unwrap());
    out
}

fn item_text(text: &str) -> String {
    let mut out = String::new();
    write_item(&mut out, &parse_item(text).unwrap());
    out
}

#[test]
fn rfc_examples_serialize_canonically() {
    // (input, canonical serialization) — RFC 8941 §3 and RFC 9421 §2.1.1
    let dicts = [
        (
            "en=\"Applepie\", da=:w4ZibGV0w6ZydGU=:",
            "en=\"Applepie\", da=:w4ZibGV0w6ZydGU=:",
        ),
        ("a=?0, b, c; foo=bar", "a=?0, b, c;foo=bar"),
        (
            "rating=1.5, feelings=(joy sadness)",
            "rating=1.5, feelings=(joy sadness)",
        ),
        (
            "a=(1 2), b=3, c=4;aa=bb, d=(5 6);valid",
            "a=(1 2), b=3, c=4;aa=bb, d=(5 6);valid",
        ),
        ("a=1 ,  b=2", "a=1, b=2"),
        ("a=1,\tb=2", "a=1, b=2"),
        ("  a=?1  ", "a"),
        ("a=1.500, b=-0.0, c=12.0", "a=1.5, b=0.0, c=12.0"),
        (
            "sig1=(\"@method\" \"@authority\");created=1618884473;keyid=\"test-key\"",
            "sig1=(\"@method\" \"@authority\");created=1618884473;keyid=\"test-key\"",
        ),
        ("x=(   \"a\"   \"b\"  );p", "x=(\"a\" \"b\");p"),
        ("k=\"a\\\"b\\\\c\"", "k=\"a\\\"b\\\\c\""),
        ("t=*tok:en/x", "t=*tok:en/x"),
        ("e=()", "e=()"),
        ("", ""),
    ];
    for (input, want) in dicts {
        assert_eq!(dict_text(input), want, "{input:?}");
        // canonical output is a fixed point
        assert_eq!(dict_text(want), want, "{want:?}");
    }
    let lists = [
        ("sugar, tea, rum", "sugar, tea, rum"),
        (
            "(\"foo\" \"bar\"), (\"baz\"), (\"bat\" \"one\"), ()",
            "(\"foo\" \"bar\"), (\"baz\"), (\"bat\" \"one\"), ()",
        ),
        (
            "abc;a=1;b=2; cde_456, (ghi;jk=4 l);q=\"9\";r=w",
            "abc;a=1;b=2;cde_456, (ghi;jk=4 l);q=\"9\";r=w",
        ),
        ("1,2", "1, 2"),
        ("-999999999999999", "-999999999999999"),
    ];
    for (input, want) in lists {
        assert_eq!(list_text(input), want, "{input:?}");
    }
    for (input, want) in [
        ("?1", "?1"),
        ("::", "::"),
        (":aGVsbG8:", ":aGVsbG8=:"),
        ("0.1", "0.1"),
    ] {
        assert_eq!(item_text(input), want, "{input:?}");
    }
}

#[test]
fn values_have_their_types() {
    let d =
        parse_dictionary("i=-42, d=3.14, s=\"x\", t=tok, b=:AQID:, y=?1, n=?0, l=(1 \"a\");p=1")
            .unwrap();
    let bare = |k: &str| match &d.iter().find(|(n, _)| n == k).unwrap().1 {
        Member::Item(i) => i.bare.clone(),
        Member::Inner(_) => panic!(),
    };
    assert_eq!(bare("i"), BareItem::Integer(-42));
    assert_eq!(bare("d"), BareItem::Decimal(3140));
    assert_eq!(bare("s"), BareItem::String("x".into()));
    assert_eq!(bare("t"), BareItem::Token("tok".into()));
    assert_eq!(bare("b"), BareItem::Bytes(vec![1, 2, 3]));
    assert_eq!(bare("y"), BareItem::Boolean(true));
    assert_eq!(bare("n"), BareItem::Boolean(false));
    let Member::Inner(l) = &d[7].1 else { panic!() };
    assert_eq!(l.items.len(), 2);
    assert_eq!(param(&l.params, "p"), Some(&BareItem::Integer(1)));
    assert_eq!(
        parse_item("999999999999999").unwrap().bare,
        BareItem::Integer(999_999_999_999_999)
    );
    assert_eq!(
        parse_item("123456789012.123").unwrap().bare,
        BareItem::Decimal(123_456_789_012_123)
    );
    // padding is optional in byte sequences
    assert_eq!(
        parse_item(":AQI:").unwrap().bare,
        BareItem::Bytes(vec![1, 2])
    );
}

#[test]
fn malformed_fields_are_refused_without_panicking() {
    let bad_dicts = [
        "a=",
        "a=1,",
        ",a=1",
        "a=1,,b=2",
        "a=1 b=2",
        "A=1",
        "1a=1",
        "a b",
        "a=(",
        "a=(1",
        "a=(1 2",
        "a=(1,2)",
        "a=(1\t2)",
        "a=\"unterminated",
        "a=\"bad\\escape\"",
        "a=\"tab\there\"",
        "a=:not base64:",
        "a=:AAA",
        "a=:AA=A:",
        "a=1;",
        "a=1;B=2",
        "a=1;b=",
        "a=?",
        "a=?2",
        "a=-",
        "a=-x",
        "a=1.",
        "a=1.2345",
        "a=1234567890123.1",
        "a=1234567890123456",
        "a=12345678901234567890",
        "a=1..2",
        "a=@",
        "a=%",
        "a=1, a=2",
        "a;p=1;p=2",
        "a=é",
        "a=1\u{0}",
        "a=\"\u{7f}\"",
        "a=(\"x\")y",
    ];
    for text in bad_dicts {
        assert!(parse_dictionary(text).is_err(), "{text:?}");
    }
    for text in ["", " ", "1,", "(", "a=1", "1;", "1 2"] {
        let _ = parse_list(text); // must not panic
    }
    assert!(parse_list("1 2").is_err());
    for text in ["", "1 2", "(1)x", "\"a", "?", "1;A"] {
        assert!(parse_item(text).is_err(), "{text:?}");
    }
    // many members are cut off
    let many: Vec<String> = (0..=MAX_MEMBERS).map(|i| format!("k{i}=1")).collect();
    assert!(parse_dictionary(&many.join(",")).is_err());
    let params: String = (0..=MAX_MEMBERS).map(|i| format!(";p{i}")).collect();
    assert!(parse_item(&format!("1{params}")).is_err());
    // errors hold a position, never the input
    let e = parse_dictionary("secret=\"hunter2").unwrap_err();
    assert!(!format!("{e:?}").contains("hunter2"));
}

#[test]
fn every_byte_prefix_of_a_real_header_parses_or_errors() {
    let text = r#"install=("@method" "@target-uri" "approov-token" "content-digest";sf "@query-param";name="a");alg="ecdsa-p256-sha256";created=1744292750;expires=1999999999;nonce="n\"x", b=:AQID:, c=?0;q=1.25"#;
    for i in 0..=text.len() {
        let _ = parse_dictionary(&text[..i]);
        let _ = parse_list(&text[..i]);
        let _ = parse_item(&text[..i]);
    }
    assert!(parse_dictionary(text).is_ok());
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Fields made of the bytes that matter to the grammar.
    fn field() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just('a'),
                Just('z'),
                Just('*'),
                Just('='),
                Just(','),
                Just(';'),
                Just(' '),
                Just('\t'),
                Just('('),
                Just(')'),
                Just('"'),
                Just('\\'),
                Just(':'),
                Just('?'),
                Just('1'),
                Just('0'),
                Just('-'),
                Just('.'),
                Just('A'),
                Just('+'),
                Just('/'),
                Just('@'),
                Just('é'),
            ],
            0..48,
        )
        .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        /// Never a panic; whatever parses serializes to a canonical text
        /// that parses to the same value and serializes to itself.
        #[test]
        fn parse_serialize_is_a_fixed_point(text in field()) {
            if let Ok(d) = parse_dictionary(&text) {
                let mut once = String::new();
                write_dictionary(&mut once, &d);
                let again = parse_dictionary(&once).unwrap();
                prop_assert_eq!(&again, &d);
                let mut twice = String::new();
                write_dictionary(&mut twice, &again);
                prop_assert_eq!(once, twice);
            }
            if let Ok(l) = parse_list(&text) {
                let mut once = String::new();
                write_list(&mut once, &l);
                prop_assert_eq!(parse_list(&once).unwrap(), l);
            }
            if let Ok(i) = parse_item(&text) {
                let mut once = String::new();
                write_item(&mut once, &i);
                prop_assert_eq!(parse_item(&once).unwrap(), i);
            }
        }
    }

    fn key() -> impl Strategy<Value = String> {
        "[a-z*][a-z0-9_.*-]{0,6}"
    }

    fn bare() -> impl Strategy<Value = BareItem> {
        prop_oneof![
            (-999_999_999_999_999i64..=999_999_999_999_999).prop_map(BareItem::Integer),
            (-999_999_999_999_999i64..=999_999_999_999_999).prop_map(BareItem::Decimal),
            "[ -~]{0,12}".prop_map(BareItem::String),
            "[A-Za-z*][A-Za-z0-9:/!#$%&'*+.^_`|~-]{0,8}".prop_map(BareItem::Token),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(BareItem::Bytes),
            any::<bool>().prop_map(BareItem::Boolean),
        ]
    }

    fn params() -> impl Strategy<Value = Params> {
        proptest::collection::btree_map(key(), bare(), 0..3).prop_map(|m| m.into_iter().collect())
    }

    fn item() -> impl Strategy<Value = Item> {
        (bare(), params()).prop_map(|(bare, params)| Item { bare, params })
    }

    fn member() -> impl Strategy<Value = Member> {
        prop_oneof![
            item().prop_map(Member::Item),
            (proptest::collection::vec(item(), 0..4), params())
                .prop_map(|(items, params)| Member::Inner(InnerList { items, params })),
        ]
    }

    proptest! {
        /// Any dictionary serializes to a text that parses back to it.
        #[test]
        fn serialized_dictionaries_parse_back(
            dict in proptest::collection::btree_map(key(), member(), 0..5)
        ) {
            let dict: Dictionary = dict.into_iter().collect();
            let mut text = String::new();
            write_dictionary(&mut text, &dict);
            prop_assert_eq!(parse_dictionary(&text).unwrap(), dict);
        }
    }
}
