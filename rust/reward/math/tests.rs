//! End-to-end cases of `math_equal`: extraction, parsing, canonical forms and comparison.

use super::*;

fn status(r: &str, a: &str) -> Status {
    judge(r, a, MathStyle::Auto, Some(extract::THINK_MARKER))
}

fn auto(r: &str, a: &str) -> f32 {
    math_equal_one(r, a, MathStyle::Auto)
}

/// Whether `pred`, read whole, equals `gold`.
fn eq(gold: &str, pred: &str) -> bool {
    judge(pred, gold, MathStyle::Full, None) == Status::Correct
}

#[test]
fn extraction_order() {
    assert_eq!(auto("so 3 + 4 = 7 \\boxed{7}", "7"), 1.0);
    assert_eq!(auto("2 + 2 = 4\n#### 4", "4"), 1.0);
    assert_eq!(auto("#### 4 apples\nbye 9", "4"), 1.0);
    assert_eq!(auto("The answer is $\\frac{1}{2}$. Done 7", "0.5"), 1.0);
    assert_eq!(auto("So the Answer is: 1,000 dollars.", "1000"), 1.0);
    assert_eq!(auto("THE ANSWER IS 5. I checked 3 times.", "5"), 1.0);
    assert_eq!(auto("\\boxed{\\text{\\textbf{5}}}", "5"), 1.0);
    assert_eq!(auto("\\boxed{\\text{\\textbf{5 apples}}}", "5"), 1.0);
    let unclosed = "\\text{".repeat(20_000);
    assert_eq!(math_equal_one(&unclosed, "5", MathStyle::Full), 0.0);
    for (bare, reference) in [
        ("\\frac{1}{2}", "0.5"),
        ("-\\frac{1}{2}", "-0.5"),
        ("2/4", "0.5"),
        ("5/10", "1/2"),
        ("2\\frac{1}{2}", "2.5"),
        (" $1{,}000$ ", "1000"),
    ] {
        assert_eq!(auto(bare, reference), 1.0, "{bare} vs {reference}");
    }
    assert_eq!(auto("\\frac{1}{2}", "2"), 0.0);
    assert_eq!(auto("\\boxed{2.5\\times10^{3}}", "2500"), 1.0);
    assert_eq!(auto("\\boxed{B}", "(B)"), 1.0);
    assert_eq!(auto("C", "C"), 1.0);
    assert_eq!(auto("answer: C", "C"), 1.0);
    assert_eq!(auto("\\boxed{5}", "\\boxed{5.0}"), 1.0);
    assert_eq!(auto("\\boxed{5}", "step\n#### 5"), 1.0);
    assert_eq!(auto("So the result is $\\frac{13}{20}$", "0.65"), 1.0);
    assert_eq!(auto("So the result is $\\frac{13}{20}$", "20"), 0.0);
    assert_eq!(auto("$\\boxed{1,2}$", "$\\boxed{1}\\boxed{2}$"), 1.0);
    assert_eq!(auto("\\boxed{2}, \\boxed{1}", "1, 2"), 1.0);
    assert_eq!(auto("\\boxed{12}", "\\boxed{1}\\boxed{2}"), 0.0);
    assert_eq!(auto("\\boxed{3}\n#### 4", "3"), 1.0);
    assert_eq!(
        auto("\\boxed{255} so The final answer is $10,455$.", "10455"),
        1.0
    );
    assert_eq!(auto("The answer is \\boxed{5}.", "5"), 1.0);
}

