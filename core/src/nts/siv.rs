//! AES-SIV (RFC 5297) over a key schedule built once per key: S2V on AES-CMAC (RFC 4493), then
//! AES-CTR. The `aes-siv` crate computes the same thing, but its ciphers take `&mut self` and
//! rebuild the CTR key schedule for every message, so a key used for many messages (the cookie
//! master key) paid its key expansion and kilobyte-sized copies on every request. Here a
//! [`Siv`] is built once and used through `&self` from any number of threads; only the AES
//! block function comes from the `aes` crate. The unit tests hold it to the RFCs' vectors and
//! to the `aes-siv` crate on pseudo-random inputs, and the `aead_siv` fuzz target to `aes-siv`
//! on arbitrary ones.

use aes::cipher::consts::U16;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::typenum::Unsigned;
use aes::cipher::{BlockBackend, BlockClosure, BlockEncrypt, BlockSizeUser, Key, KeyInit, ParBlocks};

use super::keystream::{Ctr, MAX_SOFTWARE_LANES};

pub const BLOCK_LEN: usize = 16;
type Block = GenericArray<u8, U16>;

/// The tag does not authenticate the message under this key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotAuthentic;

/// An AES-SIV key, prepared and owned: the S2V half's cipher and CMAC subkeys, and the CTR
/// half's cipher. For a key used for many messages (a cookie master key); a key used for one
/// message is better built with [`with_key`].
#[derive(Clone)]
pub struct Siv<C> {
    mac: C,
    subkeys: Subkeys,
    ctr: C,
}

/// An AES-SIV key as the operations use it: the two ciphers borrowed from wherever they were
/// built.
pub struct SivKey<'a, C> {
    mac: &'a C,
    subkeys: SubkeySource<'a>,
    ctr: &'a C,
}

/// The CMAC state of a plaintext's blocks before its last 16 bytes, which S2V takes before
/// anything of the headers: what opening a message leaves for sealing another with the same
/// plaintext under the same key (a cookie's successor carries the same session keys), so that
/// those blocks are not encrypted again. It holds state derived from the key: like a key, it
/// is not printed.
#[derive(Clone, Copy, Default)]
pub struct PlaintextChain {
    /// The length of the plaintext it was taken from.
    len: usize,
    absorbed: usize,
    x: Block,
}

/// CMAC's subkeys for a message's last block (RFC 4493 §2.3).
#[derive(Clone, Copy)]
struct LastBlockKeys {
    /// For a complete last block.
    k1: u128,
    /// For a padded last block.
    k2: u128,
}

/// What CMAC derives from its key once, and S2V's first step (RFC 5297 §2.4), which is the
/// same for every message under the key.
#[derive(Clone, Copy)]
struct Subkeys {
    last: LastBlockKeys,
    cmac_of_zero: u128,
}

/// Where S2V finds its subkeys: made once for a key kept for many messages, or derived inside
/// S2V itself for a key used once. There a software backend computes the two blocks of the
/// derivation in lanes its chains leave free, which saves two block calls per message (6 %
/// of the instructions of a Pi 4's AES-SIV-CMAC-256 request, for its two session keys).
#[derive(Clone, Copy)]
enum SubkeySource<'a> {
    Ready(&'a Subkeys),
    Derive,
}

/// The subkeys in the making, a block at a time: E(0) gives K1 and K2, then the CMAC of one
/// zero block (that block XOR K1, encrypted) is S2V's first step.
#[derive(Clone, Copy)]
enum Derivation {
    Start,
    Halfway(LastBlockKeys),
    Done(Subkeys),
}

impl Derivation {
    /// The block to encrypt next, if any.
    fn next_input(&self) -> Option<Block> {
        match self {
            Derivation::Start => Some(Block::default()),
            Derivation::Halfway(last) => Some(Block::from(last.k1.to_be_bytes())),
            Derivation::Done(_) => None,
        }
    }

    /// Takes the encryption of [`Self::next_input`].
    fn absorb(&mut self, output: &Block) {
        let value = u128::from_be_bytes((*output).into());
        *self = match *self {
            Derivation::Start => {
                let k1 = dbl(value);
                Derivation::Halfway(LastBlockKeys { k1, k2: dbl(k1) })
            }
            Derivation::Halfway(last) => Derivation::Done(Subkeys { last, cmac_of_zero: value }),
            done @ Derivation::Done(_) => done,
        };
    }

    fn last_block_keys(&self) -> Option<&LastBlockKeys> {
        match self {
            Derivation::Start => None,
            Derivation::Halfway(last) | Derivation::Done(Subkeys { last, .. }) => Some(last),
        }
    }

    /// Runs the derivation to its end, a block at a time.
    fn complete(mut self, mut encrypt: impl FnMut(&mut Block)) -> Subkeys {
        loop {
            if let Derivation::Done(subkeys) = self {
                return subkeys;
            }
            if let Some(mut block) = self.next_input() {
                encrypt(&mut block);
                self.absorb(&block);
            }
        }
    }
}

