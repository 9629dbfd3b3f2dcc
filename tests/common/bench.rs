//! What the benchmarks (`benches/`, `./run bench`) share: start-up, statistics, and writing a section
//! of the results file.

/// `gst::init()` and this plugin registered, or exit with the reason.
pub fn init_or_exit() {
    if let Err(e) = gst::init() {
        eprintln!("GStreamer: {e}");
        std::process::exit(1);
    }
    if let Err(e) = gsttdstream::plugin_register_static() {
        eprintln!("tdstream: {e}");
        std::process::exit(1);
    }
}

/// (median, min, max); NaN for no values.
pub fn median(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    (v[n / 2], v[0], v[n - 1])
}

/// "median (min–max)" with `digits` decimals.
pub fn cell((med, min, max): (f64, f64, f64), digits: usize) -> String {
    format!("{med:.digits$} ({min:.digits$}–{max:.digits$})")
}

/// Prints a Markdown section and writes it to target/bench/`file`, which `./run bench` gathers.
pub fn write_section(file: &str, md: &str) {
    println!("{md}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let _ = std::fs::create_dir_all(&out);
    if let Err(e) = std::fs::write(out.join(file), md) {
        eprintln!("cannot write target/bench/{file}: {e}");
    }
}
