//! RTMP: `flvmux streamable=true ! queue (rtmp-buffer-size) ! [timecode] ! rtmp2sink`, in a restartable link. H.265 and
//! AV1 (and H.264 with `rtmp-enhanced=true`) use Enhanced RTMP: `eflvmux` where GStreamer has it for the
//! codec (1.28+), else this plugin's `tdeflvmux`.

use gst::prelude::*;
use std::sync::Arc;
use std::time::Duration;

use super::restart::{Inner, Probe};
use super::{
    ghost_mux_pad, link_chain, make, mentions, network_hint, video_caps, Built, Capabilities,
    Context, Destination, DestinationError, Kind, Media, Mode, NetCounters, TransportError,
};
use crate::encoder::{AudioCodec, Codec, EncoderSettings};

pub mod nodelay;
pub mod timecode;
pub mod url;

pub use url::RtmpTarget;

/// `GST_DEBUG=tdstream-rtmp:6`: RTMP destinations' connections.
pub(crate) static CAT: std::sync::LazyLock<gst::DebugCategory> = std::sync::LazyLock::new(|| {
    gst::DebugCategory::new(
        "tdstream-rtmp",
        gst::DebugColorFlags::empty(),
        Some("tdstream RTMP destinations"),
    )
});

/// The element's properties an RTMP destination reads (the URL's own settings win where both say).
#[derive(Debug, Clone)]
pub struct Options {
    /// `rtmp-enhanced`: H.264 in Enhanced RTMP too.
    pub enhanced: bool,
    /// `rtmp-buffer-size` (seconds; 0 = automatic).
    pub buffer_size_s: f64,
    /// `rtmp-username` / `rtmp-password`: win over the URL's `user:pass@`.
    pub username: Option<String>,
    pub password: Option<String>,
    /// `tls-validation-flags`: what an rtmps:// server's certificate is checked for.
    pub tls_validation: gio::TlsCertificateFlags,
    /// `rtmp-tcp-nodelay`.
    pub tcp_nodelay: bool,
    /// `rtmp-timecode-interval`.
    pub timecode_interval: u32,
}

pub static KIND: Kind = Kind {
    name: "rtmp",
    mode: Mode::Rtmp,
    schemes: &["rtmp", "rtmps"],
    parse,
};

/// The queue in front of rtmp2sink when `rtmp-buffer-size` is 0 (automatic).
const DEFAULT_BUFFER_S: f64 = 2.0;
/// The RTMP chunk size nvencstreamsink publishes with (rtmp2sink's `chunk-size`; the protocol's default
/// is 128).
const RTMP_CHUNK_SIZE: u32 = 4096;

/// A TLS certificate the system does not trust: another attempt cannot fix it either.
const CERTIFICATE: &[&str] = &["certificate"];

/// Failures another attempt cannot fix: the server refused the stream key or the credentials.
const FINAL: &[&str] = &[
    "publish",
    "denied",
    "unauthorized",
    "forbidden",
    "badname",
    "rejected",
    "403",
];

/// The FLV muxer of an RTMP destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlvMuxer {
    /// `flvmux`: H.264 in legacy FLV.
    Legacy,
    /// The installed `eflvmux` (GStreamer 1.28+), for a codec it takes.
    Eflvmux,
    /// `tdeflvmux`, this plugin's enhanced-FLV muxer.
    Tdeflvmux,
}

impl FlvMuxer {
    pub fn factory(self) -> &'static str {
        match self {
            FlvMuxer::Legacy => "flvmux",
            FlvMuxer::Eflvmux => "eflvmux",
            FlvMuxer::Tdeflvmux => "tdeflvmux",
        }
    }
}

/// An RTMP destination, resolved: the URL, the muxer for the codec, the credentials to use.
#[derive(Debug, Clone)]
pub struct Rtmp {
    pub target: RtmpTarget,
    pub flv: FlvMuxer,
    codec: Codec,
    /// Nanoseconds of muxed stream the queue in front of rtmp2sink may hold.
    buffer_ns: u64,
    /// Credentials given as properties win over the URL's `user:pass@`.
    username: Option<String>,
    password: Option<String>,
    /// rtmps://: what the certificate is checked for.
    tls_validation: gio::TlsCertificateFlags,
    /// `rtmp-tcp-nodelay`: TCP_NODELAY on the connection once it is up.
    tcp_nodelay: bool,
    /// `rtmp-timecode-interval`: an onMetaData update with the timecode every this many pictures; 0 = off.
    timecode_interval: u32,
}

