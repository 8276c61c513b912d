//! Stand-ins shared by the master's integration suites: a fake agent that only answers
//! pings, a mute process for schedulers (or an allocator) whose mail the test watches
//! through filters, and a master configuration with a fixed clock and id seed.
#![allow(dead_code)] // each suite uses its own subset

use libproc::{Ctx, Handlers, Pid, Process};
use master::MasterConfig;
use proto::messages::{PingSlaveMessage, PongSlaveMessage};

/// A fake agent: answers pings with pongs, nothing else (the test watches its mail).
pub struct FakeAgent;

impl Process for FakeAgent {
    fn install(h: &mut Handlers<Self>) {
        h.on(
            |_me: &mut FakeAgent, ctx: &mut Ctx<Self>, from: Pid, _p: PingSlaveMessage| {
                ctx.send(&from, PongSlaveMessage {});
            },
        );
    }
}

/// A fake scheduler or allocator: handles nothing; the test watches its mail.
pub struct Mute;

impl Process for Mute {
    fn install(_h: &mut Handlers<Self>) {}
}

/// A master with a fixed wall clock and id seed, so ids and timestamps are stable.
pub fn config() -> MasterConfig {
    MasterConfig {
        clock: libproc::wall_clock::WallClock::fixed(1_700_000_000.0),
        id_seed: 42,
        ..MasterConfig::default()
    }
}
