//! The encoder elements this project knows, in order of preference per codec.

use super::settings::Codec;

/// Which table configures an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Nvenc,
    X264,
    X265,
    Aom,
    SvtAv1,
    Rav1e,
    /// An element forced with `encoder-name` that no table knows.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownEncoder {
    pub factory: &'static str,
    pub codec: Codec,
    pub family: Family,
    /// Where the element comes from on Debian/Ubuntu.
    pub package: &'static str,
}

impl KnownEncoder {
    pub fn is_nvenc(&self) -> bool {
        self.family == Family::Nvenc
    }
}

const NV_PKG: &str = "gstreamer1.0-plugins-bad (nvcodec) and the NVIDIA driver's libnvidia-encode";

/// In order of preference within each codec. Among the NVENC elements named `nvh264enc`/`nvh265enc`,
/// the pre-1.26 implementation is moved behind `nvautogpu*`/`nvcuda*` at run time (see
/// [`super::nvenc::is_legacy`]).
pub const KNOWN_ENCODERS: &[KnownEncoder] = &[
    KnownEncoder {
        factory: "nvh264enc",
        codec: Codec::H264,
        family: Family::Nvenc,
        package: NV_PKG,
    },
    KnownEncoder {
        factory: "nvautogpuh264enc",
        codec: Codec::H264,
        family: Family::Nvenc,
        package: NV_PKG,
    },
    KnownEncoder {
        factory: "nvcudah264enc",
        codec: Codec::H264,
        family: Family::Nvenc,
        package: NV_PKG,
    },
    KnownEncoder {
        factory: "nvh265enc",
        codec: Codec::H265,
        family: Family::Nvenc,
        package: NV_PKG,
    },
    KnownEncoder {
        factory: "nvautogpuh265enc",
        codec: Codec::H265,
        family: Family::Nvenc,
        package: NV_PKG,
    },
    KnownEncoder {
        factory: "nvcudah265enc",
        codec: Codec::H265,
        family: Family::Nvenc,
        package: NV_PKG,
    },
    KnownEncoder {
        factory: "nvav1enc",
        codec: Codec::Av1,
        family: Family::Nvenc,
        package: NV_PKG,
    },
    KnownEncoder {
        factory: "nvautogpuav1enc",
        codec: Codec::Av1,
        family: Family::Nvenc,
        package: NV_PKG,
    },
    KnownEncoder {
        factory: "x264enc",
        codec: Codec::H264,
        family: Family::X264,
        package: "gstreamer1.0-plugins-ugly",
    },
    KnownEncoder {
        factory: "x265enc",
        codec: Codec::H265,
        family: Family::X265,
        package: "gstreamer1.0-plugins-bad",
    },
    KnownEncoder {
        factory: "svtav1enc",
        codec: Codec::Av1,
        family: Family::SvtAv1,
        package: "gstreamer1.0-plugins-bad (GStreamer 1.24+)",
    },
    KnownEncoder {
        factory: "av1enc",
        codec: Codec::Av1,
        family: Family::Aom,
        package: "gstreamer1.0-plugins-bad",
    },
    KnownEncoder {
        factory: "rav1enc",
        codec: Codec::Av1,
        family: Family::Rav1e,
        package: "gst-plugins-rs (rav1e), not packaged in Debian 12",
    },
];

pub fn known(factory: &str) -> Option<&'static KnownEncoder> {
    KNOWN_ENCODERS.iter().find(|e| e.factory == factory)
}

/// The family for any element name, including ones forced with `encoder-name`.
pub fn family_of(factory: &str) -> Family {
    known(factory).map(|e| e.family).unwrap_or_else(|| {
        if factory.starts_with("nv") && factory.ends_with("enc") {
            Family::Nvenc
        } else {
            Family::Other
        }
    })
}

/// The property that takes a new video bitrate (kbit/s) while the encoder plays, per the schemas in
/// GStreamer's docs cache (flag `mutable: playing`): NVENC (all implementations), x264enc and x265enc.
/// Not the software AV1 encoders: aomenc's `target-bitrate` and svtav1enc's are fixed once they run,
/// rav1enc's `bitrate` may change only in READY. The element's own ParamSpec is checked as well.
pub fn live_bitrate_property(family: Family) -> Option<&'static str> {
    match family {
        Family::Nvenc | Family::X264 | Family::X265 => Some("bitrate"),
        Family::Aom | Family::SvtAv1 | Family::Rav1e | Family::Other => None,
    }
}

pub fn candidates(codec: Codec, nvenc: bool) -> impl Iterator<Item = &'static KnownEncoder> {
    KNOWN_ENCODERS
        .iter()
        .filter(move |e| e.codec == codec && e.is_nvenc() == nvenc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_has_nvenc_and_software_candidates() {
        for codec in [Codec::H264, Codec::H265, Codec::Av1] {
            assert!(candidates(codec, true).count() >= 2, "{codec:?}");
            assert!(candidates(codec, false).count() >= 1, "{codec:?}");
        }
    }

    #[test]
    fn device_numbered_nvenc_names_are_nvenc() {
        assert_eq!(family_of("nvh264device1enc"), Family::Nvenc);
        assert_eq!(family_of("vah264enc"), Family::Other);
        assert_eq!(family_of("x264enc"), Family::X264);
    }
}
