//! From settings to a plan: checks every combination before anything is built, so that a bad setting
//! fails at start with a message that names the property and the fix.

use std::sync::Arc;

use super::props::Settings;
use super::{AudioCodec, Mode, SilentAudio, WebrtcEncode};
use crate::encoder::{Codec, EncoderSettings, Profile};
use crate::secrets::Redactor;
use crate::transport::rtsp::RtspTarget;
use crate::transport::{self, Capabilities, Context, Destination, DestinationError, Media};

pub const MAX_MBPS: f64 = 2000.0;
pub const MIN_MBPS: f64 = 0.01;

/// One destination and the audio codec it gets.
#[derive(Debug, Clone)]
pub struct Planned {
    pub destination: Arc<dyn Destination>,
    pub audio_codec: AudioCodec,
    /// The URL as written (secret: never shown), to tell which destinations a new list keeps.
    pub url: String,
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// Where the stream goes: one destination (`mode` + `url`) or the `destinations` list, in order.
    pub destinations: Vec<Planned>,
    /// The destinations come from the `destinations` list (which can change while PLAYING): each gets
    /// its own buffer behind a tee, even when there is only one.
    pub listed: bool,
    pub encoder: EncoderSettings,
    /// bit/s.
    pub audio_bitrate: u32,
    /// Whether a silent track replaces an unlinked audio pad.
    pub silent_audio: bool,
    pub fps: u32,
    pub redactor: Redactor,
    /// Things that work, but not as asked.
    pub warnings: Vec<String>,
    /// adaptive-bitrate: the video bitrate's range (kbit/s, min to avg-bitrate).
    pub adaptive: Option<(u32, u32)>,
}

impl Plan {
    /// The audio codecs the destinations need, each once, in the order of the destinations.
    pub fn audio_codecs(&self) -> Vec<AudioCodec> {
        let mut out = Vec::new();
        for p in &self.destinations {
            if !out.contains(&p.audio_codec) {
                out.push(p.audio_codec);
            }
        }
        out
    }

    /// Whether this audio codec's encoder must write perfect timestamps for one of its destinations.
    pub fn perfect_audio_timestamps(&self, codec: AudioCodec) -> bool {
        self.destinations
            .iter()
            .any(|p| p.audio_codec == codec && p.destination.audio_perfect_timestamps())
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("destinations: destination {index} ({shown}): {error}")]
    Destination {
        /// 1-based, as users count.
        index: usize,
        shown: String,
        error: DestinationError,
    },
    #[error(
        "destinations: '{shown}' is not a destination URL. Fix: start each destination with rtmp://, rtmps://, \
         srt://, rtsp://, ws://, wss:// (WebRTC signalling), http:// or https:// (WHIP); separate destinations \
         with spaces"
    )]
    UnknownScheme { shown: String },
    #[error(
        "destinations: webrtc-encode=per-viewer encodes for each viewer and cannot share the encode with other \
         destinations. Fix: set webrtc-encode=shared, or stream to that destination alone"
    )]
    PerViewerShared,
    #[error(
        "min-bitrate={min} is above avg-bitrate={avg}: the adaptive bitrate moves between the two. Fix: set \
         min-bitrate below avg-bitrate, or 0 for a quarter of it"
    )]
    MinAboveAvg { min: f64, avg: f64 },
    #[error("destinations: destination {index} repeats destination {first}. Fix: list each destination once")]
    Repeated { index: usize, first: usize },
    /// A destination that cannot be (its URL, or a setting it cannot carry).
    #[error("{0}")]
    Transport(#[from] DestinationError),
    #[error(
        "profile={profile} does not exist for video-codec={codec}. Fix: set profile=main{extra}"
    )]
    Profile {
        profile: &'static str,
        codec: &'static str,
        extra: &'static str,
    },
    #[error("{property}={value} is out of range. Fix: set {property} between {min} and {max} ({unit}), e.g. {property}={example}")]
    Range {
        property: &'static str,
        value: String,
        min: f64,
        max: f64,
        unit: &'static str,
        example: &'static str,
    },
}

