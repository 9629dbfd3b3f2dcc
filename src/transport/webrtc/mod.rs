//! WebRTC and WHIP: gst-plugins-rs' `webrtcsink` (registered with the signalling server at `url`) or
//! `whipclientsink` (publishing to the WHIP endpoint at `url`), inside a restartable link, so that a
//! signalling server that is not there yet, or goes away, is retried per the reconnection policy.
//!
//! ```text
//! shared:     video (H.264, avc) ─┐                 per-viewer: video (raw) ─┐
//!             audio (Opus)       ─┴─ webrtcsink                 audio (raw) ─┴─ webrtcsink (encodes per viewer)
//! ```

use gst::glib;
use gst::prelude::*;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::restart::{Failure, Inner, Probe};
use super::{
    mentions, network_hint, set_enum, Built, Context, Destination, DestinationError, Kind, Media,
    Mode, TransportError,
};
use crate::encoder::{AudioCodec, Codec, EncoderSettings};

pub mod config;
mod session_end;

pub use config::WebrtcTarget;

/// `GST_DEBUG=tdstream-webrtc:6`: WebRTC and WHIP destinations.
static CAT: std::sync::LazyLock<gst::DebugCategory> = std::sync::LazyLock::new(|| {
    gst::DebugCategory::new(
        "tdstream-webrtc",
        gst::DebugColorFlags::empty(),
        Some("tdstream WebRTC and WHIP destinations"),
    )
});

/// The element's properties a WebRTC or WHIP destination reads (the URL's fragment wins for the
/// token and the name).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `stun-server`, `turn-servers`, `ice-addresses`, as the properties write them.
    pub stun_server: String,
    pub turn_servers: String,
    pub ice_addresses: String,
    /// `bearer-token` (WHIP).
    pub bearer_token: Option<String>,
    /// `stream-name`: the producer's name at the signalling server.
    pub stream_name: String,
    /// `webrtc-encode=per-viewer`.
    pub per_viewer: bool,
    /// `encoder-name` is set (it cannot apply per viewer).
    pub encoder_name_set: bool,
}

pub static WEBRTC: Kind = Kind {
    name: "webrtc",
    mode: Mode::Webrtc,
    schemes: &["ws", "wss"],
    parse: parse_webrtc,
};

pub static WHIP: Kind = Kind {
    name: "whip",
    mode: Mode::Whip,
    schemes: &["http", "https"],
    parse: parse_whip,
};

/// A WHIP session that failed after the endpoint answered. Retried like any lost connection: the abort
/// that gst-plugins-rs 0.15 causes when such a session ends is avoided by [`session_end`].
const WHIP_SESSION: &str = "the WHIP session failed after the endpoint answered";

/// Failures another attempt cannot fix: the endpoint refused the token.
const FINAL: &[&str] = &[
    "denied",
    "unauthorized",
    "forbidden",
    "rejected",
    "401",
    "403",
];

/// A WebRTC destination (signalling server) or a WHIP endpoint, resolved with the element's ICE
/// settings.
#[derive(Debug, Clone)]
pub struct Webrtc {
    pub target: WebrtcTarget,
    /// `encoder-name` is set (it cannot apply per viewer).
    encoder_name_set: bool,
}

fn parse_webrtc(url: &str, ctx: &Context) -> Result<Arc<dyn Destination>, DestinationError> {
    parse(url, ctx, false)
}

fn parse_whip(url: &str, ctx: &Context) -> Result<Arc<dyn Destination>, DestinationError> {
    parse(url, ctx, true)
}

