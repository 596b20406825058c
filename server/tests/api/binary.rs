//! The real binary: startup lines, the token printed once, graceful exit on SIGTERM.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn binary_starts_prints_token_once_and_stops_on_sigterm() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hakanai-server"))
        .env_clear()
        .env("RUST_LOG", "info")
        .env("HAKANAI_PORT", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(resp) = http::get_ready(port) {
            assert_eq!(resp, 200);
            break;
        }
        assert!(Instant::now() < deadline, "server did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no graceful exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");

    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(out.contains("secrets live in this process only"), "{out}");
    assert!(out.contains("shutting down"), "{out}");
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON log lines");
        assert!(v["level"].is_string());
    }
    let token_lines: Vec<&str> = err.lines().filter(|l| l.contains("User token")).collect();
    assert_eq!(token_lines.len(), 1, "{err}");
    let token = token_lines[0].rsplit(' ').next().unwrap();
    assert!(!out.contains(token), "the token never reaches the log");
}

mod http {
    /// A tiny blocking GET of /ready, to avoid pulling in reqwest's blocking feature.
    pub fn get_ready(port: u16) -> std::io::Result<u16> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
        s.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
        let mut buf = String::new();
        s.read_to_string(&mut buf)?;
        buf.split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other("bad response"))
    }
}
