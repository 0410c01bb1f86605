//! Makes a flag-like GIF for each country code: valid, deterministic, 5–15 KB.
//!
//! The embedded data set must look like the book's to a client: real GIF files of about the
//! size of the CIA flags (12 KB on average), the same bytes on every run so tests can compare
//! what was served with what was saved. Real LZW compression would shrink three stripes to a
//! few hundred bytes, so the encoder writes *uncompressed* LZW (literal codes only, with a
//! clear code before the table would widen the codes): every pixel costs 9 bits, which puts
//! the size in the range we want, and the file is still a GIF any decoder reads.

/// Literal codes between two clear codes. The decoder adds a table entry per literal after
/// the first; 250 keeps the next free code (258 + 249) below 512, where 9-bit codes would
/// become 10-bit, with room for decoders that widen one code early.
const RUN: usize = 250;
const CLEAR: u16 = 256;
const END: u16 = 257;

/// The GIF for `cc` (any case): deterministic for a code, different between codes.
pub fn flag_gif(cc: &str) -> Vec<u8> {
    let seed = fnv1a(cc.to_ascii_lowercase().as_bytes());
    // 90–130 pixels wide at a 3:2 flag ratio gives 5,400–11,300 pixels: 6–13 KB.
    let width = 90 + (seed % 41) as u16;
    let height = width * 2 / 3;
    let palette = palette(seed);
    let pixels = stripes(seed, width, height);
    encode(width, height, &palette, &pixels)
}

/// Three colours from the seed; the other 253 entries of the 256-colour table are grey.
fn palette(seed: u64) -> Vec<[u8; 3]> {
    let mut colours: Vec<[u8; 3]> = (0..=255u8).map(|i| [i, i, i]).collect();
    for (i, colour) in colours.iter_mut().take(3).enumerate() {
        let bits = seed.rotate_left(i as u32 * 21);
        *colour = [bits as u8, (bits >> 8) as u8, (bits >> 16) as u8];
    }
    colours
}

/// Three stripes, horizontal or vertical as the seed says, with a small emblem in the middle.
fn stripes(seed: u64, width: u16, height: u16) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let vertical = seed & (1 << 40) != 0;
    let mut pixels = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let band = if vertical { x * 3 / w } else { y * 3 / h };
            let (dx, dy) = (x.abs_diff(w / 2), y.abs_diff(h / 2));
            let emblem = dx * dx + dy * dy < (h / 6) * (h / 6);
            pixels.push(if emblem {
                3 + (seed as usize + x) % 8
            } else {
                band
            } as u8);
        }
    }
    pixels
}

fn encode(width: u16, height: u16, palette: &[[u8; 3]], pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pixels.len() * 9 / 8 + 1024);
    out.extend_from_slice(b"GIF89a");
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    // Global colour table present, 8 bits of colour resolution, 2^(7+1) = 256 entries.
    out.extend_from_slice(&[0xF7, 0, 0]);
    for rgb in palette {
        out.extend_from_slice(rgb);
    }
    // Image descriptor: at (0, 0), full size, no local table, not interlaced.
    out.push(b',');
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.push(0);
    out.push(8); // LZW minimum code size: 8-bit pixels, so codes start at 9 bits.

    let mut bits = BitWriter::default();
    for chunk in pixels.chunks(RUN) {
        bits.push(CLEAR);
        for &p in chunk {
            bits.push(p as u16);
        }
    }
    bits.push(END);
    for block in bits.finish().chunks(255) {
        out.push(block.len() as u8);
        out.extend_from_slice(block);
    }
    out.push(0); // block terminator
    out.push(b';'); // trailer
    out
}

/// Packs 9-bit codes least significant bit first, as GIF's LZW stream wants.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    acc: u32,
    len: u32,
}

impl BitWriter {
    fn push(&mut self, code: u16) {
        self.acc |= (code as u32) << self.len;
        self.len += 9;
        while self.len >= 8 {
            self.bytes.push(self.acc as u8);
            self.acc >>= 8;
            self.len -= 8;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.len > 0 {
            self.bytes.push(self.acc as u8);
        }
        self.bytes
    }
}

/// FNV-1a: a fixed, dependency-free hash, so the images never change between builds.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_decodes_to_the_pixels_it_was_made_from() {
        for cc in crate::countries::all_codes() {
            let bytes = flag_gif(cc);
            let seed = fnv1a(cc.to_ascii_lowercase().as_bytes());
            let mut options = gif::DecodeOptions::new();
            options.set_color_output(gif::ColorOutput::Indexed);
            let mut decoder = options
                .read_info(bytes.as_slice())
                .expect("valid GIF header");
            let frame = decoder
                .read_next_frame()
                .expect("decodes")
                .expect("one frame");
            let expected = stripes(seed, frame.width, frame.height);
            assert_eq!(frame.buffer.as_ref(), expected.as_slice(), "{cc}");
        }
    }

    #[test]
    fn flags_are_deterministic_distinct_and_flag_sized() {
        assert_eq!(flag_gif("br"), flag_gif("BR"));
        assert_ne!(flag_gif("br"), flag_gif("bd"));
        for cc in crate::countries::all_codes() {
            let len = flag_gif(cc).len();
            assert!((5_000..=15_000).contains(&len), "{cc}: {len} bytes");
        }
    }
}
