//! A steady create-then-read load across a failover, and the bookkeeping that turns it into the
//! numbers in RELIABILITY.md: recovery time, failed requests, secrets lost, double reads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;

const WORKERS: usize = 4;
const WARM_UP: Duration = Duration::from_secs(2);
/// After the kill: stop once this long has passed without a failure.
const STABLE: Duration = Duration::from_secs(3);
const MAX_AFTER_KILL: Duration = Duration::from_secs(25);

#[derive(Default)]
struct Log {
    /// (id, data) of every secret whose creation was acknowledged.
    created: Vec<(String, String)>,
    /// Ids read successfully, once per success.
    delivered: Vec<String>,
    /// Created but the first read failed: to be read again after recovery.
    unread: Vec<(String, String)>,
    /// (time, ok) of every request.
    requests: Vec<(Instant, bool)>,
}

#[derive(Debug)]
pub struct Report {
    pub requests: usize,
    pub requests_after_kill: usize,
    pub failed_after_kill: usize,
    /// From the kill to the first success after the last failure.
    pub recovery: Duration,
    pub created: usize,
    /// Acknowledged creations that the new master does not know (404).
    pub lost_creations: usize,
    /// Secrets consumed by a read whose reply never arrived (410 on retry).
    pub lost_reads: usize,
    /// Reads that were answered 503 but whose secret was still there afterwards.
    pub late_deliveries: usize,
    /// A secret delivered twice (must stay 0).
    pub double_reads: usize,
}

struct Worker {
    base: String,
    client: reqwest::Client,
    log: Arc<Mutex<Log>>,
}

impl Worker {
    async fn create(&self, data: &str) -> Option<String> {
        let resp = self
            .client
            .post(format!("{}/api/v1/secret", self.base))
            .json(&json!({"data": data, "expires_in": 300}))
            .send()
            .await;
        let id = match resp {
            Ok(r) if r.status() == 200 => r
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_owned)),
            _ => None,
        };
        self.log
            .lock()
            .unwrap()
            .requests
            .push((Instant::now(), id.is_some()));
        id
    }

    /// The status and body of one read.
    async fn read(&self, id: &str) -> (u16, String) {
        match self
            .client
            .get(format!("{}/api/v1/secret/{id}", self.base))
            .send()
            .await
        {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.text().await.unwrap_or_default())
            }
            Err(_) => (0, String::new()),
        }
    }

    async fn run(self, n: usize, stop: Arc<AtomicBool>) {
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            i += 1;
            let data = STANDARD.encode(format!("worker {n} secret {i}"));
            let Some(id) = self.create(&data).await else {
                continue;
            };
            self.log
                .lock()
                .unwrap()
                .created
                .push((id.clone(), data.clone()));
            let (status, body) = self.read(&id).await;
            let mut log = self.log.lock().unwrap();
            log.requests.push((Instant::now(), status == 200));
            if status == 200 {
                assert_eq!(body, data, "a read returned another secret's data");
                log.delivered.push(id);
            } else {
                log.unread.push((id, data));
            }
        }
    }
}

/// Runs the load against `base`, calls `kill` after a warm-up, and keeps going until the service
/// has been stable for a while; then reads everything again to find losses and double reads.
pub async fn across_failover(name: &str, base: &str, kill: impl FnOnce()) -> Report {
    let log = Arc::new(Mutex::new(Log::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..WORKERS)
        .map(|n| {
            let w = Worker {
                base: base.to_owned(),
                client: client.clone(),
                log: log.clone(),
            };
            tokio::spawn(w.run(n, stop.clone()))
        })
        .collect();

    tokio::time::sleep(WARM_UP).await;
    let before = log.lock().unwrap().delivered.len();
    assert!(before > 0, "no secret was read before the failover");
    let killed = Instant::now();
    kill();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = Instant::now();
        let last_failure = log
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(t, _)| *t)
            .max();
        let quiet_since = last_failure.unwrap_or(killed).max(killed);
        if now - quiet_since >= STABLE {
            break;
        }
        if now - killed >= MAX_AFTER_KILL {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("a load worker panicked");
    }

    let log = std::mem::take(&mut *log.lock().unwrap());
    let after: Vec<_> = log.requests.iter().filter(|(t, _)| *t >= killed).collect();
    let last_failure = after.iter().filter(|(_, ok)| !ok).map(|(t, _)| *t).max();
    let recovery = match last_failure {
        None => Duration::ZERO,
        Some(lf) => after
            .iter()
            .filter(|(t, ok)| *ok && *t > lf)
            .map(|(t, _)| *t - killed)
            .min()
            .unwrap_or(MAX_AFTER_KILL),
    };

    // Everything again: unread secrets once (late delivery or loss), delivered ones to prove
    // they are gone.
    let checker = Worker {
        base: base.to_owned(),
        client,
        log: Arc::new(Mutex::new(Log::default())),
    };
    let mut report = Report {
        requests: log.requests.len(),
        requests_after_kill: after.len(),
        failed_after_kill: after.iter().filter(|(_, ok)| !ok).count(),
        recovery,
        created: log.created.len(),
        lost_creations: 0,
        lost_reads: 0,
        late_deliveries: 0,
        double_reads: 0,
    };
    let mut delivered = log.delivered.clone();
    for (id, data) in &log.unread {
        let (status, body) = checker.read(id).await;
        match status {
            200 => {
                assert_eq!(&body, data);
                report.late_deliveries += 1;
                delivered.push(id.clone());
            }
            404 => report.lost_creations += 1,
            410 => report.lost_reads += 1,
            other => panic!("re-reading an unread secret after recovery answered {other}"),
        }
    }
    let mut seen = std::collections::HashSet::new();
    for id in &delivered {
        if !seen.insert(id.clone()) {
            report.double_reads += 1;
            continue;
        }
        let (status, _) = checker.read(id).await;
        if status == 200 {
            report.double_reads += 1;
        }
    }
    eprintln!("{name}: {report:?}");
    assert!(report.created > 0 && report.requests >= report.requests_after_kill);
    assert!(report.failed_after_kill <= report.requests_after_kill);
    report
}
