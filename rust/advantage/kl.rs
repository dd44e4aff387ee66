//! Per-token KL penalties between the policy's and a reference policy's log-probabilities,
//! as verl's `kl_penalty` (forward values).

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::blocks::{fence_streaming, write_streaming_unfenced};
use super::{
    check_finite_2d, check_grid, check_overflow, check_same_shape, into_initialised, uninit_output,
    Shape,
};
use crate::batch::PAR_MIN;
use crate::error::{CoreError, CoreResult};

/// Which estimator of KL(policy ‖ reference) to compute per token, with `d = logp - ref_logp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KlKind {
    /// `d` (verl "kl" / "k1").
    K1,
    /// `|d|` (verl "abs").
    Abs,
    /// `0.5 * d^2` (verl "mse" / "k2").
    K2,
    /// `clamp(exp(k) - k - 1, -10, 10)` with `k = clamp(-d, -20, 20)` (verl "low_var_kl" / "k3").
    K3,
}

impl KlKind {
    /// Parses verl's names: "k1"/"kl", "abs", "k2"/"mse", "k3"/"low_var_kl", each optionally
    /// with verl's "+" suffix (which only changes the gradient, not the value).
    pub fn parse(name: &str) -> CoreResult<KlKind> {
        let base = name.strip_suffix('+').unwrap_or(name);
        match base {
            "k1" | "kl" => Ok(KlKind::K1),
            "abs" => Ok(KlKind::Abs),
            "k2" | "mse" => Ok(KlKind::K2),
            "k3" | "low_var_kl" => Ok(KlKind::K3),
            _ => Err(CoreError::arg(
                "kind",
                format!(
                    "unknown KL estimator {name:?}; expected \"k1\" (\"kl\"), \"abs\", \"k2\" (\"mse\") or \"k3\" (\"low_var_kl\")"
                ),
            )),
        }
    }
}

/// `e^x` for `x` in [-20, 20] (k3 clamps its argument to that range first), to about one ulp,
/// without a libm call so that the loop around it vectorises: `e^x = 2^n * e^r` with
/// `n = round(x / ln 2)`, `r = x - n ln 2` in two parts (Cody-Waite), and Cephes' `expf`
/// polynomial for `e^r` on [-ln 2 / 2, ln 2 / 2].
fn exp_clamped(x: f32) -> f32 {
    // Adding 1.5 * 2^23 rounds to the nearest integer in the mantissa's last bits.
    const ROUND: f32 = 12_582_912.0;
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = 1.987_569_1e-4f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 0.166_666_65;
    let p = p * r + 0.5;
    let e_r = p * (r * r) + r + 1.0;
    // |n| <= 29, so 2^n is a normal float built from its exponent bits. `shifted` lies in
    // [2^23, 2^24), where its mantissa bits count whole units: they hold `ROUND + n`, so n
    // is read from the bits (integer lanes) instead of by `n as i32`, whose saturating
    // conversion the compiler cannot vectorise.
    let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let two_n = f32::from_bits(n_bits.wrapping_add(127) << 23);
    e_r * two_n
}

fn k3(logp: f32, ref_logp: f32) -> f32 {
    let k = (ref_logp - logp).clamp(-20.0, 20.0);
    ((exp_clamped(k) - k) - 1.0).clamp(-10.0, 10.0)
}

/// Elements per task of [`map2`]: large enough to amortise scheduling, small enough to
/// balance two cores.
const MAP_CHUNK: usize = 16 * 1024;

/// `f` over one chunk of both arrays into `out` (a plain indexed loop, so `f`
/// vectorises, through [`STREAM_CHUNK`] floats on the stack): whether every output, and whether every input, is finite (branch-free
/// folds in the same loop, so the inputs are checked without a pass of their own).
#[inline(always)]
fn map_chunk(
    out: &mut [MaybeUninit<f32>],
    a: &[f32],
    b: &[f32],
    f: &impl Fn(f32, f32) -> f32,
) -> (bool, bool) {
    let (mut out_ok, mut in_ok) = (true, true);
    let mut buf = [0.0f32; STREAM_CHUNK];
    for ((o, x), y) in out
        .chunks_mut(STREAM_CHUNK)
        .zip(a.chunks(STREAM_CHUNK))
        .zip(b.chunks(STREAM_CHUNK))
    {
        let buf = &mut buf[..o.len()];
        for ((slot, &p), &q) in buf.iter_mut().zip(x).zip(y) {
            let v = f(p, q);
            out_ok &= v.is_finite();
            in_ok &= p.is_finite() & q.is_finite();
            *slot = v;
        }
        write_streaming_unfenced(o, buf);
    }
    fence_streaming();
    (out_ok, in_ok)
}

/// Elements computed into a stack buffer (in L1) before they are streamed to the output:
/// the output is not read again here, and streaming stores skip reading its lines first.
const STREAM_CHUNK: usize = 1024;

