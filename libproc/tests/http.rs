//! HTTP and the actor protocol share one port: process routes, the delegate, metrics,
//! libprocess-style message POSTs, and clear errors.

mod common;

use common::{http_get, http_request, next, Event, Ping, Recorder};
use libproc::{Ctx, Handlers, HttpResponse, Node, NodeConfig, Process};

struct Api {
    hits: u64,
}

impl Process for Api {
    fn install(h: &mut Handlers<Self>) {
        h.route("state", |me: &mut Api, ctx: &mut Ctx<Self>, req| {
            me.hits += 1;
            HttpResponse::json(&serde_json::json!({
                "pid": ctx.pid().to_string(),
                "hits": me.hits,
                "q": req.query("q"),
            }))
        });
        h.route("echo", |_me: &mut Api, _ctx: &mut Ctx<Self>, req| {
            if req.method != "POST" {
                return HttpResponse::text(405, "POST only\n");
            }
            match serde_json::from_slice::<serde_json::Value>(&req.body) {
                Ok(v) => HttpResponse::json(&v),
                Err(e) => HttpResponse::bad_request(format!("body is not JSON: {e}")),
            }
        });
    }
}

#[actix_rt::test]
async fn http_and_messages_on_one_port() {
    let server = Node::bind(NodeConfig::local()).await.unwrap();
    server.spawn("master", Api { hits: 0 }).unwrap();
    let (echo, _) = Recorder::new();
    server.spawn("echo", echo).unwrap();
    server.set_delegate("master");

    // Actor traffic to the same port.
    let client = Node::bind(NodeConfig::local()).await.unwrap();
    let (rec, mut events) = Recorder::new();
    let c = client.spawn("client", rec).unwrap();
    client.send(
        c.pid(),
        &server.pid("echo"),
        Ping {
            seq: 1,
            text: String::new(),
        },
    );
    assert_eq!(next(&mut events).await, Event::Pong(server.pid("echo"), 1));

    let (status, body) = http_get(server.addr(), "/master/state?q=a%20b").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["hits"], 1);
    assert_eq!(v["q"], "a b");
    // The delegate owns top-level paths.
    let (status, body) = http_get(server.addr(), "/state").await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["hits"],
        2
    );

    assert_eq!(http_get(server.addr(), "/master/nope").await.0, 404);
    assert_eq!(http_get(server.addr(), "/nope/nope").await.0, 404);

    // Bad bodies get a 400 with the reason.
    let raw = "POST /master/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{oops";
    let (status, body) = http_request(server.addr(), raw.as_bytes()).await;
    assert_eq!(status, 400);
    assert!(body.contains("not JSON"), "{body}");

    // Actor traffic still flows after all that HTTP.
    client.send(
        c.pid(),
        &server.pid("echo"),
        Ping {
            seq: 2,
            text: String::new(),
        },
    );
    assert_eq!(next(&mut events).await, Event::Pong(server.pid("echo"), 2));
}

#[actix_rt::test]
async fn metrics_in_json_and_prometheus() {
    let server = Node::bind(NodeConfig::local()).await.unwrap();
    let (echo, _) = Recorder::new();
    server.spawn("echo", echo).unwrap();
    let client = Node::bind(NodeConfig::local()).await.unwrap();
    let (rec, mut events) = Recorder::new();
    let c = client.spawn("client", rec).unwrap();
    for seq in 1..=3 {
        client.send(
            c.pid(),
            &server.pid("echo"),
            Ping {
                seq,
                text: String::new(),
            },
        );
        next(&mut events).await;
    }
    let (status, body) = http_get(server.addr(), "/metrics/snapshot").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["libproc/messages_received"], 3);
    assert_eq!(v["libproc/frames_in"], 3);
    assert_eq!(v["libproc/mailbox_depth/echo"], 0.0);
    let (status, text) = http_get(server.addr(), "/metrics").await;
    assert_eq!(status, 200);
    let line = format!("libproc_messages_received{{node=\"{}\"}} 3", server.addr());
    assert!(text.contains(&line), "{text}");
}

