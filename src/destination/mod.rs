//! The destination layer, between the element and the transports: a running destination (its link,
//! gate, meter, reconnection and congestion verdicts) and what a run of several keeps for each.
//!
//! ```text
//! nvencstreamsink (element: properties, plan, encoder, tees)
//!   └─ destination (this layer: Dest, link, gate, meter, monitor, reconnect, ratecontrol)
//!        └─ transport (rtmp, srt, rtsp, webrtc: URLs, sub-bins, failures)
//! ```
//!
//! Imports go one way: this layer uses the transports and never the element; the element reaches it
//! through [`Dest`], [`start`] and the monitor's [`monitor::Reporter`].

use gst::glib;
use gst::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::transport::{self, Destination, TransportError};
use gate::Gate;
use link::Link;
use meter::{Figures, Meter, Reading};
use ratecontrol::{Sample, Warner};
use std::time::Instant;
use tdstream_common::sync::lock;

pub mod gate;
pub mod link;
pub mod meter;
pub mod monitor;
pub mod ratecontrol;
pub mod reconnect;

/// State of the network connection.
#[derive(Debug, Default, Eq, PartialEq, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "TdStreamConnectionState")]
pub enum ConnectionState {
    #[default]
    #[enum_value(
        name = "Disconnected: not started, inactive or stopped",
        nick = "disconnected"
    )]
    Disconnected = 0,
    #[enum_value(
        name = "Connecting: started, no data has reached the network yet",
        nick = "connecting"
    )]
    Connecting = 1,
    #[enum_value(
        name = "Connected: data is flowing to the network sink",
        nick = "connected"
    )]
    Connected = 2,
    #[enum_value(
        name = "Reconnecting: the link dropped and is being re-established",
        nick = "reconnecting"
    )]
    Reconnecting = 3,
    #[enum_value(
        name = "Failed: the network sink stopped with an error",
        nick = "failed"
    )]
    Failed = 4,
}

/// A destination built and ready to be added to the element: a restartable one behind its link.
pub struct Started {
    pub bin: gst::Bin,
    /// The element that talks to the network (rtmp2sink, srtsink, the internal rtspsharedserver); for a
    /// restartable link, its first one.
    pub network_sink: Option<gst::Element>,
    pub follow: Follow,
    /// The caps the video must have when it enters `bin`'s `video` pad.
    pub video_caps: gst::Caps,
}

/// How the element follows a started destination's connection.
pub enum Follow {
    /// A restartable link: the monitor follows it and reconnects it.
    Link(Arc<Link>),
    /// See [`transport::Connected`].
    Once(transport::Connected),
}

impl Started {
    pub fn link(&self) -> Option<&Arc<Link>> {
        match &self.follow {
            Follow::Link(l) => Some(l),
            Follow::Once(_) => None,
        }
    }
}

/// Starts what a transport built: a restartable destination gets its link (and a first inner bin).
pub fn start(built: transport::Built) -> Result<Started, TransportError> {
    let video_caps = built.video_caps;
    Ok(match built.form {
        transport::Form::Once {
            bin,
            network_sink,
            connected,
        } => Started {
            bin,
            network_sink: Some(network_sink),
            follow: Follow::Once(connected),
            video_caps,
        },
        transport::Form::Restartable(r) => {
            let link = Link::new(r.name, r.with_audio, r.probe, r.build)?;
            Started {
                bin: link.outer().clone(),
                network_sink: link.network_sink(),
                follow: Follow::Link(link),
                video_caps,
            }
        }
    })
}

/// The element's `connection-state` from its destinations': `failed` only when every destination has
/// failed (one that fails among working ones is reported on its own and the others go on); otherwise
/// the least advanced of the others: `reconnecting` if one is, else `connecting` if one is, else
/// `connected`. No destination: `disconnected`.
pub fn summary(states: &[ConnectionState]) -> ConnectionState {
    use ConnectionState::*;
    if states.is_empty() {
        return Disconnected;
    }
    let live: Vec<_> = states.iter().filter(|s| **s != Failed).collect();
    if live.is_empty() {
        return Failed;
    }
    for worst in [Disconnected, Reconnecting, Connecting] {
        if live.iter().any(|s| **s == worst) {
            return worst;
        }
    }
    Connected
}

/// Counters of one destination, updated from its pad probes and by the monitor.
#[derive(Default)]
pub struct DestCounters {
    pub bytes_sent: AtomicU64,
    pub reconnects: AtomicU64,
}

