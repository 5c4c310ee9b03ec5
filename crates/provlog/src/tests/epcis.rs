//! EPCIS 2.0 validation (one valid event per type, each required field refused when missing),
//! RFC 3339 times, GS1 identifier normalisation, and the statement encoding.

use crate::epcis::{format_millis, parse_date_time, parse_offset, validate};
use crate::gs1::{check_digit, gtin_serial_key, normalize};
use crate::jcs::{Json, parse};
use crate::statement::{Action, EventType, Identifier, Role, Statement, StatementError};

/// GS1's Example 9.6.1 ObjectEvent (condensed), and one event of every other type.
pub(crate) const OBJECT_EVENT: &str = r#"{
    "type": "ObjectEvent",
    "eventTime": "2005-04-03T20:33:31.116000-06:00",
    "eventTimeZoneOffset": "-06:00",
    "epcList": ["urn:epc:id:sgtin:0614141.107346.2017", "urn:epc:id:sgtin:0614141.107346.2018"],
    "action": "OBSERVE",
    "bizStep": "shipping",
    "disposition": "in_transit",
    "readPoint": {"id": "urn:epc:id:sgln:0614141.07346.1234"},
    "bizTransactionList": [{"type": "po", "bizTransaction": "http://transaction.acme.com/po/12345678"}]
}"#;

const AGGREGATION_EVENT: &str = r#"{
    "type": "AggregationEvent",
    "eventTime": "2013-06-08T14:58:56.591Z",
    "eventTimeZoneOffset": "+02:00",
    "parentID": "urn:epc:id:sscc:0614141.1234567890",
    "childEPCs": ["urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/21/2018"],
    "childQuantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": 10}],
    "action": "ADD",
    "bizStep": "packing"
}"#;

const TRANSFORMATION_EVENT: &str = r#"{
    "type": "TransformationEvent",
    "eventTime": "2013-10-31T14:58:56.591Z",
    "eventTimeZoneOffset": "+08:00",
    "inputEPCList": ["urn:epc:id:sgtin:4012345.011122.25"],
    "inputQuantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.011111.4444", "quantity": 10, "uom": "KGM"}],
    "outputEPCList": ["urn:epc:id:sgtin:4012345.077889.25"],
    "ilmd": {"bestBeforeDate": "2014-12-10"}
}"#;

const TRANSACTION_EVENT: &str = r#"{
    "type": "TransactionEvent",
    "eventTime": "2020-07-03T10:00:00+08:00",
    "eventTimeZoneOffset": "+08:00",
    "action": "ADD",
    "bizTransactionList": [{"type": "inv", "bizTransaction": "urn:epcglobal:cbv:bt:5200001000008:4711"}],
    "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"]
}"#;

const ASSOCIATION_EVENT: &str = r#"{
    "type": "AssociationEvent",
    "eventTime": "2019-11-01T14:00:00.000+01:00",
    "eventTimeZoneOffset": "+01:00",
    "parentID": "urn:epc:id:grai:4012345.55555.987",
    "childEPCs": ["urn:epc:id:giai:4000001.12345"],
    "action": "ADD"
}"#;

pub(crate) fn event(text: &str) -> Json {
    parse(text.as_bytes()).unwrap()
}

/// `text` with member `name` removed (or replaced by `value`).
fn edited(text: &str, name: &str, value: Option<Json>) -> Json {
    let Json::Object(mut members) = event(text) else {
        panic!("events are objects")
    };
    members.retain(|(n, _)| n != name);
    if let Some(value) = value {
        members.push((name.to_string(), value));
    }
    Json::Object(members)
}

#[track_caller]
fn refused(value: &Json, pointer: &str) {
    let error = validate(value).unwrap_err();
    assert_eq!(error.pointer, pointer, "{error}");
}

