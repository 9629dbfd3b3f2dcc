use crate::meta::sei::{self, Codec, Framing};
use crate::meta::{caps, frame_meta, splice, wire};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "tdmetaembed",
        gst::DebugColorFlags::empty(),
        Some("tdstream SEI metadata embedder"),
    )
});

#[derive(Default)]
pub struct TdMetaEmbed {
    format: Mutex<Option<(Codec, Framing)>>,
    frames: AtomicU64,
    embedded: AtomicU64,
    bytes: AtomicU64,
}

#[glib::object_subclass]
impl ObjectSubclass for TdMetaEmbed {
    const NAME: &'static str = "TdMetaEmbed";
    type Type = super::TdMetaEmbed;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for TdMetaEmbed {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                .nick("Statistics")
                .blurb(
                    "Read-only: frames (access units seen), embedded (access units that got an SEI unit), \
                     bytes-added (SEI bytes written)",
                )
                .read_only()
                .build()]
        });
        PROPS.as_ref()
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "stats" => gst::Structure::builder("tdmetaembed-stats")
                .field("frames", self.frames.load(Ordering::Relaxed))
                .field("embedded", self.embedded.load(Ordering::Relaxed))
                .field("bytes-added", self.bytes.load(Ordering::Relaxed))
                .build()
                .to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }
}

impl GstObjectImpl for TdMetaEmbed {}

impl ElementImpl for TdMetaEmbed {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "tdstream SEI metadata embedder",
                "Codec/Video/Metadata",
                "Writes each access unit's TdFrameMeta, and any GstVideoSEIUserDataUnregisteredMeta, into \
                 H.264/H.265 as SEI user-data-unregistered NAL units before the first slice (byte-stream \
                 or avc/hvc, emulation prevention applied, picture data shared, not copied). Place it \
                 after the encoder; the metadata follows its picture whatever the frame reordering",
                "tdstream developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static T: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = caps::template_caps();
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &caps,
                )
                .expect("src template"),
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &caps,
                )
                .expect("sink template"),
            ]
        });
        T.as_ref()
    }
}

impl BaseTransformImpl for TdMetaEmbed {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let format = caps::codec_and_framing(incaps)
            .ok_or_else(|| gst::loggable_error!(CAT, "not H.264/H.265 caps: {incaps}"))?;
        *self.format.lock().unwrap_or_else(|e| e.into_inner()) = Some(format);
        Ok(())
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.frames.fetch_add(1, Ordering::Relaxed);
        let Some((codec, framing)) = *self.format.lock().unwrap_or_else(|e| e.into_inner()) else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let ours = frame_meta::payload(buf);
        let stock: Vec<([u8; 16], Vec<u8>)> = buf
            .iter_meta::<gst_video::video_meta::VideoSeiUserDataUnregisteredMeta>()
            .map(|m| (m.uuid(), m.data().to_vec()))
            .collect();
        if ours.is_none() && stock.is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }
        let mut messages: Vec<(&[u8; 16], &[u8])> = Vec::with_capacity(1 + stock.len());
        if let Some(p) = &ours {
            messages.push((&wire::UUID, p.as_ref()));
        }
        messages.extend(stock.iter().map(|(u, d)| (u, d.as_slice())));
        let unit = sei::sei_unit(codec, framing, &messages);
        let Some(at) = insert_offset(buf, codec, framing) else {
            gst::debug!(
                CAT,
                imp = self,
                "unreadable access unit; metadata not embedded"
            );
            return Ok(gst::FlowSuccess::Ok);
        };
        let len = unit.len() as u64;
        if splice::insert(buf, at, unit) {
            self.embedded.fetch_add(1, Ordering::Relaxed);
            self.bytes.fetch_add(len, Ordering::Relaxed);
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

/// Where the SEI goes, reading the first memory only when the first slice starts there (the usual
/// case: no copy), else all of it.
fn insert_offset(buf: &gst::BufferRef, codec: Codec, framing: Framing) -> Option<usize> {
    if buf.n_memory() == 0 {
        return None;
    }
    let first = buf.peek_memory(0).map_readable().ok()?;
    let at = sei::insert_offset(codec, framing, &first);
    if at < first.len() || buf.n_memory() == 1 {
        return Some(at);
    }
    drop(first);
    let mut all = Vec::with_capacity(buf.size());
    for i in 0..buf.n_memory() {
        all.extend_from_slice(&buf.peek_memory(i).map_readable().ok()?);
    }
    Some(sei::insert_offset(codec, framing, &all))
}