/// One destination of a running element.
pub struct Dest {
    /// Stable while the element runs (its position in `destinations` may change as others are
    /// removed); names its elements.
    pub id: u32,
    /// The URL as written: secret, never shown; tells which destinations a new list keeps.
    pub url: String,
    pub destination: Arc<dyn Destination>,
    /// Its URL, redacted.
    pub shown: String,
    pub network_sink: Option<gst::Element>,
    /// A restartable destination: its link.
    pub link: Option<Arc<Link>>,
    /// With several destinations: the bounded buffer in front of it and the gate after that buffer,
    /// which drops until a keyframe once the buffer has dropped.
    pub branch: Option<Branch>,
    /// Everything this destination added to the element (its sub-bin, its buffers), to remove it.
    pub elements: Vec<gst::Element>,
    /// The tee pads that feed it (video, audio): linked once its elements are up.
    pub tee_pads: Mutex<Vec<gst::Pad>>,
    pub counters: Arc<DestCounters>,
    pub state: Mutex<ConnectionState>,
    /// Its rates and shares, from readings of its counters every half second.
    pub meter: Mutex<Meter>,
    /// Whether it could not keep up at its last sample, and when to warn about that.
    pub congestion: Mutex<(bool, Warner)>,
}

/// The bounded buffer of a destination that shares the encode with others.
pub struct Branch {
    pub queue: gst::Element,
    pub gate: Arc<Gate>,
}

impl Dest {
    pub fn new(id: u32, url: String, destination: Arc<dyn Destination>) -> Dest {
        Dest {
            id,
            url,
            shown: destination.shown(),
            destination,
            network_sink: None,
            link: None,
            branch: None,
            elements: Vec::new(),
            tee_pads: Mutex::default(),
            counters: Arc::default(),
            state: Mutex::new(ConnectionState::Disconnected),
            meter: Mutex::default(),
            congestion: Mutex::default(),
        }
    }

    pub fn state(&self) -> ConnectionState {
        *lock(&self.state)
    }

    /// Sets the state; true when it changed.
    pub fn set_state(&self, new: ConnectionState) -> bool {
        let mut s = lock(&self.state);
        let changed = *s != new;
        *s = new;
        changed
    }

    /// The network sink now (a link's changes with every connection).
    pub fn sink(&self) -> Option<gst::Element> {
        match &self.link {
            Some(l) => l.network_sink(),
            None => self.network_sink.clone(),
        }
    }

    /// Video frames dropped for this destination: by its own buffer's gate and by its link's gate.
    pub fn frames_dropped(&self) -> (u64, u64) {
        let mut video = 0;
        let mut audio = 0;
        if let Some(b) = &self.branch {
            video += b.gate.video_dropped();
            audio += b.gate.audio_dropped();
        }
        if let Some(l) = &self.link {
            video += l.gate().video_dropped();
            audio += l.gate().audio_dropped();
        }
        (video, audio)
    }

    /// Time the stream waits in this destination's buffers now (ms).
    pub fn buffered_ms(&self) -> f64 {
        let branch = self
            .branch
            .as_ref()
            .map(|b| b.queue.property::<u64>("current-level-time"))
            .unwrap_or(0) as f64
            / 1e6;
        let link = self
            .link
            .as_ref()
            .map(|l| l.buffered().as_secs_f64() * 1000.0)
            .unwrap_or(0.0);
        branch + link
    }

    /// Every half second: reads its counters and returns its sample (None when no
    /// reading was due, or for the first one).
    pub fn measure(&self, now: Instant) -> Option<Sample> {
        if !lock(&self.meter).due(now) {
            return None;
        }
        let reading = Reading {
            at: now,
            offered_bytes: self.counters.bytes_sent.load(Ordering::Relaxed),
            frames_dropped: self.frames_dropped().0,
            net: self.sink().and_then(|s| self.destination.network(&s)),
            queued_ms: self.buffered_ms(),
        };
        lock(&self.meter).record(reading)
    }

    pub fn figures(&self) -> Figures {
        lock(&self.meter).figures()
    }

    pub fn congested(&self) -> bool {
        lock(&self.congestion).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConnectionState::*;

    #[test]
    fn the_element_fails_only_when_every_destination_has() {
        assert_eq!(summary(&[]), Disconnected);
        assert_eq!(summary(&[Connected, Connected]), Connected);
        assert_eq!(summary(&[Connected, Failed]), Connected);
        assert_eq!(summary(&[Connected, Connecting]), Connecting);
        assert_eq!(
            summary(&[Connecting, Reconnecting, Connected]),
            Reconnecting
        );
        assert_eq!(summary(&[Failed, Failed]), Failed);
        assert_eq!(summary(&[Failed, Reconnecting]), Reconnecting);
    }
}