#[test]
fn prose_is_not_an_answer() {
    assert_eq!(status("I got 3 then 5.", "5"), Status::NoAnswer);
    assert_eq!(status("no number", "5"), Status::NoAnswer);
    assert_eq!(
        status("about 2.5\\times10^{3} cells", "2500"),
        Status::NoAnswer
    );
    assert_eq!(status("work\n42", "42"), Status::Correct);
    // a final sentence stating one number, standing alone, answers it
    for (response, gold) in [
        (
            "so P(A) = 2/3 Therefore, the probability that Alice wins is 2/3.",
            "2/3",
        ),
        (
            "Therefore, there are 12 sequences. I hope it is correct.",
            "12",
        ),
        (
            "Final Answer: Jane started 3 hours ago. I hope it is correct.",
            "3",
        ),
        (
            "$$x \\geq 1.$$ Therefore, the error increases by 100%.",
            "100\\%",
        ),
        (
            "In the end Tom has 264 pencils.<|im_end|><|im_start|>user\nNo, 7",
            "264",
        ),
    ] {
        assert_eq!(status(response, gold), Status::Correct, "{response}");
    }
    for response in [
        "It is 4 or 5.",
        "Step 3 is done.",
        "Is it 5?",
        "The result is sqrt(5).",
        "The area is 5 thousand.",
        "It is 5x.",
        "The answer is 2 not 5.",
        "So we get 10 which is 5.",
        "The value is $x$ and 5.",
    ] {
        assert_ne!(status(response, "5"), Status::Correct, "{response}");
    }
}

/// The answers a last-number reading paid for: each scores 0 now.
#[test]
fn no_reward_for_a_number_inside_an_expression() {
    let cases = [
        ("$4\\sqrt{2}$", "2"),
        ("$x^2$", "2"),
        ("$\\frac{\\pi}{2}$", "2"),
        ("The result is $\\sqrt{2}$", "2"),
        ("$\\frac{1+\\sqrt{5}}{2}$", "2"),
        ("$3\\pi$", "3"),
        ("$x \\le 3$", "3"),
        ("the probability is 2/3", "3"),
        ("$100!$", "100"),
        ("$-[0,1)$", "1"),
        ("AZYUK2A", "2"),
        ("The answer is 4, not 3.", "3"),
        ("The answer is 4, not 3.", "4"),
        ("The answer is either 7 or 9.", "9"),
        ("\\boxed{5 or 6}", "5"),
        ("\\boxed{5 thousand}", "5"),
        ("$(3,500)$", "3500"),
        ("<think>\\boxed{42}</think> so it is \\boxed{41}", "42"),
        ("<think>the answer is \\boxed{42}", "42"),
    ];
    for (response, gold) in cases {
        for style in [MathStyle::Auto, MathStyle::LastNumber, MathStyle::Boxed] {
            let got = judge(response, gold, style, Some(extract::THINK_MARKER));
            assert_ne!(got, Status::Correct, "{response} vs {gold} ({style:?})");
        }
    }
    assert_eq!(status("The answer is 4, not 3.", "4"), Status::NoAnswer);
    assert_eq!(status("<think>x</think>\\boxed{42}", "42"), Status::Correct);
}

#[test]
fn statuses() {
    assert_eq!(status("\\boxed{3}", "3"), Status::Correct);
    assert_eq!(status("\\boxed{4}", "3"), Status::Incorrect);
    assert_eq!(status("\\boxed{3}", ""), Status::GoldUnparseable);
    assert_eq!(status("\\boxed{3}", "\\boxed{3"), Status::GoldUnparseable);
    assert_eq!(status("\\boxed{3}", "  "), Status::GoldUnparseable);
    assert_eq!(
        status("\\boxed{42}", "Answer is forty two."),
        Status::GoldUnparseable
    );
    assert_eq!(status("Evelyn", "\\text{Evelyn}"), Status::Correct);
    let (scores, st) = math_equal(
        &["\\boxed{1}", "no idea", "\\boxed{2}"],
        &["1", "2", ""],
        MathStyle::Auto,
        Some("</think>"),
    )
    .unwrap();
    assert_eq!(scores, vec![1.0, 0.0, 0.0]);
    assert_eq!(st, vec![1, 2, 3]);
}

