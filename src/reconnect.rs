//! The reconnection policy: how many attempts, how long to wait before each (exponential backoff with
//! jitter), and which failures are final.

use std::time::Duration;

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

/// Failures that another attempt cannot fix: the server refused the credentials or the stream key, or
/// the SRT passphrase does not match. Retrying them would only hammer the server.
pub fn is_final(reason: &str) -> bool {
    let t = reason.to_ascii_lowercase();
    [
        "passphrase",
        "decrypt",
        "publish",
        "denied",
        "unauthorized",
        "forbidden",
        "badname",
        "rejected",
        "403",
    ]
    .iter()
    .any(|w| t.contains(w))
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

    #[test]
    fn authentication_and_passphrase_failures_are_final() {
        assert!(is_final("Incorrect passphrase"));
        assert!(is_final("publish rejected: NetStream.Publish.BadName"));
        assert!(!is_final("Connection refused"));
        assert!(!is_final("connection closed remotely"));
    }
}
