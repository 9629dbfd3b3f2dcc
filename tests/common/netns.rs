//! A test run again inside a private network namespace (loopback only), and the shaping of that
//! loopback with `tc` (htb with a pfifo: this kernel has no netem), so that a link too slow for the
//! bitrate is real and nothing leaves the machine.

use super::Peer;
use std::process::Command;
use std::time::Duration;

/// Runs the calling test again inside a new network namespace with only a loopback interface, so that no
/// WebRTC traffic can leave 127.0.0.1. Returns true in that inner run, which does the work; the outer run
/// gets false after checking that the inner one passed (its output is in the assertion message).
pub fn in_loopback_netns(test: &str) -> bool {
    if std::env::var_os("TDSTREAM_IN_NETNS").is_some() {
        return true;
    }
    // One namespaced test at a time in this binary: they stream in real time (browsers decoding, shaped
    // links) and starve each other side by side. cargo-nextest runs each test in a process of its own
    // (and these alone, .config/nextest.toml); this lock is for plain `cargo test`, which runs a binary's
    // tests on threads.
    let _one_at_a_time = super::serial();
    let exe = std::env::current_exe().expect("test binary");
    // A PID namespace too, whose first process is the test: when it ends (or is killed on the deadline),
    // the kernel ends every process it started (signalling server, browser) with it.
    let mut cmd = Command::new("unshare");
    cmd.args(["--net", "--pid", "--fork", "--kill-child"]);
    use std::os::unix::fs::MetadataExt;
    // Not root: a user namespace as well (where the kernel allows unprivileged ones).
    if std::fs::metadata("/proc/self").map_or(true, |m| m.uid() != 0) {
        cmd.arg("--map-root-user");
    }
    cmd.args(["sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("TDSTREAM_IN_NETNS", "1");
    // Output into files, not pipes: nothing left running can keep the reading side waiting.
    let dir = super::tmpdir("netns");
    let (out_path, err_path) = (dir.join("stdout"), dir.join("stderr"));
    let file = |p: &std::path::Path| std::fs::File::create(p).expect("output file");
    cmd.stdout(file(&out_path)).stderr(file(&err_path));
    let peer = Peer::spawn("unshare (util-linux)", &mut cmd);
    // Below nextest's 240 s (.config/nextest.toml), so that the inner run's output is shown.
    let (ok, _, _) = peer.wait_output(Duration::from_secs(200));
    let out = std::fs::read_to_string(&out_path).unwrap_or_default();
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        ok && out.contains("1 passed"),
        "{test} in a loopback-only network namespace failed:\n{out}\n{}",
        tail(&err, 60)
    );
    false
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The namespace's loopback shaped to a rate (htb) with a queue of `limit` packets (pfifo; a short one
/// drops bursts, a long one is a bufferbloated uplink), MTU 1500 like a real link. Only inside
/// [`in_loopback_netns`]: the namespace ends with the test, and so does the shaping.
pub struct Shaped;

impl Shaped {
    pub fn new(rate: &str, limit: u32) -> Shaped {
        require_netns("shaping");
        tc(&["link", "set", "lo", "mtu", "1500"], "ip");
        tc(
            &[
                "qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "1",
            ],
            "tc",
        );
        tc(
            &[
                "class", "add", "dev", "lo", "parent", "1:", "classid", "1:1", "htb", "rate", rate,
                "ceil", rate,
            ],
            "tc",
        );
        tc(
            &[
                "qdisc",
                "add",
                "dev",
                "lo",
                "parent",
                "1:1",
                "handle",
                "10:",
                "pfifo",
                "limit",
                &limit.to_string(),
            ],
            "tc",
        );
        Shaped
    }

    /// The link's rate from now on (e.g. "2mbit").
    pub fn set_rate(&self, rate: &str) {
        tc(
            &[
                "class", "change", "dev", "lo", "parent", "1:", "classid", "1:1", "htb", "rate",
                rate, "ceil", rate,
            ],
            "tc",
        );
    }

    /// Packets the queue dropped so far.
    pub fn dropped(&self) -> u64 {
        let out = Command::new("tc")
            .args(["-s", "qdisc", "show", "dev", "lo"])
            .output()
            .expect("tc");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        text.split("dropped ")
            .skip(1)
            .filter_map(|t| t.split(',').next()?.trim().parse::<u64>().ok())
            .sum()
    }
}

fn tc(args: &[&str], program: &str) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} (iproute2): {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ip ARGS` (iproute2), which must succeed.
pub fn ip(args: &[&str]) {
    tc(args, "ip");
}

/// A second host for a test inside [`in_loopback_netns`]: a network namespace of its own, joined to
/// this one by a veth pair (`here` at 10.77.0.1/24 on this side, 10.77.0.2/24 over there, multicast
/// routed over it on both sides), running `script` (sh) there. Its output goes to a file; killed by
/// pid when dropped.
pub struct SecondHost {
    pub peer: Peer,
    pub output: std::path::PathBuf,
}

impl SecondHost {
    pub fn start(script: &str) -> SecondHost {
        require_netns("a second host");
        veth("here", "there", "10.77.0.1/24");
        ip(&["route", "add", "224.0.0.0/4", "dev", "here"]);
        let dir = super::tmpdir("second-host");
        let output = dir.join("output");
        let out = std::fs::File::create(&output).expect("output file");
        let err = out.try_clone().expect("output file");
        // The other side says it is in its own namespace (a file written from there), waits for its end
        // of the pair, sets it up, then runs the script.
        let ready = dir.join("in-its-namespace");
        let setup = format!(
            ": > '{}' && until ip link show there >/dev/null 2>&1; do sleep 0.05; done; \
             ip link set lo up && ip addr add 10.77.0.2/24 dev there && \
             ip link set there up && ip route add 224.0.0.0/4 dev there && ",
            ready.display()
        );
        let peer = Peer::spawn(
            "unshare --net (second host)",
            Command::new("unshare")
                .args(["--net", "sh", "-c"])
                .arg(format!("{setup}{script}"))
                .stdout(std::process::Stdio::from(out))
                .stderr(std::process::Stdio::from(err)),
        );
        // unshare execs sh in the new namespace (same process): once sh has written the file, the far end
        // can move there. Not by comparing /proc/PID/ns/net: this test runs in a PID namespace of its own
        // under the machine's /proc, where PID names another process (under load the end moved before the
        // namespace existed, and the script waited for it forever: a CI failure).
        let moved = super::poll(Duration::from_secs(5), || ready.exists().then_some(()));
        assert!(
            moved.is_some(),
            "the second host has no network namespace of its own"
        );
        let pid = peer.child.id().to_string();
        ip(&["link", "set", "there", "netns", &pid]);
        SecondHost { peer, output }
    }

    /// Waits for the script to end, up to `timeout`; what it printed.
    pub fn finish(self, timeout: Duration) -> String {
        let _ = self.peer.wait_output(timeout);
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }
}

/// An address besides loopback for this namespace (10.78.0.1 on one end of a veth pair whose other end
/// is up too), for what ignores loopback: libnice gathers no ICE candidate on `lo`, so a WebRTC peer
/// without `ice-addresses` finds none in a loopback-only namespace.
pub fn add_an_address() {
    require_netns("an address");
    veth("lan0", "lan1", "10.78.0.1/24");
    ip(&["link", "set", "lan1", "up"]);
}

/// What changes the network may only run inside [`in_loopback_netns`] (never on the machine's own).
fn require_netns(what: &str) {
    assert!(
        std::env::var_os("TDSTREAM_IN_NETNS").is_some(),
        "{what} only inside in_loopback_netns"
    );
}

/// A veth pair `here`–`there`, `here` up with `address` (CIDR).
fn veth(here: &str, there: &str, address: &str) {
    ip(&["link", "add", here, "type", "veth", "peer", "name", there]);
    ip(&["addr", "add", address, "dev", here]);
    ip(&["link", "set", here, "up"]);
}
