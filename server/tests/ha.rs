//! Beyond one machine: every `--redis-dsn` form against real Redis processes, startup errors, and
//! failovers under load (Sentinel, Cluster). Numbers from the failover tests are recorded in
//! RELIABILITY.md; run with `--nocapture` to see them.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

#[path = "ha/load.rs"]
mod load;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hakanai_server::{Application, Config, StartupError};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use hakanai_test_support::{RedisCluster, RedisServer, ReservedPort, SentinelSetup, TempDir};
use helpers::{spawn_with_redis, TestApp};

/// Held by each failover test for its whole run: two failovers at once on two cores
/// would measure each other's load, not the store's recovery.
static ONE_FAILOVER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A synchronous admin connection.
fn admin(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(2))
        .unwrap()
}

fn config(dsn: &str) -> Config {
    let mut c = helpers::base_config();
    c.redis_dsn = Some(dsn.to_owned());
    c
}

async fn spawn_dsn(dsn: String, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_with_redis(None, |c| {
        c.redis_dsn = Some(dsn);
        c.allow_anonymous = true;
        c.redis_timeout = Some(Duration::from_secs(1));
        // Room for `raw_round_trip`'s body of several pieces.
        c.anonymous_upload_size_limit = Some(1 << 20);
        tweak(c);
    })
    .await
}

/// Create, status, read once, second read refused.
async fn round_trip(app: &TestApp) {
    let s = app
        .create(&STANDARD.encode("over the wire"), json!(null))
        .await;
    let status = app
        .client
        .get(app.url(&format!("/api/v1/secret/{}/status", s.id)))
        .header("x-creator-token", &s.creator_token)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    let resp = app.get_secret(&s.id).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), STANDARD.encode("over the wire"));
    assert_eq!(app.get_secret(&s.id).await.status(), 410);
    chunked_round_trip(app).await;
    raw_round_trip(app).await;
    let healthy = app.client.get(app.url("/healthy")).send().await.unwrap();
    assert_eq!(healthy.status(), 200);
}