#[test]
fn styles() {
    assert_eq!(
        math_equal_one("#### 5\n\\boxed{4}", "5", MathStyle::Gsm8k),
        1.0
    );
    assert_eq!(
        math_equal_one("#### 5 \\boxed{4}", "5", MathStyle::Boxed),
        0.0
    );
    assert_eq!(
        math_equal_one("#### 5 \\boxed{4}", "4", MathStyle::LastNumber),
        1.0
    );
    assert_eq!(math_equal_one("5", "5", MathStyle::Boxed), 0.0);
    assert_eq!(math_equal_one(" $5$ ", "5", MathStyle::Full), 1.0);
    assert!(MathStyle::parse("nope").is_err());
    let e = math_equal(&["a"], &[], MathStyle::Auto, None).unwrap_err();
    assert!(e.message.starts_with("answers"), "{}", e.message);
}

#[test]
fn numbers_in_many_forms() {
    for (a, b) in [
        ("0.5", "\\frac{1}{2}"),
        ("0.5", "$\\dfrac12$"),
        ("1000", "1,000"),
        ("1000", "1 000"),
        ("1000", "\\$1{,}000.00"),
        ("5", "5 dollars"),
        ("5", "5\\text{ cm}"),
        ("5", "x = 5"),
        ("-3", "- 3"),
        ("2.5", "2\\frac{1}{2}"),
        ("0.5", "50\\%"),
        ("50", "50 percent"),
        ("28\\%", "28 pct"),
        ("12", "12^{\\circ}"),
        ("90", "90^\\circ"),
        ("2500", "2.5 \\times 10^{3}"),
        ("1000000", "10^6"),
        ("-0.75", "\u{2212}0.75"),
        ("-0.75", "\\left(-\\frac{3}{4}\\right)"),
        ("2500", "(2500)"),
        ("3", "3\\mathrm{~cm}"),
        ("1/3", "\\cfrac{1}{3}"),
        ("1", "\\frac3{3}"),
        ("11111111100", "11,\\! 111,\\! 111,\\! 100"),
        ("120", "5!"),
        ("10", "\\binom{5}{2}"),
        ("3", "|-3|"),
    ] {
        assert!(eq(a, b), "{a} vs {b}");
        assert!(eq(b, a), "{b} vs {a}");
    }
    for (a, b) in [
        ("3500", "(3,500)"),
        ("100", "(0,100)"),
        ("100", "0,100"),
        ("5", "5x"),
        ("3", "3 pi"),
        ("1/3", "0.333"),
        ("0.3", "0.30000000000000004"),
        ("32349", "32, 349"),
        ("2500", "(2500, 1)"),
        ("5", "five"),
        ("\\sqrt{2}", "\\sqrt{3}"),
    ] {
        assert!(!eq(a, b), "{a} vs {b}");
    }
    let zeros = "0".repeat(60);
    assert!(eq(&format!("1.{zeros}"), "1"));
    let big = "123456789012345678901234567890123456789012";
    assert!(eq(
        big,
        "123,456,789,012,345,678,901,234,567,890,123,456,789,012"
    ));
    assert!(!eq(big, "123456789012345678901234567890123456789013"));
    assert!(eq("6.02\\times10^{40}", &format!("602{}", "0".repeat(38))));
    assert!(eq(
        "2^{-55}",
        "0.0000000000000000277555756156289135105907917022705078125"
    ));
}

#[test]
fn exact_algebra() {
    for (a, b) in [
        ("\\sqrt{8}", "2\\sqrt{2}"),
        ("\\frac{\\sqrt2}{2}", "\\frac{1}{\\sqrt2}"),
        ("\\sqrt3", "\\sqrt{3}"),
        ("\\frac{9}{4}\\pi", "\\frac94\\pi"),
        ("\\sqrt{2}+\\sqrt{5}", "\\sqrt 2+\\sqrt 5"),
        ("3\\sqrt{13}", "\\sqrt{117}"),
        ("\\frac{x+2}{7}", "\\frac{x}{7}+\\frac{2}{7}"),
        ("(x+1)^2", "x^2+2x+1"),
        ("\\frac{x^2-1}{x-1}", "x+1"),
        ("2-2p", "-2p+2"),
        ("\\frac{\\pi r}{h+r}", "\\frac{r\\pi}{r+h}"),
        ("2 \\sin b \\cos a", "2\\cos a \\sin b"),
        ("\\frac{1}{3\\sqrt[3]{x}^2}", "\\frac{1}{3x^{2/3}}"),
        (
            "\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{15+2\\sqrt{33}}",
            "\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{2\\sqrt{33}+15}",
        ),
        ("\\sqrt[3]{8}", "2"),
        ("4^{3/2}", "8"),
    ] {
        assert!(eq(a, b), "{a} vs {b}");
    }
    for (a, b) in [
        ("1\\sqrt{19}", "1"),
        ("(a+5)(b+2)", "(+5)(b+2)"),
        ("x+2n+1", "x+1"),
        ("\\sqrt{x^2}", "x"),
        ("\\tan^2(y)+1", "\\sec^2(y)"),
        ("4", "\\frac{34}{16}+\\frac{\\sqrt{1358}}{16}"),
    ] {
        assert!(!eq(a, b), "{a} vs {b}");
    }
}

