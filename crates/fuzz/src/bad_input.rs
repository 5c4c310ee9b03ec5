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

// Goal: pin known finding F1 (docs/fuzzing.md): an error frame whose body checksum is not that
// of the empty body (0) still decodes, so it does not re-encode to the same bytes. When
// `decode_header` learns to refuse it, this test turns red and should then expect the error.
#[test]
fn error_frame_with_a_body_checksum_still_decodes() {
    let mut frame = Vec::new();
    encode_error(
        &Envelope::default(),
        None,
        ErrorCode::UnsupportedVersion,
        &mut frame,
    );
    frame[16..20].copy_from_slice(&7u32.to_le_bytes());
    reseal(&mut frame, false, true);
    let header = decode_header(&frame).expect("F1: accepted today");
    assert_eq!(header.body_checksum, 7);
    let mut again = Vec::new();
    encode_error(
        &header.envelope,
        None,
        ErrorCode::UnsupportedVersion,
        &mut again,
    );
    assert_ne!(again, frame, "F1: the frame does not round-trip");
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
