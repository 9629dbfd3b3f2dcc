//! The run-time encoder policy: `encoder=auto` takes NVENC when an NVENC element exists and opens,
//! else software (with the reason); `encoder=nvenc` insists; `encoder-name` forces any element.

use gst::glib;
use gst::prelude::*;
use std::time::Duration;

use super::catalog::{self, Family, KnownEncoder};
use super::config::{EncoderConfig, PropValue};
use super::schema::ClassSchema;
use super::settings::EncoderSettings;
use super::{configure, nvenc};
use crate::plugins::MissingElement;

/// Which encoders `nvencstreamsink` may use.
#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "TdStreamEncoderPolicy")]
pub enum EncoderPolicy {
    #[enum_value(
        name = "NVENC when an NVENC element exists and opens, otherwise software (with a warning that says why)",
        nick = "auto"
    )]
    Auto = 0,
    #[enum_value(
        name = "NVENC only: fail with a clear error when it cannot be used",
        nick = "nvenc"
    )]
    Nvenc = 1,
    #[enum_value(
        name = "Software only (x264enc, x265enc, svtav1enc/av1enc/rav1enc)",
        nick = "software"
    )]
    Software = 2,
}

/// The encoder that was chosen, configured and ready to add to the bin.
pub struct Chosen {
    pub element: gst::Element,
    pub factory: String,
    pub is_nvenc: bool,
    pub config: EncoderConfig,
    /// Why NVENC was not used, when `encoder=auto` fell back to software.
    pub fallback_reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error(
        "encoder=nvenc but NVENC cannot be used for video-codec={codec}: {reasons}. Fix: install the \
         NVIDIA driver with NVENC and gstreamer1.0-plugins-bad, or set encoder=auto to fall back to software"
    )]
    NoNvenc {
        codec: &'static str,
        reasons: String,
    },
    #[error("{0}")]
    Missing(MissingElement),
    #[error(
        "encoder-name={name}: no such element is installed. Fix: check the name with gst-inspect-1.0 \
         {name}, or clear encoder-name to let encoder={policy} choose"
    )]
    UnknownForced { name: String, policy: &'static str },
    #[error(
        "encoder-name={name} produces {produces}, but video-codec={codec}. Fix: set video-codec to match, \
         or choose an encoder for {codec}"
    )]
    ForcedCodecMismatch {
        name: String,
        produces: String,
        codec: &'static str,
    },
    #[error("encoder {name}: {reason}")]
    Configure { name: String, reason: String },
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

pub fn choose(
    policy: EncoderPolicy,
    forced: Option<&str>,
    settings: &EncoderSettings,
) -> Result<Chosen, SelectError> {
    let codec = settings.codec;
    if let Some(name) = forced.filter(|n| !n.is_empty()) {
        return choose_forced(name, policy, settings);
    }

    let mut fallback_reason = None;
    if policy != EncoderPolicy::Software {
        match choose_nvenc(settings) {
            Ok(chosen) => return Ok(chosen),
            Err(reasons) if policy == EncoderPolicy::Nvenc => {
                return Err(SelectError::NoNvenc {
                    codec: codec.nick(),
                    reasons,
                })
            }
            Err(reasons) => fallback_reason = Some(reasons),
        }
    }

    let mut first_missing = None;
    for known in catalog::candidates(codec, false) {
        let Some(factory) = gst::ElementFactory::find(known.factory) else {
            first_missing.get_or_insert(known);
            continue;
        };
        let (element, config) = build(&factory, known.family, settings)?;
        return Ok(Chosen {
            element,
            factory: known.factory.to_string(),
            is_nvenc: false,
            config,
            fallback_reason,
        });
    }
    let known = first_missing.unwrap_or(&catalog::KNOWN_ENCODERS[0]);
    Err(SelectError::Missing(MissingElement::new(
        known.factory,
        &format!(
            "software {} encoding (video-codec={})",
            codec.nick(),
            codec.nick()
        ),
    )))
}

