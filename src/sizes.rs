//! Byte counts written for people: a limit as the user gave it (`10 MiB`, [`human_bytes`])
//! and a measured size rounded up (`4.1 MiB`, [`human_size`]), for the messages of the
//! download and of the files flags-dl reads.

/// A size as the user gave it: `10 MiB`, `64 KiB`, `1000 bytes`.
pub fn human_bytes(n: u64) -> String {
    if n >= 1024 * 1024 && n.is_multiple_of(1024 * 1024) {
        format!("{} MiB", n / (1024 * 1024))
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// A size as a person reads it: `1.0 GiB`, `5.0 MiB`, `900 KiB`, `12 bytes`. Rounded up,
/// so that a size past a bound never reads as the bound itself.
pub fn human_size(n: u64) -> String {
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    let tenths = |unit: u64| (n as f64 / unit as f64 * 10.0).ceil() / 10.0;
    match n {
        n if n >= GIB => format!("{:.1} GiB", tenths(GIB)),
        n if n >= MIB => format!("{:.1} MiB", tenths(MIB)),
        n if n >= KIB => format!("{} KiB", n.div_ceil(KIB)),
        n => format!("{n} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_a_person_reads_them() {
        assert_eq!(human_size(12), "12 bytes");
        assert_eq!(human_size(900 << 10), "900 KiB");
        assert_eq!(human_size(5 << 20), "5.0 MiB");
        assert_eq!(human_size((4 << 20) + 1), "4.1 MiB");
        assert_eq!(human_size(1 << 30), "1.0 GiB");
    }
}
