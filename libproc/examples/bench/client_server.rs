//! Process_BENCHMARK_ClientServer: one server, linked clients, bounded outstanding requests.

use super::*;

/// ClientServer server: replies to every request with its body.
pub(crate) struct CsServer;

impl CsServer {
    pub(crate) fn req(&mut self, ctx: &mut Ctx<'_, Self>, from: Pid, r: Req) {
        ctx.send(&from, Resp { body: r.body });
    }
}

impl Process for CsServer {
    fn install(h: &mut Handlers<Self>) {
        h.on(Self::req);
    }
}

/// ClientServer client, linked to the server: `requests` requests, at most `outstanding` at a
/// time; reports the instant the last response arrives.
pub(crate) struct CsClient {
    pub(crate) server: Pid,
    pub(crate) requests: u64,
    pub(crate) outstanding: u64,
    pub(crate) sent: u64,
    pub(crate) received: u64,
    pub(crate) done: UnboundedSender<Instant>,
}

impl CsClient {
    pub(crate) fn request(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.send(
            &self.server,
            Req {
                body: vec![b'a', b'b', b'c'],
            },
        );
        self.sent += 1;
    }

    pub(crate) fn start(&mut self, ctx: &mut Ctx<'_, Self>) {
        while self.sent < self.outstanding.min(self.requests) {
            self.request(ctx);
        }
    }

    pub(crate) fn resp(&mut self, ctx: &mut Ctx<'_, Self>, _: Pid, r: Resp) {
        debug_assert_eq!(r.body.len(), 3);
        self.received += 1;
        if self.sent < self.requests {
            self.request(ctx);
        }
        if self.received == self.requests {
            let _ = self.done.send(Instant::now());
        }
    }
}

impl Process for CsClient {
    fn install(h: &mut Handlers<Self>) {
        h.on(Self::resp);
    }

    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.link(&self.server);
    }
}

#[derive(Clone, Copy)]
pub(crate) enum CsPlacement {
    /// Server and clients on the main arbiter.
    OneArbiter,
    /// Server on arbiter A, all clients on arbiter B.
    ServerApart,
    /// Server and half the clients on arbiter A, the other half on arbiter B.
    Split,
}

impl CsPlacement {
    pub(crate) fn name(self) -> &'static str {
        match self {
            CsPlacement::OneArbiter => "one_arbiter",
            CsPlacement::ServerApart => "server_apart",
            CsPlacement::Split => "split",
        }
    }
}

/// One run of Process_BENCHMARK_ClientServer; returns rpcs per second.
pub(crate) async fn client_server_once(
    node: &Node,
    p: &Params,
    placement: CsPlacement,
    arbs: &[actix::ArbiterHandle; 2],
) -> anyhow::Result<f64> {
    let (tx, mut rx) = unbounded_channel();
    let server_id = node.generate_id("cs_server");
    let server_pid = match placement {
        CsPlacement::OneArbiter => node.spawn(&server_id, CsServer)?.pid().clone(),
        CsPlacement::ServerApart | CsPlacement::Split => node
            .spawn_on(&arbs[0], &server_id, || CsServer)?
            .pid()
            .clone(),
    };
    let mut clients = Vec::new();
    for i in 0..p.cs_clients {
        let client = CsClient {
            server: server_pid.clone(),
            requests: p.cs_requests,
            outstanding: p.cs_outstanding,
            sent: 0,
            received: 0,
            done: tx.clone(),
        };
        let id = node.generate_id("cs_client");
        let r = match placement {
            CsPlacement::OneArbiter => node.spawn(&id, client)?,
            CsPlacement::ServerApart => node.spawn_on(&arbs[1], &id, move || client)?,
            CsPlacement::Split => node.spawn_on(&arbs[i % 2], &id, move || client)?,
        };
        clients.push(r);
    }
    drop(tx);
    // Let every client start (and link) before the clock starts.
    for c in &clients {
        call(c, |_, _| ()).await?;
    }
    let start = Instant::now();
    let kicks = clients.iter().map(|c| call(c, |p, ctx| p.start(ctx)));
    for r in futures::future::join_all(kicks).await {
        r?;
    }
    let mut last = start;
    for _ in 0..p.cs_clients {
        last = last.max(recv(&mut rx, "client-server clients").await?);
    }
    for c in &clients {
        node.terminate(c.pid());
    }
    node.terminate(&server_pid);
    let total = p.cs_clients as u64 * p.cs_requests;
    Ok(total as f64 / (last - start).as_secs_f64())
}