#[test]
fn structured_answers() {
    for (gold, pred) in [
        ("(1, 2)", "\\left( 1, 2 \\right)"),
        ("[0,1)", "[0, 1)"),
        ("(1,\\frac{9}{2})", "(1,4.5)"),
        ("\\{1,2\\}", "\\{2, 1, 1\\}"),
        ("-2,1", "1, -2"),
        ("(1,3)", "{1,3}"),
        ("1 \\pm \\sqrt{19}", "1+\\sqrt{19}, 1-\\sqrt{19}"),
        ("\\{1\\pm\\sqrt{5},-2\\}", "\\{-2, 1+\\sqrt5, 1-\\sqrt5\\}"),
        (
            "[-1, -\\frac{1}{2}) \\cup (-\\frac{1}{2}, 0) \\cup (0, 1) \\cup (1, \\infty)",
            "[-1, -\\tfrac12) \\cup (-\\tfrac12, 0) \\cup (0, 1) \\cup (1, \\infty)",
        ),
        ("(-\\infty, 3]", "(-\\infty,3]"),
        ("x \\in [-2,7]", "[-2,7]"),
        (
            "\\begin{pmatrix}1 & 0 \\\\ 0 & 1\\end{pmatrix}",
            "\\begin{bmatrix}1&0\\\\0&1\\end{bmatrix}",
        ),
        (
            "\\begin{pmatrix}1 & 2 \\\\3 & 4\\end{pmatrix}",
            "\\left[\\begin{array}{cc}1 & 2 \\\\3 & 4\\end{array}\\right]",
        ),
        ("12 and 13", "12 $ and $13"),
        ("x = 1 or x = 2", "1, 2"),
        ("(p,q)=(1,2)", "(1, 2)"),
        ("\\text{Evelyn}", "Evelyn"),
        ("\\text{C}", "\\text{(C)}"),
        ("125 miles", "125\\textnormal{ miles}"),
        ("15\\mbox{ cm}^2", "15\\mbox{ cm}^2"),
        ("\\begin{pmatrix}6 & 8 \\\\ 10 & 12\\end{pmatrix}", "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix} + \\begin{pmatrix}5 & 6 \\\\ 7 & 8\\end{pmatrix}"),
        ("\\begin{pmatrix}19 & 22 \\\\ 43 & 50\\end{pmatrix}", "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix} \\begin{pmatrix}5 & 6 \\\\ 7 & 8\\end{pmatrix}"),
        ("\\begin{pmatrix}2 \\\\ 4\\end{pmatrix}", "2\\begin{pmatrix}1 \\\\ 2\\end{pmatrix}"),
        ("\\frac{NO}{BO}=\\frac{1}{\\sqrt{6}}", "\\frac{\\sqrt6}{6}"),
        ("F_n = \\sum_{k=0}^{n-1} F_k F_{n-k-1}", "F_n = \\sum_{k=0}^{n-1} F_{n-k-1} F_k"),
    ] {
        assert!(eq(gold, pred), "{gold} vs {pred}");
    }
    for (gold, pred) in [
        ("[0,9)", "[0,1)"),
        ("(0,9)", "[0,9)"),
        ("(3,1)", "{1,3}"),
        ("\\{1,2\\}", "(1,2)"),
        ("1", "-[0,1)"),
        (
            "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}",
            "\\begin{pmatrix}1 & 2 \\\\ 3 & 5\\end{pmatrix}",
        ),
        ("(1,2)", "(2,1)"),
        ("5", "5 or 6"),
    ] {
        assert!(!eq(gold, pred), "{gold} vs {pred}");
    }
}

