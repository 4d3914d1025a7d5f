//! Ids that look like the server's: 26 characters of its base32 alphabet,
//! written as [`crate::ids::new_id`] writes them, but from a counter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ids::encode_id;

/// Makes ids of the server's shape (26 lowercase base32 characters, written
/// as the server writes its ids), from a counter, so a test sees the same
/// ids on every run. Clones share the counter. For random ids, as the
/// server makes them, [`crate::ids::new_id`].
#[derive(Debug, Clone, Default)]
pub struct Ids {
    next: Arc<AtomicU64>,
}

impl Ids {
    /// A generator whose first id is the one for 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next id.
    pub fn next_id(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        // The counter times a fixed odd number: one to one modulo 2^128, so
        // ids never repeat, and ids of neighbours share no prefix.
        encode_id(u128::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835).to_be_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ID_ALPHABET, is_valid_id};

    #[test]
    fn ids_have_the_servers_shape_and_do_not_repeat() {
        let ids = Ids::new();
        let made: Vec<String> = (0..10_000).map(|_| ids.next_id()).collect();
        for id in &made {
            assert_eq!(id.len(), 26);
            assert!(id.bytes().all(|b| ID_ALPHABET.contains(&b)), "{id}");
            assert!(is_valid_id(id), "{id}");
        }
        let unique: std::collections::HashSet<&String> = made.iter().collect();
        assert_eq!(unique.len(), made.len());
        assert_eq!(Ids::new().next_id(), made[0], "the same on every run");
        assert_ne!(made[0][..4], made[1][..4], "neighbours differ from the first character");
    }
}
