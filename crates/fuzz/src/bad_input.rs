//! Classes of malformed input that had no test elsewhere (docs/bad-input.md lists every class
//! and the test behind it): credit records with a bad enum value or padding in a protocol frame,
//! an error frame with a body checksum, the binary listener's own refusals (a body over its
//! limit, a reply sent to it, a stopped node), JSON with duplicate keys, trailing bytes, invalid
//! UTF-8 or deep nesting, and data directories whose checksummed contents do not decode (a
//! snapshot payload, a log entry), whose record file is gone, or whose segments are out of line.

use std::path::Path;

use engine::Request;
use node::{NodeCore, OpenError, StorageError};
use protocol::{
    DecodeError, Envelope, ErrorCode, HEADER_SIZE, RequestBody, decode_header, decode_request,
    encode_error, encode_request,
};

use crate::targets::http::Http;
use crate::targets::protocol::reseal;
use crate::targets::recovery::{Bundle, DIR, HASH_KEY, config, disk, frame_offsets, reseal_frame};
use crate::targets::samples;

fn decode(frame: &[u8]) -> Result<RequestBody, DecodeError> {
    let header = decode_header(frame)?;
    decode_request(&header, &frame[HEADER_SIZE..])
}

// Goal: a credit record with an enum value out of range, or with non-zero padding, is refused
// as `InvalidCreditRecord` (error frame `invalid_event`), naming the event.
#[test]
fn credit_records_with_bad_enums_or_padding_are_invalid_events() {
    let mut frame = Vec::new();
    let commands = vec![
        credit::Command::SetLimit {
            line_id: 1,
            limit: 2,
        },
        credit::Command::SetStatus {
            line_id: 1,
            change: credit::StatusChange::Close,
        },
    ];
    let request = RequestBody::Engine(Request::Credit(commands));
    encode_request(&Envelope::default(), &request, &mut frame);
    assert_eq!(decode(&frame), Ok(request));
    // Command 1 is set_status: kind byte, line id (16), then the change byte at 17.
    let change = HEADER_SIZE + credit::COMMAND_SIZE + 17;
    for (offset, value) in [(HEADER_SIZE + 127, 1u8), (change, 0), (change, 4)] {
        let mut bad = frame.clone();
        bad[offset] = value;
        reseal(&mut bad, true, true);
        let index = u32::from(offset >= HEADER_SIZE + credit::COMMAND_SIZE);
        assert_eq!(
            decode(&bad),
            Err(DecodeError::InvalidCreditRecord { index })
        );
        assert_eq!(
            DecodeError::InvalidCreditRecord { index }.code(),
            ErrorCode::InvalidEvent
        );
    }
    let mut frame = Vec::new();
    let programs = RequestBody::Engine(Request::CreatePrograms(vec![samples::program(1)]));
    encode_request(&Envelope::default(), &programs, &mut frame);
    assert_eq!(decode(&frame), Ok(programs));
    // The program's rounding byte (after six ids, seven u64, three u32, two u16, four u8).
    for (offset, value) in [(172, 3u8), (171, 2), (255, 1)] {
        let mut bad = frame.clone();
        bad[HEADER_SIZE + offset] = value;
        reseal(&mut bad, true, true);
        assert_eq!(
            decode(&bad),
            Err(DecodeError::InvalidCreditRecord { index: 0 })
        );
    }
}

// Goal: an error frame whose body checksum is not that of the empty body (0) is refused as
// `BodyChecksum` (error frame `body_checksum`), so every error frame that decodes re-encodes to
// the same bytes (fuzz finding F1, docs/fuzzing.md; it used to decode).
#[test]
fn error_frame_with_a_body_checksum_is_refused() {
    let mut frame = Vec::new();
    encode_error(
        &Envelope::default(),
        None,
        ErrorCode::UnsupportedVersion,
        &mut frame,
    );
    let header = decode_header(&frame).expect("a valid error frame");
    let mut again = Vec::new();
    encode_error(
        &header.envelope,
        None,
        ErrorCode::UnsupportedVersion,
        &mut again,
    );
    assert_eq!(again, frame, "a valid error frame round-trips");
    for checksum in [7u32, 0x0200_0000] {
        let mut bad = frame.clone();
        bad[16..20].copy_from_slice(&checksum.to_le_bytes());
        reseal(&mut bad, false, true);
        assert_eq!(decode_header(&bad), Err(DecodeError::BodyChecksum));
    }
    assert_eq!(DecodeError::BodyChecksum.code(), ErrorCode::BodyChecksum);
}

