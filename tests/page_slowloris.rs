//! The status page under slowloris, on loopback: twenty connections from one address each
//! trickle a request head (a header line every 300 ms, never finishing it) and reconnect when
//! closed, for 6 s. Each is closed within about the idle timeout although it keeps sending
//! (the request head has a deadline), the address holds at most its share of the slots, and
//! a client from another address gets every page it asks for meanwhile.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use stratum1_web::server::WebServer;

const IDLE: Duration = Duration::from_secs(1);

/// A connection from `local` (a loopback address of our choice) to `server`.
fn connect_from(local: &str, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.bind(&format!("{local}:0").parse::<SocketAddr>().unwrap().into())?;
    socket.connect_timeout(&server.into(), Duration::from_secs(2))?;
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    Ok(stream)
}

fn get(local: &str, server: SocketAddr) -> bool {
    let Ok(mut stream) = connect_from(local, server) else { return false };
    if stream.write_all(b"GET /api/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut body = Vec::new();
    let _ = stream.read_to_end(&mut body);
    body.starts_with(b"HTTP/1.1 200")
}

#[test]
fn trickling_clients_are_closed_and_one_address_cannot_take_every_slot() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let snapshot = stratum1_web::snapshot::example();
    let server = WebServer::start(vec![listener], 8, IDLE, Arc::new(move || snapshot.clone()), None).unwrap();
    let addr = server.local_addrs[0];
    let stop = Arc::new(AtomicBool::new(false));
    let lifetimes = Arc::new(Mutex::new(Vec::new()));
    let attackers: Vec<_> = (0..20)
        .map(|_| {
            let (stop, lifetimes) = (stop.clone(), lifetimes.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut stream) = connect_from("127.0.0.1", addr) else { continue };
                    let opened = Instant::now();
                    let mut alive = stream.write_all(b"GET / HTTP/1.1\r\n").is_ok();
                    while alive && !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(300));
                        alive = stream.write_all(b"X-Slow: 1\r\n").is_ok();
                        // A closed connection shows as a read of 0 bytes (or an error).
                        stream.set_nonblocking(true).unwrap();
                        let mut byte = [0u8; 1];
                        if matches!(stream.read(&mut byte), Ok(0)) {
                            alive = false;
                        }
                        stream.set_nonblocking(false).unwrap();
                    }
                    if !stop.load(Ordering::Relaxed) {
                        lifetimes.lock().unwrap().push(opened.elapsed());
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let deadline = Instant::now() + Duration::from_secs(6);
    let (mut asked, mut answered) = (0, 0);
    while Instant::now() < deadline {
        asked += 1;
        answered += usize::from(get("127.0.0.2", addr));
        std::thread::sleep(Duration::from_millis(300));
    }
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        a.join().unwrap();
    }
    server.shutdown();
    assert_eq!(answered, asked, "the page from another address during the attack");
    let lifetimes = lifetimes.lock().unwrap();
    let longest = lifetimes.iter().max().copied().unwrap_or_default();
    assert!(!lifetimes.is_empty(), "trickling connections were closed");
    assert!(longest < IDLE * 3, "a trickling connection lived {longest:?} (idle timeout {IDLE:?})");
}
