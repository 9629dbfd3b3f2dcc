//! A wall-clock time written into the picture itself, for latency measurements of senders that carry
//! no metadata (FFmpeg): 40 bits of the time in microseconds and an 8-bit check, as a row of 48 black
//! or white 16×16 blocks at the top of the luma plane. x264 at a few Mbit/s keeps such blocks intact,
//! and the check drops the rare reading that it does not.

use gst::prelude::*;
use gst_video::prelude::*;

const BLOCK: usize = 16;
const VALUE_BITS: u32 = 40;
const MASK: i64 = (1 << VALUE_BITS) - 1;

fn check(value: u64) -> u64 {
    (0..5).fold(0u64, |acc, i| {
        acc.wrapping_add((value >> (8 * i)) & 0xff) & 0xff
    }) ^ 0xa5
}

/// Writes `now_us` (its low 40 bits) into the top 16 rows of an 8-bit luma plane.
pub fn write(luma: &mut [u8], stride: usize, now_us: i64) {
    let value = (now_us & MASK) as u64;
    let word = (value << 8) | check(value);
    for bit in 0..48 {
        let on = (word >> (47 - bit)) & 1 == 1;
        for row in 0..BLOCK {
            let start = row * stride + bit * BLOCK;
            if let Some(px) = luma.get_mut(start..start + BLOCK) {
                px.fill(if on { 235 } else { 16 });
            }
        }
    }
}

/// The time written by [`write`], as microseconds before `now_us`; None if the check fails.
pub fn age_us(luma: &[u8], stride: usize, now_us: i64) -> Option<i64> {
    let mut word = 0u64;
    for bit in 0..48 {
        // The middle 4×4 pixels of the block, away from the edges the encoder smears.
        let mut sum = 0u32;
        for row in 6..10 {
            let start = row * stride + bit * BLOCK + 6;
            sum += luma
                .get(start..start + 4)?
                .iter()
                .map(|&p| p as u32)
                .sum::<u32>();
        }
        word = (word << 1) | u64::from(sum / 16 > 125);
    }
    let value = word >> 8;
    (check(value) == word & 0xff).then(|| (now_us - value as i64) & MASK)
}

/// The video format on `pad` (mapping a frame with it checks the buffer's size; `write` and `age_us`
/// check the plane's).
fn video_info(pad: &gst::Pad) -> Option<gst_video::VideoInfo> {
    let caps = pad.current_caps()?;
    gst_video::VideoInfo::from_caps(&caps).ok()
}

/// Stamps every picture leaving `element`'s source pad with the wall-clock time.
pub fn stamp_at(element: &gst::Element) {
    let Some(pad) = element.static_pad("src") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::BUFFER, |pad, info| {
        let Some(gst::PadProbeData::Buffer(buffer)) = info.data.as_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        let now = gsttdstream::meta::latency::now_us();
        if let Some(info) = video_info(pad) {
            if let Ok(mut frame) =
                gst_video::VideoFrameRef::from_buffer_ref_writable(buffer.make_mut(), &info)
            {
                let stride = frame.plane_stride()[0] as usize;
                if let Ok(luma) = frame.plane_data_mut(0) {
                    write(luma, stride, now);
                }
            }
        }
        gst::PadProbeReturn::Ok
    });
}

/// Calls `sample` for every picture arriving at `element`'s sink pad, with the age of its stamp in ms
/// (None if the stamp does not read back).
pub fn read_at(element: &gst::Element, sample: impl Fn(Option<f64>) + Send + Sync + 'static) {
    let Some(pad) = element.static_pad("sink") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let now = gsttdstream::meta::latency::now_us();
        if let Some(buffer) = info.buffer() {
            let age = video_info(pad).and_then(|info| {
                let frame =
                    gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info).ok()?;
                let stride = frame.plane_stride()[0] as usize;
                age_us(frame.plane_data(0).ok()?, stride, now)
            });
            sample(age.map(|us| us as f64 / 1000.0));
        }
        gst::PadProbeReturn::Ok
    });
}
