//! `cargo xtask bench-floor-server --port P --redis-port R` (hidden; started by `bench-server`):
//! the least work any server must do for the benchmark's requests, so that the harness can
//! show what this machine allows at all when wrk, Redis and a server share its cores.
//!
//! It speaks just enough HTTP/1.1 for wrk's keep-alive requests and does per request only
//! what storing or taking a one-time secret cannot avoid: a create is one `SET key <body> PX`
//! (the request body stored as it came: no JSON, no base64, no checks, no log, no metrics)
//! answered `{"id":"…"}`; a read is one `GETDEL`. One blocking thread and one Redis connection
//! per client connection: no scheduler, no shared state but an id counter. It is not a strict
//! bound (a server that batches several clients' Redis commands into one write can save a
//! few system calls), but a server that also parses JSON, decodes base64, checks tokens,
//! logs and counts will not get far above it: its throughput, measured in the same run,
//! tells what share of the machine is left for the server at all.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::shell::{Error, Result};

const TTL_MS: &str = "3600000";

pub fn run(args: &[String]) -> Result<()> {
    let value = |name: &str| -> Result<u16> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::new(format!("bench-floor-server needs {name} <port>")))
    };
    let (port, redis_port) = (value("--port")?, value("--redis-port")?);
    let listener = TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| Error::new(format!("cannot listen on {port}: {e}")))?;
    // Ids only need to be unique within one phase; the process id keeps phases apart.
    let next_id = Arc::new(AtomicU64::new(u64::from(std::process::id()) << 32));
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let next_id = Arc::clone(&next_id);
        std::thread::spawn(move || {
            let _ = serve(conn, redis_port, &next_id);
        });
    }
    Ok(())
}

fn serve(conn: TcpStream, redis_port: u16, next_id: &AtomicU64) -> std::io::Result<()> {
    conn.set_nodelay(true)?;
    let redis = TcpStream::connect(("127.0.0.1", redis_port))?;
    redis.set_nodelay(true)?;
    let mut redis = (BufReader::new(redis.try_clone()?), redis);
    let mut out = conn.try_clone()?;
    let mut input = BufReader::with_capacity(16 * 1024, conn);
    let mut line = String::new();
    let mut body = Vec::new();
    let mut command = Vec::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut words = line.split_whitespace();
        let (method, path) = (
            words.next().unwrap_or("").to_string(),
            words.next().unwrap_or("").to_string(),
        );
        let mut length = 0usize;
        loop {
            line.clear();
            if input.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        body.resize(length, 0);
        input.read_exact(&mut body)?;
        let response = if method == "POST" {
            let id = format!("{:026x}", next_id.fetch_add(1, Ordering::Relaxed));
            command.clear();
            resp_command(
                &mut command,
                &[b"SET", id.as_bytes(), &body, b"PX", TTL_MS.as_bytes()],
            );
            redis.1.write_all(&command)?;
            read_reply(&mut redis.0)?;
            http(201, format!("{{\"id\":\"{id}\"}}").as_bytes())
        } else if let Some(id) = path.strip_prefix("/api/v1/secret/") {
            command.clear();
            resp_command(&mut command, &[b"GETDEL", id.as_bytes()]);
            redis.1.write_all(&command)?;
            match read_reply(&mut redis.0)? {
                Some(value) => http(200, &value),
                None => http(404, b"{\"error\":\"not_found\"}"),
            }
        } else {
            http(200, b"ok")
        };
        out.write_all(&response)?;
    }
}

fn http(status: u16, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn resp_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// A simple string, error or bulk reply; `None` for a nil bulk.
fn read_reply(redis: &mut BufReader<TcpStream>) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = String::new();
    redis.read_line(&mut head)?;
    match head.as_bytes().first() {
        Some(b'$') => {
            let n: i64 = head[1..].trim().parse().unwrap_or(-1);
            if n < 0 {
                return Ok(None);
            }
            let mut value = vec![0; n as usize + 2];
            redis.read_exact(&mut value)?;
            value.truncate(n as usize);
            Ok(Some(value))
        }
        Some(b'-') | None => Err(std::io::Error::other(format!("redis: {}", head.trim()))),
        _ => Ok(Some(Vec::new())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_resp_arrays() {
        let mut out = Vec::new();
        resp_command(&mut out, &[b"GETDEL", b"k1"]);
        assert_eq!(out, b"*2\r\n$6\r\nGETDEL\r\n$2\r\nk1\r\n");
    }

    #[test]
    fn responses_carry_their_length() {
        assert_eq!(
            http(201, b"{}"),
            b"HTTP/1.1 201 X\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        );
    }
}
