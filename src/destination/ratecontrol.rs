//! Congestion: what one second of a destination's statistics says about its network ([`judge`]), when
//! that deserves a warning ([`Warner`]), and the adaptive bitrate ([`Controller`]): the video bitrate
//! follows what the network carries, between `min-bitrate` and `avg-bitrate`. No I/O and no clock: the
//! element feeds a [`Sample`] per destination and the time every half second, and applies what comes back.
//!
//! The controller goes down at once, in proportion to what the network accepted (×0.85, so that the
//! queue drains), then holds; it goes back up in steps of ×1.25 (every [`STEP_EVERY`]) after
//! [`CLEAR_BEFORE_UP`] without trouble, but no higher than 0.95× the rate the network last carried
//! while it was congested until that observation is [`CEILING_MEMORY`] old, and by ×1.15 only while
//! above that rate: the bitrate approaches a known limit without crossing it
//! (every crossing costs pictures), and probes above it only once it may have gone away.

use std::time::{Duration, Instant};

/// Our buffers' time before a destination counts as congested (ms).
pub const QUEUE_LIMIT_MS: f64 = 500.0;
/// Share of the stream the network must accept (send rate / offered rate), measured over a second.
pub const ACCEPTED_SHARE: f64 = 0.85;
/// Share of sent packets lost (or dropped by the sender) above which a destination is congested.
pub const LOSS_LIMIT: f64 = 0.05;
/// How long a destination must be congested before the warning.
pub const WARN_AFTER: Duration = Duration::from_secs(3);
/// The least time between two warnings about one destination.
pub const WARN_EVERY: Duration = Duration::from_secs(30);
/// After a decrease, the queue needs time to drain before a second one means anything.
pub const HOLD_AFTER_DECREASE: Duration = Duration::from_secs(2);
/// Time without congestion before the bitrate goes up.
pub const CLEAR_BEFORE_UP: Duration = Duration::from_secs(3);
/// The least time between two steps up.
pub const STEP_EVERY: Duration = Duration::from_secs(2);
/// How long the rate the network carried while congested caps the steps up.
pub const CEILING_MEMORY: Duration = Duration::from_secs(10);
/// Round-trip time above the least seen recently by this much: packets queue on the way (ms).
pub const RTT_RISE_MS: f64 = 100.0;
/// A decrease goes to this share of what the network carried.
const DOWN_MARGIN: f64 = 0.85;
/// What has queued up on the way must drain within about this long: the decrease goes lower by the
/// queue's share of it (never below half of what the network carried).
const DRAIN: Duration = Duration::from_secs(2);
/// Steps up stop at this share of the remembered ceiling.
const CEILING_MARGIN: f64 = 0.95;
const STEP_UP: f64 = 1.25;
/// Steps up above the rate last seen to fail, once its memory has expired: the probe that finds out
/// whether the link has grown costs pictures when it has not.
const CAREFUL_STEP_UP: f64 = 1.15;

/// One destination, judged every half second over the last second (rates of what the network took: the
/// last 3 s).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// What the element handed to the transport (bit/s), over the same time as `sent_bps`.
    pub offered_bps: u64,
    /// What the element handed to the transport in the last second (bit/s).
    pub offered_now_bps: u64,
    /// What reached the network (bit/s), where the transport says (SRT: data sent less retransmissions;
    /// RTMP: bytes written to the connection).
    pub sent_bps: Option<u64>,
    /// Time the stream waits in the element's buffers for this destination (ms).
    pub queued_ms: f64,
    /// Video frames the element's buffers dropped for this destination in that second.
    pub frames_dropped: u64,
    /// Share of the stream lost on the network or dropped by the sender before it, in that second.
    pub loss: f64,
    /// Round-trip time now, and the least seen in the last half minute (ms), where the transport
    /// measures it (SRT): the difference is time spent in queues on the way.
    pub rtt_ms: Option<(f64, f64)>,
}

