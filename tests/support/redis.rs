//! A real `redis-server` on 127.0.0.1 for the fleet tests: started on a free port with
//! nothing saved to disk, killed and restarted on the same port for outage cases. When
//! no `redis-server` is installed the suite skips with a note, unless
//! `LIGHTMIRROR_REQUIRE_REDIS=1` makes that a failure.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = "redis-server";

/// A running store, killed when dropped.
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Redis {
    /// A store on a free port, or `None` (after a note) when none can be installed here.
    pub fn start() -> Option<Self> {
        let installed = Command::new(BINARY)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !installed {
            if std::env::var_os("LIGHTMIRROR_REQUIRE_REDIS").is_some_and(|v| v == "1") {
                panic!("{BINARY} not found and LIGHTMIRROR_REQUIRE_REDIS=1");
            }
            eprintln!("note: skipping: {BINARY} not found (apt-get install redis-server)");
            return None;
        }
        // Another process may take the port between its release and the server's bind.
        for _ in 0..10 {
            let port = free_port();
            let mut redis = Self {
                port,
                child: None,
                dir: tempfile::tempdir().unwrap(),
            };
            if redis.spawn() {
                return Some(redis);
            }
        }
        panic!("{BINARY} did not start on any of ten ports");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Stops the server at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        for _ in 0..50 {
            if self.spawn() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{BINARY} did not start again on port {}", self.port);
    }

    /// A client connection for the test's own look into the store.
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// Starts the server on `self.port`; false when it exits (the port was taken) or does
    /// not answer within 5 s.
    fn spawn(&mut self) -> bool {
        let child = Command::new(BINARY)
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(mut child) = child else {
            return false;
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if child.try_wait().ok().flatten().is_some() {
                return false;
            }
            if pong(self.port) {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn pong(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}