// Goal: one valid event of each type passes, with its identifiers normalised and its time in
// UTC milliseconds.
#[test]
fn one_event_of_each_type_is_valid() {
    let object = validate(&event(OBJECT_EVENT)).unwrap();
    assert_eq!(object.event_type, EventType::Object);
    assert_eq!(object.action, Action::Observe);
    assert_eq!(
        format_millis(object.event_time_ms),
        "2005-04-04T02:33:31.116Z"
    );
    assert_eq!(object.event_time_zone_offset_minutes, -360);
    assert_eq!(
        (object.biz_step.as_str(), object.disposition.as_str()),
        ("shipping", "in_transit")
    );
    assert_eq!(
        object.identifiers,
        vec![
            Identifier {
                role: Role::Epc,
                id: "01/10614141073464/21/2017".into()
            },
            Identifier {
                role: Role::Epc,
                id: "01/10614141073464/21/2018".into()
            },
        ]
    );
    let aggregation = validate(&event(AGGREGATION_EVENT)).unwrap();
    assert_eq!(
        aggregation.identifiers,
        vec![
            Identifier {
                role: Role::Parent,
                id: "urn:epc:id:sscc:0614141.1234567890".into()
            },
            Identifier {
                role: Role::Child,
                id: "01/10614141073464/21/2017".into()
            },
            Identifier {
                role: Role::Child,
                id: "01/10614141073464/21/2018".into()
            },
            Identifier {
                role: Role::Class,
                id: "01/04012345123456/10/998877".into()
            },
        ]
    );
    let transformation = validate(&event(TRANSFORMATION_EVENT)).unwrap();
    assert_eq!(transformation.action, Action::None);
    assert_eq!(transformation.identifiers.len(), 3);
    assert_eq!(
        validate(&event(TRANSACTION_EVENT)).unwrap().event_type,
        EventType::Transaction
    );
    assert_eq!(
        validate(&event(ASSOCIATION_EVENT)).unwrap().event_type,
        EventType::Association
    );
}