// Goal: JSON that parses nowhere near a request (duplicate keys, nesting past serde's limit,
// bytes after the document, invalid UTF-8 in a string) is a 400 problem, and a wrong type for
// a credit field names the field.
#[test]
fn odd_json_is_a_problem() {
    let mut http = Http::new();
    let rows: [(&str, &[u8], &str); 6] = [
        (
            "/v1/accounts",
            br#"{"accounts":[{"id":"1","id":"2","ledger":1,"code":1}]}"#,
            "invalid_value",
        ),
        (
            "/v1/accounts",
            br#"{"accounts":[],"accounts":[]}"#,
            "invalid_value",
        ),
        ("/v1/transfers", br#"{"transfers":[]} {}"#, "malformed_json"),
        (
            "/v1/transfers",
            b"{\"transfers\":[{\"id\":\"\xff\"}]}",
            "malformed_json",
        ),
        (
            "/v1/credit/commands",
            br#"{"commands":[{"type":"repay","line_id":1}]}"#,
            "invalid_value",
        ),
        (
            "/v1/credit/day-close",
            br#"{"date":"2026-11-01","chunk":-1}"#,
            "invalid_value",
        ),
    ];
    for (target, body, code) in rows {
        let (status, problem) = http.request("POST", target, "application/json", body);
        assert_eq!(
            (status, problem["code"].as_str()),
            (400, Some(code)),
            "{problem}"
        );
    }
    let deep = format!("{{\"accounts\":{}{}}}", "[".repeat(200), "]".repeat(200));
    let (status, problem) =
        http.request("POST", "/v1/accounts", "application/json", deep.as_bytes());
    // serde refuses the first nested array as the wrong type before any depth limit.
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid_value"))
    );
}

/// The committed data directory of a real node run (workload with snapshots).
fn bundle() -> Bundle {
    let corpus = crate::load_corpus("recovery");
    let (_, bytes) = corpus.first().expect("a committed recovery corpus");
    Bundle::decode(bytes).expect("a bundle")
}

fn open(bundle: &Bundle) -> Result<u64, OpenError> {
    let vfs = disk(&bundle.files);
    NodeCore::open(vfs, config(Path::new(DIR), true), HASH_KEY)
        .map(|(core, _)| core.read(engine::StateMachine::op))
}

fn file<'a>(bundle: &'a mut Bundle, prefix: &str, nth_from_end: usize) -> &'a mut Vec<u8> {
    let mut matching: Vec<usize> = (0..bundle.files.len())
        .filter(|&i| bundle.files[i].0.starts_with(prefix))
        .collect();
    matching.sort_by(|&a, &b| bundle.files[a].0.cmp(&bundle.files[b].0));
    let index = matching[matching.len() - 1 - nth_from_end];
    &mut bundle.files[index].1
}

// Goal: what recovery does with data whose checksums pass but whose contents do not decode,
// and with missing files: every case refuses with its own `OpenError`, never a panic.
#[test]
fn recovery_refuses_undecodable_or_missing_data() {
    let original = bundle();
    let last_op = original.digests.last().expect("digests").0;
    assert_eq!(open(&original).expect("the original recovers"), last_op);

    // A snapshot payload that passes its checksum but is not a state: the newest snapshot is
    // refused (not skipped: the file is sound, its content is not).
    let mut bad = original.clone();
    let snapshot = file(&mut bad, "snapshot-", 0);
    snapshot[32 + 3] ^= 0xFF;
    let payload = snapshot[32..].to_vec();
    snapshot[24..28].copy_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    let header = crc32c::crc32c(&snapshot[..28]);
    snapshot[28..32].copy_from_slice(&header.to_le_bytes());
    let error = open(&bad).expect_err("an undecodable snapshot");
    assert!(matches!(error, OpenError::Snapshot { .. }), "{error:?}");

    // A log entry that passes its checksums but is not a batch.
    let mut bad = original.clone();
    let segment = file(&mut bad, "wal-", 0);
    let (start, end) = *frame_offsets(segment).last().expect("frames");
    segment[start + 28] = 99; // the batch version byte
    reseal_frame(&mut segment[start..end]);
    let error = open(&bad).expect_err("an undecodable entry");
    assert!(matches!(error, OpenError::Batch { .. }), "{error:?}");

    // The record file is gone, but the snapshot's cold floor needs evicted transfers.
    let mut bad = original.clone();
    bad.files
        .retain(|(name, _)| name != storage::RECORDS_FILE_NAME);
    let error = open(&bad).expect_err("records missing");
    assert!(
        matches!(error, OpenError::RecordsMissing { .. }),
        "{error:?}"
    );

    // Segments out of line: a copy of the last one under a number far ahead is a gap; the last
    // one deleted leaves a log that ends before the newest snapshot. Both refuse, naming the
    // file and offset.
    let names: Vec<String> = original
        .files
        .iter()
        .map(|(n, _)| n.clone())
        .filter(|n| n.starts_with("wal-"))
        .collect();
    assert!(names.len() >= 2, "the run left several segments: {names:?}");
    let last = names[names.len() - 1].clone();
    let mut gap = original.clone();
    let data = gap
        .files
        .iter()
        .find(|(n, _)| *n == last)
        .map(|(_, d)| d.clone())
        .expect("the last segment");
    gap.files
        .push(("wal-00000000000000009000.log".to_string(), data));
    let error = open(&gap).expect_err("a gap between segments");
    assert!(
        matches!(error, OpenError::Storage(StorageError::Corrupt { .. })),
        "{error:?}"
    );
    let mut bad = original.clone();
    bad.files.retain(|(n, _)| *n != last);
    let error = open(&bad).expect_err("the log no longer reaches the newest snapshot");
    assert!(
        matches!(error, OpenError::Storage(StorageError::Corrupt { .. })),
        "{error:?}"
    );
}

