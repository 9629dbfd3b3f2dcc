//! The properties of `nvencstreamsink`: the [`Settings`] they hold, their ParamSpecs (the reference
//! manual that `gst-inspect-1.0` prints) and the set/get plumbing.

use gst::glib;
use gst::prelude::*;

use super::{AudioCodec, ConnectionState, Mode, SilentAudio, WebrtcEncode};
use crate::encoder::select::EncoderPolicy;
use crate::encoder::EncoderSettings;

pub const DEFAULT_PORT: u32 = 8554;
pub const DEFAULT_STREAM_NAME: &str = "tdvidstream";
pub const DEFAULT_AUDIO_BITRATE: u32 = 128;
pub const DEFAULT_RECONNECT_INTERVAL: f64 = 1.0;
pub const DEFAULT_RECONNECT_MAX_INTERVAL: f64 = 30.0;
pub const DEFAULT_STATS_INTERVAL: u32 = 1000;

/// Everything the user set. Copied into the running state when the element starts (NULL→READY).
#[derive(Debug, Clone)]
pub struct Settings {
    pub active: bool,
    pub mode: Mode,
    pub url: String,
    /// Whitespace-separated destination URLs; when set, `mode` and `url` are not used.
    pub destinations: String,
    pub port: u32,
    pub stream_name: String,
    pub multicast: bool,
    pub fps: u32,
    pub encoder: EncoderSettings,
    pub encoder_policy: EncoderPolicy,
    pub encoder_name: Option<String>,
    /// Mbit/s, 0 = automatic.
    pub mux_rate: f64,
    /// Seconds, 0 = automatic.
    pub rtmp_buffer_size: f64,
    /// Enhanced FLV for H.264 as well (H.265/AV1 always use it).
    pub rtmp_enhanced: bool,
    /// TCP_NODELAY on the RTMP connection.
    pub rtmp_tcp_nodelay: bool,
    /// Every how many pictures an RTMP destination sends an onMetaData update with the timecode; 0 = never.
    pub rtmp_timecode_interval: u32,
    pub audio_codec: AudioCodec,
    /// Whether audio-codec was set (mode=webrtc/whip use Opus unless it was).
    pub audio_codec_set: bool,
    /// kbit/s.
    pub audio_bitrate: u32,
    pub include_silent_audio: SilentAudio,
    pub rtmp_username: Option<String>,
    pub rtmp_password: Option<String>,
    /// rtmps://: what the server's certificate is checked for (rtmp2sink's flags).
    pub tls_validation_flags: gio::TlsCertificateFlags,
    pub reconnect_attempts: i32,
    pub reconnect_interval: f64,
    pub reconnect_max_interval: f64,
    /// ms, 0 = no stats messages.
    pub stats_interval: u32,
    pub adaptive_bitrate: bool,
    /// Mbit/s; 0 = a quarter of avg-bitrate.
    pub min_bitrate: f64,
    pub webrtc_encode: WebrtcEncode,
    pub stun_server: String,
    /// Comma-separated TURN URLs (secret: they carry credentials).
    pub turn_servers: String,
    /// Comma-separated local IP addresses for ICE.
    pub ice_addresses: String,
    pub bearer_token: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            active: true,
            mode: Mode::Rtmp,
            url: String::new(),
            destinations: String::new(),
            port: DEFAULT_PORT,
            stream_name: DEFAULT_STREAM_NAME.to_string(),
            multicast: false,
            fps: 0,
            encoder: EncoderSettings::default(),
            encoder_policy: EncoderPolicy::Auto,
            encoder_name: None,
            mux_rate: 0.0,
            rtmp_buffer_size: 0.0,
            rtmp_enhanced: false,
            rtmp_tcp_nodelay: true,
            rtmp_timecode_interval: 1,
            audio_codec: AudioCodec::Aac,
            audio_codec_set: false,
            audio_bitrate: DEFAULT_AUDIO_BITRATE,
            include_silent_audio: SilentAudio::Automatic,
            rtmp_username: None,
            rtmp_password: None,
            tls_validation_flags: gio::TlsCertificateFlags::VALIDATE_ALL,
            reconnect_attempts: -1,
            reconnect_interval: DEFAULT_RECONNECT_INTERVAL,
            reconnect_max_interval: DEFAULT_RECONNECT_MAX_INTERVAL,
            stats_interval: DEFAULT_STATS_INTERVAL,
            adaptive_bitrate: false,
            min_bitrate: 0.0,
            webrtc_encode: WebrtcEncode::Shared,
            stun_server: String::new(),
            turn_servers: String::new(),
            ice_addresses: String::new(),
            bearer_token: None,
        }
    }
}

