//! Runs the real `knn-server` binary and talks to it with a minimal HTTP/1.1 client over
//! `std::net::TcpStream`, so these tests need no HTTP client crate.

// Each test file uses its own part of this module.
#![allow(dead_code)]

pub mod namespace;

use std::ffi::OsString;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Server {
    pub child: Child,
    pub address: SocketAddr,
    /// The server's log lines after the "listening" line, as they arrive.
    pub log: mpsc::Receiver<String>,
}

/// Starts `knn-server serve` on a free port over `data_dir` and waits until it listens.
pub fn start(data_dir: &Path) -> Server {
    start_wrapped(&[], data_dir, &[])
}

/// [`start`], run through `wrapper` (a command that runs its arguments, such as `nsenter …`),
/// with `extra` arguments after `serve`'s own.
pub fn start_wrapped(wrapper: &[OsString], data_dir: &Path, extra: &[&str]) -> Server {
    let binary = OsString::from(env!("CARGO_BIN_EXE_knn-server"));
    let (program, leading) = match wrapper.split_first() {
        Some((program, rest)) => (program.clone(), [rest, &[binary]].concat()),
        None => (binary, Vec::new()),
    };
    let mut child = Command::new(program)
        .args(leading)
        .args([
            "--log-format",
            "text",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--backend",
            "cpu",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start knn-server");
    let stderr = child.stderr.take().expect("piped stderr");
    let (sender, log) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let line = match log.recv_timeout(remaining) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("knn-server did not report a listening address");
            }
        };
        if let Some(rest) = line.split("listening on ").nth(1) {
            let address = rest
                .split_whitespace()
                .next()
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("cannot parse address in {line:?}"));
            return Server {
                child,
                address,
                log,
            };
        }
    }
}

/// A response: status, header lines (lowercase names) and JSON body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl Server {
    /// Sends one request and returns the status and JSON body.
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let reply = self.request_with(method, path, &[], body);
        (reply.status, reply.body)
    }

    /// [`Server::request`] with extra header lines (`Authorization: Bearer …`).
    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        headers: &[&str],
        body: Option<&Value>,
    ) -> Reply {
        let mut stream = TcpStream::connect(self.address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("set timeout");
        let body = body.map(Value::to_string).unwrap_or_default();
        let extra: String = headers.iter().map(|line| format!("{line}\r\n")).collect();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
            self.address,
            body.len()
        )
        .expect("send request");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).expect("read response");
        let (status, body) = parse_response(&response);
        let text = String::from_utf8_lossy(&response);
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        let headers = head
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Waits for a log line containing `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(remaining) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line with {needle:?} within {timeout:?}"),
            }
        }
    }

    /// Waits for the process to exit by itself; returns its status and remaining log lines.
    pub fn wait_exit(mut self, timeout: Duration) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll child") {
                // The reader thread ends at EOF, which closes the channel.
                let log = self.log.iter().collect();
                return (status, log);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("knn-server did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse_response(response: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("malformed response {text:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {body:?}"))
    };
    (status, value)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// Sends a signal as an operator or supervisor would, through the shell's `kill` builtin (std
/// can only send SIGKILL, and a shell exists wherever the tests run).
pub fn signal(child: &Child, signal: &str) {
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -s {signal} {}", child.id()))
        .status()
        .expect("run sh");
    assert!(status.success(), "kill -s {signal} failed");
}
