//! A minimal HTTP/1.1 server for destinations (answers by a function of method and path) that
//! also counts the connections it accepted: the sentinel of the SSRF tests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub struct Reply {
    status: u16,
    location: Option<String>,
    delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self { status, location: None, delay: Duration::ZERO }
    }
    pub fn redirect(to: &str) -> Self {
        Self { status: 302, location: Some(to.to_string()), delay: Duration::ZERO }
    }
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start(
        bind: &str,
        answer: impl Fn(&str, &str) -> Reply + Send + Sync + 'static,
    ) -> TestServer {
        let listener = TcpListener::bind(bind).await.expect("bind test server");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let (acc, answer) = (accepted.clone(), Arc::new(answer));
        let task = tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                acc.fetch_add(1, Ordering::SeqCst);
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let mut parts = head.split_whitespace();
                    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                    let reply = answer(method, path);
                    tokio::time::sleep(reply.delay).await;
                    let location = reply.location.map(|l| format!("Location: {l}\r\n")).unwrap_or_default();
                    let body = if method == "HEAD" { "" } else { "hello" };
                    let resp = format!(
                        "HTTP/1.1 {} X\r\n{location}Content-Length: 5\r\nConnection: close\r\n\r\n{body}",
                        reply.status
                    );
                    // A client that hung up needs no answer, nor a clean shutdown.
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        TestServer { addr, accepted, task }
    }

    /// A listener that only counts connections (answers 200 to anything that gets through).
    pub async fn sentinel(bind: &str) -> TestServer {
        Self::start(bind, |_, _| Reply::status(200)).await
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub fn stop(self) {
        self.task.abort();
    }
}
