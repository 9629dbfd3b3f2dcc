//! # TEST-ONLY NVENC stand-in
//!
//! No machine this project is built and tested on has an NVIDIA GPU. This crate registers GStreamer
//! elements under the **real NVENC element names** (`nvh264enc`, `nvcudah264enc`, `nvautogpuh264enc`,
//! `nvav1enc`, ...) with **exactly the property schema** GStreamer's docs cache records for them (one
//! schema section per process: GStreamer 1.22.0 or the newest release), and encodes in **software**
//! (x264enc / x265enc / av1enc) inside. It exists so that `nvencstreamsink`'s NVENC selection and
//! configuration code runs end to end in the tests.
//!
//! It is never installed and never part of `libgsttdstream.so`. Every element it registers says
//! "TEST STAND-IN" in its long name and description.
//!
//! Failure modes of the real hardware, for the fallback tests, through the environment variable
//! `TDSTREAM_NVENC_STANDIN_FAIL`: `no-device` (fails to open, like a machine without a CUDA device) and
//! `sessions` (fails to start encoding, like exhausted NVENC sessions).

use gst::glib;
use gst::glib::translate::*;
use gst::prelude::*;
use gst::subclass::prelude::*;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::ffi::CString;
use std::sync::{LazyLock, Mutex};

pub const SCHEMA_JSON: &str = include_str!("../../tests/schemas/nvenc-elements.json");
pub const FAIL_ENV: &str = "TDSTREAM_NVENC_STANDIN_FAIL";

/// One property as the schema describes it.
#[derive(Debug, Clone)]
pub struct SchemaProp {
    pub name: String,
    pub blurb: String,
    pub type_name: String,
    pub json: Json,
}

/// One element of a schema section.
#[derive(Debug, Clone)]
pub struct SchemaElement {
    pub name: String,
    pub rank: String,
    pub klass: String,
    pub description: String,
    pub hierarchy: Vec<String>,
    pub props: Vec<SchemaProp>,
}

/// An enum type of a schema section: (nick, description, value).
pub type SchemaEnum = Vec<(String, String, i32)>;

pub struct Schema {
    pub elements: Vec<SchemaElement>,
    pub enums: HashMap<String, SchemaEnum>,
}