/// Bitrates and times are checked when the stream starts, with an error that names the property and the
/// fix; the ParamSpec ranges are therefore wide, so a bad value is never silently ignored by GLib.
const WIDE: f64 = 1.0e9;

fn uint(name: &str, nick: &str, blurb: &str, min: u32, max: u32, default: u32) -> glib::ParamSpec {
    glib::ParamSpecUInt::builder(name)
        .nick(nick)
        .blurb(blurb)
        .minimum(min)
        .maximum(max)
        .default_value(default)
        .mutable_ready()
        .build()
}

fn double(name: &str, nick: &str, blurb: &str, default: f64) -> glib::ParamSpec {
    glib::ParamSpecDouble::builder(name)
        .nick(nick)
        .blurb(blurb)
        .minimum(-WIDE)
        .maximum(WIDE)
        .default_value(default)
        .mutable_ready()
        .build()
}

fn string(name: &str, nick: &str, blurb: &str, default: Option<&str>) -> glib::ParamSpec {
    glib::ParamSpecString::builder(name)
        .nick(nick)
        .blurb(blurb)
        .default_value(default)
        .mutable_ready()
        .build()
}

pub fn specs() -> Vec<glib::ParamSpec> {
    let d = Settings::default();
    let e = &d.encoder;
    vec![
        glib::ParamSpecBoolean::builder("active")
            .nick("Active")
            .blurb("Stream when true. When false, input is dropped and no connection or port is open; changing it while PLAYING closes or reopens the connection (an RTSP mount is removed, and its port freed when it was the last) without stopping the pipeline")
            .default_value(d.active)
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("mode", d.mode)
            .nick("Mode")
            .blurb("How the stream leaves the machine: rtsp-server, rtmp, srt, webrtc, whip (webrtc and whip need \
                    tdstream's WebRTC plugin libgsttdstreamwebrtc.so, which ./run build builds, or gst-plugins-rs' \
                    own webrtc plugin)")
            .mutable_ready()
            .build(),
        string("url", "Destination URL",
            "RTMP: {service url}/{stream key}, e.g. rtmp://live.example.com/app/KEY (credentials may be user:pass@host); \
             SRT: srt://host:port?mode=caller|listener|rendezvous&latency=ms&passphrase=...&pbkeylen=16|24|32&streamid=...; \
             WebRTC: the signalling server, ws://host:port or wss://host:port (gst-plugins-rs protocol; tdstream-signalling \
             is one); WHIP: the endpoint, http(s)://host[:port]/path; secrets are never logged", None),
        glib::ParamSpecString::builder("destinations")
            .nick("Destinations")
            .blurb(
            "One encode to several destinations: their URLs separated by spaces; each URL's scheme picks its transport \
             and every option of that destination is written in its URL. rtmp://[user:pass@]host[:port]/app/KEY and \
             rtmps://... (RTMP; rtmp-username/rtmp-password apply to all RTMP destinations); \
             srt://host:port?mode=caller|listener|rendezvous&latency=ms&passphrase=...&pbkeylen=...&streamid=... (SRT); \
             rtsp://[address]:port/stream-name[?multicast=true] (RTSP server in this process); ws:// or wss:// \
             (WebRTC signalling server; #name=PRODUCER, else stream-name); http:// or https:// (WHIP endpoint; \
             #bearer-token=TOKEN, else bearer-token). \
             Each destination connects, reconnects (reconnect-*), buffers and drops on its own, so one that is down or \
             slow never stalls the others. When set, mode and url are not used; when empty (default), mode + url is the \
             one destination. Changed while PLAYING, destinations that appear start (with a keyframe for them), those \
             that disappear stop and release their connection or port, unchanged ones are not touched; one that cannot \
             start (its port taken) is named in a warning and left out, and setting destinations again retries it. \
             Reads back with secrets redacted")
            .mutable_playing()
            .build(),
        uint("port", "Network Port",
            "mode=rtsp-server: TCP port of the RTSP server; streams on the same port share one server", 1, 65535, d.port),
        string("stream-name", "Stream Name",
            "mode=rtsp-server: mount name, clients open rtsp://host:port/<stream-name> (letters, digits, - _ . ~); \
             mode=webrtc: the producer's name that viewers see in the signalling server's list (meta field name)",
            Some(DEFAULT_STREAM_NAME)),
        glib::ParamSpecBoolean::builder("multicast")
            .nick("Multi-Cast")
            .blurb("mode=rtsp-server: also offer multicast UDP to clients that ask for it")
            .default_value(false)
            .mutable_ready()
            .build(),
        uint("fps", "FPS", "Output frame rate (frames/s); 0 = the input's rate", 0, 240, d.fps),
        glib::ParamSpecEnum::builder_with_default("video-codec", e.codec)
            .nick("Video Codec")
            .blurb("Video codec; a codec the mode cannot carry fails at start with the reason")
            .mutable_ready()
            .build(),
        glib::ParamSpecEnum::builder_with_default("profile", e.profile)
            .nick("Profile")
            .blurb("Encoding profile: baseline and high are H.264 only; main exists for every codec")
            .mutable_ready()
            .build(),
        glib::ParamSpecEnum::builder_with_default("quality", e.quality)
            .nick("Quality")
            .blurb("Latency/quality trade-off, mapped to the NVENC preset and tune or the x264/x265 speed-preset")
            .mutable_ready()
            .build(),
        uint("keyframe-interval", "Keyframe Interval",
            "Frames between keyframes (IDR); 0 = the encoder's default", 0, 100_000, e.keyframe_interval),
        uint("max-bframes", "Max B-Frames",
            "Maximum consecutive B-frames (frames); 0 = none (lowest latency; required by profile=baseline)",
            0, 16, e.max_bframes),
        uint("intra-refresh-period", "Intra-Refresh Period",
            "Frames over which a rolling intra refresh runs instead of keyframes; 0 = off. Where the encoder has no intra refresh (NVENC in GStreamer) a warning names it",
            0, 100_000, e.intra_refresh_period),
        uint("intra-refresh-length", "Intra-Refresh Length",
            "Frames of one intra-refresh wave; 0 = the encoder's default", 0, 100_000, e.intra_refresh_length),
        glib::ParamSpecEnum::builder_with_default("bitrate-mode", e.bitrate_mode)
            .nick("Bitrate Mode")
            .blurb("Rate control: constant or variable bitrate, optionally high quality (two-pass on NVENC)")
            .mutable_ready()
            .build(),
        double("avg-bitrate", "Average Bitrate",
            "Average (CBR: constant) video bitrate (Mbit/s, 0.01 to 2000; checked at start)", e.avg_bitrate),
        double("max-bitrate", "Max Bitrate",
            "Peak video bitrate for VBR modes (Mbit/s, up to 2000); 0 = twice avg-bitrate. Not with x264 in software (x264enc caps the peak at its bitrate; a warning says so)", e.max_bitrate),
        uint("num-slices", "Num Slices",
            "Slices per picture; 0 = the encoder's default (NVENC: one; x264 with a low-latency quality: one per core). NVENC needs GStreamer 1.28+", 0, 64, e.num_slices),
        double("mux-rate", "Mux Rate",
            "SRT: constant MPEG-TS multiplex rate with null-packet padding (Mbit/s); 0 = variable (automatic)", d.mux_rate),
        uint("vbv-buffer-size", "VBV Buffer Size",
            "Video buffering verifier size (kbit); 0 = automatic", 0, 2_048_000, e.vbv_buffer_size),
        double("rtmp-buffer-size", "RTMP Buffer Size",
            "RTMP: how much muxed stream may wait for the network (seconds); 0 = automatic (2 s)", d.rtmp_buffer_size),
        glib::ParamSpecBoolean::builder("rtmp-enhanced")
            .nick("Enhanced RTMP")
            .blurb("RTMP: send H.264 as Enhanced RTMP (FourCC avc1) too, for servers that want it; H.265 and AV1 \
                    always use Enhanced RTMP (eflvmux where GStreamer has it, else tdeflvmux); off = H.264 in \
                    legacy FLV, which every server takes")
            .default_value(false)
            .mutable_ready()
            .build(),
        glib::ParamSpecBoolean::builder("rtmp-tcp-nodelay")
            .nick("RTMP TCP_NODELAY")
            .blurb("RTMP: turn off Nagle's algorithm (TCP_NODELAY) on the connection to the server, so the end \
                    of each picture leaves at once instead of waiting until the server has acknowledged what \
                    came before. rtmp2sink does not set it; nvencstreamsink sets it once connected, on this \
                    process's connections to the server's address and port (another RTMP connection of the \
                    process to the same server gets it too). off = the system's default (Nagle on)")
            .default_value(d.rtmp_tcp_nodelay)
            .mutable_ready()
            .build(),
        uint("rtmp-timecode-interval", "RTMP Timecode Interval",
            "RTMP: before every N-th picture, an onMetaData update (the muxer's own, plus a string 'timecode', \
             hh:mm:ss:ff) on the picture's timestamp, as broadcast encoders send timecode in RTMP: the picture's \
             own timecode where tdmetainject put one in its SEI (timecode=true, from a GstVideoTimeCodeMeta, \
             e.g. timecodestamper), else one derived from its presentation time at the stream's frame rate. \
             1 = every picture, 0 = off. nginx-rtmp passes the field to its players only with 'meta copy' (its \
             default 'meta on' sends onMetaData of its own); FFmpeg reads it as the 'timecode' metadata key",
            0, 3600, d.rtmp_timecode_interval),
        glib::ParamSpecEnum::builder_with_default("audio-codec", d.audio_codec)
            .nick("Audio Codec")
            .blurb("Audio codec for the audio pad or the silent track")
            .mutable_ready()
            .build(),
        uint("audio-bitrate", "Audio Bit Rate", "Audio bitrate (kbit/s)", 8, 512, d.audio_bitrate),
        glib::ParamSpecEnum::builder_with_default("include-silent-audio", d.include_silent_audio)
            .nick("Silent Audio")
            .blurb("Send a silent audio track when no audio pad is linked")
            .mutable_ready()
            .build(),
        glib::ParamSpecEnum::builder_with_default("encoder", d.encoder_policy)
            .nick("Encoder")
            .blurb("Encoder policy: auto prefers NVENC and falls back to software with a warning; nvenc fails instead")
            .mutable_ready()
            .build(),
        string("encoder-name", "Encoder Name",
            "Force this encoder element (e.g. nvh264enc, x264enc, vah264enc); empty = chosen by the encoder policy", None),
        string("rtmp-username", "RTMP Username",
            "RTMP: user name for servers that challenge (Adobe/Limelight auth); also accepted as user:pass@ in url", None),
        glib::ParamSpecString::builder("rtmp-password")
            .nick("RTMP Password")
            .blurb("RTMP: password for servers that challenge; write-only and never logged")
            .write_only()
            .mutable_ready()
            .build(),
        glib::ParamSpecFlags::builder::<gio::TlsCertificateFlags>("tls-validation-flags")
            .nick("TLS Validation Flags")
            .blurb("rtmps://: what the server's TLS certificate is checked for, as rtmp2sink's property of the same name \
                    (default validate-all). A certificate the system does not trust (self-signed, a private CA) fails at \
                    once, not retried; to reach such a server install its CA in the system's trust store, or set \
                    tls-validation-flags=0 (no check: a warning says so at start; only for a server you trust)")
            .default_value(d.tls_validation_flags)
            .mutable_ready()
            .build(),
        glib::ParamSpecInt::builder("reconnect-attempts")
            .nick("Reconnect Attempts")
            .blurb("RTMP and SRT caller/rendezvous: how many times to reconnect when the connection fails or drops, \
                    counted since it was last up; 0 = never (the error stops the pipeline), -1 = forever. Meanwhile the \
                    pipeline keeps playing and frames for the link are dropped and counted. Refused credentials or a \
                    wrong passphrase are never retried. Each change is posted as nvencstreamsink-connection")
            .minimum(-1)
            .default_value(d.reconnect_attempts)
            .mutable_ready()
            .build(),
        double("reconnect-interval", "Reconnect Interval",
            "Delay before the first reconnection attempt (seconds); doubled for each further attempt, with +-20 % jitter, \
             up to reconnect-max-interval", d.reconnect_interval),
        double("reconnect-max-interval", "Reconnect Max Interval",
            "Longest delay between two reconnection attempts (seconds)", d.reconnect_max_interval),
        glib::ParamSpecUInt::builder("stats-interval")
            .nick("Stats Interval")
            .blurb("Post the stats structure as element message nvencstreamsink-stats every this many ms (0 = never); \
                    the stats property is current whenever it is read")
            .default_value(d.stats_interval)
            .mutable_playing()
            .build(),
        glib::ParamSpecBoolean::builder("adaptive-bitrate")
            .nick("Adaptive Bitrate")
            .blurb("Make the video bitrate follow what the network carries, between min-bitrate and avg-bitrate, on the \
                    running encoder (no keyframe, no gap): down at once when a destination cannot keep up (its buffer \
                    fills or drops, the network takes less than it is given, SRT loses or drops packets), back up in \
                    steps of x1.2 after 4 s without trouble, staying just below the rate last seen to fail for 20 s. With \
                    several destinations it follows the slowest connected one; the others keep their buffers. Each \
                    change is posted as element message nvencstreamsink-bitrate (bitrate, previous, reason, \
                    destination); stats has target-bitrate. Software AV1 encoders cannot change their bitrate while \
                    playing: there it stays off, with a warning. Off: the statistics and a warning still tell when a \
                    destination cannot keep up")
            .default_value(d.adaptive_bitrate)
            .mutable_ready()
            .build(),
        double("min-bitrate", "Min Bitrate",
            "adaptive-bitrate: the lowest video bitrate it may choose (Mbit/s, up to avg-bitrate); 0 = a quarter of \
             avg-bitrate", d.min_bitrate),
        glib::ParamSpecEnum::builder_with_default("webrtc-encode", d.webrtc_encode)
            .nick("WebRTC Encode")
            .blurb("mode=webrtc/whip: who encodes. shared: this bin encodes once (NVENC, every setting, metadata SEI) \
                    and all viewers get the same H.264, at a fixed bitrate; per-viewer: webrtcsink encodes for each \
                    viewer with congestion control (bitrate adapts between 1/10 of avg-bitrate and max-bitrate), \
                    one encoder per viewer, settings applied through its encoder-setup signal and metadata SEI \
                    through request-encoded-filter")
            .mutable_ready()
            .build(),
        string("stun-server", "STUN Server",
            "mode=webrtc/whip: STUN server as stun://host:port; empty (default) = none, so no public server is \
             contacted (webrtcsink's own default, Google's, is not used)", None),
        glib::ParamSpecString::builder("turn-servers")
            .nick("TURN Servers")
            .blurb("mode=webrtc/whip: TURN relays as turn(s)://user:password@host:port, several separated by commas; \
                    write-only, the credentials are never logged")
            .write_only()
            .mutable_ready()
            .build(),
        string("ice-addresses", "ICE Addresses",
            "mode=webrtc/whip: local IP addresses ICE gathers candidates on, separated by commas; empty = every \
             interface except loopback (libnice's default). 127.0.0.1 makes WebRTC work on loopback (tests, a \
             viewer on the same machine)", None),
        glib::ParamSpecString::builder("bearer-token")
            .nick("Bearer Token")
            .blurb("mode=whip: token sent as Authorization: Bearer to the WHIP endpoint; write-only and never logged")
            .write_only()
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("stream-url")
            .nick("Stream URL")
            .blurb("Read-only: mode=rtsp-server: the URL clients open (this host's address, port, stream-name); otherwise the destination with secrets redacted. Set once the element starts; RTSP clients can open it once connection-state is connected (the mount is live)")
            .read_only()
            .build(),
        glib::ParamSpecEnum::builder_with_default("connection-state", ConnectionState::Disconnected)
            .nick("Connection State")
            .blurb("State of the network connection (read-only), notified on every change. Each destination posts element \
                    message nvencstreamsink-connection on every change of its own state, with fields state (this enum), \
                    attempt (uint), delay (ms before the next attempt, guint64), reason (string, secrets redacted), \
                    destination (uint: its position in destinations, from 0; 0 for mode + url) and url (its URL, \
                    redacted). With several destinations this property summarises them: failed only when every \
                    destination has failed, else the least advanced of the others (reconnecting, then connecting, \
                    else connected)")
            .read_only()
            .build(),
        glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
            .nick("Statistics")
            .blurb("Read-only statistics (TouchDesigner's info channels and more): connection-state; encoder (element \
                    name), is-nvenc, fallback-reason; last-encode-time (ms, encoder input to output of one frame); \
                    last-send-delay (ms, encoder output to the network sink, including the time waiting in the \
                    element's buffers for the destination; for SRT the time libsrt then holds packets is not included: \
                    see rtt); packet-loss-ratio (0..1, over the last second: SRT the share of the stream the receiver \
                    reported lost plus the share libsrt dropped unsent because it was too late, RTSP the worst of the \
                    clients' RTCP receiver reports, 0 where not measured); bitrate (bit/s handed to the network sink over \
                    the last second); send-rate (bit/s the network took over the last 3 s: SRT data sent less \
                    retransmissions, RTMP bytes written to the connection; equals bitrate where not measured); \
                    target-bitrate (bit/s, the video bitrate the encoder aims at now: avg-bitrate, or the adaptive \
                    bitrate's choice); congested (a destination could not keep up at its last sample, taken every half second); frames-in, \
                    frames-encoded, frames-dropped (video frames dropped while the link was down, its buffer full or \
                    waiting for a keyframe), audio-buffers-dropped, bytes-sent (handed to the network sink), reconnects, \
                    rtsp-clients (mode=rtsp-server: clients playing the mount); destinations (array, one structure per \
                    destination: index, url (redacted), transport, state, bytes-sent, bitrate, send-rate, frames-dropped, \
                    reconnects, packet-loss-ratio, last-send-delay, congested, and for SRT bytes-dropped (unsent, too \
                    late), packets-retransmitted, rtt (ms, the slowest caller's) and link-bandwidth (bit/s, libsrt's \
                    estimate, 0 = none yet)), of which the element-wide figures are the sums (bytes, rates, drops, \
                    reconnects) or the worst (loss, send delay, congested). Also posted every stats-interval ms")
            .read_only()
            .build(),
    ]
}

