//! gst-inspect-1.0 is the manual: every property, enum value and signal is documented.

mod common;

use gst::glib;
use gst::prelude::*;

#[test]
fn every_property_has_a_real_blurb() {
    common::init();
    check_element("nvencstreamsink", 30);
    check_element("rtspsharedserver", 9);
    check_element("tdmetainject", 6);
    check_element("tdmetaembed", 1);
    check_element("tdmetaextract", 4);
    check_element("tdeflvmux", 1);
}

fn check_element(name: &str, min_props: usize) {
    let factory = gst::ElementFactory::find(name).expect("registered");
    assert!(factory
        .metadata(gst::ELEMENT_METADATA_DESCRIPTION)
        .is_some_and(|d| d.len() > 40));
    let element = factory.create().build().expect("create");
    let own = element.type_();
    let mut count = 0;
    for p in element
        .list_properties()
        .iter()
        .filter(|p| p.owner_type() == own)
    {
        count += 1;
        let blurb = p.blurb().unwrap_or("");
        assert!(
            blurb.len() >= 15,
            "{}: blurb '{blurb}' is too short",
            p.name()
        );
        assert_ne!(blurb, p.nick(), "{}: blurb repeats the nick", p.name());
        if let Some(e) = p.downcast_ref::<glib::ParamSpecEnum>() {
            for v in e.enum_class().values() {
                assert!(
                    v.name().len() > v.nick().len(),
                    "{}: enum value {} undocumented",
                    p.name(),
                    v.nick()
                );
            }
        }
    }
    assert!(count >= min_props, "{name}: only {count} properties");
    if name == "nvencstreamsink" {
        let signals = glib::subclass::SignalId::lookup("force-idr", own);
        assert!(signals.is_some(), "force-idr action signal");
    }
    if name == "tdmetainject" {
        let signals = glib::subclass::SignalId::lookup("queue-channels", own);
        assert!(signals.is_some(), "queue-channels action signal");
    }
}

#[test]
fn every_design_property_exists() {
    common::init();
    let element = gst::ElementFactory::make("nvencstreamsink")
        .build()
        .expect("create");
    for name in [
        "active",
        "mode",
        "port",
        "stream-name",
        "multicast",
        "url",
        "fps",
        "video-codec",
        "profile",
        "quality",
        "keyframe-interval",
        "max-bframes",
        "intra-refresh-period",
        "intra-refresh-length",
        "bitrate-mode",
        "avg-bitrate",
        "max-bitrate",
        "num-slices",
        "mux-rate",
        "vbv-buffer-size",
        "rtmp-buffer-size",
        "audio-codec",
        "audio-bitrate",
        "include-silent-audio",
        "stats",
        "rtmp-username",
        "rtmp-password",
        "reconnect-attempts",
        "reconnect-interval",
        "connection-state",
        "encoder",
        "encoder-name",
        "webrtc-encode",
        "stun-server",
        "turn-servers",
        "ice-addresses",
        "bearer-token",
    ] {
        assert!(
            element.find_property(name).is_some(),
            "missing property {name}"
        );
    }
}