fn parse(url: &str, ctx: &Context) -> Result<Arc<dyn Destination>, DestinationError> {
    let o = &ctx.rtmp;
    let target = RtmpTarget::parse(url)?;
    let codec = ctx.codec;
    let flv = flv_muxer(codec, o.enhanced, ctx.caps);
    let buffer_s = if o.buffer_size_s > 0.0 {
        o.buffer_size_s
    } else {
        DEFAULT_BUFFER_S
    };
    Ok(Arc::new(Rtmp {
        username: o.username.clone().or(target.username.clone()),
        password: o.password.clone().or(target.password.clone()),
        target,
        flv,
        codec,
        buffer_ns: (buffer_s * 1e9) as u64,
        tls_validation: o.tls_validation,
        tcp_nodelay: o.tcp_nodelay,
        timecode_interval: o.timecode_interval,
    }))
}

/// H.264 keeps legacy FLV (every server takes it) unless asked; H.265/AV1 need Enhanced RTMP: the
/// system's eflvmux where it takes the codec, else ours.
fn flv_muxer(codec: Codec, enhanced: bool, caps: Capabilities) -> FlvMuxer {
    match codec {
        Codec::H264 if !enhanced => FlvMuxer::Legacy,
        Codec::H264 => FlvMuxer::Tdeflvmux,
        Codec::H265 if caps.eflv_h265 => FlvMuxer::Eflvmux,
        Codec::Av1 if caps.eflv_av1 => FlvMuxer::Eflvmux,
        _ => FlvMuxer::Tdeflvmux,
    }
}

impl Destination for Rtmp {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn shown(&self) -> String {
        self.target.redacted()
    }

    fn secrets(&self) -> Vec<String> {
        let key = &self.target.stream_key;
        let mut out = vec![key.clone()];
        if let Some((name, _)) = key.split_once('?') {
            // The query (nginx-rtmp `?key=`, Facebook's `?s_bl=1&...&a=...`) is secret as well.
            out.push(key.trim_start_matches(name).to_string());
        }
        out.extend(self.target.password.clone());
        out.extend(self.password.clone());
        out
    }

    fn check(&self, media: &mut Media) -> Result<(), DestinationError> {
        let all = gio::TlsCertificateFlags::VALIDATE_ALL;
        if self.target.scheme == "rtmps" && !self.tls_validation.contains(all) {
            media.warnings.push(format!(
                "tls-validation-flags={}: the TLS certificate of {} is not fully checked ({}), so anyone on \
                 the way could pose as the server and read the stream key; use this only with a server you trust",
                self.tls_validation.bits(),
                self.target.redacted(),
                if self.tls_validation.is_empty() {
                    "not at all".to_string()
                } else {
                    format!("only for {:?}", self.tls_validation)
                }
            ));
        }
        if media.audio_codec == AudioCodec::Opus {
            return Err(DestinationError::AudioOnProtocol {
                codec: "opus",
                mode: "rtmp",
                why: "FLV carries only MP3 and AAC audio",
                fix: "set audio-codec=aac (what streaming services expect) or audio-codec=mp3",
            });
        }
        Ok(())
    }

    fn silent_audio_by_default(&self) -> bool {
        true
    }

    fn build(&self, _: &EncoderSettings, with_audio: bool) -> Result<Built, TransportError> {
        let me = self.clone();
        Ok(Built::restartable(
            "rtmp-transport",
            with_audio,
            Box::new(RtmpProbe {
                nodelay: self.tcp_nodelay.then(|| NoDelay::new(&self.target)),
            }),
            Box::new(move || me.build_inner(with_audio)),
            flv_video_caps(self.codec),
        ))
    }

    /// rtmp2sink's `stats`: the bytes written to the connection. TCP loses nothing; a slow network
    /// shows as rtmp2sink taking data slower than it comes, so `rtmp-buffer` fills and drops.
    fn network(&self, sink: &gst::Element) -> Option<NetCounters> {
        sink.find_property("stats")?;
        let stats = sink.property::<Option<gst::Structure>>("stats")?;
        Some(NetCounters {
            sent_bytes: stats.get::<u64>("out-bytes-total").ok()?,
            ..NetCounters::default()
        })
    }

