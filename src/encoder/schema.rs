//! What an encoder element's properties look like, as seen by the encoder tables.
//!
//! At run time the schema comes from the installed element's GObject class ([`ClassSchema`]); in tests it
//! comes from the reference JSON schemas of every GStreamer version. The tables only ever ask "does this
//! property exist, and of what kind", so names and enum nicks are never assumed from a version number.

use gst::glib;
use gst::prelude::*;

/// The kind and range of one property.
#[derive(Debug, Clone, PartialEq)]
pub enum PropKind {
    Bool,
    UInt { min: u64, max: u64 },
    Int { min: i64, max: i64 },
    Double { min: f64, max: f64 },
    Enum { nicks: Vec<String> },
    Flags { nicks: Vec<String> },
    String,
    Other(String),
}

impl PropKind {
    pub fn has_nick(&self, nick: &str) -> bool {
        match self {
            PropKind::Enum { nicks } | PropKind::Flags { nicks } => nicks.iter().any(|n| n == nick),
            _ => false,
        }
    }
}

/// Looks properties up by name.
pub trait PropertySchema {
    /// The element factory name (`nvh264enc`, `x264enc`, ...).
    fn element_name(&self) -> &str;
    fn property(&self, name: &str) -> Option<PropKind>;

    fn has(&self, name: &str) -> bool {
        self.property(name).is_some()
    }

    /// Whether the enum (or flags) property `name` has the value `nick`.
    fn has_nick(&self, name: &str, nick: &str) -> bool {
        self.property(name).is_some_and(|k| k.has_nick(nick))
    }
}

/// The schema of an installed element, read from its GObject class.
pub struct ClassSchema {
    name: String,
    specs: Vec<glib::ParamSpec>,
}

impl ClassSchema {
    /// Loads `factory` and reads its class. `None` when the element type cannot be loaded.
    pub fn for_factory(factory: &gst::ElementFactory) -> Option<ClassSchema> {
        let factory = factory.load().ok()?;
        let type_ = factory.element_type();
        let class = glib::Class::<glib::Object>::from_type(type_)?;
        let specs = class.list_properties().to_vec();
        Some(ClassSchema {
            name: factory.name().to_string(),
            specs,
        })
    }
}

impl PropertySchema for ClassSchema {
    fn element_name(&self) -> &str {
        &self.name
    }

    fn property(&self, name: &str) -> Option<PropKind> {
        let spec = self.specs.iter().find(|s| s.name() == name)?;
        Some(kind_of(spec))
    }
}

fn kind_of(spec: &glib::ParamSpec) -> PropKind {
    if spec.is::<glib::ParamSpecBoolean>() {
        return PropKind::Bool;
    }
    if let Some(s) = spec.downcast_ref::<glib::ParamSpecUInt>() {
        return PropKind::UInt {
            min: s.minimum() as u64,
            max: s.maximum() as u64,
        };
    }
    if let Some(s) = spec.downcast_ref::<glib::ParamSpecUInt64>() {
        return PropKind::UInt {
            min: s.minimum(),
            max: s.maximum(),
        };
    }
    if let Some(s) = spec.downcast_ref::<glib::ParamSpecInt>() {
        return PropKind::Int {
            min: s.minimum() as i64,
            max: s.maximum() as i64,
        };
    }
    if let Some(s) = spec.downcast_ref::<glib::ParamSpecInt64>() {
        return PropKind::Int {
            min: s.minimum(),
            max: s.maximum(),
        };
    }
    if let Some(s) = spec.downcast_ref::<glib::ParamSpecDouble>() {
        return PropKind::Double {
            min: s.minimum(),
            max: s.maximum(),
        };
    }
    if let Some(s) = spec.downcast_ref::<glib::ParamSpecFloat>() {
        return PropKind::Double {
            min: s.minimum() as f64,
            max: s.maximum() as f64,
        };
    }
    if let Some(s) = spec.downcast_ref::<glib::ParamSpecEnum>() {
        let nicks = s
            .enum_class()
            .values()
            .iter()
            .map(|v| v.nick().to_string())
            .collect();
        return PropKind::Enum { nicks };
    }
    if let Some(s) = spec.downcast_ref::<glib::ParamSpecFlags>() {
        let nicks = s
            .flags_class()
            .values()
            .iter()
            .map(|v| v.nick().to_string())
            .collect();
        return PropKind::Flags { nicks };
    }
    if spec.is::<glib::ParamSpecString>() {
        return PropKind::String;
    }
    PropKind::Other(spec.value_type().name().to_string())
}
