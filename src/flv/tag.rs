//! FLV framing: the file header and tags (11-byte header, body, then the previous tag size), written and
//! read back.

/// Tag types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagType {
    Audio = 8,
    Video = 9,
    Script = 18,
}

/// The largest body a tag can carry (24-bit size).
pub const MAX_BODY: usize = 0x00FF_FFFF;

/// The 9-byte FLV header followed by `PreviousTagSize0` (0): 13 bytes.
pub fn file_header(has_audio: bool, has_video: bool) -> [u8; 13] {
    let flags = (u8::from(has_audio) << 2) | u8::from(has_video);
    [b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0]
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("an FLV tag body holds at most 16 MiB; this access unit has {0} bytes")]
pub struct TooLarge(pub usize);

/// One whole tag: header, body and the trailing previous-tag-size, `timestamp_ms` wrapping after about
/// 49 days as in every FLV writer (RTMP readers unwrap it).
pub fn tag(kind: TagType, timestamp_ms: u32, body: &[u8]) -> Result<Vec<u8>, TooLarge> {
    if body.len() > MAX_BODY {
        return Err(TooLarge(body.len()));
    }
    let size = body.len() as u32;
    let ts = timestamp_ms.to_be_bytes();
    let mut out = Vec::with_capacity(15 + body.len());
    out.push(kind as u8);
    out.extend_from_slice(&size.to_be_bytes()[1..]);
    // Lower 24 bits, then the upper 8 ("TimestampExtended").
    out.extend_from_slice(&[ts[1], ts[2], ts[3], ts[0]]);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(body);
    out.extend_from_slice(&(size + 11).to_be_bytes());
    Ok(out)
}

/// One FLV tag inside a buffer, as [`tags`] reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TagRef<'a> {
    /// The tag type byte ([`TagType`] values, or another a reader skips).
    pub kind: u8,
    pub timestamp_ms: u32,
    pub body: &'a [u8],
}

/// The tags of a muxer buffer or file: a file header (if it starts with one) skipped, then whole tags; a
/// cut one ends the walk.
pub fn tags(bytes: &[u8]) -> Vec<TagRef<'_>> {
    let mut at = if bytes.starts_with(b"FLV") { 13 } else { 0 };
    let mut out = Vec::new();
    while let Some(h) = bytes.get(at..at + 11) {
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let Some(body) = bytes.get(at + 11..at + 11 + size) else {
            break;
        };
        out.push(TagRef {
            kind: h[0],
            timestamp_ms: u32::from_be_bytes([h[7], h[4], h[5], h[6]]),
            body,
        });
        at += 11 + size + 4;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_read_back_what_tag_writes_and_stop_at_a_cut_one() {
        let mut flv = file_header(false, true).to_vec();
        flv.extend(tag(TagType::Script, 0, &[1, 2]).unwrap());
        flv.extend(tag(TagType::Video, 0x0123_4567, &[3]).unwrap());
        let read = tags(&flv);
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].kind, TagType::Script as u8);
        assert_eq!(
            (read[1].timestamp_ms, read[1].body),
            (0x0123_4567, &[3u8][..])
        );
        assert_eq!(
            tags(&flv[..flv.len() - 8]).len(),
            1,
            "a cut tag is not read"
        );
    }

    #[test]
    fn header_flags() {
        assert_eq!(file_header(true, true)[4], 5);
        assert_eq!(file_header(false, true)[4], 1);
        assert_eq!(&file_header(false, true)[5..9], &[0, 0, 0, 9]);
    }

    #[test]
    fn tag_layout_and_extended_timestamp() {
        let t = tag(TagType::Video, 0x0123_4567, &[0xAA, 0xBB]).unwrap();
        assert_eq!(
            t,
            [9, 0, 0, 2, 0x23, 0x45, 0x67, 0x01, 0, 0, 0, 0xAA, 0xBB, 0, 0, 0, 13]
        );
    }

    #[test]
    fn too_large() {
        assert_eq!(
            tag(TagType::Video, 0, &vec![0; MAX_BODY + 1]),
            Err(TooLarge(MAX_BODY + 1))
        );
    }
}
