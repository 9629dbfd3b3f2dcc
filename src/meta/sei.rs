//! H.264/H.265 SEI user-data-unregistered messages: building them (payload type and size coding,
//! emulation prevention, RBSP trailing bits), finding where they go in an access unit, and finding
//! and reading them back. Byte-stream (Annex B start codes) and length-prefixed (avc/hvc) framing.
//! Pure functions on byte slices; nothing here panics on malformed input.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264,
    H265,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Annex B start codes.
    ByteStream,
    /// Each NAL unit preceded by its size in this many big-endian bytes (1, 2 or 4).
    Length(usize),
}

const USER_DATA_UNREGISTERED: u32 = 5;
const H264_SEI: u8 = 6;
const H265_PREFIX_SEI: u8 = 39;

impl Codec {
    fn nal_type(self, nal: &[u8]) -> Option<u8> {
        let first = *nal.first()?;
        Some(match self {
            Codec::H264 => first & 0x1f,
            Codec::H265 => (first >> 1) & 0x3f,
        })
    }

    fn header_len(self) -> usize {
        match self {
            Codec::H264 => 1,
            Codec::H265 => 2,
        }
    }

    pub fn is_vcl(self, nal: &[u8]) -> bool {
        match (self, self.nal_type(nal)) {
            (Codec::H264, Some(t)) => (1..=5).contains(&t),
            (Codec::H265, Some(t)) => t <= 31,
            _ => false,
        }
    }

    pub fn is_sei(self, nal: &[u8]) -> bool {
        match self {
            Codec::H264 => self.nal_type(nal) == Some(H264_SEI),
            Codec::H265 => self.nal_type(nal) == Some(H265_PREFIX_SEI),
        }
    }
}

/// Where one NAL unit sits in an access unit: `start..end` is the whole unit with its start code
/// or length prefix (what to cut to remove it), `nal..end` the NAL unit itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NalSpan {
    pub start: usize,
    pub nal: usize,
    pub end: usize,
}

/// The NAL units of an access unit, in order. Bytes before the first start code (byte-stream) or a
/// length that overruns the buffer (length-prefixed) end the list.
pub fn nal_units(framing: Framing, au: &[u8]) -> Vec<NalSpan> {
    let mut spans = Vec::new();
    match framing {
        Framing::ByteStream => {
            let mut codes = Vec::new();
            let mut i = 0;
            while i + 3 <= au.len() {
                if au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1 {
                    let start = if i > 0 && au[i - 1] == 0 { i - 1 } else { i };
                    codes.push((start, i + 3));
                    i += 3;
                } else {
                    i += 1;
                }
            }
            for (k, &(start, nal)) in codes.iter().enumerate() {
                let mut end = codes.get(k + 1).map_or(au.len(), |c| c.0);
                // Trailing zero bytes belong to no NAL unit.
                while end > nal && au[end - 1] == 0 {
                    end -= 1;
                }
                spans.push(NalSpan { start, nal, end });
            }
        }
        Framing::Length(n) => {
            let mut i = 0;
            while n > 0 && i + n <= au.len() {
                let len = au[i..i + n]
                    .iter()
                    .fold(0usize, |acc, b| (acc << 8) | *b as usize);
                let (nal, end) = (i + n, i + n + len);
                if end > au.len() {
                    break;
                }
                spans.push(NalSpan { start: i, nal, end });
                i = end;
            }
        }
    }
    spans
}

/// The offset at which an SEI unit goes: before the first slice (after AUD, parameter sets and any
/// other SEI), or the end of the access unit if it has no slice.
pub fn insert_offset(codec: Codec, framing: Framing, au: &[u8]) -> usize {
    units_before_slice(codec, framing, au).1
}

/// The next Annex B start code at or after `from`: (where it starts, counting a leading zero byte;
/// where its NAL unit starts).
fn next_start_code(au: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i + 3 <= au.len() {
        if au[i + 2] > 1 {
            // No start code can begin at i, i + 1 or i + 2.
            i += 3;
        } else if au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1 {
            let start = if i > from && au[i - 1] == 0 { i - 1 } else { i };
            return Some((start, i + 3));
        } else {
            i += 1;
        }
    }
    None
}

