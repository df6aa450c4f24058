//! Test-only: a one-shot HTTP/1.1 server on 127.0.0.1 standing in for a web endpoint or a
//! Prometheus server, so provider exit paths (error messages, quoted bodies, measured values)
//! are exercised against real requests built by reqwest. It serves exactly one connection on
//! a plain thread and hands back the request it read; nothing waits on a clock, the client's
//! request is what moves it on.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

/// The request as the server saw it.
#[derive(Debug, Default)]
pub(crate) struct Request {
    /// The request target, as sent (percent-encoded by the client).
    pub target: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the server does once it has read the request.
pub(crate) enum Reply {
    /// Closes the connection without answering: the client's request fails.
    Close,
    Answer {
        status: u16,
        content_type: &'static str,
        body: String,
    },
}

/// A server answering one request with `reply`. Returns its base URL (`http://127.0.0.1:PORT`)
/// and the thread, whose result is the request it read.
pub(crate) fn serve_once(
    reply: impl FnOnce(&Request) -> Reply + Send + 'static,
) -> (String, JoinHandle<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binds a loopback port");
    let base = format!(
        "http://{}",
        listener.local_addr().expect("the bound address")
    );
    let thread = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("a connection");
        let request = read_request(&mut stream);
        match reply(&request) {
            Reply::Close => {}
            Reply::Answer {
                status,
                content_type,
                body,
            } => {
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body.as_bytes());
                let _ = stream.flush();
            }
        }
        request
    });
    (base, thread)
}

/// Reads the request line and headers, then as much body as `content-length` says.
fn read_request(stream: &mut impl Read) -> Request {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return Request::default(),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let target = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or_default()
        .to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut have = buf.len() - (head_end + 4);
    while have < length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => have += n,
        }
    }
    Request { target, headers }
}

/// JSON text of `s` the way ASCII-only encoders (Python's `json.dumps`, Go's `\u003c` HTML
/// escaping aside) write it: every non-ASCII character as `\uXXXX`, astral ones as a
/// surrogate pair.
pub(crate) fn ascii_json(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}
