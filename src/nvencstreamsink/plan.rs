//! From settings to a plan: checks every combination before anything is built, so that a bad setting
//! fails at start with a message that names the property and the fix.

use super::props::Settings;
use super::{AudioCodec, Mode, SilentAudio, WebrtcEncode};
use crate::encoder::{Codec, EncoderSettings, Profile};
use crate::secrets::Redactor;
use crate::url::{RtmpTarget, SrtTarget, UrlError};
use crate::webrtc::{self, IceError, WebrtcTarget};

pub const MAX_MBPS: f64 = 2000.0;
pub const MIN_MBPS: f64 = 0.01;

/// What the installed GStreamer can do, as far as the plan needs to know.
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

/// Where an RTSP-server stream is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtspTarget {
    pub port: u16,
    pub stream_name: String,
    pub multicast: bool,
}

/// The FLV muxer of mode=rtmp.
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

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Rtmp(RtmpTarget),
    Srt(SrtTarget),
    Rtsp(RtspTarget),
    Webrtc(WebrtcTarget),
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub target: Target,
    pub encoder: EncoderSettings,
    pub audio_codec: AudioCodec,
    /// bit/s.
    pub audio_bitrate: u32,
    /// Whether a silent track replaces an unlinked audio pad.
    pub silent_audio: bool,
    pub fps: u32,
    /// bit/s, 0 = variable.
    pub mux_rate: u64,
    /// Nanoseconds of muxed stream the RTMP queue may hold.
    pub rtmp_buffer_ns: u64,
    /// mode=rtmp: which FLV muxer.
    pub flv: FlvMuxer,
    pub redactor: Redactor,
    pub rtmp_username: Option<String>,
    pub rtmp_password: Option<String>,
    /// Things that work, but not as asked.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("{0}")]
    Ice(#[from] IceError),
    #[error("{setting} cannot be played by browsers over WebRTC: {why}. Fix: {fix}")]
    Browser {
        setting: String,
        why: &'static str,
        fix: &'static str,
    },
    #[error("{0}")]
    Rtsp(String),
    #[error("url: {0}")]
    Url(#[from] UrlError),
    #[error("video-codec={codec} cannot be sent with mode={mode}: {why}. Fix: {fix}")]
    CodecOnProtocol {
        codec: &'static str,
        mode: &'static str,
        why: &'static str,
        fix: &'static str,
    },
    #[error("audio-codec={codec} cannot be sent with mode={mode}: {why}. Fix: {fix}")]
    AudioOnProtocol {
        codec: &'static str,
        mode: &'static str,
        why: &'static str,
        fix: &'static str,
    },
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

fn audio_nick(c: AudioCodec) -> &'static str {
    match c {
        AudioCodec::Mp3 => "mp3",
        AudioCodec::Aac => "aac",
        AudioCodec::Opus => "opus",
    }
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

pub fn plan(s: &Settings, caps: Capabilities) -> Result<Plan, PlanError> {
    let mode_nick = s.mode.nick();

    let mut redactor = Redactor::new();
    let target = match s.mode {
        Mode::RtspServer => {
            crate::rtsp::validate_stream_name(&s.stream_name).map_err(PlanError::Rtsp)?;
            Target::Rtsp(RtspTarget {
                port: u16::try_from(s.port).unwrap_or(8554),
                stream_name: s.stream_name.clone(),
                multicast: s.multicast,
            })
        }
        Mode::Srt => {
            let t = SrtTarget::parse(&s.url)?;
            if let Some(p) = &t.passphrase {
                redactor.add(p);
            }
            Target::Srt(t)
        }
        Mode::Webrtc | Mode::Whip => {
            let t = webrtc_target(s, &mut redactor)?;
            Target::Webrtc(t)
        }
        Mode::Rtmp => {
            let t = RtmpTarget::parse(&s.url)?;
            redactor.add(&t.stream_key);
            if let Some((name, _)) = t.stream_key.split_once('?') {
                // The query (nginx-rtmp `?key=`) is secret as well.
                redactor.add(t.stream_key.trim_start_matches(name));
            }
            if let Some(p) = &t.password {
                redactor.add(p);
            }
            Target::Rtmp(t)
        }
    };
    if let Some(p) = &s.rtmp_password {
        redactor.add(p);
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

    match (&target, e.codec) {
        (Target::Rtsp(_), Codec::Av1) if !caps.rtp_av1 => {
            return Err(PlanError::CodecOnProtocol {
                codec: "av1",
                mode: mode_nick,
                why: "AV1 over RTP needs an AV1 payloader (rtpav1pay: GStreamer 1.24+ or gst-plugins-rs), and none is installed",
                fix: "set video-codec=h264 or video-codec=h265",
            })
        }
        (Target::Srt(_), Codec::Av1) if !caps.ts_av1 => {
            return Err(PlanError::CodecOnProtocol {
                codec: "av1",
                mode: mode_nick,
                why: "AV1 in MPEG-TS needs mpegtsmux with enable-custom-mappings (GStreamer 1.26 or newer)",
                fix: "set video-codec=h264 or video-codec=h265, or upgrade to GStreamer 1.26+",
            })
        }
        _ => {}
    }
    let mut audio_codec = s.audio_codec;
    let mut warnings = Vec::new();
    if let Target::Webrtc(t) = &target {
        audio_codec = browser_checks(s, mode_nick)?;
        if t.per_viewer && s.encoder_name.is_some() {
            warnings.push(
                "encoder-name is not used with webrtc-encode=per-viewer: webrtcsink picks the encoder for each \
                 viewer (NVENC where it ranks first) and tdstream applies its settings to it"
                    .to_string(),
            );
        }
    }
    if matches!(target, Target::Rtmp(_)) && s.audio_codec == AudioCodec::Opus {
        return Err(PlanError::AudioOnProtocol {
            codec: audio_nick(s.audio_codec),
            mode: mode_nick,
            why: "FLV carries only MP3 and AAC audio",
            fix: "set audio-codec=aac (what streaming services expect) or audio-codec=mp3",
        });
    }

    let mut encoder = e.clone();
    if e.profile == Profile::Baseline && e.max_bframes > 0 {
        warnings.push(format!(
            "profile=baseline has no B-frames: max-bframes={} is ignored",
            e.max_bframes
        ));
        encoder.max_bframes = 0;
    }

    let silent_audio = match s.include_silent_audio {
        SilentAudio::On => true,
        SilentAudio::Off => false,
        SilentAudio::Automatic => matches!(target, Target::Rtmp(_)),
    };
    let rtmp_buffer_s = if s.rtmp_buffer_size > 0.0 {
        s.rtmp_buffer_size
    } else {
        2.0
    };
    // H.264 keeps legacy FLV (every server takes it) unless asked; H.265/AV1 need Enhanced RTMP: the
    // system's eflvmux where it takes the codec, else ours.
    let flv = match e.codec {
        Codec::H264 if !s.rtmp_enhanced => FlvMuxer::Legacy,
        Codec::H264 => FlvMuxer::Tdeflvmux,
        Codec::H265 if caps.eflv_h265 => FlvMuxer::Eflvmux,
        Codec::Av1 if caps.eflv_av1 => FlvMuxer::Eflvmux,
        _ => FlvMuxer::Tdeflvmux,
    };
    Ok(Plan {
        target,
        flv,
        encoder,
        audio_codec,
        audio_bitrate: s.audio_bitrate.saturating_mul(1000),
        silent_audio,
        fps: s.fps,
        mux_rate: (s.mux_rate * 1e6).round() as u64,
        rtmp_buffer_ns: (rtmp_buffer_s * 1e9) as u64,
        redactor,
        rtmp_username: s.rtmp_username.clone(),
        rtmp_password: s.rtmp_password.clone(),
        warnings,
    })
}

fn webrtc_target(
    s: &Settings,
    redactor: &mut crate::secrets::Redactor,
) -> Result<WebrtcTarget, PlanError> {
    let whip = s.mode == Mode::Whip;
    webrtc::check_url(&s.url, whip)?;
    // Tokens in a WHIP URL's query or user information are secrets too.
    let url = s.url.trim().to_string();
    if let Some((_, q)) = url.split_once('?') {
        redactor.add(q);
    }
    if let Some((_, rest)) = url.split_once("://") {
        if let Some((user, _)) = rest.split('/').next().unwrap_or_default().rsplit_once('@') {
            redactor.add(user);
        }
    }
    let turn_servers = webrtc::parse_turn(&s.turn_servers)?;
    for secret in webrtc::turn_secrets(&turn_servers) {
        redactor.add(&secret);
    }
    if let Some(token) = &s.bearer_token {
        redactor.add(token);
    }
    Ok(WebrtcTarget {
        whip,
        url,
        stun_server: webrtc::parse_stun(&s.stun_server)?,
        turn_servers,
        ice_addresses: webrtc::parse_addresses(&s.ice_addresses)?,
        bearer_token: s.bearer_token.clone(),
        name: s.stream_name.clone(),
        per_viewer: s.webrtc_encode == WebrtcEncode::PerViewer,
    })
}

/// What browsers decode over WebRTC: H.264 without B-frames, Opus. Returns the audio codec to use (Opus
/// unless audio-codec was set to something else, which is an error).
fn browser_checks(s: &Settings, mode: &'static str) -> Result<AudioCodec, PlanError> {
    let e = &s.encoder;
    if e.codec != Codec::H264 {
        return Err(PlanError::CodecOnProtocol {
            codec: e.codec.nick(),
            mode,
            why: "browsers decode H.264 over WebRTC everywhere, H.265 and AV1 only in some browsers and not \
                  from GStreamer 1.22's payloaders",
            fix: "set video-codec=h264",
        });
    }
    if e.max_bframes > 0 {
        return Err(PlanError::Browser {
            setting: format!("max-bframes={}", e.max_bframes),
            why: "browsers' WebRTC H.264 decoders do not reorder frames, so B-frames play out of order or stall",
            fix: "set max-bframes=0 (and profile=main or profile=baseline)",
        });
    }
    if s.audio_codec_set && s.audio_codec != AudioCodec::Opus {
        return Err(PlanError::AudioOnProtocol {
            codec: audio_nick(s.audio_codec),
            mode,
            why: "Opus is the only audio codec browsers take over WebRTC",
            fix: "set audio-codec=opus, or leave audio-codec unset (Opus is the default for WebRTC and WHIP)",
        });
    }
    Ok(AudioCodec::Opus)
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
    fn rtmp_muxer_per_codec() {
        let mut s = settings(Mode::Rtmp, "rtmp://h/app/k");
        let flv = |s: &Settings, caps| plan(s, caps).unwrap().flv;
        assert_eq!(flv(&s, Capabilities::default()), FlvMuxer::Legacy);
        s.rtmp_enhanced = true;
        assert_eq!(flv(&s, Capabilities::default()), FlvMuxer::Tdeflvmux);
        s.encoder.codec = Codec::H265;
        assert_eq!(flv(&s, Capabilities::default()), FlvMuxer::Tdeflvmux);
        let with_eflv = Capabilities {
            eflv_h265: true,
            ..Default::default()
        };
        assert_eq!(flv(&s, with_eflv), FlvMuxer::Eflvmux);
        s.encoder.codec = Codec::Av1;
        assert_eq!(flv(&s, with_eflv), FlvMuxer::Tdeflvmux);
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
        assert_eq!(p.audio_codec, AudioCodec::Opus);
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
        let Target::Webrtc(t) = p.target else {
            panic!("not a WebRTC target")
        };
        assert!(t.whip && t.turn_servers.len() == 1);
    }

    #[test]
    fn rtsp_server_needs_no_url_but_a_valid_stream_name() {
        let mut s = settings(Mode::RtspServer, "");
        let p = plan(&s, Capabilities::default()).unwrap();
        assert!(matches!(
            p.target,
            Target::Rtsp(RtspTarget { port: 8554, .. })
        ));
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
}
