//! The per-frame metadata payload: what `tdmetaembed` writes after the project UUID in an SEI
//! user-data-unregistered message, and what `tdmetaextract` (or any receiver) reads back.
//! The format is specified in docs/METADATA-WIRE-FORMAT.md; keep the two in step.
//!
//! ```text
//! version   u8      = 1
//! flags     u8      bit 0 frame number, bit 1 capture time, bit 2 timecode, bit 3 drop-frame
//! [frame]   varint  frame number
//! [capture] i64 LE  capture wall-clock time, µs since 1970-01-01 UTC
//! [timecode] 4 × u8 hours, minutes, seconds, frames
//! channels  varint  count, then per channel: name (varint length + UTF-8), varint sample count,
//!                   samples as f64 LE
//! table     varint rows, varint columns, then rows × columns cells (varint length + UTF-8),
//!                   row by row
//! ```
//! Varints are unsigned LEB128 (7 bits per byte, low bits first, at most 10 bytes).

/// The project's SEI UUID (97e65035-c968-4d3f-a663-c2b925c75976).
pub const UUID: [u8; 16] = [
    0x97, 0xe6, 0x50, 0x35, 0xc9, 0x68, 0x4d, 0x3f, 0xa6, 0x63, 0xc2, 0xb9, 0x25, 0xc7, 0x59, 0x76,
];
pub const VERSION: u8 = 1;

const FLAG_FRAME: u8 = 1;
const FLAG_CAPTURE: u8 = 2;
const FLAG_TIMECODE: u8 = 4;
const FLAG_DROP_FRAME: u8 = 8;

/// Sanity limits a payload from the network must respect (a frame's metadata, not a file).
pub const MAX_CHANNELS: usize = 4096;
pub const MAX_SAMPLES: usize = 65536;
pub const MAX_CELLS: usize = 65536;

/// A SMPTE timecode as it travels: hours, minutes, seconds, frames, drop-frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timecode {
    pub hours: u8,
    pub minutes: u8,
    pub seconds: u8,
    pub frames: u8,
    pub drop_frame: bool,
}

/// SMPTE's notation, `hh:mm:ss:ff` (`hh:mm:ss;ff` for drop-frame), as tdmetaextract and FFmpeg print it.
impl std::fmt::Display for Timecode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sep = if self.drop_frame { ';' } else { ':' };
        write!(
            f,
            "{:02}:{:02}:{:02}{sep}{:02}",
            self.hours, self.minutes, self.seconds, self.frames
        )
    }
}

/// Named channels, each with its samples, in order.
pub type Channels = Vec<(String, Vec<f64>)>;

/// One frame's metadata: named channels (several samples each), a table of strings, and the
/// automatic fields.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FrameData {
    pub frame: Option<u64>,
    /// Capture wall-clock time, microseconds since the Unix epoch (UTC).
    pub capture_us: Option<i64>,
    pub timecode: Option<Timecode>,
    pub channels: Channels,
    /// Rows of cells; every row has the same number of cells.
    pub table: Vec<Vec<String>>,
}

/// The automatic fields of a payload, read by [`FrameData::peek`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    pub frame: Option<u64>,
    pub capture_us: Option<i64>,
    pub timecode: Option<Timecode>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("payload ends early (needed {needed} more bytes at offset {at})")]
    Truncated { at: usize, needed: usize },
    #[error("unknown payload version {0} (this build reads version {VERSION})")]
    Version(u8),
    #[error("varint longer than 10 bytes at offset {0}")]
    Varint(usize),
    #[error("{what} count {count} is over the limit {limit}")]
    TooMany {
        what: &'static str,
        count: u64,
        limit: usize,
    },
    #[error("text at offset {0} is not UTF-8")]
    Utf8(usize),
    #[error("{0} bytes left over after the payload")]
    Trailing(usize),
}

impl FrameData {
    /// Serialises into `out` (appended).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let mut flags = 0;
        if self.frame.is_some() {
            flags |= FLAG_FRAME;
        }
        if self.capture_us.is_some() {
            flags |= FLAG_CAPTURE;
        }
        if let Some(tc) = &self.timecode {
            flags |= FLAG_TIMECODE;
            if tc.drop_frame {
                flags |= FLAG_DROP_FRAME;
            }
        }
        out.push(VERSION);
        out.push(flags);
        if let Some(f) = self.frame {
            put_varint(out, f);
        }
        if let Some(t) = self.capture_us {
            out.extend_from_slice(&t.to_le_bytes());
        }
        if let Some(tc) = &self.timecode {
            out.extend_from_slice(&[tc.hours, tc.minutes, tc.seconds, tc.frames]);
        }
        put_varint(out, self.channels.len() as u64);
        for (name, samples) in &self.channels {
            put_str(out, name);
            put_varint(out, samples.len() as u64);
            for s in samples {
                out.extend_from_slice(&s.to_le_bytes());
            }
        }
        let columns = self.table.first().map_or(0, Vec::len);
        put_varint(out, self.table.len() as u64);
        put_varint(out, columns as u64);
        for row in &self.table {
            for c in 0..columns {
                put_str(out, row.get(c).map_or("", String::as_str));
            }
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.encode_into(&mut out);
        out
    }