    fn hints(&self, detail: &str) -> Vec<String> {
        let mut out = Vec::new();
        if mentions(detail, CERTIFICATE) {
            out.push(
                "Fix: this system does not trust the server's TLS certificate (self-signed, or issued by a private \
                 CA): install that CA in the system's trust store (/usr/local/share/ca-certificates, then \
                 update-ca-certificates), or set tls-validation-flags=0 to skip the check (only for a server you \
                 trust)"
                    .to_string(),
            );
        } else if mentions(detail, FINAL) {
            out.push(
                "Fix: the server refused to accept the stream: check the stream key and any credentials in url"
                    .to_string(),
            );
        } else if let Some(h) = network_hint(detail) {
            out.push(h.to_string());
        }
        if self.flv != FlvMuxer::Legacy {
            out.extend(explain_enhanced(detail, self.codec.nick()));
        }
        out
    }

    fn is_final(&self, reason: &str) -> bool {
        mentions(reason, FINAL) || mentions(reason, CERTIFICATE)
    }

    fn connection_test(&self, timeout: Duration) -> Option<Result<(), String>> {
        Some(self.test_connection(timeout))
    }
}

/// rtmp2sink: its `stats` come from the connection once the stream is published. It reports every
/// connection failure by itself, so nothing needs to reach it while it connects.
struct RtmpProbe {
    nodelay: Option<NoDelay>,
}

/// `rtmp-tcp-nodelay`: set on each new rtmp2sink's connection the first time it shows connected.
struct NoDelay {
    host: String,
    port: u16,
    done_for: std::sync::Mutex<gst::glib::WeakRef<gst::Element>>,
}

impl NoDelay {
    fn new(target: &RtmpTarget) -> NoDelay {
        NoDelay {
            host: target.host.clone(),
            port: target.port_or_default(),
            done_for: std::sync::Mutex::new(gst::glib::WeakRef::new()),
        }
    }

    fn set_once(&self, sink: &gst::Element) {
        let done = self.done_for.lock().unwrap_or_else(|e| e.into_inner());
        if done.upgrade().as_ref() == Some(sink) {
            return;
        }
        done.set(Some(sink));
        drop(done);
        // The server's addresses as rtmp2sink resolved them (it connected to one of them just now).
        let peers: Vec<std::net::SocketAddr> =
            std::net::ToSocketAddrs::to_socket_addrs(&(self.host.as_str(), self.port))
                .map(Iterator::collect)
                .unwrap_or_default();
        let set = nodelay::set_on_connections_to(&peers);
        if set == 0 {
            gst::warning!(
                CAT,
                obj = sink,
                "rtmp-tcp-nodelay: no connection of this process to {}:{} found to set TCP_NODELAY on",
                self.host,
                self.port
            );
        } else {
            gst::info!(
                CAT,
                obj = sink,
                "TCP_NODELAY set on {set} connection(s) to {}:{}",
                self.host,
                self.port
            );
        }
    }
}

impl Probe for RtmpProbe {
    fn is_connected(&self, sink: &gst::Element) -> bool {
        if sink.find_property("stats").is_none() {
            return false;
        }
        let connected = sink
            .property::<Option<gst::Structure>>("stats")
            .is_some_and(|stats| {
                stats.get::<u32>("in-window-ack-size").unwrap_or(0) > 0
                    || stats.get::<u64>("in-bytes-total").unwrap_or(0) > 0
            });
        if let (true, Some(nodelay)) = (connected, &self.nodelay) {
            nodelay.set_once(sink);
        }
        connected
    }

    fn closed_while_connecting(&self) -> bool {
        true
    }
}

/// A second hint for Enhanced RTMP (H.265/AV1 in FLV): servers that cannot read it do not say so in
/// RTMP, they hang up (FFmpeg before 6.1, nginx-rtmp's players with `wait_key on`, older services).
fn explain_enhanced(error_text: &str, codec: &str) -> Option<String> {
    let hung_up = mentions(
        error_text,
        &[
            "closed",
            "reset",
            "broken pipe",
            "connection error",
            "end of stream",
            "eof",
        ],
    );
    hung_up.then(|| {
        format!(
            "video-codec={codec} goes as Enhanced RTMP, which some servers cannot read and hang up on \
             (FFmpeg before 6.1, older services); if this happens right after connecting, \
             Fix: set video-codec=h264 (legacy FLV, which every server takes) or use a server that reads \
             Enhanced RTMP (YouTube, FFmpeg 6.1+, nginx-rtmp with wait_key off)"
        )
    })
}

