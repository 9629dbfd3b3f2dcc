//! Software encoder tables: `x264enc`, `x265enc`, `svtav1enc`, `av1enc` (libaom) and `rav1enc`, plus a
//! best-effort table for any other element forced with `encoder-name`.

use super::config::{ConfigBuilder, EncoderConfig};
use super::schema::PropertySchema;
use super::settings::{BitrateMode, EncoderSettings, Profile};

/// x264/x265 `speed-preset` nicks, indexed by quality level (low … ultra high).
const X26X_PRESETS_LOW_LATENCY: [&str; 4] = ["ultrafast", "superfast", "veryfast", "faster"];
const X26X_PRESETS_HIGH_LATENCY: [&str; 4] = ["faster", "fast", "medium", "slow"];

fn x26x_preset(s: &EncoderSettings) -> &'static str {
    let table = if s.quality.low_latency() {
        X26X_PRESETS_LOW_LATENCY
    } else {
        X26X_PRESETS_HIGH_LATENCY
    };
    table[s.quality.level()]
}

/// The VBV buffer in milliseconds of the average rate (x264's `vbv-buf-capacity` unit), if set.
fn vbv_ms(s: &EncoderSettings) -> Option<u64> {
    let avg = s.avg_kbps() as u64;
    (s.vbv_buffer_size > 0 && avg > 0).then(|| s.vbv_buffer_size as u64 * 1000 / avg)
}

/// x264 and x265 refresh over one keyframe interval: the period becomes `key-int-max`, and a
/// separate length cannot be honoured. Returns whether intra refresh is on.
fn x26x_intra_refresh(b: &mut ConfigBuilder, s: &EncoderSettings) -> bool {
    if s.intra_refresh_period == 0 {
        return false;
    }
    b.set_number(
        "key-int-max",
        s.intra_refresh_period as i64,
        "intra-refresh-period",
    );
    if s.intra_refresh_length > 0 {
        warn_unsupported(
            b,
            "intra-refresh-length",
            "refreshes over the whole intra-refresh-period; the length is ignored",
        );
    }
    true
}

fn warn_unsupported(b: &mut ConfigBuilder, setting: &str, why: &str) {
    let element = b.element().to_string();
    b.warn(format!("{setting}: {element} {why}"));
}

pub fn configure_x264(s: &EncoderSettings, schema: &dyn PropertySchema) -> EncoderConfig {
    let mut b = ConfigBuilder::new(schema, "I420");
    let mut options: Vec<String> = Vec::new();
    b.set_nick("speed-preset", &[x26x_preset(s)]);
    if s.quality.low_latency() {
        b.set_nick("tune", &["zerolatency"]);
    }
    b.set_nick("pass", &["cbr"]);
    b.set_number("bitrate", s.avg_kbps() as i64, "avg-bitrate");
    if let Some(ms) = vbv_ms(s) {
        b.set_number("vbv-buf-capacity", ms as i64, "vbv-buffer-size");
    }
    if s.bitrate_mode.is_constant() && s.live_bitrate {
        // x264 refuses new VBV parameters (a new bitrate) under NAL HRD: CBR by the VBV alone, with
        // vbv-maxrate = bitrate (x264enc's pass=cbr), which follows each new bitrate.
    } else if s.bitrate_mode.is_constant() {
        // Real CBR: HRD signalling plus filler data, so the rate holds on still pictures too.
        if b.set_nick("nal-hrd", &["cbr"]).is_none() {
            options.push("nal-hrd=cbr".into());
        }
        options.push("filler=1".into());
    } else {
        // x264enc (1.22 here, GStreamer's current source alike) sets the VBV peak rate to its
        // `bitrate` after applying its option-string, so `vbv-maxrate` there has no effect.
        warn_unsupported(
            &mut b,
            "max-bitrate",
            "caps the peak rate at its bitrate (it sets its VBV rate after the option-string): \
             bitrate-mode=vbr encodes at avg-bitrate without filler, the peak no higher. Fix: \
             video-codec=h265 (x265 takes the peak) or NVENC for a peak above the average",
        );
    }
    if s.keyframe_interval > 0 {
        b.set_number(
            "key-int-max",
            s.keyframe_interval as i64,
            "keyframe-interval",
        );
    }
    let bframes = if s.profile == Profile::Baseline {
        0
    } else {
        s.max_bframes
    };
    b.set_number("bframes", bframes as i64, "max-bframes");
    // The fast presets turn CABAC and the 8x8 transform off, and x264 then signals the lowest profile
    // that fits: keep what the requested profile needs, so receivers see that profile.
    b.set_bool("cabac", s.profile != Profile::Baseline);
    b.set_bool("dct8x8", s.profile == Profile::High);
    if x26x_intra_refresh(&mut b, s) {
        b.set_bool("intra-refresh", true);
    }
    if s.num_slices > 0 {
        options.push(format!("slices={}", s.num_slices));
        if s.quality.low_latency() {
            // tune=zerolatency turns on x264's sliced threads, which cut each picture into one slice
            // per thread and ignore `slices` (2 slices per picture for num-slices=4 on 2 cores): as
            // many threads as slices.
            options.push(format!("threads={}", s.num_slices));
        }
    }
    b.set_string("option-string", &options.join(":"));
    b.finish()
}

