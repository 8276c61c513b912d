//! Stopped programs in the simulation: a master, an agent or the scheduler stops for a
//! while (SIGSTOP, a long GC pause, a VM descheduled) and then goes on where it was.
//! Its processes are paused in virtual time (`libproc::Node::pause`): what reaches them
//! queues, their timers fire late, their connections stay open. Its ZooKeeper session
//! hears nothing from it meanwhile, so the server expires it if the pause outlasts the
//! session timeout, and the program learns so only when it resumes: the case of a leader
//! whose lease must run out before its session is known to be gone. An agent's executors
//! are separate programs and go on.

use std::time::Duration;

use super::{master_label, Sim};

/// Who is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopped {
    Master(usize),
    Agent(usize),
    Scheduler,
}

impl Sim {
    /// Stops one program (drawn from `fault_rng`) for 0.5-25 s.
    pub(super) fn pause_program(&mut self) {
        let masters = self.masters.len() as u64;
        let agents = self.agents.len() as u64;
        let pick = self.fault_rng.next_u64() % (masters + agents + 1);
        let who = if pick < masters {
            Stopped::Master(pick as usize)
        } else if pick < masters + agents {
            Stopped::Agent((pick - masters) as usize)
        } else {
            Stopped::Scheduler
        };
        let d = Duration::from_millis(500 + self.fault_rng.next_u64() % 24_500);
        let (node, label) = match who {
            Stopped::Master(i) => (self.masters[i].node.clone(), master_label(i)),
            Stopped::Agent(i) => (Some(self.agents[i].node.clone()), format!("a{}", i + 1)),
            Stopped::Scheduler => (Some(self.fw_node.clone()), "fw".to_string()),
        };
        let Some(node) = node else { return };
        self.trace.note(format!("{who:?} stops for {d:?}"));
        match who {
            // Its executors are programs of their own.
            Stopped::Agent(_) => node.pause(d, |p| !p.id().starts_with("executor-")),
            _ => node.pause(d, |_| true),
        }
        if let Some(zk) = &self.zk {
            zk.disconnect(&label, d);
        }
        self.count(match who {
            Stopped::Master(_) => "pause_master",
            Stopped::Agent(_) => "pause_agent",
            Stopped::Scheduler => "pause_scheduler",
        });
    }
}