/// Sends `frame` on a new connection; returns the code of the error frame that answers it.
async fn refusal(addr: std::net::SocketAddr, frame: &[u8]) -> Option<ErrorCode> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    stream.write_all(frame).await.expect("writes");
    let mut header = [0u8; HEADER_SIZE];
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_exact(&mut header),
    )
    .await
    .expect("an answer in time")
    .expect("a whole header");
    let header = decode_header(&header).expect("a valid header");
    assert_eq!(header.kind, protocol::Kind::Error);
    ErrorCode::from_number(header.error_code)
}

// Goal: the binary listener's refusals that no other test reaches: a body over the server's own
// (lower) limit is `frame_too_large`, a reply sent to the server is `unexpected_kind`, and a
// request to a stopped node is `node_unavailable` (not applied).
#[test]
fn tcp_refusals_of_the_server_itself() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (node, _) = node::Node::open(node::Config::new(dir.path())).expect("a node");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let config = server::TcpConfig {
            body_size_max: 1024,
            ..server::TcpConfig::default()
        };
        let tcp = server::TcpServer::bind("127.0.0.1:0", node.clone(), config)
            .await
            .expect("binds");
        let addr = tcp.local_addr().expect("an address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(tcp.serve(async move {
            let _ = stopped.await;
        }));
        let request = |transfers: u128| {
            let mut frame = Vec::new();
            let body = RequestBody::Engine(Request::CreateTransfers(
                (1..=transfers)
                    .map(|id| samples::transfer(id, 1, 2, 1, 0))
                    .collect(),
            ));
            encode_request(&Envelope::default(), &body, &mut frame);
            frame
        };
        // 9 transfers are 1152 bytes of body, over this server's 1024.
        assert_eq!(
            refusal(addr, &request(9)).await,
            Some(ErrorCode::FrameTooLarge)
        );
        let mut reply = Vec::new();
        protocol::encode_reply(
            &Envelope::default(),
            &protocol::ReplyBody::CreateTransfers(Vec::new()),
            &mut reply,
        );
        assert_eq!(refusal(addr, &reply).await, Some(ErrorCode::UnexpectedKind));
        let stopping = node.clone();
        tokio::task::spawn_blocking(move || stopping.shutdown())
            .await
            .expect("the node stops");
        assert_eq!(
            refusal(addr, &request(1)).await,
            Some(ErrorCode::NodeUnavailable)
        );
        let _ = stop.send(());
        task.await.expect("the listener stops");
    });
}

/// The bytes of a credit snapshot at the start of `bytes`, measured by its counts alone (the
/// records may be inconsistent: that is what some saved inputs are about). `None` if truncated.
fn credit_snapshot_len(bytes: &[u8]) -> Option<usize> {
    let count = |at: usize| -> Option<usize> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    // Magic, business date, day-close cursor, id sequence; then programs, lines, borrowers,
    // purchases and plans (count and fixed records); then each program's funding.
    let mut at = 24;
    let programs = count(at)?;
    for size in [credit::PROGRAM_SIZE, 313, 24, 60, 128] {
        at += 4 + size * count(at)?;
    }
    for _ in 0..programs {
        at += 32;
        at += 4 + 74 * count(at)?;
    }
    (at <= bytes.len()).then_some(at)
}

