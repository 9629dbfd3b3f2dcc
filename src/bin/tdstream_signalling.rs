//! `tdstream-signalling`: the gst-plugins-rs WebRTC signalling server (the library of the crate
//! gst-plugin-webrtc-signalling, the protocol `webrtcsink` and `webrtcsrc` speak), plus a small HTTP
//! server for the browser viewer page (`tools/webrtc-viewer.html`).
//!
//! ```text
//! tdstream-signalling [--host 127.0.0.1] [--port 8443] [--http-port 8080]
//! ```
//! Port 0 lets the OS choose; the addresses actually bound are printed on stdout, one per line:
//! `signalling ws://HOST:PORT` and `viewer http://HOST:PORT/`. The viewer posts what it measured to
//! `/report`; each report is printed as `report {json}` (the tests read them).

use std::io::Write;
use std::net::SocketAddr;

use gst_plugin_webrtc_signalling::handlers::Handler;
use gst_plugin_webrtc_signalling::server::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const VIEWER: &str = include_str!("../../tools/webrtc-viewer.html");
const MAX_REQUEST: usize = 1 << 20;

struct Args {
    host: String,
    port: u16,
    http_port: Option<u16>,
}

const USAGE: &str = "usage: tdstream-signalling [--host ADDRESS] [--port PORT] [--http-port PORT]
  --host       address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  --port       WebSocket signalling port (default 8443; 0 = chosen by the OS)
  --http-port  also serve the browser viewer page on this port (0 = chosen by the OS)";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        host: "127.0.0.1".into(),
        port: 8443,
        http_port: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--host" => args.host = value("--host")?,
            "--port" | "-p" => args.port = port(&value("--port")?)?,
            "--http-port" => args.http_port = Some(port(&value("--http-port")?)?),
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(args)
}

fn port(s: &str) -> Result<u16, String> {
    s.parse()
        .map_err(|_| format!("'{s}' is not a port (0 to 65535)"))
}

async fn bind(host: &str, port: u16, what: &str) -> Result<TcpListener, String> {
    TcpListener::bind((host, port)).await.map_err(|e| {
        format!(
            "cannot listen on {host}:{port} for the {what}: {e}. Fix: choose another port (--port / --http-port; 0 lets \
             the OS choose) or stop what uses it"
        )
    })
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("tdstream-signalling: {e}");
            }
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args).await {
        eprintln!("tdstream-signalling: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    let ws = bind(&args.host, args.port, "signalling").await?;
    let ws_addr = ws.local_addr().map_err(|e| e.to_string())?;
    say(&format!("signalling ws://{}", shown(ws_addr)));
    if let Some(p) = args.http_port {
        let http = bind(&args.host, p, "viewer page").await?;
        let http_addr = http.local_addr().map_err(|e| e.to_string())?;
        say(&format!("viewer http://{}/", shown(http_addr)));
        let page = VIEWER.replace("__SIGNALLING_PORT__", &ws_addr.port().to_string());
        tokio::spawn(serve_http(http, page));
    }
    let server = Server::spawn(Handler::new);
    loop {
        let (stream, _) = ws.accept().await.map_err(|e| e.to_string())?;
        let mut server = server.clone();
        tokio::spawn(async move {
            let _ = server.accept_async(stream).await;
        });
    }
}

fn shown(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        SocketAddr::V4(a) => a.to_string(),
    }
}

async fn serve_http(listener: TcpListener, page: String) {
    let page = std::sync::Arc::new(page);
    while let Ok((stream, _)) = listener.accept().await {
        let page = std::sync::Arc::clone(&page);
        tokio::spawn(async move {
            let _ = http_request(stream, &page).await;
        });
    }
}

/// One request per connection: `GET /` (the page) or `POST /report` (printed on stdout).
async fn http_request(mut stream: TcpStream, page: &str) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_REQUEST {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut first = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_REQUEST);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let (status, ctype, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/") | ("GET", "/index.html") => {
            ("200 OK", "text/html; charset=utf-8", page.to_string())
        }
        ("POST", "/report") => {
            let end = (head_end + length).min(buf.len());
            let report = String::from_utf8_lossy(&buf[head_end..end]).replace('\n', " ");
            say(&format!("report {report}"));
            ("200 OK", "application/json", "{}".to_string())
        }
        _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
