use crate::meta::text::{parse_csv, parse_json_lines, parse_table};
use crate::meta::wire::{Channels, FrameData, Timecode};
use crate::meta::{frame_meta, text};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use std::collections::VecDeque;
use std::sync::{LazyLock, Mutex};
use tdstream_common::sync::lock;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "tdmetainject",
        gst::DebugColorFlags::empty(),
        Some("tdstream per-frame metadata injector"),
    )
});

struct Settings {
    channels: Option<gst::Structure>,
    channel_values: Channels,
    table: String,
    table_rows: Vec<Vec<String>>,
    location: Option<String>,
    frame_number: bool,
    capture_time: bool,
    timecode: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            channels: None,
            channel_values: Vec::new(),
            table: String::new(),
            table_rows: Vec::new(),
            location: None,
            frame_number: true,
            capture_time: true,
            timecode: true,
        }
    }
}

#[derive(Default)]
struct State {
    frame: u64,
    /// Values queued by the `queue-channels` signal: (running time or None for the next frame, values).
    queued: VecDeque<(Option<gst::ClockTime>, Channels)>,
    /// Rows read from `location`: the channels of each frame, frame 0 first.
    file: Option<Vec<Channels>>,
}

#[derive(Default)]
pub struct TdMetaInject {
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

/// A number, or an array/list of numbers, as samples.
fn samples(value: &glib::Value) -> Option<Vec<f64>> {
    let one = |v: &glib::Value| -> Option<f64> {
        v.get::<f64>()
            .ok()
            .or_else(|| v.get::<f32>().ok().map(f64::from))
            .or_else(|| v.get::<i32>().ok().map(f64::from))
            .or_else(|| v.get::<u32>().ok().map(f64::from))
            .or_else(|| v.get::<i64>().ok().map(|x| x as f64))
            .or_else(|| v.get::<u64>().ok().map(|x| x as f64))
            .or_else(|| v.get::<bool>().ok().map(|b| if b { 1.0 } else { 0.0 }))
    };
    if let Some(x) = one(value) {
        return Some(vec![x]);
    }
    if let Ok(a) = value.get::<gst::Array>() {
        return a.iter().map(|v| one(v)).collect();
    }
    if let Ok(l) = value.get::<gst::List>() {
        return l.iter().map(|v| one(v)).collect();
    }
    None
}

/// The channels of a structure: every field must be a number or an array of numbers.
pub fn channels_of(s: &gst::StructureRef) -> Result<Channels, String> {
    s.iter()
        .map(|(name, value)| {
            samples(value)
                .map(|v| (name.to_string(), v))
                .ok_or_else(|| {
                    format!(
                        "channel '{name}' is a {}, not a number or an array of numbers",
                        value.type_()
                    )
                })
        })
        .collect()
}

/// The per-frame rows of a `location` file: JSON lines when it starts with '{', else CSV.
fn read_rows(path: &str, text: &str) -> Result<Vec<Channels>, gst::ErrorMessage> {
    if text.trim_start().starts_with('{') {
        return parse_json_lines(text).map_err(|e| {
            gst::error_msg!(
                gst::ResourceError::Read,
                ("location '{}' (JSON lines): {}. Fix: one object per line, each member a number or an array of numbers", crate::display::shown(path), e)
            )
        });
    }
    let (names, rows) = parse_csv(text).map_err(|e| {
        gst::error_msg!(
            gst::ResourceError::Read,
            ("location '{}': {}. Fix: a header line of channel names, then one line of numbers per frame", crate::display::shown(path), e)
        )
    })?;
    Ok(rows
        .into_iter()
        .map(|row| {
            names
                .iter()
                .cloned()
                .zip(row.into_iter().map(|v| vec![v]))
                .collect()
        })
        .collect())
}

fn merge(into: &mut Channels, from: Channels) {
    for (name, v) in from {
        match into.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = v,
            None => into.push((name, v)),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for TdMetaInject {
    const NAME: &'static str = "TdMetaInject";
    type Type = super::TdMetaInject;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for TdMetaInject {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecBoxed::builder::<gst::Structure>("channels")
                    .nick("Channels")
                    .blurb(
                        "Named channels sent with every frame, as a structure: each field a number or an \
                         array of numbers, e.g. \"c, tx=(double)0.5, rgb=<1.0, 0.5, 0.2>\" (the structure \
                         name is ignored). Settable while PLAYING: applies from the next frame",
                    )
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("table")
                    .nick("Table")
                    .blurb(
                        "A table of strings sent with every frame: rows split by ';', cells by ',', e.g. \
                         \"name,value;speed,3\" (cells cannot hold ';' or ','). Settable while PLAYING",
                    )
                    .default_value(Some(""))
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("location")
                    .nick("Location")
                    .blurb(
                        "A file of per-frame channel values, frame 0 first: CSV (a header line of channel \
                         names, then one line of numbers per frame) or JSON lines (one object per frame, e.g. \
                         {\"tx\": 0.5, \"rgb\": [1, 0.5, 0.2]}). When the file ends, its channels stop. \
                         Read when the element starts",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("frame-number")
                    .nick("Frame Number")
                    .blurb("Send the frame number (counted from 0 by this element)")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("capture-time")
                    .nick("Capture Time")
                    .blurb(
                        "Send the wall-clock time (UTC, microseconds) at which the frame passed this \
                         element; tdmetaextract measures glass-to-glass latency from it",
                    )
                    .default_value(true)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("timecode")
                    .nick("Timecode")
                    .blurb("Send the frame's timecode when it carries a GstVideoTimeCodeMeta (e.g. from timecodestamper)")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![glib::subclass::Signal::builder("queue-channels")
                .action()
                .param_types([gst::Structure::static_type(), u64::static_type()])
                .return_type::<bool>()
                .class_handler(|args| {
                    let obj = args[0].get::<super::TdMetaInject>().ok()?;
                    let s = args[1].get::<gst::Structure>().ok()?;
                    let rt = args[2].get::<u64>().ok()?;
                    Some(obj.imp().queue(&s, rt).to_value())
                })
                .build()]
        });
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = lock(&self.settings);
        match pspec.name() {
            "channels" => {
                let st = value.get::<Option<gst::Structure>>().ok().flatten();
                match st.as_deref().map(channels_of).transpose() {
                    Ok(v) => {
                        s.channel_values = v.unwrap_or_default();
                        s.channels = st;
                    }
                    Err(e) => {
                        drop(s);
                        gst::element_imp_warning!(
                            self,
                            gst::CoreError::Negotiation,
                            ("channels ignored: {}. Fix: give every field a number or an array of numbers, e.g. channels=\"c, tx=(double)0.5\"", e)
                        );
                    }
                }
            }
            "table" => {
                s.table = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                s.table_rows = parse_table(&s.table);
            }
            "location" => s.location = value.get().ok().flatten(),
            "frame-number" => s.frame_number = value.get().unwrap_or(true),
            "capture-time" => s.capture_time = value.get().unwrap_or(true),
            "timecode" => s.timecode = value.get().unwrap_or(true),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings);
        match pspec.name() {
            "channels" => s.channels.to_value(),
            "table" => text::format_table(&s.table_rows).to_value(),
            "location" => s.location.to_value(),
            "frame-number" => s.frame_number.to_value(),
            "capture-time" => s.capture_time.to_value(),
            "timecode" => s.timecode.to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }
}

impl GstObjectImpl for TdMetaInject {}

impl ElementImpl for TdMetaInject {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "tdstream metadata injector",
                "Filter/Metadata",
                "Attaches per-frame metadata (TdFrameMeta: named channels, a table of strings, frame \
                 number, capture time, timecode) to every buffer; tdmetaembed carries it inside \
                 H.264/H.265 and tdmetaextract reads it back. Action signal queue-channels(structure, \
                 running-time): one-off channel values for the next frame (running-time = \
                 GST_CLOCK_TIME_NONE) or for the first frame at or after that running time; returns \
                 FALSE (and queues nothing) when a field is not a number or an array of numbers",
                "tdstream developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static T: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(|| crate::meta::caps::filter_templates(&gst::Caps::new_any()));
        T.as_ref()
    }
}

impl BaseTransformImpl for TdMetaInject {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let location = lock(&self.settings).location.clone();
        // Values queued before the start stay queued.
        let queued = std::mem::take(&mut lock(&self.state).queued);
        let mut state = State {
            queued,
            ..State::default()
        };
        if let Some(path) = location.filter(|p| !p.is_empty()) {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                gst::error_msg!(
                    gst::ResourceError::OpenRead,
                    (
                        "location '{}' cannot be read: {}. Fix: give the path of a CSV or JSON-lines file",
                        crate::display::shown(&path),
                        e
                    )
                )
            })?;
            state.file = Some(read_rows(&path, &text)?);
        }
        *lock(&self.state) = state;
        Ok(())
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let running_time = buf.pts().and_then(|pts| {
            self.obj()
                .segment()
                .downcast::<gst::ClockTime>()
                .ok()
                .and_then(|seg| seg.to_running_time(pts))
        });
        let mut data = FrameData::default();
        let (frame_number, capture_time, timecode) = {
            let s = lock(&self.settings);
            data.channels = s.channel_values.clone();
            data.table = s.table_rows.clone();
            (s.frame_number, s.capture_time, s.timecode)
        };
        {
            let mut state = lock(&self.state);
            let frame = state.frame;
            state.frame += 1;
            if let Some(row) = state
                .file
                .as_ref()
                .and_then(|rows| rows.get(frame as usize))
            {
                merge(&mut data.channels, row.clone());
            }
            while let Some((at, _)) = state.queued.front() {
                let due = match (at, running_time) {
                    (None, _) | (Some(_), None) => true,
                    (Some(at), Some(rt)) => rt >= *at,
                };
                if !due {
                    break;
                }
                if let Some((_, values)) = state.queued.pop_front() {
                    merge(&mut data.channels, values);
                }
            }
            if frame_number {
                data.frame = Some(frame);
            }
        }
        if capture_time {
            data.capture_us = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_micros() as i64);
        }
        if timecode {
            if let Some(meta) = buf.meta::<gst_video::VideoTimeCodeMeta>() {
                let tc = meta.tc();
                data.timecode = Some(Timecode {
                    hours: tc.hours() as u8,
                    minutes: tc.minutes() as u8,
                    seconds: tc.seconds() as u8,
                    frames: tc.frames() as u8,
                    drop_frame: tc
                        .flags()
                        .contains(gst_video::VideoTimeCodeFlags::DROP_FRAME),
                });
            }
        }
        frame_meta::write(buf, &data);
        Ok(gst::FlowSuccess::Ok)
    }
}

impl TdMetaInject {
    /// `queue-channels`: values for the next frame (`running_time` = GST_CLOCK_TIME_NONE) or for the
    /// first frame at or after `running_time`.
    fn queue(&self, s: &gst::StructureRef, running_time: u64) -> bool {
        match channels_of(s) {
            Ok(values) => {
                // GST_CLOCK_TIME_NONE (u64::MAX) means the next frame; never build a ClockTime from it.
                let at =
                    (running_time != u64::MAX).then(|| gst::ClockTime::from_nseconds(running_time));
                let mut state = lock(&self.state);
                // Keep the queue ordered by due time; "next frame" requests go first.
                let pos = state
                    .queued
                    .iter()
                    .position(|(t, _)| match (at, t) {
                        (None, Some(_)) => true,
                        (Some(a), Some(b)) => a < *b,
                        _ => false,
                    })
                    .unwrap_or(state.queued.len());
                state.queued.insert(pos, (at, values));
                true
            }
            Err(e) => {
                gst::warning!(CAT, imp = self, "queue-channels ignored: {e}");
                false
            }
        }
    }
}