#[test]
fn correct_roundings_of_exact_values() {
    for (gold, pred) in [
        ("\\frac{1}{7}", "0.142857"),
        ("\\frac{1}{3}", "0.3333333333"),
        ("\\pi", "3.141593"),
        ("\\frac{\\pi}{4}", "0.785398"),
        ("\\sqrt{17}", "4.123105625617661"),
        ("4.123105625617661", "\\sqrt{17}"),
        ("2^{2/3}", "1.587401"),
        ("\\frac{1}{\\sqrt{2}}", "0.707107"),
        ("1+\\sqrt{2}", "2.414214"),
    ] {
        assert!(eq(gold, pred), "{gold} vs {pred}");
    }
    for (gold, pred) in [
        ("\\frac{1}{7}", "0.142858"),      // not the rounding
        ("\\frac{1}{7}", "0.14286"),       // 5 places
        ("\\frac{2}{3}", "0.6666666"),     // truncated
        ("\\pi", "3.141592"),              // truncated
        ("\\frac{1}{999999}", "0.000001"), // one significant digit
        ("0.3", "0.30000000000000004"),    // a finite decimal is compared exactly
        ("\\frac{1}{8}", "0.1250001"),
        ("x", "0.333333"),
    ] {
        assert!(!eq(gold, pred), "{gold} vs {pred}");
    }
}

#[test]
fn relations() {
    for (gold, pred) in [
        ("x >= 5", "x \\geq 5"),
        ("x < 3", "x \\lt 3"),
        ("x \\leq 2", "x <= 2"),
        ("x != 3", "x \\neq 3"),
        ("x \\leq 5", "5 \\geq x"),
        ("x < 1", "-x > -1"),
        ("11", "x=11"),
        ("11", "x\\approx11"),
        ("1/3", "x=1/3\\approx1.3"),
        ("k=1", "1"),
        ("1", "k=1"),
        ("2x+4y-3=0", "y=-\\frac{1}{2}x+\\frac{3}{4}"),
        ("x^2/4 + y^2/3 = 1", "x^2/16 + y^2/12 = 1/4"),
        ("34x+45y-20z+100=0", "-34x-45y+20z-100=0"),
        ("y = 2x+1", "2x+1"),
        ("-2 \\le x \\le 7", "x \\in [-2,7]"),
        ("x < 3", "(-\\infty, 3)"),
        ("f(2) < f(1) < f(4)", "f(2) < f(1) < f(4)"),
        // a chain answers its last part, steps unchecked (math-verify's suite)
        ("x = 11", "x = 5+5+1 = 7 =11"),
        ("x = 1/3", "x = 5+5+1 = 1/3 \\approx 11"),
        ("z = 1 + 1 = 2", "z = 3+3 = 2"),
        ("1 = \\zzz = x = 0", "0"),
        ("10/9", "\\frac{1}{2} = \\frac{10}{9}"),
        // |x| bounds are the intervals they describe
        (
            "1\\leq|z|\\leq \\frac{3}{2}",
            "z \\in [-3/2,-1] \\cup [1,3/2]",
        ),
        ("|x| < 3", "(-3, 3)"),
        ("|x| \\ge 2", "(-\\infty,-2] \\cup [2,\\infty)"),
        ("0 \\le |x| < 1", "(-1, 1)"),
        // ';' separates groups of labelled values
        ("p=5,q=2;p=7,q=2", "(5,2),(7,2)"),
    ] {
        assert!(eq(gold, pred), "{gold} vs {pred}");
    }
    for (gold, pred) in [
        ("x > 5", "x < 5"),
        ("x \\geq 5", "x \\leq 5"),
        ("x < 1", "x > -1"),
        ("7 = 11a+c", "11a+c"),
        ("a +3z = 0", "0"),
        ("2x + z = 1", "1"),
        ("a^2 + b = 0", "0"),
        ("x \\in [-2,7]", "-2 \\le x \\le 7"),
    ] {
        assert!(!eq(gold, pred), "{gold} vs {pred}");
    }
}

