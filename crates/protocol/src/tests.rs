//! Protocol tests: the header layout is pinned byte by byte, every decode error has a frame that
//! triggers it, every operation round-trips, and no bytes make a decoder panic.

use engine::Request;
use ledger::{
    Account, AccountFlags, CreateAccountResult, CreateTransferResult, LimitChange, SetLimitResult,
    Transfer, TransferFlags,
};
use proptest::prelude::*;

use crate::{
    BODY_SIZE_MAX, DecodeError, EVENTS_MAX, Envelope, ErrorCode, HEADER_SIZE, Header, Kind,
    Operation, ReplyBody, RequestBody, decode_header, decode_reply, decode_request, encode_error,
    encode_reply, encode_request,
};

const ENVELOPE: Envelope = Envelope {
    cluster_id: 0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10,
    client_id: 0x1112_1314_1516_1718_191a_1b1c_1d1e_1f20,
    request_number: 0x2122_2324_2526_2728,
};

fn transfer(id: u128) -> Transfer {
    Transfer {
        id,
        debit_account_id: 1,
        credit_account_id: 2,
        amount: 10,
        ledger: 1,
        code: 1,
        ..Transfer::default()
    }
}

fn request_frame(request: &RequestBody) -> Vec<u8> {
    let mut out = Vec::new();
    encode_request(&ENVELOPE, request, &mut out);
    out
}

/// Recomputes the header checksum (and the body checksum, if `body` is set) after a test
/// changed a field, so the decoder gets past the checksum to the check under test.
fn reseal(frame: &mut [u8], body: bool) {
    if body {
        let checksum = crc32c::crc32c(&frame[HEADER_SIZE..]);
        frame[16..20].copy_from_slice(&checksum.to_le_bytes());
    }
    let checksum = crc32c::crc32c(&frame[..124]);
    frame[124..128].copy_from_slice(&checksum.to_le_bytes());
}

/// Decodes a whole frame as the server does (header, then the request body).
fn decode_request_frame(frame: &[u8]) -> Result<RequestBody, DecodeError> {
    let header = decode_header(frame)?;
    decode_request(&header, frame.get(HEADER_SIZE..).unwrap_or_default())
}

fn decode_reply_frame(frame: &[u8]) -> Result<ReplyBody, DecodeError> {
    let header = decode_header(frame)?;
    decode_reply(&header, frame.get(HEADER_SIZE..).unwrap_or_default())
}

// Goal: the header layout in docs/protocol.md is what the code writes. Method: encode a request
// with distinctive field values and read each field back at its documented offset.
#[test]
fn header_layout_is_pinned() {
    let frame = request_frame(&RequestBody::Engine(Request::CreateTransfers(vec![
        transfer(7),
        transfer(8),
    ])));
    assert_eq!(frame.len(), 128 + 2 * 128);
    let u32_at = |o: usize| u32::from_le_bytes(frame[o..o + 4].try_into().unwrap());
    assert_eq!(&frame[0..8], b"ELVNFOLD");
    assert_eq!(u16::from_le_bytes([frame[8], frame[9]]), 1);
    assert_eq!(frame[10], 1, "kind: request");
    assert_eq!(frame[11], 2, "operation: create_transfers");
    assert_eq!(u32_at(12), 256, "body_size");
    assert_eq!(u32_at(16), crc32c::crc32c(&frame[128..]), "body_checksum");
    assert_eq!(u32_at(20), 2, "event_count");
    assert_eq!(
        u64::from_le_bytes(frame[24..32].try_into().unwrap()),
        ENVELOPE.request_number
    );
    assert_eq!(
        u128::from_le_bytes(frame[32..48].try_into().unwrap()),
        ENVELOPE.cluster_id
    );
    assert_eq!(
        u128::from_le_bytes(frame[48..64].try_into().unwrap()),
        ENVELOPE.client_id
    );
    assert_eq!(u32_at(64), 0, "error_code");
    assert!(frame[68..124].iter().all(|b| *b == 0), "reserved");
    assert_eq!(
        u32_at(124),
        crc32c::crc32c(&frame[..124]),
        "header_checksum"
    );
    assert_eq!(&frame[128..256], &transfer(7).to_bytes());

    let mut error = Vec::new();
    encode_error(&ENVELOPE, None, ErrorCode::TooManyConnections, &mut error);
    assert_eq!(error.len(), 128);
    assert_eq!((error[10], error[11]), (3, 0), "kind: error, no operation");
    assert_eq!(u32::from_le_bytes(error[64..68].try_into().unwrap()), 14);
    assert_eq!(
        u32::from_le_bytes(error[16..20].try_into().unwrap()),
        0,
        "checksum of the empty body"
    );
}