fn choose_forced(
    name: &str,
    policy: EncoderPolicy,
    settings: &EncoderSettings,
) -> Result<Chosen, SelectError> {
    let policy_nick = match policy {
        EncoderPolicy::Auto => "auto",
        EncoderPolicy::Nvenc => "nvenc",
        EncoderPolicy::Software => "software",
    };
    let factory = gst::ElementFactory::find(name).ok_or_else(|| SelectError::UnknownForced {
        name: crate::display::shown(name),
        policy: policy_nick,
    })?;
    let media = settings.codec.media_type();
    let produces = factory
        .static_pad_templates()
        .iter()
        .filter(|t| t.direction() == gst::PadDirection::Src)
        .map(|t| t.caps().to_string())
        .collect::<Vec<_>>()
        .join("; ");
    if !produces.contains(media) {
        let short = produces
            .split([',', ';', ':'])
            .next()
            .unwrap_or("")
            .to_string();
        return Err(SelectError::ForcedCodecMismatch {
            name: name.to_string(),
            produces: short,
            codec: settings.codec.nick(),
        });
    }
    let family = catalog::family_of(name);
    let (element, config) = build(&factory, family, settings)?;
    Ok(Chosen {
        element,
        factory: name.to_string(),
        is_nvenc: family == Family::Nvenc,
        config,
        fallback_reason: None,
    })
}

/// Tries the NVENC elements for the codec in order; the error is the reasons, one per element.
fn choose_nvenc(settings: &EncoderSettings) -> Result<Chosen, String> {
    let mut present: Vec<(&KnownEncoder, gst::ElementFactory, bool)> =
        catalog::candidates(settings.codec, true)
            .filter_map(|k| {
                let f = gst::ElementFactory::find(k.factory)?;
                let legacy = ClassSchema::for_factory(&f).is_some_and(|s| nvenc::is_legacy(&s));
                Some((k, f, legacy))
            })
            .collect();
    if present.is_empty() {
        let names: Vec<_> = catalog::candidates(settings.codec, true)
            .map(|k| k.factory)
            .collect();
        return Err(format!(
            "no NVENC element is installed ({}); GStreamer's nvcodec plugin registers them only where an \
             NVIDIA driver with NVENC is present",
            names.join(", ")
        ));
    }
    // The pre-1.26 nvh264enc/nvh265enc comes after nvautogpu*/nvcuda*.
    present.sort_by_key(|(_, _, legacy)| *legacy);
    let mut reasons = Vec::new();
    for (known, factory, _) in present {
        let result = build(&factory, Family::Nvenc, settings)
            .map_err(|e| e.to_string())
            .and_then(|(element, config)| probe(&factory, &config).map(|()| (element, config)));
        match result {
            Ok((element, config)) => {
                return Ok(Chosen {
                    element,
                    factory: known.factory.to_string(),
                    is_nvenc: true,
                    config,
                    fallback_reason: None,
                })
            }
            Err(reason) => reasons.push(format!("{}: {reason}", known.factory)),
        }
    }
    Err(reasons.join("; "))
}

fn build(
    factory: &gst::ElementFactory,
    family: Family,
    settings: &EncoderSettings,
) -> Result<(gst::Element, EncoderConfig), SelectError> {
    let name = factory.name().to_string();
    let schema = ClassSchema::for_factory(factory).ok_or_else(|| SelectError::Configure {
        name: name.clone(),
        reason: "the element's plugin could not be loaded".into(),
    })?;
    let config = configure(family, settings, &schema);
    let element = factory
        .create()
        .name("encoder")
        .build()
        .map_err(|e| SelectError::Configure {
            name: name.clone(),
            reason: e.to_string(),
        })?;
    apply(&element, &config).map_err(|reason| SelectError::Configure { name, reason })?;
    Ok((element, config))
}

/// Configures an encoder that something else created (webrtcsink's per-viewer encoders): the same table
/// as for our own, chosen by the element's factory. Returns the warnings of the table.
pub fn configure_existing(
    element: &gst::Element,
    settings: &EncoderSettings,
) -> Result<Vec<String>, String> {
    let factory = element
        .factory()
        .ok_or_else(|| "the encoder has no factory".to_string())?;
    let schema = ClassSchema::for_factory(&factory)
        .ok_or_else(|| format!("{}: its plugin could not be loaded", factory.name()))?;
    let config = configure(
        catalog::family_of(factory.name().as_str()),
        settings,
        &schema,
    );
    apply(element, &config)?;
    Ok(config.warnings)
}

/// Sets every property of `config` on `element`, converting to each property's exact type.
pub fn apply(element: &gst::Element, config: &EncoderConfig) -> Result<(), String> {
    for (name, value) in &config.props {
        set_prop(element, name, value)?;
    }
    Ok(())
}

/// Sets one property, converted to its exact type and validated against its range; never panics.
pub fn set_prop(element: &gst::Element, name: &str, value: &PropValue) -> Result<(), String> {
    let pspec = element
        .find_property(name)
        .ok_or_else(|| format!("has no property '{name}'"))?;
    let v = to_value(&pspec, value).ok_or_else(|| {
        format!(
            "cannot set {name}={value:?} (type {})",
            pspec.value_type().name()
        )
    })?;
    element.set_property_from_value(name, &v);
    Ok(())
}