#[actix_rt::test]
async fn libprocess_style_post_delivers_a_message() {
    let server = Node::bind(NodeConfig::local()).await.unwrap();
    let (echo, mut events) = Recorder::new();
    server.spawn("echo", echo).unwrap();
    let body = rmp_serde::to_vec_named(&Ping {
        seq: 4,
        text: "curl".into(),
    })
    .unwrap();
    let mut raw = format!(
        "POST /echo/demo.Ping HTTP/1.1\r\nHost: x\r\nLibprocess-From: tool@127.0.0.1:9\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    let (status, _) = http_request(server.addr(), &raw).await;
    assert_eq!(status, 202);
    assert_eq!(
        next(&mut events).await,
        Event::Ping("tool@127.0.0.1:9".parse().unwrap(), 4)
    );
    let raw = "POST /echo/demo.Ping HTTP/1.1\r\nHost: x\r\nLibprocess-From: nonsense\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    assert_eq!(http_request(server.addr(), raw.as_bytes()).await.0, 400);
}

/// Lets through requests whose `x-who` header names a principal, answers `401` otherwise.
struct WhoHeader;

impl libproc::http_auth::HttpAuthenticator for WhoHeader {
    fn authenticate(&self, req: &libproc::HttpRequest) -> Result<String, HttpResponse> {
        req.header("x-who")
            .map(str::to_string)
            .ok_or_else(|| HttpResponse::text(401, "who are you?\n"))
    }
}

/// Refuses `GET /metrics/snapshot` to principal `eve`.
struct NoEve;

impl libproc::http_auth::HttpAuthorizer for NoEve {
    fn authorize(&self, req: &libproc::HttpRequest) -> Result<(), HttpResponse> {
        match (req.path.as_str(), req.principal.as_deref()) {
            ("/metrics/snapshot", Some("eve")) => Err(HttpResponse::text(403, "not eve\n")),
            _ => Ok(()),
        }
    }
}

struct Guarded;

impl Process for Guarded {
    fn install(h: &mut Handlers<Self>) {
        h.in_realm("private", |h| {
            h.route("secret", |_me: &mut Guarded, _ctx: &mut Ctx<Self>, req| {
                HttpResponse::text(
                    200,
                    format!("hello {}", req.principal.as_deref().unwrap_or("?")),
                )
            });
        });
        h.route("public", |_me: &mut Guarded, _ctx: &mut Ctx<Self>, req| {
            HttpResponse::text(200, format!("principal {:?}", req.principal))
        });
    }
}

#[actix_rt::test]
async fn routes_in_a_guarded_realm_need_its_authenticator_to_agree() {
    let server = Node::bind(NodeConfig::local()).await.unwrap();
    server.spawn("p", Guarded).unwrap();
    let get = |path: &str, who: Option<&str>| {
        let who = who.map(|w| format!("x-who: {w}\r\n")).unwrap_or_default();
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n{who}Connection: close\r\n\r\n")
    };
    // No authenticator for the realm yet: open.
    let (status, body) = http_request(server.addr(), get("/p/secret", None).as_bytes()).await;
    assert_eq!((status, body.as_str()), (200, "hello ?"));
    server.set_http_authenticator("private", Some(std::sync::Arc::new(WhoHeader)));
    server.protect_builtins("private", "private");
    let (status, body) = http_request(server.addr(), get("/p/secret", None).as_bytes()).await;
    assert_eq!((status, body.as_str()), (401, "who are you?\n"));
    let (status, body) =
        http_request(server.addr(), get("/p/secret", Some("ann")).as_bytes()).await;
    assert_eq!((status, body.as_str()), (200, "hello ann"));
    // A route outside the realm stays open and sees no principal.
    let (status, body) =
        http_request(server.addr(), get("/p/public", Some("ann")).as_bytes()).await;
    assert_eq!((status, body.as_str()), (200, "principal None"));
    // The node's own endpoints follow the realm named for them.
    assert_eq!(
        http_request(server.addr(), get("/metrics/snapshot", None).as_bytes())
            .await
            .0,
        401
    );
    assert_eq!(
        http_request(
            server.addr(),
            get("/metrics/snapshot", Some("eve")).as_bytes()
        )
        .await
        .0,
        200
    );
    // The authorizer comes after authentication.
    server.set_http_authorizer(std::sync::Arc::new(NoEve));
    assert_eq!(
        http_request(
            server.addr(),
            get("/metrics/snapshot", Some("eve")).as_bytes()
        )
        .await
        .0,
        403
    );
    assert_eq!(
        http_request(
            server.addr(),
            get("/metrics/snapshot", Some("ann")).as_bytes()
        )
        .await
        .0,
        200
    );
    // Opened again.
    server.set_http_authenticator("private", None);
    assert_eq!(
        http_request(server.addr(), get("/p/secret", None).as_bytes())
            .await
            .0,
        200
    );
}
