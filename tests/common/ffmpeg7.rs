//! FFmpeg 7 (static build from the `imageio-ffmpeg` wheel that `./run setup` fetches into
//! target/tools/ffmpeg7): the real reader of Enhanced RTMP / enhanced FLV, which Debian 12's FFmpeg 5.1
//! cannot read. Used as an RTMP listener, as a player of an nginx-rtmp relay, and as a file reader.

use super::Peer;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub fn ffmpeg7() -> PathBuf {
    let path = std::env::var_os("TDSTREAM_FFMPEG7")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/ffmpeg7"));
    assert!(
        path.exists(),
        "FFmpeg 7 is not at {} (./run setup fetches it from the imageio-ffmpeg wheel; or set TDSTREAM_FFMPEG7)",
        path.display()
    );
    path
}

/// What FFmpeg 7 said about the input and how many video frames it decoded.
#[derive(Debug, Default)]
pub struct Report {
    pub codec: String,
    /// The last parenthesised word of the stream line, e.g. `Main`.
    pub profile: String,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    /// The audio codec, if the input had audio.
    pub audio: Option<String>,
    /// Video frames decoded.
    pub frames: usize,
    pub log: String,
}

/// Starts FFmpeg 7 on `input` (its arguments up to and including `-i URL`), decoding the first video
/// stream into a frame checksum list in `dir`, and copying it to `copy` (muxer name, file) if given.
pub fn start(input: &[&str], dir: &Path, copy: Option<(&str, &Path)>) -> Peer {
    let mut cmd = Command::new("timeout");
    cmd.arg("60")
        .arg(ffmpeg7())
        .args(["-hide_banner", "-nostdin", "-y"]);
    cmd.args(input);
    if let Some((format, file)) = copy {
        cmd.args(["-map", "0:v:0", "-c", "copy", "-f", format])
            .arg(file);
    }
    cmd.args(["-map", "0:v:0", "-f", "framecrc"])
        .arg(dir.join("frames.crc"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    Peer::spawn("ffmpeg7", &mut cmd)
}

/// Waits for `peer` (from [`start`]) to end, up to `timeout`, and reads what it reported.
pub fn finish(peer: Peer, dir: &Path, timeout: Duration) -> Report {
    let (_, _, stderr) = peer.wait_output(timeout);
    let crc = std::fs::read_to_string(dir.join("frames.crc")).unwrap_or_default();
    parse(&stderr, &crc)
}

/// Reads a file to the end.
pub fn read_file(file: &Path, dir: &Path) -> Report {
    let f = file.to_str().expect("path");
    finish(start(&["-i", f], dir, None), dir, Duration::from_secs(60))
}

fn parse(stderr: &str, crc: &str) -> Report {
    let input = stderr.split("Stream mapping:").next().unwrap_or("");
    let stream = |kind: &str| {
        input
            .lines()
            .find(|l| l.contains("Stream #0:") && l.contains(kind))
            .and_then(|l| l.split(kind).nth(1))
            .map(str::to_string)
    };
    let mut r = Report {
        log: stderr.to_string(),
        frames: crc.lines().filter(|l| l.starts_with("0,")).count(),
        audio: stream(": Audio: ").and_then(|a| a.split([' ', ',']).next().map(str::to_string)),
        ..Default::default()
    };
    let Some(video) = stream(": Video: ") else {
        return r;
    };
    let parts: Vec<&str> = video.split(", ").collect();
    let head = parts.first().copied().unwrap_or("");
    r.codec = head.split(' ').next().unwrap_or("").to_string();
    r.profile = head
        .rsplit('(')
        .next()
        .filter(|_| head.contains('('))
        .map(|p| p.trim_end_matches(')').to_string())
        .unwrap_or_default();
    for p in &parts {
        let first = p.split(' ').next().unwrap_or("");
        if let Some((w, h)) = first.split_once('x') {
            if let (Ok(w), Ok(h)) = (w.parse(), h.parse()) {
                r.width = w;
                r.height = h;
            }
        }
        if let Some(fps) = p.strip_suffix(" fps") {
            r.fps = fps.parse().unwrap_or(0.0);
        }
    }
    r
}
