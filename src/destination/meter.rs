//! One destination's figures over time: from its cumulative counters (bytes handed to the network
//! sink, frames its buffers dropped, what the sink itself counts), read every half second, the
//! rates and shares of the last second and of the last [`WINDOW`], as a [`Sample`] for the congestion
//! verdict and as the figures of `stats`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::ratecontrol::Sample;
use crate::transport::NetCounters;

/// Rates of what the network took are averaged over this long: RTMP writes come in bursts.
pub const WINDOW: Duration = Duration::from_secs(3);
/// Readings at least this far apart: a verdict every half second, so that a link too slow for the
/// bitrate is acted on before a second's worth of stream has queued up (measured: p95 latency through
/// a squeeze 688 ms with half-second readings, 842 ms with one-second ones).
pub const EVERY: Duration = Duration::from_millis(500);
/// The span of the "last second" figures (bitrate, loss).
const SECOND: Duration = Duration::from_secs(1);

/// Cumulative counters at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    pub at: Instant,
    /// Bytes handed to the network sink.
    pub offered_bytes: u64,
    pub frames_dropped: u64,
    pub net: Option<NetCounters>,
    /// Time waiting in the element's buffers now (ms).
    pub queued_ms: f64,
}

/// The figures of the last reading.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    /// bit/s handed to the network sink, last second.
    pub bitrate: u64,
    /// bit/s the network took over the window: sent, less what the receiver reported lost (the
    /// bitrate where the sink counts nothing).
    pub send_rate: u64,
    /// Last second: share lost on the network or dropped unsent by the sink.
    pub loss: f64,
    pub net: Option<NetCounters>,
}

/// The least round-trip time is forgotten after this long (the route may have changed).
const RTT_MEMORY: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub struct Meter {
    readings: VecDeque<Reading>,
    figures: Figures,
    /// The least round-trip time seen (ms), and when.
    least_rtt: Option<(f64, Instant)>,
}

/// `b - a` of a counter that starts again from 0 with each new network sink (a reconnection).
fn delta(a: u64, b: u64) -> u64 {
    b.saturating_sub(a)
}

impl Meter {
    /// Whether a reading is due.
    pub fn due(&self, now: Instant) -> bool {
        self.readings
            .back()
            .is_none_or(|r| now.duration_since(r.at) >= EVERY)
    }

    pub fn figures(&self) -> Figures {
        self.figures
    }

