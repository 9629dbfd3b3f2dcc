//! Enhanced FLV (the "Enhanced RTMP" specification, v1): the byte layout that carries H.265, AV1 and
//! (optionally) H.264 with a FourCC in FLV and RTMP, for GStreamer versions without `eflvmux`.
//!
//! Pure: bytes in, bytes out, no GStreamer. [`muxer::Muxer`] turns access units into FLV tags;
//! `tdeflvmux` is the element around it.
//!
//! - [`amf0`]: the AMF0 values of `onMetaData`.
//! - [`tag`]: the FLV file header and the tag framing (11-byte header, body, previous tag size).
//! - [`video`]: `ExVideoTagHeader` bodies: sequence start (hvcC / av1C / avcC), coded frames (with the
//!   composition time offset where the codec has one), sequence end.
//! - [`audio`]: legacy FLV audio bodies (AAC, MP3).
//! - [`av1c`]: the `AV1CodecConfigurationRecord` built from a sequence header OBU.
//! - [`timecode`]: `onMetaData` updates with each picture's timecode, for RTMP destinations
//!   (`rtmp-timecode-interval`).

pub mod amf0;
pub mod audio;
pub mod av1c;
pub mod muxer;
pub mod tag;
pub mod timecode;
pub mod video;

#[cfg(test)]
mod ffmpeg_reference;
