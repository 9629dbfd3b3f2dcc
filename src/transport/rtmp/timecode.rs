//! `rtmp-timecode-interval`: between the RTMP buffer (behind the FLV muxer) and rtmp2sink, an `onMetaData` update with the
//! picture's timecode goes out before every N-th picture ([`crate::flv::timecode`] decides; this is the
//! element around it). rtmp2sink sends script tags as `@setDataFrame` data messages, which nginx-rtmp
//! relays to its players with `meta copy`.
//!
//! Internal: made by the RTMP link with `TimecodeTagger::new`, never by a factory.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

glib::wrapper! {
    pub struct TimecodeTagger(ObjectSubclass<imp::TimecodeTagger>) @extends gst::Element, gst::Object;
}

impl TimecodeTagger {
    /// A tagger that sends an update every `interval` pictures (at least 1).
    pub fn new(interval: u32) -> TimecodeTagger {
        let tagger: TimecodeTagger = glib::Object::builder()
            .property("name", "rtmp-timecode")
            .build();
        *tdstream_common::sync::lock(&tagger.imp().stamper) =
            crate::flv::timecode::Stamper::new(interval.max(1));
        tagger
    }
}

mod imp {
    use super::*;
    use crate::flv::timecode::{Source, Stamper};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{LazyLock, Mutex};
    use tdstream_common::sync::lock;

    pub struct TimecodeTagger {
        sink: gst::Pad,
        src: gst::Pad,
        pub(super) stamper: Mutex<Stamper>,
        /// Said once per connection which timecode the updates carry.
        told: AtomicBool,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for TimecodeTagger {
        const NAME: &'static str = "TdStreamRtmpTimecode";
        type Type = super::TimecodeTagger;
        type ParentType = gst::Element;

        fn with_class(klass: &Self::Class) -> Self {
            let templ = |name| {
                klass
                    .pad_template(name)
                    .expect("the class has both templates")
            };
            let sink = gst::Pad::builder_from_template(&templ("sink"))
                .chain_function(|pad, parent, buffer| {
                    TimecodeTagger::catch_panic_pad_function(
                        parent,
                        || Err(gst::FlowError::Error),
                        |t| t.chain(pad, buffer),
                    )
                })
                .flags(gst::PadFlags::PROXY_CAPS | gst::PadFlags::PROXY_ALLOCATION)
                .build();
            let src = gst::Pad::builder_from_template(&templ("src"))
                .flags(gst::PadFlags::PROXY_CAPS | gst::PadFlags::PROXY_ALLOCATION)
                .build();
            TimecodeTagger {
                sink,
                src,
                stamper: Mutex::new(Stamper::new(1)),
                told: AtomicBool::new(false),
            }
        }
    }

    impl TimecodeTagger {
        fn chain(
            &self,
            _pad: &gst::Pad,
            buffer: gst::Buffer,
        ) -> Result<gst::FlowSuccess, gst::FlowError> {
            let update = match buffer.map_readable() {
                Ok(map) => lock(&self.stamper).tags(&map),
                Err(_) => None,
            };
            if let Some(u) = update {
                if !self.told.swap(true, Ordering::Relaxed) {
                    gst::info!(
                        crate::transport::rtmp::CAT,
                        imp = self,
                        "rtmp-timecode-interval: onMetaData updates carry {} (first: {})",
                        match u.source {
                            Source::Carried => "each picture's own timecode (tdmetainject)",
                            Source::Derived =>
                                "a timecode derived from each picture's presentation time",
                        },
                        u.timecode
                    );
                }
                let mut script = gst::Buffer::from_mut_slice(u.tag);
                if let Some(b) = script.get_mut() {
                    b.set_pts(buffer.pts());
                    b.set_dts(buffer.dts());
                    b.set_flags(gst::BufferFlags::DELTA_UNIT);
                }
                self.src.push(script)?;
            }
            self.src.push(buffer)
        }
    }

    impl ObjectImpl for TimecodeTagger {
        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            // Both pads come from the class templates and are added once, here.
            let _ = obj.add_pad(&self.sink);
            let _ = obj.add_pad(&self.src);
        }
    }

    impl GstObjectImpl for TimecodeTagger {}

    impl ElementImpl for TimecodeTagger {
        fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
            static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
                gst::subclass::ElementMetadata::new(
                    "tdstream RTMP timecode (internal)",
                    "Formatter/Metadata",
                    "Inside nvencstreamsink's RTMP destinations: puts an onMetaData update with the \
                     picture's timecode before every N-th FLV video tag (rtmp-timecode-interval)",
                    "tdstream developers",
                )
            });
            Some(&*META)
        }

        fn pad_templates() -> &'static [gst::PadTemplate] {
            static T: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
                let flv = gst::Caps::builder("video/x-flv").build();
                [
                    ("sink", gst::PadDirection::Sink),
                    ("src", gst::PadDirection::Src),
                ]
                .into_iter()
                .filter_map(|(name, dir)| {
                    gst::PadTemplate::new(name, dir, gst::PadPresence::Always, &flv).ok()
                })
                .collect()
            });
            T.as_ref()
        }
    }
}
