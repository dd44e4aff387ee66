//! Row blocks: the advantage kernels write their `(rows, cols)` outputs [`ROW_BLOCK`]
//! rows at a time (in parallel over blocks from `crate::batch::PAR_MIN` elements), into
//! outputs left uninitialised until each block is written, and merge per-block masked
//! moments (count, mean, M2) and mask checks in row order, so results do not depend on
//! the thread count.

use rayon::prelude::*;
use std::mem::MaybeUninit;

use super::Shape;
use crate::alloc;
use crate::batch::PAR_MIN;
use crate::error::CoreResult;
use crate::mask::Mask;

/// The accumulator lanes of [`Moments::of_row`]: element `i` of a row adds into lane
/// `i % SUM_LANES`, and every path (portable, AVX2, AVX-512) sums in this order.
pub(crate) const SUM_LANES: usize = 8;

/// Count, mean and sum of squared deviations of the counted elements of a run of values
/// (float64), mergeable in a fixed order so results do not depend on the thread count.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Moments {
    pub n: f64,
    pub mean: f64,
    pub m2: f64,
}

impl Moments {
    /// Two passes over one row (it sits in cache): mean, then squared deviations. Element
    /// `i` adds into lane `i % SUM_LANES` (vectorisable, the same result on every run and
    /// every path), and the lanes are summed in order.
    #[inline(always)]
    pub(crate) fn of_row<M: Mask>(x: &[f32], mask: &[M]) -> Moments {
        const LANES: usize = SUM_LANES;
        let weight = |m: M| if m.is_set() { 1.0f64 } else { 0.0 };
        let (xc, mc) = (x.chunks_exact(LANES), mask.chunks_exact(LANES));
        let (xt, mt) = (xc.remainder(), mc.remainder());
        let mut n = [0.0f64; LANES];
        let mut s = [0.0f64; LANES];
        for (xs, ms) in xc.clone().zip(mc.clone()) {
            for j in 0..LANES {
                let w = weight(ms[j]);
                n[j] += w;
                s[j] += w * f64::from(xs[j]);
            }
        }
        for (j, (&v, &m)) in xt.iter().zip(mt).enumerate() {
            let w = weight(m);
            n[j] += w;
            s[j] += w * f64::from(v);
        }
        let count: f64 = n.iter().sum();
        if count == 0.0 {
            return Moments::default();
        }
        let mean = s.iter().sum::<f64>() / count;
        let mut q = [0.0f64; LANES];
        for (xs, ms) in xc.zip(mc) {
            for j in 0..LANES {
                let d = (f64::from(xs[j]) - mean) * weight(ms[j]);
                q[j] += d * d;
            }
        }
        for (j, (&v, &m)) in xt.iter().zip(mt).enumerate() {
            let d = (f64::from(v) - mean) * weight(m);
            q[j] += d * d;
        }
        Moments {
            n: count,
            mean,
            m2: q.iter().sum(),
        }
    }

    /// Chan et al.'s pairwise merge.
    pub(crate) fn merge(self, other: Moments) -> Moments {
        if self.n == 0.0 {
            return other;
        }
        if other.n == 0.0 {
            return self;
        }
        let n = self.n + other.n;
        let d = other.mean - self.mean;
        Moments {
            n,
            mean: self.mean + d * (other.n / n),
            m2: self.m2 + other.m2 + d * d * (self.n * other.n / n),
        }
    }
}

/// Per-block result of a row kernel: the merged moments of its rows (when asked for) and
/// whether every mask element of the block was 0 or 1.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlockOut {
    pub moments: Moments,
    pub mask_ok: bool,
    /// Every output of the block is finite (checked by [`block_moments`] while the block
    /// is in cache, so that an overflow check needs no second pass when there is none).
    pub finite: bool,
    /// Every input the block's kernel read was finite (checked in the kernel's own loop;
    /// the pass that names the first bad element runs only when this is false).
    pub inputs_finite: bool,
}