pub fn configure_x265(s: &EncoderSettings, schema: &dyn PropertySchema) -> EncoderConfig {
    let mut b = ConfigBuilder::new(schema, "I420");
    b.set_nick("speed-preset", &[x26x_preset(s)]);
    if s.quality.low_latency() {
        b.set_nick("tune", &["zerolatency"]);
    }
    b.set_number("bitrate", s.avg_kbps() as i64, "avg-bitrate");
    if s.keyframe_interval > 0 {
        b.set_number(
            "key-int-max",
            s.keyframe_interval as i64,
            "keyframe-interval",
        );
    }
    let avg = s.avg_kbps();
    let max = if s.bitrate_mode.is_constant() {
        avg
    } else {
        s.max_kbps()
    };
    let bufsize = if s.vbv_buffer_size > 0 {
        s.vbv_buffer_size
    } else {
        max
    };
    let mut options = vec![
        format!("bframes={}", s.max_bframes.min(16)),
        format!("vbv-maxrate={max}"),
        format!("vbv-bufsize={bufsize}"),
        "repeat-headers=1".to_string(),
    ];
    if s.bitrate_mode.is_constant() {
        options.push("strict-cbr=1".into());
    }
    if x26x_intra_refresh(&mut b, s) {
        options.push("intra-refresh=1".into());
    }
    if s.num_slices > 0 {
        options.push(format!("slices={}", s.num_slices));
    }
    b.set_string("option-string", &options.join(":"));
    b.finish()
}

fn warn_av1_common(b: &mut ConfigBuilder, s: &EncoderSettings) {
    if s.max_bframes > 0 {
        warn_unsupported(b, "max-bframes", "has no B-frame setting; ignored");
    }
    if s.intra_refresh_period > 0 || s.intra_refresh_length > 0 {
        warn_unsupported(
            b,
            "intra-refresh-period",
            "has no intra-refresh setting; ignored",
        );
    }
    if s.num_slices > 0 {
        warn_unsupported(
            b,
            "num-slices",
            "has no slice setting (AV1 uses tiles); ignored",
        );
    }
}

/// Speed (higher = faster) for the AV1 encoders, indexed by quality level.
fn av1_speed(s: &EncoderSettings, low_latency: [i64; 4], high_latency: [i64; 4]) -> i64 {
    if s.quality.low_latency() {
        low_latency[s.quality.level()]
    } else {
        high_latency[s.quality.level()]
    }
}