impl Subkeys {
    fn derive<C: BlockEncrypt + BlockSizeUser<BlockSize = U16>>(mac: &C) -> Self {
        Derivation::Start.complete(|block| mac.encrypt_block(block))
    }
}

/// Builds the key schedules of `key` (S2V key then CTR key, of equal length) where they stay,
/// on this stack frame, and hands `f` the key borrowing them; its subkeys are derived inside
/// S2V. A schedule of the `aes` crate
/// is 704 bytes on x86 (it has room for the software one as well), so building one into a
/// struct and moving it cost a `memmove` each, 2 % of the server's time under NTS load. When
/// `body_len` is 0 there is no keystream to make and no CTR schedule is built (RFC 8915
/// requests carry nothing encrypted). It panics if `key` has the wrong length, so callers
/// check first, as `AeadKey::new` does.
#[inline(always)]
pub fn with_key<C, R>(key: &[u8], body_len: usize, f: impl FnOnce(SivKey<'_, C>) -> R) -> R
where
    C: BlockEncrypt + KeyInit + BlockSizeUser<BlockSize = U16>,
{
    let (mac_key, ctr_key) = key.split_at(key.len() / 2);
    let mac = C::new(Key::<C>::from_slice(mac_key));
    let subkeys = SubkeySource::Derive;
    if body_len == 0 {
        // CTR over nothing reads no key: the S2V cipher stands in, unused.
        f(SivKey { mac: &mac, subkeys, ctr: &mac })
    } else {
        let ctr = C::new(Key::<C>::from_slice(ctr_key));
        f(SivKey { mac: &mac, subkeys, ctr: &ctr })
    }
}

impl<C> Siv<C>
where
    C: BlockEncrypt + KeyInit + BlockSizeUser<BlockSize = U16>,
{
    /// `key` is the S2V key followed by the CTR key, of equal length (RFC 5297 §2.6).
    pub fn new(key: &[u8]) -> Option<Self> {
        (key.len() == 2 * C::key_size()).then(|| Self::from_checked_key(key))
    }

    /// [`Self::new`] for a key whose length is known to be right (it panics otherwise).
    pub fn from_checked_key(key: &[u8]) -> Self {
        let (mac_key, ctr_key) = key.split_at(key.len() / 2);
        let mac = C::new(Key::<C>::from_slice(mac_key));
        let ctr = C::new(Key::<C>::from_slice(ctr_key));
        Siv { subkeys: Subkeys::derive(&mac), mac, ctr }
    }

    pub fn key(&self) -> SivKey<'_, C> {
        SivKey { mac: &self.mac, subkeys: SubkeySource::Ready(&self.subkeys), ctr: &self.ctr }
    }

    /// [`SivKey::seal`].
    pub fn seal<const N: usize>(&self, headers: [&[u8]; N], body: &mut [u8]) -> [u8; BLOCK_LEN] {
        self.key().seal(headers, body)
    }

    /// [`SivKey::open`].
    pub fn open<const N: usize>(
        &self,
        headers: [&[u8]; N],
        body: &mut [u8],
        tag: &[u8; BLOCK_LEN],
    ) -> Result<(), NotAuthentic> {
        self.key().open(headers, body, tag)
    }
}

impl<C> SivKey<'_, C>
where
    C: BlockEncrypt + BlockSizeUser<BlockSize = U16>,
{
    /// Encrypts `body` in place and returns the synthetic IV, which is also the tag.
    /// `headers` are the associated data components (for AEAD use: the associated data, then the
    /// nonce).
    pub fn seal<const N: usize>(self, headers: [&[u8]; N], body: &mut [u8]) -> [u8; BLOCK_LEN] {
        self.seal_continuing(headers, body, None)
    }

    /// [`Self::seal`], starting S2V's plaintext chain from `chain` when it was taken from a
    /// plaintext of `body`'s length: the caller vouches that it was this plaintext, under this
    /// key. The result is the same as without it.
    pub fn seal_continuing<const N: usize>(
        self,
        headers: [&[u8]; N],
        body: &mut [u8],
        chain: Option<&PlaintextChain>,
    ) -> [u8; BLOCK_LEN] {
        let v = self.s2v(headers, body, chain, None);
        self.apply_keystream(v, body);
        v.to_be_bytes()
    }

    /// Decrypts `body` in place if `tag` authenticates it; otherwise `body` is left encrypted
    /// again and the result is an error.
    pub fn open<const N: usize>(
        self,
        headers: [&[u8]; N],
        body: &mut [u8],
        tag: &[u8; BLOCK_LEN],
    ) -> Result<(), NotAuthentic> {
        self.open_keeping_chain(headers, body, tag, None)
    }

    /// [`Self::open`], leaving the plaintext's chain in `keep` for [`Self::seal_continuing`].
    pub fn open_keeping_chain<const N: usize>(
        self,
        headers: [&[u8]; N],
        body: &mut [u8],
        tag: &[u8; BLOCK_LEN],
        keep: Option<&mut PlaintextChain>,
    ) -> Result<(), NotAuthentic> {
        let v = u128::from_be_bytes(*tag);
        self.apply_keystream(v, body);
        let expected = self.s2v(headers, body, None, keep).to_be_bytes();
        // Every byte compared, whatever the first difference: the time says nothing of the tag.
        let difference = expected.iter().zip(tag).fold(0u8, |d, (a, b)| d | (a ^ b));
        if difference == 0 {
            Ok(())
        } else {
            self.apply_keystream(v, body);
            Err(NotAuthentic)
        }
    }

    fn s2v<const N: usize>(
        &self,
        headers: [&[u8]; N],
        plaintext: &[u8],
        resume: Option<&PlaintextChain>,
        keep: Option<&mut PlaintextChain>,
    ) -> u128 {
        let mut v = 0;
        let subkeys = self.subkeys;
        self.mac.encrypt_with_backend(S2v { subkeys, headers, plaintext, resume, keep, v: &mut v });
        v
    }

    /// CTR mode from `v` with bits 31 and 63 cleared (§2.5), run inside the AES backend.
    fn apply_keystream(&self, v: u128, body: &mut [u8]) {
        if !body.is_empty() {
            let mut counter = v & !((1u128 << 63) | (1u128 << 31));
            let next_block = move || {
                let block = Block::from(counter.to_be_bytes());
                counter = counter.wrapping_add(1);
                block
            };
            self.ctr.encrypt_with_backend(Ctr { next_block, body });
        }
    }
}

/// RFC 5297 §2.4 with the plaintext as the last string (so never n = 0), run inside the AES
/// backend so that the CMAC chains stay in registers. The chains that do not depend on each
/// other (each header, and the plaintext up to its last 16 bytes) advance a block each per
/// round in one parallel call of a software backend (a Pi 4: the `aes` crate computes 2 or 4
/// blocks per call whether one or four are asked), and so do the subkeys when they are still
/// to be derived; on a hardware one each chain runs whole in a tight loop, one after another,
/// and the processor overlaps the end of one with the start of the next. Only the plaintext's
/// end waits for D.
struct S2v<'a, const N: usize> {
    subkeys: SubkeySource<'a>,
    headers: [&'a [u8]; N],
    plaintext: &'a [u8],
    /// Where the plaintext's chain starts, if not at its beginning (of the same plaintext).
    resume: Option<&'a PlaintextChain>,
    /// Where to leave the plaintext's chain once its blocks before the last 16 bytes are in.
    keep: Option<&'a mut PlaintextChain>,
    v: &'a mut u128,
}

impl<const N: usize> BlockSizeUser for S2v<'_, N> {
    type BlockSize = U16;
}

