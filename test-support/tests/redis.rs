//! The Redis side of the harness against the real `redis-server`.

use hakanai_test_support::{listens_on, RedisServer, Reply, RespConnection};

#[test]
fn starts_on_a_port_of_its_own_and_stops_on_drop() {
    let a = RedisServer::start();
    let b = RedisServer::start();
    assert_ne!(a.port, b.port);
    let pid = a.pid().unwrap();
    assert!(listens_on(pid, a.port));
    assert!(!listens_on(pid, b.port));
    let mut c = RespConnection::connect(a.port).unwrap();
    assert_eq!(c.command(&["PING"]).unwrap(), Reply::Status("PONG".into()));
    let port = a.port;
    drop(a);
    assert!(RespConnection::connect(port).is_err());
}

#[test]
fn a_port_held_by_someone_else_is_never_taken_for_ours() {
    // Another process's listener on the exact port asked for: the start fails (it would be
    // retried elsewhere without a fixed port) instead of mistaking that listener for Redis.
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = other.local_addr().unwrap().port();
    let err = RedisServer::builder().port(port).try_start().err().unwrap();
    assert!(err.contains("did not start"), "{err}");
}
