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

pub fn embed(buf: &mut gst::BufferRef, codec: Codec, framing: Framing) -> Outcome {
    let ours = frame_meta::payload(buf);
    let stock: Vec<([u8; 16], Vec<u8>)> = buf
        .iter_meta::<gst_video::video_meta::VideoSeiUserDataUnregisteredMeta>()
        .map(|m| (m.uuid(), m.data().to_vec()))
        .collect();
    if ours.is_none() && stock.is_empty() {
        return Outcome::Nothing;
    }
    let mut messages: Vec<(&[u8; 16], &[u8])> = Vec::with_capacity(1 + stock.len());
    if let Some(p) = &ours {
        messages.push((&wire::UUID, p.as_ref()));
    }
    messages.extend(stock.iter().map(|(u, d)| (u, d.as_slice())));
    let unit = sei::sei_unit(codec, framing, &messages);
    let Some(at) = insert_offset(buf, codec, framing) else {
        return Outcome::Unreadable;
    };
    let len = unit.len();
    if splice::insert(buf, at, unit) {
        Outcome::Embedded(len)
    } else {
        Outcome::Unreadable
    }
}

/// Where the SEI goes, reading the first memory only when the first slice starts there (the usual
/// case: no copy), else all of it.
fn insert_offset(buf: &gst::BufferRef, codec: Codec, framing: Framing) -> Option<usize> {
    if buf.n_memory() == 0 {
        return None;
    }
    let first = buf.peek_memory(0).map_readable().ok()?;
    let at = sei::insert_offset(codec, framing, &first);
    if at < first.len() || buf.n_memory() == 1 {
        return Some(at);
    }
    drop(first);
    let mut all = Vec::with_capacity(buf.size());
    for i in 0..buf.n_memory() {
        all.extend_from_slice(&buf.peek_memory(i).map_readable().ok()?);
    }
    Some(sei::insert_offset(codec, framing, &all))
}