fn parse(url: &str, ctx: &Context, whip: bool) -> Result<Arc<dyn Destination>, DestinationError> {
    let s = &ctx.webrtc;
    // Options in the fragment win over the element's properties (one destination, one token or name).
    let (url, options) = config::fragment_options(url, whip)?;
    let option = |key: &str| {
        options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    config::check_url(&url, whip)?;
    Ok(Arc::new(Webrtc {
        target: WebrtcTarget {
            whip,
            url,
            stun_server: config::parse_stun(&s.stun_server)?,
            turn_servers: config::parse_turn(&s.turn_servers)?,
            ice_addresses: config::parse_addresses(&s.ice_addresses)?,
            bearer_token: option("bearer-token").or(s.bearer_token.clone()),
            name: option("name").unwrap_or_else(|| s.stream_name.clone()),
            per_viewer: s.per_viewer,
        },
        encoder_name_set: s.encoder_name_set,
    }))
}

impl Destination for Webrtc {
    fn kind(&self) -> &'static Kind {
        if self.target.whip {
            &WHIP
        } else {
            &WEBRTC
        }
    }

    fn shown(&self) -> String {
        config::shown(&self.target.url)
    }

    fn secrets(&self) -> Vec<String> {
        let url = &self.target.url;
        let mut out = Vec::new();
        // Tokens in a WHIP URL's query or user information are secrets too.
        if let Some((_, q)) = url.split_once('?') {
            out.push(q.to_string());
        }
        if let Some((_, rest)) = url.split_once("://") {
            if let Some((user, _)) = rest.split('/').next().unwrap_or_default().rsplit_once('@') {
                out.push(user.to_string());
            }
        }
        out.extend(config::turn_secrets(&self.target.turn_servers));
        out.extend(self.target.bearer_token.clone());
        out
    }

    /// What browsers decode over WebRTC: H.264 without B-frames, Opus (the default here; another audio
    /// codec set explicitly is an error).
    fn check(&self, media: &mut Media) -> Result<(), DestinationError> {
        let mode = self.kind().name;
        let e = &media.encoder;
        if e.codec != Codec::H264 {
            return Err(DestinationError::CodecOnProtocol {
                codec: e.codec.nick(),
                mode,
                why: "browsers decode H.264 over WebRTC everywhere, H.265 and AV1 only in some browsers and not \
                      from GStreamer 1.22's payloaders",
                fix: "set video-codec=h264",
            });
        }
        if e.max_bframes > 0 {
            return Err(DestinationError::Browser {
                setting: format!("max-bframes={}", e.max_bframes),
                why: "browsers' WebRTC H.264 decoders do not reorder frames, so B-frames play out of order or stall",
                fix: "set max-bframes=0 (and profile=main or profile=baseline)",
            });
        }
        if media.audio_codec_set && media.audio_codec != AudioCodec::Opus {
            return Err(DestinationError::AudioOnProtocol {
                codec: media.audio_codec.nick(),
                mode,
                why: "Opus is the only audio codec browsers take over WebRTC",
                fix: "set audio-codec=opus, or leave audio-codec unset (Opus is the default for WebRTC and WHIP)",
            });
        }
        media.audio_codec = AudioCodec::Opus;
        if self.target.per_viewer && self.encoder_name_set {
            media.warnings.push(
                "encoder-name is not used with webrtc-encode=per-viewer: webrtcsink picks the encoder for each \
                 viewer (NVENC where it ranks first) and tdstream applies its settings to it"
                    .to_string(),
            );
        }
        Ok(())
    }

    fn encodes_per_viewer(&self) -> bool {
        self.target.per_viewer
    }

    fn audio_perfect_timestamps(&self) -> bool {
        // Browsers' Opus decoders over WebRTC expect perfect timestamps.
        true
    }

    fn build(&self, encoder: &EncoderSettings, with_audio: bool) -> Result<Built, TransportError> {
        build(encoder, &self.target, with_audio)
    }

    fn hints(&self, detail: &str) -> Vec<String> {
        if mentions(detail, FINAL) {
            return vec!["Fix: the endpoint refused the stream: check bearer-token and any credentials in url".into()];
        }
        network_hint(detail).into_iter().map(String::from).collect()
    }

    fn is_final(&self, reason: &str) -> bool {
        mentions(reason, FINAL)
    }

    fn ended_by_itself(&self) -> String {
        if self.target.whip {
            // whipclientsink ends its stream when the peer connection fails, without a word.
            format!(
                "{WHIP_SESSION} and whipclientsink ended it: ICE or the DTLS handshake failed (GStreamer 1.22's \
                 DTLS offers few cipher suites, which some endpoints' WebRTC stacks refuse: \"Fatal SSL error\")"
            )
        } else {
            "the WebRTC session ended by itself".to_string()
        }
    }

    fn closing_errors_are_noise(&self) -> bool {
        true
    }
}