    /// Parses a payload (the bytes after the UUID). Never panics; every length is checked against
    /// what is left and against the limits above.
    pub fn decode(bytes: &[u8]) -> Result<FrameData, WireError> {
        let mut r = Reader { bytes, at: 0 };
        let h = r.header()?;
        let mut d = FrameData {
            frame: h.frame,
            capture_us: h.capture_us,
            timecode: h.timecode,
            ..FrameData::default()
        };
        let n = r.count("channel", MAX_CHANNELS)?;
        d.channels.reserve(n);
        for _ in 0..n {
            let name = r.string()?;
            let k = r.count("sample", MAX_SAMPLES)?;
            // Each sample takes 8 bytes: check before allocating.
            r.need(k.saturating_mul(8))?;
            let samples = (0..k)
                .map(|_| r.array::<8>().map(f64::from_le_bytes))
                .collect::<Result<Vec<_>, _>>()?;
            d.channels.push((name, samples));
        }
        let (rows, columns) = r.table_size()?;
        for _ in 0..rows {
            let row = (0..columns)
                .map(|_| r.string())
                .collect::<Result<Vec<_>, _>>()?;
            d.table.push(row);
        }
        if r.at != bytes.len() {
            return Err(WireError::Trailing(bytes.len() - r.at));
        }
        Ok(d)
    }

    /// Checks a whole payload as [`decode`](Self::decode) does, without allocating, and returns its
    /// automatic fields: what a receiver needs on every frame (latency, frame number).
    pub fn peek(bytes: &[u8]) -> Result<Header, WireError> {
        let mut r = Reader { bytes, at: 0 };
        let h = r.header()?;
        let n = r.count("channel", MAX_CHANNELS)?;
        for _ in 0..n {
            r.skip_string()?;
            let k = r.count("sample", MAX_SAMPLES)?;
            r.need(k * 8)?;
            r.at += k * 8;
        }
        let (rows, columns) = r.table_size()?;
        let cells = rows * columns;
        for _ in 0..cells {
            r.skip_string()?;
        }
        if r.at != bytes.len() {
            return Err(WireError::Trailing(bytes.len() - r.at));
        }
        Ok(h)
    }