fn check_range(
    property: &'static str,
    value: f64,
    min: f64,
    max: f64,
    unit: &'static str,
    example: &'static str,
) -> Result<(), PlanError> {
    if value.is_finite() && value >= min && value <= max {
        Ok(())
    } else {
        Err(PlanError::Range {
            property,
            value: format!("{value}"),
            min,
            max,
            unit,
            example,
        })
    }
}

/// What the transports read from the element's properties, each transport its own options.
pub(crate) fn context(s: &Settings, caps: Capabilities) -> Context {
    Context {
        codec: s.encoder.codec,
        caps,
        rtmp: transport::rtmp::Options {
            enhanced: s.rtmp_enhanced,
            buffer_size_s: s.rtmp_buffer_size,
            username: s.rtmp_username.clone(),
            password: s.rtmp_password.clone(),
            tls_validation: s.tls_validation_flags,
            tcp_nodelay: s.rtmp_tcp_nodelay,
            timecode_interval: s.rtmp_timecode_interval,
        },
        srt: transport::srt::Options {
            mux_rate_bps: (s.mux_rate * 1e6).round() as u64,
        },
        webrtc: transport::webrtc::Options {
            stun_server: s.stun_server.clone(),
            turn_servers: s.turn_servers.clone(),
            ice_addresses: s.ice_addresses.clone(),
            bearer_token: s.bearer_token.clone(),
            stream_name: s.stream_name.clone(),
            per_viewer: s.webrtc_encode == WebrtcEncode::PerViewer,
            encoder_name_set: s.encoder_name.is_some(),
        },
    }
}