/// What a sample says.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Clear,
    /// The network did not take the stream: `carried_bps` is what it took (bit/s), `loss` the share
    /// lost or dropped; `why`, in words.
    Congested {
        carried_bps: u64,
        loss: f64,
        /// Time the stream waits on the way (ms): in the element's buffers, or in the network's
        /// queues as the rise of the round trip shows.
        queue_ms: f64,
        why: String,
    },
}

impl Verdict {
    pub fn is_congested(&self) -> bool {
        matches!(self, Verdict::Congested { .. })
    }
}

/// Judges one second of a destination. `None` when there is nothing to judge (no data offered: not
/// connected, or nothing encoded).
pub fn judge(s: &Sample) -> Option<Verdict> {
    if s.offered_bps == 0 && s.sent_bps.unwrap_or(0) == 0 && s.frames_dropped == 0 {
        return None;
    }
    let mbps = |b: u64| b as f64 / 1e6;
    let carried = s.sent_bps.unwrap_or(s.offered_bps);
    let mut why = Vec::new();
    if s.frames_dropped > 0 {
        why.push(format!(
            "{} frame(s) dropped by its buffer",
            s.frames_dropped
        ));
    }
    if s.queued_ms > QUEUE_LIMIT_MS {
        why.push(format!("{:.0} ms waiting in its buffer", s.queued_ms));
    }
    if let Some((rtt, least)) = s.rtt_ms {
        if rtt > least + RTT_RISE_MS {
            why.push(format!(
                "round trip {rtt:.0} ms ({:.0} ms queueing)",
                rtt - least
            ));
        }
    }
    if s.loss > LOSS_LIMIT {
        why.push(format!(
            "{:.0} % of the stream lost or dropped",
            s.loss * 100.0
        ));
    }
    if let Some(sent) = s.sent_bps {
        if (sent as f64) < s.offered_bps as f64 * ACCEPTED_SHARE {
            why.push(format!(
                "the network took {:.2} of {:.2} Mbit/s",
                mbps(sent),
                mbps(s.offered_bps)
            ));
        }
    }
    Some(if why.is_empty() {
        Verdict::Clear
    } else {
        Verdict::Congested {
            carried_bps: carried,
            loss: s.loss,
            queue_ms: s
                .queued_ms
                .max(s.rtt_ms.map_or(0.0, |(rtt, least)| rtt - least))
                .max(backlog_ms(s)),
            why: why.join(", "),
        }
    })
}

/// What a second of sending more than the network took leaves waiting at the sender (ms): the excess
/// at the rate the network takes it.
fn backlog_ms(s: &Sample) -> f64 {
    match s.sent_bps {
        Some(sent) if sent > 0 && s.offered_bps > sent => {
            (s.offered_bps - sent) as f64 * 1000.0 / sent as f64
        }
        _ => 0.0,
    }
}

/// When to warn about one destination: once it has been congested for [`WARN_AFTER`], then at most
/// every [`WARN_EVERY`] while it stays so.
#[derive(Debug, Default)]
pub struct Warner {
    since: Option<Instant>,
    warned: Option<Instant>,
}

impl Warner {
    /// Feeds a verdict; true when a warning is due now.
    pub fn observe(&mut self, now: Instant, congested: bool) -> bool {
        if !congested {
            self.since = None;
            return false;
        }
        let since = *self.since.get_or_insert(now);
        let due = now.duration_since(since) >= WARN_AFTER
            && self
                .warned
                .is_none_or(|w| now.duration_since(w) >= WARN_EVERY);
        if due {
            self.warned = Some(now);
        }
        due
    }
}

/// A new video bitrate, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub kbps: u32,
    pub reason: String,
}

/// The adaptive bitrate of one encoder.
#[derive(Debug)]
pub struct Controller {
    min_kbps: u32,
    max_kbps: u32,
    target_kbps: u32,
    last_decrease: Option<Instant>,
    last_increase: Option<Instant>,
    clear_since: Option<Instant>,
    /// The video bitrate the network carried while congested (kbit/s), and when.
    ceiling: Option<(u32, Instant)>,
    /// The same, never forgotten: above it, steps up are careful.
    last_ceiling: Option<u32>,
}