pub fn configure_aom(s: &EncoderSettings, schema: &dyn PropertySchema) -> EncoderConfig {
    let mut b = ConfigBuilder::new(schema, "I420");
    b.set_number("target-bitrate", s.avg_kbps() as i64, "avg-bitrate");
    let usage = if s.bitrate_mode.is_constant() {
        "cbr"
    } else {
        "vbr"
    };
    b.set_nick("end-usage", &[usage]);
    // libaom's own quantizer range. av1enc 1.22 defaults max-quantizer to 0, and libaom then aborts the
    // whole process in CBR (assertion in rc_pick_q_and_bounds_no_stats_cbr).
    b.set_number("min-quantizer", 0, "quality");
    b.set_number("max-quantizer", 63, "quality");
    if s.quality.low_latency() {
        b.set_nick("usage-profile", &["realtime"]);
        b.set_number("lag-in-frames", 0, "quality");
    }
    b.set_number(
        "cpu-used",
        av1_speed(s, [10, 9, 8, 7], [8, 7, 6, 5]),
        "quality",
    );
    if s.keyframe_interval > 0 {
        b.set_number(
            "keyframe-max-dist",
            s.keyframe_interval as i64,
            "keyframe-interval",
        );
    }
    // Measured (GStreamer 1.22's av1enc): an upstream force-key-unit event brings no keyframe.
    warn_unsupported(
        &mut b,
        "force-idr",
        "ignores keyframe requests: neither force-idr nor the keyframe that a reader joining or a \
         reconnection asks for comes, and readers start at the next regular keyframe. Fix: a short \
         keyframe-interval, or video-codec=h265 or NVENC for keyframes on demand",
    );
    warn_av1_common(&mut b, s);
    b.finish()
}

pub fn configure_svtav1(s: &EncoderSettings, schema: &dyn PropertySchema) -> EncoderConfig {
    let mut b = ConfigBuilder::new(schema, "I420");
    b.set_number("target-bitrate", s.avg_kbps() as i64, "avg-bitrate");
    if !s.bitrate_mode.is_constant() {
        b.set_number("max-bitrate", s.max_kbps() as i64, "max-bitrate");
    }
    b.set_number(
        "preset",
        av1_speed(s, [12, 11, 10, 9], [10, 8, 6, 4]),
        "quality",
    );
    if s.keyframe_interval > 0 {
        b.set_number(
            "intra-period-length",
            s.keyframe_interval as i64,
            "keyframe-interval",
        );
    }
    warn_av1_common(&mut b, s);
    b.finish()
}

pub fn configure_rav1e(s: &EncoderSettings, schema: &dyn PropertySchema) -> EncoderConfig {
    let mut b = ConfigBuilder::new(schema, "I420");
    b.set_number("bitrate", s.avg_kbps() as i64 * 1000, "avg-bitrate");
    b.set_number(
        "speed-preset",
        av1_speed(s, [10, 10, 9, 8], [9, 8, 6, 5]),
        "quality",
    );
    b.set_bool("low-latency", s.quality.low_latency());
    if s.keyframe_interval > 0 {
        b.set_number(
            "max-key-frame-interval",
            s.keyframe_interval as i64,
            "keyframe-interval",
        );
    }
    if s.bitrate_mode != BitrateMode::Cbr && s.bitrate_mode != BitrateMode::Vbr {
        warn_unsupported(
            &mut b,
            "bitrate-mode",
            "has no high-quality rate control; plain mode used",
        );
    }
    warn_av1_common(&mut b, s);
    b.finish()
}

/// Any other element forced with `encoder-name` (vah264enc, qsvh264enc, v4l2h264enc, ...): sets the
/// commonly named properties it has and says what it could not map.
pub fn configure_generic(s: &EncoderSettings, schema: &dyn PropertySchema) -> EncoderConfig {
    let mut b = ConfigBuilder::new(schema, "NV12");
    let rate_set = b.set_number("bitrate", s.avg_kbps() as i64, "avg-bitrate")
        || b.set_number("target-bitrate", s.avg_kbps() as i64, "avg-bitrate");
    if !rate_set {
        warn_unsupported(
            &mut b,
            "avg-bitrate",
            "has no bitrate or target-bitrate property; ignored",
        );
    }
    let gop_set = s.keyframe_interval == 0
        || [
            "key-int-max",
            "gop-size",
            "keyframe-period",
            "keyframe-max-dist",
        ]
        .iter()
        .any(|p| b.set_number(p, s.keyframe_interval as i64, "keyframe-interval"));
    if !gop_set {
        warn_unsupported(
            &mut b,
            "keyframe-interval",
            "has no known keyframe interval property",
        );
    }
    if s.max_bframes > 0 && !b.set_number("b-frames", s.max_bframes as i64, "max-bframes") {
        b.set_number("bframes", s.max_bframes as i64, "max-bframes");
    }
    b.finish()
}
