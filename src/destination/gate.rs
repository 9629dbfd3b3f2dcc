//! The gate in front of a restartable network link: decides, per buffer, whether it goes to the link or
//! is dropped (and counted), so that the pipeline upstream never waits for the network.
//!
//! - `Closed`: the link is down or not yet connected; everything is dropped.
//! - `AwaitKeyframe`: the link is up (or buffering while it connects); video is dropped until a keyframe,
//!   audio until that keyframe has passed, so the far side starts with a decodable picture.
//! - `Open`: everything passes.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum GateMode {
    Closed = 0,
    AwaitKeyframe = 1,
    Open = 2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Video,
    Audio,
}

#[derive(Debug, Default)]
pub struct Gate {
    mode: AtomicU8,
    video_dropped: AtomicU64,
    audio_dropped: AtomicU64,
    /// Set when a buffer the gate passed came back with a flow error (the link broke).
    failed: AtomicU8,
}

impl Gate {
    pub fn mode(&self) -> GateMode {
        match self.mode.load(Ordering::Acquire) {
            1 => GateMode::AwaitKeyframe,
            2 => GateMode::Open,
            _ => GateMode::Closed,
        }
    }

    pub fn set_mode(&self, mode: GateMode) {
        self.mode.store(mode as u8, Ordering::Release);
    }

    /// Closes the gate unless it is already closed.
    pub fn close(&self) {
        self.set_mode(GateMode::Closed);
    }

    /// Waits for a keyframe again (after the link came up, or after data was lost on the way).
    pub fn resync(&self) {
        self.set_mode(GateMode::AwaitKeyframe);
    }

    /// Whether a buffer of `stream` passes; `delta` is true for a video frame that is not a keyframe.
    /// Dropped buffers are counted.
    pub fn admit(&self, stream: Stream, delta: bool) -> bool {
        let pass = match (self.mode(), stream) {
            (GateMode::Open, _) => true,
            (GateMode::AwaitKeyframe, Stream::Video) if !delta => {
                // Only the thread that flips the mode lets the keyframe in; a concurrent resync wins.
                self.mode
                    .compare_exchange(
                        GateMode::AwaitKeyframe as u8,
                        GateMode::Open as u8,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_ok()
            }
            _ => false,
        };
        if !pass {
            let counter = match stream {
                Stream::Video => &self.video_dropped,
                Stream::Audio => &self.audio_dropped,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        pass
    }

    /// A passed buffer came back with a flow error: close, and remember it for the supervisor.
    pub fn mark_failed(&self) {
        self.close();
        self.failed.store(1, Ordering::Release);
    }

    /// Whether the link failed since the last call.
    pub fn take_failed(&self) -> bool {
        self.failed.swap(0, Ordering::AcqRel) == 1
    }

    pub fn video_dropped(&self) -> u64 {
        self.video_dropped.load(Ordering::Relaxed)
    }

    pub fn audio_dropped(&self) -> u64 {
        self.audio_dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_drops_and_counts_everything() {
        let g = Gate::default();
        assert_eq!(g.mode(), GateMode::Closed);
        assert!(!g.admit(Stream::Video, false));
        assert!(!g.admit(Stream::Video, true));
        assert!(!g.admit(Stream::Audio, false));
        assert_eq!((g.video_dropped(), g.audio_dropped()), (2, 1));
    }

    #[test]
    fn awaiting_a_keyframe_drops_deltas_and_audio_until_one_passes() {
        let g = Gate::default();
        g.resync();
        assert!(!g.admit(Stream::Video, true));
        assert!(!g.admit(Stream::Audio, false));
        assert!(g.admit(Stream::Video, false));
        assert_eq!(g.mode(), GateMode::Open);
        assert!(g.admit(Stream::Audio, false));
        assert!(g.admit(Stream::Video, true));
        assert_eq!((g.video_dropped(), g.audio_dropped()), (1, 1));
    }

    #[test]
    fn a_failure_closes_and_is_reported_once() {
        let g = Gate::default();
        g.set_mode(GateMode::Open);
        g.mark_failed();
        assert_eq!(g.mode(), GateMode::Closed);
        assert!(g.take_failed());
        assert!(!g.take_failed());
    }
}