impl<const N: usize> BlockClosure for S2v<'_, N> {
    fn call<B: BlockBackend<BlockSize = U16>>(self, backend: &mut B) {
        let mut headers = self.headers.map(Cmac::new);
        let long = self.plaintext.len() >= BLOCK_LEN;
        let mut plaintext = Cmac::new(self.plaintext);
        // With a long plaintext, its blocks wholly before its last 16 bytes need nothing of D.
        let independent = if long { (self.plaintext.len() - BLOCK_LEN) / BLOCK_LEN } else { 0 };
        if let Some(chain) = self.resume.filter(|c| c.len == self.plaintext.len()) {
            plaintext.absorbed = chain.absorbed;
            plaintext.x = chain.x;
        }
        let mut derivation = match self.subkeys {
            SubkeySource::Ready(subkeys) => Derivation::Done(*subkeys),
            SubkeySource::Derive => Derivation::Start,
        };
        // Software backends (2 or 4 lanes) compute all their lanes in any call, so the
        // chains advance together in one; the hardware ones (8 lanes) pipeline single blocks,
        // so there each chain runs by itself, which measured faster than their 8-wide call on
        // the 2 or 3 chains here and than taking the chains a block each in turn
        // (docs/benchmarks.md).
        let lanes = B::ParBlocksSize::USIZE;
        let keys = if lanes <= MAX_SOFTWARE_LANES {
            let mut round = Round { backend, lanes: lanes.min(MAX_SOFTWARE_LANES) };
            while round.advance(&mut derivation, &mut headers, &mut plaintext, independent) {}
            derivation.complete(|block| backend.proc_block(block.into()))
        } else {
            let keys = derivation.complete(|block| backend.proc_block(block.into()));
            for header in &mut headers {
                header.absorb_whole(backend, usize::MAX);
                while header.step(backend, &keys.last, usize::MAX, None) {}
            }
            plaintext.absorb_whole(backend, independent);
            keys
        };
        if let Some(keep) = self.keep {
            *keep =
                PlaintextChain { len: self.plaintext.len(), absorbed: plaintext.absorbed, x: plaintext.x };
        }
        let d = headers.iter().fold(keys.cmac_of_zero, |d, header| dbl(d) ^ header.value());
        if long {
            let d = d.to_be_bytes();
            while plaintext.step(backend, &keys.last, usize::MAX, Some(&d)) {}
            *self.v = plaintext.value();
        } else {
            let mut padded = [0u8; BLOCK_LEN];
            padded[..self.plaintext.len()].copy_from_slice(self.plaintext);
            padded[self.plaintext.len()] = 0x80;
            let t = (dbl(d) ^ u128::from_be_bytes(padded)).to_be_bytes();
            let mut last = Cmac::new(&t);
            while last.step(backend, &keys.last, usize::MAX, None) {}
            *self.v = last.value();
        }
    }
}

