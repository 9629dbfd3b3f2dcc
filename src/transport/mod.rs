//! The network end of `nvencstreamsink`. One module per transport, each the one home of everything
//! about it behind [`Destination`]: its URL (parsed, checked, redacted), what it can carry, the sub-bin
//! it builds, how it tells connected, how its failures read and which are final, its statistics.
//! [`KINDS`] lists the transports; adding one is one module and one line there (the model is
//! `src/encoder/`, one table per encoder family).
//!
//! | kind | schemes | module |
//! |---|---|---|
//! | RTMP | `rtmp://` `rtmps://` | [`rtmp`] |
//! | SRT | `srt://` | [`srt`] |
//! | RTSP server | `rtsp://` | [`rtsp`] |
//! | WebRTC | `ws://` `wss://` | [`webrtc`] |
//! | WHIP | `http://` `https://` | [`webrtc`] |
//!
//! A built destination is a sub-bin with `video` and (optional) `audio` sink pads taking parsed,
//! encoded streams, or, for a restartable one, what builds such a bin for each connection attempt
//! ([`restart`]). The transports know neither the element nor the destination layer above them
//! (`crate::destination`: links, gates, meters, reconnection), which runs what they build.

use gst::glib;
use gst::prelude::*;
use std::sync::Arc;

use crate::encoder::{AudioCodec, Codec, EncoderSettings};

mod error;
pub mod restart;
pub mod rtmp;
pub mod rtsp;
pub mod srt;
pub mod url;
pub mod webrtc;

pub use error::{DestinationError, TransportError};

/// How the stream leaves the machine (TouchDesigner: *Mode*).
#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "TdStreamMode")]
pub enum Mode {
    #[enum_value(
        name = "RTSP server at rtsp://host:port/<stream-name>; streams on one port share one server",
        nick = "rtsp-server"
    )]
    RtspServer = 0,
    #[enum_value(
        name = "RTMP sender to url = {service url}/{stream key} (FLV)",
        nick = "rtmp"
    )]
    Rtmp = 1,
    #[enum_value(
        name = "SRT caller, listener or rendezvous per url = srt://host:port?mode=... (MPEG-TS)",
        nick = "srt"
    )]
    Srt = 2,
    #[enum_value(
        name = "WebRTC: webrtcsink, registered with the gst-plugins-rs signalling server at url (ws:// or wss://); every viewer that asks gets the stream",
        nick = "webrtc"
    )]
    Webrtc = 3,
    #[enum_value(
        name = "WHIP: whipclientsink, publishing to the WHIP endpoint at url (http:// or https://), bearer-token if set",
        nick = "whip"
    )]
    Whip = 4,
}

impl Mode {
    pub fn nick(self) -> &'static str {
        match self {
            Mode::RtspServer => "rtsp-server",
            Mode::Rtmp => "rtmp",
            Mode::Srt => "srt",
            Mode::Webrtc => "webrtc",
            Mode::Whip => "whip",
        }
    }
}

/// One transport: its name, the `mode` that selects it, the URL schemes it takes and its parser.
pub struct Kind {
    /// The transport's name in messages and statistics: `rtmp`, `srt`, `rtsp`, `webrtc`, `whip`.
    pub name: &'static str,
    /// The `mode` of the one-destination form (`mode` + `url`).
    pub mode: Mode,
    /// URL schemes, lower case, without `://`.
    pub schemes: &'static [&'static str],
    /// Parses and checks a URL of this transport; element-wide properties fill in what the URL does
    /// not say.
    pub parse: Parser,
}

/// A transport's URL parser: the URL and the element's context in, the resolved destination out.
pub type Parser = fn(&str, &Context) -> Result<Arc<dyn Destination>, DestinationError>;

/// Every transport. The order is the order of the documentation.
pub static KINDS: [&Kind; 5] = [
    &rtmp::KIND,
    &srt::KIND,
    &rtsp::KIND,
    &webrtc::WEBRTC,
    &webrtc::WHIP,
];

/// The transport of `mode=...`.
pub fn for_mode(mode: Mode) -> &'static Kind {
    KINDS
        .iter()
        .copied()
        .find(|k| k.mode == mode)
        .unwrap_or(&rtmp::KIND)
}

/// The transport whose scheme starts `url`, if any (`scheme://`, or nanocosmos' `rtmp:host/app+name`).
pub fn for_url(url: &str) -> Option<&'static Kind> {
    let url = url.trim();
    let scheme = match url.split_once("://") {
        Some((s, _)) => s,
        None => url
            .split_once(':')
            .map(|(s, _)| s)
            .filter(|s| s.eq_ignore_ascii_case("rtmp") || s.eq_ignore_ascii_case("rtmps"))?,
    }
    .to_ascii_lowercase();
    KINDS
        .iter()
        .copied()
        .find(|k| k.schemes.contains(&scheme.as_str()))
}