/// The complete NAL units before the first slice, and where the first slice's unit starts
/// (`au.len()` when there is none). Reads no further than the first slice's header: SEI, parameter
/// sets and delimiters always come before it, and the picture can be large.
pub fn units_before_slice(codec: Codec, framing: Framing, au: &[u8]) -> (Vec<NalSpan>, usize) {
    let mut spans = Vec::new();
    match framing {
        Framing::ByteStream => {
            let mut current: Option<(usize, usize)> = None;
            let mut from = 0;
            loop {
                let next = next_start_code(au, from);
                if let Some((start, nal)) = current {
                    let mut end = next.map_or(au.len(), |n| n.0);
                    while end > nal && au[end - 1] == 0 {
                        end -= 1;
                    }
                    spans.push(NalSpan { start, nal, end });
                }
                let Some((start, nal)) = next else {
                    return (spans, au.len());
                };
                if codec.is_vcl(&au[nal..]) {
                    return (spans, start);
                }
                current = Some((start, nal));
                from = nal;
            }
        }
        Framing::Length(_) => {
            for span in nal_units(framing, au) {
                if codec.is_vcl(&au[span.nal..span.end]) {
                    return (spans, span.start);
                }
                spans.push(span);
            }
            (spans, au.len())
        }
    }
}

/// Adds emulation prevention bytes (00 00 0x → 00 00 03 0x for x ≤ 3).
pub fn escape(rbsp: &[u8], out: &mut Vec<u8>) {
    escape_into(out, rbsp, &mut 0);
}

/// Removes emulation prevention bytes.
pub fn unescape(ebsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ebsp.len());
    let mut zeros = 0;
    for &b in ebsp {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    out
}

fn put_ff_coded(out: &mut Vec<u8>, mut v: usize) {
    while v >= 255 {
        out.push(0xff);
        v -= 255;
    }
    out.push(v as u8);
}

/// Appends `bytes` to `out` with emulation prevention, continuing a run of `zeros` zero bytes.
fn escape_into(out: &mut Vec<u8>, bytes: &[u8], zeros: &mut usize) {
    // Copies runs that need no escaping in one go.
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if *zeros >= 2 && b <= 3 {
            out.extend_from_slice(&bytes[start..i]);
            out.push(3);
            start = i;
            *zeros = 0;
        }
        *zeros = if b == 0 { *zeros + 1 } else { 0 };
    }
    out.extend_from_slice(&bytes[start..]);
}

/// One SEI NAL unit, framed (start code or length prefix) and ready to insert, holding one
/// user-data-unregistered message per (UUID, data) pair. Built in one allocation.
pub fn sei_unit(codec: Codec, framing: Framing, messages: &[(&[u8; 16], &[u8])]) -> Vec<u8> {
    let body: usize = messages.iter().map(|(_, d)| 16 + d.len() + 8).sum();
    let mut out = Vec::with_capacity(8 + body + body / 64);
    // The start code, or room for the length written at the end.
    match framing {
        Framing::ByteStream => out.extend_from_slice(&[0, 0, 0, 1]),
        Framing::Length(n) => out.resize(n, 0),
    }
    match codec {
        Codec::H264 => out.push(H264_SEI),
        Codec::H265 => out.extend_from_slice(&[H265_PREFIX_SEI << 1, 1]),
    }
    let mut zeros = 0;
    let mut coded = Vec::with_capacity(8);
    for (uuid, data) in messages {
        coded.clear();
        put_ff_coded(&mut coded, USER_DATA_UNREGISTERED as usize);
        put_ff_coded(&mut coded, 16 + data.len());
        escape_into(&mut out, &coded, &mut zeros);
        escape_into(&mut out, *uuid, &mut zeros);
        escape_into(&mut out, data, &mut zeros);
    }
    escape_into(&mut out, &[0x80], &mut zeros);
    if let Framing::Length(n) = framing {
        let len = (out.len() - n) as u64;
        for (i, byte) in out[..n].iter_mut().enumerate() {
            *byte = (len >> (8 * (n - 1 - i))) as u8;
        }
    }
    out
}