/// What FLV takes: length-prefixed H.264/H.265 with the configuration record in caps, AV1 temporal
/// units of OBUs.
fn flv_video_caps(codec: Codec) -> gst::Caps {
    match codec {
        Codec::H264 => video_caps(codec, Some("avc")),
        Codec::H265 => video_caps(codec, Some("hvc1")),
        Codec::Av1 => gst::Caps::builder(codec.media_type())
            .field("stream-format", "obu-stream")
            .field("alignment", "tu")
            .build(),
    }
}

impl Rtmp {
    /// rtmp2sink set up for this destination: where, with what credentials and certificate checks.
    fn configured_sink(&self) -> Result<gst::Element, TransportError> {
        let sink = make("rtmp2sink", "rtmp2sink", "mode=rtmp (RTMP client)")?;
        sink.set_property("location", self.target.location());
        if sink.find_property("tls-validation-flags").is_some() {
            sink.set_property("tls-validation-flags", self.tls_validation);
        }
        // Added while the pipeline plays: never take the pipeline back to PAUSED for a preroll.
        sink.set_property("async", false);
        // RTMP's default chunk of 128 bytes cuts a 720p picture into ~130 chunks, each a header for
        // nginx-rtmp to parse; at 4096 (nginx-rtmp's own outgoing chunk size) the picture reaches a player
        // ~5 ms sooner (benches/latency.rs: 44.2 -> 39.7 ms p50; 65536 gave 39.0, no better).
        sink.set_property("chunk-size", RTMP_CHUNK_SIZE);
        // Behind a live source, publish each picture when it is muxed: rtmp2sink's sync=true wait for the
        // pipeline's latency cost 53.6 ms at 30 fps from a gst-launch-1.0 sender (docs/FINDINGS.md).
        super::sink_sends_on_arrival_when_live(&sink);
        if let Some(u) = &self.username {
            sink.set_property("username", u);
        }
        if let Some(p) = &self.password {
            sink.set_property("password", p);
        }
        Ok(sink)
    }

    /// Connects and publishes (where the server checks the stream key and any credentials) with an
    /// rtmp2sink of its own, sends nothing, and closes: Ok once the server accepted the stream (rtmp2sink
    /// shows connection `stats` only from then on), else its error as the sink says it, or no answer
    /// within `timeout`.
    fn test_connection(&self, timeout: Duration) -> Result<(), String> {
        let pipeline = gst::Pipeline::with_name("tdstream-rtmp-connection-test");
        let src = make("appsrc", "connection-test-src", "the RTMP connection test")
            .map_err(|e| e.to_string())?;
        let sink = self.configured_sink().map_err(|e| e.to_string())?;
        pipeline
            .add_many([&src, &sink])
            .and_then(|_| src.link(&sink).map_err(|e| gst::glib::bool_error!("{e}")))
            .map_err(|e| e.to_string())?;
        let bus = pipeline.bus().ok_or("the test pipeline has no bus")?;
        let probe = RtmpProbe { nodelay: None };
        let deadline = std::time::Instant::now() + timeout;
        let result = match pipeline.set_state(gst::State::Playing) {
            Err(_) => Err(bus
                .pop_filtered(&[gst::MessageType::Error])
                .and_then(|m| match m.view() {
                    gst::MessageView::Error(e) => Some(e.error().to_string()),
                    _ => None,
                })
                .unwrap_or_else(|| "rtmp2sink did not start".to_string())),
            Ok(_) => loop {
                if probe.is_connected(&sink) {
                    break Ok(());
                }
                if let Some(m) = bus.timed_pop_filtered(
                    gst::ClockTime::from_mseconds(20),
                    &[gst::MessageType::Error],
                ) {
                    if let gst::MessageView::Error(e) = m.view() {
                        break Err(e.error().to_string());
                    }
                }
                if std::time::Instant::now() >= deadline {
                    break Err(format!(
                        "no answer from the server within {:.0} s",
                        timeout.as_secs_f64()
                    ));
                }
            },
        };
        let _ = pipeline.set_state(gst::State::Null);
        result
    }

