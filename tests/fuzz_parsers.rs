//! Property-based fuzzing (proptest) of everything that reads bytes from the network: the metadata
//! payload, SEI units and access-unit scanning. Bounded: a fixed number of cases per property, so it
//! runs in CI in seconds. (A deterministic mutation fuzzer and a corpus of hand-made bad inputs are
//! unit tests in src/meta/.)

use gsttdstream::meta::sei::{self, Codec, Framing};
use gsttdstream::meta::wire::{FrameData, Timecode};
use proptest::prelude::*;

fn frame_data() -> impl Strategy<Value = FrameData> {
    (
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<i64>()),
        proptest::option::of((0u8..24, 0u8..60, 0u8..60, 0u8..60, any::<bool>())),
        proptest::collection::vec(
            (".{0,12}", proptest::collection::vec(any::<f64>(), 0..4)),
            0..6,
        ),
        (0usize..4, 0usize..4),
        proptest::collection::vec(".{0,8}", 16),
    )
        .prop_map(
            |(frame, capture_us, tc, channels, (rows, cols), cells)| FrameData {
                frame,
                capture_us,
                timecode: tc.map(|(hours, minutes, seconds, frames, drop_frame)| Timecode {
                    hours,
                    minutes,
                    seconds,
                    frames,
                    drop_frame,
                }),
                channels,
                table: (0..rows)
                    .map(|r| (0..cols).map(|c| cells[r * 4 + c].clone()).collect())
                    .collect(),
            },
        )
}

/// f64 NaN != NaN: compare payloads by their bytes.
fn same(a: &FrameData, b: &FrameData) -> bool {
    a.encode() == b.encode()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_payload_round_trips(d in frame_data()) {
        let bytes = d.encode();
        let back = FrameData::decode(&bytes).expect("decode");
        prop_assert!(same(&back, &d));
        let h = FrameData::peek(&bytes).expect("peek");
        prop_assert_eq!((h.frame, h.capture_us, h.timecode), (d.frame, d.capture_us, d.timecode));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_peek_agrees(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let decoded = FrameData::decode(&bytes);
        let peeked = FrameData::peek(&bytes);
        prop_assert_eq!(decoded.is_ok(), peeked.is_ok());
    }

    #[test]
    fn any_payload_survives_sei_in_both_codecs_and_framings(d in frame_data(), h265 in any::<bool>(), length in 0usize..3) {
        let codec = if h265 { Codec::H265 } else { Codec::H264 };
        let framing = [Framing::ByteStream, Framing::Length(4), Framing::Length(2)][length];
        let payload = d.encode();
        let unit = sei::sei_unit(codec, framing, &[(&gsttdstream::meta::wire::UUID, &payload)]);
        let spans = sei::nal_units(framing, &unit);
        prop_assert_eq!(spans.len(), 1);
        let got = sei::user_data(codec, &unit[spans[0].nal..spans[0].end]);
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(&got[0].1, &payload);
    }

    #[test]
    fn arbitrary_access_units_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), length in 0usize..4) {
        let framing = [Framing::ByteStream, Framing::Length(4), Framing::Length(2), Framing::Length(1)][length];
        for codec in [Codec::H264, Codec::H265] {
            let (before, slice) = sei::units_before_slice(codec, framing, &bytes);
            prop_assert!(slice <= bytes.len());
            for s in before {
                prop_assert!(s.start <= s.nal && s.nal <= s.end && s.end <= bytes.len());
                for (_, data) in sei::user_data(codec, &bytes[s.nal..s.end]) {
                    let _ = FrameData::decode(&data);
                }
            }
            let _ = sei::insert_offset(codec, framing, &bytes);
        }
    }
}
