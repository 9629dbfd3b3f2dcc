//! What `tdmetaembed` does to one access unit: write its TdFrameMeta and stock SEI metas as one
//! SEI unit before the first slice, sharing the picture's memory.

use super::sei::{self, Codec, Framing};
use super::{frame_meta, splice, wire};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An SEI unit of this many bytes was inserted.
    Embedded(usize),
    /// The buffer carries no metadata.
    Nothing,
    /// The access unit could not be read.
    Unreadable,
}

/// A user-data-unregistered SEI message: UUID and data.
type UserData = ([u8; 16], Vec<u8>);

pub fn embed(buf: &mut gst::BufferRef, codec: Codec, framing: Framing) -> Outcome {
    let ours = frame_meta::payload(buf);
    let stock: Vec<UserData> = buf
        .iter_meta::<gst_video::video_meta::VideoSeiUserDataUnregisteredMeta>()
        .map(|m| (m.uuid(), m.data().to_vec()))
        .collect();
    if ours.is_none() && stock.is_empty() {
        return Outcome::Nothing;
    }
    let Some((at, present)) = read_before_slice(buf, codec, framing) else {
        return Outcome::Unreadable;
    };
    // h264parse/h265parse attach a stock meta for every user-data SEI they find in the access unit
    // (x264's version string, an upstream tdmetaembed's): those are in the bitstream already.
    let stock: Vec<_> = stock.into_iter().filter(|m| !present.contains(m)).collect();
    if ours.is_none() && stock.is_empty() {
        return Outcome::Nothing;
    }
    let mut messages: Vec<(&[u8; 16], &[u8])> = Vec::with_capacity(1 + stock.len());
    if let Some(p) = &ours {
        messages.push((&wire::UUID, p.as_ref()));
    }
    messages.extend(stock.iter().map(|(u, d)| (u, d.as_slice())));
    let unit = sei::sei_unit(codec, framing, &messages);
    let len = unit.len();
    if splice::insert(buf, at, unit) {
        Outcome::Embedded(len)
    } else {
        Outcome::Unreadable
    }
}

/// Where the SEI goes, and the user-data messages the access unit already carries before its first
/// slice. Reads the first memory only when the first slice starts there (the usual case: no copy),
/// else all of it.
fn read_before_slice(
    buf: &gst::BufferRef,
    codec: Codec,
    framing: Framing,
) -> Option<(usize, Vec<UserData>)> {
    if buf.n_memory() == 0 {
        return None;
    }
    let read = |au: &[u8]| {
        let (units, at) = sei::units_before_slice(codec, framing, au);
        let present = units
            .iter()
            .flat_map(|u| sei::user_data(codec, &au[u.nal..u.end]))
            .collect();
        (at, present)
    };
    let first = buf.peek_memory(0).map_readable().ok()?;
    let (at, present) = read(&first);
    if at < first.len() || buf.n_memory() == 1 {
        return Some((at, present));
    }
    drop(first);
    let mut all = Vec::with_capacity(buf.size());
    for i in 0..buf.n_memory() {
        all.extend_from_slice(&buf.peek_memory(i).map_readable().ok()?);
    }
    Some(read(&all))
}
