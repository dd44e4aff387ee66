//! Criterion benches of the pure Rust kernels (no Python): `cargo bench`.
//!
//! Sizes follow the scoring core's speed targets: GRPO on 4096 responses in 512 uneven
//! groups broadcast to (4096, 1024), GAE on (4096, 1024), exact match / token F1 on
//! 100k rows with 6.4M int32 tokens, token validation, math answers, SQuAD exact match /
//! word F1 on 100k pairs of 80-character texts, the byte tokenizer on 1M arithmetic
//! records, and the lifecycle's state transition. The side-by-side comparison with
//! baselines is `python benches/run.py`.

use std::hint::black_box;
use std::time::Duration;

use _core::advantage::{
    discounted_returns, gae, grpo_broadcast, kl_divergence, reinforce_pp, whiten, KlKind, Shape,
};
use _core::lifecycle::{Lifecycle, State};
use _core::ragged::{from_padded, to_padded, Ragged, Side};
use _core::reward::math::{math_equal, MathStyle};
use _core::reward::squad::{normalized_exact_match, word_f1};
use _core::reward::token::{exact_match, repetition_penalty, token_f1};
use _core::tokenize::ByteFrame;
use _core::validate::validate_tokens;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

/// xorshift64*: deterministic data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

const B: usize = 4096;
const T: usize = 1024;

fn advantages(c: &mut Criterion) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // 512 groups of uneven sizes (1..=15), shuffled.
    let mut ids: Vec<i64> = (0..B).map(|i| (i % 512) as i64).collect();
    for id in ids.iter_mut().skip(512) {
        *id = rng.below(512) as i64;
    }
    for i in (1..B).rev() {
        ids.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let scores: Vec<f32> = (0..B).map(|_| rng.unit()).collect();
    let lengths: Vec<usize> = (0..B).map(|_| 1 + rng.below(T as u64) as usize).collect();
    let mask: Vec<f32> = (0..B * T)
        .map(|k| f32::from(u8::from(k % T < lengths[k / T])))
        .collect();
    let rewards: Vec<f32> = (0..B * T).map(|k| (rng.unit() - 0.5) * mask[k]).collect();
    let values: Vec<f32> = (0..B * T).map(|_| rng.unit() - 0.5).collect();
    let shape = Shape::new(B, T);

    let mut g = c.benchmark_group("advantages");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements((B * T) as u64));
    g.bench_function("grpo_broadcast 4096x1024, 512 uneven groups", |b| {
        b.iter(|| grpo_broadcast(black_box(&scores), &ids, &mask, shape, true, 1e-6).unwrap())
    });
    g.bench_function("gae 4096x1024", |b| {
        b.iter(|| {
            gae(
                black_box(&rewards),
                shape,
                &values,
                shape,
                &mask,
                shape,
                1.0,
                0.95,
                true,
            )
            .unwrap()
        })
    });
    g.bench_function("discounted_returns 4096x1024", |b| {
        b.iter(|| discounted_returns(black_box(&rewards), shape, &mask, shape, 1.0).unwrap())
    });
    g.bench_function("reinforce_pp 4096x1024", |b| {
        b.iter(|| reinforce_pp(black_box(&rewards), shape, &mask, shape, 1.0).unwrap())
    });
    g.bench_function("whiten 4096x1024", |b| {
        b.iter(|| whiten(black_box(&values), shape, &mask, shape, true).unwrap())
    });
    let ref_logp: Vec<f32> = values.iter().map(|v| v - 0.25).collect();
    for (name, kind) in [
        ("kl_divergence k1 4096x1024", KlKind::K1),
        ("kl_divergence abs 4096x1024", KlKind::Abs),
        ("kl_divergence k2 4096x1024", KlKind::K2),
        ("kl_divergence k3 4096x1024", KlKind::K3),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| kl_divergence(black_box(&values), &ref_logp, shape, shape, kind).unwrap())
        });
    }
    g.finish();
}

