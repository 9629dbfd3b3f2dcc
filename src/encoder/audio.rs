//! The audio codec of the encode (`audio-codec`): the element encodes it, the transports check that they
//! can carry it.

use gst::glib;

/// Audio codec (TouchDesigner: *Audio Codec*).
#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "TdStreamAudioCodec")]
pub enum AudioCodec {
    #[enum_value(name = "MP3 (lamemp3enc), 44.1 kHz: RTMP, SRT", nick = "mp3")]
    Mp3 = 0,
    #[enum_value(
        name = "AAC-LC (voaacenc or avenc_aac), 48 kHz: RTMP, SRT",
        nick = "aac"
    )]
    Aac = 1,
    #[enum_value(
        name = "Opus (opusenc), 48 kHz: SRT, WebRTC/WHIP (where it is the default and the only choice); not in FLV/RTMP",
        nick = "opus"
    )]
    Opus = 2,
}

impl AudioCodec {
    pub fn nick(self) -> &'static str {
        match self {
            AudioCodec::Mp3 => "mp3",
            AudioCodec::Aac => "aac",
            AudioCodec::Opus => "opus",
        }
    }
}