    /// One connection's worth of elements. A new flvmux per connection: every connection starts with the
    /// FLV header, onMetaData and the codec sequence headers.
    fn build_inner(&self, with_audio: bool) -> Result<Inner, TransportError> {
        let bin = gst::Bin::with_name("rtmp-connection");
        let purpose = match self.flv {
            FlvMuxer::Legacy => "mode=rtmp (FLV muxing)",
            _ => "mode=rtmp with Enhanced RTMP (H.265/AV1 in FLV)",
        };
        let mux = make(self.flv.factory(), "flvmux", purpose)?;
        if mux.find_property("streamable").is_some() {
            mux.set_property("streamable", true);
        }
        // The application-level buffer (rtmp-buffer-size): when the network cannot keep up it drops the
        // newest data instead of blocking the pipeline, and the link resumes at the next keyframe.
        let queue = make("queue", "rtmp-buffer", "mode=rtmp")?;
        queue.set_property("max-size-time", self.buffer_ns);
        queue.set_property("max-size-buffers", 0u32);
        queue.set_property("max-size-bytes", 0u32);
        crate::plugins::set_enum(&queue, "leaky", "upstream").map_err(TransportError::Link)?;
        let sink = self.configured_sink()?;
        // The timecode updates go in behind the buffer: in front of it, the first update (the first
        // timestamped buffer after flvmux's untimed headers) made the queue's time level jump from 0 to
        // the running time, and the leaky queue dropped the keyframe right behind it (after a reconnection
        // the far side waited for the next regular keyframe).
        let mut chain = vec![mux.clone(), queue.clone()];
        if self.timecode_interval > 0 {
            chain.push(timecode::TimecodeTagger::new(self.timecode_interval).upcast());
        }
        chain.push(sink.clone());
        bin.add_many(&chain)
            .map_err(|e| TransportError::Link(e.to_string()))?;
        link_chain(&chain.iter().collect::<Vec<_>>())?;
        ghost_mux_pad(&bin, &mux, "video", "video")?;
        if with_audio {
            ghost_mux_pad(&bin, &mux, "audio", "audio")?;
        }
        Ok(Inner {
            connected: None,
            failure: None,
            bin,
            network_sink: sink,
            buffer: Some(queue),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enhanced_rtmp_hint_only_when_the_server_hung_up() {
        let hint = explain_enhanced("Connection error", "h265").unwrap_or_default();
        assert!(
            hint.contains("video-codec=h265")
                && hint.contains("Fix: set video-codec=h264")
                && hint.contains("wait_key off"),
            "{hint}"
        );
        assert!(explain_enhanced("Could not connect: Connection refused", "av1").is_none());
    }

    #[test]
    fn muxer_per_codec() {
        let none = Capabilities::default();
        assert_eq!(flv_muxer(Codec::H264, false, none), FlvMuxer::Legacy);
        assert_eq!(flv_muxer(Codec::H264, true, none), FlvMuxer::Tdeflvmux);
        assert_eq!(flv_muxer(Codec::H265, false, none), FlvMuxer::Tdeflvmux);
        let with_eflv = Capabilities {
            eflv_h265: true,
            ..Default::default()
        };
        assert_eq!(flv_muxer(Codec::H265, false, with_eflv), FlvMuxer::Eflvmux);
        assert_eq!(flv_muxer(Codec::Av1, false, with_eflv), FlvMuxer::Tdeflvmux);
    }

    #[test]
    fn refused_stream_keys_are_final_and_say_so() {
        let r = Rtmp {
            target: RtmpTarget::parse("rtmp://h/app/key").unwrap(),
            flv: FlvMuxer::Legacy,
            codec: Codec::H264,
            buffer_ns: 0,
            username: None,
            password: None,
            tls_validation: gio::TlsCertificateFlags::VALIDATE_ALL,
            tcp_nodelay: true,
            timecode_interval: 1,
        };
        assert!(r.is_final("publish rejected: NetStream.Publish.BadName"));
        assert!(!r.is_final("Connection refused"));
        assert!(!r.is_final("connection closed remotely"));
        assert!(r.hints("NetStream.Publish.BadName")[0].contains("stream key"));
        assert!(r.hints("Connection refused")[0].contains("reachable"));
        let tls = "Failed to connect: Unacceptable TLS certificate";
        assert!(r.is_final(tls) && r.hints(tls)[0].contains("tls-validation-flags=0"));
    }
}
