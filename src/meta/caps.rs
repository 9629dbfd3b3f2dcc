//! What the SEI elements need to know from H.264/H.265 caps: the codec and the NAL framing.

use super::sei::{Codec, Framing};

/// The caps both SEI elements accept: access units of H.264 or H.265, any stream format.
pub fn template_caps() -> gst::Caps {
    gst::Caps::builder_full()
        .structure(
            gst::Structure::builder("video/x-h264")
                .field("alignment", "au")
                .build(),
        )
        .structure(
            gst::Structure::builder("video/x-h265")
                .field("alignment", "au")
                .build(),
        )
        .build()
}

/// Codec and framing from negotiated caps; avc/hvc1/hev1 read their NAL length size from codec_data
/// (4 bytes when it is absent).
pub fn codec_and_framing(caps: &gst::CapsRef) -> Option<(Codec, Framing)> {
    let s = caps.structure(0)?;
    let codec = match s.name().as_str() {
        "video/x-h264" => Codec::H264,
        "video/x-h265" => Codec::H265,
        _ => return None,
    };
    let format = s.get::<&str>("stream-format").unwrap_or("byte-stream");
    if format == "byte-stream" {
        return Some((codec, Framing::ByteStream));
    }
    let data = s.get::<gst::Buffer>("codec_data").ok();
    let map = data.as_ref().and_then(|b| b.map_readable().ok());
    // avcC: lengthSizeMinusOne in byte 4; hvcC: in byte 21.
    let byte = match codec {
        Codec::H264 => 4,
        Codec::H265 => 21,
    };
    let size = map
        .as_ref()
        .and_then(|m| m.get(byte))
        .map_or(4, |b| (*b & 3) as usize + 1);
    Some((codec, Framing::Length(size)))
}

/// The always `src` and `sink` pads of an in-place filter, both with `caps`.
pub fn filter_templates(caps: &gst::Caps) -> Vec<gst::PadTemplate> {
    [
        ("src", gst::PadDirection::Src),
        ("sink", gst::PadDirection::Sink),
    ]
    .into_iter()
    .filter_map(|(name, dir)| gst::PadTemplate::new(name, dir, gst::PadPresence::Always, caps).ok())
    .collect()
}
