//! A destination server on this machine that fails on demand, for the canary to find: every
//! request gets `503 Service Unavailable` while it is failing and `200 OK` once it recovers.
//! One answer per connection (`Connection: close`), whatever was asked: the canary's probes
//! need a status line, nothing more.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::DrillError;

/// The status line a destination answers with.
pub fn status_line(failing: bool) -> &'static str {
    if failing {
        "503 Service Unavailable"
    } else {
        "200 OK"
    }
}

/// The whole answer to one request.
pub fn response(failing: bool) -> String {
    format!("HTTP/1.1 {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status_line(failing))
}

/// A running destination server; stops when dropped.
pub struct Destination {
    addr: SocketAddr,
    failing: Arc<AtomicBool>,
    server: tokio::task::JoinHandle<()>,
}

impl Destination {
    /// Starts a failing destination on a free loopback port.
    pub async fn start_failing() -> Result<Destination, DrillError> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(DrillError::failed)?;
        let addr = listener.local_addr().map_err(DrillError::failed)?;
        let failing = Arc::new(AtomicBool::new(true));
        let flag = failing.clone();
        let server = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let answer = response(flag.load(Ordering::SeqCst));
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    // Whatever the request was (or if it never came), the answer is the same;
                    // a client that went away has nothing to be told.
                    let _ = socket.read(&mut buf).await;
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        });
        Ok(Destination { addr, failing, server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From now on, answers 200.
    pub fn recover(&self) {
        self.failing.store(false, Ordering::SeqCst);
    }
}

impl Drop for Destination {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_a_status_line_and_an_empty_body() {
        assert_eq!(
            response(true),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        assert!(response(false).starts_with("HTTP/1.1 200 OK\r\n"));
    }

    #[tokio::test]
    async fn it_fails_until_it_recovers() {
        let d = match Destination::start_failing().await {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let get = || async {
            let client = reqwest::Client::builder().no_proxy().build().ok()?;
            client.get(format!("http://{}/gone/0", d.addr())).send().await.map(|r| r.status().as_u16()).ok()
        };
        assert_eq!(get().await, Some(503));
        d.recover();
        assert_eq!(get().await, Some(200));
    }
}