/// Applies a property value. Returns false for an unknown name (cannot happen for installed specs).
pub fn set(s: &mut Settings, name: &str, value: &glib::Value) -> bool {
    let e = &mut s.encoder;
    macro_rules! get {
        () => {
            match value.get() {
                Ok(v) => v,
                Err(_) => return false,
            }
        };
    }
    match name {
        "active" => s.active = get!(),
        "mode" => s.mode = get!(),
        "url" => {
            s.url = value
                .get::<Option<String>>()
                .ok()
                .flatten()
                .unwrap_or_default()
        }
        "destinations" => s.destinations = string_value(value),
        "port" => s.port = get!(),
        "stream-name" => {
            s.stream_name = value
                .get::<Option<String>>()
                .ok()
                .flatten()
                .unwrap_or_default()
        }
        "multicast" => s.multicast = get!(),
        "fps" => s.fps = get!(),
        "video-codec" => e.codec = get!(),
        "profile" => e.profile = get!(),
        "quality" => e.quality = get!(),
        "keyframe-interval" => e.keyframe_interval = get!(),
        "max-bframes" => e.max_bframes = get!(),
        "intra-refresh-period" => e.intra_refresh_period = get!(),
        "intra-refresh-length" => e.intra_refresh_length = get!(),
        "bitrate-mode" => e.bitrate_mode = get!(),
        "avg-bitrate" => e.avg_bitrate = get!(),
        "max-bitrate" => e.max_bitrate = get!(),
        "num-slices" => e.num_slices = get!(),
        "mux-rate" => s.mux_rate = get!(),
        "vbv-buffer-size" => e.vbv_buffer_size = get!(),
        "rtmp-buffer-size" => s.rtmp_buffer_size = get!(),
        "rtmp-enhanced" => s.rtmp_enhanced = get!(),
        "rtmp-tcp-nodelay" => s.rtmp_tcp_nodelay = get!(),
        "rtmp-timecode-interval" => s.rtmp_timecode_interval = get!(),
        "audio-codec" => {
            s.audio_codec = get!();
            s.audio_codec_set = true;
        }
        "audio-bitrate" => s.audio_bitrate = get!(),
        "include-silent-audio" => s.include_silent_audio = get!(),
        "encoder" => s.encoder_policy = get!(),
        "encoder-name" => {
            s.encoder_name = value
                .get::<Option<String>>()
                .ok()
                .flatten()
                .filter(|n| !n.is_empty())
        }
        "rtmp-username" => {
            s.rtmp_username = value
                .get::<Option<String>>()
                .ok()
                .flatten()
                .filter(|n| !n.is_empty())
        }
        "rtmp-password" => {
            s.rtmp_password = value
                .get::<Option<String>>()
                .ok()
                .flatten()
                .filter(|n| !n.is_empty())
        }
        "tls-validation-flags" => s.tls_validation_flags = get!(),
        "reconnect-attempts" => s.reconnect_attempts = get!(),
        "reconnect-interval" => s.reconnect_interval = get!(),
        "reconnect-max-interval" => s.reconnect_max_interval = get!(),
        "stats-interval" => s.stats_interval = get!(),
        "adaptive-bitrate" => s.adaptive_bitrate = get!(),
        "min-bitrate" => s.min_bitrate = get!(),
        "webrtc-encode" => s.webrtc_encode = get!(),
        "stun-server" => s.stun_server = string_value(value),
        "turn-servers" => s.turn_servers = string_value(value),
        "ice-addresses" => s.ice_addresses = string_value(value),
        "bearer-token" => s.bearer_token = Some(string_value(value)).filter(|t| !t.is_empty()),
        _ => return false,
    }
    true
}

