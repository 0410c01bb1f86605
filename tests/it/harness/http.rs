//! A raw HTTP/1.1 request: the target is written verbatim (no client normalises a path),
//! and the answer is read whole off the socket, whatever it is.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// An HTTP response as read off the socket.
#[derive(Debug)]
pub struct RawResponse {
    /// The status of the status line, or `None` if the server sent none.
    pub status: Option<u16>,
    /// The status line and headers, lower-cased.
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.head
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .map(str::trim)
    }
}

/// Sends `<method> <target> HTTP/1.1` with the target written verbatim, with
/// `Connection: close`, and reads the whole answer.
pub fn raw_request(addr: SocketAddr, method: &str, target: &str) -> RawResponse {
    raw_request_with(addr, method, target, &[])
}

/// [`raw_request`] with these headers too (`("Accept", "text/plain")`).
pub fn raw_request_with(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> RawResponse {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request += &format!("{name}: {value}\r\n");
    }
    request += "\r\n";
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    if let Err(e) = stream.read_to_end(&mut raw) {
        // A reset after a complete answer still leaves the answer in `raw`.
        assert!(
            !raw.is_empty(),
            "{method} {target}: no answer from {addr}: {e}"
        );
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let body = raw[split..].to_vec();
    let status = head
        .strip_prefix("http/1.1 ")
        .or_else(|| head.strip_prefix("http/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    RawResponse { status, head, body }
}