/// webrtcsink / whipclientsink: connected is known from their signals ([`Inner::connected`]).
struct WebrtcProbe;

impl Probe for WebrtcProbe {
    fn is_connected(&self, _sink: &gst::Element) -> bool {
        false
    }
}

/// Lower bound of congestion control in per-viewer mode, as a fraction of avg-bitrate.
const MIN_BITRATE_FRACTION: f64 = 0.1;
const MIN_BITRATE_FLOOR: u32 = 100_000;

/// Makes gst-plugins-rs' WebRTC elements available: a system copy of the plugin always wins; otherwise
/// creating `tdwebrtcsupport` loads tdstream's WebRTC plugin (libgsttdstreamwebrtc.so), which registers
/// the copy it carries. Only processes that stream WebRTC load it.
pub fn ensure_elements() {
    if gst::ElementFactory::find("webrtcsink").is_none() {
        let _ = gst::ElementFactory::make("tdwebrtcsupport").build();
    }
}

fn make_webrtc(factory: &str, mode: &str) -> Result<gst::Element, TransportError> {
    gst::ElementFactory::make(factory)
        .name(factory)
        .build()
        .map_err(|_| TransportError::NoWebrtc {
            factory: factory.to_string(),
            mode: mode.to_string(),
        })
}

fn build(
    encoder: &EncoderSettings,
    target: &WebrtcTarget,
    with_audio: bool,
) -> Result<Built, TransportError> {
    ensure_elements();
    let video_caps = if target.per_viewer {
        gst::Caps::new_empty_simple("video/x-raw")
    } else {
        // 1.22's h264parse sends byte-stream caps twice, which webrtcsink refuses to renegotiate.
        super::video_caps(encoder.codec, Some("avc"))
    };
    let (t, encoder) = (target.clone(), encoder.clone());
    let name = if target.whip {
        "whip-transport"
    } else {
        "webrtc-transport"
    };
    Ok(Built::restartable(
        name,
        with_audio,
        Box::new(WebrtcProbe),
        Box::new(move || build_inner(&t, &encoder, with_audio)),
        video_caps,
    ))
}

fn build_inner(
    target: &WebrtcTarget,
    encoder: &EncoderSettings,
    with_audio: bool,
) -> Result<Inner, TransportError> {
    let (factory, mode) = if target.whip {
        ("whipclientsink", "mode=whip")
    } else {
        ("webrtcsink", "mode=webrtc")
    };
    let sink = make_webrtc(factory, mode)?;
    configure(&sink, target, encoder)?;
    let connected = Arc::new(AtomicBool::new(false));
    let failure: Failure = Arc::default();
    if !target.whip {
        follow_signalling(&sink, target, &connected)?;
    }
    on_each_viewer(&sink, target, &connected, &failure);
    if target.per_viewer {
        per_viewer_hooks(&sink, encoder);
    }

    let bin = gst::Bin::with_name(&format!("{factory}-connection"));
    bin.add(&sink)
        .map_err(|e| TransportError::Link(e.to_string()))?;
    let mut streams = vec![("video_%u", "video")];
    if with_audio {
        streams.push(("audio_%u", "audio"));
    }
    for (template, name) in streams {
        super::ghost_mux_pad(&bin, &sink, template, name)?;
    }
    send_on_arrival(&sink);
    Ok(Inner {
        bin,
        network_sink: sink,
        buffer: None,
        connected: Some(connected),
        failure: target.whip.then_some(failure),
    })
}

