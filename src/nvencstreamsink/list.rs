//! The `destinations` property: its URLs, and what a new list changes while PLAYING.

/// The URLs of `destinations`: separated by whitespace (spaces, tabs, new lines), in order.
pub fn split(list: &str) -> Vec<&str> {
    list.split_whitespace().collect()
}

/// What a new `destinations` list changes: the positions (in the running list) of the destinations to
/// remove, and the positions (in the new list) of those to add. Destinations are the same when their
/// URLs are written the same; unchanged ones are not touched.
pub fn diff(running: &[&str], new: &[&str]) -> (Vec<usize>, Vec<usize>) {
    let removed = (0..running.len())
        .filter(|i| !new.contains(&running[*i]))
        .collect();
    let added = (0..new.len())
        .filter(|i| !running.contains(&new[*i]) && !new[..*i].contains(&new[*i]))
        .collect();
    (removed, added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_separated_by_any_whitespace() {
        assert_eq!(
            split(" rtmp://a/app/k\tsrt://b:1?mode=caller\n rtsp://:8554/x "),
            ["rtmp://a/app/k", "srt://b:1?mode=caller", "rtsp://:8554/x"]
        );
        assert!(split("  \n").is_empty());
    }

    #[test]
    fn a_new_list_adds_and_removes_only_what_changed() {
        let running = ["rtmp://a/app/k", "srt://b:1", "rtsp://:1/x"];
        assert_eq!(
            diff(&running, &["srt://b:1", "rtsp://:1/x", "ws://c:2"]),
            (vec![0], vec![2])
        );
        assert_eq!(diff(&running, &running), (vec![], vec![]));
        assert_eq!(diff(&[], &["ws://c", "ws://c"]), (vec![], vec![0]));
    }
}
