//! `--redis-dsn`: which Redis deployment to talk to.
//!
//! - `redis://[[user]:password@]host[:port][/db]`, `rediss://…` (TLS) and
//!   `redis+unix:///path/to/socket[?db=N&user=U&pass=P]`: one node, parsed by the redis crate.
//! - `redis-sentinel://[[user]:password@]host:port[,host:port…]/master-name[/db][?sentinel_password=P]`:
//!   the sentinels to ask for the current master of `master-name`; the credentials are those of
//!   the Redis nodes, `sentinel_password` those of the sentinels (if they have `requirepass`).
//! - `redis-cluster://[[user]:password@]host:port[,host:port…]` and `rediss-cluster://…` (TLS):
//!   seed nodes of a Redis Cluster; the rest of the topology is discovered.
//!
//! Error messages never repeat the DSN: it may carry a password.

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

#[derive(Debug, Clone)]
pub enum Target {
    Single(Box<ConnectionInfo>),
    Sentinel(Sentinel),
    Cluster(Cluster),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentinel {
    pub sentinels: Vec<(String, u16)>,
    pub master: String,
    pub db: i64,
    pub auth: Auth,
    pub sentinel_password: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub nodes: Vec<(String, u16)>,
    pub auth: Auth,
    pub tls: bool,
}

impl Target {
    /// Whether the connection is encrypted, so that `--redis-ca-file` has something to apply to.
    pub fn uses_tls(&self) -> bool {
        match self {
            Target::Single(info) => matches!(info.addr(), ConnectionAddr::TcpTls { .. }),
            Target::Sentinel(_) => false,
            Target::Cluster(c) => c.tls,
        }
    }

    /// For logs: the kind of deployment and where, never credentials.
    pub fn describe(&self) -> String {
        let list = |nodes: &[(String, u16)]| {
            nodes
                .iter()
                .map(|(h, p)| format!("{h}:{p}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            Target::Single(info) => match info.addr() {
                ConnectionAddr::Tcp(h, p) => format!("redis {h}:{p}"),
                ConnectionAddr::TcpTls { host, port, .. } => format!("redis (TLS) {host}:{port}"),
                ConnectionAddr::Unix(path) => format!("redis unix socket {}", path.display()),
                _ => "redis".to_owned(),
            },
            Target::Sentinel(s) => format!(
                "redis sentinel master {:?} via {}",
                s.master,
                list(&s.sentinels)
            ),
            Target::Cluster(c) => format!(
                "redis cluster{} seeded by {}",
                if c.tls { " (TLS)" } else { "" },
                list(&c.nodes)
            ),
        }
    }
}

pub fn parse(dsn: &str) -> Result<Target, String> {
    let (scheme, rest) = dsn
        .split_once("://")
        .ok_or("--redis-dsn must start with a scheme such as redis://")?;
    match scheme {
        "redis" | "rediss" | "redis+unix" | "unix" => {
            let info = dsn.into_connection_info().map_err(|e| {
                format!(
                    "--redis-dsn is not a valid {scheme}:// URL ({:?})",
                    e.kind()
                )
            })?;
            Ok(Target::Single(Box::new(info)))
        }
        "redis-sentinel" => parse_sentinel(rest),
        "redis-cluster" | "rediss-cluster" => parse_cluster(rest, scheme == "rediss-cluster"),
        other => Err(format!(
            "--redis-dsn scheme {other:?} is not supported; use redis://, rediss://, \
             redis+unix://, redis-sentinel:// or redis-cluster://"
        )),
    }
}

/// Splits `[userinfo@]hosts[/path][?query]`.
struct Parts<'a> {
    auth: Auth,
    hosts: Vec<(String, u16)>,
    path: &'a str,
    query: &'a str,
}

fn split(rest: &str, default_port: u16) -> Result<Parts<'_>, String> {
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let auth = match userinfo {
        None => Auth::default(),
        Some(u) => {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            let user = decode(user)?;
            let pass = decode(pass)?;
            Auth {
                username: (!user.is_empty()).then_some(user),
                password: (!pass.is_empty()).then_some(pass),
            }
        }
    };
    let hosts = hosts
        .split(',')
        .map(|h| host_port(h, default_port))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Parts {
        auth,
        hosts,
        path,
        query,
    })
}

fn host_port(s: &str, default_port: u16) -> Result<(String, u16), String> {
    let bad = || format!("--redis-dsn: {s:?} is not host:port");
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(bad)?;
        (host, after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = match port {
        Some(p) => p.parse().map_err(|_| bad())?,
        None => default_port,
    };
    Ok((host.to_owned(), port))
}

fn decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("--redis-dsn: bad %-escape in the credentials")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "--redis-dsn: credentials are not UTF-8".to_owned())
}