// Goal: member order and insignificant whitespace do not change the event hash; any value does.
#[test]
fn the_event_hash_is_of_the_canonical_form() {
    let a = validate(&event(r#"{"type":"ObjectEvent","action":"ADD","epcList":["urn:x:1"],"eventTime":"2020-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00"}"#)).unwrap();
    let b = validate(&event(
        r#"{ "eventTimeZoneOffset" : "+00:00", "eventTime":"2020-01-01T00:00:00Z",
        "epcList": [ "urn:x:1" ], "action":"ADD", "type":"ObjectEvent" }"#,
    ))
    .unwrap();
    assert_eq!(a.event_hash, b.event_hash);
    assert_eq!(a.canonical, b.canonical);
    let c = validate(&event(r#"{"type":"ObjectEvent","action":"ADD","epcList":["urn:x:2"],"eventTime":"2020-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00"}"#)).unwrap();
    assert_ne!(a.event_hash, c.event_hash);
}

// Goal: every required field of every type is refused when missing or malformed, with a
// pointer to it.
#[test]
fn required_fields_are_refused_with_a_pointer() {
    refused(&Json::Array(vec![]), "");
    for text in [
        OBJECT_EVENT,
        AGGREGATION_EVENT,
        TRANSFORMATION_EVENT,
        TRANSACTION_EVENT,
        ASSOCIATION_EVENT,
    ] {
        refused(&edited(text, "type", None), "/type");
        refused(
            &edited(text, "type", Some(Json::String("QuantityEvent".into()))),
            "/type",
        );
        refused(&edited(text, "eventTime", None), "/eventTime");
        refused(
            &edited(
                text,
                "eventTime",
                Some(Json::String("2020-02-30T00:00:00Z".into())),
            ),
            "/eventTime",
        );
        refused(
            &edited(text, "eventTimeZoneOffset", None),
            "/eventTimeZoneOffset",
        );
        refused(
            &edited(
                text,
                "eventTimeZoneOffset",
                Some(Json::String("+15:00".into())),
            ),
            "/eventTimeZoneOffset",
        );
    }
    for text in [
        OBJECT_EVENT,
        AGGREGATION_EVENT,
        TRANSACTION_EVENT,
        ASSOCIATION_EVENT,
    ] {
        refused(&edited(text, "action", None), "/action");
        refused(
            &edited(text, "action", Some(Json::String("add".into()))),
            "/action",
        );
    }
    refused(
        &edited(
            TRANSFORMATION_EVENT,
            "action",
            Some(Json::String("ADD".into())),
        ),
        "/action",
    );
    refused(&edited(OBJECT_EVENT, "epcList", None), "/epcList");
    refused(
        &edited(OBJECT_EVENT, "epcList", Some(Json::Array(vec![]))),
        "/epcList",
    );
    refused(
        &edited(OBJECT_EVENT, "epcList", Some(event(r#"["not a uri"]"#))),
        "/epcList/0",
    );
    refused(
        &edited(OBJECT_EVENT, "readPoint", Some(event(r#"{"name":"dock"}"#))),
        "/readPoint/id",
    );
    let no_children = edited(AGGREGATION_EVENT, "childEPCs", None);
    let Json::Object(mut members) = no_children else {
        unreachable!()
    };
    members.retain(|(n, _)| n != "childQuantityList");
    refused(&Json::Object(members), "/childEPCs");
    refused(&edited(AGGREGATION_EVENT, "parentID", None), "/parentID");
    refused(
        &edited(
            AGGREGATION_EVENT,
            "childQuantityList",
            Some(event(r#"[{"epcClass":"urn:x:1","quantity":-1}]"#)),
        ),
        "/childQuantityList/0/quantity",
    );
    refused(
        &edited(TRANSACTION_EVENT, "bizTransactionList", None),
        "/bizTransactionList",
    );
    refused(
        &edited(
            TRANSACTION_EVENT,
            "bizTransactionList",
            Some(event(r#"[{"type":"po"}]"#)),
        ),
        "/bizTransactionList/0/bizTransaction",
    );
    refused(&edited(TRANSACTION_EVENT, "epcList", None), "/epcList");
    refused(&edited(ASSOCIATION_EVENT, "parentID", None), "/parentID");
    let bare = r#"{"type":"TransformationEvent","eventTime":"2020-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00"}"#;
    refused(&event(bare), "/inputEPCList");
    assert!(
        validate(&edited(
            bare,
            "transformationID",
            Some(Json::String("urn:x:t".into()))
        ))
        .is_ok()
    );
    // An OBSERVE aggregation may omit its parent.
    let observe = edited(
        &String::from_utf8(crate::jcs::canonicalize(&edited(
            AGGREGATION_EVENT,
            "parentID",
            None,
        )))
        .unwrap(),
        "action",
        Some(Json::String("OBSERVE".into())),
    );
    assert!(validate(&observe).is_ok());
}

// Goal: RFC 3339 times and offsets parse exactly; malformed ones are refused.
#[test]
fn times_and_offsets() {
    assert_eq!(parse_date_time("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_date_time("1970-01-01T08:00:00.5+08:00"), Some(500));
    assert_eq!(parse_date_time("1969-12-31T23:59:59.999Z"), Some(-1));
    assert_eq!(
        parse_date_time("2000-02-29T12:00:00.123456789z"),
        Some(951_825_600_123)
    );
    assert_eq!(format_millis(951_825_600_123), "2000-02-29T12:00:00.123Z");
    for bad in [
        "2001-02-29T00:00:00Z",
        "2020-01-01 00:00:00Z",
        "2020-01-01T24:00:00Z",
        "2020-01-01T00:00:60Z",
        "2020-01-01T00:00:00",
        "2020-01-01T00:00:00.Z",
        "2020-01-01T00:00:00+0800",
        "2020-1-01T00:00:00Z",
        "２020-01-01T00:00:00Z",
    ] {
        assert_eq!(parse_date_time(bad), None, "{bad}");
    }
    assert_eq!(parse_offset("+14:00"), Some(840));
    assert_eq!(parse_offset("-12:00"), Some(-720));
    assert_eq!(parse_offset("-00:30"), Some(-30));
    for bad in ["+14:01", "-12:30", "08:00", "+8:00", "+08:60", "+08:0é"] {
        assert_eq!(parse_offset(bad), None, "{bad}");
    }
}

// Goal: an SGTIN URN and a Digital Link of the same item share one key; other identifiers stay
// as written.
#[test]
fn identifiers_normalise_to_one_key() {
    assert_eq!(check_digit("1061414107346"), 4);
    assert_eq!(check_digit("0401234512345"), 6);
    let key = "01/10614141073464/21/2017";
    assert_eq!(normalize("urn:epc:id:sgtin:0614141.107346.2017"), key);
    assert_eq!(
        normalize("https://id.gs1.org/01/10614141073464/21/2017"),
        key
    );
    assert_eq!(
        normalize("https://brand.example/01/10614141073464/10/LOT1/21/2017?17=250101"),
        key
    );
    assert_eq!(
        gtin_serial_key("10614141073464", "2017").as_deref(),
        Some(key)
    );
    assert_eq!(gtin_serial_key("10614141073465", "2017"), None);
    assert_eq!(
        normalize("urn:epc:id:sgtin:0614141.107346.A%2FB"),
        "01/10614141073464/21/A/B"
    );
    assert_eq!(
        normalize("urn:epc:class:lgtin:4012345.012345.998877"),
        "01/04012345123456/10/998877"
    );
    assert_eq!(
        normalize("urn:epc:idpat:sgtin:4012345.012345.*"),
        "01/04012345123456"
    );
    assert_eq!(
        normalize("https://id.gs1.org/01/4012345123456"),
        "01/04012345123456"
    );
    // A bad check digit, a malformed escape, an unknown scheme: kept as written.
    for kept in [
        "https://id.gs1.org/01/10614141073465/21/2017",
        "urn:epc:id:sscc:0614141.1234567890",
        "urn:epc:id:sgtin:0614141.10734.2017",
        "urn:epc:id:sgtin:0614141.107346.%zz",
        "urn:example:product:42",
    ] {
        let expected = if kept.ends_with("%zz") {
            "01/10614141073464/21/%zz"
        } else {
            kept
        };
        assert_eq!(normalize(kept), expected);
    }
}

fn statement() -> Statement {
    let validated = validate(&event(AGGREGATION_EVENT)).unwrap();
    Statement {
        event_type: validated.event_type,
        action: validated.action,
        event_time_ms: validated.event_time_ms,
        event_time_zone_offset_minutes: validated.event_time_zone_offset_minutes,
        recorded_ms: 1_795_000_000_000,
        event_hash: validated.event_hash,
        submitter_key_id: 0x1234_5678,
        submitter: "brand.example/acme".into(),
        signature: [5; 64],
        biz_step: validated.biz_step,
        disposition: validated.disposition,
        identifiers: validated.identifiers,
    }
}

// Goal: statements round-trip, and decoding accepts only the bytes encoding writes: every
// truncation and every trailing byte is refused, and no flipped bit decodes to the same
// statement.
#[test]
fn statements_round_trip_strictly() {
    let original = statement();
    let bytes = original.encode().unwrap();
    assert_eq!(Statement::decode(&bytes).unwrap(), original);
    for length in 0..bytes.len() {
        assert!(
            Statement::decode(&bytes[..length]).is_err(),
            "prefix {length}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(Statement::decode(&longer), Err(StatementError::Trailing));
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        if let Ok(decoded) = Statement::decode(&flipped) {
            assert_ne!(decoded, original, "bit {bit}");
            assert_eq!(
                decoded.encode().unwrap(),
                flipped,
                "bit {bit}: one encoding"
            );
        }
    }
    let mut unsorted = original.clone();
    unsorted.identifiers.reverse();
    let mut reversed = unsorted.clone();
    reversed.normalize_identifiers();
    assert_eq!(reversed, original);
    let mut too_long = original;
    too_long.identifiers = (0..2000)
        .map(|i| Identifier {
            role: Role::Epc,
            id: format!("urn:x:{i:040}"),
        })
        .collect();
    assert!(matches!(
        too_long.encode(),
        Err(StatementError::TooLarge { .. })
    ));
}

// Goal: the allocation-free key walker accepts exactly the statements `decode` accepts, and
// emits the keys of the decoded statement: for the statement, each of its prefixes, and every
// single flipped bit.
#[test]
fn keys_agree_with_decode() {
    use crate::statement::{event_key, product_key, statement_keys};
    let bytes = statement().encode().unwrap();
    let keys_of = |entry: &[u8]| {
        let mut keys = Vec::new();
        statement_keys(entry, &mut |key| keys.push(key.to_vec()));
        keys
    };
    let expected = |entry: &[u8]| match Statement::decode(entry) {
        Err(_) => Vec::new(),
        Ok(statement) => {
            let mut keys: Vec<Vec<u8>> = statement
                .identifiers
                .iter()
                .map(|i| product_key(&i.id))
                .collect();
            keys.push(event_key(&statement.event_hash));
            keys
        }
    };
    assert_eq!(keys_of(&bytes).len(), 5);
    assert_eq!(keys_of(&bytes), expected(&bytes));
    for length in 0..bytes.len() {
        assert_eq!(
            keys_of(&bytes[..length]),
            Vec::<Vec<u8>>::new(),
            "prefix {length}"
        );
    }
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(keys_of(&flipped), expected(&flipped), "bit {bit}");
    }
}