fn tokens(c: &mut Criterion) {
    const ROWS: usize = 100_000;
    let mut rng = Rng(7);
    let mut offsets = vec![0i64];
    for _ in 0..ROWS {
        offsets.push(offsets.last().unwrap() + 32 + rng.below(65) as i64);
    }
    let n = *offsets.last().unwrap() as usize;
    let values: Vec<i32> = (0..n).map(|_| rng.below(50_000) as i32).collect();
    let mut refs = values.clone();
    for i in (0..ROWS).step_by(2) {
        let k = offsets[i] as usize;
        refs[k] = (refs[k] + 1) % 50_000;
    }
    let a = Ragged::new(&values, &offsets, "responses").unwrap();
    let r = Ragged::new(&refs, &offsets, "references").unwrap();

    let mut g = c.benchmark_group("tokens");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Bytes((2 * (n * 4 + offsets.len() * 8)) as u64));
    g.bench_function("exact_match 100k rows", |b| {
        b.iter(|| exact_match(black_box(&a), &r).unwrap())
    });
    g.bench_function("token_f1 100k rows", |b| {
        b.iter(|| token_f1(black_box(&a), &r).unwrap())
    });
    g.throughput(Throughput::Bytes((n * 4) as u64));
    g.bench_function("validate_tokens 100k rows", |b| {
        b.iter(|| validate_tokens(black_box(&a), 50_000, 1, Some(4096), 100).unwrap())
    });
    for n in [1, 3, 4, 8] {
        g.bench_function(format!("repetition_penalty n={n} 100k rows"), |b| {
            b.iter(|| repetition_penalty(black_box(&a), n, 1.0).unwrap())
        });
    }
    // The same rows over 4 ids: most n-grams repeat, every probe finds a key.
    let small: Vec<i32> = values.iter().map(|v| v % 4).collect();
    let s = Ragged::new(&small, &offsets, "responses").unwrap();
    g.bench_function("repetition_penalty n=3 100k rows, 4 ids", |b| {
        b.iter(|| repetition_penalty(black_box(&s), 3, 1.0).unwrap())
    });
    for side in [Side::Right, Side::Left] {
        g.bench_function(format!("to_padded {side:?} 100k rows"), |b| {
            b.iter(|| to_padded(black_box(&a), 0, side, None).unwrap())
        });
    }
    let padded = to_padded(&a, 0, Side::Left, None).unwrap();
    g.throughput(Throughput::Bytes((padded.ids.len() * 5) as u64));
    g.bench_function("from_padded left 100k rows", |b| {
        b.iter(|| {
            from_padded(
                black_box(&padded.ids),
                &padded.mask,
                padded.rows,
                padded.width,
            )
            .unwrap()
        })
    });
    g.finish();
}

fn math(c: &mut Criterion) {
    const N: usize = 20_000;
    let mut rng = Rng(11);
    let mut responses = Vec::with_capacity(N);
    let mut answers = Vec::with_capacity(N);
    for i in 0..N {
        let v = 1 + rng.below(5000);
        let shown = if rng.below(10) < 7 { v } else { v + 1 };
        responses.push(match i % 3 {
            0 => format!("She sold 48 + 24 = 72 clips, so the total is\n#### {shown}"),
            1 => format!("So $x = \\boxed{{\\frac{{{}}}{{4}}}}$.", shown * 4),
            _ => format!("Adding them up, the answer is {shown}."),
        });
        answers.push(v.to_string());
    }
    let resp: Vec<&str> = responses.iter().map(String::as_str).collect();
    let ans: Vec<&str> = answers.iter().map(String::as_str).collect();
    let mut g = c.benchmark_group("math");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("math_equal 20k mixed answers", |b| {
        b.iter(|| math_equal(black_box(&resp), &ans, MathStyle::Auto, Some("</think>")).unwrap())
    });
    g.finish();
}