fn configure(
    sink: &gst::Element,
    target: &WebrtcTarget,
    encoder: &EncoderSettings,
) -> Result<(), TransportError> {
    // No public STUN server unless asked (webrtcsink's default is Google's).
    sink.set_property("stun-server", target.stun_server.as_deref());
    if !target.turn_servers.is_empty() {
        let turn = gst::Array::new(target.turn_servers.iter().map(String::as_str));
        sink.set_property("turn-servers", turn);
    }
    sink.set_property("video-caps", gst::Caps::new_empty_simple("video/x-h264"));
    sink.set_property("audio-caps", gst::Caps::new_empty_simple("audio/x-opus"));
    if target.per_viewer {
        // gst-plugins-rs' rtpgccbwe where installed, else webrtcsink's own estimator.
        let cc = if crate::plugins::exists("rtpgccbwe") {
            "gcc"
        } else {
            "homegrown"
        };
        set_enum(sink, "congestion-control", cc)?;
        let avg = encoder.avg_kbps().saturating_mul(1000);
        let max = encoder.max_kbps().saturating_mul(1000).max(avg);
        let min = ((avg as f64 * MIN_BITRATE_FRACTION) as u32).max(MIN_BITRATE_FLOOR.min(avg));
        sink.set_property("min-bitrate", min.max(1));
        sink.set_property("max-bitrate", max.max(1));
        sink.set_property("start-bitrate", avg.clamp(min.max(1), max.max(1)));
    } else {
        // Pre-encoded input cannot follow a bandwidth estimate.
        set_enum(sink, "congestion-control", "disabled")?;
    }
    if target.whip {
        session_end::end_sessions_off_the_runtime(sink);
        let signaller = sink.property::<glib::Object>("signaller");
        signaller.set_property("whip-endpoint", &target.url);
        if let Some(token) = &target.bearer_token {
            signaller.set_property("auth-token", token);
        }
    } else {
        let meta = gst::Structure::builder("meta")
            .field("name", &target.name)
            .build();
        sink.set_property("meta", &meta);
    }
    Ok(())
}

/// webrtcsink holds each buffer of its input until its running time plus the pipeline's latency (a
/// `clocksync` and an `appsink`, both `sync=true`, per input, made when it goes to PAUSED): see
/// [`super::send_on_arrival_when_live`]. The wait is also not the same from one run to the next: the
/// latency is first distributed before the source's caps are known (20 ms, the appsink's processing
/// deadline), and a later recalculation adds the source's frame (53.3 ms at 30 fps), so the same sender
/// was a frame later in some runs than in others. Both exist by the first buffer. The clocksync's wait
/// shows only where the pipeline's latency is distributed (gst-launch-1.0, or any application that
/// handles LATENCY messages: 30 ms more per picture with the sender run that way, docs/FINDINGS.md).
fn send_on_arrival(sink: &gst::Element) {
    super::send_on_arrival_when_live(sink, |sink| {
        let Some(bin) = sink.downcast_ref::<gst::Bin>() else {
            return;
        };
        for factory in ["appsink", "clocksync"] {
            for element in bin
                .iterate_all_by_element_factory_name(factory)
                .into_iter()
                .flatten()
            {
                element.set_property("sync", false);
            }
        }
    });
}

/// Each viewer's webrtcbin holds each buffer again, in a `clocksync` per stream (`sync=true`), ~11 ms
/// with per-viewer encoding: behind a live source, told not to wait, those it has and those it makes.
fn send_on_arrival_in_session(sink: &gst::Element, webrtcbin: &gst::Element) {
    if !sink.sink_pads().iter().any(super::upstream_is_live) {
        return;
    }
    let Some(bin) = webrtcbin.downcast_ref::<gst::Bin>() else {
        return;
    };
    let no_wait = |e: &gst::Element| {
        if e.factory().is_some_and(|f| f.name() == "clocksync") {
            e.set_property("sync", false);
        }
    };
    for e in bin.iterate_elements().into_iter().flatten() {
        no_wait(&e);
    }
    bin.connect_element_added(move |_, e| no_wait(e));
}