// Goal: an error frame's body checksum must be that of the empty body (0), like any other
// frame's body checksum; otherwise the frame would decode and re-encode to other bytes (fuzz
// finding F1, docs/fuzzing.md). Method: an error frame with a non-zero `body_checksum` and a
// resealed header checksum.
#[test]
fn error_frame_with_a_body_checksum_is_refused() {
    assert_eq!(crc32c::crc32c(&[]), 0, "the checksum of the empty body");
    let mut frame = Vec::new();
    encode_error(&ENVELOPE, None, ErrorCode::UnsupportedVersion, &mut frame);
    assert!(decode_header(&frame).is_ok());
    for checksum in [1u32, 7, 0x0200_0000, u32::MAX] {
        let mut bad = frame.clone();
        bad[16..20].copy_from_slice(&checksum.to_le_bytes());
        reseal(&mut bad, false);
        assert_eq!(decode_header(&bad), Err(DecodeError::BodyChecksum));
    }
    assert_eq!(DecodeError::BodyChecksum.code(), ErrorCode::BodyChecksum);
}

// Goal: each decode error has a frame that triggers it, in the documented check order.
// Method: start from a valid frame, break one thing, reseal checksums where the check under
// test comes after them.
#[test]
fn each_decode_error_is_reachable() {
    let valid = request_frame(&RequestBody::Engine(Request::CreateTransfers(vec![
        transfer(1),
    ])));
    assert!(decode_request_frame(&valid).is_ok());
    #[track_caller]
    fn check(frame: &[u8], expected: DecodeError) {
        assert_eq!(decode_request_frame(frame), Err(expected));
    }
    let with = |edit: &dyn Fn(&mut Vec<u8>), seal: Option<bool>| {
        let mut frame = valid.clone();
        edit(&mut frame);
        if let Some(body) = seal {
            reseal(&mut frame, body);
        }
        frame
    };

    check(&valid[..100], DecodeError::HeaderTruncated { size: 100 });
    check(&with(&|f| f[0] = b'X', None), DecodeError::BadMagic);
    check(
        &with(&|f| f[8] = 2, None),
        DecodeError::UnsupportedVersion { version: 2 },
    );
    check(&with(&|f| f[30] ^= 1, None), DecodeError::HeaderChecksum);
    check(
        &with(&|f| f[100] = 1, Some(false)),
        DecodeError::ReservedNotZero,
    );
    check(
        &with(&|f| f[10] = 9, Some(false)),
        DecodeError::UnknownKind { kind: 9 },
    );
    check(
        &with(&|f| f[11] = 0, Some(false)),
        DecodeError::UnknownOperation { operation: 0 },
    );
    check(
        &with(&|f| f[11] = 10, Some(false)),
        DecodeError::UnknownOperation { operation: 10 },
    );
    check(
        &with(
            &|f| f[12..16].copy_from_slice(&(BODY_SIZE_MAX + 128).to_le_bytes()),
            Some(false),
        ),
        DecodeError::FrameTooLarge {
            body_size: BODY_SIZE_MAX + 128,
        },
    );
    check(
        &with(&|f| f[64] = 1, Some(false)),
        DecodeError::ErrorCodeMismatch { error_code: 1 },
    );
    check(
        &with(
            &|f| f[12..16].copy_from_slice(&100u32.to_le_bytes()),
            Some(false),
        ),
        DecodeError::BodySizeNotMultiple {
            body_size: 100,
            event_size: 128,
        },
    );
    check(
        &with(&|f| f[20] = 2, Some(false)),
        DecodeError::EventCountMismatch {
            event_count: 2,
            body_events: 1,
        },
    );
    // 8190 lookup ids fit in the body size limit but exceed the event limit.
    let too_many = with(
        &|f| {
            f[11] = Operation::LookupAccounts as u8;
            f[12..16].copy_from_slice(&(8190u32 * 16).to_le_bytes());
            f[20..24].copy_from_slice(&8190u32.to_le_bytes());
        },
        Some(false),
    );
    check(&too_many, DecodeError::TooManyEvents { event_count: 8190 });
    check(
        &with(
            &|f| {
                f[12..16].copy_from_slice(&0u32.to_le_bytes());
                f[20] = 0;
                f.truncate(128);
            },
            Some(true),
        ),
        DecodeError::EmptyRequest,
    );
    check(
        &with(&|f| f.truncate(200), None),
        DecodeError::BodySizeMismatch {
            expected: 128,
            actual: 72,
        },
    );
    check(&with(&|f| f[130] ^= 1, None), DecodeError::BodyChecksum);

    // A reply is not a request, and a request is not a reply.
    let mut reply = Vec::new();
    encode_reply(&ENVELOPE, &ReplyBody::CreateTransfers(vec![]), &mut reply);
    check(&reply, DecodeError::UnexpectedKind { kind: Kind::Reply });
    assert_eq!(
        decode_reply_frame(&valid),
        Err(DecodeError::UnexpectedKind {
            kind: Kind::Request
        })
    );

    // Limit changes: undefined flag bits, padding, and a value behind an unset flag.
    let limits = request_frame(&RequestBody::Engine(Request::SetAccountLimits(vec![
        LimitChange {
            account_id: 1,
            debit_limit: Some(5),
            credit_limit: None,
        },
        LimitChange {
            account_id: 2,
            debit_limit: None,
            credit_limit: Some(6),
        },
    ])));
    assert!(decode_request_frame(&limits).is_ok());
    for (offset, value) in [(128 + 64 + 48, 4u8), (128 + 64 + 60, 1), (128 + 64 + 16, 1)] {
        let mut frame = limits.clone();
        frame[offset] |= value;
        reseal(&mut frame, true);
        check(&frame, DecodeError::InvalidLimitChange { index: 1 });
    }

    // Credit records: an unknown command kind.
    let mut credit_frame = Vec::new();
    encode_request(
        &Envelope::default(),
        &RequestBody::Engine(Request::Credit(vec![credit::Command::SetLimit {
            line_id: 1,
            limit: 2,
        }])),
        &mut credit_frame,
    );
    assert!(decode_request_frame(&credit_frame).is_ok());
    credit_frame[128] = 200;
    reseal(&mut credit_frame, true);
    check(&credit_frame, DecodeError::InvalidCreditRecord { index: 0 });

    // Reply results: ok listed, out of order, unknown code.
    let results = |records: &[(u32, u32)]| {
        let mut frame = Vec::new();
        let placeholder: Vec<_> = records
            .iter()
            .map(|_| (0, CreateTransferResult::Exists))
            .collect();
        encode_reply(
            &ENVELOPE,
            &ReplyBody::CreateTransfers(placeholder),
            &mut frame,
        );
        for (position, (index, code)) in records.iter().enumerate() {
            let at = 128 + position * 8;
            frame[at..at + 4].copy_from_slice(&index.to_le_bytes());
            frame[at + 4..at + 8].copy_from_slice(&code.to_le_bytes());
        }
        reseal(&mut frame, true);
        decode_reply_frame(&frame)
    };
    assert_eq!(
        results(&[(1, 46), (3, 12)]),
        Ok(ReplyBody::CreateTransfers(vec![
            (1, CreateTransferResult::Exists),
            (3, CreateTransferResult::AccountsMustBeDifferent)
        ]))
    );
    assert_eq!(
        results(&[(1, 46), (3, 0)]),
        Err(DecodeError::OkResultListed { index: 3 })
    );
    assert_eq!(
        results(&[(3, 46), (3, 12)]),
        Err(DecodeError::ResultsOutOfOrder { index: 3 })
    );
    assert_eq!(
        results(&[(9000, 46)]),
        Err(DecodeError::ResultsOutOfOrder { index: 9000 })
    );
    assert_eq!(
        results(&[(2, 18)]),
        Err(DecodeError::UnknownResultCode { index: 2, code: 18 })
    );
}

