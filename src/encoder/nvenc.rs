//! NVENC encoder tables: the legacy `nvh264enc`/`nvh265enc` (GStreamer ≤ 1.24), `nvcuda*`/`nvautogpu*`
//! (1.22–1.24) and the new `nvh264enc`/`nvh265enc`/`nvav1enc` (1.26+).
//!
//! The generations differ in property names (`rc-mode` vs `rate-control`, `bframes` vs `b-frames`,
//! `zerolatency` vs `zero-reorder-delay`) and enum nicks (p1…p7 presets and `tune` since 1.24). Every
//! choice below is made by looking the property or nick up in the element's schema.

use super::config::{ConfigBuilder, EncoderConfig};
use super::schema::PropertySchema;
use super::settings::{BitrateMode, EncoderSettings};

/// NVENC preset for the `p1`…`p7` generation (1.24+), indexed by quality level (low … ultra high).
const P_PRESETS_LOW_LATENCY: [&str; 4] = ["p1", "p2", "p4", "p6"];
const P_PRESETS_HIGH_LATENCY: [&str; 4] = ["p3", "p4", "p6", "p7"];
/// Presets of the legacy generation (1.22 and the old encoder).
const LEGACY_PRESETS_LOW_LATENCY: [&str; 4] = [
    "low-latency-hp",
    "low-latency",
    "low-latency-hq",
    "low-latency-hq",
];
const LEGACY_PRESETS_HIGH_LATENCY: [&str; 4] = ["hp", "default", "hq", "hq"];

/// Whether this is the pre-1.26 `GstNvBaseEnc` implementation: it alone lacks `repeat-sequence-header`.
pub fn is_legacy(schema: &dyn PropertySchema) -> bool {
    !schema.has("repeat-sequence-header")
}

pub fn configure(s: &EncoderSettings, schema: &dyn PropertySchema) -> EncoderConfig {
    let mut b = ConfigBuilder::new(schema, "NV12");
    let level = s.quality.level();
    let low_latency = s.quality.low_latency();

    // Preset and tune.
    let has_p_presets = schema.has_nick("preset", "p1") && schema.has("tune");
    if has_p_presets {
        let table = if low_latency {
            P_PRESETS_LOW_LATENCY
        } else {
            P_PRESETS_HIGH_LATENCY
        };
        b.set_nick("preset", &[table[level]]);
        let tune: &[&str] = match (low_latency, level) {
            (true, 0 | 1) => &["ultra-low-latency", "low-latency"],
            (true, _) => &["low-latency"],
            (false, _) => &["high-quality"],
        };
        b.set_nick("tune", tune);
    } else {
        let table = if low_latency {
            LEGACY_PRESETS_LOW_LATENCY
        } else {
            LEGACY_PRESETS_HIGH_LATENCY
        };
        b.set_nick("preset", &[table[level], "default"]);
    }

    // Rate control: property name and nicks differ per generation.
    if let Some(rc) = b.first_existing(&["rc-mode", "rate-control"]) {
        let multi_pass = schema.has("multi-pass");
        let nicks: &[&str] = match (s.bitrate_mode, multi_pass) {
            (BitrateMode::Cbr, _) | (BitrateMode::CbrHq, true) => &["cbr"],
            (BitrateMode::Vbr, _) | (BitrateMode::VbrHq, true) => &["vbr"],
            (BitrateMode::CbrHq, false) if low_latency => &["cbr-ld-hq", "cbr-hq", "cbr"],
            (BitrateMode::CbrHq, false) => &["cbr-hq", "cbr"],
            (BitrateMode::VbrHq, false) => &["vbr-hq", "vbr"],
        };
        b.set_nick(rc, nicks);
        if multi_pass {
            let pass: &[&str] = if s.bitrate_mode.is_hq() {
                &["two-pass-quarter", "two-pass"]
            } else {
                &["disabled"]
            };
            b.set_nick("multi-pass", pass);
        }
    }

    b.set_number("bitrate", s.avg_kbps() as i64, "avg-bitrate");
    if !s.bitrate_mode.is_constant() {
        b.set_number("max-bitrate", s.max_kbps() as i64, "max-bitrate");
    }
    if s.vbv_buffer_size > 0 {
        b.set_number(
            "vbv-buffer-size",
            s.vbv_buffer_size as i64,
            "vbv-buffer-size",
        );
    }
    if s.keyframe_interval > 0 {
        b.set_number("gop-size", s.keyframe_interval as i64, "keyframe-interval");
    }

    let bframes = s.max_bframes;
    if let Some(name) = b.first_existing(&["bframes", "b-frames"]) {
        b.set_number(name, bframes as i64, "max-bframes");
    } else if bframes > 0 {
        let element = b.element().to_string();
        b.warn(format!(
            "max-bframes: {element} has no B-frame setting; B-frames are left to it"
        ));
    }
    if let Some(name) = b.first_existing(&["zerolatency", "zero-reorder-delay"]) {
        b.set_bool(name, low_latency && bframes == 0);
    }

    // SPS/PPS (VPS) with every IDR, so a receiver can join at any keyframe.
    b.set_bool("repeat-sequence-header", true);

    if s.intra_refresh_period > 0 || s.intra_refresh_length > 0 {
        if b.schema().has("intra-refresh") {
            b.set_bool("intra-refresh", true);
        } else {
            let element = b.element().to_string();
            b.warn(format!(
                "intra-refresh-period/intra-refresh-length: {element} has no intra-refresh setting \
                 (no GStreamer NVENC element exposes one); keyframes are used instead"
            ));
        }
    }

    if s.num_slices > 0 && !b.set_number("num-slices", s.num_slices as i64, "num-slices") {
        let element = b.element().to_string();
        b.warn(format!(
            "num-slices: {element} has no num-slices property (GStreamer 1.28+ and a GPU with dynamic \
             slice mode); one slice per picture is used"
        ));
    }

    b.finish()
}