impl Controller {
    /// Starts at `max_kbps` (`avg-bitrate`); never below `min_kbps` (`min-bitrate`).
    pub fn new(min_kbps: u32, max_kbps: u32) -> Controller {
        let max_kbps = max_kbps.max(1);
        Controller {
            min_kbps: min_kbps.clamp(1, max_kbps),
            max_kbps,
            target_kbps: max_kbps,
            last_decrease: None,
            last_increase: None,
            clear_since: None,
            ceiling: None,
            last_ceiling: None,
        }
    }

    pub fn target_kbps(&self) -> u32 {
        self.target_kbps
    }

    pub fn min_kbps(&self) -> u32 {
        self.min_kbps
    }

    /// Feeds the verdict on the destination the bitrate follows, with what it was offered in the last
    /// second (bit/s, at the current bitrate: video, audio and muxing); returns the new bitrate when it
    /// changes.
    pub fn update(&mut self, now: Instant, verdict: &Verdict, offered_bps: u64) -> Option<Change> {
        match verdict {
            Verdict::Congested {
                carried_bps,
                loss,
                queue_ms,
                why,
            } => {
                self.clear_since = None;
                if self
                    .last_decrease
                    .is_some_and(|t| now.duration_since(t) < HOLD_AFTER_DECREASE)
                {
                    return None;
                }
                // The video's part of what the network carried: the offered stream holds audio and
                // muxing too, in the proportion of the last second (at the current bitrate).
                let video_share = if offered_bps > 0 {
                    (self.target_kbps as f64 * 1000.0 / offered_bps as f64).min(1.0)
                } else {
                    0.5
                };
                let carried_video = (*carried_bps as f64 * video_share / 1000.0) as u32;
                self.ceiling = Some((carried_video.max(self.min_kbps), now));
                self.last_ceiling = Some(carried_video.max(self.min_kbps));
                // Where packets are lost, the estimate of what got through is rough: at least cut in
                // proportion to the loss (half of it).
                let drain = (queue_ms / DRAIN.as_secs_f64() / 1000.0).clamp(0.0, DOWN_MARGIN - 0.5);
                let kbps = ((carried_video as f64 * (DOWN_MARGIN - drain)) as u32)
                    .min((self.target_kbps as f64 * DOWN_MARGIN) as u32)
                    .min((self.target_kbps as f64 * (1.0 - loss.clamp(0.0, 1.0) / 2.0)) as u32)
                    .clamp(self.min_kbps, self.max_kbps);
                self.last_decrease = Some(now);
                self.set(
                    kbps,
                    format!(
                        "down: {why}; the network carried about {:.2} Mbit/s of video",
                        carried_video as f64 / 1000.0
                    ),
                )
            }
            Verdict::Clear => {
                let since = *self.clear_since.get_or_insert(now);
                if self.target_kbps >= self.max_kbps
                    || now.duration_since(since) < CLEAR_BEFORE_UP
                    || self
                        .last_decrease
                        .is_some_and(|t| now.duration_since(t) < CLEAR_BEFORE_UP)
                    || self
                        .last_increase
                        .is_some_and(|t| now.duration_since(t) < STEP_EVERY)
                {
                    return None;
                }
                if self
                    .ceiling
                    .is_some_and(|(_, at)| now.duration_since(at) >= CEILING_MEMORY)
                {
                    self.ceiling = None;
                }
                let careful = self
                    .last_ceiling
                    .is_some_and(|c| self.target_kbps as f64 * STEP_UP > c as f64 * CEILING_MARGIN);
                let step = if careful { CAREFUL_STEP_UP } else { STEP_UP };
                let mut kbps = ((self.target_kbps as f64 * step) as u32).min(self.max_kbps);
                let mut reason = "up: the network took everything for a while".to_string();
                if let Some((ceiling, _)) = self.ceiling {
                    let cap = (ceiling as f64 * CEILING_MARGIN) as u32;
                    if kbps > cap {
                        kbps = cap.max(self.target_kbps);
                        reason = format!(
                            "up, to just below the {:.2} Mbit/s the network carried when it was congested",
                            ceiling as f64 / 1000.0
                        );
                    }
                }
                self.last_increase = Some(now);
                self.set(kbps, reason)
            }
        }
    }