// Goal: the largest request fits the limits exactly; one more event does not encode.
#[test]
fn limits_fit_a_full_request() {
    let transfers: Vec<Transfer> = (1..=EVENTS_MAX as u128).map(transfer).collect();
    let frame = request_frame(&RequestBody::Engine(Request::CreateTransfers(transfers)));
    assert_eq!(frame.len(), 128 + 8189 * 128);
    assert!(frame.len() <= crate::FRAME_SIZE_MAX);
    let decoded = decode_request_frame(&frame).expect("a full request decodes");
    assert_eq!(decoded.event_count(), EVENTS_MAX);
    let over = std::panic::catch_unwind(|| {
        request_frame(&RequestBody::LookupAccounts(vec![1; EVENTS_MAX + 1]))
    });
    assert!(
        over.is_err(),
        "encoding more than EVENTS_MAX events is a programmer error"
    );
}

// Goal: error codes are stable, unique and name-able; every decode error maps to one.
#[test]
fn error_codes_are_unique() {
    let mut numbers: Vec<u32> = ErrorCode::ALL.iter().map(|c| c.number()).collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), ErrorCode::ALL.len());
    for code in ErrorCode::ALL {
        assert_ne!(code.number(), 0, "0 means no error");
        assert_eq!(ErrorCode::from_number(code.number()), Some(*code));
    }
    assert_eq!(DecodeError::BodyChecksum.code(), ErrorCode::BodyChecksum);
}

