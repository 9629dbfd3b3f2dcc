//! AMF0 values, as far as `onMetaData` needs them (numbers, booleans, strings, one ECMA array).

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
    fn fourcc_numbers() {
        assert_eq!(fourcc_number(*b"hvc1"), 1752589105.0);
        assert_eq!(fourcc_number(*b"av01"), 1635135537.0);
    }
}
