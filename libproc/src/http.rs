//! HTTP on the node's one port: request/response types for process routes, and the server
//! side of a connection whose first bytes were not the actor-protocol magic.
//!
//! Routing, in order: the node's built-ins (`/metrics/snapshot`, `/metrics`,
//! `/logging/toggle`, `/__processes__`); a libprocess-style message POST (`POST /<id>/<name>` with a
//! `Libprocess-From` header: the body is delivered as that message, answered `202`);
//! `/<id>/<path>` to process `<id>`'s route `<path>`; otherwise the delegate process's route
//! for the whole path (so the master can own `/state`). Unknown paths get `404`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

use crate::limits::Charge;
use crate::node::NodeInner;
use crate::transport::BoxStream;

/// An HTTP request as a process route sees it.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The full request path, e.g. `/master/state`.
    pub path: String,
    /// Decoded query parameters in order.
    pub query: Vec<(String, String)>,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
    /// The client's address.
    pub peer: SocketAddr,
    /// Who the request authenticated as, when its route's realm is guarded (see
    /// [`crate::http_auth`]); `None` on an open route.
    pub principal: Option<String>,
}

impl HttpRequest {
    /// The first query parameter with this name.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP response from a route.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
    /// A body that keeps arriving after the response is sent (sent chunked, after
    /// `body`); `None` for an ordinary response.
    pub stream: Option<BodyStream>,
}

/// The receiving end of a streamed response body (see [`body_channel`]): what a
/// [`BodySender`] sends goes out as chunks until every sender is dropped.
#[derive(Clone)]
pub struct BodyStream(Arc<std::sync::Mutex<Option<StreamParts>>>);

/// The channel and the guard whose drop tells [`BodyClosed`] the body is gone.
struct StreamParts {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    _gone: oneshot::Sender<()>,
}

impl std::fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodyStream")
    }
}

impl PartialEq for BodyStream {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// The sending end of a streamed response body. Dropping every clone ends the body.
#[derive(Debug, Clone)]
pub struct BodySender(tokio::sync::mpsc::Sender<Bytes>);

/// Why a chunk could not be queued on a streamed body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodySendError {
    /// The client reads slower than the body is written: the queue is full.
    #[error("the client does not keep up: its queue is full")]
    Full,
    /// The client is gone (or the response was never sent).
    #[error("the client is gone")]
    Closed,
}

impl BodySender {
    /// Queues one chunk without waiting.
    pub fn send(&self, chunk: impl Into<Bytes>) -> Result<(), BodySendError> {
        use tokio::sync::mpsc::error::TrySendError;
        self.0.try_send(chunk.into()).map_err(|e| match e {
            TrySendError::Full(_) => BodySendError::Full,
            TrySendError::Closed(_) => BodySendError::Closed,
        })
    }
}

/// Resolves once the streamed body is gone: the client disconnected, the body ended, or
/// the response carrying it was dropped unsent.
pub struct BodyClosed(oneshot::Receiver<()>);

impl std::future::Future for BodyClosed {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

/// A streamed body holding at most `capacity` unsent chunks: the sender (never blocks),
/// a future for the body's end, and the stream to put in [`HttpResponse::streaming`].
pub fn body_channel(capacity: usize) -> (BodySender, BodyClosed, BodyStream) {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
    let (gone_tx, gone_rx) = oneshot::channel();
    let stream = BodyStream(Arc::new(std::sync::Mutex::new(Some(StreamParts {
        rx,
        _gone: gone_tx,
    }))));
    (BodySender(tx), BodyClosed(gone_rx), stream)
}

impl HttpResponse {
    /// A response with a status, content type and body.
    pub fn new(status: u16, content_type: &str, body: impl Into<Bytes>) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            stream: None,
        }
    }
    /// A response whose body is `stream`, sent chunked as it arrives.
    pub fn streaming(status: u16, content_type: &str, stream: BodyStream) -> HttpResponse {
        let mut r = HttpResponse::new(status, content_type, Bytes::new());
        r.stream = Some(stream);
        r
    }
    /// `200` with a JSON body.
    pub fn json(value: &serde_json::Value) -> HttpResponse {
        HttpResponse::new(200, "application/json", value.to_string())
    }
    /// A plain-text response.
    pub fn text(status: u16, text: impl Into<String>) -> HttpResponse {
        HttpResponse::new(status, "text/plain; charset=utf-8", text.into())
    }
    /// `404 Not Found`.
    pub fn not_found() -> HttpResponse {
        HttpResponse::text(404, "Not Found\n")
    }
    /// `400 Bad Request` with the reason.
    pub fn bad_request(reason: impl std::fmt::Display) -> HttpResponse {
        HttpResponse::text(400, format!("{reason}\n"))
    }
    /// `307 Temporary Redirect` to `location`.
    pub fn redirect(location: &str) -> HttpResponse {
        let mut r = HttpResponse::text(307, "");
        r.headers.push(("location".into(), location.into()));
        r
    }
    /// `503 Service Unavailable` with the reason.
    pub fn unavailable(reason: impl std::fmt::Display) -> HttpResponse {
        HttpResponse::text(503, format!("{reason}\n"))
    }
    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> HttpResponse {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }
}