/// What a transport's parser may read besides the URL: the codec of the encode, each transport's
/// options (the element's properties that the URL does not set: credentials, ICE servers, buffer
/// sizes) and what the installed GStreamer can do.
#[derive(Debug, Clone)]
pub struct Context {
    pub codec: Codec,
    pub caps: Capabilities,
    pub rtmp: rtmp::Options,
    pub srt: srt::Options,
    pub webrtc: webrtc::Options,
}

/// What the installed GStreamer can do, as far as the transports need to know.
#[derive(Debug, Clone, Copy, Default)]
pub struct Capabilities {
    /// `eflvmux` exists and takes H.265 (GStreamer 1.28+).
    pub eflv_h265: bool,
    /// `eflvmux` takes AV1 (GStreamer 1.30+).
    pub eflv_av1: bool,
    /// `mpegtsmux` has the AV1 mapping (`enable-custom-mappings`, GStreamer 1.26+).
    pub ts_av1: bool,
    /// An AV1 RTP payloader (`rtpav1pay`) is installed.
    pub rtp_av1: bool,
}

/// What the one encode carries, as a destination checks it. A check may settle the audio codec (WebRTC
/// takes Opus only) and add warnings.
#[derive(Debug, Clone)]
pub struct Media {
    pub encoder: EncoderSettings,
    pub audio_codec: AudioCodec,
    /// Whether `audio-codec` was set explicitly (else a destination may choose).
    pub audio_codec_set: bool,
    pub warnings: Vec<String>,
}

/// What a network sink counts itself, since it started (summed over an SRT listener's callers).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NetCounters {
    /// Bytes of the stream put on the network, retransmissions not counted.
    pub sent_bytes: u64,
    /// Bytes dropped before they were sent: too late to be played (SRT's too-late packet drop, what a
    /// link too slow for the bitrate causes).
    pub dropped_bytes: u64,
    /// Packets sent, retransmissions included.
    pub sent_packets: u64,
    /// Packets the receiver reported lost (most are then sent again).
    pub lost_packets: u64,
    pub retransmitted_packets: u64,
    /// Round-trip time (ms), where known (the largest of several callers').
    pub rtt_ms: Option<f64>,
    /// The transport's estimate of the link's capacity (bit/s; the smallest of several callers').
    pub bandwidth_bps: Option<u64>,
}

/// A destination: one parsed URL of one transport.
pub trait Destination: std::fmt::Debug + Send + Sync {
    fn kind(&self) -> &'static Kind;

    /// The URL with every secret replaced, safe to log and show.
    fn shown(&self) -> String;

    /// Every secret of this destination (keys, passwords, passphrases, stream ids, tokens), for the
    /// redactor that cleans every text the element prints.
    fn secrets(&self) -> Vec<String>;

    /// Whether the encode can go there: codecs, profile, B-frames, audio codec. An error names the
    /// setting and the fix.
    fn check(&self, media: &mut Media) -> Result<(), DestinationError>;

    /// `include-silent-audio=automatic`: whether this destination gets a silent track when no audio
    /// pad is linked (RTMP: services expect audio).
    fn silent_audio_by_default(&self) -> bool {
        false
    }

    /// The transport encodes by itself, per viewer: the bin hands it raw video.
    fn encodes_per_viewer(&self) -> bool {
        false
    }

    /// The audio encoder must write perfect timestamps (browsers' Opus decoders over WebRTC).
    fn audio_perfect_timestamps(&self) -> bool {
        false
    }

    /// Builds the sub-bin (not yet added anywhere) for the encode `encoder` describes.
    fn build(&self, encoder: &EncoderSettings, with_audio: bool) -> Result<Built, TransportError>;

    /// Hints for a failure, chosen from its text (plus the sink's debug text), naming what to fix.
    fn hints(&self, detail: &str) -> Vec<String> {
        network_hint(detail).into_iter().map(String::from).collect()
    }

    /// `text` followed by the [`Destination::hints`] for `detail`, each as a sentence of its own. Not
    /// redacted.
    fn with_hints(&self, text: &str, detail: &str) -> String {
        let mut out = text.to_string();
        for hint in self.hints(detail) {
            out = format!("{}. {hint}", out.trim_end_matches('.'));
        }
        out
    }

