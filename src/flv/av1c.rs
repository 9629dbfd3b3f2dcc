//! The AV1 decoder configuration record (`av1C`, AV1-ISOBMFF §2.3) from a temporal unit: the record's
//! four bytes come from the sequence header OBU, which follows them as the only `configOBUs`.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Av1cError {
    #[error("the AV1 temporal unit holds no sequence header OBU")]
    NoSequenceHeader,
    #[error("the AV1 OBU stream is malformed ({0})")]
    Malformed(&'static str),
}

const OBU_SEQUENCE_HEADER: u8 = 1;

/// One OBU: its type and the whole OBU bytes (header, size field and payload), plus the payload.
#[derive(Debug, PartialEq, Eq)]
pub struct Obu<'a> {
    pub kind: u8,
    pub whole: &'a [u8],
    pub payload: &'a [u8],
}

fn leb128(data: &[u8]) -> Result<(u64, usize), Av1cError> {
    let mut value = 0u64;
    for (i, byte) in data.iter().take(8).enumerate() {
        value |= u64::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err(Av1cError::Malformed("bad leb128 size"))
}

/// Splits a low-overhead OBU stream (every OBU with `obu_has_size_field`, as `av1parse` outputs it).
pub fn obus(mut data: &[u8]) -> Result<Vec<Obu<'_>>, Av1cError> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let header = data[0];
        if header & 0x80 != 0 {
            return Err(Av1cError::Malformed("forbidden bit set"));
        }
        if header & 0x02 == 0 {
            return Err(Av1cError::Malformed("OBU without a size field"));
        }
        let header_len = if header & 0x04 != 0 { 2 } else { 1 };
        let rest = data
            .get(header_len..)
            .ok_or(Av1cError::Malformed("truncated OBU header"))?;
        let (size, size_len) = leb128(rest)?;
        let start = header_len + size_len;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| start.checked_add(s))
            .filter(|&e| e <= data.len())
            .ok_or(Av1cError::Malformed("OBU larger than the buffer"))?;
        out.push(Obu {
            kind: (header >> 3) & 0x0F,
            whole: &data[..end],
            payload: &data[start..end],
        });
        data = &data[end..];
    }
    Ok(out)
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Result<u32, Av1cError> {
        let byte = self
            .data
            .get(self.pos / 8)
            .ok_or(Av1cError::Malformed("sequence header truncated"))?;
        let b = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(u32::from(b))
    }

    fn f(&mut self, n: u32) -> Result<u32, Av1cError> {
        let mut v = 0u32;
        for _ in 0..n {
            v = (v << 1) | self.bit()?;
        }
        Ok(v)
    }

    fn uvlc(&mut self) -> Result<u32, Av1cError> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros >= 32 {
                return Err(Av1cError::Malformed("uvlc too long"));
            }
        }
        let v = self.f(zeros)?;
        Ok(((1u64 << zeros) - 1 + u64::from(v)) as u32)
    }
}

/// What av1C takes from the sequence header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SequenceInfo {
    pub profile: u8,
    pub level: u8,
    pub tier: u8,
    pub high_bitdepth: bool,
    pub twelve_bit: bool,
    pub monochrome: bool,
    pub subsampling_x: bool,
    pub subsampling_y: bool,
    pub chroma_sample_position: u8,
    pub max_width: u32,
    pub max_height: u32,
}

