//! The encoder tables against the real property schemas of every GStreamer version in
//! `tests/schemas/` (copied from GStreamer's docs caches): for every NVENC and software encoder element
//! and every combination of the settings, the configuration uses only properties that exist, with values
//! in range and enum nicks that exist.

use gsttdstream::encoder::schema::{PropKind, PropertySchema};
use gsttdstream::encoder::{
    self, catalog, BitrateMode, Codec, EncoderSettings, Family, Profile, PropValue, Quality,
};
use serde_json::Value as Json;
use std::collections::HashMap;

struct JsonSchema {
    name: String,
    props: HashMap<String, PropKind>,
}

impl PropertySchema for JsonSchema {
    fn element_name(&self) -> &str {
        &self.name
    }
    fn property(&self, name: &str) -> Option<PropKind> {
        self.props.get(name).cloned()
    }
}

fn kind(p: &Json, types: &serde_json::Map<String, Json>) -> PropKind {
    let n = |k: &str| -> i128 {
        match p[k].as_str() {
            Some("-1") if p["type"] == "guint" => u32::MAX as i128,
            Some(s) => s.parse().unwrap_or(0),
            None => 0,
        }
    };
    let f = |k: &str| -> f64 { p[k].as_str().and_then(|s| s.parse().ok()).unwrap_or(0.0) };
    match p["type"].as_str().unwrap_or("") {
        "gboolean" => PropKind::Bool,
        "guint" | "guint64" => PropKind::UInt {
            min: n("min") as u64,
            max: n("max") as u64,
        },
        "gint" | "gint64" => PropKind::Int {
            min: n("min") as i64,
            max: n("max") as i64,
        },
        "gdouble" | "gfloat" => PropKind::Double {
            min: f("min"),
            max: f("max"),
        },
        "gchararray" => PropKind::String,
        other => match types.get(other) {
            Some(t) if t["kind"] == "enum" || t["kind"] == "flags" => {
                let nicks = t["values"]
                    .as_array()
                    .map(|vs| {
                        vs.iter()
                            .filter_map(|v| v["name"].as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                if t["kind"] == "enum" {
                    PropKind::Enum { nicks }
                } else {
                    PropKind::Flags { nicks }
                }
            }
            _ => PropKind::Other(other.to_string()),
        },
    }
}

/// Every (section, element) in a docs-cache-shaped JSON: finds `"elements"` maps at any depth, with
/// the `other-types` beside them for base classes and enums.
fn collect(root: &Json, section: &str, out: &mut Vec<(String, JsonSchema)>) {
    fn walk(v: &Json, section: &str, out: &mut Vec<(String, JsonSchema)>) {
        let Some(obj) = v.as_object() else { return };
        if let (Some(elements), types) = (
            obj.get("elements").and_then(Json::as_object),
            obj.get("other-types"),
        ) {
            let types = types.and_then(Json::as_object).cloned().unwrap_or_default();
            for (name, e) in elements {
                let mut props = HashMap::new();
                let mut add = |o: &Json| {
                    if let Some(ps) = o["properties"].as_object() {
                        for (pn, pv) in ps {
                            props.entry(pn.clone()).or_insert_with(|| kind(pv, &types));
                        }
                    }
                };
                add(e);
                for base in e["hierarchy"].as_array().into_iter().flatten().skip(1) {
                    if let Some(b) = base.as_str().and_then(|b| types.get(b)) {
                        add(b);
                    }
                }
                out.push((
                    section.to_string(),
                    JsonSchema {
                        name: name.clone(),
                        props,
                    },
                ));
            }
        }
        for (k, child) in obj {
            if k != "elements" && k != "other-types" {
                walk(child, section, out);
            }
        }
    }
    if let Some(sec) = root.get(section) {
        walk(sec, section, out);
    }
}

fn schemas(file: &str) -> Vec<(String, JsonSchema)> {
    let path = format!("{}/tests/schemas/{file}", env!("CARGO_MANIFEST_DIR"));
    let root: Json =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("schema file")).expect("json");
    let mut out = Vec::new();
    for section in ["1.22.0", "newest"] {
        collect(&root, section, &mut out);
    }
    out
}

fn codec_of(name: &str) -> Codec {
    if name.contains("265") {
        Codec::H265
    } else if name.contains("av1") {
        Codec::Av1
    } else {
        Codec::H264
    }
}

fn all_settings(codec: Codec) -> Vec<EncoderSettings> {
    let profiles: &[Profile] = if codec == Codec::H264 {
        &[Profile::Baseline, Profile::Main, Profile::High]
    } else {
        &[Profile::Main]
    };
    let mut v = Vec::new();
    for &profile in profiles {
        for quality in Quality::ALL {
            for bitrate_mode in BitrateMode::ALL {
                for max_bframes in [0, 2, 16] {
                    for (keyframe_interval, intra_refresh_period) in [(0, 0), (60, 0), (600, 30)] {
                        for num_slices in [0, 4] {
                            for (avg_bitrate, vbv_buffer_size) in
                                [(0.5, 0), (4.0, 2000), (2000.0, 0)]
                            {
                                v.push(EncoderSettings {
                                    codec,
                                    profile,
                                    quality,
                                    keyframe_interval,
                                    max_bframes,
                                    intra_refresh_period,
                                    intra_refresh_length: intra_refresh_period / 3,
                                    bitrate_mode,
                                    avg_bitrate,
                                    max_bitrate: avg_bitrate * 1.5,
                                    vbv_buffer_size,
                                    num_slices,
                                    live_bitrate: false,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    v
}

fn check(section: &str, schema: &JsonSchema, family: Family, s: &EncoderSettings) -> usize {
    let config = encoder::configure(family, s, schema);
    for (name, value) in &config.props {
        let kind = schema
            .property(name)
            .unwrap_or_else(|| panic!("{section} {}: no property {name}", schema.name));
        let ok = match (&kind, value) {
            (PropKind::Bool, PropValue::Bool(_)) => true,
            (PropKind::UInt { min, max }, PropValue::UInt(v)) => v >= min && v <= max,
            (PropKind::Int { min, max }, PropValue::Int(v)) => v >= min && v <= max,
            (PropKind::Double { min, max }, PropValue::Double(v)) => v >= min && v <= max,
            (PropKind::Enum { nicks }, PropValue::Nick(n)) => nicks.contains(n),
            (PropKind::Flags { nicks }, PropValue::Nick(n)) => {
                n.split('+').all(|f| nicks.iter().any(|x| x == f))
            }
            (PropKind::String, PropValue::Str(_)) => true,
            _ => false,
        };
        assert!(
            ok,
            "{section} {}: {name}={value:?} does not fit {kind:?} for {s:?}",
            schema.name
        );
    }
    config.props.len()
}

#[test]
fn nvenc_tables_fit_every_nvenc_schema_and_version() {
    let all = schemas("nvenc-elements.json");
    let mut elements = 0;
    let mut configs = 0;
    for (section, schema) in &all {
        elements += 1;
        for s in all_settings(codec_of(&schema.name)) {
            let set = check(section, schema, Family::Nvenc, &s);
            assert!(
                set >= 4,
                "{section} {}: only {set} properties set",
                schema.name
            );
            configs += 1;
        }
    }
    println!("{configs} NVENC configurations over {elements} element schemas checked");
    assert!(elements >= 14, "{elements}");
}

#[test]
fn nvenc_generations_get_their_own_names_and_nicks() {
    let all = schemas("nvenc-elements.json");
    let find = |sec: &str, name: &str| {
        all.iter()
            .find(|(s, e)| s == sec && e.name == name)
            .map(|(_, e)| e)
            .expect(name)
    };
    let s = EncoderSettings {
        bitrate_mode: BitrateMode::Vbr,
        max_bframes: 2,
        ..Default::default()
    };

    let legacy = encoder::configure(Family::Nvenc, &s, find("1.22.0", "nvh264enc"));
    assert!(encoder::nvenc::is_legacy(find("1.22.0", "nvh264enc")));
    assert_eq!(legacy.get("rc-mode"), Some(&PropValue::Nick("vbr".into())));
    assert_eq!(legacy.get("bframes"), Some(&PropValue::UInt(2)));
    assert_eq!(
        legacy.get("preset"),
        Some(&PropValue::Nick("low-latency-hq".into()))
    );

    let cuda = encoder::configure(Family::Nvenc, &s, find("1.22.0", "nvcudah264enc"));
    assert!(!encoder::nvenc::is_legacy(find("1.22.0", "nvcudah264enc")));
    assert_eq!(
        cuda.get("rate-control"),
        Some(&PropValue::Nick("vbr".into()))
    );
    assert_eq!(cuda.get("b-frames"), Some(&PropValue::UInt(2)));
    assert_eq!(
        cuda.get("zero-reorder-delay"),
        Some(&PropValue::Bool(false))
    );

    let new = encoder::configure(Family::Nvenc, &s, find("newest", "nvh264enc"));
    assert_eq!(new.get("rc-mode"), Some(&PropValue::Nick("vbr".into())));
    assert_eq!(new.get("preset"), Some(&PropValue::Nick("p4".into())));
    assert_eq!(
        new.get("tune"),
        Some(&PropValue::Nick("low-latency".into()))
    );
    assert_eq!(new.get("max-bitrate"), Some(&PropValue::UInt(8000)));

    let hq = EncoderSettings {
        bitrate_mode: BitrateMode::CbrHq,
        ..Default::default()
    };
    let cfg = encoder::configure(Family::Nvenc, &hq, find("1.22.0", "nvcudah264enc"));
    assert_eq!(
        cfg.get("rate-control"),
        Some(&PropValue::Nick("cbr-ld-hq".into()))
    );
    let cfg = encoder::configure(Family::Nvenc, &hq, find("newest", "nvh264enc"));
    assert_eq!(
        cfg.get("multi-pass"),
        Some(&PropValue::Nick("two-pass-quarter".into()))
    );

    let ir = EncoderSettings {
        intra_refresh_period: 30,
        num_slices: 4,
        ..Default::default()
    };
    let cfg = encoder::configure(Family::Nvenc, &ir, find("newest", "nvh264enc"));
    assert!(
        cfg.warnings
            .iter()
            .any(|w| w.starts_with("intra-refresh-period/intra-refresh-length: nvh264enc")),
        "{:?}",
        cfg.warnings
    );
    assert!(
        cfg.warnings
            .iter()
            .any(|w| w.starts_with("num-slices: nvh264enc")),
        "{:?}",
        cfg.warnings
    );
}

#[test]
fn software_tables_fit_every_software_schema() {
    let all = schemas("software-and-transport-elements.json");
    let mut checked = Vec::new();
    for (section, schema) in &all {
        let Some(known) = catalog::known(&schema.name).filter(|k| !k.is_nvenc()) else {
            continue;
        };
        for s in all_settings(known.codec) {
            check(section, schema, known.family, &s);
        }
        checked.push(format!("{section}/{}", schema.name));
    }
    for want in [
        "1.22.0/x264enc",
        "newest/x264enc",
        "1.22.0/x265enc",
        "1.22.0/av1enc",
        "newest/svtav1enc",
        "newest/rav1enc",
    ] {
        assert!(
            checked.iter().any(|c| c == want),
            "{want} not checked: {checked:?}"
        );
    }
}

#[test]
fn x264_cbr_uses_nal_hrd_where_the_property_exists() {
    let all = schemas("software-and-transport-elements.json");
    let find = |sec: &str| {
        all.iter()
            .find(|(s, e)| s == sec && e.name == "x264enc")
            .map(|(_, e)| e)
            .expect("x264enc")
    };
    let s = EncoderSettings::default();
    let old = encoder::configure(Family::X264, &s, find("1.22.0"));
    assert_eq!(old.get("nal-hrd"), None);
    assert!(
        matches!(old.get("option-string"), Some(PropValue::Str(o)) if o.contains("nal-hrd=cbr"))
    );
    let new = encoder::configure(Family::X264, &s, find("newest"));
    assert_eq!(new.get("nal-hrd"), Some(&PropValue::Nick("cbr".into())));
}

/// Each setting lands on its own property: settings with values that differ from each other (avg 3,
/// max 7 Mbit/s, keyframe-interval 45, max-bframes 2, vbv 900 kbit) on every NVENC schema and on
/// x264enc, and each quality on its own preset in the documented order, so that two settings swapped
/// in a table (bitrate for max-bitrate, one quality's preset for another's) fail here; the fit tests
/// above only check that values fit the schema.
#[test]
fn each_setting_reaches_its_own_property_with_its_own_value() {
    let distinct = EncoderSettings {
        bitrate_mode: BitrateMode::Vbr,
        avg_bitrate: 3.0,
        max_bitrate: 7.0,
        keyframe_interval: 45,
        max_bframes: 2,
        vbv_buffer_size: 900,
        ..Default::default()
    };
    let nvenc = schemas("nvenc-elements.json");
    let mut checked = 0;
    for (section, schema) in &nvenc {
        let s = EncoderSettings {
            codec: codec_of(&schema.name),
            ..distinct.clone()
        };
        let c = encoder::configure(Family::Nvenc, &s, schema);
        let at = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| c.get(n).cloned())
                .unwrap_or_else(|| panic!("{section} {}: none of {names:?} set", schema.name))
        };
        let what = format!("{section} {}", schema.name);
        assert_eq!(at(&["bitrate"]), PropValue::UInt(3000), "{what}");
        assert_eq!(at(&["max-bitrate"]), PropValue::UInt(7000), "{what}");
        assert_eq!(at(&["gop-size"]), PropValue::Int(45), "{what}");
        if schema.property("bframes").is_some() || schema.property("b-frames").is_some() {
            assert_eq!(at(&["bframes", "b-frames"]), PropValue::UInt(2), "{what}");
        }
        if schema.property("vbv-buffer-size").is_some() {
            assert_eq!(at(&["vbv-buffer-size"]), PropValue::UInt(900), "{what}");
        }
        assert_eq!(
            at(&["rc-mode", "rate-control"]),
            PropValue::Nick("vbr".into()),
            "{what}"
        );
        checked += 1;
    }
    assert!(checked >= 14, "{checked}");

    let presets = |family: Family, schema: &JsonSchema, property: &str| -> Vec<String> {
        Quality::ALL
            .iter()
            .map(|&quality| {
                let s = EncoderSettings {
                    codec: codec_of(&schema.name),
                    quality,
                    ..Default::default()
                };
                match encoder::configure(family, &s, schema).get(property) {
                    Some(PropValue::Nick(n)) => n.clone(),
                    other => panic!("{}: {property} = {other:?}", schema.name),
                }
            })
            .collect()
    };
    // The quality levels low … ultra high, low latency first, then high latency.
    assert_eq!(
        presets(
            Family::Nvenc,
            find_schema(&nvenc, "newest", "nvh264enc"),
            "preset"
        ),
        ["p1", "p2", "p4", "p6", "p3", "p4", "p6", "p7"]
    );
    assert_eq!(
        presets(
            Family::Nvenc,
            find_schema(&nvenc, "1.22.0", "nvh264enc"),
            "preset"
        ),
        [
            "low-latency-hp",
            "low-latency",
            "low-latency-hq",
            "low-latency-hq",
            "hp",
            "default",
            "hq",
            "hq"
        ]
    );
    let software = schemas("software-and-transport-elements.json");
    let x264 = find_schema(&software, "1.22.0", "x264enc");
    assert_eq!(
        presets(Family::X264, x264, "speed-preset"),
        [
            "ultrafast",
            "superfast",
            "veryfast",
            "faster",
            "faster",
            "fast",
            "medium",
            "slow"
        ]
    );
    let c = encoder::configure(Family::X264, &distinct, x264);
    assert_eq!(c.get("bitrate"), Some(&PropValue::UInt(3000)));
    assert_eq!(c.get("key-int-max"), Some(&PropValue::UInt(45)));
    assert_eq!(c.get("bframes"), Some(&PropValue::UInt(2)));
    // vbv-buf-capacity is in milliseconds of the average rate: 900 kbit at 3000 kbit/s.
    assert_eq!(c.get("vbv-buf-capacity"), Some(&PropValue::UInt(300)));
}

fn find_schema<'a>(all: &'a [(String, JsonSchema)], sec: &str, name: &str) -> &'a JsonSchema {
    all.iter()
        .find(|(s, e)| s == sec && e.name == name)
        .map(|(_, e)| e)
        .unwrap_or_else(|| panic!("{sec} {name}"))
}