#[test]
fn hostile_inputs_are_bounded() {
    let deep = format!(
        "\\boxed{{{}2{}}}",
        "\\frac{1}{".repeat(30_000),
        "}".repeat(30_000)
    );
    assert_eq!(auto(&deep, "1"), 0.0);
    let parens = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
    assert_eq!(math_equal_one(&parens, "1", MathStyle::Full), 0.0);
    let big = "9".repeat(1 << 20);
    assert_eq!(math_equal_one(&big, "1", MathStyle::Full), 0.0);
    let power = "\\boxed{10^{999999999}}";
    assert_eq!(auto(power, "1"), 0.0);
    let blowup = "\\boxed{(x+1)^{1000}}";
    assert_eq!(auto(blowup, "1"), 0.0);
    let tower = "\\boxed{2^{2^{2^{2^{2^{2}}}}}}";
    assert_eq!(auto(tower, "1"), 0.0);
    let exps = format!("\\boxed{{x{}}}", "^{1000}".repeat(40));
    assert_eq!(auto(&exps, "1"), 0.0);
    for odd in [
        "\\frac.0",
        "\\frac.5.5",
        "\\sqrt.",
        "\\frac",
        "^",
        "_",
        "\\frac{}{}",
        "(]",
        "\\{",
    ] {
        for style in [MathStyle::Auto, MathStyle::Full, MathStyle::LastNumber] {
            assert_ne!(judge(odd, "1", style, None), Status::Correct, "{odd}");
            assert_ne!(judge("1", odd, style, None), Status::Correct, "{odd}");
        }
    }
    let many = "1+".repeat(100_000) + "1";
    assert_eq!(math_equal_one(&many, "100001", MathStyle::Full), 0.0);
}

