//! Benchmark (not a test): RTSP fan-out and late joiners, `rtspsharedserver` against a plain
//! gst-rtsp-server (the test-launch way: one shared media that encodes the same stream itself).
//!
//! Run with `./run bench` (or `cargo bench --bench rtsp_fanout` after `./run build`). Prints a
//! Markdown section and writes it to `target/bench/rtsp_fanout.md`; `./run bench` gathers the sections
//! into BENCHMARKS.md.
//!
//! - CPU per client: the server process's own accounting (/proc/PID/stat utime+stime) over a window,
//!   with 0, 1, 10, 50 and 100 clients (`rtspsrc ! fakesink`, UDP, all in one client process), several
//!   rounds; median with min and max.
//! - Late joiner: time from starting an `rtspsrc` client to its first IDR picture, with
//!   a 10 s keyframe interval, joining at different moments of the GOP.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{first_idr, free_port, poll, wait_tcp, Peer};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 3;
const CLIENTS: [usize; 5] = [0, 1, 10, 50, 100];
const SETTLE: Duration = Duration::from_secs(3);
const WINDOW: Duration = Duration::from_secs(4);
const JOINS: usize = 5;
/// The encoded stream both servers serve: 720p30, 3 Mbit/s, one keyframe every 10 s.
const ENCODE: &str = "videotestsrc is-live=true pattern=ball ! \
    video/x-raw,format=I420,width=1280,height=720,framerate=30/1 ! \
    x264enc tune=zerolatency speed-preset=ultrafast bitrate=3000 key-int-max=300 ! h264parse";

#[derive(Clone, Copy, PartialEq)]
enum Server {
    Ours,
    Reference,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Ours => "tdstream rtspsharedserver",
            Server::Reference => "gst-rtsp-server (test-launch style)",
        }
    }

    fn start(self, port: u16) -> (Peer, String) {
        let url = format!("rtsp://127.0.0.1:{port}/bench");
        let peer = match self {
            Server::Ours => Peer::spawn(
                "gst-launch-1.0 (rtspsharedserver)",
                Command::new("gst-launch-1.0")
                    .arg("-q")
                    .args(ENCODE.split_whitespace())
                    .args(["!", "rtspsharedserver", "address=127.0.0.1"])
                    .arg(format!("port={port}"))
                    .arg("stream-name=bench")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            ),
            Server::Reference => Peer::spawn(
                "rtsp_reference_server.py",
                Command::new("/usr/bin/python3")
                    .arg(concat!(
                        env!("CARGO_MANIFEST_DIR"),
                        "/tests/peers/rtsp_reference_server.py"
                    ))
                    .arg(port.to_string())
                    .arg("/bench")
                    .arg(format!(
                        "( {ENCODE} ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
                    ))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            ),
        };
        (peer, url)
    }
}

