//! Enhanced RTMP video tag bodies (`ExVideoTagHeader`): one byte (IsExHeader, FrameType, PacketType),
//! the codec FourCC, then the packet. Written for tdeflvmux; read back ([`read`], legacy AVC bodies too)
//! for the RTMP timecode updates.

/// Video codecs that enhanced FLV carries by FourCC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// H.264 (`avc1`), length-prefixed NAL units; config is the avcC record.
    Avc,
    /// H.265 (`hvc1`), length-prefixed NAL units; config is the hvcC record.
    Hevc,
    /// AV1 (`av01`), a temporal unit of OBUs with size fields; config is the av1C record.
    Av1,
}

impl VideoCodec {
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            VideoCodec::Avc => *b"avc1",
            VideoCodec::Hevc => *b"hvc1",
            VideoCodec::Av1 => *b"av01",
        }
    }

    /// Whether coded frames carry a composition time offset (AV1 has no reordering field in FLV).
    pub fn has_composition_time(self) -> bool {
        self != VideoCodec::Av1
    }

    /// The codec of an enhanced tag's FourCC.
    pub fn from_fourcc(fourcc: &[u8]) -> Option<VideoCodec> {
        [VideoCodec::Avc, VideoCodec::Hevc, VideoCodec::Av1]
            .into_iter()
            .find(|c| c.fourcc() == fourcc)
    }

    pub fn name(self) -> &'static str {
        match self {
            VideoCodec::Avc => "H.264",
            VideoCodec::Hevc => "H.265",
            VideoCodec::Av1 => "AV1",
        }
    }
}

const EX_HEADER: u8 = 0x80;
const KEY_FRAME: u8 = 1 << 4;
const INTER_FRAME: u8 = 2 << 4;

/// `PacketType` values of the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    SequenceStart = 0,
    CodedFrames = 1,
    SequenceEnd = 2,
    /// Coded frames whose composition time offset is zero (and omitted).
    CodedFramesX = 3,
}

fn head(packet: PacketType, key: bool, codec: VideoCodec, extra: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + extra);
    let frame = if key { KEY_FRAME } else { INTER_FRAME };
    out.push(EX_HEADER | frame | packet as u8);
    out.extend_from_slice(&codec.fourcc());
    out
}

/// The sequence start: the decoder configuration record (avcC / hvcC / av1C).
pub fn sequence_start(codec: VideoCodec, config: &[u8]) -> Vec<u8> {
    let mut out = head(PacketType::SequenceStart, true, codec, config.len());
    out.extend_from_slice(config);
    out
}

/// One access unit. `composition_ms` (PTS − DTS) is written for H.264/H.265 when it is not zero
/// (CodedFrames), else the 3 bytes are left out (CodedFramesX); AV1 never has it.
pub fn coded_frame(codec: VideoCodec, key: bool, composition_ms: i32, data: &[u8]) -> Vec<u8> {
    let with_ct = codec.has_composition_time() && composition_ms != 0;
    let packet = if with_ct || !codec.has_composition_time() {
        PacketType::CodedFrames
    } else {
        PacketType::CodedFramesX
    };
    let mut out = head(packet, key, codec, data.len() + 3);
    if with_ct {
        // SI24, clamped (±4.6 hours: never reached by a real stream).
        let ct = composition_ms.clamp(-0x80_0000, 0x7F_FFFF);
        out.extend_from_slice(&ct.to_be_bytes()[1..]);
    }
    out.extend_from_slice(data);
    out
}

/// The end of the sequence (sent at end of stream).
pub fn sequence_end(codec: VideoCodec) -> Vec<u8> {
    head(PacketType::SequenceEnd, true, codec, 0)
}

/// The legacy FLV codec id of AVC (H.264), the only video codec of legacy FLV that a muxer here writes.
const LEGACY_AVC: u8 = 7;

/// What a video tag body holds, as [`read`] finds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Body<'a> {
    /// The decoder configuration (avcC, hvcC, av1C).
    Config {
        codec: VideoCodec,
        record: &'a [u8],
    },
    /// A picture: its composition time offset and its access unit.
    Picture {
        codec: VideoCodec,
        cts_ms: i32,
        au: &'a [u8],
    },
    Other,
}