    /// Connects (and where the protocol has it, authenticates) without streaming, for the element's
    /// `test-connection` signal: None where the transport has no such test, else Ok or the failure as
    /// the sink says it (hints and redaction are the caller's).
    fn connection_test(&self, timeout: std::time::Duration) -> Option<Result<(), String>> {
        let _ = timeout;
        None
    }

    /// Whether another attempt cannot fix this failure (refused credentials, wrong passphrase): it is
    /// final at once instead of being retried.
    fn is_final(&self, reason: &str) -> bool {
        let _ = reason;
        false
    }

    /// What the network sink counts itself (SRT, RTMP), for the statistics and the congestion
    /// verdicts; None where it counts nothing useful.
    fn network(&self, sink: &gst::Element) -> Option<NetCounters> {
        let _ = sink;
        None
    }

    /// Share of packets lost on the way out, as the network sink counts them since the start, for a
    /// transport without [`Destination::network`] counters (0 where it does not count).
    fn packet_loss_ratio(&self, sink: &gst::Element) -> f64 {
        let _ = sink;
        0.0
    }

    /// Clients connected to the network sink (RTSP server), 0 where the idea does not apply.
    fn clients(&self, sink: &gst::Element) -> u32 {
        let _ = sink;
        0
    }

    /// The URL a receiver opens (`stream-url`): the destination, redacted, unless the network sink
    /// knows better (the RTSP server's own URL).
    fn stream_url(&self, sink: Option<&gst::Element>) -> String {
        let _ = sink;
        self.shown()
    }

    /// What it means that the sink ended its stream by itself (EOS while the stream goes on).
    fn ended_by_itself(&self) -> String {
        "the session ended by itself".to_string()
    }

    /// Errors from the link once the stream has ended or the element goes down are the sink closing
    /// its own connection, not news (webrtcsink's signaller).
    fn closing_errors_are_noise(&self) -> bool {
        false
    }
}

/// A built destination: what the destination layer adds to the element and follows.
pub struct Built {
    /// The caps the video must have when it enters the bin's `video` pad.
    pub video_caps: gst::Caps,
    pub form: Form,
}

/// How a built destination lives.
pub enum Form {
    /// Built once for the whole run: the sub-bin (with `video` and optional `audio` sink pads) and the
    /// element that talks to the network.
    Once {
        bin: gst::Bin,
        network_sink: gst::Element,
        connected: Connected,
    },
    /// Built again at each (re)connection, behind the destination layer's link (RTMP, SRT caller and
    /// rendezvous, WebRTC, WHIP).
    Restartable(restart::Restartable),
}

/// How a destination built once tells that it is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connected {
    /// While at least one caller is (SRT listener: srtsink's caller-added/-removed).
    Callers,
    /// Once data reaches the network sink (RTSP server: the mount is up).
    FirstData,
}

impl Built {
    /// The built form of a restartable destination.
    pub(crate) fn restartable(
        name: &'static str,
        with_audio: bool,
        probe: Box<dyn restart::Probe>,
        build: restart::Builder,
        video_caps: gst::Caps,
    ) -> Built {
        Built {
            video_caps,
            form: Form::Restartable(restart::Restartable {
                name,
                with_audio,
                probe,
                build,
            }),
        }
    }
}

pub(crate) use crate::plugins::make;

/// Adds a ghost pad `name` on `bin` for the request pad of `mux` that takes `caps`.
pub(crate) fn ghost_mux_pad(
    bin: &gst::Bin,
    mux: &gst::Element,
    template: &str,
    name: &str,
) -> Result<(), TransportError> {
    let pad = mux
        .request_pad_simple(template)
        .ok_or_else(|| TransportError::Link(format!("{} gave no '{template}' pad", mux.name())))?;
    let ghost = gst::GhostPad::builder_with_target(&pad)
        .map_err(|e| TransportError::Link(e.to_string()))?
        .name(name)
        .build();
    bin.add_pad(&ghost)
        .map_err(|e| TransportError::Link(e.to_string()))
}

/// Encoded-video caps for a muxer: `stream_format` is `avc`/`hvc1` for FLV, `byte-stream` for TS.
pub(crate) fn video_caps(codec: Codec, stream_format: Option<&str>) -> gst::Caps {
    let mut b = gst::Caps::builder(codec.media_type());
    if let Some(f) = stream_format {
        b = b.field("stream-format", f);
    }
    if codec != Codec::Av1 {
        b = b.field("alignment", "au");
    }
    b.build()
}