    fn set(&mut self, kbps: u32, reason: String) -> Option<Change> {
        if kbps == self.target_kbps {
            return None;
        }
        self.target_kbps = kbps;
        Some(Change { kbps, reason })
    }
}

/// Which destination the bitrate follows when several share the encode: the most congested one, by
/// the share of its stream the network carried (the slowest); destinations with nothing to judge
/// (not connected) do not count. Returns its index among `verdicts` and its verdict.
pub fn slowest(verdicts: &[(Option<Verdict>, u64)]) -> Option<(usize, Verdict, u64)> {
    let share = |v: &Verdict, offered: u64| match v {
        Verdict::Clear => 1.0,
        Verdict::Congested { carried_bps, .. } if offered > 0 => {
            *carried_bps as f64 / offered as f64
        }
        Verdict::Congested { .. } => 0.0,
    };
    verdicts
        .iter()
        .enumerate()
        .filter_map(|(i, (v, offered))| v.as_ref().map(|v| (i, v.clone(), *offered)))
        .min_by(|a, b| share(&a.1, a.2).total_cmp(&share(&b.1, b.2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    fn congested(carried_bps: u64) -> Verdict {
        Verdict::Congested {
            carried_bps,
            loss: 0.0,
            queue_ms: 0.0,
            why: "test".into(),
        }
    }

    #[test]
    fn a_second_where_the_network_took_everything_is_clear() {
        let s = Sample {
            offered_bps: 4_200_000,
            sent_bps: Some(4_100_000),
            queued_ms: 20.0,
            ..Default::default()
        };
        assert_eq!(judge(&s), Some(Verdict::Clear));
        assert_eq!(judge(&Sample::default()), None);
    }

    #[test]
    fn each_sign_of_trouble_is_named() {
        let base = Sample {
            offered_bps: 4_200_000,
            sent_bps: Some(4_200_000),
            ..Default::default()
        };
        let cases = [
            (
                Sample {
                    sent_bps: Some(1_900_000),
                    ..base
                },
                "the network took 1.90 of 4.20 Mbit/s",
            ),
            (
                Sample {
                    queued_ms: 900.0,
                    ..base
                },
                "900 ms waiting",
            ),
            (
                Sample {
                    frames_dropped: 3,
                    ..base
                },
                "3 frame(s) dropped",
            ),
            (Sample { loss: 0.4, ..base }, "40 % of the stream lost"),
            (
                Sample {
                    rtt_ms: Some((650.0, 20.0)),
                    ..base
                },
                "round trip 650 ms (630 ms queueing)",
            ),
        ];
        for (sample, words) in cases {
            match judge(&sample) {
                Some(Verdict::Congested { why, .. }) => assert!(why.contains(words), "{why}"),
                other => panic!("{sample:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn sending_twice_what_the_network_takes_leaves_a_second_waiting() {
        let s = Sample {
            offered_bps: 4_000_000,
            sent_bps: Some(2_000_000),
            ..Default::default()
        };
        match judge(&s) {
            Some(Verdict::Congested { queue_ms, .. }) => assert_eq!(queue_ms, 1000.0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_warning_comes_after_three_seconds_then_every_thirty() {
        let t0 = Instant::now();
        let mut w = Warner::default();
        assert!(!w.observe(at(t0, 0), true));
        assert!(!w.observe(at(t0, 2), true));
        assert!(w.observe(at(t0, 3), true));
        assert!(!w.observe(at(t0, 4), true));
        assert!(w.observe(at(t0, 33), true));
        // A clear second starts the count again, but the rate limit holds.
        assert!(!w.observe(at(t0, 34), false));
        assert!(!w.observe(at(t0, 40), true));
        assert!(!w.observe(at(t0, 43), true));
        assert!(w.observe(at(t0, 63), true));
    }

    #[test]
    fn down_at_once_in_proportion_to_what_the_network_carried_then_hold() {
        let t0 = Instant::now();
        let mut c = Controller::new(500, 4000);
        // 5 Mbit/s offered (4 of video, plus audio and muxing), 2.5 carried: 2 of video, less the margin.
        let ch = c
            .update(at(t0, 0), &congested(2_500_000), 5_000_000)
            .unwrap();
        assert_eq!(ch.kbps, 1700);
        assert!(ch.reason.starts_with("down: test"), "{}", ch.reason);
        // The queue drains: no second decrease within the hold time.
        assert_eq!(c.update(at(t0, 1), &congested(1_000_000), 2_000_000), None);
        // Still congested after it: down again, never below min-bitrate.
        let ch = c.update(at(t0, 2), &congested(100_000), 2_000_000).unwrap();
        assert_eq!(ch.kbps, 500);
        assert_eq!(c.update(at(t0, 5), &congested(100_000), 600_000), None);
    }

    #[test]
    fn heavy_loss_cuts_at_least_in_proportion() {
        let t0 = Instant::now();
        let mut c = Controller::new(500, 4000);
        // The sender counts 4 Mbit/s of 4.2 as carried, but 60 % was lost: x0.7.
        let lossy = Verdict::Congested {
            carried_bps: 4_000_000,
            loss: 0.6,
            queue_ms: 0.0,
            why: "loss".into(),
        };
        assert_eq!(c.update(t0, &lossy, 4_200_000).unwrap().kbps, 2800);
    }

    #[test]
    fn a_queue_on_the_way_is_drained_by_going_lower() {
        let t0 = Instant::now();
        let mut c = Controller::new(500, 4000);
        // 2 of video carried, 600 ms queued: 0.85 - 0.3 of it, so that the queue drains in ~2 s.
        let queued = Verdict::Congested {
            carried_bps: 2_500_000,
            loss: 0.0,
            queue_ms: 600.0,
            why: "queue".into(),
        };
        assert_eq!(c.update(t0, &queued, 5_000_000).unwrap().kbps, 1100);
        // Never below half of what was carried.
        let mut c = Controller::new(500, 4000);
        let deep = Verdict::Congested {
            carried_bps: 2_500_000,
            loss: 0.0,
            queue_ms: 5000.0,
            why: "queue".into(),
        };
        assert_eq!(c.update(t0, &deep, 5_000_000).unwrap().kbps, 1000);
    }

    #[test]
    fn up_in_steps_to_just_below_the_ceiling_then_probes_once_it_is_old() {
        let t0 = Instant::now();
        let mut c = Controller::new(500, 4000);
        c.update(at(t0, 0), &congested(2_500_000), 5_000_000); // ceiling 2000, target 1700
        assert_eq!(c.target_kbps(), 1700);
        let mut seen = vec![];
        for s in 1..40 {
            if let Some(ch) = c.update(at(t0, s), &Verdict::Clear, 1_800_000) {
                seen.push((s, ch.kbps));
            }
        }
        // Not before 3 s of clear; then at most 0.95 × 2000 until the ceiling is 10 s old; then ×1.15
        // every 2 s above the rate that failed.
        assert_eq!(seen[0], (4, 1900));
        assert_eq!(seen[1], (10, 2185));
        assert_eq!(seen[2], (12, 2512));
        assert!(seen.iter().all(|(_, k)| *k <= 4000));
        assert_eq!(seen.last().map(|(_, k)| *k), Some(4000));
    }

    #[test]
    fn min_bitrate_above_avg_bitrate_is_avg_bitrate() {
        let c = Controller::new(8000, 4000);
        assert_eq!(c.target_kbps(), 4000);
        assert_eq!(c.min_kbps, 4000);
    }

    #[test]
    fn the_bitrate_follows_the_slowest_connected_destination() {
        let verdicts = [
            (Some(Verdict::Clear), 4_000_000),
            (None, 0),
            (Some(congested(1_000_000)), 4_000_000),
            (Some(congested(3_000_000)), 4_000_000),
        ];
        let (i, v, _) = slowest(&verdicts).unwrap();
        assert_eq!(i, 2);
        assert!(v.is_congested());
        assert_eq!(slowest(&[(None, 0)]), None);
    }
}
