//! Soak run (not a test): `nvencstreamsink mode=rtmp` streams to a real nginx-rtmp for SOAK_MINUTES
//! (default 10) minutes; once a minute nginx is killed, stays away 3 s and is started again, and the
//! same pipeline reconnects. After every reconnection this process's RSS, threads and open file
//! descriptors are sampled (/proc/self). Passes when RSS grew by less than 5 MB from the first
//! reconnection to the last, and threads and descriptors did not grow.
//!
//! Run with `./run soak`; writes SOAK.md.

#[path = "../tests/common/mod.rs"]
mod common;

use common::live::Run;
use common::nginx::{nginx, nginx_at};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const RSS_LIMIT_KB: i64 = 5 * 1024;

struct Sample {
    at: Duration,
    rss_kb: i64,
    threads: i64,
    fds: i64,
    dropped: u64,
}

fn rss_kb() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(-1)
}

fn count(dir: &str) -> i64 {
    std::fs::read_dir(dir)
        .map(|d| d.count() as i64)
        .unwrap_or(-1)
}

fn main() {
    common::init();
    let minutes: u32 = std::env::var("SOAK_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(10);
    let mut ng = Some(nginx(None));
    let port = ng.as_ref().map(|n| n.port).unwrap_or_default();
    let url = format!("rtmp://127.0.0.1:{port}/live/soak");
    let mut run = Run::start(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1 ! \
         nvencstreamsink name=s mode=rtmp url={url} reconnect-interval=0.5 reconnect-max-interval=1 \
         stats-interval=1000 keyframe-interval=60"
    ));
    let started = Instant::now();
    assert!(
        run.until_state("connected", 1, Duration::from_secs(20)),
        "never connected: {:?}",
        run.errors
    );
    let mut samples = Vec::new();
    for cycle in 1..=minutes {
        // Stream until the minute is over, then take the server away for 3 s.
        let minute_end = Duration::from_secs(60 * cycle as u64 - 3);
        run.until(minute_end.saturating_sub(started.elapsed()), |_| false);
        drop(ng.take()); // nginx killed
        let reconnecting = run.count("reconnecting");
        assert!(
            run.until_state("reconnecting", reconnecting + 1, Duration::from_secs(15)),
            "drop not noticed in cycle {cycle}"
        );
        run.until(Duration::from_secs(3), |_| false);
        ng = Some(nginx_at(port, None));
        assert!(
            run.until_state("connected", cycle as usize + 1, Duration::from_secs(20)),
            "no reconnection in cycle {cycle}: {:?}",
            run.errors
        );
        // Let the new connection settle before sampling.
        run.until(Duration::from_secs(2), |_| false);
        let s = Sample {
            at: started.elapsed(),
            rss_kb: rss_kb(),
            threads: count("/proc/self/task"),
            fds: count("/proc/self/fd"),
            dropped: run.stat_u64("frames-dropped"),
        };
        eprintln!(
            "cycle {cycle}: {:.0} s, RSS {} kB, {} threads, {} fds, {} frames dropped so far",
            s.at.as_secs_f64(),
            s.rss_kb,
            s.threads,
            s.fds,
            s.dropped
        );
        samples.push(s);
    }
    let reconnects = run.stat_u64("reconnects");
    let errors = run.errors.clone();
    drop(run);
    drop(ng);

    let (first, last) = (&samples[0], &samples[samples.len() - 1]);
    let rss_growth = last.rss_kb - first.rss_kb;
    let ok = rss_growth < RSS_LIMIT_KB
        && last.threads <= first.threads
        && last.fds <= first.fds
        && reconnects == minutes as u64
        && errors.is_empty();
    let mut md = String::new();
    let _ = writeln!(md, "# Soak run: reconnecting every minute\n");
    let _ = writeln!(
        md,
        "Written by `./run soak` ({minutes} min): nvencstreamsink mode=rtmp, 640x360 30 fps x264, to nginx-rtmp on \
         127.0.0.1, which is killed once a minute and restarted 3 s later. Sampled in the streaming process after \
         each reconnection (/proc/self: VmRSS, tasks, fds).\n"
    );
    let _ = writeln!(
        md,
        "| cycle | time (s) | RSS (kB) | threads | open fds | frames dropped (total) |"
    );
    let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|");
    for (i, s) in samples.iter().enumerate() {
        let _ = writeln!(
            md,
            "| {} | {:.0} | {} | {} | {} | {} |",
            i + 1,
            s.at.as_secs_f64(),
            s.rss_kb,
            s.threads,
            s.fds,
            s.dropped
        );
    }
    let _ = writeln!(
        md,
        "\nRSS growth from the first reconnection to the last: {rss_growth} kB (limit {RSS_LIMIT_KB} kB); threads {} → {}; \
         fds {} → {}; reconnects counted: {reconnects} of {minutes}; errors: {}.\n\n**Result: {}**",
        first.threads,
        last.threads,
        first.fds,
        last.fds,
        if errors.is_empty() { "none".to_string() } else { errors.join("; ") },
        if ok { "pass" } else { "FAIL" }
    );
    print!("{md}");
    let _ = std::fs::write("SOAK.md", &md);
    if !ok {
        std::process::exit(1);
    }
}