/// Reads the sequence header OBU payload (AV1 specification §5.5) up to the colour configuration.
pub fn parse_sequence_header(payload: &[u8]) -> Result<SequenceInfo, Av1cError> {
    let mut r = Bits {
        data: payload,
        pos: 0,
    };
    let mut s = SequenceInfo {
        profile: r.f(3)? as u8,
        ..Default::default()
    };
    let _still_picture = r.f(1)?;
    let reduced = r.f(1)? == 1;
    let mut decoder_model_info_present = false;
    let mut buffer_delay_length = 0;
    if reduced {
        s.level = r.f(5)? as u8;
    } else {
        if r.f(1)? == 1 {
            // timing_info()
            r.f(32)?;
            r.f(32)?;
            if r.f(1)? == 1 {
                r.uvlc()?;
            }
            decoder_model_info_present = r.f(1)? == 1;
            if decoder_model_info_present {
                buffer_delay_length = r.f(5)? + 1;
                r.f(32)?;
                r.f(5)?;
                r.f(5)?;
            }
        }
        let initial_display_delay_present = r.f(1)? == 1;
        let operating_points = r.f(5)? + 1;
        for i in 0..operating_points {
            r.f(12)?;
            let level = r.f(5)? as u8;
            let tier = if level > 7 { r.f(1)? as u8 } else { 0 };
            if i == 0 {
                s.level = level;
                s.tier = tier;
            }
            if decoder_model_info_present && r.f(1)? == 1 {
                r.f(buffer_delay_length)?;
                r.f(buffer_delay_length)?;
                r.f(1)?;
            }
            if initial_display_delay_present && r.f(1)? == 1 {
                r.f(4)?;
            }
        }
    }
    let width_bits = r.f(4)? + 1;
    let height_bits = r.f(4)? + 1;
    s.max_width = r.f(width_bits)? + 1;
    s.max_height = r.f(height_bits)? + 1;
    if !reduced && r.f(1)? == 1 {
        // frame_id_numbers_present_flag
        r.f(4)?;
        r.f(3)?;
    }
    r.f(3)?; // use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
    if !reduced {
        r.f(4)?; // interintra, masked compound, warped motion, dual filter
        let order_hint = r.f(1)? == 1;
        if order_hint {
            r.f(2)?; // jnt_comp, ref_frame_mvs
        }
        let force_screen_content_tools = if r.f(1)? == 1 { 2 } else { r.f(1)? };
        if force_screen_content_tools > 0 && r.f(1)? == 0 {
            r.f(1)?; // seq_force_integer_mv
        }
        if order_hint {
            r.f(3)?;
        }
    }
    r.f(3)?; // superres, cdef, restoration
             // color_config()
    s.high_bitdepth = r.f(1)? == 1;
    if s.profile == 2 && s.high_bitdepth {
        s.twelve_bit = r.f(1)? == 1;
    }
    s.monochrome = if s.profile == 1 { false } else { r.f(1)? == 1 };
    let (mut primaries, mut transfer, mut matrix) = (2, 2, 2);
    if r.f(1)? == 1 {
        primaries = r.f(8)?;
        transfer = r.f(8)?;
        matrix = r.f(8)?;
    }
    if s.monochrome {
        s.subsampling_x = true;
        s.subsampling_y = true;
        return Ok(s);
    }
    if primaries == 1 && transfer == 13 && matrix == 0 {
        // sRGB: 4:4:4
        return Ok(s);
    }
    r.f(1)?; // color_range
    match s.profile {
        0 => {
            s.subsampling_x = true;
            s.subsampling_y = true;
        }
        1 => {}
        _ if s.twelve_bit => {
            s.subsampling_x = r.f(1)? == 1;
            s.subsampling_y = s.subsampling_x && r.f(1)? == 1;
        }
        _ => s.subsampling_x = true,
    }
    if s.subsampling_x && s.subsampling_y {
        s.chroma_sample_position = r.f(2)? as u8;
    }
    Ok(s)
}

/// The av1C record for the first sequence header OBU in `temporal_unit`.
pub fn from_temporal_unit(temporal_unit: &[u8]) -> Result<Vec<u8>, Av1cError> {
    let obus = obus(temporal_unit)?;
    let seq = obus
        .iter()
        .find(|o| o.kind == OBU_SEQUENCE_HEADER)
        .ok_or(Av1cError::NoSequenceHeader)?;
    let s = parse_sequence_header(seq.payload)?;
    let mut out = Vec::with_capacity(4 + seq.whole.len());
    out.push(0x81); // marker, version 1
    out.push((s.profile << 5) | (s.level & 0x1F));
    out.push(
        (s.tier << 7)
            | (u8::from(s.high_bitdepth) << 6)
            | (u8::from(s.twelve_bit) << 5)
            | (u8::from(s.monochrome) << 4)
            | (u8::from(s.subsampling_x) << 3)
            | (u8::from(s.subsampling_y) << 2)
            | (s.chroma_sample_position & 3),
    );
    out.push(0); // no initial_presentation_delay
    out.extend_from_slice(seq.whole);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_obus_and_rejects_truncation() {
        let tu = [0x12, 0x00, 0x0A, 0x01, 0xFF];
        let o = obus(&tu).unwrap();
        assert_eq!(o.len(), 2);
        assert_eq!(o[0].kind, 2);
        assert_eq!(o[1].kind, 1);
        assert_eq!(o[1].payload, &[0xFF]);
        assert!(obus(&[0x0A, 0x05, 0]).is_err());
        assert!(obus(&[0x08, 0x00]).is_err());
        assert!(obus(&[0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
    }

    #[test]
    fn no_sequence_header() {
        assert_eq!(
            from_temporal_unit(&[0x12, 0x00]),
            Err(Av1cError::NoSequenceHeader)
        );
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..64usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
            let _ = parse_sequence_header(&data);
            let _ = from_temporal_unit(&data);
        }
    }
}
