//! The one line a go-plugin host reads from the plugin's stdout.

use std::io::{self, Write as _};
use std::net::SocketAddr;

use super::env::APP_PROTOCOL_VERSION;

/// go-plugin's core protocol version (the handshake's first field).
const CORE_PROTOCOL_VERSION: u32 = 1;

/// The one line go-plugin reads from stdout, first and flushed:
/// `CORE|APP|tcp|ADDRESS|grpc[|CERT]`.
pub(crate) fn write(address: SocketAddr, certificate: Option<&[u8]>) -> io::Result<()> {
    let mut line = line(address, certificate);
    line.push('\n');
    let mut stdout = io::stdout().lock();
    stdout.write_all(line.as_bytes())?;
    stdout.flush()
}

/// The handshake line, without the newline: `CORE|APP|tcp|ADDRESS|grpc`,
/// and under automatic mTLS `|` and the plugin's certificate (base64 DER,
/// no padding).
fn line(address: SocketAddr, certificate: Option<&[u8]>) -> String {
    let mut line = format!("{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|tcp|{address}|grpc");
    if let Some(der) = certificate {
        use base64::Engine as _;
        line.push('|');
        line.push_str(&base64::engine::general_purpose::STANDARD_NO_PAD.encode(der));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_core_app_network_address_protocol_and_an_unpadded_certificate() {
        let address: SocketAddr = "127.0.0.1:10001".parse().unwrap();
        assert_eq!(line(address, None), "1|1|tcp|127.0.0.1:10001|grpc");
        assert_eq!(line(address, Some(&[1, 2, 3, 4])), "1|1|tcp|127.0.0.1:10001|grpc|AQIDBA");
    }
}
