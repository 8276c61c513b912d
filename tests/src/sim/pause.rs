//! Stopped programs in the simulation: a master, an agent, the scheduler or an agent's
//! executors stop for a while (SIGSTOP, a long GC pause, a VM descheduled, an executor
//! that hangs) and then go on where they were.
//! Its processes are paused in virtual time (`libproc::Node::pause`): what reaches them
//! queues, their timers fire late, their connections stay open. Its ZooKeeper session
//! hears nothing from it meanwhile, so the server expires it if the pause outlasts the
//! session timeout, and the program learns so only when it resumes: the case of a leader
//! whose lease must run out before its session is known to be gone. An agent's executors
//! are separate programs: a stopped agent's go on, and stopped executors hold their
//! tasks' updates and kills while their agent goes on (and may restart meanwhile, and find
//! them unresponsive).

use std::time::Duration;

use super::{master_label, Sim};

/// Who is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopped {
    Master(usize),
    Agent(usize),
    Scheduler,
    /// Every executor on agent `i`.
    Executors(usize),
}

impl Sim {
    /// Stops one program (drawn from `fault_rng`) for 0.5-25 s.
    pub(super) fn pause_program(&mut self) {
        let masters = self.masters.len() as u64;
        let agents = self.agents.len() as u64;
        let pick = self.fault_rng.next_u64() % (masters + 2 * agents + 1);
        let who = if pick < masters {
            Stopped::Master(pick as usize)
        } else if pick < masters + agents {
            Stopped::Agent((pick - masters) as usize)
        } else if pick < masters + 2 * agents {
            Stopped::Executors((pick - masters - agents) as usize)
        } else {
            Stopped::Scheduler
        };
        let d = Duration::from_millis(500 + self.fault_rng.next_u64() % 24_500);
        let (node, label) = match who {
            Stopped::Master(i) => (self.masters[i].node.clone(), master_label(i)),
            Stopped::Agent(i) | Stopped::Executors(i) => {
                (Some(self.agents[i].node.clone()), format!("a{}", i + 1))
            }
            Stopped::Scheduler => (Some(self.fw_node.clone()), "fw".to_string()),
        };
        let Some(node) = node else { return };
        self.trace.note(format!("{who:?} stops for {d:?}"));
        match who {
            // Its executors are programs of their own.
            Stopped::Agent(_) => node.pause(d, |p| !is_executor(p.id())),
            Stopped::Executors(_) => node.pause(d, |p| is_executor(p.id())),
            _ => node.pause(d, |_| true),
        }
        // Executors have no ZooKeeper session.
        if let (Some(zk), false) = (&self.zk, matches!(who, Stopped::Executors(_))) {
            zk.disconnect(&label, d);
        }
        self.count(match who {
            Stopped::Master(_) => "pause_master",
            Stopped::Agent(_) => "pause_agent",
            Stopped::Scheduler => "pause_scheduler",
            Stopped::Executors(_) => "pause_executors",
        });
    }
}

/// Whether a process of an agent's node is one of its executors.
fn is_executor(process_id: &str) -> bool {
    process_id.starts_with("executor-")
}
