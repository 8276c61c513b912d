//! The HTTP server on `--http_port` (Chronos's 4400): the REST API, `/ping`, `/metrics` and
//! the web UI. The leader hands API requests to its scheduler process; a follower answers
//! `307` to the leader (Chronos's behaviour), or `503` while no leader is known.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use frameworks::scheduler::SchedulerProcess;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use libproc::http::{parse_query, HttpResponse};
use libproc::ProcessRef;
use serde_json::json;
use tokio::net::TcpListener;

use crate::api::{self, Route};
use crate::framework::{ApiReply, ApiRequest, ChronosScheduler};

/// Largest request body accepted.
pub const MAX_BODY: usize = 1 << 20;

/// Who answers API requests.
#[derive(Clone, Default)]
pub enum Backend {
    /// This process leads: its scheduler.
    Leader(ProcessRef<SchedulerProcess<ChronosScheduler>>),
    /// Another process leads, at this `host:port` (HTTP).
    Follower(String),
    /// No leader known yet.
    #[default]
    Unknown,
}

/// What the HTTP server shares with the rest of the process.
#[derive(Default)]
pub struct HttpState {
    /// Who answers.
    pub backend: Mutex<Backend>,
    /// This server's `host:port`.
    pub me: Mutex<String>,
}

impl HttpState {
    /// Sets who answers.
    pub fn set(&self, b: Backend) {
        if let Ok(mut g) = self.backend.lock() {
            *g = b;
        }
    }

    fn backend(&self) -> Backend {
        self.backend.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

fn to_hyper(r: HttpResponse) -> hyper::Response<Full<Bytes>> {
    let mut b = hyper::Response::builder().status(r.status);
    for (k, v) in &r.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(Full::new(r.body)).unwrap_or_else(|_| {
        let mut resp = hyper::Response::new(Full::new(Bytes::from_static(b"bad response")));
        *resp.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        resp
    })
}

/// Answers one request.
pub async fn handle(
    state: &HttpState,
    method: &str,
    path: &str,
    query: &str,
    body: Bytes,
) -> HttpResponse {
    let route = match api::route(method, path) {
        Ok(r) => r,
        Err(405) => return HttpResponse::text(405, format!("{method} is not allowed on {path}\n")),
        Err(_) => return HttpResponse::not_found(),
    };
    let backend = state.backend();
    let me = state.me.lock().map(|g| g.clone()).unwrap_or_default();
    match (&route, &backend) {
        (Route::Ping, _) => return HttpResponse::new(200, "text/plain", "pong\n"),
        (Route::Leader, Backend::Leader(_)) => return HttpResponse::json(&json!({ "leader": me })),
        (Route::Leader, Backend::Follower(l)) => {
            return HttpResponse::json(&json!({ "leader": l }))
        }
        (Route::Ui(file), _) => return crate::ui::serve(file),
        (Route::Metrics, Backend::Leader(p)) => {
            let m = p
                .call(|s, _| s.scheduler().metrics())
                .await
                .unwrap_or_else(|_| json!({}));
            return HttpResponse::json(&json!({ "gauges": m, "leader": true }));
        }
        (Route::Metrics, _) => {
            return HttpResponse::json(&json!({ "gauges": {}, "leader": false }))
        }
        (_, Backend::Follower(l)) if api::leader_only(&route) => {
            let q = if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            };
            return HttpResponse::new(307, "text/plain", format!("leader is {l}\n"))
                .with_header("location", &format!("http://{l}{path}{q}"));
        }
        (_, Backend::Leader(_)) => {}
        _ => return HttpResponse::unavailable("no Chronos leader yet"),
    }
    let Backend::Leader(p) = backend else {
        return HttpResponse::unavailable("no Chronos leader yet");
    };
    let req = ApiRequest {
        route,
        query: parse_query(query),
        body,
    };
    let reply = p
        .call(move |proc_, ctx| proc_.with_driver(ctx, |s, d| s.api(req, d)))
        .await;
    match reply {
        Ok(ApiReply::Now(r)) => r,
        Ok(ApiReply::Later(rx)) => rx.await.unwrap_or_else(|_| {
            HttpResponse::unavailable("the scheduler stopped before the change was stored")
        }),
        Err(_) => HttpResponse::unavailable("the scheduler is not running"),
    }
}

/// Serves HTTP on `listener` until the process ends.
pub async fn serve(listener: TcpListener, state: Arc<HttpState>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let state = state.clone();
        tokio::task::spawn_local(async move { serve_one(stream, peer, state).await });
    }
}

async fn serve_one(stream: tokio::net::TcpStream, peer: SocketAddr, state: Arc<HttpState>) {
    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let state = state.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = match Limited::new(body, MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => {
                    return Ok::<_, Infallible>(to_hyper(HttpResponse::text(
                        413,
                        format!("cannot read the body (at most {MAX_BODY} bytes): {e}\n"),
                    )))
                }
            };
            let resp = handle(
                &state,
                parts.method.as_str(),
                parts.uri.path(),
                parts.uri.query().unwrap_or(""),
                body,
            )
            .await;
            Ok::<_, Infallible>(to_hyper(resp))
        }
    });
    let io = hyper_util::rt::TokioIo::new(stream);
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, svc)
        .await
    {
        tracing::debug!(%peer, error = %e, "http connection ended with an error");
    }
}