/// A software backend's parallel calls, each filled with the next block of as many chains as
/// it has lanes.
struct Round<'b, B> {
    backend: &'b mut B,
    lanes: usize,
}

/// Whose block a lane holds.
#[derive(Clone, Copy)]
enum Owner {
    Derivation,
    Header(usize),
    Plaintext,
}

impl<B: BlockBackend<BlockSize = U16>> Round<'_, B> {
    /// Advances the subkeys' derivation, if unfinished, and every chain that has a next block
    /// (a chain whose next block is its last waits for K1 and K2), by one block. Returns
    /// whether anything advanced.
    fn advance<'a, const N: usize>(
        &mut self,
        derivation: &mut Derivation,
        headers: &mut [Cmac<'a>; N],
        plaintext: &mut Cmac<'a>,
        independent: usize,
    ) -> bool {
        let last_block_keys = derivation.last_block_keys().copied();
        let mut batch = ParBlocks::<B>::default();
        let mut owners = [Owner::Plaintext; MAX_SOFTWARE_LANES];
        let mut used = 0;
        let mut any = false;
        let candidates =
            [Owner::Derivation].into_iter().chain((0..N).map(Owner::Header)).chain([Owner::Plaintext]);
        let count = N + 2;
        for (n, owner) in candidates.enumerate() {
            let input = match owner {
                Owner::Derivation => derivation.next_input(),
                Owner::Header(i) => headers[i].next_input(last_block_keys.as_ref(), usize::MAX, None),
                Owner::Plaintext => plaintext.next_input(last_block_keys.as_ref(), independent, None),
            };
            if let Some(input) = input {
                batch[used] = input;
                owners[used] = owner;
                used += 1;
                any = true;
            }
            if used > 0 && (used == self.lanes || n + 1 == count) {
                if used == 1 {
                    self.backend.proc_block((&mut batch[0]).into());
                } else {
                    self.backend.proc_par_blocks((&mut batch).into());
                }
                for (&owner, output) in owners[..used].iter().zip(batch.iter()) {
                    match owner {
                        Owner::Derivation => derivation.absorb(output),
                        Owner::Header(i) => headers[i].x = *output,
                        Owner::Plaintext => plaintext.x = *output,
                    }
                }
                used = 0;
            }
        }
        any
    }
}

/// One AES-CMAC computation (RFC 4493) in progress.
struct Cmac<'a> {
    message: &'a [u8],
    absorbed: usize,
    x: Block,
}

impl<'a> Cmac<'a> {
    fn new(message: &'a [u8]) -> Self {
        Cmac { message, absorbed: 0, x: Block::default() }
    }

    fn blocks(&self) -> usize {
        self.message.len().div_ceil(BLOCK_LEN).max(1)
    }

    /// Absorbs the whole blocks from the next one up to `limit` blocks in all, never the last
    /// block (it takes a subkey, and in S2V's last string D): the common case, in a loop of a
    /// load, an XOR and the block function. XOR needs no byte order, so the state and the blocks
    /// are XORed as they lie in memory.
    fn absorb_whole<B: BlockBackend<BlockSize = U16>>(&mut self, backend: &mut B, limit: usize) {
        let end = limit.min(self.blocks() - 1);
        let Some(region) = self.message.get(self.absorbed * BLOCK_LEN..end * BLOCK_LEN) else { return };
        let mut x = u128::from_ne_bytes(self.x.into());
        for block in region.as_chunks::<BLOCK_LEN>().0 {
            let mut input = Block::from((x ^ u128::from_ne_bytes(*block)).to_ne_bytes());
            backend.proc_block((&mut input).into());
            x = u128::from_ne_bytes(input.into());
        }
        self.x = Block::from(x.to_ne_bytes());
        self.absorbed = end;
    }

    /// Absorbs the next block, unless `limit` blocks or all of them are in. `xor_end`, if given,
    /// is XORed into the message's last 16 bytes (S2V's `Sn xorend D`, without copying Sn).
    fn step<B: BlockBackend<BlockSize = U16>>(
        &mut self,
        backend: &mut B,
        keys: &LastBlockKeys,
        limit: usize,
        xor_end: Option<&[u8; BLOCK_LEN]>,
    ) -> bool {
        let Some(mut input) = self.next_input(Some(keys), limit, xor_end) else { return false };
        backend.proc_block((&mut input).into());
        self.x = input;
        true
    }

