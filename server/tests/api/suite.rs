//! The behavioural suite, instantiated once per store.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::future::join_all;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{created, earlier_forms, error_code, rss_kib, spawn_app, Backend};

both_stores!(
    json_secret_is_read_exactly_once,
    ids_are_ulids_and_earlier_link_forms_still_work,
    raw_secret_round_trips_bytes,
    unknown_expired_and_malformed_ids,
    upload_validation,
    upload_needs_a_token_unless_anonymous,
    anonymous_limit_applies_to_decoded_size,
    concurrent_readers_get_it_once,
    passphrase_attempts_do_not_burn_until_limit,
    ip_restriction_checked_before_consumption,
    forged_forwarded_for_from_untrusted_peer_is_ignored,
    geo_restrictions,
    revoke_and_status,
    reveal_page_never_consumes,
    admin_token_lifecycle,
    one_time_token_used_concurrently_succeeds_once,
    health_config_and_docs,
    oversized_stream_is_cut_off_early,
    static_files_and_custom_reveal_page,
    raw_upload_takes_restrictions_from_headers_and_query,
    concurrent_wrong_passphrases_are_counted_atomically,
    large_raw_secret_streams_through_intact,
);

const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
form-action 'self'";

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

async fn json_secret_is_read_exactly_once(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let data = STANDARD.encode(b"ciphertext \x00\x01\x02");
    let created = app.create(&data, json!(null)).await;
    assert_eq!(created.id.len(), 26);
    assert!(created.creator_token.len() >= 40);

    let resp = app.get_secret(&created.id).await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    assert_eq!(h["content-type"], "text/plain; charset=utf-8");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["content-security-policy"], CSP);
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["cross-origin-opener-policy"], "same-origin");
    assert_eq!(h["cross-origin-resource-policy"], "same-origin");
    assert_eq!(h["permissions-policy"], hakanai_server::PERMISSIONS_POLICY);
    assert!(h["permissions-policy"]
        .to_str()
        .unwrap()
        .contains("camera=()"));
    assert_eq!(resp.text().await.unwrap(), data);

    let again = app.get_secret(&created.id).await;
    assert_eq!(again.status(), 410);
    assert_eq!(again.headers()["cache-control"], "no-store");
    assert_eq!(error_code(again).await, "gone");
}

async fn ids_are_ulids_and_earlier_link_forms_still_work(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let mut seen = std::collections::HashSet::new();
    for i in 0..20 {
        let created = app.create(&STANDARD.encode([i as u8]), json!(null)).await;
        let ulid = ulid::Ulid::from_string(&created.id).expect("the id is a ULID");
        assert_eq!(ulid.to_string(), created.id, "canonical upper-case form");
        assert!(seen.insert(created.id.clone()));
        let (b64, uuid) = earlier_forms(&created.id);
        // Any form names the one secret: read through the 22-character form of earlier links,
        // then every form (ULID in lower case included) sees it gone.
        let resp = app.get_secret(if i % 2 == 0 { &b64 } else { &uuid }).await;
        assert_eq!(resp.status(), 200, "{i}");
        assert_eq!(resp.bytes().await.unwrap(), STANDARD.encode([i as u8]));
        for form in [&created.id, &created.id.to_ascii_lowercase(), &b64, &uuid] {
            assert_eq!(app.get_secret(form).await.status(), 410, "{form}");
        }
    }
    // Random, not time-ordered: a burst of ULIDs would otherwise share its timestamp prefix.
    let prefixes: std::collections::HashSet<_> = seen.iter().map(|id| &id[..6]).collect();
    assert!(prefixes.len() > 10, "ids share a time prefix: {prefixes:?}");
    // A 26-character id that overflows 128 bits, or uses a letter outside Crockford base32.
    for bad in ["8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "01ARZ3NDEKTSV4RRFFQ69G5FAU"] {
        let resp = app.get_secret(bad).await;
        assert_eq!(resp.status(), 400, "{bad}");
        assert_eq!(error_code(resp).await, "bad_request");
    }
}

