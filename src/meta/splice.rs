//! Changing an access unit without copying its picture data: the buffer's memories are split
//! (shared, not copied) around the place where a unit is inserted or cut.

/// Splits the buffer's memories so that one of them starts at byte `at`, and returns its index.
fn split_at(buffer: &mut gst::BufferRef, at: usize) -> Option<usize> {
    let mut offset = 0;
    for idx in 0..buffer.n_memory() {
        let mem = buffer.peek_memory(idx);
        let size = mem.size();
        if at == offset {
            return Some(idx);
        }
        if at < offset + size {
            let inner = at - offset;
            let (head, tail) = (mem.share(..inner), mem.share(inner..));
            buffer.replace_memory(idx, head);
            buffer.insert_memory(Some(idx + 1), tail);
            return Some(idx + 1);
        }
        offset += size;
    }
    (at == offset).then_some(buffer.n_memory())
}

/// Up to this many bytes before the insertion point (delimiters and parameter sets, never picture
/// data) are copied into the new memory rather than split off into a memory of their own.
const SMALL_HEAD: usize = 512;

/// Inserts `unit` at byte `at`. The picture is never copied: when `at` falls in the first memory
/// within its first [`SMALL_HEAD`] bytes (the usual case: after AUD, SPS and PPS), those bytes and
/// the unit make one new memory and the rest of the first memory is shared; otherwise the memory
/// holding `at` is split into two shared views around one new memory.
pub fn insert(buffer: &mut gst::BufferRef, at: usize, mut unit: Vec<u8>) -> bool {
    if buffer.n_memory() > 0 && at <= SMALL_HEAD {
        let first = buffer.peek_memory(0);
        if at < first.size() {
            let rest = first.share(at..);
            let mut head = Vec::with_capacity(at + unit.len());
            match first.map_readable() {
                Ok(m) => head.extend_from_slice(&m[..at]),
                Err(_) => return false,
            }
            head.append(&mut unit);
            buffer.replace_memory(0, rest);
            buffer.insert_memory(Some(0), gst::Memory::from_slice(head));
            return true;
        }
    }
    insert_split(buffer, at, unit)
}

fn insert_split(buffer: &mut gst::BufferRef, at: usize, unit: Vec<u8>) -> bool {
    let Some(idx) = split_at(buffer, at) else {
        return false;
    };
    buffer.insert_memory(Some(idx), gst::Memory::from_slice(unit));
    true
}

/// Removes bytes `start..end` (the memories around them are shared, not copied).
pub fn cut(buffer: &mut gst::BufferRef, start: usize, end: usize) -> bool {
    if end <= start {
        return false;
    }
    let Some(first) = split_at(buffer, start) else {
        return false;
    };
    let Some(last) = split_at(buffer, end) else {
        return false;
    };
    buffer.remove_memory_range(first..last);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes, memory by memory (mapping the whole writable buffer would merge its memories).
    fn bytes(b: &gst::BufferRef) -> Vec<u8> {
        (0..b.n_memory())
            .flat_map(|i| {
                b.peek_memory(i)
                    .map_readable()
                    .map(|m| m.to_vec())
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn insert_and_cut_share_the_picture() {
        gst::init().expect("gst");
        let picture = gst::Memory::from_slice(vec![1u8, 2, 3, 4, 5, 6]);
        let mut buffer = gst::Buffer::new();
        {
            let b = buffer.get_mut().expect("writable");
            b.append_memory(picture);
            assert!(insert(b, 2, vec![9, 9]));
            assert_eq!(bytes(b), vec![1, 2, 9, 9, 3, 4, 5, 6]);
            // The small head went into the new memory; the rest is a view of the original one.
            assert_eq!(b.n_memory(), 2);
            assert!(b.peek_memory(1).parent().is_some());
            assert!(cut(b, 2, 4));
            assert_eq!(bytes(b), vec![1, 2, 3, 4, 5, 6]);
            assert!(insert(b, 6, vec![7]));
            assert!(insert(b, 0, vec![0]));
            assert_eq!(bytes(b), vec![0, 1, 2, 3, 4, 5, 6, 7]);
            assert!(!insert(b, 99, vec![1]));
            // Far from the start: split around a new memory, both sides views of the original.
            let mut big = gst::Buffer::new();
            let bb = big.get_mut().expect("writable");
            bb.append_memory(gst::Memory::from_slice(vec![5u8; 2000]));
            assert!(insert(bb, 1000, vec![1, 2]));
            assert_eq!(bb.n_memory(), 3);
            let parent = bb.peek_memory(0).parent().map(|p| p.as_ptr());
            assert!(parent.is_some());
            assert_eq!(bb.peek_memory(2).parent().map(|p| p.as_ptr()), parent);
            assert_eq!(bytes(bb).len(), 2002);
            assert!(!cut(b, 3, 3));
        }
    }
}
