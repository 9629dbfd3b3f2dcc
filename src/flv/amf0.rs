//! AMF0 values, as far as `onMetaData` needs them (numbers, booleans, strings, one ECMA array), written
//! and read back.

/// A value of an `onMetaData` entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Bool(bool),
    String(String),
}

const NUMBER: u8 = 0x00;
const BOOLEAN: u8 = 0x01;
const STRING: u8 = 0x02;
const OBJECT: u8 = 0x03;
const ECMA_ARRAY: u8 = 0x08;
const OBJECT_END: [u8; 3] = [0x00, 0x00, 0x09];

/// Writes a string value (type marker, u16 length, UTF-8). Longer strings are cut at 65535 bytes, on a
/// character boundary.
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(STRING);
    write_key(out, s);
}

/// Writes a property name (u16 length, UTF-8; no type marker).
fn write_key(out: &mut Vec<u8>, s: &str) {
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..end]);
}

pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Number(n) => {
            out.push(NUMBER);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Value::Bool(b) => {
            out.push(BOOLEAN);
            out.push(u8::from(*b));
        }
        Value::String(s) => write_string(out, s),
    }
}

/// The body of an `onMetaData` script tag: the string `onMetaData` and an ECMA array of `entries`.
pub fn on_metadata(entries: &[(&str, Value)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + entries.len() * 24);
    write_string(&mut out, "onMetaData");
    out.push(ECMA_ARRAY);
    out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for (key, value) in entries {
        write_key(&mut out, key);
        write_value(&mut out, value);
    }
    out.extend_from_slice(&OBJECT_END);
    out
}

/// The entries of an `onMetaData` body as [`on_metadata`] writes them (and flvmux: an ECMA array or an
/// object of numbers, booleans and strings). None for anything else: another name, another value type,
/// a cut body.
pub fn read_on_metadata(body: &[u8]) -> Option<Vec<(String, Value)>> {
    let mut r = Reader { bytes: body, at: 0 };
    if r.byte()? != STRING || r.key()? != "onMetaData" {
        return None;
    }
    match r.byte()? {
        ECMA_ARRAY => {
            r.take(4)?;
        }
        OBJECT => {}
        _ => return None,
    }
    let mut entries = Vec::new();
    loop {
        if r.bytes.get(r.at..r.at + 3) == Some(&OBJECT_END[..]) {
            return Some(entries);
        }
        let key = r.key()?;
        let value = match r.byte()? {
            NUMBER => Value::Number(f64::from_be_bytes(r.take(8)?.try_into().ok()?)),
            BOOLEAN => Value::Bool(r.byte()? != 0),
            STRING => Value::String(r.key()?),
            _ => return None,
        };
        entries.push((key, value));
    }
}

/// `body` (an `onMetaData` body) with `key` set to `value`: replaced where it is, else added at the end.
/// None where `body` is not one [`read_on_metadata`] reads.
pub fn with_entry(body: &[u8], key: &str, value: Value) -> Option<Vec<u8>> {
    let mut entries = read_on_metadata(body)?;
    match entries.iter_mut().find(|(k, _)| k == key) {
        Some(entry) => entry.1 = value,
        None => entries.push((key.to_string(), value)),
    }
    let refs: Vec<(&str, Value)> = entries
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    Some(on_metadata(&refs))
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(out)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    /// A u16-length UTF-8 string (a property name, or a string value after its marker).
    fn key(&mut self) -> Option<String> {
        let len = self.take(2)?;
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
}

/// A FourCC as the number `videocodecid` carries in enhanced RTMP (`hvc1` → 0x68766331).
pub fn fourcc_number(fourcc: [u8; 4]) -> f64 {
    f64::from(u32::from_be_bytes(fourcc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_is_big_endian_double() {
        let mut out = Vec::new();
        write_value(&mut out, &Value::Number(160.0));
        assert_eq!(out, [0x00, 0x40, 0x64, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn on_metadata_layout() {
        let body = on_metadata(&[("stereo", Value::Bool(true))]);
        let mut expected = vec![0x02, 0x00, 0x0a];
        expected.extend_from_slice(b"onMetaData");
        expected.extend_from_slice(&[0x08, 0, 0, 0, 1, 0x00, 0x06]);
        expected.extend_from_slice(b"stereo");
        expected.extend_from_slice(&[0x01, 0x01, 0x00, 0x00, 0x09]);
        assert_eq!(body, expected);
    }

    #[test]
    fn long_strings_are_cut_on_a_character_boundary() {
        let s = "é".repeat(40_000);
        let mut out = Vec::new();
        write_string(&mut out, &s);
        let len = u16::from_be_bytes([out[1], out[2]]) as usize;
        assert_eq!(len, 65534);
        assert!(std::str::from_utf8(&out[3..]).is_ok());
    }

    #[test]
    fn on_metadata_reads_back_and_takes_an_entry() {
        let body = on_metadata(&[
            ("width", Value::Number(1280.0)),
            ("stereo", Value::Bool(true)),
            ("encoder", Value::String("x".into())),
        ]);
        let read = read_on_metadata(&body).unwrap();
        assert_eq!(read.len(), 3);
        assert_eq!(read[0], ("width".to_string(), Value::Number(1280.0)));
        let tc = Value::String("00:00:01:02".into());
        let once = with_entry(&body, "timecode", tc.clone()).unwrap();
        let twice = with_entry(&once, "timecode", Value::String("00:00:01:03".into())).unwrap();
        let entries = read_on_metadata(&twice).unwrap();
        assert_eq!(entries.len(), 4, "replaced, not added again");
        assert_eq!(
            entries[3],
            ("timecode".to_string(), Value::String("00:00:01:03".into()))
        );
        assert_eq!(u32::from_be_bytes(twice[14..18].try_into().unwrap()), 4);
    }

    #[test]
    fn other_script_data_is_not_read() {
        let mut fi = Vec::new();
        write_string(&mut fi, "onFI");
        fi.push(ECMA_ARRAY);
        fi.extend_from_slice(&[0, 0, 0, 0, 0, 0, 9]);
        assert_eq!(read_on_metadata(&fi), None);
        let body = on_metadata(&[("width", Value::Number(1.0))]);
        assert_eq!(read_on_metadata(&body[..body.len() - 2]), None, "cut");
        let mut date = on_metadata(&[]);
        date.truncate(date.len() - 3);
        date.extend_from_slice(&[0, 1, b'd', 0x0B]);
        assert_eq!(
            read_on_metadata(&date),
            None,
            "a value type it does not read"
        );
    }

    #[test]
    fn fourcc_numbers() {
        assert_eq!(fourcc_number(*b"hvc1"), 1752589105.0);
        assert_eq!(fourcc_number(*b"av01"), 1635135537.0);
    }
}
