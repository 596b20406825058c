//! The read capability (`docs/FORMAT.md` § Read token): a secret stored with a
//! `read_token_hash` answers a request without its read token exactly as an unknown id does —
//! nothing consumed, no passphrase attempt counted, no "already read", no creator answer.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use crypto_core::{ReadToken, SecretKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{created, error_code, spawn_app, Backend, TestApp};

both_stores!(
    only_the_read_token_reads_or_learns_it_was_read,
    no_passphrase_attempt_counts_without_the_read_token,
    creator_endpoints_hide_a_locked_secret_from_a_wrong_creator,
    raw_and_multi_request_uploads_take_the_hash,
    ids_alone_consume_none_of_a_thousand_secrets,
);

/// A fresh key's read token as a client derives it: (token sent to read, hash uploaded).
fn read_token() -> (String, String) {
    let token = ReadToken::derive(&SecretKey::generate().unwrap());
    (token.to_hex(), token.server_hash_hex())
}

async fn get(app: &TestApp, id: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app.client.get(app.secret_url(id));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

async fn assert_unknown(resp: reqwest::Response) {
    assert_eq!(resp.status(), 404);
    assert_eq!(error_code(resp).await, "not_found");
}

async fn only_the_read_token_reads_or_learns_it_was_read(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let (token, hash) = read_token();
    let (other, _) = read_token();
    let s = app
        .create(&STANDARD.encode("locked"), json!({"read_token_hash": hash}))
        .await;
    // An unknown id, to compare the answers with.
    let unknown = get(&app, "01JAAAAAAAAAAAAAAAAAAAAAAA", &[]).await;
    let unknown_body: Value = unknown.json().await.unwrap();
    for headers in [vec![], vec![("x-secret-read-token", other.as_str())]] {
        let resp = get(&app, &s.id, &headers).await;
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.json::<Value>().await.unwrap(), unknown_body);
    }
    let resp = get(&app, &s.id, &[("x-secret-read-token", &token)]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), STANDARD.encode("locked"));
    // Read: only the token holder is told so.
    assert_unknown(get(&app, &s.id, &[]).await).await;
    assert_unknown(get(&app, &s.id, &[("x-secret-read-token", &other)]).await).await;
    let resp = get(&app, &s.id, &[("x-secret-read-token", &token)]).await;
    assert_eq!(resp.status(), 410);
    assert_eq!(error_code(resp).await, "gone");
    // Hakanai's path for its CLI is guarded the same way.
    let resp = app
        .client
        .get(app.url(&format!("/s/{}", s.id)))
        .header("user-agent", "hakanai-cli/3.0.7")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // A secret stored without a hash (Hakanai v3's clients, older ones) keeps the old rules,
    // whatever token a reader sends.
    let open = app.create(&STANDARD.encode("open"), json!({})).await;
    let resp = get(&app, &open.id, &[("x-secret-read-token", &other)]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(get(&app, &open.id, &[]).await.status(), 410);

    // A malformed hash is refused at creation.
    for bad in ["abc", &"g".repeat(64), &token[..63]] {
        let resp = app
            .post_json(
                json!({"data": STANDARD.encode("x"), "restrictions": {"read_token_hash": bad}}),
            )
            .await;
        assert_eq!(resp.status(), 400, "{bad}");
        assert_eq!(error_code(resp).await, "bad_request");
    }
}

async fn no_passphrase_attempt_counts_without_the_read_token(b: Backend) {
    let app = spawn_app(b, |c| c.max_passphrase_attempts = 3).await;
    let (token, hash) = read_token();
    let verifier = "aa".repeat(32);
    let lock = hex::encode(Sha256::digest(verifier.as_bytes()));
    let s = app
        .create(
            &STANDARD.encode("pw"),
            json!({"read_token_hash": hash, "passphrase_hash": lock}),
        )
        .await;
    // Ten wrong passphrases from someone with the id alone: not one counts.
    for _ in 0..10 {
        let resp = get(&app, &s.id, &[("x-secret-passphrase", "wrong")]).await;
        assert_unknown(resp).await;
    }
    let wrong = [
        ("x-secret-read-token", token.clone()),
        ("x-secret-passphrase", "wrong".to_owned()),
    ];
    let resp = get(&app, &s.id, &as_refs(&wrong)).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["x-passphrase-attempts-remaining"], "2");
    let right = [
        ("x-secret-read-token", token.clone()),
        ("x-secret-passphrase", verifier.clone()),
    ];
    let resp = get(&app, &s.id, &as_refs(&right)).await;
    assert_eq!(resp.status(), 200);

    // Destroyed by wrong passphrases: the tombstone keeps the lock.
    let (token, hash) = read_token();
    let s = app
        .create(
            &STANDARD.encode("pw"),
            json!({"read_token_hash": hash, "passphrase_hash": lock}),
        )
        .await;
    let wrong = [
        ("x-secret-read-token", token.clone()),
        ("x-secret-passphrase", "wrong".to_owned()),
    ];
    for left in ["2", "1", "0"] {
        let resp = get(&app, &s.id, &as_refs(&wrong)).await;
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["x-passphrase-attempts-remaining"], left);
    }
    assert_unknown(get(&app, &s.id, &[]).await).await;
    let resp = get(&app, &s.id, &[("x-secret-read-token", &token)]).await;
    assert_eq!(resp.status(), 410);
}