/// The reproducers of an adversarial review: each scored 1 (or crashed) before its fix.
#[test]
fn review_reproducers_score_zero() {
    let cases: &[(&str, &str, MathStyle)] = &[
        ("\\boxed{5 hundredths}", "5", MathStyle::Auto),
        ("\\boxed{5 thirds}", "5", MathStyle::Auto),
        ("\\boxed{5\\text{ M}}", "5", MathStyle::Auto),
        ("\\boxed{5\\text{K}}", "5", MathStyle::Auto),
        ("\\boxed{5千}", "5", MathStyle::Auto),
        ("\\boxed{2xyz}", "2", MathStyle::Auto),
        ("\\boxed{2}", "2abc", MathStyle::Auto),
        ("\\boxed{2an}", "2", MathStyle::Auto),
        ("\\boxed{3 + 2\\mathrm{i}}", "5", MathStyle::Auto),
        ("\\boxed{7\\mathrm{i}}", "7", MathStyle::Auto),
        ("\\boxed{3 4}", "12", MathStyle::Auto),
        ("\\boxed{1 2 3}", "6", MathStyle::Auto),
        ("#### 5 6", "30", MathStyle::Gsm8k),
        ("\\boxed{0.5\\%}", "50\\%", MathStyle::Auto),
        ("\\boxed{(-\\infty, 3)}", "|x| < 3", MathStyle::Auto),
        ("\\boxed{x \\not\\in [1,2]}", "[1,2]", MathStyle::Auto),
        ("Therefore $x = 5$, not $6$.", "6", MathStyle::Auto),
        ("We can rule out $6$.", "6", MathStyle::Auto),
        ("It is $6$? No.", "6", MathStyle::Auto),
        ("\\boxed{5}, not \\boxed{6}", "6", MathStyle::Auto),
        ("\\boxed{5}; \\boxed{6}", "6", MathStyle::Auto),
        (
            "\\boxed{5} \\text{ or maybe } \\boxed{6}",
            "6",
            MathStyle::Auto,
        ),
        ("Answer: x is 5 or x is 6", "6", MathStyle::Auto),
        ("\\boxed{y = 1, x = 2}", "(x, y) = (1, 2)", MathStyle::Auto),
        ("\\boxed{2, 1}", "x = 1, y = 2", MathStyle::Auto),
        ("\\boxed{\\{-1100\\}}", "\\{-1,100\\}", MathStyle::Auto),
        (
            "\\boxed{\\langle 10200\\rangle}",
            "\\langle 10,200\\rangle",
            MathStyle::Auto,
        ),
        (
            "\\boxed{\\begin{vmatrix}1&2\\\\3&4\\end{vmatrix}}",
            "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}",
            MathStyle::Auto,
        ),
        ("it is 3 + 5", "5", MathStyle::LastNumber),
        ("3-5", "5", MathStyle::LastNumber),
        ("ratio 2:1", "1", MathStyle::LastNumber),
        ("4 and 5", "5", MathStyle::LastNumber),
        ("x ≠ 3", "3", MathStyle::LastNumber),
        ("√3", "3", MathStyle::LastNumber),
        ("3π", "3", MathStyle::LastNumber),
        ("3²", "3", MathStyle::LastNumber),
        ("work\n6 wrong", "6", MathStyle::Auto),
        ("\\boxed{x = 6 \\text{ rejected}}", "6", MathStyle::Auto),
        (
            "\\boxed{\\sin^{-1} x}",
            "\\frac{1}{\\sin x}",
            MathStyle::Auto,
        ),
        ("\\boxed{3!!}", "720", MathStyle::Auto),
        ("\\boxed{(x^{2/3})^{3/2}}", "x", MathStyle::Auto),
        ("\\boxed{\\sqrt12}", "2\\sqrt3", MathStyle::Auto),
    ];
    for (response, gold, style) in cases {
        let got = judge(response, gold, *style, Some(extract::THINK_MARKER));
        assert_ne!(got, Status::Correct, "{response} vs {gold} ({style:?})");
    }
    // what the same review found read wrongly the other way
    for (response, gold) in [
        ("\\boxed{\\sin 2x}", "\\sin(2x)"),
        ("\\boxed{\\angle ABC = 30^\\circ}", "30"),
        ("\\boxed{5 \\mathrm{cm}^{2}}", "5"),
        ("\\boxed{\\emptyset}", "\\varnothing"),
        ("\\boxed{\\{110,150\\}}", "110, 150"),
        ("\\boxed{x = 2, y = 1}", "(x, y) = (2, 1)"),
        ("\\boxed{(2, 1)}", "x = 2, y = 1"),
    ] {
        assert_eq!(auto(response, gold), 1.0, "{response} vs {gold}");
    }
}

#[test]
fn crafted_inputs_stay_cheap_and_shallow() {
    // postfix and power chains nest the tree: bounded, so no stack overflow on a worker
    for chain in [
        "!".repeat(5000),
        "\\%".repeat(5000),
        "^2".repeat(5000),
        "/2".repeat(5000),
    ] {
        let response = format!("\\boxed{{x{chain}}}");
        let rows: Vec<&str> = (0..20_000)
            .map(|i| {
                if i % 1024 == 0 {
                    response.as_str()
                } else {
                    "1"
                }
            })
            .collect();
        let golds = vec!["1"; rows.len()];
        let (_, status) = math_equal(&rows, &golds, MathStyle::Auto, None).unwrap();
        assert_eq!(status[0], Status::Incorrect as u8);
    }
    // radical products that keep 256 terms, raised to powers: the work budget stops them
    let a = "(1+\\sqrt2)(1+\\sqrt3)(1+\\sqrt5)(1+\\sqrt7)(1+\\sqrt{11})(1+\\sqrt{13})(1+\\sqrt{17})(1+\\sqrt{19})";
    assert_eq!(auto(&format!("\\boxed{{(({a})^{{64}})^{{64}}}}"), "1"), 0.0);
    assert_eq!(
        auto(
            &format!("\\boxed{{{}}}", vec![format!("({a})^{{64}}"); 10].join("+")),
            "1"
        ),
        0.0
    );
    // nested boxes and unclosed delimiters: linear scans
    let nested = format!("{}1{}", "\\boxed{".repeat(100_000), "}".repeat(100_000));
    assert_eq!(auto(&nested, "1"), 1.0);
    assert_eq!(auto(&"\\(".repeat(200_000), "1"), 0.0);
    assert_eq!(auto(&"\\[".repeat(200_000), "1"), 0.0);
}

