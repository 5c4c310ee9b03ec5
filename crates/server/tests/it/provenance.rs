//! End-to-end tests of the provenance endpoints (`/v1/provenance/...`): signed EPCIS events
//! submitted over HTTP, a product's history with proofs that verify against the signed
//! checkpoint, the offline bundle, the tlog-tiles paths read back by a client-side verifier,
//! witness consistency proofs and cosignatures, the problems of bad input, and a restart.

use std::path::Path;

use provenance::{
    CosignatureV1Signer, Ed25519Signer, NoteSigner, Tile, TileHashes, TileSet, base64, leaf_hash,
    open_checkpoint, prove_inclusion, verify_consistency, verify_inclusion,
};
use provlog::ProvenanceConfig;
use serde_json::{Value, json};
use server::{Server, ServerConfig};

use crate::{Answer, TestServer};

const BRAND: &str = "brand.example/acme";
const ORIGIN: &str = "trace.example/2026h2";

fn brand() -> Ed25519Signer {
    Ed25519Signer::new(BRAND, &[11; 32]).unwrap()
}

fn witness() -> CosignatureV1Signer {
    CosignatureV1Signer::new("witness.example/w1", &[9; 32]).unwrap()
}

async fn start(dir: &Path) -> TestServer {
    let mut config = ServerConfig::new(dir, "127.0.0.1:0");
    config.provenance = Some(ProvenanceConfig {
        origin: ORIGIN.to_string(),
        submitters: vec![brand().verifier()],
        witnesses: vec![witness().verifier()],
        ..ProvenanceConfig::new(dir.join("provenance"))
    });
    let server = Server::bind(config).await.expect("server starts");
    let base = format!("http://{}", server.local_addr().expect("bound"));
    let node = server.node().clone();
    let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async move {
        let _ = stop.await;
    }));
    TestServer {
        base,
        node,
        http: reqwest::Client::new(),
        shutdown,
        task,
    }
}

fn object_event(serial: u32, minute: u32) -> Value {
    json!({
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "eventTime": format!("2026-11-11T00:{minute:02}:00+08:00"),
        "eventTimeZoneOffset": "+08:00",
        "epcList": [format!("urn:epc:id:sgtin:0614141.107346.{serial}")],
        "readPoint": {"id": "urn:epc:id:sgln:0614141.07346.1234"}
    })
}

fn signed(signer: &Ed25519Signer, event: &Value) -> Value {
    let parsed = provlog::jcs::parse(event.to_string().as_bytes()).unwrap();
    let message = provlog::statement::signed_message(&provlog::epcis::event_hash(&parsed));
    json!({ "event": event, "signature": base64::encode(&signer.sign(&message)) })
}

fn submission(events: &[Value]) -> Value {
    json!({
        "submitter": BRAND,
        "events": events.iter().map(|e| signed(&brand(), e)).collect::<Vec<_>>(),
    })
}

#[track_caller]
fn problem(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.content_type, "application/problem+json");
    assert_eq!(answer.body["code"], code, "{}", answer.text);
}

