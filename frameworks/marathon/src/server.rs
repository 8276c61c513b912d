//! The HTTP server on `--http_port` (hyper, one task per connection on the local thread):
//! the leader answers from its state; a non-leader proxies the request to the leader
//! (Marathon's behaviour) and answers 503 while nobody leads.

use std::convert::Infallible;
use std::rc::Rc;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::api::{route, Reply};
use crate::shell::Shared;

/// Request bodies larger than this are refused.
const MAX_BODY: usize = 8 * 1024 * 1024;

type Body = UnsyncBoxBody<Bytes, Infallible>;

fn full(status: u16, ctype: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed_unsync());
    *r.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = hyper::header::HeaderValue::from_str(ctype) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn events(shared: &Shared) -> Response<Body> {
    let rx = shared.events.subscribe();
    let hello = crate::events::frame("event_stream_attached", json!({"remoteAddress": ""}));
    let first =
        futures::stream::once(async move { Ok::<_, Infallible>(Frame::data(Bytes::from(hello))) });
    let rest = futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(s) => return Some((Ok(Frame::data(Bytes::from(s))), rx)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let mut r = Response::new(StreamBody::new(first.chain(rest)).boxed_unsync());
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/event-stream"),
    );
    r
}

/// Forwards a request to the leader over a fresh HTTP/1.1 connection.
async fn proxy(
    leader: &str,
    method: &str,
    path_and_query: &str,
    ctype: Option<&str>,
    body: &[u8],
) -> Response<Body> {
    let attempt = async {
        let mut s = TcpStream::connect(leader).await?;
        let mut head = format!(
            "{method} {path_and_query} HTTP/1.1\r\nHost: {leader}\r\nConnection: close\r\nContent-Length: {}\r\nX-Marathon-Via: proxy\r\n",
            body.len()
        );
        if let Some(c) = ctype {
            head.push_str(&format!("Content-Type: {c}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).await?;
        s.write_all(body).await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        Ok::<_, std::io::Error>(out)
    };
    let raw = match tokio::time::timeout(std::time::Duration::from_secs(10), attempt).await {
        Ok(Ok(raw)) => raw,
        Ok(Err(e)) => {
            return full(
                502,
                "application/json",
                json!({"message": format!("leader {leader}: {e}")}).to_string(),
            )
        }
        Err(_) => {
            return full(
                504,
                "application/json",
                json!({"message": format!("leader {leader} timed out")}).to_string(),
            )
        }
    };
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let body = raw.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .unwrap_or(502);
    let ctype = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "application/json".into());
    let mut r = full(status, &ctype, body);
    if let Ok(v) = hyper::header::HeaderValue::from_str(leader) {
        r.headers_mut().insert("x-marathon-leader", v);
    }
    r
}

/// Answers one HTTP request.
pub async fn handle(shared: Rc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    let query = libproc::http::parse_query(req.uri().query().unwrap_or(""));
    let ctype = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let proxied = req.headers().contains_key("x-marathon-via");
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return full(
                400,
                "application/json",
                json!({"message": format!("cannot read the body: {e}")}).to_string(),
            )
        }
    };
    let local_only = path == "/ping" || path == "/v2/leader" || path == "/metrics";
    if !shared.is_leader() && !local_only {
        let leader = shared.leader.borrow().clone();
        return match leader {
            Some(l) if !proxied && l != shared.info.me => {
                proxy(&l, &method, &pq, ctype.as_deref(), &body).await
            }
            _ => full(
                503,
                "application/json",
                json!({"message": "Could not determine the current leader"}).to_string(),
            ),
        };
    }
    match route(&shared, &method, &path, &query, &body).await {
        Reply::Json(s, v) => full(s, "application/json", v.to_string()),
        Reply::Text(s, c, t) => full(s, c, t),
        Reply::Events => events(&shared),
    }
}

/// Serves HTTP on `listener` until the process ends.
pub async fn serve(listener: TcpListener, shared: Rc<Shared>) {
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::task::spawn_local(async move {
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(shared, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