/// Whether what feeds `pad` is live: the latency query upstream of it says so.
pub(crate) fn upstream_is_live(pad: &gst::Pad) -> bool {
    let mut query = gst::query::Latency::new();
    pad.peer_query(&mut query) && query.result().0
}

/// A `sync=true` sink (srtsink, rtmp2sink, webrtcsink's `appsink`s) holds each buffer until its running
/// time plus the pipeline's latency. The pipeline distributes that latency on its way to PLAYING (and
/// again on LATENCY messages, in gst-launch-1.0 and any application that handles them): the live
/// source's frame and the encoder's (~53 ms at 30 fps). Behind a live source the wait then delays every
/// picture by more than a frame and paces nothing (the source and the encoder already run at the frame
/// rate; the receiver's buffer paces by timestamps): with a live source, `no_wait` is called at the
/// first buffer into `element` (on its streaming thread, before that buffer is taken) to turn it off.
/// Behind a non-live source (a file) the wait is what keeps the stream at real time, and stays.
/// docs/FINDINGS.md has the measurements.
pub(crate) fn send_on_arrival_when_live(
    element: &gst::Element,
    no_wait: impl Fn(&gst::Element) + Send + Sync + Clone + 'static,
) {
    for pad in element.sink_pads() {
        let element = element.downgrade();
        let no_wait = no_wait.clone();
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |pad, _| {
                if let Some(element) = element.upgrade() {
                    if upstream_is_live(pad) {
                        no_wait(&element);
                    }
                }
                gst::PadProbeReturn::Remove
            },
        );
    }
}

/// [`send_on_arrival_when_live`] for a sink that is itself the `sync=true` element (srtsink, rtmp2sink).
pub(crate) fn sink_sends_on_arrival_when_live(sink: &gst::Element) {
    send_on_arrival_when_live(sink, |sink| sink.set_property("sync", false));
}

/// Sets an enum property by nick, without the panic of `set_property_from_str` on a bad nick.
pub(crate) fn set_enum(
    element: &gst::Element,
    name: &str,
    nick: &str,
) -> Result<(), TransportError> {
    crate::plugins::set_enum(element, name, nick).map_err(TransportError::Link)
}

/// Links a chain of elements already in one bin.
pub(crate) fn link_chain(elements: &[&gst::Element]) -> Result<(), TransportError> {
    gst::Element::link_many(elements.iter().copied())
        .map_err(|e| TransportError::Link(e.to_string()))
}

/// The hint every network transport shares: the peer is not there, or it hung up.
pub fn network_hint(error_text: &str) -> Option<&'static str> {
    let t = error_text.to_ascii_lowercase();
    let hint = if t.contains("refused")
        || t.contains("does not exist")
        || t.contains("could not resolve")
        || t.contains("timed out")
        || t.contains("timeout")
        || t.contains("unreachable")
    {
        "Fix: check that the server or listener at url is running and reachable"
    } else if t.contains("closed") || t.contains("reset") || t.contains("broken pipe") {
        "The peer closed the connection (set reconnect-attempts to keep trying)"
    } else {
        return None;
    };
    Some(hint)
}

/// Whether `text` contains any of `words` (case-insensitive): the transports' final-failure lists.
pub(crate) fn mentions(text: &str, words: &[&str]) -> bool {
    let t = text.to_ascii_lowercase();
    words.iter().any(|w| t.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme_picks_one_transport() {
        let names: Vec<_> = [
            "rtmp://h/a/k",
            "RTMPS://h/a/k",
            "srt://h:1",
            "rtsp://:8554/x",
            "ws://h:1",
            "wss://h",
            "http://h/whip",
            "https://h/whip",
        ]
        .iter()
        .map(|u| for_url(u).map(|k| k.name))
        .collect();
        assert_eq!(
            names,
            [
                Some("rtmp"),
                Some("rtmp"),
                Some("srt"),
                Some("rtsp"),
                Some("webrtc"),
                Some("webrtc"),
                Some("whip"),
                Some("whip")
            ]
        );
        assert!(for_url("ftp://h").is_none() && for_url("srt:h:1").is_none());
        assert_eq!(
            for_url("rtmp:127.0.0.1/live+cam").map(|k| k.name),
            Some("rtmp")
        );
        for k in KINDS {
            assert_eq!(for_mode(k.mode).name, k.name);
        }
    }

    #[test]
    fn network_hints() {
        assert!(network_hint("Connection refused").is_some_and(|h| h.contains("reachable")));
        assert!(network_hint("connection reset by peer").is_some_and(|h| h.contains("closed")));
        assert!(network_hint("Internal data stream error").is_none());
    }
}
