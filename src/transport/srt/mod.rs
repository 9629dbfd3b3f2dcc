//! SRT: `mpegtsmux alignment=7 ! srtsink` with every option of the URL query on the sink. A caller or
//! rendezvous peer is a restartable link; a listener stays open for the whole run and takes callers as
//! they come, each of which gets a keyframe at once.

use gst::glib;
use gst::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::link::{Inner, Link, Probe};
use super::{
    ghost_mux_pad, link_chain, make, mentions, network_hint, set_enum, video_caps, Built, Context,
    Destination, Follow, Kind, Media, TransportError,
};
use crate::encoder::Codec;
use crate::nvencstreamsink::plan::{Plan, PlanError};
use crate::nvencstreamsink::Mode;
use tdstream_common::rtsp::{KeyframeAction, KeyframeLimiter};
use tdstream_common::sync::lock;

pub mod url;

pub use url::{SrtMode, SrtTarget};

pub static KIND: Kind = Kind {
    name: "srt",
    mode: Mode::Srt,
    schemes: &["srt"],
    parse,
};

/// Failures another attempt cannot fix: the passphrase does not match.
const FINAL: &[&str] = &["passphrase", "decrypt"];

/// The least time between two keyframes asked for by callers joining a listener.
const JOIN_KEYFRAME_GAP: Duration = Duration::from_millis(250);

/// An SRT destination, resolved.
#[derive(Debug, Clone)]
pub struct Srt {
    pub target: SrtTarget,
    codec: Codec,
    /// `mpegtsmux` has the AV1 mapping (GStreamer 1.26+).
    ts_av1: bool,
    /// bit/s, 0 = variable (`mux-rate`).
    mux_rate: u64,
}

fn parse(url: &str, ctx: &Context) -> Result<Arc<dyn Destination>, PlanError> {
    Ok(Arc::new(Srt {
        target: SrtTarget::parse(url)?,
        codec: ctx.settings.encoder.codec,
        ts_av1: ctx.caps.ts_av1,
        mux_rate: (ctx.settings.mux_rate * 1e6).round() as u64,
    }))
}

impl Destination for Srt {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn shown(&self) -> String {
        self.target.redacted()
    }

    fn secrets(&self) -> Vec<String> {
        // Stream ids carry credentials on common servers (`publish:cam:alice:PASSWORD`).
        [&self.target.passphrase, &self.target.streamid]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    fn check(&self, media: &mut Media) -> Result<(), PlanError> {
        if media.encoder.codec == Codec::Av1 && !self.ts_av1 {
            return Err(PlanError::CodecOnProtocol {
                codec: "av1",
                mode: "srt",
                why: "AV1 in MPEG-TS needs mpegtsmux with enable-custom-mappings (GStreamer 1.26 or newer)",
                fix: "set video-codec=h264 or video-codec=h265, or upgrade to GStreamer 1.26+",
            });
        }
        Ok(())
    }

    fn build(&self, _plan: &Plan, with_audio: bool) -> Result<Built, TransportError> {
        let video_caps = video_caps(self.codec, Some("byte-stream"));
        if self.target.mode == SrtMode::Listener {
            // The listener stays open for the whole run; srtsink takes callers as they come and go.
            let inner = self.build_inner(with_audio, "srt-transport")?;
            keyframe_for_each_caller(&inner.bin, &inner.network_sink);
            return Ok(Built {
                bin: inner.bin,
                network_sink: Some(inner.network_sink),
                follow: Follow::Callers,
                video_caps,
            });
        }
        let me = self.clone();
        let link = Link::new(
            "srt-transport",
            with_audio,
            Box::new(SrtProbe),
            Box::new(move || me.build_inner(with_audio, "srt-connection")),
        )?;
        Ok(Built::of_link(link, video_caps))
    }

    fn hints(&self, detail: &str) -> Vec<String> {
        if mentions(detail, FINAL) {
            return vec![
                "Fix: use the peer's SRT passphrase (passphrase=... in url, same pbkeylen on both sides)"
                    .into(),
            ];
        }
        network_hint(detail).into_iter().map(String::from).collect()
    }

    fn is_final(&self, reason: &str) -> bool {
        mentions(reason, FINAL)
    }

    fn packet_loss_ratio(&self, sink: &gst::Element) -> f64 {
        if sink.find_property("stats").is_none() {
            return 0.0;
        }
        let Some(stats) = sink.property::<Option<gst::Structure>>("stats") else {
            return 0.0;
        };
        let (sent, lost) = srt_counts(&stats);
        ratio(sent, lost)
    }
}

/// srtsink: its `stats` carry socket counters once the handshake is done. It reports connection
/// failures only when it has data to write, so it gets data (into a small leaky buffer) from the start.
struct SrtProbe;

impl Probe for SrtProbe {
    fn is_connected(&self, sink: &gst::Element) -> bool {
        sink.find_property("stats").is_some()
            && sink
                .property::<Option<gst::Structure>>("stats")
                .is_some_and(|s| s.has_field("packets-sent"))
    }

