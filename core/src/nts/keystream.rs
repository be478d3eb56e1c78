//! Counter-mode keystream inside an AES backend, for both SIV modes: AES-SIV's 128-bit
//! big-endian counter (RFC 5297 §2.5) and AES-GCM-SIV's 32-bit little-endian one (RFC 8452 §4)
//! differ only in the sequence of counter blocks, which the caller supplies.

use aes::cipher::consts::U16;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::typenum::Unsigned;
use aes::cipher::{BlockBackend, BlockClosure, BlockSizeUser, ParBlocks};

const BLOCK_LEN: usize = 16;
type Block = GenericArray<u8, U16>;

/// The `aes` crate's software backends compute 2 (32-bit) or 4 (64-bit) blocks per call.
pub(super) const MAX_SOFTWARE_LANES: usize = 4;

/// The keystream of the counter blocks `next_block` yields, XORed into `body`. A hardware
/// backend takes the blocks one by one (they do not depend on each other, so the processor
/// pipelines them) and a full group of its lanes in one call; a software backend computes all
/// its lanes in any call, so a group that is not full still goes in one parallel call.
pub(super) struct Ctr<'a, F> {
    pub next_block: F,
    pub body: &'a mut [u8],
}

impl<F> BlockSizeUser for Ctr<'_, F> {
    type BlockSize = U16;
}

impl<F: FnMut() -> Block> BlockClosure for Ctr<'_, F> {
    fn call<B: BlockBackend<BlockSize = U16>>(mut self, backend: &mut B) {
        let lanes = B::ParBlocksSize::USIZE;
        for group in self.body.chunks_mut(lanes * BLOCK_LEN) {
            let blocks = group.len().div_ceil(BLOCK_LEN);
            if blocks == lanes || (blocks > 1 && lanes <= MAX_SOFTWARE_LANES) {
                let mut stream = ParBlocks::<B>::default();
                for block in stream.iter_mut().take(blocks) {
                    *block = (self.next_block)();
                }
                backend.proc_par_blocks((&mut stream).into());
                for (piece, key) in group.chunks_mut(BLOCK_LEN).zip(stream.iter()) {
                    xor_into(piece, key);
                }
            } else {
                for piece in group.chunks_mut(BLOCK_LEN) {
                    let mut key = (self.next_block)();
                    backend.proc_block((&mut key).into());
                    xor_into(piece, &key);
                }
            }
        }
    }
}

/// `piece ^= key` for up to one block, a whole block at a time where it can.
fn xor_into(piece: &mut [u8], key: &Block) {
    if let Ok(whole) = <&mut [u8; BLOCK_LEN]>::try_from(&mut *piece) {
        *whole = (u128::from_ne_bytes(*whole) ^ u128::from_ne_bytes((*key).into())).to_ne_bytes();
    } else {
        for (byte, k) in piece.iter_mut().zip(key) {
            *byte ^= k;
        }
    }
}