pub fn plan(s: &Settings, caps: Capabilities) -> Result<Plan, PlanError> {
    let ctx = context(s, caps);
    let listed = super::list::split(&s.destinations);
    let mut destinations = Vec::new();
    let mut urls: Vec<String> = listed.iter().map(|u| u.to_string()).collect();
    if listed.is_empty() {
        // The one-destination form: `mode` picks the transport, `url` (or, for the RTSP server, `port`,
        // `stream-name` and `multicast`) says where.
        let url = match s.mode {
            Mode::RtspServer => RtspTarget::url_of(s.port, &s.stream_name, s.multicast),
            _ => s.url.clone(),
        };
        destinations.push((transport::for_mode(s.mode).parse)(&url, &ctx)?);
        urls.push(url);
    } else {
        for (i, url) in listed.iter().enumerate() {
            if let Some(first) = listed[..i].iter().position(|u| u == url) {
                return Err(PlanError::Repeated {
                    index: i + 1,
                    first: first + 1,
                });
            }
            let kind = transport::for_url(url).ok_or_else(|| PlanError::UnknownScheme {
                shown: crate::transport::url::shown_unparsed(url),
            })?;
            let d = (kind.parse)(url, &ctx).map_err(|e| PlanError::Destination {
                index: i + 1,
                shown: format!("{}://…", kind.schemes[0]),
                error: e,
            })?;
            destinations.push(d);
        }
    }
    let mut redactor = Redactor::new();
    for secret in destinations.iter().flat_map(|d| d.secrets()) {
        redactor.add(&secret);
    }
    if let Some(p) = &s.rtmp_password {
        redactor.add(p);
    }
    if destinations.len() > 1 && destinations.iter().any(|d| d.encodes_per_viewer()) {
        return Err(PlanError::PerViewerShared);
    }

    let e = &s.encoder;
    check_range(
        "avg-bitrate",
        e.avg_bitrate,
        MIN_MBPS,
        MAX_MBPS,
        "Mbit/s",
        "4",
    )?;
    check_range(
        "max-bitrate",
        e.max_bitrate,
        0.0,
        MAX_MBPS,
        "Mbit/s; 0 = twice avg-bitrate",
        "8",
    )?;
    check_range(
        "min-bitrate",
        s.min_bitrate,
        0.0,
        MAX_MBPS,
        "Mbit/s; 0 = a quarter of avg-bitrate",
        "1",
    )?;
    if s.min_bitrate > e.avg_bitrate {
        return Err(PlanError::MinAboveAvg {
            min: s.min_bitrate,
            avg: e.avg_bitrate,
        });
    }
    check_range(
        "mux-rate",
        s.mux_rate,
        0.0,
        MAX_MBPS,
        "Mbit/s; 0 = automatic",
        "0",
    )?;
    check_range(
        "rtmp-buffer-size",
        s.rtmp_buffer_size,
        0.0,
        60.0,
        "seconds; 0 = automatic",
        "2",
    )?;
    check_range(
        "reconnect-interval",
        s.reconnect_interval,
        0.0,
        3600.0,
        "seconds",
        "1",
    )?;
    check_range(
        "reconnect-max-interval",
        s.reconnect_max_interval,
        0.0,
        3600.0,
        "seconds",
        "30",
    )?;

    if e.profile.caps_name(e.codec).is_none() {
        return Err(PlanError::Profile {
            profile: e.profile.nick(),
            codec: e.codec.nick(),
            extra: if e.codec == Codec::H264 {
                ""
            } else {
                " (baseline and high are H.264 profiles)"
            },
        });
    }

    // Each destination checks what it gets; the audio codec may differ between them (AAC for RTMP,
    // Opus for WebRTC), and is then encoded once per codec.
    let several = destinations.len() > 1;
    let mut planned = Vec::new();
    let mut urls = urls.into_iter();
    let mut warnings = Vec::new();
    for (i, destination) in destinations.into_iter().enumerate() {
        let mut media = Media {
            encoder: e.clone(),
            audio_codec: s.audio_codec,
            audio_codec_set: s.audio_codec_set,
            warnings: Vec::new(),
        };
        if let Err(error) = destination.check(&mut media) {
            return Err(if several {
                PlanError::Destination {
                    index: i + 1,
                    shown: destination.shown(),
                    error,
                }
            } else {
                PlanError::Transport(error)
            });
        }
        warnings.append(&mut media.warnings);
        planned.push(Planned {
            destination,
            audio_codec: media.audio_codec,
            url: urls.next().unwrap_or_default(),
        });
    }
    let mut encoder = e.clone();
    if encoder.profile == Profile::Baseline && encoder.max_bframes > 0 {
        warnings.push(format!(
            "profile=baseline has no B-frames: max-bframes={} is ignored",
            encoder.max_bframes
        ));
        encoder.max_bframes = 0;
    }

    let adaptive = if !s.adaptive_bitrate {
        None
    } else if planned.iter().any(|p| p.destination.encodes_per_viewer()) {
        warnings.push(
            "adaptive-bitrate is off: with webrtc-encode=per-viewer, webrtcsink adapts each viewer's bitrate itself"
                .to_string(),
        );
        None
    } else {
        let max = encoder.avg_kbps();
        let min = if s.min_bitrate > 0.0 {
            crate::encoder::settings::mbps_to_kbps(s.min_bitrate)
        } else {
            max / 4
        };
        encoder.live_bitrate = true;
        Some((min.max(1), max))
    };

    let silent_audio = match s.include_silent_audio {
        SilentAudio::On => true,
        SilentAudio::Off => false,
        SilentAudio::Automatic => planned
            .iter()
            .any(|p| p.destination.silent_audio_by_default()),
    };
    Ok(Plan {
        // webrtcsink encoding per viewer takes raw video: never behind a tee (and alone, see above).
        listed: !listed.is_empty() && !planned.iter().any(|p| p.destination.encodes_per_viewer()),
        destinations: planned,
        encoder,
        audio_bitrate: s.audio_bitrate.saturating_mul(1000),
        silent_audio,
        fps: s.fps,
        redactor,
        warnings,
        adaptive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(mode: Mode, url: &str) -> Settings {
        Settings {
            mode,
            url: url.to_string(),
            ..Default::default()
        }
    }

    #[test]
    fn rtmp_h264_with_silent_audio_by_default() {
        let p = plan(
            &settings(Mode::Rtmp, "rtmp://127.0.0.1/live/KEY123"),
            Capabilities::default(),
        )
        .unwrap();
        assert!(p.silent_audio);
        assert_eq!(
            p.redactor.redact("rtmp://127.0.0.1/live/KEY123"),
            "rtmp://127.0.0.1/live/<redacted>"
        );
    }

    #[test]
    fn srt_has_no_silent_audio_by_default() {
        let p = plan(
            &settings(Mode::Srt, "srt://:9000?mode=listener"),
            Capabilities::default(),
        )
        .unwrap();
        assert!(!p.silent_audio);
    }

    #[test]
    fn av1_over_srt_needs_126() {
        let mut s = settings(Mode::Srt, "srt://127.0.0.1:9000");
        s.encoder.codec = Codec::Av1;
        let e = plan(&s, Capabilities::default()).unwrap_err().to_string();
        assert!(e.contains("1.26"), "{e}");
    }

    #[test]
    fn opus_over_rtmp_is_refused() {
        let mut s = settings(Mode::Rtmp, "rtmp://h/app/k");
        s.audio_codec = AudioCodec::Opus;
        let e = plan(&s, Capabilities::default()).unwrap_err().to_string();
        assert!(e.contains("audio-codec=aac"), "{e}");
    }

    #[test]
    fn profiles_per_codec() {
        let mut s = settings(Mode::Srt, "srt://127.0.0.1:9000");
        s.encoder.codec = Codec::H265;
        s.encoder.profile = Profile::High;
        let e = plan(&s, Capabilities::default()).unwrap_err().to_string();
        assert!(
            e.contains("profile=high") && e.contains("profile=main"),
            "{e}"
        );
    }

    #[test]
    fn absurd_and_negative_bitrates() {
        for v in [-5.0, 0.0, 5000.0, f64::NAN] {
            let mut s = settings(Mode::Srt, "srt://127.0.0.1:9000");
            s.encoder.avg_bitrate = v;
            let e = plan(&s, Capabilities::default()).unwrap_err().to_string();
            assert!(
                e.starts_with("avg-bitrate=") && e.contains("between 0.01 and 2000"),
                "{e}"
            );
        }
    }

    #[test]
    fn webrtc_defaults_to_opus_and_checks_what_browsers_play() {
        let mut s = settings(Mode::Webrtc, "ws://127.0.0.1:8443");
        let p = plan(&s, Capabilities::default()).unwrap();
        assert_eq!(p.destinations[0].audio_codec, AudioCodec::Opus);
        assert!(!p.silent_audio);
        s.audio_codec = AudioCodec::Aac;
        s.audio_codec_set = true;
        let e = plan(&s, Capabilities::default()).unwrap_err().to_string();
        assert!(
            e.contains("audio-codec=aac") && e.contains("Fix: set audio-codec=opus"),
            "{e}"
        );
        s.audio_codec_set = false;
        s.encoder.max_bframes = 2;
        let e = plan(&s, Capabilities::default()).unwrap_err().to_string();
        assert!(
            e.starts_with("max-bframes=2 cannot be played by browsers"),
            "{e}"
        );
        s.encoder.max_bframes = 0;
        s.encoder.codec = Codec::H265;
        let e = plan(&s, Capabilities::default()).unwrap_err().to_string();
        assert!(
            e.contains("video-codec=h265") && e.contains("Fix: set video-codec=h264"),
            "{e}"
        );
        let e = plan(
            &settings(Mode::Webrtc, "rtmp://h/app/k"),
            Capabilities::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("ws:// or wss://"), "{e}");
    }

    #[test]
    fn whip_secrets_are_redacted() {
        let mut s = settings(Mode::Whip, "https://h/whip?token=qwerty");
        s.bearer_token = Some("tok-123".into());
        s.turn_servers = "turn://al:pw-9@t:3478".into();
        let p = plan(&s, Capabilities::default()).unwrap();
        let r = p.redactor.redact("token=qwerty tok-123 al:pw-9");
        assert!(
            !r.contains("qwerty") && !r.contains("tok-123") && !r.contains("pw-9"),
            "{r}"
        );
        assert_eq!(p.destinations[0].destination.kind().name, "whip");
        assert_eq!(
            p.destinations[0].destination.shown(),
            "https://h/whip?<redacted>"
        );
    }

    #[test]
    fn rtsp_server_needs_no_url_but_a_valid_stream_name() {
        let mut s = settings(Mode::RtspServer, "");
        let p = plan(&s, Capabilities::default()).unwrap();
        assert_eq!(p.destinations[0].destination.kind().name, "rtsp");
        assert!(
            p.destinations[0].destination.shown().contains(":8554/"),
            "{}",
            p.destinations[0].destination.shown()
        );
        assert!(!p.silent_audio);
        s.stream_name = "bad/name".into();
        let e = plan(&s, Capabilities::default()).unwrap_err().to_string();
        assert!(e.contains("stream-name 'bad/name'"), "{e}");
    }

    #[test]
    fn baseline_drops_bframes_with_a_warning() {
        let mut s = settings(Mode::Srt, "srt://127.0.0.1:9000");
        s.encoder.profile = Profile::Baseline;
        s.encoder.max_bframes = 2;
        let p = plan(&s, Capabilities::default()).unwrap();
        assert_eq!(p.encoder.max_bframes, 0);
        assert_eq!(p.warnings.len(), 1);
    }

    #[test]
    fn passwords_are_redacted() {
        let mut s = settings(Mode::Rtmp, "rtmp://u:pw-secret@h/app/name?key=abc123");
        s.rtmp_password = Some("other-secret".into());
        let p = plan(&s, Capabilities::default()).unwrap();
        let r = p
            .redactor
            .redact("pw-secret other-secret name?key=abc123 ?key=abc123");
        assert!(!r.contains("secret") && !r.contains("abc123"), "{r}");
    }

    #[test]
    fn several_destinations_share_one_encode_with_an_audio_codec_each() {
        let mut s = settings(Mode::Rtmp, "");
        s.destinations =
            "rtmp://h/app/KEY-1 srt://h:9000?streamid=alice:PW-2 ws://h:8443 rtsp://:8554/cam"
                .into();
        let p = plan(&s, Capabilities::default()).unwrap();
        let names: Vec<_> = p
            .destinations
            .iter()
            .map(|d| (d.destination.kind().name, d.audio_codec))
            .collect();
        assert_eq!(
            names,
            [
                ("rtmp", AudioCodec::Aac),
                ("srt", AudioCodec::Aac),
                ("webrtc", AudioCodec::Opus),
                ("rtsp", AudioCodec::Aac)
            ]
        );
        assert_eq!(p.audio_codecs(), [AudioCodec::Aac, AudioCodec::Opus]);
        assert!(p.silent_audio, "RTMP is among them");
        let r = p.redactor.redact("KEY-1 alice:PW-2");
        assert_eq!(r, "<redacted> <redacted>");
    }

    #[test]
    fn a_destination_that_cannot_carry_the_encode_is_named_with_the_fix() {
        let mut s = settings(Mode::Rtmp, "");
        s.destinations = "rtmp://h/app/k ws://127.0.0.1:8443".into();
        s.encoder.max_bframes = 2;
        let e = plan(&s, Capabilities::default()).unwrap_err().to_string();
        assert!(
            e.starts_with("destinations: destination 2 (ws://127.0.0.1:8443): max-bframes=2")
                && e.contains("Fix: set max-bframes=0"),
            "{e}"
        );
        s.destinations = "rtmp:h/app+k ftp://h/app/SECRET".into();
        let e = plan(&s, Capabilities::default()).unwrap_err().to_string();
        assert!(
            e.contains("'ftp://h/app/<redacted>'") && e.contains("rtmp://, rtmps://"),
            "{e}"
        );
        s.destinations = "rtmp://h/app/k srt://h?mode=caller".into();
        s.encoder.max_bframes = 0;
        let e = plan(&s, Capabilities::default()).unwrap_err().to_string();
        assert!(
            e.starts_with("destinations: destination 2 (srt://…): url"),
            "{e}"
        );
        s.destinations = "ws://h:1 rtmp://h/app/k".into();
        s.webrtc_encode = super::super::WebrtcEncode::PerViewer;
        let e = plan(&s, Capabilities::default()).unwrap_err();
        assert_eq!(e, PlanError::PerViewerShared);
    }
}