/// Reads a settings property; `None` for the ones the element computes (state, stats).
pub fn get(s: &Settings, name: &str) -> Option<glib::Value> {
    let e = &s.encoder;
    Some(match name {
        "active" => s.active.to_value(),
        "mode" => s.mode.to_value(),
        // Read back without its secrets.
        "url" => redacted_url(s, &s.url).to_value(),
        "destinations" => super::list::split(&s.destinations)
            .iter()
            .map(|u| redacted_url(s, u))
            .collect::<Vec<_>>()
            .join(" ")
            .to_value(),
        "port" => s.port.to_value(),
        "stream-name" => s.stream_name.to_value(),
        "multicast" => s.multicast.to_value(),
        "fps" => s.fps.to_value(),
        "video-codec" => e.codec.to_value(),
        "profile" => e.profile.to_value(),
        "quality" => e.quality.to_value(),
        "keyframe-interval" => e.keyframe_interval.to_value(),
        "max-bframes" => e.max_bframes.to_value(),
        "intra-refresh-period" => e.intra_refresh_period.to_value(),
        "intra-refresh-length" => e.intra_refresh_length.to_value(),
        "bitrate-mode" => e.bitrate_mode.to_value(),
        "avg-bitrate" => e.avg_bitrate.to_value(),
        "max-bitrate" => e.max_bitrate.to_value(),
        "num-slices" => e.num_slices.to_value(),
        "mux-rate" => s.mux_rate.to_value(),
        "vbv-buffer-size" => e.vbv_buffer_size.to_value(),
        "rtmp-buffer-size" => s.rtmp_buffer_size.to_value(),
        "rtmp-enhanced" => s.rtmp_enhanced.to_value(),
        "rtmp-tcp-nodelay" => s.rtmp_tcp_nodelay.to_value(),
        "rtmp-timecode-interval" => s.rtmp_timecode_interval.to_value(),
        "audio-codec" => s.audio_codec.to_value(),
        "audio-bitrate" => s.audio_bitrate.to_value(),
        "include-silent-audio" => s.include_silent_audio.to_value(),
        "encoder" => s.encoder_policy.to_value(),
        "encoder-name" => s.encoder_name.to_value(),
        "rtmp-username" => s.rtmp_username.to_value(),
        "tls-validation-flags" => s.tls_validation_flags.to_value(),
        "reconnect-attempts" => s.reconnect_attempts.to_value(),
        "reconnect-interval" => s.reconnect_interval.to_value(),
        "reconnect-max-interval" => s.reconnect_max_interval.to_value(),
        "stats-interval" => s.stats_interval.to_value(),
        "adaptive-bitrate" => s.adaptive_bitrate.to_value(),
        "min-bitrate" => s.min_bitrate.to_value(),
        "webrtc-encode" => s.webrtc_encode.to_value(),
        "stun-server" => s.stun_server.to_value(),
        "ice-addresses" => s.ice_addresses.to_value(),
        _ => return None,
    })
}

/// A URL as a readable property shows it: as its transport redacts it, or only its scheme when it does
/// not parse (a URL that failed to parse may hold a secret anywhere).
fn redacted_url(s: &Settings, url: &str) -> String {
    if url.trim().is_empty() {
        return String::new();
    }
    let kind = crate::transport::for_url(url).unwrap_or_else(|| crate::transport::for_mode(s.mode));
    let ctx = super::plan::context(s, Default::default());
    match (kind.parse)(url, &ctx) {
        Ok(d) => d.shown(),
        Err(_) => crate::transport::url::shown_unparsed(url),
    }
}

fn string_value(value: &glib::Value) -> String {
    value
        .get::<Option<String>>()
        .ok()
        .flatten()
        .unwrap_or_default()
}
