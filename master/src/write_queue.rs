//! Decide, write, then speak: the effects of each event wait behind the
//! [`Effect::PersistRegistry`] before them until the registry write covering it succeeded,
//! as Mesos's registrar orders them. A pure queue: the actor shell ([`crate::process`])
//! pushes each event's effects (and operator answers), pulls what may happen next, and
//! reports when a write finished. Consecutive writes are coalesced: a write covers every
//! event handed in before it started.

use std::collections::VecDeque;

use crate::core::Effect;

/// What waits in the queue.
#[allow(clippy::large_enum_variant)] // as `Effect`: short-lived, boxing buys nothing
enum Held<R> {
    Effect(Effect),
    /// An answer (an operator call's): given once what it changed is written.
    Reply(R),
}

/// What the shell does next (see [`WriteQueue::pop`]).
#[derive(Debug, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Next<R> {
    /// Write the registry as it stands: it covers every event up to `upto`. Report the
    /// outcome with [`WriteQueue::written`]; nothing more comes out until then.
    Write {
        /// The last event the write covers.
        upto: u64,
    },
    /// Carry out this effect (never [`Effect::PersistRegistry`]).
    CarryOut(Effect),
    /// Give this answer.
    Reply(R),
}

/// Effects and answers in order, each with the number of the event that produced it.
pub struct WriteQueue<R> {
    pending: VecDeque<(u64, Held<R>)>,
    /// Events handed in so far.
    events: u64,
    /// A registry write is under way.
    writing: bool,
    /// Every event up to this number is in the registry as written.
    written_upto: u64,
}

impl<R> Default for WriteQueue<R> {
    fn default() -> Self {
        WriteQueue {
            pending: VecDeque::new(),
            events: 0,
            writing: false,
            written_upto: 0,
        }
    }
}

impl<R> WriteQueue<R> {
    /// An empty queue, nothing written yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Hands in the effects of one event (ignored if there are none).
    pub fn push(&mut self, effects: Vec<Effect>) {
        if effects.is_empty() {
            return;
        }
        self.events += 1;
        let event = self.events;
        self.pending
            .extend(effects.into_iter().map(|e| (event, Held::Effect(e))));
    }

    /// Hands in an answer to give after everything queued before it, so that an answer
    /// about a change goes out only once the change is written. Returns it back if it
    /// may be given now (nothing waits).
    pub fn reply(&mut self, reply: R) -> Option<R> {
        if self.pending.is_empty() && !self.writing {
            return Some(reply);
        }
        self.pending.push_back((self.events, Held::Reply(reply)));
        None
    }

    /// What happens next, in order; `None` while a write is under way or nothing waits.
    pub fn pop(&mut self) -> Option<Next<R>> {
        while !self.writing {
            let (event, held) = self.pending.pop_front()?;
            match held {
                // Already covered by a write that began after this event.
                Held::Effect(Effect::PersistRegistry) if event <= self.written_upto => {}
                Held::Effect(Effect::PersistRegistry) => {
                    self.writing = true;
                    return Some(Next::Write { upto: self.events });
                }
                Held::Effect(other) => return Some(Next::CarryOut(other)),
                Held::Reply(r) => return Some(Next::Reply(r)),
            }
        }
        None
    }

    /// The write covering events up to `upto` finished (`ok`: it succeeded). After a
    /// failure the caller stops (and should [`clear`](WriteQueue::clear) the queue):
    /// nothing that waited for it may happen.
    pub fn written(&mut self, upto: u64, ok: bool) {
        self.writing = false;
        if ok {
            self.written_upto = self.written_upto.max(upto);
        }
    }

    /// Forgets everything waiting: it is never said.
    pub fn clear(&mut self) {
        self.pending.clear();
    }

    /// Events handed in so far (a write starting now covers them all).
    #[cfg(test)]
    fn events(&self) -> u64 {
        self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libproc::Pid;

    fn link(n: u16) -> Effect {
        Effect::Link(Pid::new("p", ([127, 0, 0, 1], n).into()))
    }

    fn drain(q: &mut WriteQueue<&'static str>) -> Vec<Next<&'static str>> {
        std::iter::from_fn(|| q.pop()).collect()
    }

    #[test]
    fn effects_after_a_write_wait_for_it() {
        let mut q = WriteQueue::new();
        q.push(vec![link(1), Effect::PersistRegistry, link(2)]);
        assert_eq!(
            drain(&mut q),
            vec![Next::CarryOut(link(1)), Next::Write { upto: 1 }]
        );
        q.push(vec![link(3)]);
        assert_eq!(drain(&mut q), vec![], "a later event waits too");
        q.written(1, true);
        assert_eq!(
            drain(&mut q),
            vec![Next::CarryOut(link(2)), Next::CarryOut(link(3))]
        );
    }

    #[test]
    fn writes_queued_behind_one_are_coalesced() {
        let mut q = WriteQueue::<&str>::new();
        q.push(vec![Effect::PersistRegistry, link(1)]);
        assert_eq!(drain(&mut q), vec![Next::Write { upto: 1 }]);
        q.push(vec![Effect::PersistRegistry, link(2)]);
        q.push(vec![Effect::PersistRegistry, link(3)]);
        q.written(1, true);
        assert_eq!(
            drain(&mut q),
            vec![Next::CarryOut(link(1)), Next::Write { upto: 3 }]
        );
        q.written(3, true);
        assert_eq!(
            drain(&mut q),
            vec![Next::CarryOut(link(2)), Next::CarryOut(link(3))],
            "the third event's write was covered by the second's"
        );
    }

    #[test]
    fn an_answer_waits_for_what_was_queued_before_it() {
        let mut q = WriteQueue::new();
        assert_eq!(q.reply("now"), Some("now"), "nothing waits: answer at once");
        q.push(vec![Effect::PersistRegistry]);
        assert_eq!(q.reply("later"), None);
        assert_eq!(drain(&mut q), vec![Next::Write { upto: 1 }]);
        assert_eq!(q.reply("even later"), None, "a write is under way");
        q.written(1, true);
        assert_eq!(
            drain(&mut q),
            vec![Next::Reply("later"), Next::Reply("even later")]
        );
    }

    #[test]
    fn a_failed_write_covers_nothing() {
        let mut q = WriteQueue::<&str>::new();
        q.push(vec![Effect::PersistRegistry, link(1)]);
        q.push(vec![Effect::PersistRegistry, link(2)]);
        assert_eq!(drain(&mut q), vec![Next::Write { upto: 2 }]);
        q.written(2, false);
        assert_eq!(
            drain(&mut q),
            vec![Next::CarryOut(link(1)), Next::Write { upto: 2 }],
            "the next write is still needed"
        );
        q.clear();
        q.written(2, true);
        assert_eq!(drain(&mut q), vec![]);
    }

    #[test]
    fn an_event_without_effects_is_not_counted() {
        let mut q = WriteQueue::<&str>::new();
        q.push(vec![]);
        assert_eq!(q.events(), 0);
        q.push(vec![link(1)]);
        assert_eq!(q.events(), 1);
    }
}
