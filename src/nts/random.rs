//! Randomness for the NTS packet path: nonces and cookie nonces. A getrandom system call per
//! response cost about a quarter of an NTS answer, so each thread draws from its own
//! AES-128-CTR keystream, keyed from the operating system and rekeyed every 2^20 blocks.
//! Nonces need to be unique and unpredictable; a keystream under a secret random key is both.

use std::cell::RefCell;

use aes::cipher::{Block, BlockEncrypt, KeyInit};
use aes::Aes128;

const BLOCKS_PER_KEY: u32 = 1 << 20;

struct KeyStream {
    cipher: Aes128,
    counter: u128,
    blocks_left: u32,
}

impl KeyStream {
    fn from_os() -> Option<KeyStream> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).ok()?;
        let cipher = Aes128::new_from_slice(&seed[..16]).ok()?;
        let mut counter = [0u8; 16];
        counter.copy_from_slice(&seed[16..]);
        Some(KeyStream { cipher, counter: u128::from_be_bytes(counter), blocks_left: BLOCKS_PER_KEY })
    }

    fn fill(&mut self, buffer: &mut [u8]) {
        // Eight counter blocks per call: the AES unit works on them in parallel.
        for chunk in buffer.chunks_mut(8 * 16) {
            let mut blocks = [Block::<Aes128>::default(); 8];
            let used = chunk.len().div_ceil(16);
            for block in &mut blocks[..used] {
                block.copy_from_slice(&self.counter.to_be_bytes());
                self.counter = self.counter.wrapping_add(1);
            }
            self.cipher.encrypt_blocks(&mut blocks[..used]);
            for (piece, random) in chunk.chunks_mut(16).zip(&blocks) {
                piece.copy_from_slice(&random[..piece.len()]);
            }
            self.blocks_left = self.blocks_left.saturating_sub(used as u32);
        }
    }
}

thread_local! {
    static STREAM: RefCell<Option<KeyStream>> = const { RefCell::new(None) };
}

/// Fills `buffer`; `false` only if the operating system had no randomness for a new key.
pub fn fill(buffer: &mut [u8]) -> bool {
    STREAM.with(|cell| {
        let mut stream = cell.borrow_mut();
        let needed = u32::try_from(buffer.len().div_ceil(16)).unwrap_or(u32::MAX);
        let exhausted = match stream.as_ref() {
            Some(s) => s.blocks_left < needed,
            None => true,
        };
        if exhausted {
            *stream = KeyStream::from_os();
        }
        match stream.as_mut() {
            Some(s) => {
                s.fill(buffer);
                true
            }
            None => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_draws_differ_and_rekeying_happens() {
        let (mut a, mut b) = ([0u8; 40], [0u8; 40]);
        assert!(fill(&mut a) && fill(&mut b));
        assert_ne!(a, b);
        assert_ne!(a[..16], a[16..32]);
        STREAM.with(|cell| cell.borrow_mut().as_mut().unwrap().blocks_left = 1);
        let mut c = [0u8; 64];
        assert!(fill(&mut c));
        assert!(
            STREAM.with(|cell| cell.borrow().as_ref().unwrap().blocks_left) > BLOCKS_PER_KEY - 10,
            "rekeyed"
        );
    }
}