fn as_refs<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    headers.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn creator_endpoints_hide_a_locked_secret_from_a_wrong_creator(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let (token, hash) = read_token();
    let s = app
        .create(&STANDARD.encode("x"), json!({"read_token_hash": hash}))
        .await;
    let delete = |creator: Option<&str>| {
        let mut req = app.client.delete(app.secret_url(&s.id));
        if let Some(c) = creator {
            req = req.header("x-creator-token", c);
        }
        req.send()
    };
    let status = |creator: &str| {
        app.client
            .get(app.url(&format!("/api/v1/secret/{}/status", s.id)))
            .header("x-creator-token", creator)
            .send()
    };
    assert_unknown(delete(None).await.unwrap()).await;
    assert_unknown(delete(Some("wrong")).await.unwrap()).await;
    let resp = status("wrong").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"status": "expired"})
    );
    let resp = status(&s.creator_token).await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["status"], "pending");
    // Nothing above touched it: the creator revokes it, the reader with the token learns so.
    assert_eq!(delete(Some(&s.creator_token)).await.unwrap().status(), 204);
    assert_unknown(delete(Some("wrong")).await.unwrap()).await;
    let resp = status("wrong").await.unwrap();
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"status": "expired"})
    );
    let resp = status(&s.creator_token).await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["status"], "revoked");
    assert_unknown(get(&app, &s.id, &[]).await).await;
    let resp = get(&app, &s.id, &[("x-secret-read-token", &token)]).await;
    assert_eq!(resp.status(), 410);

    // An unlocked secret keeps its answers to a wrong creator token.
    let open = app.create(&STANDARD.encode("x"), json!({})).await;
    let resp = app
        .client
        .delete(app.secret_url(&open.id))
        .header("x-creator-token", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

async fn raw_and_multi_request_uploads_take_the_hash(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let (token, hash) = read_token();
    let raw = |query: &str, header: Option<&str>| {
        let mut req = app
            .client
            .post(app.url(&format!("/api/v1/secret{query}")))
            .bearer_auth(app.user_token())
            .header("content-type", "application/octet-stream")
            .body(vec![7u8; 100]);
        if let Some(h) = header {
            req = req.header("x-secret-read-token-hash", h);
        }
        req.send()
    };
    let by_header = created(raw("", Some(&hash)).await.unwrap()).await;
    let by_query = created(
        raw(&format!("?read_token_hash={hash}"), None)
            .await
            .unwrap(),
    )
    .await;
    for s in [&by_header, &by_query] {
        assert_unknown(get(&app, &s.id, &[]).await).await;
        let resp = get(&app, &s.id, &[("x-secret-read-token", &token)]).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.bytes().await.unwrap().as_ref(), &[7u8; 100]);
    }

    let resp = app
        .client
        .post(app.url("/api/v1/upload"))
        .bearer_auth(app.user_token())
        .json(&json!({"expires_in": 300, "size": 6, "restrictions": {"read_token_hash": hash}}))
        .send()
        .await
        .unwrap();
    let up = created(resp).await;
    let resp = app
        .upload_chunk(&up.id, &up.creator_token, 0, "chunk!")
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        app.upload_finish(&up.id, &up.creator_token).await.status(),
        200
    );
    assert_unknown(get(&app, &up.id, &[]).await).await;
    let resp = get(&app, &up.id, &[("x-secret-read-token", &token)]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "chunk!");
}

/// RELIABILITY.md § Ids without read tokens: 1,000 read-locked secrets, each id tried without
/// a token, with a wrong one and with a wrong passphrase; not one is consumed or loses an
/// attempt, and each is then read once by its token holder.
async fn ids_alone_consume_none_of_a_thousand_secrets(b: Backend) {
    let app = spawn_app(b, |c| c.max_passphrase_attempts = 1).await;
    let (wrong, _) = read_token();
    let lock = hex::encode(Sha256::digest("aa".repeat(32).as_bytes()));
    let mut secrets = Vec::new();
    for i in 0..1000 {
        let (token, hash) = read_token();
        // Every tenth has a passphrase with one attempt: a single counted guess destroys it.
        let restrictions = if i % 10 == 0 {
            json!({"read_token_hash": hash, "passphrase_hash": lock})
        } else {
            json!({"read_token_hash": hash})
        };
        let s = app
            .create(&STANDARD.encode(format!("secret {i}")), restrictions)
            .await;
        secrets.push((s.id, token, i % 10 == 0));
    }
    let mut refused = 0;
    let started = std::time::Instant::now();
    for (id, _, _) in &secrets {
        for headers in [
            vec![],
            vec![("x-secret-read-token", wrong.as_str())],
            vec![("x-secret-passphrase", "bb")],
        ] {
            let resp = get(&app, id, &headers).await;
            assert_eq!(resp.status(), 404);
            refused += 1;
        }
    }
    assert_eq!(refused, 3000);
    let probing = started.elapsed();
    for (i, (id, token, locked)) in secrets.iter().enumerate() {
        let mut headers = vec![("x-secret-read-token", token.as_str())];
        let verifier = "aa".repeat(32);
        if *locked {
            headers.push(("x-secret-passphrase", verifier.as_str()));
        }
        let resp = get(&app, id, &headers).await;
        assert_eq!(resp.status(), 200, "secret {i}");
        assert_eq!(
            resp.text().await.unwrap(),
            STANDARD.encode(format!("secret {i}"))
        );
    }
    eprintln!(
        "{b:?}: 1,000 read-locked secrets (100 with a one-attempt passphrase); 3,000 reads with \
         the id alone, a wrong token or a wrong passphrase: all 404 in {:.2} s; then all 1,000 \
         read (200) by their token holders",
        probing.as_secs_f64()
    );
}
