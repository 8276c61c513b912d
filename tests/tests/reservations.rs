//! Reservations end to end on an in-process cluster (real master, allocator and agent on
//! one node, schedulers written with `frameworks::scheduler`): static reservations from
//! the agent's `--resources` are offered only to their role, and an operator `/reserve`
//! reaches the agent, which checkpoints it under `work_dir/meta/resources`.

use std::time::Duration;

use cluster::local::{LocalCluster, LocalConfig};
use cluster::testkit::TempDir;
use frameworks::scheduler::recorder::{Recorder, SchedulerEvent as Event};
use frameworks::scheduler::{self, SchedulerHandle};
use libproc::testing::{eventually, within};
use libproc::{Node, NodeConfig};
use proto::{Filters, FrameworkInfo, Offer, OfferOperation, Resources};
use tokio::sync::mpsc;

const LIMIT: Duration = Duration::from_secs(30);

fn framework(
    node: &Node,
    master: &libproc::Pid,
    role: &str,
) -> (SchedulerHandle<Recorder>, mpsc::UnboundedReceiver<Event>) {
    let (recorder, rx) = Recorder::new();
    let mut info = FrameworkInfo::new(format!("fw-{role}"), frameworks::cli::current_user());
    info.role = Some(role.into());
    let handle =
        scheduler::run(node, master.clone(), info, recorder).unwrap_or_else(|e| panic!("{e}"));
    (handle, rx)
}

async fn next_offers(rx: &mut mpsc::UnboundedReceiver<Event>) -> Vec<Offer> {
    loop {
        match within(LIMIT, "offers", rx.recv()).await {
            Some(Event::Offers(o)) => return o,
            Some(_) => continue,
            None => panic!("scheduler gone"),
        }
    }
}

fn res(s: &str) -> Resources {
    s.parse().expect("resources")
}

#[actix_rt::test]
async fn static_reservations_go_to_their_role_and_operator_reservations_reach_the_agent() {
    let dir = TempDir::new("reservations");
    let node = Node::bind(NodeConfig::local()).await.expect("bind");
    let mut config = LocalConfig::new(1, dir.path());
    config.agent_resources = Some(res("cpus:1;mem:256;disk:100;cpus(ads):1;mem(ads):128"));
    let cluster = LocalCluster::start(&node, config).expect("cluster");
    let master = cluster.master_pid().clone();

    let (_web, mut web) = framework(&node, &master, "web");
    let o = next_offers(&mut web).await;
    assert_eq!(
        o[0].resources,
        res("cpus:1;mem:256;disk:100"),
        "web: unreserved only"
    );
    let web_offer = o[0].id.clone();
    let (ads_handle, mut ads) = framework(&node, &master, "ads");
    let o = next_offers(&mut ads).await;
    assert_eq!(
        o[0].resources,
        res("cpus(ads):1;mem(ads):128"),
        "ads: its reservation"
    );

    // A static reservation cannot be unreserved: the driver reports the refusal.
    let ids = vec![o[0].id.clone()];
    ads_handle
        .process
        .call(move |p, ctx| {
            p.with_driver(ctx, |_s, d| {
                d.accept(
                    ids,
                    vec![OfferOperation::Unreserve {
                        resources: res("cpus(ads):1"),
                    }],
                    Filters::refuse(0.0),
                )
            })
        })
        .await
        .expect("driver alive");
    loop {
        match within(LIMIT, "operation error", ads.recv()).await {
            Some(Event::OperationError(op, msg)) => {
                assert_eq!(op, "UNRESERVE");
                assert!(msg.contains("static reservations"), "{msg}");
                break;
            }
            Some(_) => continue,
            None => panic!("scheduler gone"),
        }
    }

    // The operator reserves half a CPU of what web holds in its offer: the offer is
    // rescinded, the agent checkpoints the reservation.
    let agent_id = o[0].agent_id.clone();
    let body = format!(
        "slaveId={agent_id}&resources={}",
        "%5B%7B%22name%22%3A%22cpus%22%2C%22type%22%3A%22SCALAR%22%2C%22scalar%22%3A%7B%22value%22%3A0.5%7D%2C%22role%22%3A%22ads%22%7D%5D"
    );
    let (status, text) = within(
        LIMIT,
        "reserve",
        libproc::testing::http_request(node.addr(), "POST", "/master/reserve", body.as_bytes()),
    )
    .await
    .expect("HTTP");
    assert_eq!(status, 202, "{text}");
    loop {
        match within(LIMIT, "rescind", web.recv()).await {
            Some(Event::Rescinded(id)) => {
                assert_eq!(id, web_offer);
                break;
            }
            Some(_) => continue,
            None => panic!("scheduler gone"),
        }
    }
    let path = dir.path().join("agent-1/meta/resources/resources.info");
    eventually(LIMIT, "the agent checkpoints its reservation", || {
        std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Resources>(&b).ok())
            == Some(res("cpus(ads):0.5"))
    })
    .await;
    let reported = cluster.agents[0]
        .process
        .call(|a, _| a.checkpointed_resources().clone())
        .await
        .expect("agent alive");
    assert_eq!(reported, res("cpus(ads):0.5"));
    node.shutdown();
}
