//! `tdwebrtcsupport`: an element without pads whose creation registers gst-plugins-rs' WebRTC elements.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::Mutex;

/// Registration is checked and done under one lock, so that two elements starting at once cannot both
/// register (GLib would abort on the second registration of a type).
static REGISTER: Mutex<()> = Mutex::new(());

pub fn ensure_registered() {
    let _guard = REGISTER.lock().unwrap_or_else(|e| e.into_inner());
    if gst::ElementFactory::find("webrtcsink").is_none() {
        if let Err(e) = gstrswebrtc::plugin_register_static() {
            let cat = gst::DebugCategory::new(
                "tdwebrtcsupport",
                gst::DebugColorFlags::empty(),
                Some("tdstream's WebRTC support"),
            );
            gst::warning!(cat, "registering gst-plugins-rs' WebRTC elements: {e}");
        }
    }
}

mod imp {
    use super::*;

    #[derive(Default)]
    pub struct TdWebrtcSupport;

    #[glib::object_subclass]
    impl ObjectSubclass for TdWebrtcSupport {
        const NAME: &'static str = "GstTdWebrtcSupport";
        type Type = super::TdWebrtcSupport;
        type ParentType = gst::Element;
    }

    impl ObjectImpl for TdWebrtcSupport {
        fn constructed(&self) {
            self.parent_constructed();
            ensure_registered();
        }
    }

    impl GstObjectImpl for TdWebrtcSupport {}

    impl ElementImpl for TdWebrtcSupport {
        fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
            static META: std::sync::LazyLock<gst::subclass::ElementMetadata> =
                std::sync::LazyLock::new(|| {
                    gst::subclass::ElementMetadata::new(
                        "tdstream WebRTC support",
                        "Generic",
                        "Has no pads and does nothing: creating it registers gst-plugins-rs' webrtcsink, webrtcsrc, \
                         whipclientsink and whipserversrc (built into this plugin, crate gst-plugin-webrtc 0.15) \
                         into the process, unless a system copy of them is installed, which always wins. \
                         nvencstreamsink mode=webrtc|whip creates it by itself; in a launch line put it before \
                         those elements: gst-launch-1.0 tdwebrtcsupport webrtcsrc ...",
                        "tdstream developers",
                    )
                });
            Some(&*META)
        }
    }
}

glib::wrapper! {
    pub struct TdWebrtcSupport(ObjectSubclass<imp::TdWebrtcSupport>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "tdwebrtcsupport",
        gst::Rank::NONE,
        TdWebrtcSupport::static_type(),
    )
}