    /// srtsink reports a handshake the listener refused (libsrt: BADSECRET, …) only as "Connection does
    /// not exist", at once, where an absent listener times out after 3 s.
    fn explain_failure(&self, reason: &str, connecting_for: Option<Duration>) -> String {
        let refused_at_once = connecting_for.is_some_and(|d| d < Duration::from_millis(1500));
        if refused_at_once && reason.contains("does not exist") {
            return format!(
                "{reason}: the listener rejected the connection during the handshake (wrong or missing passphrase, \
                 a different pbkeylen, or a streamid it does not accept)"
            );
        }
        reason.to_string()
    }
}

/// A caller that joins a listener mid-stream gets a keyframe (with its headers) at once instead of at
/// the next keyframe interval; joins close together share one (a join within the gap after a keyframe
/// gets one at the end of the gap).
fn keyframe_for_each_caller(bin: &gst::Bin, sink: &gst::Element) {
    if glib::subclass::SignalId::lookup("caller-added", sink.type_()).is_none() {
        return;
    }
    let Some(video) = bin.static_pad("video") else {
        return;
    };
    let video = video.downgrade();
    let limiter = Arc::new(Mutex::new(KeyframeLimiter::new(JOIN_KEYFRAME_GAP)));
    sink.connect("caller-added", false, move |_| {
        let send = |pad: &glib::WeakRef<gst::Pad>| {
            if let Some(pad) = pad.upgrade() {
                let event = gst_video::UpstreamForceKeyUnitEvent::builder()
                    .all_headers(true)
                    .build();
                pad.push_event(event);
            }
        };
        match lock(&limiter).request(Instant::now()) {
            KeyframeAction::SendNow => send(&video),
            KeyframeAction::SendAfter(delay) => {
                let (video, later) = (video.clone(), Arc::clone(&limiter));
                let spawned = std::thread::Builder::new()
                    .name("srt-join-keyframe".into())
                    .spawn(move || {
                        std::thread::sleep(delay);
                        lock(&later).fired(Instant::now());
                        send(&video);
                    });
                if spawned.is_err() {
                    lock(&limiter).fired(Instant::now());
                }
            }
            KeyframeAction::Coalesced => {}
        }
        None
    });
}

fn srt_counts(stats: &gst::StructureRef) -> (u64, u64) {
    let mut all = vec![stats.to_owned()];
    if let Ok(callers) = stats.get::<gst::glib::ValueArray>("callers") {
        all.extend(
            callers
                .iter()
                .filter_map(|c| c.get::<gst::Structure>().ok()),
        );
    }
    sum_counts(all.iter().map(|s| s.as_ref()))
}

/// Packets sent and lost, summed over socket statistics structures.
fn sum_counts<'a>(stats: impl Iterator<Item = &'a gst::StructureRef>) -> (u64, u64) {
    let int = |s: &gst::StructureRef, name: &str| -> u64 {
        s.get::<i64>(name)
            .map(|v| v.max(0) as u64)
            .or_else(|_| s.get::<i32>(name).map(|v| v.max(0) as u64))
            .unwrap_or(0)
    };
    stats.fold((0, 0), |(sent, lost), s| {
        (
            sent + int(s, "packets-sent"),
            lost + int(s, "packets-sent-lost"),
        )
    })
}

/// `lost / sent`, within [0, 1].
pub fn ratio(sent: u64, lost: u64) -> f64 {
    if sent == 0 {
        0.0
    } else {
        (lost as f64 / sent as f64).clamp(0.0, 1.0)
    }
}

/// libsrt's default latency, used when the URL sets none.
const DEFAULT_LATENCY_MS: u32 = 120;
const MAX_LINGER: Duration = Duration::from_secs(2);
/// What the caller buffers while it connects.
const CONNECT_BUFFER: Duration = Duration::from_secs(1);

/// In live mode libsrt drops what is still in its send buffer when the socket closes (SRTO_LINGER is
/// 0), and srtsink closes as soon as the pipeline stops after EOS: the last frames were lost (3 of
/// 300 in our round-trip test). Hold EOS at the sink long enough for the tail to be sent and, if
/// needed, retransmitted: twice the latency plus 200 ms, at most 2 s.
fn linger_on_eos(sink: &gst::Element, latency_ms: u32) {
    let linger = Duration::from_millis(2 * latency_ms as u64 + 200).min(MAX_LINGER);
    if let Some(pad) = sink.static_pad("sink") {
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(e)) = &info.data {
                if e.type_() == gst::EventType::Eos {
                    std::thread::sleep(linger);
                }
            }
            gst::PadProbeReturn::Ok
        });
    }
}

