use crate::meta::sei::{Codec, Framing};
use crate::meta::{caps, embed};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use tdstream_common::sync::lock;

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
        static T: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(|| crate::meta::caps::filter_templates(&caps::template_caps()));
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
        *lock(&self.format) = Some(format);
        Ok(())
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.frames.fetch_add(1, Ordering::Relaxed);
        let Some((codec, framing)) = *lock(&self.format) else {
            return Ok(gst::FlowSuccess::Ok);
        };
        match embed::embed(buf, codec, framing) {
            embed::Outcome::Embedded(len) => {
                self.embedded.fetch_add(1, Ordering::Relaxed);
                self.bytes.fetch_add(len as u64, Ordering::Relaxed);
            }
            embed::Outcome::Unreadable => {
                gst::debug!(
                    CAT,
                    imp = self,
                    "unreadable access unit; metadata not embedded"
                );
            }
            embed::Outcome::Nothing => {}
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