    /// Takes a reading; returns the last second's sample (None for the first reading).
    pub fn record(&mut self, r: Reading) -> Option<Sample> {
        let prev = self.readings.back().copied();
        let restarted = prev.is_some_and(|p| match (p.net, r.net) {
            (Some(a), Some(b)) => b.sent_bytes < a.sent_bytes || b.sent_packets < a.sent_packets,
            (a, b) => a.is_some() != b.is_some(),
        });
        if restarted {
            // A new network sink (a reconnection): its counters start again, so do the rates.
            self.readings.clear();
            self.readings.push_back(r);
            return None;
        }
        self.readings.push_back(r);
        while self
            .readings
            .front()
            .is_some_and(|f| r.at.duration_since(f.at) > WINDOW + EVERY / 2)
        {
            self.readings.pop_front();
        }
        let prev = prev?;
        // The last second: from the reading about a second back (readings come every half second).
        let second = self
            .readings
            .iter()
            .rev()
            .find(|x| r.at.duration_since(x.at) >= SECOND - EVERY / 5)
            .copied()
            .unwrap_or(prev);
        let secs = r.at.duration_since(second.at).as_secs_f64().max(1e-3);
        let bitrate = (delta(second.offered_bytes, r.offered_bytes) as f64 * 8.0 / secs) as u64;
        let oldest = self.readings.front().copied().unwrap_or(prev);
        let window_secs = r.at.duration_since(oldest.at).as_secs_f64().max(1e-3);
        let rate = |a: u64, b: u64| (delta(a, b) as f64 * 8.0 / window_secs) as u64;
        let offered_window = rate(oldest.offered_bytes, r.offered_bytes);
        let (sent_window, loss) = match (oldest.net, second.net, r.net) {
            (Some(o), Some(p), Some(n)) => {
                let sent = delta(p.sent_bytes, n.sent_bytes);
                let dropped = delta(p.dropped_bytes, n.dropped_bytes);
                let packets = delta(p.sent_packets, n.sent_packets);
                let lost = delta(p.lost_packets, n.lost_packets);
                let dropped_share = if sent + dropped > 0 {
                    dropped as f64 / (sent + dropped) as f64
                } else {
                    0.0
                };
                let lost_share = if packets > 0 {
                    lost as f64 / packets as f64
                } else {
                    0.0
                };
                // What got through: sent, less the share the receiver reported lost over the window.
                let (packets_w, lost_w) = (
                    delta(o.sent_packets, n.sent_packets),
                    delta(o.lost_packets, n.lost_packets),
                );
                let through = if packets_w > 0 {
                    (1.0 - lost_w as f64 / packets_w as f64).clamp(0.0, 1.0)
                } else {
                    1.0
                };
                (
                    Some((rate(o.sent_bytes, n.sent_bytes) as f64 * through) as u64),
                    (dropped_share + lost_share).min(1.0),
                )
            }
            _ => (None, 0.0),
        };
        self.figures = Figures {
            bitrate,
            send_rate: sent_window.unwrap_or(bitrate),
            loss,
            net: r.net,
        };
        let rtt = r.net.and_then(|n| n.rtt_ms).map(|rtt| {
            let least = match self.least_rtt {
                Some((least, at)) if least <= rtt && r.at.duration_since(at) < RTT_MEMORY => least,
                _ => {
                    self.least_rtt = Some((rtt, r.at));
                    rtt
                }
            };
            (rtt, least)
        });
        Some(Sample {
            rtt_ms: rtt,
            offered_bps: offered_window,
            offered_now_bps: bitrate,
            sent_bps: sent_window,
            queued_ms: r.queued_ms,
            frames_dropped: delta(prev.frames_dropped, r.frames_dropped),
            loss,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(t0: Instant, s: u64, offered: u64, net: Option<(u64, u64)>) -> Reading {
        Reading {
            at: t0 + Duration::from_secs(s),
            offered_bytes: offered,
            frames_dropped: s,
            net: net.map(|(sent, dropped)| NetCounters {
                sent_bytes: sent,
                dropped_bytes: dropped,
                sent_packets: sent / 1000,
                lost_packets: 0,
                ..NetCounters::default()
            }),
            queued_ms: 5.0,
        }
    }

    #[test]
    fn a_link_that_takes_half_shows_half_and_the_drops() {
        let t0 = Instant::now();
        let mut m = Meter::default();
        assert!(m.due(t0));
        // 500 kB/s offered (4 Mbit/s), the sink sends 250 kB/s and drops the rest unsent.
        assert_eq!(m.record(reading(t0, 0, 0, Some((0, 0)))), None);
        assert!(!m.due(t0 + Duration::from_millis(300)));
        let mut last = None;
        for s in 1..=5 {
            last = m.record(reading(
                t0,
                s,
                s * 500_000,
                Some((s * 250_000, s * 250_000)),
            ));
        }
        let sample = last.unwrap();
        assert_eq!(sample.offered_bps, 4_000_000);
        assert_eq!(sample.sent_bps, Some(2_000_000));
        assert_eq!(sample.frames_dropped, 1);
        assert!((sample.loss - 0.5).abs() < 1e-9, "{}", sample.loss);
        let f = m.figures();
        assert_eq!((f.bitrate, f.send_rate), (4_000_000, 2_000_000));
    }

    #[test]
    fn without_counters_of_the_sink_the_send_rate_is_the_bitrate() {
        let t0 = Instant::now();
        let mut m = Meter::default();
        m.record(reading(t0, 0, 0, None));
        let sample = m.record(reading(t0, 1, 125_000, None)).unwrap();
        assert_eq!(sample.sent_bps, None);
        assert_eq!(m.figures().send_rate, 1_000_000);
        assert_eq!(m.figures().loss, 0.0);
    }

    #[test]
    fn a_new_sink_after_a_reconnection_starts_its_counters_again() {
        let t0 = Instant::now();
        let mut m = Meter::default();
        m.record(reading(t0, 0, 0, Some((9_000_000, 0))));
        assert_eq!(m.record(reading(t0, 1, 125_000, Some((100_000, 0)))), None);
        let sample = m
            .record(reading(t0, 2, 250_000, Some((225_000, 0))))
            .unwrap();
        assert_eq!(sample.loss, 0.0);
        assert_eq!(sample.sent_bps, Some(1_000_000));
    }
}