/// The user-data-unregistered messages of one SEI NAL unit (with its header, still escaped), as
/// (UUID, data) pairs. Other SEI messages are skipped; a malformed unit yields what was read
/// before the fault.
pub fn user_data(codec: Codec, nal: &[u8]) -> Vec<([u8; 16], Vec<u8>)> {
    let mut found = Vec::new();
    if !codec.is_sei(nal) || nal.len() <= codec.header_len() {
        return found;
    }
    let rbsp = unescape(&nal[codec.header_len()..]);
    let mut i = 0;
    let read_coded = |i: &mut usize| -> Option<usize> {
        let mut v = 0usize;
        loop {
            let b = *rbsp.get(*i)?;
            *i += 1;
            v = v.checked_add(b as usize)?;
            if b != 0xff {
                return Some(v);
            }
        }
    };
    // More messages follow while more than the trailing bits are left.
    while i < rbsp.len() && rbsp[i..] != [0x80] {
        let Some(kind) = read_coded(&mut i) else {
            break;
        };
        let Some(size) = read_coded(&mut i) else {
            break;
        };
        let Some(payload) = i.checked_add(size).and_then(|end| rbsp.get(i..end)) else {
            break;
        };
        i += size;
        if kind == USER_DATA_UNREGISTERED as usize && payload.len() >= 16 {
            let mut uuid = [0u8; 16];
            uuid.copy_from_slice(&payload[..16]);
            found.push((uuid, payload[16..].to_vec()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: [u8; 16] = [7; 16];

    fn au(codec: Codec) -> Vec<u8> {
        match codec {
            // AUD, SPS, PPS, IDR slice (4-byte and 3-byte start codes).
            Codec::H264 => vec![
                0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce, 0, 0, 1, 0x65,
                0x88, 0x84, 0x00,
            ],
            // AUD, VPS, IDR_W_RADL slice.
            Codec::H265 => vec![
                0, 0, 0, 1, 0x46, 0x01, 0x50, 0, 0, 0, 1, 0x40, 0x01, 0x0c, 0, 0, 1, 0x26, 0x01,
                0xaf,
            ],
        }
    }

    #[test]
    fn offset_is_before_the_first_slice() {
        assert_eq!(
            insert_offset(Codec::H264, Framing::ByteStream, &au(Codec::H264)),
            17
        );
        assert_eq!(
            insert_offset(Codec::H265, Framing::ByteStream, &au(Codec::H265)),
            14
        );
        assert_eq!(insert_offset(Codec::H264, Framing::ByteStream, &[]), 0);
    }

    #[test]
    fn insert_and_read_back_both_codecs_and_framings() {
        // Data with zero runs that need emulation prevention.
        let data = [0u8, 0, 1, 0, 0, 0, 0, 3, 0xff, 0x80];
        for codec in [Codec::H264, Codec::H265] {
            let unit = sei_unit(codec, Framing::ByteStream, &[(&UUID, &data)]);
            let mut a = au(codec);
            let at = insert_offset(codec, Framing::ByteStream, &a);
            a.splice(at..at, unit);
            let units = nal_units(Framing::ByteStream, &a);
            let sei: Vec<_> = units
                .iter()
                .filter(|s| codec.is_sei(&a[s.nal..s.end]))
                .collect();
            assert_eq!(sei.len(), 1);
            let got = user_data(codec, &a[sei[0].nal..sei[0].end]);
            assert_eq!(got, vec![(UUID, data.to_vec())]);
            // The slice is still last and intact.
            let last = units.last().expect("units");
            assert!(codec.is_vcl(&a[last.nal..last.end]));
            // Length-prefixed: the same message in a 4-byte-length unit.
            let unit = sei_unit(codec, Framing::Length(4), &[(&UUID, &data)]);
            let spans = nal_units(Framing::Length(4), &unit);
            assert_eq!(spans.len(), 1);
            assert_eq!(
                user_data(codec, &unit[spans[0].nal..spans[0].end]),
                vec![(UUID, data.to_vec())]
            );
        }
    }

    #[test]
    fn units_before_slice_agree_with_a_full_scan() {
        for codec in [Codec::H264, Codec::H265] {
            let a = au(codec);
            let all = nal_units(Framing::ByteStream, &a);
            let (before, slice) = units_before_slice(codec, Framing::ByteStream, &a);
            let first_vcl = all
                .iter()
                .position(|s| codec.is_vcl(&a[s.nal..s.end]))
                .expect("slice");
            assert_eq!(before, all[..first_vcl].to_vec());
            assert_eq!(slice, all[first_vcl].start);
        }
        assert_eq!(
            units_before_slice(Codec::H264, Framing::ByteStream, &[0, 0, 1, 9, 0xf0]),
            (
                vec![NalSpan {
                    start: 0,
                    nal: 3,
                    end: 5
                }],
                5
            )
        );
    }

    #[test]
    fn payload_sizes_over_255_are_ff_coded() {
        let data = vec![0x11u8; 600];
        let unit = sei_unit(Codec::H264, Framing::ByteStream, &[(&UUID, &data)]);
        // start code, header, type 5, size 616 = 255 + 255 + 106.
        assert_eq!(&unit[..8], &[0, 0, 0, 1, 6, 5, 0xff, 0xff]);
        assert_eq!(unit[8], 106);
        assert_eq!(
            user_data(Codec::H264, &unit[4..]),
            vec![(UUID, data.clone())]
        );
    }

    #[test]
    fn several_messages_in_one_unit() {
        let other = [9u8; 16];
        let unit = sei_unit(
            Codec::H264,
            Framing::ByteStream,
            &[(&UUID, b"one"), (&other, b"two")],
        );
        assert_eq!(
            user_data(Codec::H264, &unit[4..]),
            vec![(UUID, b"one".to_vec()), (other, b"two".to_vec())]
        );
    }

    #[test]
    fn escaping_round_trips() {
        for rbsp in [
            vec![0, 0, 0],
            vec![0, 0, 1, 0, 0, 2, 0, 0, 3],
            vec![1, 2, 3],
            vec![0, 0, 4],
        ] {
            let mut e = Vec::new();
            escape(&rbsp, &mut e);
            assert!(!e.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2));
            assert_eq!(unescape(&e), rbsp);
        }
    }

    /// Hand-made bad SEI units: nothing panics, nothing bogus comes out.
    #[test]
    fn corpus_of_bad_sei() {
        let cases: &[&[u8]] = &[
            &[],
            &[6],
            &[6, 5],
            &[6, 5, 0xff, 0xff, 0xff],
            &[6, 5, 20, 1, 2, 3],
            &[6, 5, 10, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 0x80],
            &[6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &[0x65, 5, 17],
        ];
        for c in cases {
            assert!(user_data(Codec::H264, c).is_empty(), "{c:?}");
        }
        // Lengths that overrun, zero-length prefixes.
        assert!(nal_units(Framing::Length(4), &[0, 0, 0, 9, 1]).is_empty());
        assert!(nal_units(Framing::Length(0), &[1, 2, 3]).is_empty());
        assert_eq!(nal_units(Framing::ByteStream, &[1, 2, 3, 0, 0]), vec![]);
    }

    /// A bounded fuzz run (deterministic PRNG): random and mutated units never panic.
    #[test]
    fn fuzz_parsers_bounded() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let good = sei_unit(
            Codec::H264,
            Framing::ByteStream,
            &[(
                &crate::meta::wire::UUID,
                &crate::meta::wire::FrameData::default().encode(),
            )],
        );
        for _ in 0..20_000 {
            let mut bytes = if next() % 2 == 0 {
                good.clone()
            } else {
                (0..next() % 64).map(|_| next() as u8).collect()
            };
            for _ in 0..(next() % 4) {
                if bytes.is_empty() {
                    break;
                }
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            if next() % 3 == 0 {
                let cut = (next() as usize) % (bytes.len() + 1);
                bytes.truncate(cut);
            }
            for framing in [Framing::ByteStream, Framing::Length(4), Framing::Length(2)] {
                for s in nal_units(framing, &bytes) {
                    for codec in [Codec::H264, Codec::H265] {
                        for (_, data) in user_data(codec, &bytes[s.nal..s.end]) {
                            let _ = crate::meta::wire::FrameData::decode(&data);
                        }
                    }
                }
                let _ = insert_offset(Codec::H265, framing, &bytes);
            }
        }
    }
}