/// [`map_chunk`] compiled for AVX2's eight float lanes (the wheel targets baseline x86_64,
/// whose SSE2 has four). Without fused multiply-add the operations, and so every result
/// bit, are the same as on the SSE2 path.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn map_chunk_avx2(
    out: &mut [MaybeUninit<f32>],
    a: &[f32],
    b: &[f32],
    f: &impl Fn(f32, f32) -> f32,
) -> (bool, bool) {
    map_chunk(out, a, b, f)
}

fn map_chunk_best(
    out: &mut [MaybeUninit<f32>],
    a: &[f32],
    b: &[f32],
    f: &impl Fn(f32, f32) -> f32,
) -> (bool, bool) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was just detected.
        return unsafe { map_chunk_avx2(out, a, b, f) };
    }
    map_chunk(out, a, b, f)
}

/// `f` over both arrays into one fresh output, chunk by chunk, in parallel above the
/// threshold: the output, whether all of it is finite and whether all inputs were.
fn map2(
    a: &[f32],
    b: &[f32],
    f: impl Fn(f32, f32) -> f32 + Sync + Send,
) -> CoreResult<(Vec<f32>, bool, bool)> {
    let mut out = uninit_output("logp", a.len())?;
    let both = |p: (bool, bool), q: (bool, bool)| (p.0 & q.0, p.1 & q.1);
    let (out_ok, in_ok) = if a.len() >= PAR_MIN {
        out.par_chunks_mut(MAP_CHUNK)
            .zip(a.par_chunks(MAP_CHUNK).zip(b.par_chunks(MAP_CHUNK)))
            .map(|(o, (x, y))| map_chunk_best(o, x, y, &f))
            .reduce(|| (true, true), both)
    } else {
        map_chunk_best(&mut out, a, b, &f)
    };
    // Every slot was written above: the chunks of `out` cover it.
    Ok((into_initialised(out), out_ok, in_ok))
}