async fn raw_secret_round_trips_bytes(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let body: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
    for (header_ttl, query) in [(Some("60"), ""), (None, "?ttl=2m")] {
        let mut req = app
            .client
            .post(app.url(&format!("/api/v1/secret{query}")))
            .bearer_auth(app.user_token())
            .header("content-type", "application/octet-stream")
            .body(body.clone());
        if let Some(ttl) = header_ttl {
            req = req.header("x-secret-ttl", ttl);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        let id = v["id"].as_str().unwrap();

        let status: Value = app
            .client
            .get(app.url(&format!("/api/v1/secret/{id}/status")))
            .header("x-creator-token", v["creator_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(status["status"], "pending");

        let resp = app.get_secret(id).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/octet-stream");
        assert_eq!(resp.bytes().await.unwrap().as_ref(), body.as_slice());
    }
}

async fn unknown_expired_and_malformed_ids(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let resp = app.get_secret("AAAAAAAAAAAAAAAAAAAAAA").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(error_code(resp).await, "not_found");
    let resp = app.get_secret("not-an-id").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(error_code(resp).await, "bad_request");

    let resp = app
        .post_json(json!({"data": STANDARD.encode("x"), "expires_in": 1}))
        .await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        app.get_secret(v["id"].as_str().unwrap()).await.status(),
        404
    );
    let status: Value = app
        .client
        .get(app.url(&format!(
            "/api/v1/secret/{}/status",
            v["id"].as_str().unwrap()
        )))
        .header("x-creator-token", v["creator_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "expired");
}

async fn upload_validation(b: Backend) {
    let app = spawn_app(b, |c| c.max_ttl = Duration::from_secs(3600)).await;
    let ok = STANDARD.encode("x");
    let cases = [
        (json!({"data": ok, "expires_in": 0}), 400),
        (json!({"data": ok, "expires_in": 3601}), 400),
        (json!({"data": "not base64!"}), 400),
        (json!({"nodata": 1}), 400),
        (
            json!({"data": ok, "restrictions": {"allowed_ips": ["nope"]}}),
            400,
        ),
        (
            json!({"data": ok, "restrictions": {"allowed_countries": ["Germany"]}}),
            400,
        ),
        (
            json!({"data": ok, "restrictions": {"passphrase_hash": "abc"}}),
            400,
        ),
        (json!({"data": ok, "expires_in": 3600}), 200),
        (json!({"data": ok}), 200),
    ];
    for (body, status) in cases {
        let resp = app.post_json(body.clone()).await;
        assert_eq!(resp.status(), status, "{body}");
    }
    let resp = app
        .client
        .post(app.url("/api/v1/secret"))
        .bearer_auth(app.user_token())
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    assert_eq!(error_code(resp).await, "unsupported_media_type");

    // Without a Content-Type the body is JSON, as Hakanai v3 took it.
    let data = STANDARD.encode("no content type");
    let resp = app
        .client
        .post(app.url("/api/v1/secret"))
        .bearer_auth(app.user_token())
        .body(json!({"data": data, "expires_in": 60}).to_string())
        .send()
        .await
        .unwrap();
    let id = created(resp).await.id;
    assert_eq!(app.get_secret(&id).await.text().await.unwrap(), data);
}

async fn upload_needs_a_token_unless_anonymous(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let body = json!({"data": STANDARD.encode("x")});
    let post = |token: Option<&str>| {
        let mut req = app.client.post(app.url("/api/v1/secret")).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let resp = post(None).await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(error_code(resp).await, "unauthorized");
    // A token that is given but unknown is 403, as in Hakanai v3 (its clients branch on it).
    let resp = post(Some("wrong")).await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(error_code(resp).await, "invalid_token");
    // The admin token is not an upload token.
    assert_eq!(post(Some(app.admin_token())).await.unwrap().status(), 403);
    assert_eq!(post(Some(app.user_token())).await.unwrap().status(), 200);
    let resp = app
        .client
        .post(app.url("/api/v1/secret"))
        .header("authorization", "Basic abc")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let anon = spawn_app(b, |c| c.allow_anonymous = true).await;
    assert!(
        anon.user_token.is_none(),
        "no default token with anonymous access"
    );
    let resp = anon
        .client
        .post(anon.url("/api/v1/secret"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

async fn anonymous_limit_applies_to_decoded_size(b: Backend) {
    let app = spawn_app(b, |c| {
        c.allow_anonymous = true;
        c.anonymous_upload_size_limit = Some(1024);
        c.upload_size_limit = 4096;
    })
    .await;
    let post = |n: usize, token: Option<String>| {
        let mut req = app
            .client
            .post(app.url("/api/v1/secret"))
            .json(&json!({"data": STANDARD.encode(vec![7u8; n])}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    // 1024 decoded bytes are 1368 base64 characters: the limit is on the decoded size.
    assert_eq!(post(1024, None).await.unwrap().status(), 200);
    let resp = post(1025, None).await.unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(error_code(resp).await, "payload_too_large");
    let (token, _) = app.create_token(json!({})).await;
    assert_eq!(post(4096, Some(token.clone())).await.unwrap().status(), 200);
    assert_eq!(post(4097, Some(token)).await.unwrap().status(), 413);

    let raw = |n: usize| {
        app.client
            .post(app.url("/api/v1/secret"))
            .header("content-type", "application/octet-stream")
            .body(vec![1u8; n])
            .send()
    };
    assert_eq!(raw(1024).await.unwrap().status(), 200);
    assert_eq!(raw(1025).await.unwrap().status(), 413);
}

async fn concurrent_readers_get_it_once(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let created = app.create(&STANDARD.encode("only once"), json!(null)).await;
    let reads = (0..64).map(|_| {
        let client = reqwest::Client::new();
        let url = app.secret_url(&created.id);
        tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() })
    });
    let statuses: Vec<u16> = join_all(reads)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 410).count(),
        63,
        "{statuses:?}"
    );
}

async fn passphrase_attempts_do_not_burn_until_limit(b: Backend) {
    let app = spawn_app(b, |c| c.max_passphrase_attempts = 3).await;
    let restrictions = json!({"passphrase_hash": sha256_hex("correct horse")});
    let get = |id: String, pass: Option<&'static str>| {
        let mut req = app.client.get(app.secret_url(&id));
        if let Some(p) = pass {
            req = req.header("x-secret-passphrase", p);
        }
        req.send()
    };

    let s = app
        .create(&STANDARD.encode("guarded"), restrictions.clone())
        .await;
    let resp = get(s.id.clone(), None).await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["x-passphrase-attempts-remaining"], "3");
    assert_eq!(error_code(resp).await, "passphrase_required");
    for remaining in ["2", "1"] {
        let resp = get(s.id.clone(), Some("wrong")).await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["x-passphrase-attempts-remaining"], remaining);
    }
    let resp = get(s.id.clone(), Some("correct horse")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), STANDARD.encode("guarded"));

    let s = app.create(&STANDARD.encode("guarded"), restrictions).await;
    for remaining in ["2", "1", "0"] {
        let resp = get(s.id.clone(), Some("wrong")).await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["x-passphrase-attempts-remaining"], remaining);
    }
    let resp = get(s.id.clone(), Some("correct horse")).await.unwrap();
    assert_eq!(resp.status(), 410);
    let status: Value = app
        .client
        .get(app.url(&format!("/api/v1/secret/{}/status", s.id)))
        .header("x-creator-token", &s.creator_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "destroyed");
}

async fn ip_restriction_checked_before_consumption(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let s = app
        .create(
            &STANDARD.encode("x"),
            json!({"allowed_ips": ["203.0.113.0/24", "2001:db8::1"]}),
        )
        .await;
    // Direct loopback client: not in the list.
    let resp = app.get_secret(&s.id).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(error_code(resp).await, "forbidden");
    // The loopback peer is a trusted proxy by default, so its X-Forwarded-For counts.
    let resp = app
        .client
        .get(app.secret_url(&s.id))
        .header("x-forwarded-for", "198.51.100.1, 203.0.113.50")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "the rejected reader did not burn the secret"
    );

    let s = app
        .create(
            &STANDARD.encode("x"),
            json!({"allowed_ips": ["203.0.113.50"]}),
        )
        .await;
    // A client-supplied leftmost entry is not the client when a nearer hop is untrusted.
    let resp = app
        .client
        .get(app.secret_url(&s.id))
        .header("x-forwarded-for", "203.0.113.50, 198.51.100.1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

async fn forged_forwarded_for_from_untrusted_peer_is_ignored(b: Backend) {
    let app = spawn_app(b, |c| {
        c.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
        c.trusted_ip_ranges = vec!["203.0.113.0/24".parse().unwrap()];
    })
    .await;
    let s = app
        .create(
            &STANDARD.encode("x"),
            json!({"allowed_ips": ["203.0.113.9"]}),
        )
        .await;
    let resp = app
        .client
        .get(app.secret_url(&s.id))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // Nor can a forged header reach the admin API from outside the trusted ranges.
    let resp = app
        .client
        .get(app.url("/api/v1/admin/tokens"))
        .bearer_auth(app.admin_token())
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

async fn geo_restrictions(b: Backend) {
    let plain = spawn_app(b, |_| {}).await;
    // A restriction the server cannot check is refused at creation (Hakanai v3's 501), on every
    // way in, before a one-time token is spent.
    let (once, _) = plain.create_token(json!({"one_time": true})).await;
    let data = STANDARD.encode("x");
    // Borrowed once here, so each request's `async move` block copies references only.
    let (app, once, data) = (&plain, &once, &data);
    let json_create = |restrictions: Value| async move {
        app.client
            .post(app.url("/api/v1/secret"))
            .bearer_auth(once)
            .json(&json!({"data": data, "restrictions": restrictions}))
            .send()
            .await
            .unwrap()
    };
    let raw_create = |header: &'static str, value: &'static str, query: &'static str| async move {
        app.client
            .post(app.url(&format!("/api/v1/secret{query}")))
            .bearer_auth(once)
            .header("content-type", "application/octet-stream")
            .header(header, value)
            .body("x")
            .send()
            .await
            .unwrap()
    };
    let upload_open = |restrictions: Value| async move {
        app.client
            .post(app.url("/api/v1/upload"))
            .bearer_auth(once)
            .json(&json!({"size": 1, "restrictions": restrictions}))
            .send()
            .await
            .unwrap()
    };
    let refusals = [
        (
            json_create(json!({"allowed_countries": ["DE"]})).await,
            "Country",
        ),
        (json_create(json!({"allowed_asns": [64500]})).await, "ASN"),
        (
            raw_create("x-secret-allowed-countries", "DE,AT", "").await,
            "Country",
        ),
        (
            raw_create("x-secret-ttl", "60", "?allowed_asns=64500").await,
            "ASN",
        ),
        (
            upload_open(json!({"allowed_countries": ["DE"]})).await,
            "Country",
        ),
        (upload_open(json!({"allowed_asns": [64500]})).await, "ASN"),
    ];
    for (resp, what) in refusals {
        assert_eq!(resp.status(), 501, "{what}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"], "not_implemented");
        assert_eq!(
            v["details"],
            format!("{what} restrictions are not supported by the server")
        );
    }
    // The one-time token is still unspent, and an IP restriction needs no header.
    let resp = json_create(json!({"allowed_ips": ["203.0.113.0/24"]})).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    assert_eq!(
        json_create(json!(null)).await.status(),
        403,
        "used up by the first accepted create"
    );

    let app = spawn_app(b, |c| {
        c.country_header = Some("cf-ipcountry".into());
        c.asn_header = Some("x-asn-number".into());
    })
    .await;
    let s = app
        .create(
            &STANDARD.encode("x"),
            json!({"allowed_countries": ["de", "AT"], "allowed_asns": [64500]}),
        )
        .await;
    let get = |country: &'static str, asn: &'static str| {
        app.client
            .get(app.secret_url(&s.id))
            .header("cf-ipcountry", country)
            .header("x-asn-number", asn)
            .send()
    };
    assert_eq!(get("FR", "64500").await.unwrap().status(), 403);
    assert_eq!(get("DE", "64501").await.unwrap().status(), 403);
    assert_eq!(app.get_secret(&s.id).await.status(), 403);
    assert_eq!(get("DE", "64500").await.unwrap().status(), 200);
}

async fn revoke_and_status(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let s = app.create(&STANDARD.encode("x"), json!(null)).await;
    let status_url = app.url(&format!("/api/v1/secret/{}/status", s.id));
    let status = |token: Option<&str>| {
        let mut req = app.client.get(&status_url);
        if let Some(t) = token {
            req = req.header("x-creator-token", t);
        }
        req.send()
    };
    assert_eq!(status(None).await.unwrap().status(), 401);
    assert_eq!(status(Some("wrong")).await.unwrap().status(), 403);
    let v: Value = status(Some(&s.creator_token))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "pending");
    assert!(v["expires_at"].is_string());

    let delete = |token: &str| {
        app.client
            .delete(app.secret_url(&s.id))
            .header("x-creator-token", token)
            .send()
    };
    assert_eq!(delete("wrong").await.unwrap().status(), 403);
    assert_eq!(
        app.client
            .delete(app.secret_url(&s.id))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(delete(&s.creator_token).await.unwrap().status(), 204);
    assert_eq!(delete(&s.creator_token).await.unwrap().status(), 410);
    assert_eq!(app.get_secret(&s.id).await.status(), 410);
    let v: Value = status(Some(&s.creator_token))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "revoked");

    let s = app.create(&STANDARD.encode("x"), json!(null)).await;
    assert_eq!(app.get_secret(&s.id).await.status(), 200);
    let v: Value = app
        .client
        .get(app.url(&format!("/api/v1/secret/{}/status", s.id)))
        .header("x-creator-token", &s.creator_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "read");
    assert!(v["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        app.client
            .delete(app.secret_url("AAAAAAAAAAAAAAAAAAAAAA"))
            .header("x-creator-token", "x")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

async fn reveal_page_never_consumes(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let data = STANDARD.encode("peek-proof");
    let s = app.create(&data, json!(null)).await;
    for ua in ["Mozilla/5.0", "Slackbot-LinkExpanding 1.0", "curl/8"] {
        let resp = app
            .client
            .get(app.url(&format!("/s/{}", s.id)))
            .header("user-agent", ua)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
        assert_eq!(resp.headers()["content-security-policy"], CSP);
        let html = resp.text().await.unwrap();
        assert!(html.contains("<html") && !html.contains("<script>") && !html.contains("style="));
    }
    // HEAD probes never consume, whatever they claim to be.
    let resp = app.client.head(app.secret_url(&s.id)).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    let resp = app
        .client
        .head(app.url(&format!("/s/{}", s.id)))
        .header("user-agent", "hakanai-cli/0.1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    let resp = app
        .client
        .get(app.url(&format!("/s/{}", s.id)))
        .header("user-agent", "hakanai-cli/0.1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), data);
    assert_eq!(app.get_secret(&s.id).await.status(), 410);
    assert_eq!(
        app.client
            .get(app.url("/s/bad-id"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
}

async fn admin_token_lifecycle(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let admin = app.url("/api/v1/admin/tokens");
    assert_eq!(app.client.get(&admin).send().await.unwrap().status(), 401);
    assert_eq!(
        app.client
            .get(&admin)
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        app.client
            .get(&admin)
            .bearer_auth(app.user_token())
            .send()
            .await
            .unwrap()
            .status(),
        403
    );

    let (token, id) = app.create_token(json!({"upload_size_limit": "1k"})).await;
    let (_, id2) = app
        .create_token(json!({"upload_size_limit": 2048, "ttl_seconds": 3600, "one_time": true}))
        .await;
    let resp = app
        .client
        .get(&admin)
        .bearer_auth(app.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(!text.contains(&token), "the list never shows a token");
    let list: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(list.len(), 3, "default token plus two: {list:?}");
    let mine = list.iter().find(|t| t["id"] == id.as_str()).unwrap();
    assert_eq!(mine["upload_size_limit"], 1024);
    assert_eq!(mine["one_time"], false);
    let other = list.iter().find(|t| t["id"] == id2.as_str()).unwrap();
    assert_eq!(other["one_time"], true);
    assert!(other["expires_at"].as_u64().is_some());

    let post = |n: usize| {
        app.client
            .post(app.url("/api/v1/secret"))
            .bearer_auth(&token)
            .json(&json!({"data": STANDARD.encode(vec![0u8; n])}))
            .send()
    };
    assert_eq!(post(1024).await.unwrap().status(), 200);
    assert_eq!(post(1025).await.unwrap().status(), 413);

    let resp = app
        .client
        .delete(format!("{admin}/{id}"))
        .bearer_auth(app.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(post(10).await.unwrap().status(), 403);
    let resp = app
        .client
        .delete(format!("{admin}/{id}"))
        .bearer_auth(app.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    let resp = app
        .client
        .post(&admin)
        .bearer_auth(app.admin_token())
        .json(&json!({"upload_size_limit": "lots"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    let (short, _) = app.create_token(json!({"ttl_seconds": 1})).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let resp = app
        .client
        .post(app.url("/api/v1/secret"))
        .bearer_auth(&short)
        .json(&json!({"data": STANDARD.encode("x")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403, "expired token");

    let disabled = spawn_app(b, |c| c.enable_admin_token = false).await;
    assert!(disabled.admin_token.is_none());
    let resp = disabled
        .client
        .get(disabled.url("/api/v1/admin/tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

async fn one_time_token_used_concurrently_succeeds_once(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let (token, _) = app.create_token(json!({"one_time": true})).await;
    let uploads = (0..20).map(|_| {
        let client = reqwest::Client::new();
        let url = app.url("/api/v1/secret");
        let token = token.clone();
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"data": STANDARD.encode("x")}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    });
    let statuses: Vec<u16> = join_all(uploads)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 403).count(),
        19,
        "{statuses:?}"
    );
}

async fn health_config_and_docs(b: Backend) {
    let app = spawn_app(b, |c| c.country_header = Some("cf-ipcountry".into())).await;
    let get = |p: &str| app.client.get(app.url(p)).send();
    assert_eq!(get("/ready").await.unwrap().status(), 200);
    assert_eq!(get("/healthy").await.unwrap().status(), 200);
    let cfg: Value = get("/config.json").await.unwrap().json().await.unwrap();
    assert_eq!(cfg["upload_size_limit"], 10 * 1024 * 1024);
    assert_eq!(cfg["allow_anonymous"], false);
    assert_eq!(cfg["max_ttl_seconds"], 7 * 86400);
    assert_eq!(cfg["max_passphrase_attempts"], 5);
    assert_eq!(cfg["country_restrictions"], true);
    assert_eq!(cfg["asn_restrictions"], false);
    // Hakanai v3's names for the same answers.
    assert_eq!(cfg["features"]["restrictions"]["country"], true);
    assert_eq!(cfg["features"]["restrictions"]["asn"], false);
    assert_eq!(cfg["features"]["impressum"], false);
    assert_eq!(cfg["features"]["privacy"], false);

    let resp = get("/api/openapi.json").await.unwrap();
    assert_eq!(resp.headers()["content-type"], "application/json");
    let doc: Value = resp.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/api/v1/secret",
        "/api/v1/secret/{id}",
        "/api/v1/admin/tokens",
    ] {
        assert!(doc["paths"][p].is_object(), "{p}");
    }
    let resp = get("/docs").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-security-policy"], CSP);
    let html = resp.text().await.unwrap();
    assert!(html.contains("/api/v1/secret/{id}/status") && !html.contains("<script"));

    let resp = get("/").await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = get("/nope").await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
}

/// A 1 GiB chunked body at a 10 MiB limit: the server answers 413 after ~10 MiB and stops
/// reading, so the sender gives up early and memory stays flat.
async fn oversized_stream_is_cut_off_early(b: Backend) {
    const GIB: u64 = 1 << 30;
    const CHUNK: usize = 64 * 1024;
    let app = spawn_app(b, |_| {}).await;
    let rss_before = rss_kib();
    let started = Instant::now();

    let stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let head = format!(
        "POST /api/v1/secret HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
        app.addr,
        app.user_token()
    );
    let writer = tokio::spawn(async move {
        let chunk = vec![0x42u8; CHUNK];
        let mut sent: u64 = 0;
        if wr.write_all(head.as_bytes()).await.is_err() {
            return sent;
        }
        while sent < GIB {
            let frame = [format!("{CHUNK:x}\r\n").as_bytes(), &chunk, b"\r\n"].concat();
            if wr.write_all(&frame).await.is_err() {
                break;
            }
            sent += CHUNK as u64;
        }
        sent
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    while !response.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(30), rd.read(&mut buf))
            .await
            .expect("a response in time")
            .unwrap();
        assert!(n > 0, "connection closed without a response");
        response.extend_from_slice(&buf[..n]);
    }
    let status_line = String::from_utf8_lossy(&response);
    assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line}");
    drop(rd);
    let sent = tokio::time::timeout(Duration::from_secs(30), writer)
        .await
        .expect("the sender stops once the server hangs up")
        .unwrap();
    let elapsed = started.elapsed();
    let grown_mib = rss_kib().saturating_sub(rss_before) / 1024;
    eprintln!("413 after sending {sent} bytes in {elapsed:?}; RSS grew {grown_mib} MiB");
    assert!(
        sent < 200 * 1024 * 1024,
        "sent {sent} bytes before the cut-off"
    );
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    assert!(grown_mib < 100, "RSS grew by {grown_mib} MiB");

    // A declared length over the limit is refused before any body is read.
    let resp = app
        .client
        .post(app.url("/api/v1/secret"))
        .bearer_auth(app.user_token())
        .header("content-type", "application/octet-stream")
        .body(vec![0u8; 10 * 1024 * 1024 + 1])
        .send()
        .await;
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), 413);
    }
}

async fn static_files_and_custom_reveal_page(b: Backend) {
    let dir = std::env::temp_dir().join(format!("hakanai-web-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>idx</title>").unwrap();
    std::fs::write(
        dir.join("reveal.html"),
        "<!doctype html><title>custom reveal</title>",
    )
    .unwrap();
    std::fs::write(dir.join("app.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let root = dir.clone();
    let app = spawn_app(b, move |c| c.web_root = Some(root)).await;

    let resp = app.client.get(app.url("/app.wasm")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/wasm");
    assert_eq!(resp.headers()["content-security-policy"], CSP);
    let resp = app.client.get(app.url("/")).send().await.unwrap();
    assert!(resp.text().await.unwrap().contains("idx"));
    let s = app.create(&STANDARD.encode("x"), json!(null)).await;
    let resp = app
        .client
        .get(app.url(&format!("/s/{}", s.id)))
        .send()
        .await
        .unwrap();
    assert!(resp.text().await.unwrap().contains("custom reveal"));
    assert_eq!(app.get_secret(&s.id).await.status(), 200);
    let _ = std::fs::remove_dir_all(dir);
}

fn uuid_like() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    hex::encode(b)
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = spawn_app(Backend::Memory, |c| {
        c.cors_allowed_origins = vec!["https://app.example".into()];
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/secret"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type, x-secret-read-token, x-secret-read-token-hash",
            )
            .send()
    };
    let resp = preflight("https://app.example").await.unwrap();
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    // An embedding app sends the read token and its hash like the page does.
    let allowed = resp.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for h in [
        "x-secret-read-token",
        "x-secret-read-token-hash",
        "x-secret-passphrase",
    ] {
        assert!(allowed.contains(h), "{allowed}");
    }
    let resp = preflight("https://evil.example").await.unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());

    let plain = spawn_app(Backend::Memory, |_| {}).await;
    let resp = plain
        .client
        .get(plain.url("/config.json"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn graceful_shutdown_lets_the_server_stop() {
    let mut config = crate::helpers::base_config();
    config.allow_anonymous = true;
    let app = hakanai_server::Application::build(config).await.unwrap();
    let port = app.port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    let resp = reqwest::get(format!("http://127.0.0.1:{port}/ready"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("stops")
        .unwrap()
        .unwrap();
}

async fn raw_upload_takes_restrictions_from_headers_and_query(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let upload = |query: &str, headers: &[(&str, String)]| {
        let mut req = app
            .client
            .post(app.url(&format!("/api/v1/secret{query}")))
            .bearer_auth(app.user_token())
            .header("content-type", "application/octet-stream")
            .body(&b"raw"[..]);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        req.send()
    };
    let id_of = |v: Value| v["id"].as_str().unwrap().to_owned();

    let resp = upload(
        "",
        &[
            (
                "x-secret-allowed-ips",
                "203.0.113.0/24, 198.51.100.7".into(),
            ),
            ("x-secret-passphrase-hash", sha256_hex("pw")),
        ],
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let id = id_of(resp.json().await.unwrap());
    assert_eq!(app.get_secret(&id).await.status(), 403);
    let get = |pass: &'static str| {
        app.client
            .get(app.secret_url(&id))
            .header("x-forwarded-for", "198.51.100.7")
            .header("x-secret-passphrase", pass)
            .send()
    };
    assert_eq!(get("nope").await.unwrap().status(), 401);
    let resp = get("pw").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"raw");

    let resp = upload("?allowed_ips=203.0.113.1&ttl=1h", &[])
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let id = id_of(resp.json().await.unwrap());
    assert_eq!(app.get_secret(&id).await.status(), 403);

    for (query, headers) in [
        ("?ttl=forever", vec![]),
        (
            "",
            vec![("x-secret-allowed-ips", "10.0.0.0/33".to_string())],
        ),
        ("", vec![("x-secret-allowed-asns", "ASX".to_string())]),
        ("", vec![("x-secret-ttl", "30d".to_string())]),
    ] {
        let resp = upload(query, &headers).await.unwrap();
        assert_eq!(resp.status(), 400, "{query} {headers:?}");
    }
}

async fn concurrent_wrong_passphrases_are_counted_atomically(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let s = app
        .create(
            &STANDARD.encode("x"),
            json!({"passphrase_hash": sha256_hex("right")}),
        )
        .await;
    let guesses = (0..12).map(|_| {
        let client = reqwest::Client::new();
        let url = app.secret_url(&s.id);
        tokio::spawn(async move {
            let resp = client
                .get(url)
                .header("x-secret-passphrase", "wrong")
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let remaining = resp
                .headers()
                .get("x-passphrase-attempts-remaining")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, remaining)
        })
    });
    let results: Vec<(u16, Option<String>)> = join_all(guesses)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let mut remaining: Vec<String> = results.iter().filter_map(|r| r.1.clone()).collect();
    remaining.sort();
    // Five guesses were counted (4, 3, 2, 1, 0 left); the rest found the secret destroyed.
    assert_eq!(remaining, vec!["0", "1", "2", "3", "4"], "{results:?}");
    assert_eq!(
        results.iter().filter(|r| r.0 == 410).count(),
        7,
        "{results:?}"
    );
    let resp = app
        .client
        .get(app.secret_url(&s.id))
        .header("x-secret-passphrase", "right")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 410);
}

async fn large_raw_secret_streams_through_intact(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let mut body = vec![0u8; 3 * 1024 * 1024 + 17];
    getrandom::fill(&mut body).unwrap();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(50_000).map(|c| Ok(c.to_vec())).collect();
    let resp = app
        .client
        .post(app.url("/api/v1/secret"))
        .bearer_auth(app.user_token())
        .header("content-type", "application/octet-stream")
        .header("x-secret-ttl", "120")
        .header("x-secret-passphrase-hash", sha256_hex("pw"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let id = v["id"].as_str().unwrap();
    assert_eq!(app.get_secret(id).await.status(), 401);
    let resp = app
        .client
        .get(app.secret_url(id))
        .header("x-secret-passphrase", "pw")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got = resp.bytes().await.unwrap();
    assert_eq!(got.len(), body.len());
    assert!(got.as_ref() == body.as_slice());
}
