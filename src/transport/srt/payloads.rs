//! SRT payloads from the TS packets `mpegtsmux` writes, without holding any back.
//!
//! `mpegtsmux alignment=7` (seven packets per buffer, one 1316-byte SRT payload) keeps the packets
//! that do not fill a seventh in its adapter until the next input arrives: the end of each picture
//! (up to six packets) left with the *next* picture, and a receiver, whose demuxer waits for the whole
//! PES (`mpegtsmux` declares its length), showed every picture one frame interval late. With
//! `alignment=0` the muxer pushes all the packets of an input at once, one packet per buffer, in one
//! buffer list; [`regroup`] turns that list into payloads of seven packets and a shorter last one
//! (SRT carries messages of any size up to its payload size; receivers read whole packets either way).
//! The packets' memory is shared, never copied here.

/// One MPEG-TS packet (bytes).
pub const TS_PACKET: usize = 188;
/// The most TS packets in one SRT payload (SRT's live-mode payload is 1316 bytes).
pub const PACKETS_PER_PAYLOAD: usize = 7;
/// One full SRT payload (bytes).
pub const PAYLOAD: usize = TS_PACKET * PACKETS_PER_PAYLOAD;

/// Where the payloads start and end in a run of `sizes` pieces, as (piece, offset, length) parts:
/// consecutive parts fill payloads of [`PAYLOAD`] bytes in order, the last payload possibly short.
/// Pure, so that the grouping is tested without buffers.
pub fn plan(sizes: impl IntoIterator<Item = usize>) -> Vec<Vec<(usize, usize, usize)>> {
    let mut payloads = Vec::new();
    let mut current: Vec<(usize, usize, usize)> = Vec::new();
    let mut filled = 0;
    for (piece, size) in sizes.into_iter().enumerate() {
        let mut offset = 0;
        while offset < size {
            let take = (PAYLOAD - filled).min(size - offset);
            current.push((piece, offset, take));
            filled += take;
            offset += take;
            if filled == PAYLOAD {
                payloads.push(std::mem::take(&mut current));
                filled = 0;
            }
        }
    }
    if !current.is_empty() {
        payloads.push(current);
    }
    payloads
}

/// The buffers of `list` (every memory of every buffer, in order) as SRT payloads; each payload keeps
/// the timestamps of the buffer its first byte came from.
pub fn regroup(list: &gst::BufferListRef) -> gst::BufferList {
    let memories: Vec<(gst::Memory, usize)> = list
        .iter()
        .enumerate()
        .flat_map(|(i, b)| b.iter_memories().map(move |m| (m.to_owned(), i)))
        .collect();
    let parts = plan(memories.iter().map(|(m, _)| m.size()));
    let mut out = gst::BufferList::new_sized(parts.len());
    let list_out = out.make_mut();
    for payload in parts {
        let mut buffer = gst::Buffer::new();
        {
            let b = buffer.make_mut();
            if let Some(&(first, _, _)) = payload.first() {
                if let Some(source) = list.get(memories[first].1) {
                    b.set_pts(source.pts());
                    b.set_dts(source.dts());
                }
            }
            for (piece, offset, length) in payload {
                let memory = &memories[piece].0;
                if offset == 0 && length == memory.size() {
                    b.append_memory(memory.clone());
                } else {
                    b.append_memory(memory.share(offset..offset + length));
                }
            }
        }
        list_out.add(buffer);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_packets_fill_payloads_of_seven_and_the_rest_leaves_at_once() {
        let parts = plan(std::iter::repeat_n(TS_PACKET, 17));
        let lengths: Vec<usize> = parts.iter().map(|p| p.iter().map(|x| x.2).sum()).collect();
        assert_eq!(lengths, vec![PAYLOAD, PAYLOAD, 3 * TS_PACKET]);
        assert_eq!(parts[1][0], (7, 0, TS_PACKET));
    }

    #[test]
    fn a_large_piece_is_split_and_the_next_continues_the_payload() {
        let parts = plan([PAYLOAD + 2 * TS_PACKET, TS_PACKET]);
        assert_eq!(parts[0], vec![(0, 0, PAYLOAD)]);
        assert_eq!(
            parts[1],
            vec![(0, PAYLOAD, 2 * TS_PACKET), (1, 0, TS_PACKET)]
        );
        assert!(plan([]).is_empty());
    }

    #[test]
    fn regrouped_bytes_are_the_same_bytes_in_the_same_order() {
        gst::init().expect("gst");
        let mut list = gst::BufferList::new();
        let mut sent = Vec::new();
        for i in 0..10u8 {
            let packet = vec![i; TS_PACKET];
            sent.extend_from_slice(&packet);
            let mut b = gst::Buffer::from_slice(packet);
            b.get_mut()
                .expect("writable")
                .set_pts(gst::ClockTime::from_mseconds(i as u64));
            list.get_mut().expect("writable").add(b);
        }
        let out = regroup(&list);
        assert_eq!(out.len(), 2);
        let mut got = Vec::new();
        for b in out.iter() {
            got.extend_from_slice(&b.map_readable().expect("readable"));
        }
        assert_eq!(got, sent);
        assert_eq!(out.get(0).map(|b| b.size()), Some(PAYLOAD));
        assert_eq!(
            out.get(1).and_then(|b| b.pts()),
            Some(gst::ClockTime::from_mseconds(7))
        );
    }
}
