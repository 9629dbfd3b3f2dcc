//! TCP_NODELAY on rtmp2sink's connection (`rtmp-tcp-nodelay`). rtmp2sink (1.22) neither sets it nor
//! shows its socket: under strace its only socket option is SO_MAX_PACING_RATE. So the socket is found
//! among this process's own: /proc/self/net/tcp and tcp6 give each connection's addresses and the
//! inode of its socket, /proc/self/fd the descriptor that holds each inode. Every established
//! connection of this process to the server's address and port is set (another RTMP connection of
//! this process to the same server gets it too; it is harmless there).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One established TCP connection of /proc/net/tcp or tcp6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub inode: u64,
}

/// `0100007F:4B8E` (IPv4) or 32 hex digits `:port` (IPv6): the address in the kernel's byte order,
/// 32 bits at a time, the port in hex.
fn parse_address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = ip.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_le_bytes())
    };
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            let v6 = Ipv6Addr::from(bytes);
            // An IPv4 peer of an IPv6 socket.
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The established connections (state 01) listed in the text of /proc/net/tcp or tcp6.
pub fn parse_proc_net_tcp(text: &str) -> Vec<Connection> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.get(3) != Some(&"01") {
                return None;
            }
            Some(Connection {
                local: parse_address(f.get(1)?)?,
                remote: parse_address(f.get(2)?)?,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// This process's established connections to `peers`.
fn connections_to(peers: &[SocketAddr]) -> Vec<Connection> {
    ["/proc/self/net/tcp", "/proc/self/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|t| parse_proc_net_tcp(&t))
        .filter(|c| peers.contains(&c.remote))
        .collect()
}

/// The descriptor of this process that holds socket `inode` (`socket:[INODE]` in /proc/self/fd).
fn descriptor_of(inode: u64) -> Option<i32> {
    let wanted = format!("socket:[{inode}]");
    std::fs::read_dir("/proc/self/fd")
        .ok()?
        .filter_map(Result::ok)
        .find(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.as_os_str() == wanted.as_str()))
        .and_then(|e| e.file_name().to_str()?.parse().ok())
}

/// Sets TCP_NODELAY on every established connection of this process to `peers`; how many were set.
pub fn set_on_connections_to(peers: &[SocketAddr]) -> usize {
    let one: libc::c_int = 1;
    connections_to(peers)
        .iter()
        .filter_map(|c| descriptor_of(c.inode))
        .filter(|&fd| {
            // SAFETY: `fd` is a descriptor of this process (read from /proc/self/fd) and `one` outlives
            // the call. Had it been closed and reused since, the call fails or sets the option on
            // another TCP socket; neither harms anything.
            let r = unsafe {
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_NODELAY,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            r == 0
        })
        .count()
}

/// Whether TCP_NODELAY is on, for each established connection of this process to `peers` (what the
/// tests read back).
pub fn state_of_connections_to(peers: &[SocketAddr]) -> Vec<bool> {
    connections_to(peers)
        .iter()
        .filter_map(|c| descriptor_of(c.inode))
        .filter_map(|fd| {
            let mut value: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: as in set_on_connections_to; `value` and `len` outlive the call.
            let r = unsafe {
                libc::getsockopt(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_NODELAY,
                    (&mut value as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            (r == 0).then_some(value != 0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:4B96 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0
   1: 0100007F:B0C2 0100007F:4B96 01 00000000:00000000 00:00000000 00000000     0        0 424242 1 0000000000000000 20 4 30 10 -1
   2: 0F02000A:0016 0202000A:D431 01 00000000:00000000 02:0009A3E1 00000000     0        0 9000 4 0000000000000000 20 4 1 10 -1
";

    #[test]
    fn established_ipv4_connections_with_their_inodes() {
        let c = parse_proc_net_tcp(TCP);
        assert_eq!(c.len(), 2, "the listening socket (0A) is not a connection");
        assert_eq!(c[0].local, "127.0.0.1:45250".parse().unwrap());
        assert_eq!(c[0].remote, "127.0.0.1:19350".parse().unwrap());
        assert_eq!(c[0].inode, 424242);
        assert_eq!(c[1].remote, "10.0.2.2:54321".parse().unwrap());
    }

    #[test]
    fn ipv6_and_ipv4_mapped_peers() {
        let tcp6 =
            "  sl  local_address                         remote_address                        st
   0: 00000000000000000000000001000000:B0C2 00000000000000000000000001000000:0783 01 0 0 0 0 0 777
   1: 0000000000000000FFFF00000100007F:B0C3 0000000000000000FFFF00000100007F:0783 01 0 0 0 0 0 778
";
        let c = parse_proc_net_tcp(tcp6);
        assert_eq!(c[0].remote, "[::1]:1923".parse().unwrap());
        assert_eq!(c[0].inode, 777);
        assert_eq!(c[1].remote, "127.0.0.1:1923".parse().unwrap());
    }

    #[test]
    fn garbage_lines_are_skipped() {
        assert!(parse_proc_net_tcp("header\n0: zz:yy 1:2 01 x x x x x notanumber\n\n").is_empty());
    }

    #[test]
    fn a_connection_of_this_process_is_found_and_set() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = listener.local_addr().unwrap();
        let _client = std::net::TcpStream::connect(peer).unwrap();
        let _server = listener.accept().unwrap();
        assert_eq!(state_of_connections_to(&[peer]), vec![false]);
        assert_eq!(set_on_connections_to(&[peer]), 1);
        assert_eq!(state_of_connections_to(&[peer]), vec![true]);
    }
}
