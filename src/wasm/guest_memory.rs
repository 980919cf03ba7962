//! Checks on what a guest hands a host function. Every pointer, length and count read
//! from a guest is hostile until one of these says it fits: host functions call them
//! before allocating or copying anything, and answer a misfit with an errno.

/// `count` items of `item_size` bytes at guest address `at`, if all of them lie inside a
/// memory of `memory_size` bytes. No arithmetic here can overflow, whatever the inputs.
pub fn array(
    memory_size: usize,
    at: u32,
    count: u32,
    item_size: usize,
) -> Option<std::ops::Range<usize>> {
    let len = (count as u64).checked_mul(item_size as u64)?;
    let end = (at as u64).checked_add(len)?;
    (end <= memory_size as u64).then_some(at as usize..end as usize)
}

#[cfg(test)]
mod tests {
    use super::array;

    #[test]
    fn ranges_inside_memory_fit_and_every_other_one_is_refused() {
        assert_eq!(array(65536, 0, 1, 48), Some(0..48));
        assert_eq!(array(65536, 65536 - 48, 1, 48), Some(65488..65536));
        assert_eq!(array(65536, 65536 - 47, 1, 48), None);
        assert_eq!(array(65536, 0, 0x7fff_ffff, 48), None);
        assert_eq!(array(65536, u32::MAX, u32::MAX, usize::MAX), None);
        assert_eq!(array(0, 0, 0, 48), Some(0..0));
    }
}
