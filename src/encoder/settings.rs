//! The TouchDesigner-style video encoder settings, independent of any encoder element.
//!
//! These are the values a user sets on `nvencstreamsink` (Video Codec, Profile, Quality, Keyframe
//! Interval, ...). The per-encoder tables in [`super::nvenc`] and [`super::software`] translate them into
//! the properties of one concrete GStreamer encoder element.

use gst::glib;

/// Video codec of the stream (TouchDesigner: *Video Codec*).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "TdStreamVideoCodec")]
pub enum Codec {
    #[enum_value(
        name = "H.264 / AVC: every protocol and player takes it",
        nick = "h264"
    )]
    H264 = 0,
    #[enum_value(
        name = "H.265 / HEVC: SRT, RTSP, and RTMP as Enhanced RTMP (servers and players that read it: FFmpeg 6.1+, OBS 30+, YouTube)",
        nick = "h265"
    )]
    H265 = 1,
    #[enum_value(
        name = "AV1: RTMP as Enhanced RTMP, RTSP where an AV1 payloader exists, SRT with GStreamer 1.26+ mpegtsmux",
        nick = "av1"
    )]
    Av1 = 2,
}

impl Codec {
    pub fn nick(self) -> &'static str {
        match self {
            Codec::H264 => "h264",
            Codec::H265 => "h265",
            Codec::Av1 => "av1",
        }
    }

    /// The caps media type of the encoded stream.
    pub fn media_type(self) -> &'static str {
        match self {
            Codec::H264 => "video/x-h264",
            Codec::H265 => "video/x-h265",
            Codec::Av1 => "video/x-av1",
        }
    }

    /// The parser that sits after the encoder.
    pub fn parser(self) -> &'static str {
        match self {
            Codec::H264 => "h264parse",
            Codec::H265 => "h265parse",
            Codec::Av1 => "av1parse",
        }
    }
}

/// Encoding profile (TouchDesigner: *Profile*).
#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "TdStreamProfile")]
pub enum Profile {
    #[enum_value(
        name = "Baseline (H.264 only; constrained baseline, no B-frames, decodes everywhere)",
        nick = "baseline"
    )]
    Baseline = 0,
    #[enum_value(name = "Main (H.264 Main, H.265 Main, AV1 Main)", nick = "main")]
    Main = 1,
    #[enum_value(name = "High (H.264 only; best quality per bit)", nick = "high")]
    High = 2,
}

impl Profile {
    pub fn nick(self) -> &'static str {
        match self {
            Profile::Baseline => "baseline",
            Profile::Main => "main",
            Profile::High => "high",
        }
    }

    /// The `profile` caps field for this profile and codec, or `None` when the codec has no such
    /// profile.
    pub fn caps_name(self, codec: Codec) -> Option<&'static str> {
        match (codec, self) {
            (Codec::H264, Profile::Baseline) => Some("constrained-baseline"),
            (Codec::H264, Profile::Main) => Some("main"),
            (Codec::H264, Profile::High) => Some("high"),
            (Codec::H265, Profile::Main) => Some("main"),
            (Codec::Av1, Profile::Main) => Some("main"),
            _ => None,
        }
    }
}

/// Latency/quality trade-off (TouchDesigner: *Quality*). Mapped per encoder to NVENC preset and tune or
/// to x264/x265 speed-preset and tune.
#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "TdStreamQuality")]
pub enum Quality {
    #[enum_value(
        name = "Low latency, low quality (fastest encode)",
        nick = "lowlatencylow"
    )]
    LowLatencyLow = 0,
    #[enum_value(name = "Low latency, medium quality", nick = "lowlatencymedium")]
    LowLatencyMedium = 1,
    #[enum_value(name = "Low latency, high quality", nick = "lowlatencyhigh")]
    LowLatencyHigh = 2,
    #[enum_value(name = "Low latency, ultra high quality", nick = "lowlatencyultrahigh")]
    LowLatencyUltraHigh = 3,
    #[enum_value(name = "High latency, low quality", nick = "highlatencylow")]
    HighLatencyLow = 4,
    #[enum_value(name = "High latency, medium quality", nick = "highlatencymedium")]
    HighLatencyMedium = 5,
    #[enum_value(name = "High latency, high quality", nick = "highlatencyhigh")]
    HighLatencyHigh = 6,
    #[enum_value(
        name = "High latency, ultra high quality (slowest encode)",
        nick = "highlatencyultrahigh"
    )]
    HighLatencyUltraHigh = 7,
}