/// Rewrites the state snapshots of a saved bundle into the current snapshot format when the
/// format has gained a component since the input was saved (the state of a newer product
/// module, empty in these runs, between the credit part and the ledger's): the credit part is
/// cut by its counts, and what an empty state encodes between the two is inserted, under the
/// current magic, resealed. A snapshot already in the current format is left as it is. So the
/// saved inputs keep testing what they found, not the magic.
pub(crate) fn in_current_format(bundle: &mut Bundle) {
    let empty = engine::StateMachine::new(HASH_KEY).encode_snapshot();
    let mut credit = Vec::new();
    credit::Credit::new(HASH_KEY).encode_snapshot(&mut credit);
    let mut ledger = Vec::new();
    ledger::Ledger::new(HASH_KEY).encode_snapshot(&mut ledger);
    assert!(
        empty[16..].starts_with(&credit) && empty.ends_with(&ledger),
        "a state snapshot is the credit part, then others, then the ledger's"
    );
    let between = &empty[16 + credit.len()..empty.len() - ledger.len()];
    let magic = &empty[..8];
    for (name, data) in &mut bundle.files {
        if !name.starts_with("snapshot-") || data.len() < 32 + 16 {
            continue;
        }
        let payload = &data[32..];
        if &payload[..8] == magic || payload[..7] != magic[..7] {
            continue;
        }
        let Some(credit_len) = credit_snapshot_len(&payload[16..]) else {
            continue;
        };
        let mut upgraded = magic.to_vec();
        upgraded.extend_from_slice(&payload[8..16 + credit_len]);
        upgraded.extend_from_slice(between);
        upgraded.extend_from_slice(&payload[16 + credit_len..]);
        let mut header = data[..32].to_vec();
        header[16..24].copy_from_slice(&(upgraded.len() as u64).to_le_bytes());
        header[24..28].copy_from_slice(&crc32c::crc32c(&upgraded).to_le_bytes());
        let checksum = crc32c::crc32c(&header[..28]);
        header[28..32].copy_from_slice(&checksum.to_le_bytes());
        header.extend_from_slice(&upgraded);
        *data = header;
    }
}

/// An open error with its chain of causes, as one line.
fn explain(error: &OpenError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

// Goal (fuzz findings F3-F5, docs/fuzzing.md): each saved `recovery-sealed` crash input (data
// whose checksums pass but which cannot be applied) is now refused at open with an error that
// names the op and what is wrong, instead of panicking in replay or after it. Inputs:
// `crates/fuzz/crashes/recovery-sealed-*.bin`, as the fuzzer saved them (their snapshots
// brought to the current format by `in_current_format`).
#[test]
fn saved_recovery_crashes_are_refused_by_name() {
    let cases = [
        // F3: a log entry's timestamp goes back ("batch timestamps increase" in apply).
        (
            "7e31dccdbd0dc32b",
            "log entry op 4 does not follow the state: batch timestamp 1742076257877358470 \
             with 1 event timestamps does not follow engine time 1795556503448444031",
        ),
        // F3: op 7 is stamped at the end of u64 (its credit command overflowed the credit
        // clock); it now applies, and the next entry, garbage, is refused.
        ("4bb146e7d4237232", "log entry op 8 does not decode"),
        // F4: the snapshot file of op 27 holds the state of another op.
        (
            "6b442ebef65a356a",
            "snapshot at op 27 holds the state of op 52776558133275, not of its own op",
        ),
        // F5: credit states whose records disagree ("borrower of a line", a subtraction in
        // funding, `Owed::total`, billing a plan: panics in day-close after recovery).
        (
            "3286f098dda62ec0",
            // A shifted line record: overdue since day 9001 with nothing owed. (It was refused
            // for its borrower exposures while snapshots listed them: `EFCREDT2`.)
            "credit state inconsistent: line overdue without a debt (id 1001)",
        ),
        (
            "c7edee9a1d02c3a4",
            "credit state inconsistent: line credit balance beside a debt (id 1001)",
        ),
        (
            "6992efeb24440f28",
            "credit state inconsistent: line balance overflows u64 (id 1001)",
        ),
        (
            "6681764526ce835f",
            "credit state inconsistent: active plan with nothing left to bill (id 505)",
        ),
    ];
    for (hash, expected) in cases {
        let path = crate::crash_dir().join(format!("recovery-sealed-{hash}.bin"));
        let bytes = std::fs::read(&path).expect("a saved crash input");
        let mut bundle = Bundle::decode(&bytes).expect("a bundle");
        in_current_format(&mut bundle);
        let error = open(&bundle).expect_err("refused");
        let text = explain(&error);
        assert!(text.contains(expected), "{hash}: {text}");
    }
}