fn parse_sentinel(rest: &str) -> Result<Target, String> {
    let p = split(rest, 26379)?;
    let mut segments = p.path.split('/').filter(|s| !s.is_empty());
    let master = segments
        .next()
        .ok_or("--redis-dsn: redis-sentinel:// needs the master name: redis-sentinel://host:port/master-name")?;
    let db = match segments.next() {
        Some(db) => db
            .parse()
            .map_err(|_| format!("--redis-dsn: database {db:?} is not a number"))?,
        None => 0,
    };
    if segments.next().is_some() {
        return Err("--redis-dsn: redis-sentinel:// path is /master-name[/db]".into());
    }
    let mut sentinel_password = None;
    for pair in p.query.split('&').filter(|s| !s.is_empty()) {
        match pair.split_once('=') {
            Some(("sentinel_password", v)) => sentinel_password = Some(decode(v)?),
            _ => {
                return Err(
                    "--redis-dsn: the only redis-sentinel:// option is sentinel_password".into(),
                )
            }
        }
    }
    Ok(Target::Sentinel(Sentinel {
        sentinels: p.hosts,
        master: decode(master)?,
        db,
        auth: p.auth,
        sentinel_password,
    }))
}

fn parse_cluster(rest: &str, tls: bool) -> Result<Target, String> {
    let p = split(rest, 6379)?;
    if !p.path.is_empty() || !p.query.is_empty() {
        return Err(
            "--redis-dsn: redis-cluster:// takes no database or options \
                    (a cluster has only database 0)"
                .into(),
        );
    }
    Ok(Target::Cluster(Cluster {
        nodes: p.hosts,
        auth: p.auth,
        tls,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &[(&str, u16)]) -> Vec<(String, u16)> {
        list.iter().map(|(h, p)| (h.to_string(), *p)).collect()
    }

    #[test]
    fn single_node_forms_go_to_the_redis_crate() {
        for dsn in [
            "redis://127.0.0.1:6379/0",
            "redis://:secret@redis:6379/2",
            "rediss://redis.example.com:6380/0",
            "redis+unix:///run/redis/redis.sock?db=1",
            "unix:///run/redis/redis.sock",
        ] {
            assert!(matches!(parse(dsn), Ok(Target::Single(_))), "{dsn}");
        }
        let Ok(Target::Single(info)) = parse("redis://u:p%40ss@h:1/3") else {
            panic!("parses")
        };
        assert_eq!(info.redis_settings().db(), 3);
        assert!(!parse("redis://h:1").unwrap().uses_tls());
        assert!(parse("rediss://h:1").unwrap().uses_tls());
    }

    #[test]
    fn sentinel_form() {
        let t =
            parse("redis-sentinel://:pw@s1:26379,s2,[::1]:26380/mymaster/2?sentinel_password=sp")
                .unwrap();
        let Target::Sentinel(t) = t else {
            panic!("a sentinel target")
        };
        assert_eq!(
            t,
            Sentinel {
                sentinels: hosts(&[("s1", 26379), ("s2", 26379), ("::1", 26380)]),
                master: "mymaster".into(),
                db: 2,
                auth: Auth {
                    username: None,
                    password: Some("pw".into())
                },
                sentinel_password: Some("sp".into()),
            }
        );
        let Ok(Target::Sentinel(t)) = parse("redis-sentinel://a:26379/m") else {
            panic!("a sentinel target")
        };
        assert_eq!(
            t,
            Sentinel {
                sentinels: hosts(&[("a", 26379)]),
                master: "m".into(),
                db: 0,
                auth: Auth::default(),
                sentinel_password: None,
            }
        );
    }

    #[test]
    fn cluster_form() {
        let t = parse("rediss-cluster://user:p%3Aw@n1:7000,n2:7001").unwrap();
        assert!(t.uses_tls());
        let Target::Cluster(t) = t else {
            panic!("a cluster target")
        };
        assert_eq!(
            t,
            Cluster {
                nodes: hosts(&[("n1", 7000), ("n2", 7001)]),
                auth: Auth {
                    username: Some("user".into()),
                    password: Some("p:w".into())
                },
                tls: true,
            }
        );
    }

    #[test]
    fn bad_dsns_are_explained_without_echoing_credentials() {
        for (dsn, hint) in [
            ("127.0.0.1:6379", "scheme"),
            ("http://h:1", "not supported"),
            ("redis://:topsecret@h:notaport", "not a valid"),
            ("redis-sentinel://:topsecret@h:1", "master name"),
            ("redis-sentinel://:topsecret@h:1/m/x", "not a number"),
            (
                "redis-sentinel://:topsecret@h:1/m?foo=1",
                "sentinel_password",
            ),
            ("redis-sentinel://:topsecret@h:x/m", "host:port"),
            ("redis-cluster://:topsecret@h:1/0", "database 0"),
            ("redis-cluster://:top%zzsecret@h:1", "%-escape"),
            ("redis-cluster://:topsecret@,h:1", "host:port"),
        ] {
            let Err(e) = parse(dsn) else {
                panic!("{dsn} was accepted")
            };
            assert!(e.contains(hint), "{dsn}: {e}");
            assert!(!e.contains("topsecret"), "{dsn}: {e}");
        }
    }
}
