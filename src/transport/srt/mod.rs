//! SRT: `mpegtsmux ! srtsink` with every option of the URL query on the sink; the TS packets go out
//! in SRT payloads as soon as the muxer writes them (`payloads.rs`). A caller or rendezvous peer is a
//! restartable link; a listener stays open for the whole run and takes callers as they come, each of
//! which gets a keyframe at once.

use gst::glib;
use gst::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::restart::{Inner, Probe};
use super::{
    ghost_mux_pad, link_chain, make, mentions, network_hint, set_enum, video_caps, Built,
    Connected, Context, Destination, DestinationError, Form, Kind, Media, Mode, NetCounters,
    TransportError,
};
use crate::encoder::{Codec, EncoderSettings};
use tdstream_common::rtsp::{KeyframeAction, KeyframeLimiter};
use tdstream_common::sync::lock;

mod payloads;
pub mod url;

pub use url::{SrtMode, SrtTarget};

/// The element's properties an SRT destination reads.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `mux-rate` in bit/s: mpegtsmux's constant bitrate with null packets; 0 = variable.
    pub mux_rate_bps: u64,
}

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

fn parse(url: &str, ctx: &Context) -> Result<Arc<dyn Destination>, DestinationError> {
    Ok(Arc::new(Srt {
        target: SrtTarget::parse(url)?,
        codec: ctx.codec,
        ts_av1: ctx.caps.ts_av1,
        mux_rate: ctx.srt.mux_rate_bps,
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

    fn check(&self, media: &mut Media) -> Result<(), DestinationError> {
        if media.encoder.codec == Codec::Av1 && !self.ts_av1 {
            return Err(DestinationError::CodecOnProtocol {
                codec: "av1",
                mode: "srt",
                why: "AV1 in MPEG-TS needs mpegtsmux with enable-custom-mappings (GStreamer 1.26 or newer)",
                fix: "set video-codec=h264 or video-codec=h265, or upgrade to GStreamer 1.26+",
            });
        }
        Ok(())
    }

    fn build(&self, _: &EncoderSettings, with_audio: bool) -> Result<Built, TransportError> {
        let video_caps = video_caps(self.codec, Some("byte-stream"));
        if self.target.mode == SrtMode::Listener {
            // The listener stays open for the whole run; srtsink takes callers as they come and go.
            let inner = self.build_inner(with_audio, "srt-transport")?;
            keyframe_for_each_caller(&inner.bin, &inner.network_sink);
            return Ok(Built {
                video_caps,
                form: Form::Once {
                    bin: inner.bin,
                    network_sink: inner.network_sink,
                    connected: Connected::Callers,
                },
            });
        }
        let me = self.clone();
        Ok(Built::restartable(
            "srt-transport",
            with_audio,
            Box::new(SrtProbe),
            Box::new(move || me.build_inner(with_audio, "srt-connection")),
            video_caps,
        ))
    }

    fn hints(&self, detail: &str) -> Vec<String> {
        if mentions(detail, FINAL) {
            return vec![
                "Fix: use the peer's SRT passphrase (passphrase=... in url, same pbkeylen on both sides)"
                    .into(),
            ];
        }
        if let Some(hint) = bind_hint(detail) {
            return vec![hint];
        }
        network_hint(detail).into_iter().map(String::from).collect()
    }

    fn is_final(&self, reason: &str) -> bool {
        mentions(reason, FINAL)
    }

    /// srtsink's `stats`: for a listener, each caller's, summed.
    fn network(&self, sink: &gst::Element) -> Option<NetCounters> {
        sink.find_property("stats")?;
        let stats = sink.property::<Option<gst::Structure>>("stats")?;
        Some(srt_counters(&stats))
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

/// The counters of one socket's statistics (a caller's, or a listener's callers' summed).
fn srt_counters(stats: &gst::StructureRef) -> NetCounters {
    let mut all = vec![stats.to_owned()];
    if let Ok(callers) = stats.get::<gst::glib::ValueArray>("callers") {
        all.extend(
            callers
                .iter()
                .filter_map(|c| c.get::<gst::Structure>().ok()),
        );
    }
    sum_sockets(all.iter().map(|s| s.as_ref()))
}

/// Socket statistics summed; the slowest socket's round trip and bandwidth.
fn sum_sockets<'a>(stats: impl Iterator<Item = &'a gst::StructureRef>) -> NetCounters {
    stats
        .map(socket_counters)
        .fold(NetCounters::default(), |sum, c| NetCounters {
            sent_bytes: sum.sent_bytes + c.sent_bytes,
            dropped_bytes: sum.dropped_bytes + c.dropped_bytes,
            sent_packets: sum.sent_packets + c.sent_packets,
            lost_packets: sum.lost_packets + c.lost_packets,
            retransmitted_packets: sum.retransmitted_packets + c.retransmitted_packets,
            rtt_ms: match (sum.rtt_ms, c.rtt_ms) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            bandwidth_bps: match (sum.bandwidth_bps, c.bandwidth_bps) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        })
}

fn socket_counters(s: &gst::StructureRef) -> NetCounters {
    let int = |name: &str| -> u64 {
        s.get::<i64>(name)
            .map(|v| v.max(0) as u64)
            .or_else(|_| s.get::<u64>(name))
            .or_else(|_| s.get::<i32>(name).map(|v| v.max(0) as u64))
            .or_else(|_| s.get::<u32>(name).map(u64::from))
            .unwrap_or(0)
    };
    // Only a connected socket's statistics have these; the listener's own structure does not.
    let connected = s.has_field("packets-sent");
    let real = |name: &str| s.get::<f64>(name).ok().filter(|_| connected);
    NetCounters {
        sent_bytes: int("bytes-sent").saturating_sub(int("bytes-retransmitted")),
        dropped_bytes: int("bytes-sent-dropped"),
        sent_packets: int("packets-sent"),
        lost_packets: int("packets-sent-lost"),
        retransmitted_packets: int("packets-retransmitted"),
        rtt_ms: real("rtt-ms"),
        bandwidth_bps: real("bandwidth-mbps")
            .filter(|b| *b > 0.0)
            .map(|b| (b * 1e6) as u64),
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

/// Groups what `mpegtsmux alignment=0` pushes (one packet per buffer) into SRT payloads, the end of
/// each picture included, so that nothing waits for the next input.
fn send_whole_pictures(mux: &gst::Element) {
    if let Some(pad) = mux.static_pad("src") {
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            |_, info| {
                let regrouped = match &info.data {
                    Some(gst::PadProbeData::BufferList(list)) => payloads::regroup(list),
                    Some(gst::PadProbeData::Buffer(b)) if b.size() > payloads::PAYLOAD => {
                        let mut list = gst::BufferList::new();
                        list.make_mut().add(b.clone());
                        payloads::regroup(&list)
                    }
                    _ => return gst::PadProbeReturn::Ok,
                };
                info.data = Some(gst::PadProbeData::BufferList(regrouped));
                gst::PadProbeReturn::Ok
            },
        );
    }
}

impl Srt {
    fn build_inner(&self, with_audio: bool, name: &str) -> Result<Inner, TransportError> {
        let target = &self.target;
        let bin = gst::Bin::with_name(name);
        let mux = make("mpegtsmux", "mpegtsmux", "mode=srt (MPEG-TS muxing)")?;
        // Every packet of an input at once, grouped into SRT payloads here: alignment=7 would hold the
        // end of each picture back until the next one (see payloads.rs).
        mux.set_property("alignment", 0i32);
        send_whole_pictures(&mux);
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
        super::sink_sends_on_arrival_when_live(&sink);
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

/// srtsink's own words when its socket cannot be bound (1.22: "Failed to open SRT: Cannot bind to
/// 127.0.0.1:5000 - Connection setup failure: unable to create/configure SRT socket", in the debug
/// text only; the error itself says "Could not open resource for writing."): the address and the fix.
fn bind_hint(detail: &str) -> Option<String> {
    const SAID: &str = "cannot bind to ";
    let at = detail.to_ascii_lowercase().find(SAID)? + SAID.len();
    let address = detail.get(at..)?.split_whitespace().next()?;
    Some(format!(
        "{address} is taken by another program (or is not an address of this machine). Fix: use \
         another port in url, or stop the program that holds it"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_that_cannot_be_bound_is_named_with_the_fix() {
        let debug = "Could not open resource for writing. ../ext/srt/gstsrtsink.c(160): \
                     gst_srt_sink_start (): /GstPipeline:p/srtsink: Failed to open SRT: Cannot bind \
                     to 127.0.0.1:41375 - Connection setup failure: unable to create/configure SRT socket";
        let hint = bind_hint(debug).expect("a hint");
        assert!(
            hint.starts_with("127.0.0.1:41375 is taken by another program")
                && hint.contains("Fix: use another port in url"),
            "{hint}"
        );
        assert_eq!(bind_hint("Could not open resource for writing."), None);
        assert_eq!(bind_hint("Cannot bind to "), None);
    }

    #[test]
    fn caller_and_listener_statistics_are_summed() {
        gst::init().expect("gst");
        // Field types as srtsink 1.22 writes them.
        let caller = |sent: i64, lost: i32, rtt: f64, bw: f64| {
            gst::Structure::builder("application/x-srt-statistics")
                .field("packets-sent", sent)
                .field("packets-sent-lost", lost)
                .field("packets-retransmitted", 2i32)
                .field("bytes-sent", 1_000_000u64)
                .field("bytes-retransmitted", 100_000u64)
                .field("bytes-sent-dropped", 50_000u64)
                .field("rtt-ms", rtt)
                .field("bandwidth-mbps", bw)
                .build()
        };
        let one = srt_counters(&caller(200, 3, 20.0, 9.5));
        assert_eq!(
            one,
            NetCounters {
                sent_bytes: 900_000,
                dropped_bytes: 50_000,
                sent_packets: 200,
                lost_packets: 3,
                retransmitted_packets: 2,
                rtt_ms: Some(20.0),
                bandwidth_bps: Some(9_500_000),
            }
        );
        // A listener's own structure (no socket figures) and its callers'.
        let listener = gst::Structure::builder("application/x-srt-statistics")
            .field("bytes-sent-total", 5u64)
            .field("rtt-ms", 100.0)
            .build();
        let (a, b) = (caller(100, 1, 30.0, 2.0), caller(50, 0, 10.0, 8.0));
        let sum = sum_sockets([listener.as_ref(), a.as_ref(), b.as_ref()].into_iter());
        assert_eq!(sum.sent_packets, 150);
        assert_eq!(sum.lost_packets, 1);
        assert_eq!(sum.sent_bytes, 1_800_000);
        assert_eq!(sum.dropped_bytes, 100_000);
        // The slowest caller's figures; the listener's own placeholder rtt does not count.
        assert_eq!(sum.rtt_ms, Some(30.0));
        assert_eq!(sum.bandwidth_bps, Some(2_000_000));
        let empty = gst::Structure::new_empty("application/x-srt-statistics");
        assert_eq!(srt_counters(&empty), NetCounters::default());
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
