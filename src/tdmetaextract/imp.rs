use crate::meta::latency::{now_us, Latency};
use crate::meta::sei::{Codec, Framing};
use crate::meta::wire::{FrameData, Header};
use crate::meta::{caps, extract, frame_meta, text};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};
use tdstream_common::sync::lock;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "tdmetaextract",
        gst::DebugColorFlags::empty(),
        Some("tdstream SEI metadata extractor"),
    )
});

const DEFAULT_INTERVAL_MS: u32 = 1000;

struct Settings {
    strip: bool,
    message_interval_ms: u32,
    frame_messages: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            strip: false,
            message_interval_ms: DEFAULT_INTERVAL_MS,
            frame_messages: false,
        }
    }
}

#[derive(Default)]
struct State {
    format: Option<(Codec, Framing)>,
    frames: u64,
    with_metadata: u64,
    malformed: u64,
    latency: Latency,
    last_message: Option<Instant>,
}

#[derive(Default)]
pub struct TdMetaExtract {
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

#[glib::object_subclass]
impl ObjectSubclass for TdMetaExtract {
    const NAME: &'static str = "TdMetaExtract";
    type Type = super::TdMetaExtract;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for TdMetaExtract {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecBoolean::builder("strip")
                    .nick("Strip")
                    .blurb("Remove the project's SEI units from the stream once read (SEI units that also hold other messages stay)")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("message-interval")
                    .nick("Message Interval")
                    .blurb(
                        "Post a 'tdmetaextract-latency' element message with the glass-to-glass latency \
                         statistics (count, last-ms, min-ms, max-ms, mean-ms) every this many milliseconds; \
                         0 = never",
                    )
                    .default_value(DEFAULT_INTERVAL_MS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("emit-frame-messages")
                    .nick("Emit Frame Messages")
                    .blurb(
                        "Post a 'tdmetaextract-frame' element message for every frame with metadata: frame \
                         (guint64), capture-us (gint64, µs since 1970 UTC), latency-ms (double), pts \
                         (guint64 ns), channels (a structure: one double or array of doubles per channel), \
                         table (string, rows split by ';', cells by ','), timecode (string hh:mm:ss:ff)",
                    )
                    .default_value(false)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb(
                        "Read-only: frames, with-metadata, malformed (SEI with the project UUID that could \
                         not be read), and latency count, last-ms, min-ms, max-ms, mean-ms (receive time \
                         minus capture time; both clocks must agree, e.g. the same machine or NTP)",
                    )
                    .read_only()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = lock(&self.settings);
        match pspec.name() {
            "strip" => s.strip = value.get().unwrap_or(false),
            "message-interval" => {
                s.message_interval_ms = value.get().unwrap_or(DEFAULT_INTERVAL_MS)
            }
            "emit-frame-messages" => s.frame_messages = value.get().unwrap_or(false),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "strip" => lock(&self.settings).strip.to_value(),
            "message-interval" => lock(&self.settings).message_interval_ms.to_value(),
            "emit-frame-messages" => lock(&self.settings).frame_messages.to_value(),
            "stats" => {
                let st = lock(&self.state);
                let mut s = st.latency.to_structure("tdmetaextract-stats");
                s.set("frames", st.frames);
                s.set("with-metadata", st.with_metadata);
                s.set("malformed", st.malformed);
                s.to_value()
            }
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }
}

impl GstObjectImpl for TdMetaExtract {}

impl ElementImpl for TdMetaExtract {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "tdstream SEI metadata extractor",
                "Codec/Video/Metadata",
                "Reads the per-frame metadata that tdmetaembed wrote into H.264/H.265 (SEI user data \
                 unregistered with the tdstream UUID), restores TdFrameMeta on the access unit (video \
                 decoders carry it to the decoded frame), optionally strips the SEI, and measures \
                 glass-to-glass latency from the capture time. Malformed SEI is ignored (debug log)",
                "tdstream developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static T: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(|| crate::meta::caps::filter_templates(&caps::template_caps()));
        T.as_ref()
    }
}

impl BaseTransformImpl for TdMetaExtract {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        *lock(&self.state) = State::default();
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let format = caps::codec_and_framing(incaps)
            .ok_or_else(|| gst::loggable_error!(CAT, "not H.264/H.265 caps: {incaps}"))?;
        lock(&self.state).format = Some(format);
        Ok(())
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (strip, interval, frame_messages) = {
            let s = lock(&self.settings);
            (s.strip, s.message_interval_ms, s.frame_messages)
        };
        let Some((codec, framing)) = lock(&self.state).format else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let (found, cuts) = extract::scan(buf, codec, framing);
        let now = now_us();
        let mut state = lock(&self.state);
        state.frames += 1;
        // Every frame: a check of the whole payload without allocating; the values are decoded only
        // for frame messages.
        let mut restored: Option<(Vec<u8>, Header)> = None;
        for payload in found {
            match FrameData::peek(&payload) {
                Ok(h) => restored = Some((payload, h)),
                Err(e) => {
                    state.malformed += 1;
                    gst::debug!(CAT, imp = self, "malformed metadata ignored: {e}");
                }
            }
        }
        let mut latency_ms = None;
        let mut message_data = None;
        if let Some((payload, header)) = restored {
            state.with_metadata += 1;
            if let Some(c) = header.capture_us {
                let ms = (now - c) as f64 / 1000.0;
                state.latency.add(ms);
                latency_ms = Some(ms);
            }
            if frame_messages {
                message_data = FrameData::decode(&payload).ok();
            }
            frame_meta::set_payload(buf, glib::Bytes::from_owned(payload));
        }
        let latency_message = (interval > 0
            && state.latency.count > 0
            && state
                .last_message
                .is_none_or(|t| t.elapsed() >= Duration::from_millis(interval as u64)))
        .then(|| {
            state.last_message = Some(Instant::now());
            state.latency.to_structure("tdmetaextract-latency")
        });
        drop(state);
        if strip {
            extract::strip(buf, &cuts);
        }
        if let Some(data) = &message_data {
            let s = frame_structure(data, latency_ms, buf.pts());
            let _ = self
                .obj()
                .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        }
        if let Some(s) = latency_message {
            let _ = self
                .obj()
                .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

fn frame_structure(
    data: &FrameData,
    latency_ms: Option<f64>,
    pts: Option<gst::ClockTime>,
) -> gst::Structure {
    let mut channels = gst::Structure::new_empty("channels");
    for (name, samples) in &data.channels {
        if samples.len() == 1 {
            channels.set(name.as_str(), samples[0]);
        } else {
            channels.set(name.as_str(), gst::Array::new(samples.iter().copied()));
        }
    }
    let mut s = gst::Structure::builder("tdmetaextract-frame")
        .field("channels", channels)
        .field("table", text::format_table(&data.table))
        .build();
    if let Some(f) = data.frame {
        s.set("frame", f);
    }
    if let Some(c) = data.capture_us {
        s.set("capture-us", c);
    }
    if let Some(l) = latency_ms {
        s.set("latency-ms", l);
    }
    if let Some(p) = pts {
        s.set("pts", p.nseconds());
    }
    if let Some(tc) = data.timecode {
        s.set("timecode", tc.to_string());
    }
    s
}
