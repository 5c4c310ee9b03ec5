//! RFC 8785: the §3.2.3/§3.2.4 example byte for byte, every finite number of Appendix B, the
//! UTF-16 member order of §3.2.3, and the I-JSON refusals (duplicate names, lone surrogates).

use crate::jcs::{Json, canonicalize, format_number, parse};

#[track_caller]
fn check(input: &str, expected: &str) {
    let value = parse(input.as_bytes()).unwrap();
    assert_eq!(String::from_utf8(canonicalize(&value)).unwrap(), expected);
}

// Goal: the RFC's worked example (§3.2.2-3.2.4) canonicalizes to its published bytes.
#[test]
fn the_rfc_example_is_reproduced_byte_for_byte() {
    let input = r#"{
        "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
        "literals": [null, true, false]
    }"#;
    let expected_hex = "7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72 \
        75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a \
        5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31 \
        65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37 \
        5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30 \
        30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d";
    let expected: Vec<u8> = expected_hex
        .split_whitespace()
        .map(|byte| u8::from_str_radix(byte, 16).unwrap())
        .collect();
    assert_eq!(canonicalize(&parse(input.as_bytes()).unwrap()), expected);
}

// Goal: every finite IEEE 754 value of RFC 8785 Appendix B serializes as the RFC says.
#[test]
fn appendix_b_numbers() {
    let vectors: &[(u64, &str)] = &[
        (0x0000_0000_0000_0000, "0"),
        (0x8000_0000_0000_0000, "0"),
        (0x0000_0000_0000_0001, "5e-324"),
        (0x8000_0000_0000_0001, "-5e-324"),
        (0x7fef_ffff_ffff_ffff, "1.7976931348623157e+308"),
        (0xffef_ffff_ffff_ffff, "-1.7976931348623157e+308"),
        (0x4340_0000_0000_0000, "9007199254740992"),
        (0xc340_0000_0000_0000, "-9007199254740992"),
        (0x4430_0000_0000_0000, "295147905179352830000"),
        (0x44b5_2d02_c7e1_4af5, "9.999999999999997e+22"),
        (0x44b5_2d02_c7e1_4af6, "1e+23"),
        (0x44b5_2d02_c7e1_4af7, "1.0000000000000001e+23"),
        (0x444b_1ae4_d6e2_ef4e, "999999999999999700000"),
        (0x444b_1ae4_d6e2_ef4f, "999999999999999900000"),
        (0x444b_1ae4_d6e2_ef50, "1e+21"),
        (0x3eb0_c6f7_a0b5_ed8c, "9.999999999999997e-7"),
        (0x3eb0_c6f7_a0b5_ed8d, "0.000001"),
        (0x41b3_de43_5555_5553, "333333333.3333332"),
        (0x41b3_de43_5555_5554, "333333333.33333325"),
        (0x41b3_de43_5555_5555, "333333333.3333333"),
        (0x41b3_de43_5555_5556, "333333333.3333334"),
        (0x41b3_de43_5555_5557, "333333333.33333343"),
        (0xbecb_f647_612f_3696, "-0.0000033333333333333333"),
        (0x4314_3ff3_c1cb_0959, "1424953923781206.2"),
    ];
    for &(bits, expected) in vectors {
        let number = f64::from_bits(bits);
        assert_eq!(format_number(number), expected, "{bits:016x}");
        // And through the parser: the serialization parses back to the same double.
        let parsed = parse(expected.as_bytes()).unwrap();
        assert_eq!(parsed, Json::Number(number));
    }
}

// Goal: members sort by UTF-16 code units (§3.2.3): the emoji (D83D DE00) sorts before U+FB33,
// which code-point or UTF-8 order would reverse.
#[test]
fn members_sort_by_utf16_code_units() {
    check(
        r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#,
        "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}",
    );
    check(
        r#"{"b":[1,{"z":1,"a":2}],"a":{}}"#,
        r#"{"a":{},"b":[1,{"a":2,"z":1}]}"#,
    );
    check(" [ 1 , 2.50 , -0 , 1E2 ] ", "[1,2.5,0,100]");
    check(r#""\u0000\u001f\b\f\t""#, r#""\u0000\u001f\b\f\t""#);
}

// Goal: input outside I-JSON is refused instead of hashed ambiguously.
#[test]
fn non_i_json_is_refused() {
    assert!(parse(br#"{"a":1,"a":2}"#).is_err());
    assert!(parse(br#"{"x":{"a":1,"a":1}}"#).is_err());
    assert!(parse(br#""\ud800""#).is_err());
    assert!(parse(b"1e400").is_err());
    assert!(parse(b"[1,]").is_err());
    assert!(parse(b"{} {}").is_err());
}

proptest::proptest! {
    // Goal: every finite double's serialization parses back to the same double, and canonical
    // text is a fixed point (canonicalizing it again changes nothing).
    #[test]
    fn numbers_round_trip(bits in proptest::prelude::any::<u64>()) {
        let number = f64::from_bits(bits);
        proptest::prop_assume!(number.is_finite());
        let text = format_number(number);
        proptest::prop_assert_eq!(text.parse::<f64>().unwrap(), number);
        let value = parse(format!("[{text}]").as_bytes()).unwrap();
        proptest::prop_assert_eq!(canonicalize(&value), format!("[{text}]").into_bytes());
    }
}