/// CPU seconds (user + system) used so far by process `pid`.
fn cpu_seconds(pid: u32, ticks: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / ticks
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

use common::bench::{cell, median};

struct Figures {
    /// Per client count: CPU % of one core, one value per round.
    cpu: Vec<Vec<f64>>,
    /// Late joiners' first-frame times in ms.
    joins: Vec<f64>,
}

fn measure(server: Server, ticks: f64) -> Figures {
    let port = free_port();
    let (peer, url) = server.start(port);
    // Warm up: the server serves a first client.
    let up = wait_tcp(port, Duration::from_secs(15))
        && poll(Duration::from_secs(30), || {
            first_idr(&url, Duration::from_secs(15))
        })
        .is_some();
    if !up {
        eprintln!(
            "{}: no frame from {url}; is the plugin built (./run build)?",
            server.name()
        );
    }
    let mut cpu = vec![Vec::new(); CLIENTS.len()];
    for _ in 0..ROUNDS {
        for (i, &n) in CLIENTS.iter().enumerate() {
            let clients = (n > 0).then(|| {
                let mut cmd = Command::new("gst-launch-1.0");
                cmd.arg("-q");
                for _ in 0..n {
                    cmd.args([
                        "rtspsrc",
                        &format!("location={url}"),
                        "latency=0",
                        "!",
                        "fakesink",
                        "sync=false",
                    ]);
                }
                Peer::spawn(
                    "rtspsrc clients",
                    cmd.stdout(Stdio::null()).stderr(Stdio::null()),
                )
            });
            std::thread::sleep(SETTLE);
            let pid = peer.child.id();
            let (t0, c0) = (Instant::now(), cpu_seconds(pid, ticks));
            std::thread::sleep(WINDOW);
            let used = cpu_seconds(pid, ticks) - c0;
            cpu[i].push(100.0 * used / t0.elapsed().as_secs_f64());
            drop(clients);
        }
    }
    // Late joiners join a stream that someone already watches (else a plain server builds a new
    // media, with a new encoder, for each of them).
    let watcher = Peer::spawn(
        "rtspsrc watcher",
        Command::new("gst-launch-1.0")
            .args(["-q", "rtspsrc", &format!("location={url}"), "!", "fakesink"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    std::thread::sleep(SETTLE);
    let mut joins = Vec::new();
    for j in 0..JOINS {
        // Join at different moments of the 10 s GOP.
        std::thread::sleep(Duration::from_millis(700 + 900 * j as u64));
        joins.push(
            first_idr(&url, Duration::from_secs(15)).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0),
        );
    }
    drop(watcher);
    drop(peer);
    Figures { cpu, joins }
}

fn main() {
    if let Err(e) = gst::init() {
        eprintln!("GStreamer: {e}");
        std::process::exit(1);
    }
    let ticks = clock_ticks();
    let ours = measure(Server::Ours, ticks);
    let reference = measure(Server::Reference, ticks);
    let mut md = String::new();
    md.push_str("## RTSP fan-out and late joiners (issue #4)\n\n");
    md.push_str(
        "720p30 H.264 (x264 ultrafast, zerolatency, 3 Mbit/s, keyframe every 10 s), encoded once per \
         server. Clients: `rtspsrc ! fakesink` over UDP, all in one separate process. Server CPU from \
         /proc/PID/stat over 4 s windows, % of one core; median of 3 rounds (min–max). FFmpeg has no row: its RTSP listen mode (`-rtsp_flags listen`) takes one client. The reference \
         builds its media (and encodes) only while someone watches, hence its 0 with no client; \
         per-client cost is counted from the first client. Late joiners join while one other client \
         watches. Command: `./run bench`.\n\n",
    );
    md.push_str(&format!(
        "| clients | {} CPU % | {} CPU % |\n|---|---|---|\n",
        Server::Ours.name(),
        Server::Reference.name()
    ));
    for (i, n) in CLIENTS.iter().enumerate() {
        md.push_str(&format!(
            "| {n} | {} | {} |\n",
            cell(median(&mut ours.cpu[i].clone()), 1),
            cell(median(&mut reference.cpu[i].clone()), 1)
        ));
    }
    // From the first client on (the reference encodes only while someone watches).
    let per_client = |f: &Figures, i: usize| {
        let n = (CLIENTS[i] - CLIENTS[1]) as f64;
        let (base, _, _) = median(&mut f.cpu[1].clone());
        let (at, _, _) = median(&mut f.cpu[i].clone());
        (at - base) / n
    };
    for (i, n) in CLIENTS.iter().enumerate().skip(2) {
        md.push_str(&format!(
            "| CPU % per extra client (1 → {n}) | {:.2} | {:.2} |\n",
            per_client(&ours, i),
            per_client(&reference, i)
        ));
    }
    md.push_str(&format!(
        "| late joiner, first IDR picture, ms ({JOINS} joins) | {} | {} |\n",
        cell(median(&mut ours.joins.clone()), 0),
        cell(median(&mut reference.joins.clone()), 0)
    ));
    common::bench::write_section("rtsp_fanout.md", &md);
}