impl Srt {
    fn build_inner(&self, with_audio: bool, name: &str) -> Result<Inner, TransportError> {
        let target = &self.target;
        let bin = gst::Bin::with_name(name);
        let mux = make("mpegtsmux", "mpegtsmux", "mode=srt (MPEG-TS muxing)")?;
        // Seven TS packets per buffer: one SRT/UDP payload of 1316 bytes.
        mux.set_property("alignment", 7i32);
        if self.mux_rate > 0 && mux.find_property("bitrate").is_some() {
            mux.set_property("bitrate", self.mux_rate);
        }
        let sink = make("srtsink", "srtsink", "mode=srt (SRT transport)")?;
        sink.set_property("uri", target.sink_uri());
        set_enum(&sink, "mode", target.mode.nick())?;
        if target.mode == SrtMode::Listener {
            // Never block the pipeline while no caller is connected: drop instead.
            sink.set_property("wait-for-connection", false);
        } else {
            // nvencstreamsink reconnects by itself (reconnect-attempts): srtsink's own reconnection would
            // block the pipeline while the listener is away.
            if sink.find_property("auto-reconnect").is_some() {
                sink.set_property("auto-reconnect", false);
            }
            sink.set_property("async", false);
        }
        if let Some(l) = target.latency {
            sink.set_property("latency", l.min(i32::MAX as u32) as i32);
        }
        if let Some(p) = &target.passphrase {
            sink.set_property("passphrase", p);
        }
        if let Some(k) = target.pbkeylen {
            set_enum(&sink, "pbkeylen", &k.to_string())?;
        }
        if let Some(id) = &target.streamid {
            sink.set_property("streamid", id);
        }
        if let Some(a) = &target.localaddress {
            sink.set_property("localaddress", a);
        }
        if let Some(p) = target.localport {
            sink.set_property("localport", p as u32);
        }
        if let Some(t) = target.poll_timeout {
            sink.set_property("poll-timeout", t);
        }
        linger_on_eos(&sink, target.latency.unwrap_or(DEFAULT_LATENCY_MS));
        let mut chain = vec![mux.clone()];
        let buffer = if target.mode == SrtMode::Listener {
            None
        } else {
            // srtsink waits for the handshake before it writes: a small buffer that drops the oldest data
            // keeps the pipeline going meanwhile (the link resumes at a keyframe once connected).
            let queue = make("queue", "srt-buffer", "mode=srt")?;
            queue.set_property("max-size-time", CONNECT_BUFFER.as_nanos() as u64);
            queue.set_property("max-size-buffers", 0u32);
            queue.set_property("max-size-bytes", 0u32);
            set_enum(&queue, "leaky", "downstream")?;
            chain.push(queue.clone());
            Some(queue)
        };
        chain.push(sink.clone());
        bin.add_many(&chain)
            .map_err(|e| TransportError::Link(e.to_string()))?;
        link_chain(&chain.iter().collect::<Vec<_>>())?;
        ghost_mux_pad(&bin, &mux, "sink_%d", "video")?;
        if with_audio {
            ghost_mux_pad(&bin, &mux, "sink_%d", "audio")?;
        }
        Ok(Inner {
            connected: None,
            failure: None,
            bin,
            network_sink: sink,
            buffer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_and_listener_statistics_are_summed() {
        gst::init().expect("gst");
        let caller = gst::Structure::builder("application/x-srt-statistics")
            .field("packets-sent", 200i64)
            .field("packets-sent-lost", 3i32)
            .build();
        assert_eq!(srt_counts(&caller), (200, 3));
        let one = gst::Structure::builder("s")
            .field("packets-sent", 100i64)
            .field("packets-sent-lost", 1i32)
            .build();
        let empty = gst::Structure::new_empty("application/x-srt-statistics");
        assert_eq!(srt_counts(&empty), (0, 0));
        assert_eq!(sum_counts([&*one, &*one, &*empty].into_iter()), (200, 2));
        assert_eq!(ratio(200, 2), 0.01);
        assert_eq!(ratio(0, 5), 0.0);
    }

    #[test]
    fn passphrase_and_stream_id_are_secrets() {
        let s = Srt {
            target: SrtTarget::parse(
                "srt://h:9000?passphrase=0123456789ab&streamid=publish:cam:alice:PASSWORD",
            )
            .unwrap(),
            codec: Codec::H264,
            ts_av1: false,
            mux_rate: 0,
        };
        assert_eq!(
            s.secrets(),
            vec!["0123456789ab", "publish:cam:alice:PASSWORD"]
        );
        let shown = s.shown();
        assert!(
            !shown.contains("PASSWORD") && !shown.contains("0123456789ab"),
            "{shown}"
        );
        assert!(s.is_final("Incorrect passphrase") && !s.is_final("Connection refused"));
    }
}
