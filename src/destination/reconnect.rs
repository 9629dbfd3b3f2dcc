//! Reconnection: the policy (how many attempts, how long to wait before each: exponential backoff with
//! jitter) and [`Reconnector`], the state machine that applies it to one link. The machine does no I/O
//! and reads no clock: the element's monitor feeds it what the link shows and the time, and carries out
//! the [`Action`]s it returns (quinn-proto's split; gst-plugins-rs rtpbin2's session).
//!
//! ```text
//!            connected                 failed (retriable, attempts left)
//! Connecting ─────────→ Connected ──────────────────────────────→ Waiting ──(deadline)──→ Connecting
//!     │ failed / no connection within the timeout ───────────────↗   (Rebuild)
//!     └──→ Idle: final failure, no attempts left, reconnect-attempts=0 (GiveUp), or the stream ended
//! ```

use std::time::{Duration, Instant};

/// Jitter: each delay is scaled by a factor in [1 - JITTER, 1 + JITTER), then capped.
const JITTER: f64 = 0.2;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// 0 = never reconnect, -1 = forever, n = at most n attempts after the link drops.
    pub attempts: i32,
    /// Delay before the first attempt.
    pub interval: Duration,
    /// Largest delay between attempts.
    pub max_interval: Duration,
}

impl Policy {
    pub fn enabled(&self) -> bool {
        self.attempts != 0
    }

    /// Whether attempt number `attempt` (1-based) may be made.
    pub fn allows(&self, attempt: u32) -> bool {
        self.attempts < 0 || attempt <= self.attempts as u32
    }

    /// The delay before attempt `attempt` (1-based): interval × 2^(attempt-1), jittered by ±20 % with
    /// `unit` (uniform in [0, 1)), at most `max_interval`.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let base =
            self.interval.as_secs_f64() * 2f64.powi(attempt.saturating_sub(1).min(60) as i32);
        let factor = 1.0 - JITTER + 2.0 * JITTER * unit.clamp(0.0, 1.0);
        let secs = (base * factor)
            .min(self.max_interval.as_secs_f64())
            .max(0.0);
        Duration::from_secs_f64(secs)
    }
}

/// A small random source for the jitter (xorshift; quality is irrelevant here, independence between
/// processes is what matters, hence the seed from the clock and the process id).
pub struct Jitter(u64);

impl Jitter {
    pub fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Jitter((nanos ^ ((std::process::id() as u64) << 32)) | 1)
    }

    /// Uniform in [0, 1).
    pub fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Self::new()
    }
}

/// A connection attempt that neither succeeds nor fails within this time counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the element does for the machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The link is up: report `connected`; `reconnected` after a failure, with the attempts it took.
    Connected { reconnected: bool, attempt: u32 },
    /// Tear the failed link down now (it is rebuilt later, or never).
    TearDown,
    /// Report `reconnecting`, and warn with `reason`: the next attempt comes after `delay`.
    Reconnecting {
        attempt: u32,
        of: Option<u32>,
        delay: Duration,
        reason: String,
    },
    /// Build the link again and connect (then call [`Reconnector::rebuilt`]).
    Rebuild { attempt: u32 },
    /// Report `connecting` for this attempt.
    Connecting { attempt: u32 },
    /// Give up: report `failed` and post an error with this text.
    GiveUp(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Nothing to follow: given up, or the stream ended.
    Idle,
    Connecting {
        since: Instant,
    },
    Connected,
    Waiting {
        until: Instant,
    },
}

/// The reconnection state of one link.
pub struct Reconnector {
    policy: Policy,
    phase: Phase,
    /// Attempts since the link was last connected.
    attempt: u32,
    /// When the link first failed since it was last connected.
    failing_since: Option<Instant>,
    jitter: Jitter,
    connect_timeout: Duration,
}

impl Reconnector {
    /// A link that starts connecting at `now`.
    pub fn new(policy: Policy, jitter: Jitter, now: Instant) -> Reconnector {
        Reconnector {
            policy,
            phase: Phase::Connecting { since: now },
            attempt: 0,
            failing_since: None,
            jitter,
            connect_timeout: CONNECT_TIMEOUT,
        }
    }

