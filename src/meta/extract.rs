//! What `tdmetaextract` reads from one access unit: the project's payloads, and where the SEI
//! units that hold only them are (for `strip`).

use super::sei::{self, Codec, Framing};
use super::splice;
use super::wire::UUID;

/// The payloads and strip ranges of a buffer. One memory (the usual case) is read in place. With
/// several (e.g. right after tdmetaembed), only the bytes up to the first slice are gathered: SEI
/// always comes before it, and the picture is not copied.
pub fn scan(
    buf: &gst::BufferRef,
    codec: Codec,
    framing: Framing,
) -> (Vec<Vec<u8>>, Vec<(usize, usize)>) {
    if buf.n_memory() == 1 {
        return match buf.peek_memory(0).map_readable() {
            Ok(m) => find(codec, framing, &m),
            Err(_) => (Vec::new(), Vec::new()),
        };
    }
    let has_slice =
        |prefix: &[u8]| sei::units_before_slice(codec, framing, prefix).1 < prefix.len();
    let mut prefix = Vec::new();
    for i in 0..buf.n_memory() {
        let Ok(m) = buf.peek_memory(i).map_readable() else {
            break;
        };
        let head = m.len().min(PEEK);
        prefix.extend_from_slice(&m[..head]);
        if has_slice(&prefix) {
            break;
        }
        prefix.extend_from_slice(&m[head..]);
    }
    find(codec, framing, &prefix)
}

/// How much of each further memory is looked at for the start of the first slice.
const PEEK: usize = 64;

/// Removes the given ranges (ascending, from [`scan`]) without copying the rest.
pub fn strip(buf: &mut gst::BufferRef, cuts: &[(usize, usize)]) {
    for (start, end) in cuts.iter().rev() {
        splice::cut(buf, *start, *end);
    }
}

/// The project's payloads in an access unit, and the byte ranges of SEI units that hold nothing but
/// them (what `strip` removes).
pub fn find(codec: Codec, framing: Framing, au: &[u8]) -> (Vec<Vec<u8>>, Vec<(usize, usize)>) {
    let mut payloads = Vec::new();
    let mut cuts = Vec::new();
    let (spans, slice) = sei::units_before_slice(codec, framing, au);
    for (k, span) in spans.iter().enumerate() {
        let nal = &au[span.nal..span.end];
        if !codec.is_sei(nal) {
            continue;
        }
        let messages = sei::user_data(codec, nal);
        let ours = messages.iter().filter(|(u, _)| *u == UUID).count();
        if ours == 0 {
            continue;
        }
        if ours == messages.len() {
            // Up to where the next unit (with its start code or length prefix) begins.
            let end = spans.get(k + 1).map_or(slice, |next| next.start);
            cuts.push((span.start, end));
        }
        payloads.extend(
            messages
                .into_iter()
                .filter(|(u, _)| *u == UUID)
                .map(|(_, d)| d),
        );
    }
    (payloads, cuts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::wire::FrameData;

    #[test]
    fn strip_ranges_keep_the_next_start_code() {
        let data = FrameData::default().encode();
        let unit = sei::sei_unit(Codec::H264, Framing::ByteStream, &[(&UUID, &data)]);
        let mut au = vec![0, 0, 0, 1, 0x09, 0xf0];
        let at = au.len();
        au.extend_from_slice(&unit);
        au.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88]);
        let (payloads, cuts) = find(Codec::H264, Framing::ByteStream, &au);
        assert_eq!(payloads, vec![data]);
        assert_eq!(cuts, vec![(at, at + unit.len())]);
        let mut stripped = au.clone();
        stripped.drain(cuts[0].0..cuts[0].1);
        assert_eq!(
            stripped,
            vec![0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x65, 0x88]
        );
    }
}
