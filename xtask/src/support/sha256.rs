//! SHA-256 (FIPS 180-4) of bytes in memory: the digests of the manifests
//! and configs the tool writes (a few KiB each). Layers are hashed by
//! `sha256sum`, a step like any other program, at the speed of C.

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// `sha256:<64 lowercase hex>` of `data`, as registries name content.
pub fn digest(data: &[u8]) -> String {
    let mut h = H0;
    let bits = (data.len() as u64).wrapping_mul(8);
    let mut tail = data[data.len() - data.len() % 64..].to_vec();
    tail.push(0x80);
    while tail.len() % 64 != 56 {
        tail.push(0);
    }
    tail.extend_from_slice(&bits.to_be_bytes());
    for block in data[..data.len() - data.len() % 64]
        .chunks_exact(64)
        .chain(tail.chunks_exact(64))
    {
        compress(&mut h, block);
    }
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for word in h {
        out.push_str(&format!("{word:08x}"));
    }
    out
}

fn compress(h: &mut [u32; 8], block: &[u8]) {
    let mut w = [0u32; 64];
    for (i, word) in block.chunks_exact(4).enumerate() {
        w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
    }
    for i in 16..64 {
        let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
        let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16]
            .wrapping_add(s0)
            .wrapping_add(w[i - 7])
            .wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = *h;
    for i in 0..64 {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = hh
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(K[i])
            .wrapping_add(w[i]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        hh = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }
    for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
        *x = x.wrapping_add(y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        let cases = [
            (
                "",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                "abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
        ];
        for (input, hex) in cases {
            assert_eq!(
                digest(input.as_bytes()),
                format!("sha256:{hex}"),
                "{input:?}"
            );
        }
    }

    /// Lengths around the block and padding boundaries; the digests are
    /// coreutils' `sha256sum` of the same bytes.
    #[test]
    fn agrees_with_sha256sum_at_the_boundaries() {
        let cases = [
            (
                55,
                "81afe5b788dc2ce138ff83d9b20164db75a94d75d2b2432eea4a0ef605088c72",
            ),
            (
                56,
                "2aba54f0ac632420a2b502431408866e40e1d5e430df4cd822642c78ab2eb9c1",
            ),
            (
                57,
                "903284efbf9100e8ba1614ec65eacacad125e03f857cae7acbf8b73b23e0fdfe",
            ),
            (
                63,
                "733d3d4ee79ee67145bf73da13588f6f235d37414fc64b14a2f00f1762792f5e",
            ),
            (
                64,
                "79322907b3e9d013d7dc2c2f256674dbf733045cde01df3539271c6f5605feb8",
            ),
            (
                65,
                "d85c007c6eb440f085afa2b84f6f2bce4658b240e9f62cb1364bf0485a57e720",
            ),
            (
                119,
                "6c87eedf096b345de205b702e5223b73b447a3207791ded3ea007ba15ed6736e",
            ),
            (
                120,
                "42500cf6a1e3936d6b9e0bcfe296d654b63255e525487d3634d0b15fde591c4d",
            ),
            (
                128,
                "489d55fea9a73af36b6dd0be7b4117d8e5683386d39544e8a44c99a87f368707",
            ),
            (
                1000,
                "6b0df76627243d095b0c4400cb658b7e804dd03461cc03aee8fc8fe0bcada168",
            ),
        ];
        for (len, hex) in cases {
            let data: Vec<u8> = (0..len).map(|i| ((i * 7 + len) & 255) as u8).collect();
            assert_eq!(digest(&data), format!("sha256:{hex}"), "length {len}");
        }
    }
}