fn hash(text: &Value) -> [u8; 32] {
    base64::decode(text.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

async fn bytes(server: &TestServer, path: &str) -> (u16, Vec<u8>) {
    let response = server
        .http
        .get(format!("{}{path}", server.base))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

// Goal: the whole provenance flow over HTTP, checked the way an outside verifier would.
#[tokio::test]
async fn provenance_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let keys = server.get("/v1/provenance/keys").await;
    assert_eq!(keys.status, 200, "{}", keys.text);
    assert_eq!(keys.body["origin"], ORIGIN);
    let log_key =
        provenance::Ed25519Verifier::from_vkey(keys.body["log_key"].as_str().unwrap()).unwrap();
    assert_eq!(keys.body["submitters"][0], brand().verifier().vkey());

    // Submit: 30 events about 10 serials; then a resubmission.
    let events: Vec<Value> = (0..30).map(|i| object_event(100 + i % 10, i)).collect();
    let answer = server
        .post("/v1/provenance/events", &submission(&events[..20]))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["tree_size"], 20);
    assert_eq!(answer.body["events"][3]["index"], 3);
    assert_eq!(answer.body["events"][3]["duplicate"], false);
    let answer = server
        .post("/v1/provenance/events", &submission(&events[15..]))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["tree_size"], 30);
    assert_eq!(
        answer.body["events"][0],
        json!({
            "index": 15, "event_hash": answer.body["events"][0]["event_hash"], "duplicate": true
        })
    );
    assert_eq!(answer.body["events"][5]["index"], 20);

    // Bad submissions change nothing.
    let mut stranger = submission(&events[..1]);
    stranger["submitter"] = json!("stranger.example/x");
    problem(
        &server.post("/v1/provenance/events", &stranger).await,
        403,
        "unknown_submitter",
    );
    let mut forged = submission(&[object_event(1, 1)]);
    forged["events"][0]["signature"] = signed(&brand(), &object_event(2, 2))["signature"].clone();
    let answer = server.post("/v1/provenance/events", &forged).await;
    problem(&answer, 403, "invalid_signature");
    assert_eq!(answer.body["pointer"], "/events/0/signature");
    let mut invalid = object_event(1, 1);
    invalid["action"] = json!("SHIP");
    let answer = server
        .post("/v1/provenance/events", &submission(&[invalid]))
        .await;
    problem(&answer, 400, "invalid_value");
    assert_eq!(answer.body["pointer"], "/events/0/event/action");
    let duplicate_member = br#"{"submitter":"brand.example/acme","events":[{"event":{"type":"ObjectEvent","type":"ObjectEvent"},"signature":"AA=="}]}"#;
    let answer = server
        .post_raw(
            "/v1/provenance/events",
            Some("application/json"),
            duplicate_member.to_vec(),
        )
        .await;
    problem(&answer, 400, "invalid_value");
    problem(
        &server
            .post(
                "/v1/provenance/events",
                &json!({"submitter": BRAND, "events": []}),
            )
            .await,
        400,
        "empty_batch",
    );
    problem(
        &server
            .post_raw("/v1/provenance/events", Some("text/plain"), b"{}".to_vec())
            .await,
        415,
        "unsupported_media_type",
    );
    problem(
        &server
            .post(
                "/v1/provenance/events",
                &json!({"submitter": BRAND, "events": [], "x": 1}),
            )
            .await,
        400,
        "unknown_field",
    );

    // The history of serial 103: events 3, 13 and 23 (indexes 3, 13, 23).
    let history = server
        .get("/v1/provenance/products?id=urn:epc:id:sgtin:0614141.107346.103")
        .await;
    assert_eq!(history.status, 200, "{}", history.text);
    let body = &history.body;
    assert_eq!(body["product"], "01/10614141073464/21/103");
    assert_eq!(body["tree_size"], 30);
    assert_eq!(body["total"], 3);
    let checkpoint = body["checkpoint"].as_str().unwrap();
    let opened = open_checkpoint(checkpoint.as_bytes(), ORIGIN, &log_key, &[], 0).unwrap();
    assert_eq!(opened.checkpoint.size(), 30);
    let root = hash(&body["root"]);
    assert_eq!(*opened.checkpoint.root(), root);
    let mut indexes = Vec::new();
    for event in body["events"].as_array().unwrap() {
        let index = event["index"].as_u64().unwrap();
        indexes.push(index);
        assert_eq!(event["type"], "ObjectEvent");
        assert_eq!(event["submitter"], BRAND);
        assert_eq!(
            event["identifiers"],
            json!([{"role": "epc", "id": "01/10614141073464/21/103"}])
        );
        let statement = base64::decode(event["statement"].as_str().unwrap()).unwrap();
        let proof: Vec<[u8; 32]> = event["inclusion_proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(hash)
            .collect();
        verify_inclusion(&leaf_hash(&statement), index, 30, &proof, &root).unwrap();
    }
    assert_eq!(indexes, vec![3, 13, 23]);
    let bundle = base64::decode(body["bundle"].as_str().unwrap()).unwrap();
    let verified = provlog::verify_bundle(&bundle, &log_key, &[], 0).unwrap();
    assert_eq!(verified.events.len(), 3);
    // The same product by Digital Link and by GTIN + serial; the bundle endpoint.
    let by_link = server
        .get("/v1/provenance/products?id=https://id.gs1.org/01/10614141073464/21/103&limit=1")
        .await;
    assert_eq!(by_link.body["total"], 3);
    assert_eq!(by_link.body["events"].as_array().unwrap().len(), 1);
    assert_eq!(by_link.body["events"][0]["index"], 23);
    let (status, raw) = bytes(
        &server,
        "/v1/provenance/bundle?gtin=10614141073464&serial=103",
    )
    .await;
    assert_eq!((status, raw), (200, bundle.clone()));
    let text = server
        .get("/v1/provenance/bundle?gtin=10614141073464&serial=103&encoding=base64")
        .await;
    assert_eq!(base64::decode(&text.text).unwrap(), bundle);
    problem(
        &server
            .get("/v1/provenance/products?id=urn:epc:id:sgtin:0614141.107346.999")
            .await,
        404,
        "product_not_found",
    );
    problem(
        &server.get("/v1/provenance/products").await,
        400,
        "missing_field",
    );
    problem(
        &server
            .get("/v1/provenance/products?gtin=10614141073465&serial=1")
            .await,
        400,
        "invalid_value",
    );

    // tlog-tiles: the checkpoint, the level-0 tile and the bundle; a proof rebuilt from tiles
    // alone equals the served one.
    let served = server.get("/v1/provenance/checkpoint").await;
    assert_eq!(served.content_type, "text/plain; charset=utf-8");
    assert_eq!(served.text, checkpoint);
    let mut tiles = TileSet::new();
    for tile in provenance::partial_tiles(30) {
        let (status, hashes) = bytes(&server, &format!("/v1/provenance/{}", tile.path())).await;
        assert_eq!(status, 200, "{}", tile.path());
        tiles.insert(tile, hashes);
    }
    let from_tiles = prove_inclusion(&TileHashes::new(&tiles, 30), 13, 30).unwrap();
    verify_inclusion(
        &leaf_hash(&base64::decode(body["events"][1]["statement"].as_str().unwrap()).unwrap()),
        13,
        30,
        &from_tiles,
        &root,
    )
    .unwrap();
    let tile = Tile {
        level: 0,
        index: 0,
        width: 30,
    };
    let (status, entries) = bytes(&server, &format!("/v1/provenance/{}", tile.bundle_path())).await;
    assert_eq!(status, 200);
    let entries = provenance::decode_bundle(&entries).unwrap();
    let (_, hashes) = bytes(&server, &format!("/v1/provenance/{}", tile.path())).await;
    provenance::check_bundle(&entries, &hashes).unwrap();
    for missing in [
        "tile/0/000.p/31",
        "tile/0/000",
        "tile/1/000.p/1",
        "tile/0/0",
        "tile/entries/000.p/31",
        "tile/x",
    ] {
        problem(
            &server.get(&format!("/v1/provenance/{missing}")).await,
            404,
            "tile_not_found",
        );
    }

    // Proofs for monitors and witnesses.
    let proof = server.get("/v1/provenance/proof?index=7").await;
    assert_eq!(proof.body["tree_size"], 30);
    let path: Vec<[u8; 32]> = proof.body["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(hash)
        .collect();
    verify_inclusion(&hash(&proof.body["leaf_hash"]), 7, 30, &path, &root).unwrap();
    let old = server.get("/v1/provenance/checkpoint").await; // still 30
    let consistency = server.get("/v1/provenance/consistency?old=20").await;
    assert_eq!(consistency.body["new"], 30);
    let path: Vec<[u8; 32]> = consistency.body["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(hash)
        .collect();
    let root_20 = {
        let proof = server.get("/v1/provenance/proof?index=0&size=20").await;
        let path: Vec<[u8; 32]> = proof.body["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(hash)
            .collect();
        provenance::root_from_inclusion_proof(&hash(&proof.body["leaf_hash"]), 0, 20, &path)
            .unwrap()
    };
    verify_consistency(20, 30, &path, &root_20, &root).unwrap();
    assert_eq!(
        server.get("/v1/provenance/consistency?old=0").await.body["proof"],
        json!([])
    );
    problem(
        &server.get("/v1/provenance/consistency?old=31").await,
        400,
        "invalid_value",
    );
    problem(
        &server.get("/v1/provenance/consistency").await,
        400,
        "missing_field",
    );
    problem(
        &server.get("/v1/provenance/proof?index=30").await,
        400,
        "invalid_value",
    );

    // Witness cosignatures.
    problem(
        &server.get("/v1/provenance/checkpoint/cosigned").await,
        404,
        "checkpoint_not_found",
    );
    let mut note = provenance::Note::parse(old.text.as_bytes()).unwrap();
    note.add_signature(&witness().at(1_795_000_000)).unwrap();
    let answer = server
        .post_raw(
            "/v1/provenance/cosignatures",
            Some("text/plain"),
            note.encode().into_bytes(),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let witness_key = witness().verifier();
    let witnesses: Vec<&dyn provenance::NoteVerifier> = vec![&witness_key];
    let cosigned = server.get("/v1/provenance/checkpoint").await;
    open_checkpoint(cosigned.text.as_bytes(), ORIGIN, &log_key, &witnesses, 1).unwrap();
    assert_eq!(
        server.get("/v1/provenance/checkpoint/cosigned").await.text,
        cosigned.text
    );
    let stranger = CosignatureV1Signer::new("witness.example/w9", &[4; 32]).unwrap();
    let mut note = provenance::Note::parse(old.text.as_bytes()).unwrap();
    note.add_signature(&stranger.at(5)).unwrap();
    problem(
        &server
            .post_raw(
                "/v1/provenance/cosignatures",
                None,
                note.encode().into_bytes(),
            )
            .await,
        403,
        "cosignature_rejected",
    );
    // A bundle now carries the cosignature: it verifies with a witness quorum of 1.
    let bundle = server
        .get("/v1/provenance/bundle?id=urn:epc:id:sgtin:0614141.107346.103&encoding=base64")
        .await;
    let bundle = base64::decode(&bundle.text).unwrap();
    provlog::verify_bundle(&bundle, &log_key, &witnesses, 1).unwrap();

    // The document lists the routes.
    let document = server.get("/v1/openapi.json").await;
    for path in [
        "/v1/provenance/events",
        "/v1/provenance/products",
        "/v1/provenance/tile/{path}",
        "/v1/provenance/cosignatures",
    ] {
        assert!(document.body["paths"].get(path).is_some(), "{path}");
    }

    // A restart recovers the log, its index and its cosigned checkpoint.
    server.stop().await;
    let server = start(dir.path()).await;
    let again = server
        .get("/v1/provenance/products?id=urn:epc:id:sgtin:0614141.107346.103")
        .await;
    assert_eq!(again.body["events"], body["events"]);
    assert_eq!(
        server.get("/v1/provenance/checkpoint").await.text,
        cosigned.text
    );
    server.stop().await;
}

// Goal: a server without a provenance log answers its routes 404.
#[tokio::test]
async fn provenance_can_be_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(dir.path(), "127.0.0.1:0");
    config.provenance = None;
    let server = Server::bind(config).await.unwrap();
    assert!(server.provenance().is_none());
    let base = format!("http://{}", server.local_addr().unwrap());
    let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async move {
        let _ = stop.await;
    }));
    let answer = reqwest::get(format!("{base}/v1/provenance/checkpoint"))
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 404);
    let _ = shutdown.send(());
    task.await.unwrap().unwrap();
    assert!(!dir.path().join("provenance").exists());
}