/// Answers one HTTP request, now or later. Dropping it unanswered gives the client `503`.
pub struct Responder(oneshot::Sender<HttpResponse>);

impl Responder {
    pub(crate) fn new(tx: oneshot::Sender<HttpResponse>) -> Responder {
        Responder(tx)
    }
    /// Sends the response.
    pub fn respond(self, response: HttpResponse) {
        let _ = self.0.send(response);
    }
}

/// Percent-decodes a URL component (`+` is a space in queries).
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a query string into decoded pairs.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// A stream that first replays bytes already read while sniffing.
pub(crate) struct Rewind {
    prefix: Bytes,
    inner: BoxStream,
}

impl Rewind {
    pub(crate) fn new(prefix: Bytes, inner: BoxStream) -> Rewind {
        Rewind { prefix, inner }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            let chunk = self.prefix.split_to(n);
            buf.put_slice(&chunk);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    // Forwarded so that hyper writes a response's body from its own buffer (`writev` of
    // the head and the body): without vectored writes it copies the whole body into its
    // write buffer first, and a 50 MB `/master/state` then held up the thread serving
    // the master's actor for tens of milliseconds.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A response body: all at once, or streamed chunk by chunk.
enum ResponseBody {
    Full(Full<Bytes>),
    Stream(Option<Bytes>, StreamParts),
}

impl hyper::body::Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            ResponseBody::Full(f) => Pin::new(f).poll_frame(cx),
            ResponseBody::Stream(first, parts) => {
                if let Some(b) = first.take().filter(|b| !b.is_empty()) {
                    return Poll::Ready(Some(Ok(hyper::body::Frame::data(b))));
                }
                parts
                    .rx
                    .poll_recv(cx)
                    .map(|c| c.map(|b| Ok(hyper::body::Frame::data(b))))
            }
        }
    }
    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Full(f) => f.is_end_stream(),
            ResponseBody::Stream(..) => false,
        }
    }
    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            ResponseBody::Full(f) => f.size_hint(),
            ResponseBody::Stream(..) => hyper::body::SizeHint::default(),
        }
    }
}

fn to_hyper(r: HttpResponse) -> hyper::Response<ResponseBody> {
    let mut b = hyper::Response::builder().status(r.status);
    for (k, v) in &r.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    let parts = r
        .stream
        .and_then(|s| s.0.lock().unwrap_or_else(|p| p.into_inner()).take());
    let body = match parts {
        Some(parts) => ResponseBody::Stream(Some(r.body), parts),
        None => ResponseBody::Full(Full::new(r.body)),
    };
    b.body(body).unwrap_or_else(|_| {
        let mut resp = hyper::Response::new(ResponseBody::Full(Full::new(Bytes::from_static(
            b"bad response headers\n",
        ))));
        *resp.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        resp
    })
}

/// Why a request body could not be read.
enum BodyError {
    /// The body did not fit the node's inbound byte budget.
    OverBudget,
    /// The body stream failed (or exceeded the size limit).
    Read(Box<dyn std::error::Error + Send + Sync>),
}

/// Reads a request body, charging what it holds to the node's inbound budget while it
/// arrives (the charge ends when the request is handed on).
async fn collect_body(node: &NodeInner, body: Limited<Incoming>) -> Result<Bytes, BodyError> {
    let mut body = std::pin::pin!(body);
    let mut charge = Charge::new(node.inbound_budget());
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyError::Read)?;
        if let Ok(data) = frame.into_data() {
            if !charge.set(buf.len() + data.len()) {
                return Err(BodyError::OverBudget);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

async fn convert(
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
    node: &NodeInner,
) -> Result<HttpRequest, HttpResponse> {
    let (limit, timeout) = (node.max_http_body(), node.inbound_timeout());
    let (parts, body) = req.into_parts();
    let collected =
        tokio::time::timeout(timeout, collect_body(node, Limited::new(body, limit))).await;
    let Ok(collected) = collected else {
        node.count_inbound_timeout();
        return Err(HttpResponse::text(
            408,
            format!("request body not received within {timeout:?}\n"),
        ));
    };
    let body = match collected {
        Ok(b) => b,
        Err(BodyError::OverBudget) => {
            node.count_over_budget();
            return Err(HttpResponse::unavailable(
                "request bodies being received exceed the node's inbound byte budget",
            ));
        }
        Err(BodyError::Read(e)) => {
            return Err(
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    HttpResponse::text(413, format!("request body larger than {limit} bytes\n"))
                } else {
                    HttpResponse::bad_request(format!("could not read request body: {e}"))
                },
            )
        }
    };
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    Ok(HttpRequest {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(parse_query).unwrap_or_default(),
        headers,
        body,
        peer,
        principal: None,
    })
}

/// Serves HTTP/1.1 on one connection until the client closes it. Request headers (and
/// the idle time before the next request on a kept-alive connection) and each request body
/// must arrive within the node's `inbound_timeout`.
pub(crate) async fn serve(node: Arc<NodeInner>, stream: Rewind, peer: SocketAddr) {
    let timeout = node.inbound_timeout();
    let max_headers = node.max_http_headers();
    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let node = node.clone();
        async move {
            let resp = match convert(req, peer, &node).await {
                Ok(req) => {
                    let jsonp = req.query("jsonp").map(str::to_owned);
                    with_jsonp(node.route_http(req).await, jsonp.as_deref())
                }
                Err(resp) => resp,
            };
            Ok::<_, Infallible>(to_hyper(resp))
        }
    });
    let io = hyper_util::rt::TokioIo::new(stream);
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeout)
        .max_headers(max_headers)
        .serve_connection(io, svc)
        .await
    {
        tracing::debug!(%peer, error = %e, "http connection ended with an error");
    }
}