/// Sets `connected` once the signalling server has accepted the WebSocket (the signaller asks for the
/// producer's meta right then).
fn follow_signalling(
    sink: &gst::Element,
    target: &WebrtcTarget,
    connected: &Arc<AtomicBool>,
) -> Result<(), TransportError> {
    // A signaller of our own, so that our handler of request-meta (which the signaller emits as soon as
    // the WebSocket is up, and where the first handler wins) is connected before webrtcsink's.
    let signaller = glib::Type::from_name("GstWebRTCSignaller")
        .filter(|t| t.is_a(glib::Object::static_type()))
        .map(glib::Object::with_type)
        .ok_or_else(|| TransportError::NoWebrtc {
            factory: "webrtcsink (its signaller, GstWebRTCSignaller)".into(),
            mode: "mode=webrtc".into(),
        })?;
    signaller.set_property("uri", &target.url);
    set_object_enum(&signaller, "role", "producer")?;
    let flag = Arc::clone(connected);
    let meta = sink.property::<Option<gst::Structure>>("meta");
    signaller.connect("request-meta", false, move |_| {
        flag.store(true, Ordering::SeqCst);
        Some(meta.to_value())
    });
    sink.set_property("signaller", &signaller);
    Ok(())
}

/// For each viewer, as webrtcsink adds its webrtcbin (before negotiation): the local ICE addresses; for
/// WHIP, `connected` follows the peer connection; the viewer's answer is checked for H.264.
fn on_each_viewer(
    sink: &gst::Element,
    target: &WebrtcTarget,
    connected: &Arc<AtomicBool>,
    failure: &Failure,
) {
    let addresses: Vec<String> = target.ice_addresses.iter().map(|a| a.to_string()).collect();
    let whip_connected = target
        .whip
        .then(|| (Arc::clone(connected), Arc::clone(failure)));
    let weak = sink.downgrade();
    sink.connect("consumer-added", false, move |args| {
        let viewer = args
            .get(1)
            .and_then(|v| v.get::<String>().ok())
            .unwrap_or_default();
        let webrtcbin = args.get(2).and_then(|v| v.get::<gst::Element>().ok())?;
        add_ice_addresses(&webrtcbin, &addresses);
        if let Some(sink) = weak.upgrade() {
            send_on_arrival_in_session(&sink, &webrtcbin);
        }
        if let Some((flag, failure)) = &whip_connected {
            let (flag, failure) = (Arc::clone(flag), Arc::clone(failure));
            webrtcbin.connect_notify(Some("connection-state"), move |bin, _| {
                let state = nick(bin, "connection-state");
                flag.store(state == "connected", Ordering::SeqCst);
                if state == "failed" {
                    // whipclientsink would end the stream with a plain EOS: it is a lost connection.
                    *tdstream_common::sync::lock(&failure) = Some(session_failure(bin));
                }
            });
        }
        warn_if_answer_refuses_h264(&webrtcbin, viewer, weak.clone());
        None
    });
}

/// The nick of an enum property.
fn nick(obj: &gst::Element, property: &str) -> String {
    let value = obj.property_value(property);
    glib::EnumValue::from_value(&value)
        .map(|(_, v)| v.nick().to_string())
        .unwrap_or_default()
}

/// A WHIP peer connection failed after the endpoint answered: what failed, in WebRTC's own terms.
fn session_failure(webrtcbin: &gst::Element) -> String {
    let ice = nick(webrtcbin, "ice-connection-state");
    if ice == "connected" || ice == "completed" {
        "the WHIP session failed after the endpoint answered: ICE connected, then the DTLS handshake failed \
         (the endpoint's WebRTC stack and GStreamer's DTLS agreed on no cipher suite, or its certificate does \
         not match the fingerprint in its answer)"
            .to_string()
    } else {
        format!(
            "the WHIP session failed after the endpoint answered: ICE found no path to it (ICE state {ice}). \
             Fix: check that the endpoint's candidates are reachable from here (ice-addresses, stun-server, \
             turn-servers)"
        )
    }
}

fn add_ice_addresses(webrtcbin: &gst::Element, addresses: &[String]) {
    if webrtcbin.find_property("ice-agent").is_none() {
        return;
    }
    let agent = webrtcbin.property::<glib::Object>("ice-agent");
    for a in addresses {
        let added = agent.emit_by_name::<bool>("add-local-ip-address", &[a]);
        if !added {
            gst::warning!(CAT, "ice-addresses: libnice did not take {a}");
        }
    }
}