    /// Whether the machine has nothing more to do (given up, or the stream ended).
    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Idle
    }

    /// Whether the link is connecting or connected (a failure now is news).
    pub fn is_following(&self) -> bool {
        matches!(self.phase, Phase::Connecting { .. } | Phase::Connected)
    }

    /// How long the current attempt has been connecting, if one is.
    pub fn connecting_for(&self, now: Instant) -> Option<Duration> {
        match self.phase {
            Phase::Connecting { since } => Some(now.saturating_duration_since(since)),
            _ => None,
        }
    }

    /// When [`Reconnector::poll`] has something to do next without any event.
    pub fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Connecting { since } => Some(since + self.connect_timeout),
            Phase::Waiting { until } => Some(until),
            Phase::Idle | Phase::Connected => None,
        }
    }

    /// The link shows that it is connected.
    pub fn connected(&mut self) -> Vec<Action> {
        if !matches!(self.phase, Phase::Connecting { .. }) {
            return Vec::new();
        }
        let reconnected = self.failing_since.is_some();
        let attempt = self.attempt;
        self.attempt = 0;
        self.failing_since = None;
        self.phase = Phase::Connected;
        vec![Action::Connected {
            reconnected,
            attempt,
        }]
    }

    /// The link failed with `reason` (already explained and redacted); `is_final` when the transport
    /// knows that another attempt cannot fix it.
    pub fn failed(&mut self, reason: &str, is_final: bool, now: Instant) -> Vec<Action> {
        if matches!(self.phase, Phase::Idle | Phase::Waiting { .. }) {
            return Vec::new(); // Already handled: a late report of the same failure.
        }
        let since = *self.failing_since.get_or_insert(now);
        let give_up = |text: String| vec![Action::TearDown, Action::GiveUp(text)];
        if !self.policy.enabled() {
            self.phase = Phase::Idle;
            return give_up(reason.to_string());
        }
        if is_final {
            self.phase = Phase::Idle;
            return give_up(format!(
                "{reason} (not retried: another attempt cannot fix this)"
            ));
        }
        let next = self.attempt + 1;
        if !self.policy.allows(next) {
            self.phase = Phase::Idle;
            let secs = now.saturating_duration_since(since).as_secs_f64();
            return give_up(format!(
                "gave up after {} reconnection attempt{} over {secs:.1} s; last error: {reason}",
                self.attempt,
                if self.attempt == 1 { "" } else { "s" },
            ));
        }
        self.attempt = next;
        let delay = self.policy.delay(next, self.jitter.next_unit());
        self.phase = Phase::Waiting { until: now + delay };
        vec![
            Action::TearDown,
            Action::Reconnecting {
                attempt: next,
                of: u32::try_from(self.policy.attempts).ok(),
                delay,
                reason: reason.to_string(),
            },
        ]
    }

    /// Time passed: a connection that takes too long fails; a wait that is over rebuilds the link.
    pub fn poll(&mut self, now: Instant) -> Vec<Action> {
        match self.phase {
            Phase::Connecting { since }
                if now.saturating_duration_since(since) > self.connect_timeout =>
            {
                let reason = format!("no connection within {} s", self.connect_timeout.as_secs());
                self.failed(&reason, false, now)
            }
            Phase::Waiting { until } if now >= until => vec![Action::Rebuild {
                attempt: self.attempt,
            }],
            _ => Vec::new(),
        }
    }

    /// The element carried out [`Action::Rebuild`]; `result` is whether the new link could be built.
    pub fn rebuilt(&mut self, result: Result<(), String>, now: Instant) -> Vec<Action> {
        self.phase = Phase::Connecting { since: now };
        match result {
            Ok(()) => vec![Action::Connecting {
                attempt: self.attempt,
            }],
            Err(e) => self.failed(&e, false, now),
        }
    }

    /// The stream ended: nothing more to connect.
    pub fn ended(&mut self) {
        self.phase = Phase::Idle;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(attempts: i32) -> Policy {
        Policy {
            attempts,
            interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(10),
        }
    }

    #[test]
    fn attempts_zero_never_minus_one_forever() {
        assert!(!policy(0).enabled());
        assert!(policy(-1).allows(1_000_000));
        assert!(policy(3).allows(3));
        assert!(!policy(3).allows(4));
    }

    #[test]
    fn delays_double_and_stop_at_the_maximum() {
        let p = policy(-1);
        let mid = 0.5; // no jitter
        let d: Vec<f64> = (1..=6).map(|a| p.delay(a, mid).as_secs_f64()).collect();
        assert_eq!(d, vec![1.0, 2.0, 4.0, 8.0, 10.0, 10.0]);
        assert_eq!(p.delay(u32::MAX, mid), Duration::from_secs(10));
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let p = policy(-1);
        assert!((p.delay(2, 0.0).as_secs_f64() - 1.6).abs() < 1e-9);
        assert!(p.delay(2, 0.999_999).as_secs_f64() < 2.4);
        let mut j = Jitter::new();
        for _ in 0..1000 {
            let u = j.next_unit();
            assert!((0.0..1.0).contains(&u));
        }
    }

    fn machine(attempts: i32) -> (Reconnector, Instant) {
        let t0 = Instant::now();
        (Reconnector::new(policy(attempts), Jitter(1), t0), t0)
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn connects_then_reconnects_with_backoff_and_counts_the_attempts() {
        let (mut r, t0) = machine(-1);
        assert_eq!(
            r.connected(),
            vec![Action::Connected {
                reconnected: false,
                attempt: 0
            }]
        );
        assert_eq!(r.deadline(), None, "connected: nothing to wait for");
        let a = r.failed("connection closed", false, t0 + secs(5.0));
        let [Action::TearDown, Action::Reconnecting {
            attempt: 1,
            of: None,
            delay,
            reason,
        }] = a.as_slice()
        else {
            panic!("{a:?}")
        };
        assert_eq!(reason, "connection closed");
        assert!((0.8..1.2).contains(&delay.as_secs_f64()), "{delay:?}");
        // A second report of the same failure changes nothing.
        assert!(r
            .failed("connection closed", false, t0 + secs(5.1))
            .is_empty());
        // Not yet time.
        assert!(r.poll(t0 + secs(5.5)).is_empty());
        let due = r.deadline().expect("a deadline while waiting");
        assert_eq!(r.poll(due), vec![Action::Rebuild { attempt: 1 }]);
        assert_eq!(
            r.rebuilt(Ok(()), due),
            vec![Action::Connecting { attempt: 1 }]
        );
        // The second attempt fails too: twice the delay.
        let a = r.failed("refused", false, due + secs(0.1));
        let Some(Action::Reconnecting {
            attempt: 2, delay, ..
        }) = a.get(1)
        else {
            panic!("{a:?}")
        };
        assert!((1.6..2.4).contains(&delay.as_secs_f64()), "{delay:?}");
        let due = r.deadline().unwrap();
        r.poll(due);
        r.rebuilt(Ok(()), due);
        assert_eq!(
            r.connected(),
            vec![Action::Connected {
                reconnected: true,
                attempt: 2
            }]
        );
    }

    #[test]
    fn a_connection_that_never_comes_times_out() {
        let (mut r, t0) = machine(-1);
        assert_eq!(r.deadline(), Some(t0 + CONNECT_TIMEOUT));
        assert!(r.poll(t0 + secs(9.9)).is_empty());
        let a = r.poll(t0 + secs(10.1));
        assert!(
            matches!(&a[1], Action::Reconnecting { reason, .. } if reason == "no connection within 10 s"),
            "{a:?}"
        );
    }

    #[test]
    fn attempts_run_out_with_the_history_in_the_error() {
        let (mut r, t0) = machine(2);
        let mut now = t0;
        for _ in 0..2 {
            r.failed("refused", false, now);
            now = r.deadline().unwrap();
            r.poll(now);
            r.rebuilt(Ok(()), now);
        }
        let a = r.failed("refused", false, now);
        let [Action::TearDown, Action::GiveUp(text)] = a.as_slice() else {
            panic!("{a:?}")
        };
        assert!(
            text.starts_with("gave up after 2 reconnection attempts over")
                && text.ends_with("last error: refused"),
            "{text}"
        );
        assert!(r.is_idle() && r.deadline().is_none());
    }

    #[test]
    fn final_failures_and_no_reconnection_give_up_at_once() {
        let (mut r, t0) = machine(-1);
        let a = r.failed("Incorrect passphrase", true, t0);
        assert!(
            matches!(&a[1], Action::GiveUp(t) if t.contains("not retried")),
            "{a:?}"
        );
        let (mut r, t0) = machine(0);
        assert_eq!(
            r.failed("refused", false, t0),
            vec![Action::TearDown, Action::GiveUp("refused".into())]
        );
    }

    #[test]
    fn a_link_that_cannot_be_rebuilt_counts_as_a_failed_attempt() {
        let (mut r, t0) = machine(-1);
        r.failed("closed", false, t0);
        let due = r.deadline().unwrap();
        r.poll(due);
        let a = r.rebuilt(Err("no srtsink".into()), due);
        assert!(
            matches!(&a[1], Action::Reconnecting { attempt: 2, reason, .. } if reason == "no srtsink"),
            "{a:?}"
        );
        r.ended();
        assert!(r.is_idle() && r.poll(due + secs(100.0)).is_empty());
    }
}
