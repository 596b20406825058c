//! A minimal RESP2 client, enough for the harness to ask Redis, Sentinel and Cluster processes
//! whether they are ready (tests keep using the `redis` crate for everything else).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<String>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The text of a status or bulk reply.
    pub fn text(&self) -> Option<&str> {
        match self {
            Reply::Status(s) | Reply::Bulk(Some(s)) => Some(s),
            _ => None,
        }
    }

    /// The elements of an array reply as text (non-text elements are skipped).
    pub fn texts(&self) -> Vec<String> {
        match self {
            Reply::Array(Some(items)) => items
                .iter()
                .filter_map(|i| i.text().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A connection to `127.0.0.1:port`, with short timeouts.
pub struct RespConnection {
    reader: BufReader<TcpStream>,
}

impl RespConnection {
    pub fn connect(port: u16) -> std::io::Result<RespConnection> {
        let stream = TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_millis(500),
        )?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.set_write_timeout(Some(Duration::from_secs(2)))?;
        Ok(RespConnection {
            reader: BufReader::new(stream),
        })
    }

    /// Sends `args` as one command and reads its reply (an error reply is `Ok(Reply::Error)`).
    pub fn command(&mut self, args: &[&str]) -> std::io::Result<Reply> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.reader.get_mut().write_all(&out)?;
        self.read_reply()
    }

    fn read_line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }

    fn read_reply(&mut self) -> std::io::Result<Reply> {
        let line = self.read_line()?;
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not a RESP2 reply");
        let (kind, rest) = line.split_at_checked(1).ok_or_else(bad)?;
        Ok(match kind {
            "+" => Reply::Status(rest.to_owned()),
            "-" => Reply::Error(rest.to_owned()),
            ":" => Reply::Int(rest.parse().map_err(|_| bad())?),
            "$" => {
                let len: i64 = rest.parse().map_err(|_| bad())?;
                if len < 0 {
                    Reply::Bulk(None)
                } else {
                    let mut buf = vec![0u8; len as usize + 2];
                    self.reader.read_exact(&mut buf)?;
                    buf.truncate(len as usize);
                    Reply::Bulk(Some(String::from_utf8_lossy(&buf).into_owned()))
                }
            }
            "*" => {
                let len: i64 = rest.parse().map_err(|_| bad())?;
                if len < 0 {
                    Reply::Array(None)
                } else {
                    let mut items = Vec::with_capacity(len as usize);
                    for _ in 0..len {
                        items.push(self.read_reply()?);
                    }
                    Reply::Array(Some(items))
                }
            }
            _ => return Err(bad()),
        })
    }
}

/// `INFO <section>`'s `key` on the process at `port`, if it answers.
pub fn info_field(port: u16, section: &str, key: &str) -> Option<String> {
    info_like(port, &["INFO", section], key)
}

/// A `key:value` field of the text reply to `command`.
pub(crate) fn info_like(port: u16, command: &[&str], key: &str) -> Option<String> {
    let reply = RespConnection::connect(port).ok()?.command(command).ok()?;
    reply
        .text()?
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
}