/// Reads a section (`"1.22.0"` or `"newest"`) of the NVENC reference schema: each element with its own
/// properties plus those of its base classes (GstNvBaseEnc, GstNvEncoder) found in `other-types`.
pub fn schema(section: &str) -> Result<Schema, String> {
    let root: Json = serde_json::from_str(SCHEMA_JSON).map_err(|e| e.to_string())?;
    let nv = &root[section]["nvcodec"];
    let elements = nv["elements"]
        .as_object()
        .ok_or(format!("no section {section}"))?;
    let others = nv["other-types"].as_object().cloned().unwrap_or_default();
    let mut enums = HashMap::new();
    for (name, t) in &others {
        if t["kind"] == "enum" {
            let values = t["values"]
                .as_array()
                .map(|vs| {
                    vs.iter()
                        .map(|v| {
                            (
                                v["name"].as_str().unwrap_or("").to_string(),
                                v["desc"].as_str().unwrap_or("").to_string(),
                                v["value"]
                                    .as_str()
                                    .and_then(|s| s.parse().ok())
                                    .unwrap_or(0),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            enums.insert(name.clone(), values);
        }
    }
    let mut out = Vec::new();
    for (name, e) in elements {
        let hierarchy: Vec<String> = e["hierarchy"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let mut props = Vec::new();
        let mut add = |obj: &Json| {
            if let Some(ps) = obj["properties"].as_object() {
                for (pname, pv) in ps {
                    if props.iter().any(|p: &SchemaProp| &p.name == pname) {
                        continue;
                    }
                    props.push(SchemaProp {
                        name: pname.clone(),
                        blurb: pv["blurb"].as_str().unwrap_or("").to_string(),
                        type_name: pv["type"].as_str().unwrap_or("").to_string(),
                        json: pv.clone(),
                    });
                }
            }
        };
        add(e);
        for base in hierarchy.iter().skip(1) {
            if let Some(b) = others.get(base) {
                add(b);
            }
        }
        props.sort_by(|a, b| a.name.cmp(&b.name));
        out.push(SchemaElement {
            name: name.clone(),
            rank: e["rank"].as_str().unwrap_or("none").to_string(),
            klass: e["klass"].as_str().unwrap_or("").to_string(),
            description: e["description"].as_str().unwrap_or("").to_string(),
            hierarchy,
            props,
        });
    }
    Ok(Schema {
        elements: out,
        enums,
    })
}

fn num<T: std::str::FromStr>(j: &Json, key: &str) -> Option<T> {
    j[key].as_str().and_then(|s| s.parse().ok())
}

/// GLib's docs cache prints G_MAXUINT as -1.
fn unsigned(j: &Json, key: &str, max: u64) -> Option<u64> {
    let s = j[key].as_str()?;
    if s == "-1" {
        Some(max)
    } else {
        s.parse().ok()
    }
}

fn enum_type(name: &str, values: &SchemaEnum) -> glib::Type {
    let type_name = format!("TdStandin{name}");
    if let Some(t) = glib::Type::from_name(&type_name) {
        return t;
    }
    // GLib keeps the value table for the life of the type: leak it.
    let mut table: Vec<glib::gobject_ffi::GEnumValue> = values
        .iter()
        .map(|(nick, desc, value)| glib::gobject_ffi::GEnumValue {
            value: *value,
            value_name: CString::new(desc.as_str()).unwrap_or_default().into_raw(),
            value_nick: CString::new(nick.as_str()).unwrap_or_default().into_raw(),
        })
        .collect();
    table.push(glib::gobject_ffi::GEnumValue {
        value: 0,
        value_name: std::ptr::null(),
        value_nick: std::ptr::null(),
    });
    let table = Box::leak(table.into_boxed_slice());
    let cname = CString::new(type_name).unwrap_or_default();
    // SAFETY: the table is NUL-terminated and lives forever.
    unsafe {
        from_glib(glib::gobject_ffi::g_enum_register_static(
            cname.into_raw(),
            table.as_ptr(),
        ))
    }
}

fn flags(j: &Json) -> glib::ParamFlags {
    let mut f = glib::ParamFlags::empty();
    if j["readable"] == true {
        f |= glib::ParamFlags::READABLE;
    }
    if j["writable"] == true {
        f |= glib::ParamFlags::WRITABLE;
    }
    if j["construct-only"] == true {
        f |= glib::ParamFlags::CONSTRUCT_ONLY;
    }
    match j["mutable"].as_str() {
        Some("playing") => f |= gst::PARAM_FLAG_MUTABLE_PLAYING,
        Some("paused") => f |= gst::PARAM_FLAG_MUTABLE_PAUSED,
        Some("ready") => f |= gst::PARAM_FLAG_MUTABLE_READY,
        _ => {}
    }
    f
}

/// The ParamSpec for a schema property, with the schema's type, range, default and flags.
pub fn param_spec(p: &SchemaProp, enums: &HashMap<String, SchemaEnum>) -> Option<glib::ParamSpec> {
    let j = &p.json;
    let f = flags(j);
    let name = p.name.as_str();
    let blurb = p.blurb.as_str();
    let spec = match p.type_name.as_str() {
        "gboolean" => glib::ParamSpecBoolean::builder(name)
            .blurb(blurb)
            .default_value(j["default"] == "true")
            .flags(f)
            .build(),
        "guint" => glib::ParamSpecUInt::builder(name)
            .blurb(blurb)
            .minimum(unsigned(j, "min", u32::MAX as u64)? as u32)
            .maximum(unsigned(j, "max", u32::MAX as u64)? as u32)
            .default_value(unsigned(j, "default", u32::MAX as u64)? as u32)
            .flags(f)
            .build(),
        "gint" => glib::ParamSpecInt::builder(name)
            .blurb(blurb)
            .minimum(num(j, "min")?)
            .maximum(num(j, "max")?)
            .default_value(num(j, "default")?)
            .flags(f)
            .build(),
        "gint64" => glib::ParamSpecInt64::builder(name)
            .blurb(blurb)
            .minimum(num(j, "min")?)
            .maximum(num(j, "max")?)
            .default_value(num(j, "default")?)
            .flags(f)
            .build(),
        "gdouble" => glib::ParamSpecDouble::builder(name)
            .blurb(blurb)
            .minimum(num(j, "min")?)
            .maximum(num(j, "max")?)
            .default_value(num(j, "default")?)
            .flags(f)
            .build(),
        "GstObject" => glib::ParamSpecObject::builder::<gst::Object>(name)
            .blurb(blurb)
            .flags(f)
            .build(),
        other => {
            let values = enums.get(other)?;
            let t = enum_type(other, values);
            let default_nick = j["default"].as_str()?.split(' ').next()?.to_string();
            let default = values
                .iter()
                .find(|(n, _, _)| *n == default_nick)
                .map(|v| v.2)
                .unwrap_or(0);
            // SAFETY: `t` is a registered enum type and `default` one of its values.
            unsafe {
                let cname = CString::new(name).ok()?;
                let cblurb = CString::new(blurb).ok()?;
                from_glib_none(glib::gobject_ffi::g_param_spec_enum(
                    cname.as_ptr(),
                    std::ptr::null(),
                    cblurb.as_ptr(),
                    t.into_glib(),
                    default,
                    f.into_glib(),
                ))
            }
        }
    };
    Some(spec)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Codec {
    H264,
    H265,
    Av1,
}

struct SubtypeData {
    element: String,
    codec: Codec,
    specs: Vec<glib::ParamSpec>,
    klass: String,
    description: String,
}

static SUBTYPES: LazyLock<Mutex<HashMap<glib::Type, &'static SubtypeData>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn subtype_data(t: glib::Type) -> Option<&'static SubtypeData> {
    let map = SUBTYPES.lock().ok()?;
    let mut t = t;
    loop {
        if let Some(d) = map.get(&t) {
            return Some(d);
        }
        t = t.parent()?;
    }
}

unsafe extern "C" fn subtype_class_init(klass: glib::ffi::gpointer, data: glib::ffi::gpointer) {
    // SAFETY: `data` is the leaked SubtypeData given in the GTypeInfo; `klass` is our element class.
    unsafe {
        let data = &*(data as *const SubtypeData);
        let oclass = klass as *mut glib::gobject_ffi::GObjectClass;
        // GObject resets these for every derived class: take the base's (our Rust base type's) ones.
        let parent = glib::gobject_ffi::g_type_class_peek_parent(klass)
            as *mut glib::gobject_ffi::GObjectClass;
        if !parent.is_null() {
            (*oclass).set_property = (*parent).set_property;
            (*oclass).get_property = (*parent).get_property;
        }
        for (i, spec) in data.specs.iter().enumerate() {
            glib::gobject_ffi::g_object_class_install_property(
                oclass,
                (i + 1) as u32,
                spec.to_glib_full(),
            );
        }
        let eclass = klass as *mut gst::ffi::GstElementClass;
        let long = CString::new(format!(
            "{} (TEST STAND-IN: software encoder, no GPU)",
            data.element
        ))
        .unwrap_or_default();
        let klass_s = CString::new(data.klass.as_str()).unwrap_or_default();
        let desc = CString::new(format!(
            "TEST STAND-IN for NVIDIA NVENC, encoding in software; property schema of the real element: {}",
            data.description
        ))
        .unwrap_or_default();
        let author = CString::new("tdstream tests").unwrap_or_default();
        gst::ffi::gst_element_class_set_metadata(
            eclass,
            long.as_ptr(),
            klass_s.as_ptr(),
            desc.as_ptr(),
            author.as_ptr(),
        );
        let media = match data.codec {
            Codec::H264 => "video/x-h264, stream-format=byte-stream, alignment=au",
            Codec::H265 => "video/x-h265, stream-format=byte-stream, alignment=au",
            Codec::Av1 => "video/x-av1",
        };
        if let (Ok(caps), Some(raw)) = (
            media.parse::<gst::Caps>(),
            "video/x-raw".parse::<gst::Caps>().ok(),
        ) {
            for (name, dir, caps) in [
                ("sink", gst::PadDirection::Sink, raw),
                ("src", gst::PadDirection::Src, caps),
            ] {
                if let Ok(t) = gst::PadTemplate::new(name, dir, gst::PadPresence::Always, &caps) {
                    gst::ffi::gst_element_class_add_pad_template(eclass, t.to_glib_full());
                }
            }
        }
    }
}

fn rank_of(s: &str) -> gst::Rank {
    let base = if s.starts_with("primary") {
        gst::Rank::PRIMARY
    } else if s.starts_with("secondary") {
        gst::Rank::SECONDARY
    } else if s.starts_with("marginal") {
        gst::Rank::MARGINAL
    } else {
        gst::Rank::NONE
    };
    let plus: i32 = s
        .split('+')
        .nth(1)
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    gst::Rank::from(i32::from(base) + plus)
}

/// Registers every Linux NVENC element of `section` (`"1.22.0"` or `"newest"`), unless an element of
/// that name already exists (a real NVENC always wins). Returns the names registered.
pub fn register(section: &str) -> Result<Vec<String>, String> {
    static DONE: Mutex<Option<String>> = Mutex::new(None);
    let mut done = DONE.lock().map_err(|e| e.to_string())?;
    if let Some(prev) = done.as_ref() {
        return if prev == section {
            Ok(Vec::new())
        } else {
            Err(format!("already registered {prev}"))
        };
    }
    let schema = schema(section)?;
    let base = imp::StandinEnc::type_();
    let mut query = std::mem::MaybeUninit::<glib::gobject_ffi::GTypeQuery>::zeroed();
    // SAFETY: base is a registered type.
    let query = unsafe {
        glib::gobject_ffi::g_type_query(base.into_glib(), query.as_mut_ptr());
        query.assume_init()
    };
    let mut names = Vec::new();
    for e in &schema.elements {
        if e.name.starts_with("nvd3d11") || gst::ElementFactory::find(&e.name).is_some() {
            continue;
        }
        let codec = if e.name.contains("265") {
            Codec::H265
        } else if e.name.contains("av1") {
            Codec::Av1
        } else {
            Codec::H264
        };
        let specs = e
            .props
            .iter()
            .filter_map(|p| param_spec(p, &schema.enums))
            .collect::<Vec<_>>();
        if specs.len() != e.props.len() {
            return Err(format!("{}: could not build every property", e.name));
        }
        let data: &'static SubtypeData = Box::leak(Box::new(SubtypeData {
            element: e.name.clone(),
            codec,
            specs,
            klass: e.klass.clone(),
            description: e.description.clone(),
        }));
        let info = glib::gobject_ffi::GTypeInfo {
            class_size: query.class_size as u16,
            base_init: None,
            base_finalize: None,
            class_init: Some(subtype_class_init),
            class_finalize: None,
            class_data: data as *const SubtypeData as glib::ffi::gconstpointer,
            instance_size: query.instance_size as u16,
            n_preallocs: 0,
            instance_init: None,
            value_table: std::ptr::null(),
        };
        let type_name = CString::new(format!(
            "TdStandin{}",
            e.hierarchy
                .first()
                .cloned()
                .unwrap_or_else(|| e.name.clone())
        ))
        .map_err(|e| e.to_string())?;
        // SAFETY: a plain derived type of our base, with the base's sizes.
        let t: glib::Type = unsafe {
            from_glib(glib::gobject_ffi::g_type_register_static(
                base.into_glib(),
                type_name.as_ptr(),
                &info,
                0,
            ))
        };
        if t == glib::Type::INVALID {
            return Err(format!("{}: type registration failed", e.name));
        }
        SUBTYPES.lock().map_err(|e| e.to_string())?.insert(t, data);
        gst::Element::register(None, &e.name, rank_of(&e.rank), t)
            .map_err(|err| err.to_string())?;
        names.push(e.name.clone());
    }
    *done = Some(section.to_string());
    Ok(names)
}

mod imp {
    use super::*;

    pub struct StandinEnc {
        values: Mutex<HashMap<String, glib::SendValue>>,
        inner: Mutex<Option<gst::Element>>,
    }

    impl Default for StandinEnc {
        fn default() -> Self {
            StandinEnc {
                values: Mutex::new(HashMap::new()),
                inner: Mutex::new(None),
            }
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for StandinEnc {
        const NAME: &'static str = "TdNvencStandinBase";
        type Type = super::StandinEncElement;
        type ParentType = gst::Bin;
    }

    impl StandinEnc {
        pub fn type_() -> glib::Type {
            super::StandinEncElement::static_type()
        }

        fn apply(&self, name: &str, value: &glib::Value) {
            let Some(inner) = self.inner.lock().ok().and_then(|g| g.clone()) else {
                return;
            };
            let factory = inner
                .factory()
                .map(|f| f.name().to_string())
                .unwrap_or_default();
            let as_i64 = || -> Option<i64> {
                value
                    .get::<u32>()
                    .map(i64::from)
                    .ok()
                    .or_else(|| value.get::<i32>().map(i64::from).ok())
            };
            match (name, factory.as_str()) {
                ("bitrate", "x264enc" | "x265enc") => {
                    if let Some(v) = as_i64().filter(|v| *v > 0) {
                        inner.set_property("bitrate", v.min(100_000) as u32);
                    }
                }
                ("bitrate", "av1enc") => {
                    if let Some(v) = as_i64().filter(|v| *v > 0) {
                        inner.set_property("target-bitrate", v as u32);
                    }
                }
                ("gop-size", "x264enc") => {
                    if let Some(v) = as_i64() {
                        inner.set_property("key-int-max", v.max(0) as u32);
                    }
                }
                ("gop-size", "x265enc") => {
                    if let Some(v) = as_i64() {
                        inner.set_property("key-int-max", v.max(0) as i32);
                    }
                }
                ("gop-size", "av1enc") => {
                    if let Some(v) = as_i64() {
                        inner.set_property("keyframe-max-dist", v.max(0) as i32);
                    }
                }
                ("bframes" | "b-frames", "x264enc") => {
                    if let Some(v) = as_i64() {
                        inner.set_property("bframes", v.clamp(0, 16) as u32);
                    }
                }
                _ => {}
            }
        }
    }

    impl ObjectImpl for StandinEnc {
        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            let Some(data) = subtype_data(obj.type_()) else {
                return;
            };
            let mut values = HashMap::new();
            for s in &data.specs {
                values.insert(s.name().to_string(), send(s.default_value().clone()));
            }
            *self.values.lock().unwrap_or_else(|e| e.into_inner()) = values;
            let factory = match data.codec {
                Codec::H264 => "x264enc",
                Codec::H265 => "x265enc",
                Codec::Av1 => "av1enc",
            };
            let (Ok(convert), Ok(enc)) = (
                gst::ElementFactory::make("videoconvert").build(),
                gst::ElementFactory::make(factory).build(),
            ) else {
                return;
            };
            let _ = (|| -> Option<()> {
                if factory == "av1enc" {
                    enc.set_property("cpu-used", 8i32);
                    let _ = super::set_enum(&enc, "usage-profile", "realtime");
                } else {
                    super::set_enum(&enc, "speed-preset", "ultrafast")?;
                    if factory == "x265enc" {
                        super::set_enum(&enc, "tune", "zerolatency")?;
                    } else {
                        enc.set_property_from_str("tune", "zerolatency");
                        // Like NVENC, honour the profile that downstream caps ask for (x264 lowers
                        // CABAC/8x8 itself for baseline/main).
                        enc.set_property("cabac", true);
                        enc.set_property("dct8x8", true);
                    }
                }
                obj.add_many([&convert, &enc]).ok()?;
                convert.link(&enc).ok()?;
                for (name, el) in [("sink", &convert), ("src", &enc)] {
                    let templ = obj.pad_template(name)?;
                    let target = el.static_pad(name)?;
                    let pad = gst::GhostPad::builder_from_template(&templ)
                        .name(name)
                        .build();
                    pad.set_target(Some(&target)).ok()?;
                    obj.add_pad(&pad).ok()?;
                }
                Some(())
            })();
            *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = Some(enc);
            let initial: Vec<(String, glib::Value)> = self
                .values
                .lock()
                .map(|v| v.iter().map(|(k, v)| (k.clone(), (**v).clone())).collect())
                .unwrap_or_default();
            for (k, v) in initial {
                self.apply(&k, &v);
            }
        }

        fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
            if let Ok(mut v) = self.values.lock() {
                v.insert(pspec.name().to_string(), send(value.clone()));
            }
            self.apply(pspec.name(), value);
        }

        fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
            self.values
                .lock()
                .ok()
                .and_then(|v| v.get(pspec.name()).map(|v| (**v).clone()))
                .unwrap_or_else(|| pspec.default_value().clone())
        }
    }

    /// The stored values are numbers, booleans, enums and GstObjects: all safe to send.
    fn send(v: glib::Value) -> glib::SendValue {
        // SAFETY: see above; the schema has no other property types.
        unsafe { v.into_send_value() }
    }

    impl GstObjectImpl for StandinEnc {}

    impl ElementImpl for StandinEnc {
        fn change_state(
            &self,
            t: gst::StateChange,
        ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
            let fail = std::env::var(FAIL_ENV).unwrap_or_default();
            match (t, fail.as_str()) {
                (gst::StateChange::NullToReady, "no-device") => {
                    gst::element_imp_error!(
                        self,
                        gst::LibraryError::Init,
                        ("Failed to open CUDA device (stand-in: simulated machine without a CUDA device)"));
                    return Err(gst::StateChangeError);
                }
                (gst::StateChange::ReadyToPaused, "sessions") => {
                    gst::element_imp_error!(
                        self,
                        gst::LibraryError::Init,
                        ("OpenEncodeSessionEx failed: NV_ENC_ERR_OUT_OF_MEMORY (stand-in: simulated exhausted NVENC encode sessions)"));
                    return Err(gst::StateChangeError);
                }
                _ => {}
            }
            self.parent_change_state(t)
        }
    }

    impl BinImpl for StandinEnc {}
}

glib::wrapper! {
    /// The base of every stand-in element; the registered element types derive from it.
    pub struct StandinEncElement(ObjectSubclass<imp::StandinEnc>) @extends gst::Bin, gst::Element, gst::Object;
}

fn set_enum(element: &gst::Element, name: &str, nick: &str) -> Option<()> {
    let pspec = element.find_property(name)?;
    let v = glib::EnumClass::with_type(pspec.value_type())?.to_value_by_nick(nick)?;
    element.set_property_from_value(name, &v);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every property of every NVENC element of both sections becomes a ParamSpec with the schema's
    /// type (the stand-in refuses to register otherwise).
    #[test]
    fn every_schema_property_becomes_a_param_spec() {
        for section in ["1.22.0", "newest"] {
            let s = schema(section).expect("section");
            assert!(s.elements.len() >= 7, "{section}");
            for e in &s.elements {
                assert!(!e.props.is_empty(), "{section} {}", e.name);
                for p in &e.props {
                    assert!(
                        param_spec(p, &s.enums).is_some(),
                        "{section} {}.{} ({})",
                        e.name,
                        p.name,
                        p.type_name
                    );
                }
            }
        }
    }

    #[test]
    fn legacy_elements_inherit_their_base_class_properties() {
        let s = schema("1.22.0").expect("section");
        let legacy = s
            .elements
            .iter()
            .find(|e| e.name == "nvh264enc")
            .expect("nvh264enc");
        for p in [
            "bitrate",
            "rc-mode",
            "preset",
            "gop-size",
            "bframes",
            "zerolatency",
        ] {
            assert!(legacy.props.iter().any(|x| x.name == p), "{p}");
        }
    }

    #[test]
    fn ranks_parse() {
        assert_eq!(
            rank_of("primary + 256"),
            gst::Rank::from(i32::from(gst::Rank::PRIMARY) + 256)
        );
        assert_eq!(rank_of("none"), gst::Rank::NONE);
    }
}