/// webrtcsink encodes for each viewer: our encoder settings through `encoder-setup` (returning true so
/// that webrtcsink's own defaults do not overwrite them), metadata SEI through `request-encoded-filter`.
fn per_viewer_hooks(sink: &gst::Element, encoder: &EncoderSettings) {
    let settings = encoder.clone();
    // Both signals have a return type: every path returns a value (a missing one panics in glib).
    sink.connect("encoder-setup", false, move |args| {
        let configured = setup_encoder(args, &settings);
        Some(configured.to_value())
    });
    sink.connect("request-encoded-filter", false, |args| {
        let caps = args.get(3).and_then(|v| v.get::<gst::Caps>().ok());
        let is_h26x = caps
            .as_ref()
            .and_then(|c| c.structure(0))
            .is_some_and(|s| s.name() == "video/x-h264" || s.name() == "video/x-h265");
        let embed = is_h26x.then(|| {
            glib::Object::builder::<crate::tdmetaembed::TdMetaEmbed>()
                .build()
                .upcast::<gst::Element>()
        });
        Some(embed.to_value())
    });
}

/// Applies our settings to a per-viewer video encoder; true = done (webrtcsink's defaults are skipped).
fn setup_encoder(args: &[glib::Value], settings: &EncoderSettings) -> bool {
    let pad = args.get(2).and_then(|v| v.get::<String>().ok());
    let Some(enc) = args.get(3).and_then(|v| v.get::<gst::Element>().ok()) else {
        return false;
    };
    if !pad.is_some_and(|p| p.starts_with("video")) {
        // Audio: webrtcsink's defaults (perfect timestamps, which Chrome needs) are right.
        return false;
    }
    match crate::encoder::select::configure_existing(&enc, settings) {
        Ok(warnings) => {
            for w in warnings {
                gst::info!(CAT, "per-viewer encoder {}: {w}", enc.name());
            }
            true
        }
        Err(e) => {
            gst::warning!(
                CAT,
                "per-viewer encoder {}: keeping webrtcsink's settings: {e}",
                enc.name()
            );
            false
        }
    }
}

fn set_object_enum(obj: &glib::Object, name: &str, nick: &str) -> Result<(), TransportError> {
    let value = obj
        .find_property(name)
        .and_then(|p| glib::EnumClass::with_type(p.value_type()))
        .and_then(|c| c.to_value_by_nick(nick))
        .ok_or_else(|| TransportError::Link(format!("the signaller has no {name}={nick}")))?;
    obj.set_property_from_value(name, &value);
    Ok(())
}

/// A viewer whose answer refuses H.264 would get no picture and nobody would know: say so, once per
/// viewer, as a warning (the stream goes on for the others).
fn warn_if_answer_refuses_h264(
    webrtcbin: &gst::Element,
    viewer: String,
    sink: glib::WeakRef<gst::Element>,
) {
    #[cfg(feature = "webrtc")]
    {
        let warned = AtomicBool::new(false);
        // The answer is in once the signaling state is stable again.
        webrtcbin.connect_notify(Some("signaling-state"), move |bin, _| {
            let Some(desc) = bin.property::<Option<gst_webrtc::WebRTCSessionDescription>>(
                "current-remote-description",
            ) else {
                return;
            };
            let refused = desc
                .sdp()
                .as_text()
                .is_ok_and(|text| config::answer_refuses_h264(&text));
            if refused && !warned.swap(true, Ordering::SeqCst) {
                if let Some(sink) = sink.upgrade() {
                    gst::element_warning!(
                        sink,
                        gst::StreamError::CodecNotFound,
                        (
                            "viewer {viewer} cannot take H.264 video over WebRTC (its answer refuses it), so it gets no \
                             picture. Fix: use a browser that decodes H.264 (Chrome, Edge, Safari; Firefox with \
                             OpenH264), or a receiver with an H.264 decoder; tdstream sends WebRTC video as H.264 only"
                        )
                    );
                }
            }
        });
    }
    #[cfg(not(feature = "webrtc"))]
    let _ = (webrtcbin, viewer, sink);
}
