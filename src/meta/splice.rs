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

/// Inserts `unit` at byte `at` (one new memory; the others are shared).
pub fn insert(buffer: &mut gst::BufferRef, at: usize, unit: Vec<u8>) -> bool {
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
            assert_eq!(b.n_memory(), 3);
            // The picture's memories are views of the original one, not copies.
            let parent = b.peek_memory(0).parent().map(|p| p.as_ptr());
            assert!(parent.is_some());
            assert_eq!(b.peek_memory(2).parent().map(|p| p.as_ptr()), parent);
            assert!(cut(b, 2, 4));
            assert_eq!(bytes(b), vec![1, 2, 3, 4, 5, 6]);
            assert!(insert(b, 6, vec![7]));
            assert!(insert(b, 0, vec![0]));
            assert_eq!(bytes(b), vec![0, 1, 2, 3, 4, 5, 6, 7]);
            assert!(!insert(b, 99, vec![1]));
            assert!(!cut(b, 3, 3));
        }
    }
}
