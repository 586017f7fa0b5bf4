//! The client JSON-RPC of a real one-validator node: every rejection reason of the protocol,
//! malformed requests, transaction status, proofs verified against the genesis, blocks and
//! `newHeads` over WebSocket.

mod common;

use std::time::Duration;

use common::{raw_post, reason, send, transfer, tx_status, wait_finalized, Testnet};
use jsonrpsee_core::client::{ClientT, SubscriptionClientT};
use jsonrpsee_core::rpc_params;
use tandem_node::api::{methods, AccountAt, BlockSummary, HeadNotification, ProofAt, TxStatus};
use tandem_node::client::verify_proof;
use tandem_node::config::EmptyBlocksMode;
use tandem_node::testnet::{account_key, ACCOUNT_BALANCE};
use tandem_types::{Address, Genesis};

const WAIT: Duration = Duration::from_secs(60);

fn genesis(net: &Testnet) -> Genesis {
    Genesis::from_json(&std::fs::read_to_string(net.genesis_path()).expect("genesis"))
        .expect("genesis parses")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rejection_reason_is_reachable() {
    let mut net = Testnet::generate(1, 16, |config| {
        config.mempool.txs_max = 4;
        // A lone validator has no peers: clients may fill its whole pool.
        config.mempool.client_share_percent = 100;
        config.mempool.sender_txs_max = 2;
        config.consensus.empty_blocks = EmptyBlocksMode::Never;
    });
    net.start_all();
    net.wait_for_height(0, 0, WAIT).await;
    let client = net.client(0);
    let to = Address([7; 32]);
    let rejected = |result: Result<_, _>| reason(&result.expect_err("rejected"));

    // Two senders hold two transactions each behind a nonce gap: the pool (4) is full.
    let (a, b, c) = (account_key(1), account_key(2), account_key(3));
    let held_a = transfer(&a, 1, to, 1, 1);
    send(&client, &held_a).await.expect("held");
    send(&client, &transfer(&a, 2, to, 1, 1)).await.expect("held");
    assert_eq!(rejected(send(&client, &transfer(&a, 3, to, 1, 1)).await), "sender_limit");
    send(&client, &transfer(&b, 1, to, 1, 1)).await.expect("held");
    send(&client, &transfer(&b, 2, to, 1, 1)).await.expect("held");
    let full = send(&client, &transfer(&c, 1, to, 1, 1)).await.expect_err("full");
    assert_eq!(reason(&full), "mempool_full");
    let jsonrpsee_core::ClientError::Call(object) = &full else { panic!("{full:?}") };
    let data: serde_json::Value =
        serde_json::from_str(object.data().expect("data").get()).expect("json");
    assert!(data["retry_after_ms"].as_u64().is_some(), "{data}");

    assert_eq!(rejected(send(&client, &held_a).await), "duplicate");
    assert_eq!(rejected(send(&client, &transfer(&c, 500, to, 1, 1)).await), "nonce_too_high");
    assert_eq!(rejected(send(&client, &transfer(&c, 0, to, 1, 0)).await), "fee_too_low");
    let too_much = transfer(&c, 0, to, ACCOUNT_BALANCE, 1);
    assert_eq!(rejected(send(&client, &too_much).await), "insufficient_balance");
    // The signature is checked last: a fee that could make room reaches it.
    let mut forged = transfer(&c, 0, to, 1, 10);
    forged.signature.0[5] ^= 1;
    assert_eq!(rejected(send(&client, &forged).await), "bad_signature");
    let mut other_chain = transfer(&c, 0, to, 1, 1);
    other_chain.tx.chain_id += 1;
    let other_chain = other_chain.tx.sign(&c);
    assert_eq!(rejected(send(&client, &other_chain).await), "wrong_chain");
    let garbage = client.request::<String, _>(methods::SEND_TRANSACTION, rpc_params!["0x0102"]);
    assert_eq!(reason(&garbage.await.expect_err("garbage")), "bad_encoding");
    for not_hex in ["0xzz", "0x012", "0102"] {
        let sent = client.request::<String, _>(methods::SEND_TRANSACTION, rpc_params![not_hex]);
        assert_eq!(reason(&sent.await.expect_err(not_hex)), "bad_encoding", "{not_hex}");
    }
    let huge = format!("0x{}", "ab".repeat(5_000));
    let huge = client.request::<String, _>(methods::SEND_TRANSACTION, rpc_params![huge]);
    assert_eq!(reason(&huge.await.expect_err("huge")), "too_large");

    // A higher fee evicts a held tail; the ready transaction is decided at once.
    let ready = transfer(&c, 0, to, 5, 10);
    let hash = send(&client, &ready).await.expect("evicts a lower fee");
    wait_finalized(&client, &hash, WAIT).await;
    let again = transfer(&c, 0, to, 6, 10);
    assert_eq!(rejected(send(&client, &again).await), "nonce_too_low");
    let b_tail = transfer(&b, 2, to, 1, 1).hash();
    let a_tail = transfer(&a, 2, to, 1, 1).hash();
    let evicted = [tx_status(&client, &b_tail).await, tx_status(&client, &a_tail).await];
    assert!(
        evicted
            .iter()
            .any(|s| s.status == TxStatus::Unknown && s.reason.as_deref() == Some("evicted")),
        "one tail was evicted: {evicted:?}"
    );
    assert_eq!(tx_status(&client, &held_a.hash()).await.status, TxStatus::Pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_json_rpc_errors() {
    let mut net = Testnet::generate(1, 4, |config| config.rpc.max_request_bytes = 64 * 1024);
    net.start_all();
    net.wait_for_height(0, 0, WAIT).await;
    let address = net.rpc_url(0).trim_start_matches("http://").to_string();
    let call = |body: &str| raw_post(&address, body.as_bytes());
    let error_of = |(code, body): (u16, String)| {
        let json: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("HTTP {code}: {body:?} is not JSON: {e}"));
        (json["error"]["code"].as_i64().unwrap_or(0), json["error"]["data"]["reason"].clone())
    };

    assert_eq!(error_of(call("{not json")).0, -32700);
    assert_eq!(error_of(call("[]")).0, -32600);
    assert_eq!(error_of(call(r#"{"jsonrpc":"2.0","id":1,"method":"nope"}"#)).0, -32601);
    let wrong_count = r#"{"jsonrpc":"2.0","id":1,"method":"tandem_chainId","params":[1]}"#;
    assert_eq!(error_of(call(wrong_count)), (-32602, "invalid_params".into()));
    let named = r#"{"jsonrpc":"2.0","id":1,"method":"tandem_getAccount","params":{"a":1}}"#;
    assert_eq!(error_of(call(named)), (-32602, "invalid_params".into()));
    let bad_address = r#"{"jsonrpc":"2.0","id":1,"method":"tandem_getAccount","params":["0x12"]}"#;
    assert_eq!(error_of(call(bad_address)), (-32602, "invalid_params".into()));
    let not_hex = r#"{"jsonrpc":"2.0","id":1,"method":"tandem_sendTransaction","params":[7]}"#;
    assert_eq!(error_of(call(not_hex)), (-32602, "invalid_params".into()));
    let send = |params: &str| {
        error_of(call(&format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tandem_sendTransaction","params":{params}}}"#
        )))
    };
    assert_eq!(send(r#"["0x0102", 2]"#), (-32602, "invalid_params".into()));
    assert_eq!(send(r#"{"tx":"0x0102"}"#), (-32602, "invalid_params".into()));
    assert_eq!(send("[]"), (-32602, "invalid_params".into()));
    // A string with JSON escapes reads as the same string: here two bytes of no transaction.
    assert_eq!(send(r#"["\u0030x0102"]"#), (-32000, "bad_encoding".into()));
    let future = r#"{"jsonrpc":"2.0","id":1,"method":"tandem_getBlock","params":[4000000]}"#;
    assert_eq!(error_of(call(future)), (-32001, "unknown_height".into()));
    let genesis = r#"{"jsonrpc":"2.0","id":1,"method":"tandem_getBlock","params":[0]}"#;
    assert_eq!(error_of(call(genesis)), (-32001, "unknown_height".into()));
    let negative = r#"{"jsonrpc":"2.0","id":1,"method":"tandem_getBlock","params":[-1]}"#;
    assert_eq!(error_of(call(negative)), (-32602, "invalid_params".into()));

    let oversized = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tandem_sendTransaction","params":["0x{}"]}}"#,
        "ab".repeat(100_000)
    );
    let (code, body) = raw_post(&address, oversized.as_bytes());
    assert_eq!(code, 413, "{body}");
    // The node still answers.
    let (code, body) = call(r#"{"jsonrpc":"2.0","id":1,"method":"tandem_chainId","params":[]}"#);
    assert_eq!((code, body.contains("4242")), (200, true), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_are_followed_and_proven() {
    let mut net = Testnet::generate(1, 8, |_| {});
    net.start_all();
    net.wait_for_height(0, 1, WAIT).await;
    let client = net.client(0);
    let genesis = genesis(&net);
    let ws = jsonrpsee_ws_client::WsClientBuilder::default()
        .build(net.ws_url(0))
        .await
        .expect("websocket");
    let mut heads = ws
        .subscribe::<HeadNotification, _>(
            methods::SUBSCRIBE,
            rpc_params!["newHeads"],
            methods::UNSUBSCRIBE,
        )
        .await
        .expect("subscribed");

    let sender = account_key(0);
    let to = Address([9; 32]);
    let tx = transfer(&sender, 0, to, 1_234, 3);
    let hash = send(&client, &tx).await.expect("admitted");
    let status = wait_finalized(&client, &hash, WAIT).await;
    let height = status.height.expect("height");

    let block: BlockSummary =
        client.request(methods::GET_BLOCK, rpc_params![height]).await.expect("block");
    assert_eq!(block.hash, block.header.hash());
    assert_eq!(block.tx_hashes[status.index.expect("index") as usize], hash);
    let validators = genesis.validator_set().expect("validators");
    block.certificate.verify(genesis.chain_id, height, &block.hash, &validators).expect("cert");

    let account: AccountAt =
        client.request(methods::GET_ACCOUNT, rpc_params![to, height]).await.expect("account");
    assert_eq!((account.balance, account.nonce), (1_234, 0));
    let proven: ProofAt =
        client.request(methods::GET_PROOF, rpc_params![to, height]).await.expect("proof");
    verify_proof(&proven, &to, &genesis).expect("inclusion proof verifies");
    let mut tampered = proven.clone();
    tampered.account.as_mut().expect("present").balance += 1;
    assert!(verify_proof(&tampered, &to, &genesis).is_err(), "a changed balance fails");
    let mut wrong_root = proven.clone();
    wrong_root.header.as_mut().expect("header").state_root.0[0] ^= 1;
    assert!(verify_proof(&wrong_root, &to, &genesis).is_err(), "a changed header fails");
    let absent = Address([10; 32]);
    let proven: ProofAt =
        client.request(methods::GET_PROOF, rpc_params![absent]).await.expect("proof");
    assert_eq!(proven.account, None);
    verify_proof(&proven, &absent, &genesis).expect("exclusion proof verifies");

    // Headers arrive in order, each the stored block's header.
    let first = heads.next().await.expect("a head").expect("decodes");
    let second = heads.next().await.expect("a head").expect("decodes");
    assert_eq!(second.header.height, first.header.height + 1);
    assert_eq!(second.header.parent_hash, first.hash);
    let stored: BlockSummary =
        client.request(methods::GET_BLOCK, rpc_params![first.header.height]).await.expect("b");
    assert_eq!((stored.header, stored.hash), (first.header, first.hash));
    let unknown = ws
        .subscribe::<HeadNotification, _>(
            methods::SUBSCRIBE,
            rpc_params!["x"],
            methods::UNSUBSCRIBE,
        )
        .await;
    assert!(unknown.is_err(), "unknown subscription kinds are refused");

    let unknown_tx = tx_status(&client, &tandem_types::Hash([1; 32])).await;
    assert_eq!((unknown_tx.status, unknown_tx.reason), (TxStatus::Unknown, None));
}
