//! What a restartable transport gives the destination layer: how to build its inner bin (muxer →
//! buffer → network sink) for each connection attempt, and a [`Probe`] that tells when its sink is
//! connected and how its failures read. The destination layer's link (`destination::link`) keeps the
//! outer pads, the gate and the reconnections.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::TransportError;

/// One built inner bin.
pub struct Inner {
    pub bin: gst::Bin,
    pub network_sink: gst::Element,
    /// The application-level buffer in front of the sink, if any: its overruns mean data was lost.
    pub buffer: Option<gst::Element>,
    /// Set by the sink's own signals where its properties cannot tell (WebRTC).
    pub connected: Option<Arc<AtomicBool>>,
    /// Set, with the reason, by the sink's own signals when its session failed without an error
    /// message (a WHIP peer connection that fails after the endpoint answered).
    pub failure: Option<Failure>,
}

/// Where a sink's signal handlers leave the reason its session failed.
pub type Failure = Arc<Mutex<Option<String>>>;

/// How a link tells that its network sink is connected, and how its failures read: one per
/// transport (`rtmp::RtmpProbe`, `srt::SrtProbe`, `webrtc::WebrtcProbe`).
pub trait Probe: Send + Sync {
    /// Whether the sink is connected, from what it shows (its `stats`). A sink that says so through
    /// signals sets [`Inner::connected`] instead.
    fn is_connected(&self, sink: &gst::Element) -> bool;

    /// The sink's words for a failure, made clearer where the sink is vague; `connecting_for` is how
    /// long the failed attempt had been connecting (None once it was connected).
    fn explain_failure(&self, reason: &str, connecting_for: Option<Duration>) -> String {
        let _ = connecting_for;
        reason.to_string()
    }

    /// Whether the gate stays closed while connecting (the sink reports failures without data), or lets
    /// data into the link's small buffer from the start (the sink reports failures only on writing).
    fn closed_while_connecting(&self) -> bool {
        false
    }
}

pub type Builder = Box<dyn Fn() -> Result<Inner, TransportError> + Send + Sync>;

/// A destination that is built again at each (re)connection.
pub struct Restartable {
    /// The name of the link's outer bin (`rtmp-transport`, `srt-transport`, ...).
    pub name: &'static str,
    pub with_audio: bool,
    pub probe: Box<dyn Probe>,
    /// Builds one inner bin; called for the first attempt and for every reconnection.
    pub build: Builder,
}
