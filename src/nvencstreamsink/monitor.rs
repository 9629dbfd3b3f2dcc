//! The monitor thread of a running `nvencstreamsink`: follows the connection of a restartable link
//! (connecting → connected → reconnecting …), rebuilds it per the reconnection policy, and refreshes the
//! statistics. One per run; it never touches the streaming threads, which only see the gate.

use gst::glib;
use gst::subclass::prelude::*;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::ConnectionState;
use crate::reconnect::{self, Jitter, Policy};
use crate::transport::link::Link;

/// How often the monitor looks at the link and the counters.
const TICK: Duration = Duration::from_millis(100);
/// A connection attempt that neither succeeds nor fails within this time counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub enum Event {
    /// The link's network sink failed (the text is already redacted).
    Failed(String),
    Stop,
}

pub struct Monitor {
    tx: Sender<Event>,
    handle: Option<JoinHandle<()>>,
}

impl Monitor {
    pub fn spawn(
        obj: glib::WeakRef<super::NvencStreamSink>,
        link: Option<Arc<Link>>,
        policy: Policy,
    ) -> std::io::Result<Monitor> {
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("nvencstreamsink-monitor".into())
            .spawn(move || Run::new(obj, link, policy, rx).run())?;
        Ok(Monitor {
            tx,
            handle: Some(handle),
        })
    }

    pub fn failed(&self, reason: String) {
        let _ = self.tx.send(Event::Failed(reason));
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

enum Phase {
    /// No link to follow (RTSP, SRT listener) or given up.
    Idle,
    Connecting {
        since: Instant,
    },
    Connected,
    Waiting {
        until: Instant,
    },
}

struct Run {
    obj: glib::WeakRef<super::NvencStreamSink>,
    link: Option<Arc<Link>>,
    policy: Policy,
    rx: Receiver<Event>,
    phase: Phase,
    /// Attempts since the link was last connected.
    attempt: u32,
    /// When the link first failed since it was last connected.
    failing_since: Option<Instant>,
    last_reason: String,
    jitter: Jitter,
}

impl Run {
    fn new(
        obj: glib::WeakRef<super::NvencStreamSink>,
        link: Option<Arc<Link>>,
        policy: Policy,
        rx: Receiver<Event>,
    ) -> Run {
        let phase = if link.is_some() {
            Phase::Connecting {
                since: Instant::now(),
            }
        } else {
            Phase::Idle
        };
        Run {
            obj,
            link,
            policy,
            rx,
            phase,
            attempt: 0,
            failing_since: None,
            last_reason: String::new(),
            jitter: Jitter::new(),
        }
    }

    fn run(mut self) {
        loop {
            match self.rx.recv_timeout(TICK) {
                Ok(Event::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(Event::Failed(reason)) => self.failed(reason),
                Err(RecvTimeoutError::Timeout) => {}
            }
            let Some(obj) = self.obj.upgrade() else {
                return;
            };
            self.step();
            obj.imp().tick();
        }
    }

    fn with_imp(&self, f: impl FnOnce(&super::imp::NvencStreamSink)) {
        if let Some(obj) = self.obj.upgrade() {
            f(obj.imp());
        }
    }

    /// Moves the phase on from what the link shows.
    fn step(&mut self) {
        let Some(link) = self.link.clone() else {
            return;
        };
        match self.phase {
            Phase::Connecting { since } => {
                if link.is_connected() {
                    link.connected();
                    let reconnected = self.failing_since.is_some();
                    let attempt = self.attempt;
                    self.attempt = 0;
                    self.failing_since = None;
                    self.phase = Phase::Connected;
                    self.with_imp(|imp| {
                        imp.link_connected(reconnected, attempt);
                    });
                } else if link.gate().take_failed() {
                    self.failed("the network sink stopped accepting data".into());
                } else if since.elapsed() > CONNECT_TIMEOUT {
                    self.failed(format!(
                        "no connection within {} s",
                        CONNECT_TIMEOUT.as_secs()
                    ));
                }
            }
            Phase::Connected => {
                if link.gate().take_failed() {
                    self.failed("the network sink stopped accepting data".into());
                }
            }
            Phase::Waiting { until } => {
                if Instant::now() >= until {
                    self.attempt_now(&link);
                }
            }
            Phase::Idle => {}
        }
    }

    fn attempt_now(&mut self, link: &Link) {
        if link.ended() {
            self.phase = Phase::Idle; // nothing left to send
            return;
        }
        let attempt = self.attempt;
        match link.rebuild() {
            Ok(()) => {
                let _ = link.gate().take_failed();
                self.phase = Phase::Connecting {
                    since: Instant::now(),
                };
                self.with_imp(|imp| {
                    imp.connection_changed(ConnectionState::Connecting, attempt, 0, "")
                });
            }
            Err(e) => {
                self.phase = Phase::Connecting {
                    since: Instant::now(),
                };
                self.failed(e)
            }
        }
    }

    /// The link failed: wait and try again, or give up.
    fn failed(&mut self, reason: String) {
        let Some(link) = self.link.clone() else {
            return;
        };
        if matches!(self.phase, Phase::Idle | Phase::Waiting { .. }) {
            return; // Already handled: a late report of the same failure.
        }
        if link.ended() {
            // The link broke while passing the end of the stream on: end it here.
            self.phase = Phase::Idle;
            link.stream_ended(true);
            return;
        }
        let connecting_for = match self.phase {
            Phase::Connecting { since } => Some(since.elapsed()),
            _ => None,
        };
        let reason = link.probe().explain_failure(&reason, connecting_for);
        link.tear_down();
        let since = *self.failing_since.get_or_insert_with(Instant::now);
        self.last_reason = reason.clone();
        if !self.policy.enabled() {
            self.phase = Phase::Idle;
            self.with_imp(|imp| imp.give_up(&reason));
            return;
        }
        if reconnect::is_final(&reason) {
            self.phase = Phase::Idle;
            self.with_imp(|imp| {
                imp.give_up(&format!(
                    "{reason} (not retried: another attempt cannot fix this)"
                ))
            });
            return;
        }
        let next = self.attempt + 1;
        if !self.policy.allows(next) {
            self.phase = Phase::Idle;
            let secs = since.elapsed().as_secs_f64();
            let text = format!(
                "gave up after {} reconnection attempt{} over {secs:.1} s; last error: {}",
                self.attempt,
                if self.attempt == 1 { "" } else { "s" },
                self.last_reason
            );
            self.with_imp(|imp| imp.give_up(&text));
            return;
        }
        self.attempt = next;
        let delay = self.policy.delay(next, self.jitter.next_unit());
        self.phase = Phase::Waiting {
            until: Instant::now() + delay,
        };
        let of = if self.policy.attempts < 0 {
            String::new()
        } else {
            format!(" of {}", self.policy.attempts)
        };
        self.with_imp(|imp| {
            imp.connection_changed(
                ConnectionState::Reconnecting,
                next,
                delay.as_millis() as u64,
                &reason,
            );
            imp.link_warning(&format!(
                "{reason}; reconnecting in {:.1} s (attempt {next}{of})",
                delay.as_secs_f64()
            ));
        });
    }
}