/// The validation lifecycle's dataset pass: 1M arithmetic prompts ("123+456=") and their
/// answers through the byte tokenizer, as `check_dataset` encodes them.
fn byte_tokens(c: &mut Criterion) {
    const N: usize = 1_000_000;
    let mut rng = Rng(17);
    let (mut prompts, mut answers) = (Vec::with_capacity(N), Vec::with_capacity(N));
    for _ in 0..N {
        let (a, b) = (rng.below(1_000_000), rng.below(1_000_000));
        prompts.push(format!("{a}+{b}="));
        answers.push((a + b).to_string());
    }
    let prompts: Vec<&[u8]> = prompts.iter().map(|p| p.as_bytes()).collect();
    let answers: Vec<&[u8]> = answers.iter().map(|a| a.as_bytes()).collect();
    let prompt_frame = ByteFrame {
        prefix: b"",
        bos: Some(257),
        eos: None,
    };
    let answer_frame = ByteFrame {
        prefix: b"",
        bos: None,
        eos: Some(258),
    };
    let mut g = c.benchmark_group("byte_tokens");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("prompts + answers 1M rows", |b| {
        b.iter(|| {
            let p = prompt_frame.encode(black_box(&prompts), "texts").unwrap();
            let a = answer_frame.encode(black_box(&answers), "texts").unwrap();
            (p, a)
        })
    });
    g.finish();
}

/// SQuAD pairs as `benches/bench_text.py` makes them: 80-character windows, 40 apart, of
/// GSM8K-like working; `accent` puts an "é" in every row (the non-ASCII path).
fn squad_pairs(rows: usize, accent: bool) -> (Vec<String>, Vec<String>) {
    const FILLER: &str = "Natalia sold 48 clips in April and half as many in May, so she sold \
        48 / 2 = 24 in May. Altogether she sold 48 + 24 = 72 clips, and each clip costs 3 \
        dollars so that is 216. ";
    let mut rng = Rng(13);
    let (mut preds, mut refs) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    for _ in 0..rows {
        let body = &FILLER[..(120 + rng.below(61) as usize).min(FILLER.len())];
        let mut text = format!("{body} So the answer is {}.", 1 + rng.below(5000));
        if accent {
            text.insert(rng.below(120) as usize, 'é');
        }
        let chars: Vec<char> = text.chars().collect();
        preds.push(chars[..80].iter().collect());
        refs.push(chars[40..120.min(chars.len())].iter().collect());
    }
    (preds, refs)
}

fn text(c: &mut Criterion) {
    const ROWS: usize = 100_000;
    let mut g = c.benchmark_group("text");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(ROWS as u64));
    for accent in [false, true] {
        let (preds, refs) = squad_pairs(ROWS, accent);
        let p: Vec<&str> = preds.iter().map(String::as_str).collect();
        let r: Vec<&str> = refs.iter().map(String::as_str).collect();
        let upper: Vec<String> = preds.iter().map(|t| t.to_uppercase()).collect();
        let u: Vec<&str> = upper.iter().map(String::as_str).collect();
        let kind = if accent { "non-ASCII" } else { "ASCII" };
        g.bench_function(format!("normalized_exact_match 100k pairs {kind}"), |b| {
            b.iter(|| normalized_exact_match(black_box(&p), &r).unwrap())
        });
        // pairs equal once normalised (not byte for byte): both sides normalised in full
        g.bench_function(
            format!("normalized_exact_match 100k equal pairs {kind}"),
            |b| b.iter(|| normalized_exact_match(black_box(&p), &u).unwrap()),
        );
        g.bench_function(format!("word_f1 100k pairs {kind}"), |b| {
            b.iter(|| word_f1(black_box(&p), &r).unwrap())
        });
    }
    g.finish();
}

fn lifecycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("lifecycle");
    g.bench_function("transition created->validated", |b| {
        b.iter_batched(
            Lifecycle::new,
            |lc| {
                lc.transition(State::Validated).unwrap();
                lc
            },
            BatchSize::SmallInput,
        )
    });
    let lc = Lifecycle::new();
    g.bench_function("check (legal, no move)", |b| {
        b.iter(|| black_box(&lc).check(State::Validated))
    });
    g.finish();
}

criterion_group!(
    benches,
    advantages,
    tokens,
    math,
    text,
    byte_tokens,
    lifecycle
);
criterion_main!(benches);
