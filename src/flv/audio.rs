//! Legacy FLV audio tag bodies: AAC (sound format 10) and MP3 (sound format 2).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioCodec {
    /// AAC with its AudioSpecificConfig (the `codec_data` of raw AAC caps).
    Aac { config: Vec<u8> },
    /// MPEG-1/2 layer 3.
    Mp3,
}

/// The first byte of every audio tag: format, rate, size and channels. AAC is always written as
/// 44 kHz, 16-bit, stereo (the specification's rule; the real values are in the AudioSpecificConfig).
pub fn flags(codec: &AudioCodec, rate: u32, channels: u32) -> u8 {
    match codec {
        AudioCodec::Aac { .. } => 0xAF,
        AudioCodec::Mp3 => {
            let rate_index = match rate {
                0..=8000 => 0,
                8001..=16000 => 1,
                16001..=32000 => 2,
                _ => 3,
            };
            (2 << 4) | (rate_index << 2) | (1 << 1) | u8::from(channels > 1)
        }
    }
}

/// The AAC sequence header (AudioSpecificConfig); MP3 has none.
pub fn sequence_start(codec: &AudioCodec, rate: u32, channels: u32) -> Option<Vec<u8>> {
    match codec {
        AudioCodec::Aac { config } => {
            let mut out = vec![flags(codec, rate, channels), 0];
            out.extend_from_slice(config);
            Some(out)
        }
        AudioCodec::Mp3 => None,
    }
}

/// One audio frame.
pub fn frame(codec: &AudioCodec, rate: u32, channels: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + data.len());
    out.push(flags(codec, rate, channels));
    if matches!(codec, AudioCodec::Aac { .. }) {
        out.push(1);
    }
    out.extend_from_slice(data);
    out
}

/// `audiocodecid` of `onMetaData`.
pub fn codec_id(codec: &AudioCodec) -> f64 {
    match codec {
        AudioCodec::Aac { .. } => 10.0,
        AudioCodec::Mp3 => 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aac() {
        let aac = AudioCodec::Aac {
            config: vec![0x12, 0x10],
        };
        assert_eq!(
            sequence_start(&aac, 44100, 2),
            Some(vec![0xAF, 0, 0x12, 0x10])
        );
        assert_eq!(frame(&aac, 48000, 1, &[9]), [0xAF, 1, 9]);
    }

    #[test]
    fn mp3() {
        assert_eq!(sequence_start(&AudioCodec::Mp3, 44100, 2), None);
        assert_eq!(frame(&AudioCodec::Mp3, 44100, 2, &[9]), [0x2F, 9]);
        assert_eq!(frame(&AudioCodec::Mp3, 22050, 1, &[9]), [0x2A, 9]);
    }
}