    /// The next block to encrypt (the chain's state XOR the next message block, with the
    /// subkey on the last), counted as absorbed; the caller stores its encryption in `x`.
    /// `None` once `limit` blocks or all of them are in, and for the last block while `keys`
    /// are not known yet.
    fn next_input(
        &mut self,
        keys: Option<&LastBlockKeys>,
        limit: usize,
        xor_end: Option<&[u8; BLOCK_LEN]>,
    ) -> Option<Block> {
        let i = self.absorbed;
        if i >= limit.min(self.blocks()) {
            return None;
        }
        let is_last = i + 1 == self.blocks();
        let start = i * BLOCK_LEN;
        let chunk = self.message.get(start..).unwrap_or_default();
        let chunk = &chunk[..chunk.len().min(BLOCK_LEN)];
        // Whole 128-bit values only, never bytes written into an array that is then read as
        // one: that read waits until the byte stores drain (no store-to-load forwarding),
        // which was a fifth of this function's time on the NTS path.
        let mut m = match <&[u8; BLOCK_LEN]>::try_from(chunk) {
            Ok(whole) => u128::from_be_bytes(*whole),
            Err(_) => partial_block(self.message, chunk),
        };
        if let Some(d) = xor_end {
            // The last 16 bytes start at `tail_from`: D's bytes go where they overlap this
            // block. (Only a message of at least 16 bytes is given `xor_end`.)
            let d = u128::from_be_bytes(*d);
            let tail_from = self.message.len().saturating_sub(BLOCK_LEN);
            if start + BLOCK_LEN > tail_from {
                m ^= if start <= tail_from {
                    d >> (8 * (tail_from - start))
                } else {
                    d << (8 * (start - tail_from))
                };
            }
        }
        if is_last {
            // Nothing is changed before this point, so waiting for the keys loses nothing.
            let keys = keys?;
            m ^= if chunk.len() == BLOCK_LEN {
                keys.k1
            } else {
                (0x80u128 << (8 * (BLOCK_LEN - 1 - chunk.len()))) ^ keys.k2
            };
        }
        self.absorbed += 1;
        Some(Block::from((u128::from_be_bytes(self.x.into()) ^ m).to_be_bytes()))
    }

    fn value(&self) -> u128 {
        u128::from_be_bytes(self.x.into())
    }
}

/// The message's last, partial block `chunk` as the top bytes of a 128-bit value, zeroes
/// after: read as the message's last 16 bytes where it has that many.
fn partial_block(message: &[u8], chunk: &[u8]) -> u128 {
    let shift = 8 * (BLOCK_LEN - chunk.len()) as u32;
    match message.last_chunk::<BLOCK_LEN>() {
        Some(last) => u128::from_be_bytes(*last).checked_shl(shift).unwrap_or(0),
        None => {
            let mut m = [0u8; BLOCK_LEN];
            m[..chunk.len()].copy_from_slice(chunk);
            u128::from_be_bytes(m)
        }
    }
}