fn arb_account() -> impl Strategy<Value = Account> {
    (
        any::<[u128; 6]>(),
        any::<(u64, u32, u32, u32, u16, u16, u64)>(),
    )
        .prop_map(|(w, t)| Account {
            id: w[0],
            debits_pending: w[1],
            debits_posted: w[2],
            credits_pending: w[3],
            credits_posted: w[4],
            user_data_128: w[5],
            user_data_64: t.0,
            user_data_32: t.1,
            reserved: t.2,
            ledger: t.3,
            code: t.4,
            flags: AccountFlags(t.5),
            timestamp: t.6,
        })
}

fn arb_transfer() -> impl Strategy<Value = Transfer> {
    (
        any::<[u128; 6]>(),
        any::<(u64, u32, u32, u32, u16, u16, u64)>(),
    )
        .prop_map(|(w, t)| Transfer {
            id: w[0],
            debit_account_id: w[1],
            credit_account_id: w[2],
            amount: w[3],
            pending_id: w[4],
            user_data_128: w[5],
            user_data_64: t.0,
            user_data_32: t.1,
            timeout: t.2,
            ledger: t.3,
            code: t.4,
            flags: TransferFlags(t.5),
            timestamp: t.6,
        })
}

fn arb_request() -> impl Strategy<Value = RequestBody> {
    let events = 1..20usize;
    prop_oneof![
        prop::collection::vec(arb_account(), events.clone())
            .prop_map(|v| RequestBody::Engine(Request::CreateAccounts(v))),
        prop::collection::vec(arb_transfer(), events.clone())
            .prop_map(|v| RequestBody::Engine(Request::CreateTransfers(v))),
        prop::collection::vec(
            (any::<u128>(), any::<Option<u128>>(), any::<Option<u128>>()),
            events.clone()
        )
        .prop_map(|v| RequestBody::Engine(Request::SetAccountLimits(
            v.into_iter()
                .map(|(account_id, debit_limit, credit_limit)| LimitChange {
                    account_id,
                    debit_limit,
                    credit_limit,
                })
                .collect()
        ))),
        prop::collection::vec(any::<u128>(), events.clone()).prop_map(RequestBody::LookupAccounts),
        prop::collection::vec(any::<u128>(), events).prop_map(RequestBody::LookupTransfers),
    ]
}

/// Sparse results: ascending distinct indexes, codes drawn from the failures of `all`.
fn arb_results<R: Copy + std::fmt::Debug + 'static>(
    all: &'static [R],
) -> impl Strategy<Value = Vec<(u32, R)>> {
    prop::collection::btree_map(0u32..EVENTS_MAX as u32, 1..all.len(), 0..20).prop_map(move |map| {
        map.into_iter()
            .map(|(index, code)| (index, all[code]))
            .collect()
    })
}

fn arb_reply() -> impl Strategy<Value = ReplyBody> {
    // `ALL[0]` is `ok` for every result type, which replies never list.
    assert_eq!(CreateAccountResult::ALL[0], CreateAccountResult::Ok);
    assert_eq!(SetLimitResult::ALL[0], SetLimitResult::Ok);
    prop_oneof![
        arb_results(CreateAccountResult::ALL).prop_map(ReplyBody::CreateAccounts),
        arb_results(CreateTransferResult::ALL).prop_map(ReplyBody::CreateTransfers),
        arb_results(SetLimitResult::ALL).prop_map(ReplyBody::SetAccountLimits),
        prop::collection::vec(arb_account(), 0..10).prop_map(ReplyBody::LookupAccounts),
        prop::collection::vec(arb_transfer(), 0..10).prop_map(ReplyBody::LookupTransfers),
    ]
}

fn arb_envelope() -> impl Strategy<Value = Envelope> {
    any::<(u128, u128, u64)>().prop_map(|(cluster_id, client_id, request_number)| Envelope {
        cluster_id,
        client_id,
        request_number,
    })
}