/// Per-token KL estimate of `logp` against `ref_logp` (both `(rows, cols)`), see [`KlKind`].
/// Where a finite pair's estimate overflows float32 (k1's difference, k2's square near
/// float32's limits), the error names the first such position of `logp`.
pub fn kl_divergence(
    logp: &[f32],
    ref_logp: &[f32],
    shape: Shape,
    ref_shape: Shape,
    kind: KlKind,
) -> CoreResult<Vec<f32>> {
    check_grid("logp", logp, shape)?;
    check_same_shape("ref_logp", ref_shape, "logp", shape)?;
    check_grid("ref_logp", ref_logp, ref_shape)?;
    // One loop per kind: the choice is made once, not per element.
    let (out, finite, inputs_finite) = match kind {
        KlKind::K1 => map2(logp, ref_logp, |a, b| a - b),
        KlKind::Abs => map2(logp, ref_logp, |a, b| (a - b).abs()),
        KlKind::K2 => map2(logp, ref_logp, |a, b| {
            let d = a - b;
            0.5 * (d * d)
        }),
        KlKind::K3 => map2(logp, ref_logp, k3),
    }?;
    if !inputs_finite {
        check_finite_2d("logp", logp, shape)?;
        check_finite_2d("ref_logp", ref_logp, shape)?;
    }
    // k1's difference and k2's square of finite inputs can still overflow float32 (k3 is
    // clamped); the position is looked for only then.
    if !finite {
        check_overflow("logp", &out, shape, "the KL estimate")?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_names_the_position() {
        let s = Shape::new(1, 2);
        let (a, b) = ([0.0f32, f32::MAX], [0.0f32, -f32::MAX]);
        let e = kl_divergence(&a, &b, s, s, KlKind::K1).unwrap_err();
        assert_eq!(
            e.message,
            "logp[0, 1] (flat index 1): the KL estimate overflows float32 (inf)"
        );
        let (a, b) = ([0.0f32, 1e20], [0.0f32, 0.0]);
        assert!(kl_divergence(&a, &b, s, s, KlKind::K2).is_err());
        assert!(kl_divergence(&a, &b, s, s, KlKind::K3).is_ok());
    }

    #[test]
    fn names_and_values() {
        assert_eq!(KlKind::parse("low_var_kl").unwrap(), KlKind::K3);
        assert_eq!(KlKind::parse("k1+").unwrap(), KlKind::K1);
        assert_eq!(KlKind::parse("mse").unwrap(), KlKind::K2);
        let err = KlKind::parse("full").unwrap_err();
        assert!(err.message.starts_with("kind:"));
        let s = Shape::new(1, 3);
        let lp = [-1.0f32, -2.0, -0.5];
        let rp = [-1.5f32, -1.0, -0.5];
        assert_eq!(
            kl_divergence(&lp, &rp, s, s, KlKind::K1).unwrap(),
            vec![0.5, -1.0, 0.0]
        );
        assert_eq!(
            kl_divergence(&lp, &rp, s, s, KlKind::Abs).unwrap(),
            vec![0.5, 1.0, 0.0]
        );
        assert_eq!(
            kl_divergence(&lp, &rp, s, s, KlKind::K2).unwrap(),
            vec![0.125, 0.5, 0.0]
        );
        let k3 = kl_divergence(&lp, &rp, s, s, KlKind::K3).unwrap();
        let want = |d: f64| ((-d).exp() + d - 1.0) as f32;
        assert!((k3[0] - want(0.5)).abs() < 1e-6 && (k3[1] - want(-1.0)).abs() < 1e-6);
        assert_eq!(k3[2], 0.0);
    }

    #[test]
    fn k3_clamps_like_verl() {
        let s = Shape::new(1, 2);
        let out = kl_divergence(&[-100.0, 0.0], &[0.0, -100.0], s, s, KlKind::K3).unwrap();
        // exp(20) - 21 and exp(-20) + 19 (k clamped to +-20), both clamped to 10.
        assert_eq!(out, vec![10.0, 10.0]);
        let out = kl_divergence(&[-1.0, -3.0], &[-3.0, -1.0], s, s, KlKind::K3).unwrap();
        assert!((out[0] - ((-2.0f64).exp() + 1.0) as f32).abs() < 1e-6);
        assert!((out[1] - (2.0f64.exp() - 3.0) as f32).abs() < 1e-6);
    }

    #[test]
    fn exp_matches_libm_over_the_clamped_range() {
        let mut worst = 0.0f64;
        for i in 0..=400_000 {
            let x = -20.0f32 + 40.0 * (i as f32) / 400_000.0;
            let want = f64::from(x).exp();
            let rel = ((f64::from(exp_clamped(x)) - want) / want).abs();
            worst = worst.max(rel);
        }
        // Two float32 ulps (2^-23 each, relative).
        assert!(worst < 2.0 * f64::from(f32::EPSILON), "{worst}");
        assert_eq!(exp_clamped(0.0), 1.0);
        // The exponent read from the bits is the rounded `x / ln 2` at every step.
        for i in 0..=40_000 {
            let x = -20.0f32 + 40.0 * (i as f32) / 40_000.0;
            let n = (x * std::f32::consts::LOG2_E).round_ties_even();
            let want = f32::from_bits(((n as i32 + 127) as u32) << 23);
            let got = exp_clamped(x) / want;
            assert!((0.7..1.42).contains(&got), "{x}: {got}");
        }
    }

    #[test]
    fn rejects_bad_input() {
        let s = Shape::new(1, 2);
        let t = Shape::new(2, 1);
        assert!(kl_divergence(&[0.0, 0.0], &[0.0, 0.0], s, t, KlKind::K1).is_err());
        let err =
            kl_divergence(&[0.0, f32::NEG_INFINITY], &[0.0, 0.0], s, s, KlKind::K1).unwrap_err();
        assert!(err.message.starts_with("logp[0, 1]"), "{}", err.message);
        // The first bad element of logp is named before any of ref_logp, wherever it is.
        let n = 3 * MAP_CHUNK + 5;
        let s = Shape::new(1, n);
        for kind in [KlKind::K1, KlKind::Abs, KlKind::K2, KlKind::K3] {
            let (mut a, mut b) = (vec![-1.0f32; n], vec![-2.0f32; n]);
            b[7] = f32::NAN;
            a[n - 1] = f32::INFINITY;
            let err = kl_divergence(&a, &b, s, s, kind).unwrap_err();
            assert!(
                err.message.starts_with(&format!("logp[0, {}]", n - 1)),
                "{}",
                err.message
            );
            a[n - 1] = -1.0;
            let err = kl_divergence(&a, &b, s, s, kind).unwrap_err();
            assert!(err.message.starts_with("ref_logp[0, 7]"), "{}", err.message);
        }
    }

    /// The AVX2 and the baseline loops give the same bits.
    #[test]
    fn vector_widths_agree() {
        let n = 10_007;
        let a: Vec<f32> = (0..n)
            .map(|i| -(((i * 7919) % 1000) as f32) / 37.0)
            .collect();
        let b: Vec<f32> = (0..n)
            .map(|i| -(((i * 104_729) % 1000) as f32) / 41.0)
            .collect();
        let mut o1 = vec![MaybeUninit::new(0.0f32); n];
        let mut o2 = o1.clone();
        let r1 = map_chunk(&mut o1, &a, &b, &k3);
        let r2 = map_chunk_best(&mut o2, &a, &b, &k3);
        assert_eq!(r1, r2);
        // SAFETY: both were fully written.
        let bits = |o: &[MaybeUninit<f32>]| {
            o.iter()
                .map(|x| unsafe { x.assume_init() }.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&o1), bits(&o2));
    }
}