impl BlockOut {
    /// No rows yet: nothing wrong seen.
    pub(crate) fn empty() -> BlockOut {
        BlockOut {
            moments: Moments::default(),
            mask_ok: true,
            finite: true,
            inputs_finite: true,
        }
    }

    pub(crate) fn merge(self, other: BlockOut) -> BlockOut {
        BlockOut {
            moments: self.moments.merge(other.moments),
            mask_ok: self.mask_ok && other.mask_ok,
            finite: self.finite && other.finite,
            inputs_finite: self.inputs_finite && other.inputs_finite,
        }
    }
}

/// Rows handled together by the row kernels: independent backward recursions interleave,
/// so the floating-point latency of one row's chain is hidden by the others.
pub(crate) const ROW_BLOCK: usize = 8;

/// A vector of `len` uninitialised slots. Outputs are built from it instead of
/// `vec![0.0; len]`: for a reused heap block the allocator would otherwise zero the
/// whole output in one extra pass over memory before the kernel writes it again. The
/// allocation is fallible: a size the machine cannot hold is an error naming `argument`.
pub(crate) fn uninit_output(argument: &str, len: usize) -> CoreResult<Vec<MaybeUninit<f32>>> {
    let mut out = alloc::output(argument, len)?;
    // SAFETY: `MaybeUninit` needs no initialisation, and the capacity is `len`.
    unsafe { out.set_len(len) };
    Ok(out)
}

/// A block whose every slot was written, as floats.
///
/// # Safety
/// Every element of `block` must be initialised.
pub(crate) unsafe fn assume_written(block: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: initialised (the caller's promise); `MaybeUninit<f32>` has the layout of `f32`.
    unsafe { &mut *(std::ptr::from_mut(block) as *mut [f32]) }
}

/// Zeroes one block of an [`uninit_output`] (while it is about to be written anyway, so
/// it stays in cache) and hands it out as initialised floats.
pub(crate) fn zeroed_block(block: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    for slot in block.iter_mut() {
        slot.write(0.0);
    }
    // SAFETY: every element was just initialised; `MaybeUninit<f32>` has the layout of `f32`.
    unsafe { &mut *(std::ptr::from_mut(block) as *mut [f32]) }
}

/// `dst = src`, initialising `dst`, with streaming (non-temporal) stores where the CPU has
/// them (SSE2 on x86_64): an output that is not read again before the kernel returns
/// goes straight to memory, where plain stores would first read each of its lines.
pub(crate) fn write_streaming(dst: &mut [MaybeUninit<f32>], src: &[f32]) {
    write_streaming_unfenced(dst, src);
    fence_streaming();
}

/// [`write_streaming`] without the fence: a kernel writing many pieces fences once, with
/// [`fence_streaming`], after the last and before its output is handed on (a fence waits
/// until every streaming store has reached memory, and one per piece of a few KiB kept the
/// stores from overlapping).
pub(crate) fn write_streaming_unfenced(dst: &mut [MaybeUninit<f32>], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "write_streaming: lengths differ");
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_loadu_ps, _mm_stream_ps};
        let d = dst.as_mut_ptr().cast::<f32>();
        // Elements until `d` is 16-byte aligned (streaming stores need it).
        let head = d.align_offset(16).min(src.len());
        let body = (src.len() - head) / 4 * 4;
        for (o, &x) in dst[..head].iter_mut().zip(&src[..head]) {
            o.write(x);
        }
        for i in (head..head + body).step_by(4) {
            // SAFETY: `i + 4 <= len` for both slices, `d + i` is 16-byte aligned, and
            // SSE2 is part of the x86_64 baseline.
            unsafe { _mm_stream_ps(d.add(i), _mm_loadu_ps(src.as_ptr().add(i))) };
        }
        for (o, &x) in dst[head + body..].iter_mut().zip(&src[head + body..]) {
            o.write(x);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    for (o, &x) in dst.iter_mut().zip(src) {
        o.write(x);
    }
}

