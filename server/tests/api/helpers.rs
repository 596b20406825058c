use std::net::SocketAddr;
use std::sync::Once;

use clap::Parser;
use hakanai_server::telemetry::{get_subscriber, init_subscriber};
use hakanai_server::{Application, Config};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Memory,
    Redis,
}

/// A throwaway `redis-server` on a loopback port of its own, killed on drop (the shared
/// test-support crate; see its docs for how ports are owned without races).
pub use hakanai_test_support::RedisServer;

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub admin_token: Option<String>,
    pub user_token: Option<String>,
    pub redis: Option<RedisServer>,
    /// The separate `/metrics` listener, when the config asks for one.
    pub metrics_addr: Option<SocketAddr>,
}

static TRACING: Once = Once::new();

pub fn base_config() -> Config {
    Config::parse_from([
        "hakanai-server",
        "--port",
        "0",
        "--enable-admin-token",
        "--redis-timeout",
        "1500ms",
    ])
}

pub async fn spawn_app(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_with_redis(
        match backend {
            Backend::Memory => None,
            Backend::Redis => Some(RedisServer::start()),
        },
        tweak,
    )
    .await
}

pub async fn spawn_with_redis(
    redis: Option<RedisServer>,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    TRACING.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            init_subscriber(get_subscriber("debug", std::io::stdout));
        }
    });
    let mut config = base_config();
    config.redis_dsn = redis.as_ref().map(RedisServer::dsn);
    tweak(&mut config);
    let app = Application::build(config).await.expect("the app starts");
    let addr: SocketAddr = ([127, 0, 0, 1], app.port()).into();
    let admin_token = app.new_tokens.admin.clone();
    let user_token = app.new_tokens.user.clone();
    let metrics_addr = app
        .metrics_port()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], p)));
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        addr,
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap(),
        admin_token,
        user_token,
        redis,
        metrics_addr,
    }
}

pub struct Created {
    pub id: String,
    pub creator_token: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn secret_url(&self, id: &str) -> String {
        self.url(&format!("/api/v1/secret/{id}"))
    }

    pub fn user_token(&self) -> &str {
        self.user_token.as_deref().expect("a default user token")
    }

    pub fn admin_token(&self) -> &str {
        self.admin_token.as_deref().expect("an admin token")
    }

    pub async fn post_json(&self, body: Value) -> reqwest::Response {
        let mut req = self.client.post(self.url("/api/v1/secret")).json(&body);
        if let Some(t) = &self.user_token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// Creates a secret holding `data` (sent as base64) with optional restrictions.
    pub async fn create(&self, data: &str, restrictions: Value) -> Created {
        let resp = self
            .post_json(json!({"data": data, "expires_in": 300, "restrictions": restrictions}))
            .await;
        created(resp).await
    }

    /// `PATCH /api/v1/upload/{id}`: one chunk of a multi-request upload at `offset`.
    pub async fn upload_chunk(
        &self,
        id: &str,
        creator_token: &str,
        offset: u64,
        chunk: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .patch(self.url(&format!("/api/v1/upload/{id}")))
            .header("x-creator-token", creator_token)
            .header("upload-offset", offset.to_string())
            .header("content-type", "application/octet-stream")
            .body(chunk)
            .send()
            .await
            .unwrap()
    }

    /// `POST /api/v1/upload/{id}/finish`.
    pub async fn upload_finish(&self, id: &str, creator_token: &str) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/api/v1/upload/{id}/finish")))
            .header("x-creator-token", creator_token)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_secret(&self, id: &str) -> reqwest::Response {
        self.client.get(self.secret_url(id)).send().await.unwrap()
    }

    pub async fn create_token(&self, body: Value) -> (String, String) {
        let resp = self
            .client
            .post(self.url("/api/v1/admin/tokens"))
            .bearer_auth(self.admin_token())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        (
            v["token"].as_str().unwrap().to_owned(),
            v["id"].as_str().unwrap().to_owned(),
        )
    }
}

/// The answer to a create: asserts 200 and returns the id and creator token.
pub async fn created(resp: reqwest::Response) -> Created {
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let v: Value = resp.json().await.unwrap();
    Created {
        id: v["id"].as_str().unwrap().to_owned(),
        creator_token: v["creator_token"].as_str().unwrap().to_owned(),
    }
}

pub async fn error_code(resp: reqwest::Response) -> String {
    let v: Value = resp.json().await.expect("a JSON error body");
    assert!(v["details"].is_string(), "{v}");
    v["error"].as_str().unwrap().to_owned()
}

pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The forms earlier versions issued for the secret a ULID names: 22-character base64url (also
/// the form the stores key it by) and the hyphenated UUID.
pub fn earlier_forms(ulid: &str) -> (String, String) {
    use base64::Engine;
    let bits = ulid::Ulid::from_string(ulid).expect("a ULID").0;
    (
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bits.to_be_bytes()),
        uuid::Uuid::from_u128(bits).to_string(),
    )
}

/// The `/metrics` text of the listener at `addr` (the API's, or a separate metrics listener).
pub async fn metrics_text(app: &TestApp, addr: SocketAddr) -> String {
    app.client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the counter or gauge `name` whose labels include `labels`, in Prometheus text;
/// panics when the scrape has no such series.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("valid Prometheus text");
    let values: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|x| x.metric == name)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => panic!("{name} is not a plain value"),
        })
        .collect();
    assert!(!values.is_empty(), "no {name}{labels:?} in {text:?}");
    values.iter().sum()
}
