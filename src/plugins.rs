//! Creating child elements with an error that names the Debian package when one is missing.

/// The Debian/Ubuntu package that provides an element this project uses.
pub fn package_of(factory: &str) -> &'static str {
    if let Some(known) = crate::encoder::catalog::known(factory) {
        return known.package;
    }
    match factory {
        "queue" | "capsfilter" | "tee" | "fakesink" => "libgstreamer1.0-0 (GStreamer core)",
        "videoconvert" | "videorate" | "videoscale" | "audioconvert" | "audioresample"
        | "audiotestsrc" | "videotestsrc" | "opusenc" | "appsrc" | "appsink" => {
            "gstreamer1.0-plugins-base"
        }
        "flvmux" | "eflvmux" | "lamemp3enc" | "aacparse" | "mpegaudioparse" | "rtph264pay"
        | "rtph265pay" => "gstreamer1.0-plugins-good",
        "rtmp2sink" | "srtsink" | "mpegtsmux" | "h264parse" | "h265parse" | "av1parse"
        | "voaacenc" | "opusparse" => "gstreamer1.0-plugins-bad",
        "avenc_aac" => "gstreamer1.0-libav",
        "tdeflvmux" => "tdstream itself (libgsttdstream.so)",
        "rtspsharedserver" => {
            "tdstream's RTSP server plugin (libgsttdstreamrtsp.so, built and installed with libgsttdstream.so) and libgstrtspserver-1.0-0"
        }
        "fdkaacenc" => "gstreamer1.0-fdkaac",
        _ => "the GStreamer plugin that provides it (see gst-inspect-1.0)",
    }
}

/// Why a child element could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the GStreamer element '{factory}' is missing, needed for {purpose}: install {package} \
     (Debian/Ubuntu: apt-get install {apt}) and check with gst-inspect-1.0 {factory}"
)]
pub struct MissingElement {
    pub factory: String,
    pub purpose: String,
    pub package: &'static str,
    pub apt: String,
}

impl MissingElement {
    pub fn new(factory: &str, purpose: &str) -> Self {
        let package = package_of(factory);
        let apt = package
            .split_whitespace()
            .next()
            .unwrap_or(package)
            .to_string();
        MissingElement {
            factory: factory.to_string(),
            purpose: purpose.to_string(),
            package,
            apt,
        }
    }
}

/// Makes a child element, or says which package provides it.
pub fn make(factory: &str, name: &str, purpose: &str) -> Result<gst::Element, MissingElement> {
    gst::ElementFactory::make(factory)
        .name(name)
        .build()
        .map_err(|_| MissingElement::new(factory, purpose))
}

/// Sets an enum property by nick; an unknown property or nick is an error, not a panic.
pub fn set_enum(element: &gst::Element, name: &str, nick: &str) -> Result<(), String> {
    use gst::glib;
    use gst::prelude::*;
    let pspec = element
        .find_property(name)
        .ok_or_else(|| format!("{} has no property {name}", element.name()))?;
    let value = glib::EnumClass::with_type(pspec.value_type())
        .and_then(|c| c.to_value_by_nick(nick))
        .ok_or_else(|| format!("{}: {name} has no value '{nick}'", element.name()))?;
    element.set_property_from_value(name, &value);
    Ok(())
}

pub fn exists(factory: &str) -> bool {
    gst::ElementFactory::find(factory).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_element_names_package_and_check() {
        let e = MissingElement::new("flvmux", "mode=rtmp (FLV muxing)");
        let text = e.to_string();
        assert!(
            text.contains("apt-get install gstreamer1.0-plugins-good"),
            "{text}"
        );
        assert!(text.contains("gst-inspect-1.0 flvmux"), "{text}");
        assert!(text.contains("mode=rtmp"), "{text}");
    }

    #[test]
    fn encoders_come_from_the_catalog() {
        assert_eq!(package_of("x264enc"), "gstreamer1.0-plugins-ugly");
    }
}
