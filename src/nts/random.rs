//! Randomness for the NTS packet path: nonces and cookie nonces. A getrandom system call per
//! response cost about a quarter of an NTS answer, so each thread draws from its own
//! AES-128-CTR keystream, keyed from the operating system and rekeyed every 2^20 blocks.
//! Nonces need to be unique and unpredictable; a keystream under a secret random key is both.

use std::cell::RefCell;

use aes::cipher::{Block, BlockEncrypt, KeyInit};
use aes::Aes128;

const BLOCKS_PER_KEY: u32 = 1 << 20;
/// Keystream is made eight blocks at a time, a full parallel call of the AES backend: the
/// software AES (a Pi 4) computes 4 blocks per call however few are asked, and a response draws
/// 2, so making them as drawn wasted half of that work.
const BUFFER_BLOCKS: usize = 8;

struct KeyStream {
    cipher: Aes128,
    counter: u128,
    blocks_left: u32,
    buffer: [u8; BUFFER_BLOCKS * 16],
    /// How many bytes at the end of `buffer` are not handed out yet; each is handed out once.
    unread: usize,
}

impl KeyStream {
    fn from_os() -> Option<KeyStream> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).ok()?;
        let cipher = Aes128::new_from_slice(&seed[..16]).ok()?;
        let mut counter = [0u8; 16];
        counter.copy_from_slice(&seed[16..]);
        Some(KeyStream {
            cipher,
            counter: u128::from_be_bytes(counter),
            blocks_left: BLOCKS_PER_KEY,
            buffer: [0; BUFFER_BLOCKS * 16],
            unread: 0,
        })
    }

    fn refill(&mut self) {
        let mut blocks = [Block::<Aes128>::default(); BUFFER_BLOCKS];
        for block in &mut blocks {
            block.copy_from_slice(&self.counter.to_be_bytes());
            self.counter = self.counter.wrapping_add(1);
        }
        self.cipher.encrypt_blocks(&mut blocks);
        for (piece, random) in self.buffer.chunks_exact_mut(16).zip(&blocks) {
            piece.copy_from_slice(random);
        }
        self.unread = self.buffer.len();
        self.blocks_left = self.blocks_left.saturating_sub(BUFFER_BLOCKS as u32);
    }

    fn fill(&mut self, out: &mut [u8]) {
        let mut written = 0;
        while written < out.len() {
            if self.unread == 0 {
                self.refill();
            }
            let take = self.unread.min(out.len() - written);
            let from = self.buffer.len() - self.unread;
            out[written..written + take].copy_from_slice(&self.buffer[from..from + take]);
            self.unread -= take;
            written += take;
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
        // The refills this call may make, counted whole, must fit in what the key has left.
        let refills = buffer.len().div_ceil(BUFFER_BLOCKS * 16) + 1;
        let needed = u32::try_from(refills * BUFFER_BLOCKS).unwrap_or(u32::MAX);
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

    fn fixed_stream() -> KeyStream {
        KeyStream {
            cipher: Aes128::new_from_slice(&[7; 16]).unwrap(),
            counter: u128::MAX - 20,
            blocks_left: BLOCKS_PER_KEY,
            buffer: [0; BUFFER_BLOCKS * 16],
            unread: 0,
        }
    }

    #[test]
    fn draws_of_any_size_hand_out_the_keystream_once_in_order() {
        let mut whole = [0u8; 700];
        fixed_stream().fill(&mut whole);
        let mut stream = fixed_stream();
        let mut drawn = Vec::new();
        for size in [32, 40, 1, 127, 128, 129, 0, 243] {
            let mut piece = vec![0u8; size];
            stream.fill(&mut piece);
            drawn.extend_from_slice(&piece);
        }
        assert_eq!(drawn.len(), 700);
        assert_eq!(drawn, whole);
        // The counter wrapped inside the draw without repeating a block.
        let blocks: std::collections::HashSet<&[u8]> = whole.chunks(16).collect();
        assert_eq!(blocks.len(), 700usize.div_ceil(16));
    }
}