    /// The channel's first sample, by name.
    pub fn channel(&self, name: &str) -> Option<&[f64]> {
        self.channels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    /// Version, flags and the automatic fields.
    fn header(&mut self) -> Result<Header, WireError> {
        let version = self.u8()?;
        if version != VERSION {
            return Err(WireError::Version(version));
        }
        let flags = self.u8()?;
        let mut h = Header::default();
        if flags & FLAG_FRAME != 0 {
            h.frame = Some(self.varint()?);
        }
        if flags & FLAG_CAPTURE != 0 {
            h.capture_us = Some(i64::from_le_bytes(self.array::<8>()?));
        }
        if flags & FLAG_TIMECODE != 0 {
            let [hours, minutes, seconds, frames] = self.array::<4>()?;
            h.timecode = Some(Timecode {
                hours,
                minutes,
                seconds,
                frames,
                drop_frame: flags & FLAG_DROP_FRAME != 0,
            });
        }
        Ok(h)
    }

    /// Rows and columns of the table, within the cell limit, with at least one byte left per cell.
    fn table_size(&mut self) -> Result<(u64, u64), WireError> {
        let rows = self.varint()?;
        let columns = self.varint()?;
        let cells = rows.saturating_mul(columns);
        if cells > MAX_CELLS as u64 {
            return Err(WireError::TooMany {
                what: "table cell",
                count: cells,
                limit: MAX_CELLS,
            });
        }
        self.need(cells as usize)?;
        Ok((rows, columns))
    }

    fn need(&self, n: usize) -> Result<(), WireError> {
        let left = self.bytes.len() - self.at;
        if n > left {
            return Err(WireError::Truncated {
                at: self.at,
                needed: n - left,
            });
        }
        Ok(())
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        self.need(N)?;
        let mut a = [0; N];
        a.copy_from_slice(&self.bytes[self.at..self.at + N]);
        self.at += N;
        Ok(a)
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let start = self.at;
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(WireError::Varint(start))
    }

    fn count(&mut self, what: &'static str, limit: usize) -> Result<usize, WireError> {
        let n = self.varint()?;
        if n > limit as u64 {
            return Err(WireError::TooMany {
                what,
                count: n,
                limit,
            });
        }
        Ok(n as usize)
    }

    fn skip_string(&mut self) -> Result<(), WireError> {
        let len = self.varint()?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.need(len)?;
        let at = self.at;
        std::str::from_utf8(&self.bytes[at..at + len]).map_err(|_| WireError::Utf8(at))?;
        self.at += len;
        Ok(())
    }

    fn string(&mut self) -> Result<String, WireError> {
        let len = self.varint()?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.need(len)?;
        let at = self.at;
        let s = std::str::from_utf8(&self.bytes[at..at + len]).map_err(|_| WireError::Utf8(at))?;
        self.at += len;
        Ok(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn sample() -> FrameData {
        FrameData {
            frame: Some(300),
            capture_us: Some(1_795_000_000_123_456),
            timecode: Some(Timecode {
                hours: 1,
                minutes: 2,
                seconds: 3,
                frames: 4,
                drop_frame: true,
            }),
            channels: vec![
                ("tx".into(), vec![0.5]),
                ("rgb".into(), vec![1.0, -2.5, f64::MAX]),
            ],
            table: vec![
                vec!["name".into(), "value".into()],
                vec!["é".into(), "".into()],
            ],
        }
    }

    #[test]
    fn round_trip() {
        let d = sample();
        assert_eq!(FrameData::decode(&d.encode()), Ok(d));
        let empty = FrameData::default();
        assert_eq!(empty.encode(), vec![1, 0, 0, 0, 0]);
        assert_eq!(FrameData::decode(&empty.encode()), Ok(empty));
    }

    /// The example dump of docs/METADATA-WIRE-FORMAT.md.
    #[test]
    fn documented_example() {
        let d = FrameData {
            frame: Some(300),
            capture_us: None,
            timecode: None,
            channels: vec![("tx".into(), vec![0.5])],
            table: vec![vec!["a".into(), "b".into()]],
        };
        assert_eq!(
            d.encode(),
            [
                0x01, 0x01, 0xac, 0x02, 0x01, 0x02, b't', b'x', 0x01, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f,
                0x01, 0x02, 0x01, b'a', 0x01, b'b'
            ]
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            assert!(FrameData::decode(&bytes[..n]).is_err(), "prefix {n}");
            assert_eq!(
                FrameData::peek(&bytes[..n]).err(),
                FrameData::decode(&bytes[..n]).err(),
                "prefix {n}"
            );
        }
        let d = sample();
        let h = FrameData::peek(&d.encode()).expect("peek");
        assert_eq!(
            (h.frame, h.capture_us, h.timecode),
            (d.frame, d.capture_us, d.timecode)
        );
    }

    /// Hand-made bad inputs: each is refused with the error that names what is wrong.
    #[test]
    fn corpus_of_bad_inputs() {
        use WireError::*;
        let cases: &[(&[u8], WireError)] = &[
            (&[], Truncated { at: 0, needed: 1 }),
            (&[2, 0, 0, 0, 0], Version(2)),
            (
                &[
                    1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ],
                Varint(2),
            ),
            (
                &[1, 0, 0xff, 0xff, 0x03],
                TooMany {
                    what: "channel",
                    count: 65535,
                    limit: MAX_CHANNELS,
                },
            ),
            // One channel claiming 1000 samples with none present.
            (
                &[1, 0, 1, 0, 0xe8, 0x07],
                Truncated {
                    at: 6,
                    needed: 8000,
                },
            ),
            // A name of 5 bytes with 1 present.
            (&[1, 0, 1, 5, b'a'], Truncated { at: 4, needed: 4 }),
            (&[1, 0, 1, 1, 0xff, 0], Utf8(4)),
            (
                &[1, 0, 0, 0xff, 0xff, 0x03, 0xff, 0xff, 0x03],
                TooMany {
                    what: "table cell",
                    count: 65535 * 65535,
                    limit: MAX_CELLS,
                },
            ),
            (&[1, 0, 0, 2, 2, 0, 0, 0], Truncated { at: 5, needed: 1 }),
            (&[1, 0, 0, 0, 0, 9], Trailing(1)),
        ];
        for (bytes, want) in cases {
            assert_eq!(FrameData::decode(bytes).as_ref(), Err(want), "{bytes:?}");
            assert_eq!(FrameData::peek(bytes).as_ref(), Err(want), "{bytes:?}");
        }
    }

    #[test]
    fn varints() {
        for v in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut r = Reader { bytes: &out, at: 0 };
            assert_eq!(r.varint(), Ok(v));
            assert_eq!(r.at, out.len());
        }
    }
}
