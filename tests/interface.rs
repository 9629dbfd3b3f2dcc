//! The elements' public interface (properties with types, defaults, ranges and blurbs; enum values;
//! pad templates; signals) of both plugins against the committed `docs/plugins/tdstream.json` and
//! `docs/plugins/tdstreamrtsp.json`, so that an accidental change fails here. After an intended
//! change: `TDSTREAM_UPDATE_INTERFACE=1 cargo test --test interface` rewrites the files (and fails, so
//! that a run with the variable never passes by rewriting), then commit them and run it again.

mod common;

use gst::glib;
use gst::prelude::*;
use serde_json::{json, Value};

fn range(p: &glib::ParamSpec) -> Value {
    macro_rules! r {
        ($t:ty) => {
            if let Some(s) = p.downcast_ref::<$t>() {
                return json!([s.minimum().to_string(), s.maximum().to_string()]);
            }
        };
    }
    r!(glib::ParamSpecUInt);
    r!(glib::ParamSpecInt);
    r!(glib::ParamSpecDouble);
    Value::Null
}

fn enum_values(p: &glib::ParamSpec) -> Value {
    p.downcast_ref::<glib::ParamSpecEnum>()
        .map(|e| {
            e.enum_class()
                .values()
                .iter()
                .map(|v| json!({"nick": v.nick(), "desc": v.name(), "value": v.value()}))
                .collect::<Vec<_>>()
                .into()
        })
        .unwrap_or(Value::Null)
}

/// The signals a type itself defines.
fn signal_names(t: glib::Type) -> Vec<String> {
    use glib::translate::IntoGlib;
    let mut n = 0u32;
    // SAFETY: GLib returns an array of n ids that we free; every id has a static name.
    unsafe {
        let ids = glib::gobject_ffi::g_signal_list_ids(t.into_glib(), &mut n);
        let names = (0..n as usize)
            .map(|i| {
                let name = glib::gobject_ffi::g_signal_name(*ids.add(i));
                std::ffi::CStr::from_ptr(name)
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        glib::ffi::g_free(ids as glib::ffi::gpointer);
        names
    }
}

fn describe(factory_name: &str) -> Value {
    let factory = gst::ElementFactory::find(factory_name).expect("factory");
    let element = factory.create().build().expect("element");
    let own = element.type_();
    let mut props = serde_json::Map::new();
    for p in element
        .list_properties()
        .iter()
        .filter(|p| p.owner_type() == own)
    {
        // A structure or caps property without a default holds NULL, which gst_value_serialize refuses
        // with a CRITICAL: "" without asking.
        let value = p.default_value();
        let null = value
            .get::<Option<gst::Structure>>()
            .is_ok_and(|s| s.is_none())
            || value.get::<Option<gst::Caps>>().is_ok_and(|c| c.is_none());
        let default = if null {
            String::new()
        } else {
            value.serialize().map(|s| s.to_string()).unwrap_or_default()
        };
        let flags = p.flags();
        props.insert(
            p.name().to_string(),
            json!({
                "nick": p.nick(),
                "blurb": p.blurb(),
                "type": p.value_type().name(),
                "default": default,
                "range": range(p),
                "values": enum_values(p),
                "readable": flags.contains(glib::ParamFlags::READABLE),
                "writable": flags.contains(glib::ParamFlags::WRITABLE),
            }),
        );
    }
    let pads: Vec<Value> = factory
        .static_pad_templates()
        .iter()
        .map(|t| json!({"name": t.name_template(), "direction": format!("{:?}", t.direction()), "presence": format!("{:?}", t.presence()), "caps": t.caps().to_string()}))
        .collect();
    let signals: Vec<Value> = signal_names(own)
        .into_iter()
        .map(|name| {
            let action = glib::subclass::SignalId::lookup(&name, own)
                .is_some_and(|id| id.query().flags().contains(glib::SignalFlags::ACTION));
            json!({"name": name, "action": action})
        })
        .collect();
    json!({
        "long-name": factory.metadata(gst::ELEMENT_METADATA_LONGNAME),
        "klass": factory.metadata(gst::ELEMENT_METADATA_KLASS),
        "description": factory.metadata(gst::ELEMENT_METADATA_DESCRIPTION),
        "properties": props,
        "pad-templates": pads,
        "signals": signals,
    })
}

#[test]
fn interface_matches_the_committed_dump() {
    common::init();
    // Both plugins: tdstream, and tdstreamrtsp (the RTSP server, a library of its own).
    for name in ["tdstream", "tdstreamrtsp"] {
        let plugin = gst::Registry::get().find_plugin(name).expect("plugin");
        let mut elements = serde_json::Map::new();
        for f in gst::Registry::get().features_by_plugin(name) {
            if f.downcast_ref::<gst::ElementFactory>().is_some() {
                elements.insert(f.name().to_string(), describe(&f.name()));
            }
        }
        let now = json!({"plugin": plugin.plugin_name().to_string(), "description": plugin.description().to_string(), "elements": elements});
        let text = serde_json::to_string_pretty(&now).expect("json") + "\n";
        let path = format!("{}/docs/plugins/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != text && std::env::var_os("TDSTREAM_UPDATE_INTERFACE").is_some() {
            std::fs::write(&path, &text).expect("write dump");
            panic!(
                "docs/plugins/{name}.json rewritten (TDSTREAM_UPDATE_INTERFACE is set): review and commit \
                 it, then run this test again without the variable"
            );
        }
        assert!(
            committed == text,
            "the {name} plugin's interface changed. If intended: TDSTREAM_UPDATE_INTERFACE=1 cargo test \
             --test interface, then commit docs/plugins/{name}.json. Now:\n{text}"
        );
    }
}
