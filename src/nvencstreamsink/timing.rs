//! Per-frame delays measured between two points of the stream (encoder input → output, encoder output →
//! transport), matched by presentation timestamp so that B-frame reordering does not mix frames up.
//!
//! Some encoders shift every timestamp by a constant (x264enc starts its output at 1000 h): when a
//! timestamp is not found, the shift is learnt from the oldest frame in flight (encoders emit the first
//! frame first) and applied from then on.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tdstream_common::sync::lock;

/// Frames in flight between the two points; older ones are forgotten (an encoder holds at most a few
/// dozen frames of lookahead).
const CAPACITY: usize = 256;

#[derive(Debug, Default)]
struct Started {
    frames: VecDeque<(u64, Instant)>,
    /// Output timestamp minus input timestamp.
    shift: i128,
}

#[derive(Debug, Default)]
pub struct Stopwatch {
    started: Mutex<Started>,
    /// The last measured delay, µs.
    last_us: AtomicU64,
}

impl Stopwatch {
    /// The frame with timestamp `pts` passed the first point at `at`.
    pub fn start(&self, pts: u64, at: Instant) {
        let mut s = lock(&self.started);
        if s.frames.len() == CAPACITY {
            s.frames.pop_front();
        }
        s.frames.push_back((pts, at));
    }

    /// The frame with timestamp `pts` passed the second point at `at`: its delay, if its start was seen.
    pub fn stop(&self, pts: u64, at: Instant) -> Option<Duration> {
        let mut s = lock(&self.started);
        let find = |s: &Started| {
            let want = pts as i128 - s.shift;
            s.frames.iter().position(|(p, _)| *p as i128 == want)
        };
        let i = match find(&s) {
            Some(i) => i,
            None => {
                let (oldest, _) = *s.frames.front()?;
                s.shift = pts as i128 - oldest as i128;
                0
            }
        };
        let (_, start) = s.frames.remove(i)?;
        let delay = at.saturating_duration_since(start);
        self.last_us.store(
            delay.as_micros().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
        Some(delay)
    }

    /// The last measured delay in milliseconds (0 before the first).
    pub fn last_ms(&self) -> f64 {
        self.last_us.load(Ordering::Relaxed) as f64 / 1000.0
    }

    pub fn reset(&self) {
        *lock(&self.started) = Started::default();
        self.last_us.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_frames_by_timestamp_in_any_order() {
        let w = Stopwatch::default();
        let t0 = Instant::now();
        for (i, pts) in [0u64, 33, 66].iter().enumerate() {
            w.start(*pts, t0 + Duration::from_millis(i as u64 * 10));
        }
        // Reordered output (B-frames): 66 leaves before 33.
        let d = w.stop(66, t0 + Duration::from_millis(45)).expect("seen");
        assert_eq!(d, Duration::from_millis(25));
        assert_eq!(w.last_ms(), 25.0);
        assert_eq!(
            w.stop(33, t0 + Duration::from_millis(50)),
            Some(Duration::from_millis(40))
        );
        assert_eq!(
            w.stop(0, t0 + Duration::from_millis(60)),
            Some(Duration::from_millis(60))
        );
        assert_eq!(w.stop(33, t0), None, "each frame is measured once");
    }

    #[test]
    fn learns_a_constant_shift_of_the_timestamps() {
        let w = Stopwatch::default();
        let t0 = Instant::now();
        let shift = 3_600_000_000_000_000u64; // x264enc: output starts at 1000 h
        for (i, pts) in [5u64, 38, 71].iter().enumerate() {
            w.start(*pts, t0 + Duration::from_millis(i as u64));
        }
        let at = t0 + Duration::from_millis(10);
        assert_eq!(w.stop(shift, at), Some(Duration::from_millis(10)));
        // 71 before 38 (reordered), both found through the learnt shift.
        assert_eq!(w.stop(shift + 66, at), Some(Duration::from_millis(8)));
        assert_eq!(w.stop(shift + 33, at), Some(Duration::from_millis(9)));
        assert_eq!(w.stop(shift + 99, at), None, "nothing left in flight");
    }

    #[test]
    fn forgets_the_oldest_beyond_its_capacity() {
        let w = Stopwatch::default();
        let t0 = Instant::now();
        for pts in 0..(CAPACITY as u64 + 10) {
            w.start(pts, t0);
        }
        assert_eq!(lock(&w.started).frames.len(), CAPACITY);
        assert!(w.stop(CAPACITY as u64 + 9, t0).is_some());
        w.reset();
        assert_eq!(w.last_ms(), 0.0);
    }
}