/// Orders the streaming stores before this point ahead of every later store: they are
/// weakly ordered, and a block must be complete before it is handed on.
pub(crate) fn fence_streaming() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 fence.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}

/// The output once every slot was written (by [`zeroed_block`] or directly).
pub(crate) fn into_initialised(out: Vec<MaybeUninit<f32>>) -> Vec<f32> {
    let mut out = std::mem::ManuallyDrop::new(out);
    let (ptr, len, cap) = (out.as_mut_ptr(), out.len(), out.capacity());
    // SAFETY: callers hand the whole vector out in chunks and initialise each (through
    // `zeroed_block` or by writing every slot); the allocation is handed over unchanged.
    unsafe { Vec::from_raw_parts(ptr.cast::<f32>(), len, cap) }
}

/// Runs `kernel(first_row, out_a, out_b)` over blocks of up to [`ROW_BLOCK`] rows of two
/// fresh `(rows, cols)` outputs (in parallel above the threshold) and merges the blocks'
/// results in row order. The blocks come uninitialised (zeroing them first would be one
/// more write of every output); the kernel initialises every slot. The outputs take
/// their size from the argument `name`, which a failed allocation names.
///
/// # Safety
/// `kernel` must write every slot of both blocks it is given.
pub(crate) unsafe fn fill_blocks2(
    name: &str,
    shape: Shape,
    kernel: impl Fn(usize, &mut [MaybeUninit<f32>], &mut [MaybeUninit<f32>]) -> BlockOut + Sync,
) -> CoreResult<(Vec<f32>, Vec<f32>, BlockOut)> {
    let mut a = uninit_output(name, shape.len())?;
    let mut b = uninit_output(name, shape.len())?;
    let step = shape.cols.max(1) * ROW_BLOCK;
    let init = BlockOut::empty();
    let run = |i: usize, ra: &mut [MaybeUninit<f32>], rb: &mut [MaybeUninit<f32>]| {
        kernel(i * ROW_BLOCK, ra, rb)
    };
    let parts: Vec<BlockOut> = if a.len() >= PAR_MIN {
        a.par_chunks_mut(step)
            .zip(b.par_chunks_mut(step))
            .enumerate()
            .map(|(i, (ra, rb))| run(i, ra, rb))
            .collect()
    } else {
        a.chunks_mut(step)
            .zip(b.chunks_mut(step))
            .enumerate()
            .map(|(i, (ra, rb))| run(i, ra, rb))
            .collect()
    };
    let out = parts.into_iter().fold(init, BlockOut::merge);
    // SAFETY: the blocks cover both outputs and the kernel wrote every slot of each.
    Ok((into_initialised(a), into_initialised(b), out))
}

/// Like [`fill_blocks2`] with a single output.
///
/// # Safety
/// `kernel` must write every slot of the block it is given.
pub(crate) unsafe fn fill_blocks(
    name: &str,
    shape: Shape,
    kernel: impl Fn(usize, &mut [MaybeUninit<f32>]) -> BlockOut + Sync,
) -> CoreResult<(Vec<f32>, BlockOut)> {
    let mut a = uninit_output(name, shape.len())?;
    let step = shape.cols.max(1) * ROW_BLOCK;
    let init = BlockOut::empty();
    let run = |i: usize, ra: &mut [MaybeUninit<f32>]| kernel(i * ROW_BLOCK, ra);
    let parts: Vec<BlockOut> = if a.len() >= PAR_MIN {
        a.par_chunks_mut(step)
            .enumerate()
            .map(|(i, ra)| run(i, ra))
            .collect()
    } else {
        a.chunks_mut(step)
            .enumerate()
            .map(|(i, ra)| run(i, ra))
            .collect()
    };
    let out = parts.into_iter().fold(init, BlockOut::merge);
    Ok((into_initialised(a), out))
}

/// Moments (over the counted positions) and mask validity of every row of a block.
pub(crate) fn block_moments<M: Mask>(x: &[f32], mask: &[M], cols: usize) -> BlockOut {
    block_moments_onto(BlockOut::empty(), x, mask, cols)
}