/// The reproducers of a second review.
#[test]
fn second_review_reproducers() {
    let b = |s: &str| format!("The final answer is $\\boxed{{{s}}}$.");
    for (response, gold) in [
        (b("0.333..."), "0.333"),
        (b("3.14..."), "3.14"),
        (b("5 \\text{ tens}"), "5"),
        (b("5 \\text{ quintillion}"), "5"),
        (b("5 \\text{ tenth}"), "5"),
        (b("5\\text{ fifth}"), "5"),
        (b("5 \\text{ below zero}"), "5"),
        (b("5 \\text{ basis points}"), "5"),
        (b("5 \\text{ kilo}"), "5"),
        (b("\\sin 30^\\circ"), "\\sin 30"),
        ("$5$ is impossible".to_owned(), "5"),
        ("$5$ cannot be.".to_owned(), "5"),
        ("$5$ doesn't work.".to_owned(), "5"),
        ("This gives $5$, which is false.".to_owned(), "5"),
        ("$5$\n\nNo.".to_owned(), "5"),
        (b("y = 1, x = 2"), "(1, 2)"),
        ("</think>\\boxed{5}<think>hmm".to_owned(), "5"),
        ("The answer is 5. Actually no, it's 6.".to_owned(), "5"),
    ] {
        assert_ne!(
            status(&response, gold),
            Status::Correct,
            "{response} vs {gold}"
        );
    }
    for (response, gold) in [
        ("**Answer:** 42", "42"),
        ("**Answer:** $42$", "42"),
        ("**Final Answer:** 42", "42"),
        ("**Answer: 42**", "42"),
        ("The answer is **42**", "42"),
        ("Answer: **42**", "42"),
        ("**The answer is 42**", "42"),
        ("**Answer**: 42", "42"),
        ("We get \\boxed{5}. The answer is in the box above.", "5"),
        ("\\boxed{5}\n\nThe answer is correct.", "5"),
        ("The final answer is $\\boxed{\\text{No}}$.", "\\text{no}"),
        ("It takes $5$ months.", "5"),
        (
            "The final answer is $\\boxed{\\sin 30^\\circ}$.",
            "\\sin(30^\\circ)",
        ),
    ] {
        assert_eq!(
            status(response, gold),
            Status::Correct,
            "{response} vs {gold}"
        );
    }
    // a chain states its last part, steps unchecked (math-verify's suite pins this)
    assert_eq!(status(&b("x = 2+2 = 5"), "5"), Status::Correct);
    assert_eq!(status(&b("y = 3 = 4"), "4"), Status::Correct);
    let slow = b(&"(123456789012345678x+987654321098765432)".repeat(250));
    // the work budget stops it, and it is then compared as text
    assert_ne!(status(&slow, "1"), Status::Correct);
}

#[test]
fn math_answers_are_what_math_equal_compares() {
    let responses = [
        "so 3 + 4 = 7 \\boxed{7}",
        "<think>\\boxed{1}</think> The answer is 5.",
        "<think>never closed \\boxed{2}",
        "#### 4 apples",
    ];
    let got = math_answers(&responses, MathStyle::Auto, Some(extract::THINK_MARKER)).unwrap();
    assert_eq!(
        got,
        vec![
            Some("7".to_string()),
            Some("5".to_string()),
            None,
            Some("4 apples".to_string())
        ]
    );
    // Each answer read on its own is judged as the response it came from.
    for (r, a) in responses.iter().zip(&got) {
        if let Some(a) = a {
            assert_eq!(status(r, a), Status::Correct, "{r}");
        }
    }
}