/// Runs every decoder over `frame`; they may fail but must not panic.
fn decode_all(frame: &[u8]) {
    if let Ok(header) = decode_header(frame) {
        let body = frame.get(HEADER_SIZE..).unwrap_or_default();
        let _ = decode_request(&header, body);
        let _ = decode_reply(&header, body);
        let _ = header.frame_size();
    }
}

proptest! {
    // Goal: every request round-trips, and re-encoding a decoded frame gives the same bytes.
    #[test]
    fn requests_round_trip(envelope in arb_envelope(), request in arb_request()) {
        let mut frame = Vec::new();
        encode_request(&envelope, &request, &mut frame);
        let header = decode_header(&frame).expect("own frames decode");
        prop_assert_eq!(header.kind, Kind::Request);
        prop_assert_eq!(header.envelope, envelope);
        prop_assert_eq!(header.frame_size(), frame.len());
        let decoded = decode_request(&header, &frame[HEADER_SIZE..]).expect("own bodies decode");
        prop_assert_eq!(&decoded, &request);
        let mut again = Vec::new();
        encode_request(&envelope, &decoded, &mut again);
        prop_assert_eq!(again, frame);
    }

    // Goal: every reply and error frame round-trips.
    #[test]
    fn replies_round_trip(envelope in arb_envelope(), reply in arb_reply(), code in 0..ErrorCode::ALL.len()) {
        let mut frame = Vec::new();
        encode_reply(&envelope, &reply, &mut frame);
        let header = decode_header(&frame).expect("own frames decode");
        prop_assert_eq!(header.envelope, envelope);
        prop_assert_eq!(header.operation, Some(reply.operation()));
        prop_assert_eq!(decode_reply(&header, &frame[HEADER_SIZE..]), Ok(reply));

        let code = ErrorCode::ALL[code];
        let mut frame = Vec::new();
        encode_error(&envelope, Some(Operation::CreateTransfers), code, &mut frame);
        let header = decode_header(&frame).expect("own frames decode");
        prop_assert_eq!(header.kind, Kind::Error);
        prop_assert_eq!(ErrorCode::from_number(header.error_code), Some(code));
        prop_assert_eq!(header.operation, Some(Operation::CreateTransfers));
    }

    // Goal: no bytes make a decoder panic. Method: arbitrary bytes, arbitrary bytes behind a
    // valid magic and version with a resealed checksum (so the deeper checks run), and valid
    // frames with flipped, overwritten or cut bytes, resealed or not.
    #[test]
    fn decoding_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        request in arb_request(),
        reply in arb_reply(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
        seal in 0u8..3,
    ) {
        decode_all(&bytes);

        let mut sealed = bytes.clone();
        sealed.resize(sealed.len().max(HEADER_SIZE), 0);
        sealed[0..8].copy_from_slice(b"ELVNFOLD");
        sealed[8..10].copy_from_slice(&1u16.to_le_bytes());
        reseal(&mut sealed, true);
        decode_all(&sealed);

        for mut frame in [request_frame(&request), {
            let mut out = Vec::new();
            encode_reply(&ENVELOPE, &reply, &mut out);
            out
        }] {
            for (offset, value) in &edits {
                let index = offset % frame.len();
                frame[index] = *value;
            }
            if seal > 0 {
                reseal(&mut frame, seal == 2);
            }
            decode_all(&frame);
            frame.truncate(cut % (frame.len() + 1));
            decode_all(&frame);
        }
    }

    // Goal: a flipped byte anywhere in a valid frame is detected (checksums cover every byte).
    #[test]
    fn any_flip_is_detected(request in arb_request(), at in any::<usize>(), bit in 0u8..8) {
        let mut frame = request_frame(&request);
        let index = at % frame.len();
        frame[index] ^= 1 << bit;
        prop_assert!(decode_request_frame(&frame).is_err());
    }
}

// Goal: a hand-built header with inconsistent fields is refused by the body decoders too
// (fields are public, so `decode_request` cannot assume `decode_header` made the header).
#[test]
fn hand_built_headers_are_checked() {
    let header = Header {
        kind: Kind::Request,
        operation: Some(Operation::CreateTransfers),
        envelope: ENVELOPE,
        body_size: 128,
        body_checksum: 0,
        event_count: 5,
        error_code: 0,
    };
    assert_eq!(
        decode_request(&header, &[0; 128]),
        Err(DecodeError::EventCountMismatch {
            event_count: 5,
            body_events: 1
        })
    );
    let header = Header {
        operation: None,
        ..header
    };
    assert_eq!(
        decode_request(&header, &[0; 128]),
        Err(DecodeError::UnknownOperation { operation: 0 })
    );
}