/// [`block_moments`] continuing from `init` (the rows before these), row by row in the
/// same order as over all the rows at once, so the moments are bit-identical however the
/// rows are split.
pub(crate) fn block_moments_onto<M: Mask>(
    init: BlockOut,
    x: &[f32],
    mask: &[M],
    cols: usize,
) -> BlockOut {
    #[cfg(target_arch = "x86_64")]
    {
        if super::moments512::available() {
            // SAFETY: AVX-512 F, BW, DQ and VL were just detected.
            return unsafe { super::moments512::block_moments(init, x, mask, cols) };
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 was just detected.
            return unsafe { block_moments_avx2(init, x, mask, cols) };
        }
    }
    block_moments_with(init, x, mask, cols)
}

/// [`block_moments`] compiled for AVX2 (four float64 lanes where baseline x86_64 has
/// two). Each of the eight accumulator lanes adds in the same order on either path, so
/// the moments are bit-identical.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block_moments_avx2<M: Mask>(
    init: BlockOut,
    x: &[f32],
    mask: &[M],
    cols: usize,
) -> BlockOut {
    block_moments_with(init, x, mask, cols)
}

#[inline(always)]
pub(super) fn block_moments_with<M: Mask>(
    init: BlockOut,
    x: &[f32],
    mask: &[M],
    cols: usize,
) -> BlockOut {
    fold_rows(init, x, mask, cols, |xr, mr| {
        (
            Moments::of_row(xr, mr),
            mr.iter().fold(true, |ok, m| ok & m.is_binary()),
            xr.iter().fold(true, |ok, v| ok & v.is_finite()),
        )
    })
}

/// `init` continued with `row(x_row, mask_row)` of each row in order: its moments,
/// whether its mask is binary and whether its values are finite.
#[inline(always)]
pub(super) fn fold_rows<M: Mask>(
    init: BlockOut,
    x: &[f32],
    mask: &[M],
    cols: usize,
    mut row: impl FnMut(&[f32], &[M]) -> (Moments, bool, bool),
) -> BlockOut {
    let cols = cols.max(1);
    let mut out = init;
    for (xr, mr) in x.chunks(cols).zip(mask.chunks(cols)) {
        let (moments, mask_ok, finite) = row(xr, mr);
        out.moments = out.moments.merge(moments);
        out.mask_ok &= mask_ok;
        out.finite &= finite;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_merge_like_one_pass() {
        let x = [1.0f32, 2.0, 3.0, 100.0, 5.0, -4.0];
        let m = [true, true, true, false, true, true];
        let all = block_moments(&x, &m, 3).moments;
        let left = Moments::of_row(&x[..2], &m[..2]);
        let right = Moments::of_row(&x[2..], &m[2..]);
        let merged = left.merge(right);
        assert_eq!(all.n, 5.0);
        assert!((all.mean - 1.4).abs() < 1e-12 && (merged.mean - 1.4).abs() < 1e-12);
        let m2: f64 = [1.0, 2.0, 3.0, 5.0, -4.0]
            .iter()
            .map(|v: &f64| (v - 1.4).powi(2))
            .sum();
        assert!((all.m2 - m2).abs() < 1e-9 && (merged.m2 - m2).abs() < 1e-9);
        assert!(!block_moments(&x, &[1u8, 1, 1, 0, 2, 1], 3).mask_ok);
    }

    #[test]
    fn vector_widths_agree() {
        let n = 3 * 1031;
        let x: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 997) as f32 / 13.0 - 30.0)
            .collect();
        let m: Vec<f32> = (0..n).map(|i| f32::from(u8::from(i % 7 != 3))).collect();
        let a = block_moments(&x, &m, 1031);
        let b = block_moments_with(BlockOut::empty(), &x, &m, 1031);
        assert_eq!(a.moments, b.moments);
        assert_eq!((a.mask_ok, a.finite), (b.mask_ok, b.finite));
    }
}