/// `?jsonp=<callback>` on a JSON answer (how Mesos's old web UI fetched across origins):
/// the body becomes `<callback>(<json>);` as JavaScript. A callback that is not a plain
/// (dotted) JavaScript name is refused with `400`, so it cannot inject script.
pub fn with_jsonp(resp: HttpResponse, callback: Option<&str>) -> HttpResponse {
    let Some(cb) = callback else {
        return resp;
    };
    let is_json = resp
        .headers
        .iter()
        .any(|(k, v)| k == "content-type" && v.starts_with("application/json"));
    if !is_json || resp.stream.is_some() {
        return resp;
    }
    let valid = !cb.is_empty()
        && cb.len() <= 128
        && cb
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '.');
    if !valid {
        return HttpResponse::bad_request(
            "jsonp must be a JavaScript function name (letters, digits, '_', '$', '.')",
        );
    }
    let mut body = BytesMut::with_capacity(resp.body.len() + cb.len() + 3);
    body.extend_from_slice(cb.as_bytes());
    body.extend_from_slice(b"(");
    body.extend_from_slice(&resp.body);
    body.extend_from_slice(b");");
    let mut out = HttpResponse::new(resp.status, "text/javascript", body.freeze());
    out.headers.extend(
        resp.headers
            .into_iter()
            .filter(|(k, _)| k != "content-type"),
    );
    out
}

/// Splits `/a/b/c` into `("a", "b/c")`, percent-decoding the first segment.
pub(crate) fn split_path(path: &str) -> (String, String) {
    let p = path.trim_start_matches('/');
    let (first, rest) = p.split_once('/').unwrap_or((p, ""));
    (
        percent_decode(first, false),
        rest.trim_end_matches('/').to_string(),
    )
}

/// Minimal JSON list of processes for `/__processes__`.
pub(crate) fn processes_json(list: Vec<(String, u64)>) -> serde_json::Value {
    let v: Vec<serde_json::Value> = list
        .into_iter()
        .map(|(id, depth)| serde_json::json!({"id": id, "mailbox_depth": depth}))
        .collect();
    serde_json::Value::Array(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[tokio::test]
    async fn a_rewound_connection_takes_vectored_writes_as_its_socket_does() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let (server, _) = accepted.expect("accept");
        let _client = client.expect("connect");
        assert!(server.is_write_vectored());
        let rewound = Rewind::new(Bytes::from_static(b"GET"), Box::new(server));
        // Without it hyper copies each response body into its own buffer before writing.
        assert!(rewound.is_write_vectored());
    }

    #[test]
    fn decodes_queries() {
        assert_eq!(
            parse_query("path=%2Ftmp%2Fx&offset=0&len=+1&flag"),
            vec![
                ("path".into(), "/tmp/x".into()),
                ("offset".into(), "0".into()),
                ("len".into(), " 1".into()),
                ("flag".into(), "".into())
            ]
        );
        assert_eq!(percent_decode("slave%281%29", false), "slave(1)");
        assert_eq!(percent_decode("bad%zz%", false), "bad%zz%");
    }

    #[test]
    fn jsonp_wraps_json_only_with_a_plain_callback() {
        let json = HttpResponse::json(&serde_json::json!({"a": 1}));
        let r = with_jsonp(json.clone(), Some("angular.callbacks._0"));
        assert_eq!(&r.body[..], b"angular.callbacks._0({\"a\":1});");
        assert_eq!(r.headers[0].1, "text/javascript");
        assert_eq!(with_jsonp(json.clone(), None), json);
        assert_eq!(with_jsonp(json, Some("x);alert(1")).status, 400);
        let text = HttpResponse::text(200, "hi");
        assert_eq!(with_jsonp(text.clone(), Some("cb")), text);
    }

    #[test]
    fn splits_paths() {
        assert_eq!(
            split_path("/master/state"),
            ("master".into(), "state".into())
        );
        assert_eq!(
            split_path("/slave%281%29/state/"),
            ("slave(1)".into(), "state".into())
        );
        assert_eq!(split_path("/state"), ("state".into(), "".into()));
    }

    proptest! {
        #[test]
        fn decoders_never_panic(s in ".*") {
            let _ = parse_query(&s);
            let _ = percent_decode(&s, true);
            let _ = split_path(&s);
        }
    }
}
