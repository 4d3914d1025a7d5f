//! Ids as the Mattermost server makes and checks them.
//!
//! Every id the server makes (users, channels, posts, teams; also session
//! tokens) comes from `model.NewId` (mattermost/mattermost
//! `server/public/model/utils.go`): a random UUID, version 4, written in
//! base32 with the alphabet `ybndrfg8ejkmcpqxot1uwisza345h769` (RFC 4648's
//! bit order, no padding), 26 lowercase letters and digits. [`new_id`] makes
//! one the same way; [`is_valid_id`] is the server's own check,
//! `model.IsValidId`.

/// The base32 alphabet of Mattermost ids: the 5-bit value `n` is written as
/// `ID_ALPHABET[n]`.
pub const ID_ALPHABET: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";

/// The length of an id, in characters (and bytes).
pub const ID_LEN: usize = 26;

/// A new id, as Go's `model.NewId()` makes one: 16 random bytes from the
/// operating system's secure random source, marked as a version 4 UUID
/// (the top four bits of byte 6 are `0100`, the top two of byte 8 `10`), in
/// base32 with [`ID_ALPHABET`]: 26 characters. Unpredictable, so fit for a
/// secret as the server uses it for session tokens.
///
/// # Panics
///
/// If the operating system gives no random bytes (as Go's does, where
/// `crypto/rand` fails); on the systems the server runs on it always does.
pub fn new_id() -> String {
    let mut bytes = [0_u8; 16];
    if let Err(error) = getrandom::fill(&mut bytes) {
        panic!("the operating system gave no random bytes for an id: {error}");
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    encode_id(bytes)
}

/// `bytes` written as an id: base32 with [`ID_ALPHABET`], most significant
/// bit first (RFC 4648's order), without padding. The 128 bits make 25
/// characters of 5 bits and a last one of 3 bits and two zero bits.
pub(crate) fn encode_id(bytes: [u8; 16]) -> String {
    let bits = u128::from_be_bytes(bytes);
    let char_at = |index: u128| char::from(ID_ALPHABET[(index & 31) as usize]);
    let mut id = String::with_capacity(ID_LEN);
    for shift in (3..=123).rev().step_by(5) {
        id.push(char_at(bits >> shift));
    }
    id.push(char_at(bits << 2));
    id
}

/// Whether `value` passes the server's check of an id, Go's
/// `model.IsValidId`: 26 bytes long, each character a letter or a digit.
///
/// That is looser than the shape [`new_id`] makes: the server accepts
/// capitals, letters outside [`ID_ALPHABET`] (`a`, `l`, `v`), and non-ASCII
/// letters while the length in bytes is 26. Letters and digits are Unicode's
/// here as in Go, with one difference outside ASCII: Rust's letters
/// (`char::is_alphabetic`) also count the marks and symbols Unicode calls
/// alphabetic (a combining accent, a circled letter), which Go's
/// (`unicode.IsLetter`, the letter categories) do not.
pub fn is_valid_id(value: &str) -> bool {
    value.len() == ID_LEN && value.chars().all(|c| c.is_alphabetic() || c.is_numeric())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn new_ids_have_the_servers_shape_and_do_not_repeat() {
        let made: Vec<String> = (0..10_000).map(|_| new_id()).collect();
        for id in &made {
            assert_eq!(id.len(), ID_LEN, "{id}");
            assert!(id.bytes().all(|b| ID_ALPHABET.contains(&b)), "{id}");
            assert!(is_valid_id(id), "{id}");
        }
        let unique: HashSet<&String> = made.iter().collect();
        assert_eq!(unique.len(), made.len());
    }

    #[test]
    fn new_ids_are_version_4_uuids() {
        // Bits counted from the most significant, 5 a character: byte 6's
        // top four (the version, 0100) are the last two of character 9 and
        // the first two of character 10; byte 8's top two (the variant, 10)
        // are the last of character 12 and the first of character 13.
        for id in (0..1000).map(|_| new_id()) {
            let at = |i: usize| ID_ALPHABET.iter().position(|&c| c == id.as_bytes()[i]).unwrap();
            assert_eq!((at(9) & 0b11, at(10) >> 3), (0b01, 0b00), "{id}: the version");
            assert_eq!((at(12) & 1, at(13) >> 4), (1, 0), "{id}: the variant");
        }
        let last: HashSet<u8> = (0..1000).map(|_| *new_id().as_bytes().last().unwrap()).collect();
        let zero_bits: Vec<u8> = ID_ALPHABET.iter().copied().step_by(4).collect();
        assert!(last.iter().all(|c| zero_bits.contains(c)), "the last character ends in two zero bits: {last:?}");
    }

    #[test]
    fn bytes_are_written_as_gos_base32() {
        // Go: base32.NewEncoding("ybndrfg8ejkmcpqxot1uwisza345h769").WithPadding(base32.NoPadding).
        assert_eq!(encode_id([0; 16]), "yyyyyyyyyyyyyyyyyyyyyyyyyy");
        assert_eq!(encode_id([0xff; 16]), "9999999999999999999999999h");
        let counting: [u8; 16] = std::array::from_fn(|i| i as u8);
        assert_eq!(encode_id(counting), "yyyoryarywdyqnyjbefoadeqbh");
        let uuid = 0xf81d_4fae_7dec_11d0_a765_00a0_c91e_6bf6_u128.to_be_bytes();
        assert_eq!(encode_id(uuid), "9yqw9mu77oe7bj5fynoc18um6a");
    }

    #[test]
    fn is_valid_id_is_the_servers_check() {
        for good in [
            new_id().as_str(),
            "yyyyyyyyyyyyyyyyyyyyyyyyyy",
            "9999999999999999999999999h",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "abcdefghijklmnopqrstuvwxyz",
            "0123456789012345678901234v",
            "ééééééééééééé",
        ] {
            assert!(is_valid_id(good), "{good}");
        }
        for bad in [
            "",
            "yyyyyyyyyyyyyyyyyyyyyyyyy",
            "yyyyyyyyyyyyyyyyyyyyyyyyyyy",
            "yyyyyyyyyyyy-yyyyyyyyyyyyy",
            "yyyyyyyyyyyy yyyyyyyyyyyyy",
            "yyyyyyyyyyyy_yyyyyyyyyyyyy",
            "éééééééééééééé",
            "yyyyyyyyyyyyyyyyyyyyyyyyy\n",
        ] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
    }
}