/// The writes that wait for a replica besides a read: a one-time token spent, a secret destroyed
/// by wrong passphrases.
async fn spent_and_destroyed_on_a_replicated_store(app: &TestApp) {
    let (once, _) = app.create_token(json!({"one_time": true})).await;
    for expected in [200, 403] {
        let resp = app
            .client
            .post(app.url("/api/v1/secret"))
            .bearer_auth(&once)
            .json(&json!({"data": STANDARD.encode("once")}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), expected);
    }
    let hash = hex::encode(Sha256::digest(b"right"));
    let s = app
        .create(
            &STANDARD.encode("guarded"),
            json!({"passphrase_hash": hash}),
        )
        .await;
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let resp = app
            .client
            .get(app.secret_url(&s.id))
            .header("x-secret-passphrase", "wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        remaining.push(
            resp.headers()["x-passphrase-attempts-remaining"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(remaining, ["4", "3", "2", "1", "0"]);
    let resp = app
        .client
        .get(app.secret_url(&s.id))
        .header("x-secret-passphrase", "right")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 410);
}

/// Single-request raw bodies: one that ends within the first piece (open and finish pipelined
/// in one round trip, on a cluster too) and one written in pieces (open, appends, finish).
async fn raw_round_trip(app: &TestApp) {
    for size in [1000, 600 * 1024] {
        let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let mut req = app.client.post(app.url("/api/v1/secret"));
        if let Some(token) = &app.user_token {
            req = req.bearer_auth(token);
        }
        let resp = req
            .header("content-type", "application/octet-stream")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{size} bytes");
        let id = resp.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let read = app.get_secret(&id).await;
        assert_eq!(read.status(), 200);
        assert_eq!(read.bytes().await.unwrap(), body, "{size} bytes");
    }
}

/// A multi-request upload: its record and session keys share the secret's slot.
async fn chunked_round_trip(app: &TestApp) {
    let mut start = app.client.post(app.url("/api/v1/upload"));
    if let Some(token) = &app.user_token {
        start = start.bearer_auth(token);
    }
    let opened: serde_json::Value = start
        .json(&json!({"expires_in": 60}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = opened["id"].as_str().unwrap();
    let creator = opened["creator_token"].as_str().unwrap();
    for (offset, chunk) in [(0, "first "), (6, "second")] {
        let resp = app.upload_chunk(id, creator, offset, chunk).await;
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(app.upload_finish(id, creator).await.status(), 200);
    let resp = app.get_secret(id).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "first second");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_dsn() {
    let dir = TempDir::new("unix");
    let sock = dir.path().join("redis.sock");
    let redis = RedisServer::builder()
        .args([
            "--unixsocket",
            sock.to_str().unwrap(),
            "--unixsocketperm",
            "700",
        ])
        .start();
    let port = redis.port;
    let app = spawn_dsn(format!("redis+unix://{}?db=3", sock.display()), |_| {}).await;
    round_trip(&app).await;
    // db=3 was honoured: the secrets went there, not to database 0.
    let mut c = admin(port);
    let in_db0: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    redis::cmd("SELECT").arg(3).query::<()>(&mut c).unwrap();
    let in_db3: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(in_db0, 0);
    assert!(in_db3 > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_dsn_trusts_only_the_given_ca() {
    let dir = TempDir::new("tls");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_file = dir.path().join("redis.crt");
    let key_file = dir.path().join("redis.key");
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let redis = RedisServer::builder()
        .dir(dir.path())
        .tls(&cert_file, &key_file)
        .start();
    let tls_port = redis.tls_port.unwrap();
    let dsn = format!("rediss://localhost:{tls_port}/0");

    // Without the CA the certificate is not trusted: a clear startup failure, not a hang.
    let mut c = config(&dsn);
    c.redis_startup_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let Err(e) = Application::build(c).await else {
        panic!("an untrusted certificate was accepted")
    };
    assert!(started.elapsed() < Duration::from_secs(5));
    eprintln!("untrusted: {e}");

    let app = spawn_dsn(dsn, |c| c.redis_ca_file = Some(cert_file.clone())).await;
    round_trip(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_errors_are_clear() {
    // A bad DSN: immediate, names the problem, never echoes the password.
    for (dsn, hint) in [
        ("localhost:6379", "scheme"),
        ("mysql://:hunter2@h/0", "not supported"),
        ("redis-sentinel://:hunter2@h:26379", "master name"),
    ] {
        let Err(e) = Application::build(config(dsn)).await else {
            panic!("{dsn} was accepted")
        };
        let text = e.to_string();
        assert!(matches!(e, StartupError::Config(_)), "{text}");
        assert!(text.contains(hint), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    // --redis-ca-file without TLS is a mistake worth stopping for.
    let mut c = config("redis://127.0.0.1:1/0");
    c.redis_ca_file = Some("/nonexistent.pem".into());
    let Err(e) = Application::build(c).await else {
        panic!("accepted")
    };
    assert!(e.to_string().contains("--redis-ca-file"), "{e}");

    // Wrong credentials: no retrying, the reason is named.
    let redis = RedisServer::builder()
        .args(["--requirepass", "right"])
        .start();
    let port = redis.port;
    let started = Instant::now();
    let mut c = config(&format!("redis://:wrong@127.0.0.1:{port}/0"));
    c.redis_timeout = Some(Duration::from_millis(500));
    let Err(e) = Application::build(c).await else {
        panic!("a wrong password was accepted")
    };
    assert!(started.elapsed() < Duration::from_secs(2), "retried");
    assert!(e.to_string().contains("rejected the credentials"), "{e}");
    assert!(!e.to_string().contains("wrong@"), "{e}");
    let ok = Application::build(config(&format!("redis://:right@127.0.0.1:{port}/0"))).await;
    assert!(ok.is_ok());

    // Unreachable: retried with backoff for --redis-startup-timeout, then a clear error.
    let nothing = ReservedPort::new(); // refused until the end, never someone else's server
    let mut c = config(&format!("redis://127.0.0.1:{}/0", nothing.port()));
    c.redis_startup_timeout = Duration::from_secs(2);
    c.redis_timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    let Err(e) = Application::build(c).await else {
        panic!("nothing listens there")
    };
    let took = started.elapsed();
    assert!(
        matches!(e, StartupError::Unreachable { attempts, .. } if attempts >= 3),
        "{e}"
    );
    assert!(took < Duration::from_secs(4), "gave up after {took:?}");
    assert!(e.to_string().contains("still unreachable"), "{e}");

    // ...and a Redis that comes up during the wait is picked up (on the port the server was
    // given before it existed, so on exactly that port). Reserved until Redis holds it.
    let reserved = ReservedPort::new();
    let port = reserved.port();
    let late = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(700));
        let redis = RedisServer::start_on(port);
        drop(reserved);
        redis
    });
    // Meanwhile the port is open and /healthy says what is going on. The probe needs the port
    // before `build` returns, so it is reserved and the server binds it (SO_REUSEADDR) over the
    // reservation, which lasts until the end.
    let http = ReservedPort::new();
    let http_port = http.port();
    let probe = tokio::spawn(async move {
        let url = format!("http://127.0.0.1:{http_port}/healthy");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::get(&url).await {
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                if body["details"].as_str().unwrap_or("").contains("retrying") {
                    // Not ready either while startup waits for the store.
                    let ready = format!("http://127.0.0.1:{http_port}/ready");
                    let ready = reqwest::get(&ready).await.unwrap().status().as_u16();
                    assert_eq!(ready, 503, "/ready before the store is connected");
                    return (status, body);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("/healthy never reported the retries");
    });
    let mut c = config(&format!("redis://127.0.0.1:{port}/0"));
    c.port = http_port;
    let app = Application::build(c).await;
    assert!(app.is_ok(), "{:?}", app.err());
    let (status, body) = probe.await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "service_unavailable");
    drop(late.await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_under_load() {
    let _alone = ONE_FAILOVER_AT_A_TIME.lock().await;
    let started = Instant::now();
    let mut setup = SentinelSetup::start();
    eprintln!("sentinel setup took {:?}", started.elapsed());
    let app = spawn_dsn(setup.dsn(), |_| {}).await;
    round_trip(&app).await;

    let base = format!("http://{}", app.addr);
    let master = &mut setup.master;
    let report = load::across_failover("sentinel", &base, || master.kill()).await;
    assert_eq!(report.double_reads, 0);
    assert!(
        report.recovery < Duration::from_secs(10),
        "recovered after {:?}",
        report.recovery
    );
    round_trip(&app).await;
    eprintln!("sentinel test took {:?}", started.elapsed());
}

/// The storage budget's keys share their own slot (`{budget}`), apart from the secrets': the
/// global budget and the owner's still hold, and a read releases its bytes.
/// `token` is a fresh user token (this second app does not own the admin token).
async fn budget_on_a_cluster(dsn: &str, token: String) {
    let app = spawn_dsn(dsn.to_owned(), |c| {
        c.max_stored_bytes = Some(2000);
        c.max_stored_bytes_per_address = 1000;
    })
    .await;
    let create = |token: Option<String>| {
        let mut req = app
            .client
            .post(app.url("/api/v1/secret"))
            .json(&json!({"data": "A".repeat(1000)}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.unwrap() }
    };
    let first: Value = create(Some(token.clone())).await.json().await.unwrap();
    assert_eq!(create(None).await.status(), 200);
    assert_eq!(create(None).await.status(), 429);
    assert_eq!(create(Some(token.clone())).await.status(), 507);
    let id = first["id"].as_str().unwrap();
    assert_eq!(app.get_secret(id).await.status(), 200);
    assert_eq!(create(Some(token)).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_api_and_failover_under_load() {
    let _alone = ONE_FAILOVER_AT_A_TIME.lock().await;
    let started = Instant::now();
    let mut setup = RedisCluster::start();
    eprintln!("cluster setup took {:?}", started.elapsed());
    let app = spawn_dsn(setup.dsn(), |c| c.allow_anonymous = false).await;
    // First, while nothing else holds stored bytes (the budget is shared by every app on the
    // cluster).
    let (budget_token, _) = app.create_token(json!({})).await;
    budget_on_a_cluster(&setup.dsn(), budget_token).await;

    // The whole API on a cluster: tokens (one hash key), secrets spread over all masters.
    let (token, token_id) = app.create_token(json!({"upload_size_limit": 1024})).await;
    let resp = app
        .client
        .post(app.url("/api/v1/secret"))
        .bearer_auth(&token)
        .json(&json!({"data": STANDARD.encode("via a user token")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    for _ in 0..20 {
        round_trip(&app).await;
    }
    let list = app
        .client
        .get(app.url("/api/v1/admin/tokens"))
        .bearer_auth(app.admin_token())
        .send()
        .await
        .unwrap();
    assert!(list.text().await.unwrap().contains(&token_id));
    spent_and_destroyed_on_a_replicated_store(&app).await;

    // The load runs anonymously on a second app against the same cluster.
    let anon = spawn_dsn(setup.dsn(), |_| {}).await;
    let victim = setup.a_master();
    eprintln!("killing master on port {}", setup.nodes[victim].port);
    let base = format!("http://{}", anon.addr);
    let node = &mut setup.nodes[victim];
    let report = load::across_failover("cluster", &base, || node.kill()).await;
    assert_eq!(report.double_reads, 0);
    assert!(
        report.recovery < Duration::from_secs(10),
        "recovered after {:?}",
        report.recovery
    );
    round_trip(&anon).await;
    eprintln!("cluster test took {:?}", started.elapsed());
}