fn to_value(pspec: &glib::ParamSpec, value: &PropValue) -> Option<glib::Value> {
    let t = pspec.value_type();
    let v = match value {
        PropValue::Bool(b) if t == glib::Type::BOOL => b.to_value(),
        PropValue::UInt(n) if t == glib::Type::U32 => u32::try_from(*n).ok()?.to_value(),
        PropValue::UInt(n) if t == glib::Type::U64 => n.to_value(),
        PropValue::UInt(n) if t == glib::Type::I32 => i32::try_from(*n).ok()?.to_value(),
        PropValue::UInt(n) if t == glib::Type::I64 => i64::try_from(*n).ok()?.to_value(),
        PropValue::Int(n) if t == glib::Type::I32 => i32::try_from(*n).ok()?.to_value(),
        PropValue::Int(n) if t == glib::Type::I64 => n.to_value(),
        PropValue::Int(n) if t == glib::Type::U32 => u32::try_from(*n).ok()?.to_value(),
        PropValue::Int(n) if t == glib::Type::U64 => u64::try_from(*n).ok()?.to_value(),
        PropValue::Double(d) if t == glib::Type::F64 => d.to_value(),
        PropValue::Double(d) if t == glib::Type::F32 => (*d as f32).to_value(),
        PropValue::Str(s) if t == glib::Type::STRING => s.to_value(),
        PropValue::Nick(nick) if t.is_a(glib::Type::ENUM) => {
            glib::EnumClass::with_type(t)?.to_value_by_nick(nick)?
        }
        PropValue::Nick(nicks) if t.is_a(glib::Type::FLAGS) => {
            let class = glib::FlagsClass::with_type(t)?;
            let mut builder = class.builder();
            for n in nicks.split('+') {
                builder = builder.set_by_nick(n);
            }
            builder.build()?
        }
        _ => return None,
    };
    let mut v = v;
    // SAFETY: both pointers are valid for the call; g_param_value_validate only clamps `v` in place.
    let modified = unsafe {
        use glib::translate::ToGlibPtrMut;
        glib::gobject_ffi::g_param_value_validate(pspec.as_ptr(), v.to_glib_none_mut().0)
    };
    (modified == glib::ffi::GFALSE).then_some(v)
}

/// Encodes one small frame in a throw-away pipeline: an NVENC element that exists may still fail to
/// open (no CUDA device, encode sessions exhausted). The error text is the reason.
fn probe(factory: &gst::ElementFactory, config: &EncoderConfig) -> Result<(), String> {
    let pipeline = gst::Pipeline::with_name("tdstream-nvenc-probe");
    let make = |f: &str| {
        gst::ElementFactory::make(f)
            .build()
            .map_err(|e| e.to_string())
    };
    let src = make("videotestsrc")?;
    src.set_property("num-buffers", 1i32);
    let filter = make("capsfilter")?;
    let caps = gst::Caps::builder("video/x-raw")
        .field("format", config.input_format)
        .field("width", 320i32)
        .field("height", 240i32)
        .field("framerate", gst::Fraction::new(30, 1))
        .build();
    filter.set_property("caps", &caps);
    let enc = factory.create().build().map_err(|e| e.to_string())?;
    apply(&enc, config)?;
    let sink = make("fakesink")?;
    let elements = [&src, &filter, &enc, &sink];
    pipeline.add_many(elements).map_err(|e| e.to_string())?;
    gst::Element::link_many(elements).map_err(|e| e.to_string())?;

    let result = run_to_eos(&pipeline);
    let _ = pipeline.set_state(gst::State::Null);
    result
}

fn run_to_eos(pipeline: &gst::Pipeline) -> Result<(), String> {
    let bus = pipeline.bus().ok_or("pipeline without bus")?;
    if pipeline.set_state(gst::State::Playing).is_err() {
        // The error message on the bus says why.
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(e) = msg.view() {
                return Err(e.error().to_string());
            }
        }
        return Err("could not start".into());
    }
    let deadline = gst::ClockTime::from_nseconds(PROBE_TIMEOUT.as_nanos() as u64);
    match bus.timed_pop_filtered(deadline, &[gst::MessageType::Eos, gst::MessageType::Error]) {
        Some(msg) => match msg.view() {
            gst::MessageView::Eos(_) => Ok(()),
            gst::MessageView::Error(e) => Err(e.error().to_string()),
            _ => Ok(()),
        },
        None => Err(format!(
            "no frame encoded within {} s",
            PROBE_TIMEOUT.as_secs()
        )),
    }
}