/// Doubling in GF(2^128) (RFC 5297 §2.3).
fn dbl(s: u128) -> u128 {
    (s << 1) ^ if s >> 127 == 1 { 0x87 } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nts::test_bytes::{hex, pseudo_random};
    use aes::Aes128Enc;

    fn siv(key: &str) -> Siv<Aes128Enc> {
        Siv::new(&hex(key)).unwrap()
    }

    /// A whole CMAC through the same stepping S2V uses.
    fn cmac(s: &Siv<Aes128Enc>, message: &[u8]) -> u128 {
        struct Whole<'a>(&'a [u8], LastBlockKeys, &'a mut u128);
        impl BlockSizeUser for Whole<'_> {
            type BlockSize = U16;
        }
        impl BlockClosure for Whole<'_> {
            fn call<B: BlockBackend<BlockSize = U16>>(self, backend: &mut B) {
                let mut cmac = Cmac::new(self.0);
                while cmac.step(backend, &self.1, usize::MAX, None) {}
                *self.2 = cmac.value();
            }
        }
        let mut out = 0;
        s.mac.encrypt_with_backend(Whole(message, s.subkeys.last, &mut out));
        out
    }

    /// RFC 4493 §4: the subkeys and the four CMAC examples (the MAC half of the key is K).
    #[test]
    fn cmac_matches_rfc_4493() {
        let s = siv("2b7e1516 28aed2a6 abf71588 09cf4f3c 00000000 00000000 00000000 00000000");
        assert_eq!(s.subkeys.last.k1, 0xfbeed618_35713366_7c85e08f_7236a8de);
        assert_eq!(s.subkeys.last.k2, 0xf7ddac30_6ae266cc_f90bc11e_e46d513b);
        let message = hex("6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51
             30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710");
        for (len, mac) in [
            (0, 0xbb1d6929_e9593728_7fa37d12_9b756746),
            (16, 0x070a16b4_6b4d4144_f79bdd9d_d04a287c),
            (40, 0xdfa66747_de9ae630_30ca3261_1497c827),
            (64, 0x51f0bebf_7e3b9d92_fc497417_79363cfe),
        ] {
            assert_eq!(cmac(&s, &message[..len]), mac, "{len} bytes");
        }
    }

    /// RFC 5297 appendix A.1: deterministic authenticated encryption.
    #[test]
    fn seal_and_open_match_rfc_5297_a1() {
        let s = siv("fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff");
        let ad = hex("10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627");
        let plaintext = hex("11223344 55667788 99aabbcc ddee");
        let mut body = plaintext.clone();
        let tag = s.seal([&ad], &mut body);
        assert_eq!(tag.to_vec(), hex("85632d07 c6e8f37f 950acd32 0a2ecc93"));
        assert_eq!(body, hex("40c02b96 90c4dc04 daef7f6a fe5c"));
        s.open([&ad], &mut body, &tag).unwrap();
        assert_eq!(body, plaintext);
    }

    /// RFC 5297 appendix A.2: nonce-based, two associated data strings then the nonce.
    #[test]
    fn seal_and_open_match_rfc_5297_a2() {
        let s = siv("7f7e7d7c 7b7a7978 77767574 73727170 40414243 44454647 48494a4b 4c4d4e4f");
        let ad1 = hex("00112233 44556677 8899aabb ccddeeff deaddada deaddada ffeeddcc bbaa9988
             77665544 33221100");
        let ad2 = hex("10203040 50607080 90a0");
        let nonce = hex("09f91102 9d74e35b d84156c5 635688c0");
        let plaintext = hex("74686973 20697320 736f6d65 20706c61 696e7465 78742074 6f20656e 63727970
             74207573 696e6720 5349562d 414553");
        let mut body = plaintext.clone();
        let tag = s.seal([&ad1, &ad2, &nonce], &mut body);
        assert_eq!(tag.to_vec(), hex("7bdb6e3b 432667eb 06f4d14b ff2fbd0f"));
        assert_eq!(
            body,
            hex("cb900f2f ddbe4043 26601965 c889bf17 dba77ceb 094fa663 b7a3f748 ba8af829
                 ea64ad54 4a272e9c 485b62a3 fd5c0d")
        );
        s.open([&ad1, &ad2, &nonce], &mut body, &tag).unwrap();
        assert_eq!(body, plaintext);
    }

    #[test]
    fn a_wrong_tag_fails_and_leaves_the_ciphertext() {
        let s = siv("fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff");
        let mut body = b"a message of some length".to_vec();
        let mut tag = s.seal([b"ad"], &mut body);
        let sealed = body.clone();
        tag[15] ^= 1;
        assert!(s.open([b"ad"], &mut body, &tag).is_err());
        assert_eq!(body, sealed);
    }

    /// Every length of associated data, nonce and plaintext up to four blocks and a bit, for all
    /// three key sizes, against the `aes-siv` crate.
    /// A backend with `L` lanes that encrypts block by block through a cipher: it stands in for
    /// the `aes` crate's software backends, which this machine (with AES-NI) never picks, so
    /// that S2V's parallel rounds are checked here too.
    struct Lanes<'a, const L: usize>(&'a Aes128Enc);
    impl<const L: usize> BlockSizeUser for Lanes<'_, L> {
        type BlockSize = U16;
    }
    impl aes::cipher::ParBlocksSizeUser for Lanes<'_, 2> {
        type ParBlocksSize = aes::cipher::consts::U2;
    }
    impl aes::cipher::ParBlocksSizeUser for Lanes<'_, 4> {
        type ParBlocksSize = aes::cipher::consts::U4;
    }
    macro_rules! lanes_backend {
        ($l:literal) => {
            impl BlockBackend for Lanes<'_, $l> {
                fn proc_block(&mut self, mut block: aes::cipher::inout::InOut<'_, '_, Block>) {
                    let mut b = block.clone_in();
                    self.0.encrypt_block(&mut b);
                    *block.get_out() = b;
                }
            }
        };
    }
    lanes_backend!(2);
    lanes_backend!(4);

    #[test]
    fn s2v_in_parallel_rounds_matches_s2v_chain_by_chain() {
        let s = siv("fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff");
        let bytes: Vec<u8> = (0..=255u8).collect();
        for len in 0..90usize {
            let (ad, rest) = bytes.split_at(len);
            let nonce = &rest[..len % 19 + 1];
            let plaintext = &rest[20..20 + (len * 7) % 70];
            let by_chain = s.key().s2v([ad, nonce], plaintext, None, None);
            let one_header = s.key().s2v([ad], plaintext, None, None);
            let none = s.key().s2v([], plaintext, None, None);
            let (two, four) = (|| Lanes::<2>(&s.mac), || Lanes::<4>(&s.mac));
            // With the subkeys made beforehand, and derived in the rounds' free lanes.
            for keys in [SubkeySource::Ready(&s.subkeys), SubkeySource::Derive] {
                let how = if matches!(keys, SubkeySource::Derive) { "derived" } else { "ready" };
                assert_eq!(
                    s2v_through(&mut two(), keys, [ad, nonce], plaintext),
                    by_chain,
                    "2, {how}, {len}"
                );
                assert_eq!(
                    s2v_through(&mut four(), keys, [ad, nonce], plaintext),
                    by_chain,
                    "4, {how}, {len}"
                );
                assert_eq!(
                    s2v_through(&mut two(), keys, [ad], plaintext),
                    one_header,
                    "2, one, {how}, {len}"
                );
                assert_eq!(
                    s2v_through(&mut four(), keys, [ad], plaintext),
                    one_header,
                    "4, one, {how}, {len}"
                );
                assert_eq!(s2v_through(&mut four(), keys, [], plaintext), none, "4, none, {how}, {len}");
                let three = [ad, nonce, &bytes[len..len * 2]];
                let expected = s.key().s2v(three, plaintext, None, None);
                assert_eq!(
                    s2v_through(&mut four(), keys, three, plaintext),
                    expected,
                    "4, three, {how}, {len}"
                );
                assert_eq!(
                    s2v_through(&mut two(), keys, three, plaintext),
                    expected,
                    "2, three, {how}, {len}"
                );
            }
        }
    }

    /// A plaintext's chain kept from opening one message, used to seal another with the same
    /// plaintext: the same tag and ciphertext as from scratch, on AES instructions and through
    /// 2 and 4 lanes; a chain taken from a plaintext of another length is not used.
    #[test]
    fn a_chain_kept_from_opening_seals_as_from_scratch() {
        let s = siv("fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff");
        let mut next = pseudo_random(0x9e37_79b9_7f4a_7c15);
        for len in 0..90usize {
            let plaintext: Vec<u8> = (0..len).map(|_| next()).collect();
            let mut body = plaintext.clone();
            let tag = s.seal([b"key id 1", b"first nonce"], &mut body);
            let mut chain = PlaintextChain::default();
            s.key()
                .open_keeping_chain([b"key id 1", b"first nonce"], &mut body, &tag, Some(&mut chain))
                .unwrap();
            assert_eq!(body, plaintext);
            let second: [&[u8]; 2] = [b"key id 1", b"the second nonce"];
            let mut expected = plaintext.clone();
            let expected_tag = s.seal(second, &mut expected);
            let mut fresh = plaintext.clone();
            let fresh_tag = s.key().seal_continuing(second, &mut fresh, Some(&chain));
            assert_eq!((fresh_tag, &fresh), (expected_tag, &expected), "{len} bytes");
            let longer: Vec<u8> = plaintext.iter().copied().chain([1; 16]).collect();
            let mut other = longer.clone();
            let mut other_expected = longer.clone();
            assert_eq!(
                s.key().seal_continuing(second, &mut other, Some(&chain)),
                s.seal(second, &mut other_expected),
                "{len} bytes, a chain of another length"
            );
            let v = u128::from_be_bytes(expected_tag);
            let ready = SubkeySource::Ready(&s.subkeys);
            let first: [&[u8]; 2] = [b"key id 1", b"first nonce"];
            let mut kept = PlaintextChain::default();
            s2v_chained(&mut Lanes::<2>(&s.mac), ready, first, &plaintext, None, Some(&mut kept));
            let two = s2v_chained(&mut Lanes::<2>(&s.mac), ready, second, &plaintext, Some(&kept), None);
            assert_eq!(two, v, "2 lanes, {len} bytes");
            let mut kept = PlaintextChain::default();
            s2v_chained(&mut Lanes::<4>(&s.mac), ready, first, &plaintext, None, Some(&mut kept));
            let four = s2v_chained(&mut Lanes::<4>(&s.mac), ready, second, &plaintext, Some(&kept), None);
            assert_eq!(four, v, "4 lanes, {len} bytes");
        }
    }

    /// A key used for one message, as the NTS packets' keys are, against one kept for many.
    #[test]
    fn keys_built_per_message_agree_with_keys_kept() {
        let key = hex("fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff");
        let kept = Siv::<Aes128Enc>::new(&key).unwrap();
        let bytes: Vec<u8> = (0..=255u8).collect();
        for len in 0..70usize {
            let (ad, rest) = bytes.split_at(len);
            let plaintext = &rest[..len];
            let mut expected = plaintext.to_vec();
            let expected_tag = kept.seal([ad, b"nonce"], &mut expected);
            let mut body = plaintext.to_vec();
            let tag = with_key::<Aes128Enc, _>(&key, body.len(), |k| k.seal([ad, b"nonce"], &mut body));
            assert_eq!((tag, &body), (expected_tag, &expected), "{len} bytes");
            with_key::<Aes128Enc, _>(&key, body.len(), |k| k.open([ad, b"nonce"], &mut body, &tag)).unwrap();
            assert_eq!(body, plaintext);
        }
    }

    fn s2v_through<B: BlockBackend<BlockSize = U16>, const N: usize>(
        backend: &mut B,
        subkeys: SubkeySource<'_>,
        headers: [&[u8]; N],
        plaintext: &[u8],
    ) -> u128 {
        s2v_chained(backend, subkeys, headers, plaintext, None, None)
    }

    fn s2v_chained<B: BlockBackend<BlockSize = U16>, const N: usize>(
        backend: &mut B,
        subkeys: SubkeySource<'_>,
        headers: [&[u8]; N],
        plaintext: &[u8],
        resume: Option<&PlaintextChain>,
        keep: Option<&mut PlaintextChain>,
    ) -> u128 {
        let mut v = 0;
        S2v { subkeys, headers, plaintext, resume, keep, v: &mut v }.call(backend);
        v
    }

    #[test]
    fn the_keystream_through_two_and_four_lanes_matches_the_hardware_one() {
        let s = siv("fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff");
        let counter = 0x0123_4567_89ab_cdef_0011_2233_4455_6677u128 & !((1u128 << 63) | (1u128 << 31));
        for len in 0..200usize {
            let mut by_hardware = vec![0u8; len];
            s.key().apply_keystream(counter, &mut by_hardware);
            let blocks = |mut counter: u128| {
                move || {
                    let block = Block::from(counter.to_be_bytes());
                    counter = counter.wrapping_add(1);
                    block
                }
            };
            let mut two = vec![0u8; len];
            Ctr { next_block: blocks(counter), body: &mut two }.call(&mut Lanes::<2>(&s.ctr));
            let mut four = vec![0u8; len];
            Ctr { next_block: blocks(counter), body: &mut four }.call(&mut Lanes::<4>(&s.ctr));
            assert_eq!(two, by_hardware, "2 lanes, {len} bytes");
            assert_eq!(four, by_hardware, "4 lanes, {len} bytes");
        }
    }

    /// Bodies of many blocks, past a full group of the hardware backend's 8 lanes.
    #[test]
    fn long_messages_agree_with_the_aes_siv_crate() {
        use aes_siv::aead::KeyInit as _;
        let key: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37)).collect();
        let bytes: Vec<u8> = (0..700u32).map(|i| (i * 131 % 251) as u8).collect();
        for len in (100..400usize).step_by(7) {
            let (ad, rest) = bytes.split_at(len / 2);
            let plaintext = &rest[..len];
            let mut ours = plaintext.to_vec();
            let tag = Siv::<Aes128Enc>::new(&key).unwrap().seal([ad, b"nonce"], &mut ours);
            let mut theirs = plaintext.to_vec();
            let their_tag = aes_siv::siv::Aes128Siv::new_from_slice(&key)
                .unwrap()
                .encrypt_in_place_detached([ad, b"nonce".as_slice()], &mut theirs)
                .unwrap();
            assert_eq!((tag.as_slice(), &ours), (their_tag.as_slice(), &theirs), "{len} bytes");
        }
    }

    #[test]
    fn agrees_with_the_aes_siv_crate() {
        use aes_siv::aead::KeyInit as _;
        let mut next = pseudo_random(0x2545_f491_4f6c_dd1du64);
        for len in 0..70usize {
            let bytes: Vec<u8> = (0..64 + 3 * len).map(|_| next()).collect();
            let (ad, rest) = bytes.split_at(len);
            let (nonce, rest) = rest.split_at(len % 17 + 1);
            let plaintext = &rest[..len];
            let key: Vec<u8> = (0..64).map(|_| next()).collect();
            macro_rules! compare {
                ($ours:ty, $theirs:ty, $key_len:expr) => {{
                    let key = &key[..$key_len];
                    let mut ours = plaintext.to_vec();
                    let tag = Siv::<$ours>::new(key).unwrap().seal([ad, nonce], &mut ours);
                    let mut theirs = plaintext.to_vec();
                    let their_tag = <$theirs>::new_from_slice(key)
                        .unwrap()
                        .encrypt_in_place_detached([ad, nonce], &mut theirs)
                        .unwrap();
                    assert_eq!((tag.as_slice(), &ours), (their_tag.as_slice(), &theirs), "{} bytes", len);
                }};
            }
            compare!(Aes128Enc, aes_siv::siv::Aes128Siv, 32);
            compare!(aes::Aes192Enc, aes_siv::siv::CmacSiv<aes::Aes192>, 48);
            compare!(aes::Aes256Enc, aes_siv::siv::Aes256Siv, 64);
        }
    }

    #[test]
    fn odd_key_lengths_are_refused() {
        assert!(Siv::<Aes128Enc>::new(&[0; 31]).is_none());
        assert!(Siv::<Aes128Enc>::new(&[0; 48]).is_none());
    }
}