/// Reads a legacy (AVC) or enhanced (`ExVideoTagHeader`) video tag body.
pub fn read(body: &[u8]) -> Body<'_> {
    let Some(&first) = body.first() else {
        return Body::Other;
    };
    let si24 = |b: &[u8]| (i32::from_be_bytes([b[0], b[1], b[2], 0])) >> 8;
    if first & EX_HEADER == 0 {
        // Legacy: codec id, then AVCPacketType (0 sequence header, 1 NAL units) and a composition time.
        if first & 0x0f != LEGACY_AVC || body.len() < 5 {
            return Body::Other;
        }
        let codec = VideoCodec::Avc;
        return match body[1] {
            0 => Body::Config {
                codec,
                record: &body[5..],
            },
            1 => Body::Picture {
                codec,
                cts_ms: si24(&body[2..5]),
                au: &body[5..],
            },
            _ => Body::Other,
        };
    }
    let Some(codec) = body.get(1..5).and_then(VideoCodec::from_fourcc) else {
        return Body::Other;
    };
    let packet = first & 0x0f;
    if packet == PacketType::SequenceStart as u8 {
        return Body::Config {
            codec,
            record: &body[5..],
        };
    }
    let coded = packet == PacketType::CodedFrames as u8;
    if coded && codec.has_composition_time() && body.len() >= 8 {
        return Body::Picture {
            codec,
            cts_ms: si24(&body[5..8]),
            au: &body[8..],
        };
    }
    if coded || packet == PacketType::CodedFramesX as u8 {
        return Body::Picture {
            codec,
            cts_ms: 0,
            au: &body[5..],
        };
    }
    Body::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_start_layout() {
        assert_eq!(
            sequence_start(VideoCodec::Hevc, &[1, 2]),
            [0x90, b'h', b'v', b'c', b'1', 1, 2]
        );
    }

    #[test]
    fn composition_time_is_signed_24_bit_and_omitted_when_zero() {
        assert_eq!(
            coded_frame(VideoCodec::Hevc, false, -2, &[7]),
            [0xA1, b'h', b'v', b'c', b'1', 0xFF, 0xFF, 0xFE, 7]
        );
        assert_eq!(
            coded_frame(VideoCodec::Avc, true, 0, &[7]),
            [0x93, b'a', b'v', b'c', b'1', 7]
        );
        assert_eq!(
            coded_frame(VideoCodec::Avc, true, 80, &[7]),
            [0x91, b'a', b'v', b'c', b'1', 0, 0, 80, 7]
        );
    }

    #[test]
    fn av1_frames_have_no_composition_time() {
        assert_eq!(
            coded_frame(VideoCodec::Av1, true, 40, &[0x12, 0]),
            [0x91, b'a', b'v', b'0', b'1', 0x12, 0]
        );
    }

    #[test]
    fn read_gives_back_what_is_written() {
        assert_eq!(
            read(&coded_frame(VideoCodec::Hevc, false, 40, &[0xAA])),
            Body::Picture {
                codec: VideoCodec::Hevc,
                cts_ms: 40,
                au: &[0xAA]
            }
        );
        assert_eq!(
            read(&coded_frame(VideoCodec::Avc, true, 0, &[0xAA])),
            Body::Picture {
                codec: VideoCodec::Avc,
                cts_ms: 0,
                au: &[0xAA]
            },
            "CodedFramesX"
        );
        assert_eq!(
            read(&coded_frame(VideoCodec::Av1, true, 40, &[0x12])),
            Body::Picture {
                codec: VideoCodec::Av1,
                cts_ms: 0,
                au: &[0x12]
            }
        );
        assert_eq!(
            read(&sequence_start(VideoCodec::Hevc, &[1, 2])),
            Body::Config {
                codec: VideoCodec::Hevc,
                record: &[1, 2]
            }
        );
        assert_eq!(read(&sequence_end(VideoCodec::Av1)), Body::Other);
    }

    #[test]
    fn legacy_avc_bodies_and_garbage() {
        assert!(matches!(
            read(&[0x27, 1, 0xff, 0xff, 0xfe]),
            Body::Picture { cts_ms: -2, .. }
        ));
        assert!(matches!(
            read(&[0x17, 0, 0, 0, 0, 1]),
            Body::Config {
                codec: VideoCodec::Avc,
                ..
            }
        ));
        assert_eq!(read(&[0x27, 0]), Body::Other, "cut");
        assert_eq!(read(&[0x22, 1, 0, 0, 0]), Body::Other, "not AVC");
        assert_eq!(
            read(&[0x91, b'v', b'p', b'0', b'9']),
            Body::Other,
            "unknown FourCC"
        );
        assert_eq!(read(&[]), Body::Other);
    }

    #[test]
    fn sequence_end_layout() {
        assert_eq!(
            sequence_end(VideoCodec::Av1),
            [0x92, b'a', b'v', b'0', b'1']
        );
    }
}