impl Quality {
    pub const ALL: [Quality; 8] = [
        Quality::LowLatencyLow,
        Quality::LowLatencyMedium,
        Quality::LowLatencyHigh,
        Quality::LowLatencyUltraHigh,
        Quality::HighLatencyLow,
        Quality::HighLatencyMedium,
        Quality::HighLatencyHigh,
        Quality::HighLatencyUltraHigh,
    ];

    pub fn low_latency(self) -> bool {
        (self as u32) < 4
    }

    /// 0 = low … 3 = ultra high.
    pub fn level(self) -> usize {
        (self as usize) % 4
    }
}

/// Rate control (TouchDesigner: *Bitrate Mode*).
#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "TdStreamBitrateMode")]
pub enum BitrateMode {
    #[enum_value(name = "Constant bitrate (avg-bitrate)", nick = "cbr")]
    Cbr = 0,
    #[enum_value(
        name = "Variable bitrate (avg-bitrate, peaks up to max-bitrate)",
        nick = "vbr"
    )]
    Vbr = 1,
    #[enum_value(
        name = "Constant bitrate, high quality (two-pass on NVENC)",
        nick = "cbrhq"
    )]
    CbrHq = 2,
    #[enum_value(
        name = "Variable bitrate, high quality (two-pass on NVENC)",
        nick = "vbrhq"
    )]
    VbrHq = 3,
}

impl BitrateMode {
    pub const ALL: [BitrateMode; 4] = [
        BitrateMode::Cbr,
        BitrateMode::Vbr,
        BitrateMode::CbrHq,
        BitrateMode::VbrHq,
    ];

    pub fn is_constant(self) -> bool {
        matches!(self, BitrateMode::Cbr | BitrateMode::CbrHq)
    }

    pub fn is_hq(self) -> bool {
        matches!(self, BitrateMode::CbrHq | BitrateMode::VbrHq)
    }
}

/// Everything the encoder tables need to configure one encoder element.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderSettings {
    pub codec: Codec,
    pub profile: Profile,
    pub quality: Quality,
    /// Frames between keyframes; 0 = encoder default.
    pub keyframe_interval: u32,
    pub max_bframes: u32,
    /// Frames over which an intra refresh wave runs; 0 = off.
    pub intra_refresh_period: u32,
    /// Frames of one intra refresh wave; 0 = encoder default.
    pub intra_refresh_length: u32,
    pub bitrate_mode: BitrateMode,
    /// Mbit/s.
    pub avg_bitrate: f64,
    /// Mbit/s, VBR peak; 0 = twice the average.
    pub max_bitrate: f64,
    /// kbit; 0 = automatic.
    pub vbv_buffer_size: u32,
    /// 0 = encoder default (one slice).
    pub num_slices: u32,
    /// The bitrate changes while the encoder plays (adaptive-bitrate): no settings that fix it once
    /// encoding has started (x264's NAL HRD, with which it refuses new VBV parameters).
    pub live_bitrate: bool,
}

impl Default for EncoderSettings {
    fn default() -> Self {
        EncoderSettings {
            codec: Codec::H264,
            profile: Profile::Main,
            quality: Quality::LowLatencyHigh,
            keyframe_interval: 60,
            max_bframes: 0,
            intra_refresh_period: 0,
            intra_refresh_length: 0,
            bitrate_mode: BitrateMode::Cbr,
            avg_bitrate: 4.0,
            max_bitrate: 0.0,
            vbv_buffer_size: 0,
            num_slices: 0,
            live_bitrate: false,
        }
    }
}

impl EncoderSettings {
    pub fn avg_kbps(&self) -> u32 {
        mbps_to_kbps(self.avg_bitrate)
    }

    /// The VBR peak in kbit/s (twice the average when `max_bitrate` is 0 or below the average).
    pub fn max_kbps(&self) -> u32 {
        let avg = self.avg_kbps();
        let max = mbps_to_kbps(self.max_bitrate);
        if max == 0 {
            avg.saturating_mul(2)
        } else {
            max.max(avg)
        }
    }
}

pub fn mbps_to_kbps(mbps: f64) -> u32 {
    if mbps.is_finite() && mbps > 0.0 {
        (mbps * 1000.0).round().min(u32::MAX as f64) as u32
    } else {
        0
    }
}
