//! The monitor thread of a running `nvencstreamsink`: drives one [`Reconnector`] per restartable link
//! (one per destination that has one) with what the link shows and the time, carries out its actions
//! on that link, tells the element through [`Reporter`], and ticks the statistics. One per run; it
//! never touches the streaming threads, which only see the gates. Each destination reconnects on its
//! own: one that is down waits its backoff while the others stream.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::link::Link;
use super::reconnect::{Action, Jitter, Policy, Reconnector};
use crate::transport::Destination;

/// How often the monitor looks at the link and the counters.
const TICK: Duration = Duration::from_millis(100);

/// What the monitor tells the element. Implemented by the element over a weak reference, so that the
/// monitor holds no element and needs none of its code.
pub trait Reporter: Send + 'static {
    /// Whether the element is still there; the monitor ends when it is not.
    fn alive(&self) -> bool;
    fn connected(&self, index: u32, reconnected: bool, attempt: u32);
    fn connecting(&self, index: u32, attempt: u32);
    /// Destination `index`'s link was lost; the next attempt (number `attempt`, of `of` if limited)
    /// comes after `delay`.
    fn reconnecting(
        &self,
        index: u32,
        attempt: u32,
        of: Option<u32>,
        delay: Duration,
        reason: &str,
    );
    fn give_up(&self, index: u32, text: &str);
    /// About ten times a second: rates and the periodic statistics message.
    fn tick(&self);
}

/// A restartable link and the destination it serves.
pub struct Followed {
    /// The destination's id.
    pub id: u32,
    pub link: Arc<Link>,
    pub destination: Arc<dyn Destination>,
}

pub enum Event {
    /// The network sink of the destination with id `.0` failed (the text is already redacted).
    Failed(u32, String),
    /// A destination added while running: follow its link from now on.
    Follow(Followed),
    /// A destination removed while running: forget its link.
    Unfollow(u32),
    Stop,
}

pub struct Monitor {
    tx: Sender<Event>,
    handle: Option<JoinHandle<()>>,
}

impl Monitor {
    pub fn spawn(
        reporter: Box<dyn Reporter>,
        followed: Vec<Followed>,
        policy: Policy,
    ) -> std::io::Result<Monitor> {
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("nvencstreamsink-monitor".into())
            .spawn(move || {
                let now = Instant::now();
                Run {
                    reporter,
                    followed: followed
                        .into_iter()
                        .map(|f| (f, Reconnector::new(policy, Jitter::new(), now)))
                        .collect(),
                    rx,
                    policy,
                }
                .run()
            })?;
        Ok(Monitor {
            tx,
            handle: Some(handle),
        })
    }

    pub fn failed(&self, id: u32, reason: String) {
        let _ = self.tx.send(Event::Failed(id, reason));
    }

    pub fn follow(&self, followed: Followed) {
        let _ = self.tx.send(Event::Follow(followed));
    }

    pub fn unfollow(&self, id: u32) {
        let _ = self.tx.send(Event::Unfollow(id));
    }

    /// Stops the thread and waits for it (unless called from it).
    pub fn stop(mut self) {
        let _ = self.tx.send(Event::Stop);
        if let Some(h) = self.handle.take() {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }
}

struct Run {
    reporter: Box<dyn Reporter>,
    followed: Vec<(Followed, Reconnector)>,
    rx: Receiver<Event>,
    policy: Policy,
}

impl Run {
    fn run(mut self) {
        loop {
            match self.rx.recv_timeout(TICK) {
                Ok(Event::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(Event::Failed(id, reason)) => {
                    if let Some(one) = self.followed.iter_mut().find(|(f, _)| f.id == id) {
                        let actions = failure(one, &reason, Instant::now());
                        apply(&*self.reporter, one, actions);
                    }
                }
                Ok(Event::Follow(f)) => {
                    let rec = Reconnector::new(self.policy, Jitter::new(), Instant::now());
                    self.followed.push((f, rec));
                }
                Ok(Event::Unfollow(id)) => self.followed.retain(|(f, _)| f.id != id),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if !self.reporter.alive() {
                return;
            }
            let now = Instant::now();
            for one in self.followed.iter_mut() {
                let actions = step(one, now);
                apply(&*self.reporter, one, actions);
            }
            self.reporter.tick();
        }
    }
}

/// Feeds a link's machine what the link shows now.
fn step(one: &mut (Followed, Reconnector), now: Instant) -> Vec<Action> {
    let mut actions = Vec::new();
    if let Some(reason) = one.0.link.take_failure() {
        actions = failure(one, &reason, now);
    } else if one.1.connecting_for(now).is_some() && one.0.link.is_connected() {
        actions = one.1.connected();
    } else if one.0.link.gate().take_failed() {
        actions = failure(one, "the network sink stopped accepting data", now);
    }
    actions.extend(one.1.poll(now));
    actions
}

/// The link failed: its transport explains it and says whether it is final.
fn failure(one: &mut (Followed, Reconnector), reason: &str, now: Instant) -> Vec<Action> {
    let (f, rec) = one;
    if !rec.is_following() {
        return Vec::new(); // a late report of a failure already handled
    }
    if f.link.ended() {
        // The link broke while passing the end of the stream on: end it here.
        rec.ended();
        f.link.stream_ended(true);
        return Vec::new();
    }
    let reason = f.link.explain_failure(reason, rec.connecting_for(now));
    let is_final = f.destination.is_final(&reason);
    rec.failed(&reason, is_final, now)
}

fn apply(reporter: &dyn Reporter, one: &mut (Followed, Reconnector), actions: Vec<Action>) {
    let (f, rec) = one;
    let i = f.id;
    let mut queue = std::collections::VecDeque::from(actions);
    while let Some(action) = queue.pop_front() {
        match action {
            Action::Connected {
                reconnected,
                attempt,
            } => {
                f.link.connected();
                reporter.connected(i, reconnected, attempt);
            }
            Action::TearDown => f.link.tear_down(),
            Action::Reconnecting {
                attempt,
                of,
                delay,
                reason,
            } => reporter.reconnecting(i, attempt, of, delay, &reason),
            Action::Rebuild { .. } => {
                if f.link.ended() {
                    rec.ended(); // nothing left to send
                    continue;
                }
                let result = f.link.rebuild();
                if result.is_ok() {
                    let _ = f.link.gate().take_failed();
                }
                queue.extend(rec.rebuilt(result, Instant::now()));
            }
            Action::Connecting { attempt } => reporter.connecting(i, attempt),
            Action::GiveUp(text) => reporter.give_up(i, &text),
        }
    }
}
