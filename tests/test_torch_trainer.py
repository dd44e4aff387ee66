"""TorchTrainer: its checks, a real short training run, resume, failures, evaluation."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from safetensors import safe_open  # noqa: E402

from orbiter.train import TrainConfig, TrainerError, TrainerState  # noqa: E402
from orbiter.train import rewards as rewards_module  # noqa: E402
from orbiter.train.config import ALGORITHM_ALIASES  # noqa: E402
from orbiter.train.data import RaggedTokens  # noqa: E402
from orbiter.train.rewards.registry import REWARDS, TEXT_REWARDS, resolve_reward  # noqa: E402
from orbiter.train.torch import (  # noqa: E402
    ByteTokenizer,
    PolicyAgent,
    TinyCausalLM,
    TorchTrainConfig,
    TorchTrainer,
    arithmetic_task,
)
from orbiter.train.torch.agent import TokenizerAdapter  # noqa: E402
from orbiter.train.torch.checkpoint import CHECKPOINT_DIR  # noqa: E402
from orbiter.train.torch.generation import (  # noqa: E402
    Sampling,
    completion_logprobs,
    generate,
    sample,
)

torch.set_num_threads(1)


def small_model(seed: int = 0) -> TinyCausalLM:
    torch.manual_seed(seed)
    return TinyCausalLM(d_model=32, n_layers=1, n_heads=2)


def tied_gpt2(seed: int = 0) -> Any:
    """A transformers GPT-2 built offline, its lm_head tied to the token embedding."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(
        vocab_size=259, n_embd=32, n_layer=1, n_head=2, n_positions=64, tie_word_embeddings=True
    )
    return transformers.GPT2LMHeadModel(cfg)


def ready_trainer(
    tmp_path: Path | None = None, model: Any = None, **overrides: Any
) -> TorchTrainer:
    train, test = arithmetic_task(64, 16, max_operand=9, seed=0)
    config = {
        "algorithm": "grpo",
        "batch_size": 4,
        "group_size": 4,
        "max_new_tokens": 3,
        "learning_rate": 1e-3,
        "max_steps": 3,
        "checkpoint_every": 1,
        "output_dir": str(tmp_path) if tmp_path else "",
        "device": "cpu",
    } | overrides
    trainer = TorchTrainer()
    trainer.check_config(config)
    trainer.check_agent(PolicyAgent(small_model() if model is None else model, ByteTokenizer()))
    trainer.check_dataset(train, test)
    trainer.check_reward("math_equal")
    return trainer


# -- check_config ------------------------------------------------------------------------------


def test_config_defaults_extend_train_config() -> None:
    cfg = TorchTrainConfig()
    assert isinstance(cfg, TrainConfig)
    assert (cfg.algorithm, cfg.group_size, cfg.device, cfg.seed) == ("grpo", 8, "auto", 0)
    assert "__slots__" in TorchTrainConfig.__dict__


def test_check_config_accepts_dict_train_config_and_torch_config(tmp_path: Path) -> None:
    trainer = TorchTrainer()
    trainer.check_config({"epochs": 2, "group_size": 4, "my_flag": True})
    assert trainer.config.epochs == 2
    assert trainer.torch_config.group_size == 4
    assert trainer.config.extra == {"my_flag": True}
    trainer.check_config(TrainConfig(batch_size=3, output_dir=str(tmp_path / "out")))
    assert trainer.config.batch_size == 3
    assert trainer.torch_config.group_size == 4
    assert (tmp_path / "out").is_dir()
    trainer.check_config(TorchTrainConfig(algorithm="rloo"))
    assert trainer.torch_config.algorithm == "rloo"


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [("learning_rte", "learning_rate"), ("group_sise", "group_size"), ("epoch", "epochs")],
)
def test_misspelled_key_gets_did_you_mean(key: str, suggestion: str) -> None:
    with pytest.raises(TrainerError, match=f"did you mean '{suggestion}'"):
        TorchTrainer().check_config({key: 1})


@pytest.mark.parametrize(
    ("update", "field"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"learning_rate": float("inf")}, "learning_rate"),
        ({"group_size": 1}, "group_size"),
        ({"algorithm": "dpo"}, "algorithm"),
        ({"temperature": 0.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"kl_coef": -1.0}, "kl_coef"),
        ({"kl_kind": "k4"}, "kl_kind"),
        ({"gamma": 1.5}, "gamma"),
        ({"lam": -0.1}, "lam"),
        ({"grad_accum_steps": 0}, "grad_accum_steps"),
        ({"device": "tpu"}, "device"),
        ({"dtype": "float16"}, "dtype"),
        ({"epochs": 1.5}, "epochs"),
        ({"clip_range_high": 0.0}, "clip_range_high"),
        ({"ppo_epochs": 0}, "ppo_epochs"),
        ({"num_iterations": 0}, "ppo_epochs"),
        ({"mini_batch_size": 0}, "mini_batch_size"),
        ({"mini_batch_size": 9, "batch_size": 8}, "mini_batch_size"),
        ({"loss_agg_mode": "seq-mean"}, "loss_agg_mode"),
        ({"resume": "no"}, "resume"),
    ],
)
def test_out_of_range_fields_are_named(update: dict[str, Any], field: str) -> None:
    with pytest.raises(TrainerError, match=rf"config\.{field} ="):
        TorchTrainer().check_config(update)


def test_the_shared_spellings_set_torch_fields() -> None:
    trainer = TorchTrainer()
    trainer.check_config(
        {
            "kl_coeff": 0.25,
            "rollout_n": 4,
            "algorithm": "reinforce_plus_plus",
            "num_iterations": 3,
        }
    )
    cfg = trainer.torch_config
    assert (cfg.kl_coef, cfg.group_size, cfg.algorithm) == (0.25, 4, "reinforce_plus_plus")
    assert cfg.ppo_epochs == 3


def test_group_size_one_is_fine_without_groups() -> None:
    trainer = TorchTrainer()
    trainer.check_config({"algorithm": "reinforce_pp", "group_size": 1})
    assert trainer.torch_config.group_size == 1


def test_unwritable_output_dir_is_rejected(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TrainerError, match="output_dir"):
        TorchTrainer().check_config({"output_dir": str(blocker / "sub")})


# -- check_agent -------------------------------------------------------------------------------


def test_bare_module_gets_the_byte_tokenizer() -> None:
    trainer = TorchTrainer()
    trainer.check_agent(small_model())
    assert trainer.checks[-1].passed


class Frozen(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(259, 8).requires_grad_(False)

    def forward(self, ids: Any, mask: Any) -> Any:
        return self.emb(ids)


class TooSmall(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(259, 100)

    def forward(self, ids: Any, mask: Any) -> Any:
        return self.emb(ids)


class Broken(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(2, 2)

    def forward(self, ids: Any, mask: Any) -> Any:
        raise RuntimeError("shape mismatch in layer 3")


@pytest.mark.parametrize(
    ("agent", "message"),
    [
        ("not a model", "must be a PolicyAgent"),
        (Frozen(), "no trainable parameters"),
        (TooSmall(), r"vocabulary \(100\) is smaller than the tokenizer's \(259\)"),
        (Broken(), "failed a forward pass"),
        (PolicyAgent(TinyCausalLM(d_model=16, n_heads=2), tokenizer=object()), "no encode"),
    ],
)
def test_bad_agents_are_refused(agent: Any, message: str) -> None:
    with pytest.raises(TrainerError, match=message):
        TorchTrainer().check_agent(agent)


def test_transformers_model_is_accepted() -> None:
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(vocab_size=259, n_embd=32, n_layer=1, n_head=2, n_positions=64)
    model = transformers.GPT2LMHeadModel(cfg)
    trainer = TorchTrainer()
    trainer.check_agent(PolicyAgent(model, ByteTokenizer()))
    # Two left-padded prompts decoded with the KV cache must give the tokens transformers'
    # own greedy generate gives each prompt alone (no eos: the model is random).
    torch.manual_seed(0)
    model.eval()
    prompts = [[257, 49, 43, 49, 61], [257, 50, 61]]
    width = max(map(len, prompts))
    ids = torch.tensor([[256] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[False] * (width - len(p)) + [True] * len(p) for p in prompts])
    out, out_mask = generate(
        model, ids, mask, max_new_tokens=6, eos_token_id=10_000, pad_token_id=256, temperature=0.0
    )
    assert out.shape == (2, 6) and bool(out_mask.all())
    for row, prompt in enumerate(prompts):
        want = model.generate(
            torch.tensor([prompt]),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
            max_new_tokens=6,
            do_sample=False,
            pad_token_id=256,
        )[0, len(prompt) :]
        assert out[row].tolist() == want.tolist()


# -- check_dataset -----------------------------------------------------------------------------


async def test_prompts_must_fit_the_models_positions() -> None:
    model = TinyCausalLM(d_model=16, n_layers=1, n_heads=2, max_positions=8)
    trainer = TorchTrainer(TorchTrainConfig(device="cpu", max_new_tokens=3, max_steps=1))
    trainer.check_agent(PolicyAgent(model, ByteTokenizer()))
    # bos + 8 bytes = 9 tokens: no room left to generate.
    with pytest.raises(TrainerError, match=r"(?s)train_data: .*row 1: too long"):
        trainer.check_dataset(
            [{"input": "1+1=", "answer": "2"}, {"input": "12+345=6", "answer": "x"}]
        )
    trainer.check_dataset([{"input": "1+1=", "answer": "2"}, {"input": "12+34=", "answer": "46"}])
    trainer.check_reward("math_equal")
    trainer.mark_validated()
    # 7 prompt tokens + 3 new ones > 8 positions.
    with pytest.raises(TrainerError, match=r"train_data\[1\]: a prompt of 7 tokens"):
        await trainer.train()


def test_dataset_forms(tmp_path: Path) -> None:
    trainer = TorchTrainer()
    trainer.check_agent(small_model())
    path = tmp_path / "d.jsonl"
    path.write_text('{"prompt": "1+1=", "expected": "2"}\n\n{"input": "2+2=", "output": 4}\n')
    trainer.check_dataset(str(path))
    trainer.check_dataset([{"input": "a", "answer": "b"}], [{"input": "c", "answer": "d"}])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "train_data is empty"),
        ([{"input": "a"}, {"answer": "b"}], r"train_data\[1\]: missing required 'input' key"),
        ([{"input": 3, "answer": "b"}], r"train_data\[0\]: 'input' must be a str"),
        ([{"input": "a", "answer": ["b"]}], r"train_data\[0\]: 'answer' must be a str"),
        (["text"], r"train_data\[0\] must be a dict"),
        (42, "must be a list of dicts"),
        ("/no/such/file.jsonl", "no such file"),
    ],
)
def test_bad_datasets_name_the_record(data: Any, message: str) -> None:
    with pytest.raises(TrainerError, match=message):
        TorchTrainer().check_dataset(data)


async def test_pretokenized_prompts_train_and_evaluate(tmp_path: Path) -> None:
    tok = TokenizerAdapter(ByteTokenizer())
    train, test = arithmetic_task(32, 8, max_operand=9, seed=1)
    ids = [tok.encode_prompt(r["input"]) for r in train]
    ragged = RaggedTokens.from_sequences(ids)
    trainer = ready_trainer(tmp_path)
    trainer.check_dataset((ragged, [r["answer"] for r in train]), test)
    assert [list(e.prompt_ids or ()) for e in trainer._train_examples] == ids
    trainer.mark_validated()
    assert (await trainer.train()).steps == 3
    metrics = await trainer.evaluate((RaggedTokens.from_sequences(ids[:4]), ["1"] * 4))
    assert metrics.steps == 4
    assert metrics.extra["samples"][0]["input"] == tok.decode(ids[0])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda r: (r, ["1"]), r"2 token rows but 1 answers"),
        (lambda r: (r, ["1", 2]), r"answers\[1\]: expected str"),
        (lambda r: r[:0], "train_data is empty"),
    ],
)
def test_bad_pretokenized_data(make: Any, message: str) -> None:
    ragged = RaggedTokens.from_sequences([[1, 2], [3]])
    with pytest.raises(TrainerError, match=message):
        TorchTrainer().check_dataset(make(ragged))


def test_pretokenized_ids_outside_the_vocabulary_are_named() -> None:
    trainer = TorchTrainer()
    trainer.check_agent(PolicyAgent(small_model(), ByteTokenizer()))
    with pytest.raises(TrainerError, match=r"row 1: token 1 = 10000 is outside \[0, 259\)"):
        trainer.check_dataset((RaggedTokens.from_sequences([[1, 2], [3, 10_000]]), ["a", "b"]))


def test_invalid_jsonl_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"input": "a", "answer": "b"}\n{oops\n')
    with pytest.raises(TrainerError, match=r"line 2 of '.*bad\.jsonl': invalid JSON"):
        TorchTrainer().check_dataset(str(path))


# -- check_reward ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TEXT_REWARDS))
def test_core_reward_names(name: str) -> None:
    ready_trainer().check_reward(name)
    _, score = resolve_reward(name)
    outputs, expected = [" 12 ", "12.0", "Twelve", "the cat"], ["12", "12", "twelve", "cat"]
    got = score(outputs, expected).tolist()
    if name in ("exact_match", "exact_text_match"):  # str.strip() equality, nothing else
        assert got == [
            float(o.strip() == e.strip()) for o, e in zip(outputs, expected, strict=True)
        ]
    else:
        reference = getattr(rewards_module, str(REWARDS[name].text))
        assert got == reference(outputs, expected).tolist()


def test_reward_forms() -> None:
    trainer = ready_trainer()
    trainer.check_reward("math_equal")
    trainer.check_reward(lambda output, expected: float(output == expected))

    def batched(outputs: list[str], expected: list[str]) -> np.ndarray:
        return np.ones(len(outputs), dtype=np.float32)

    batched.batched = True  # type: ignore[attr-defined]
    trainer.check_reward(batched)


@pytest.mark.parametrize(
    ("reward", "message"),
    [
        ("no_such_reward", "unknown reward 'no_such_reward'"),
        (42, "reward_fn must be"),
        (lambda x: 1.0, "must take \\(output: str, expected: str\\)"),
        (lambda o, e: float("nan"), "returned nan"),
        (lambda o, e: 1 / 0, "failed on a probe"),
    ],
)
def test_bad_rewards_are_refused(reward: Any, message: str) -> None:
    trainer = ready_trainer()
    with pytest.raises(TrainerError, match=message):
        trainer.check_reward(reward)


# -- generation --------------------------------------------------------------------------------


def test_generation_with_cache_equals_without() -> None:
    model = small_model().eval()

    class NoCache(torch.nn.Module):
        def __init__(self, inner: TinyCausalLM) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, ids: Any, mask: Any) -> Any:
            return self.inner(ids, mask)

    ids = torch.tensor([[256, 256, 257, 49, 43], [257, 50, 43, 51, 61]])
    mask = ids != 256
    kwargs = {"max_new_tokens": 6, "eos_token_id": 258, "pad_token_id": 256, "temperature": 0.0}
    a, am = generate(model, ids, mask, **kwargs)
    b, bm = generate(NoCache(model), ids, mask, **kwargs)
    assert torch.equal(a, b) and torch.equal(am, bm)
    logp, entropy = completion_logprobs(model, ids, mask, a, am)
    assert logp.shape == a.shape and bool((logp <= 0).all()) and bool((entropy >= 0).all())


def test_sampled_logprobs_are_the_policys_own() -> None:
    """``sample`` draws what ``generate`` draws and gives each token the log-probability
    ``completion_logprobs`` computes for it (0 after the eos)."""
    model = small_model().eval()
    ids = torch.tensor([[256, 256, 257, 49, 43], [257, 50, 43, 51, 61]])
    mask = ids != 256
    sampling = Sampling(max_new_tokens=6, eos_token_id=258, pad_token_id=256, top_p=0.9)
    a, am = generate(
        model, ids, mask, max_new_tokens=6, eos_token_id=258, pad_token_id=256, top_p=0.9,
        generator=torch.Generator().manual_seed(3),
    )  # fmt: skip
    b, bm, logp = sample(model, ids, mask, sampling, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and torch.equal(am, bm)
    want, _ = completion_logprobs(model, ids, mask, b, bm)
    torch.testing.assert_close(logp, torch.where(bm, want, torch.zeros_like(want)))


def test_registries_cover_the_config_vocabulary() -> None:
    from orbiter.train.torch.config import ALGORITHMS, KL_KINDS, LOSS_AGG_MODES
    from orbiter.train.torch.losses import KL_ESTIMATORS, LOSS_AGGREGATIONS, OBJECTIVES

    assert set(OBJECTIVES) == set(ALGORITHMS)
    assert set(KL_ESTIMATORS) == set(KL_KINDS)
    assert set(LOSS_AGGREGATIONS) == set(LOSS_AGG_MODES)
    assert [name for name, o in OBJECTIVES.items() if o.supervised] == ["sft"]
    assert [name for name, o in OBJECTIVES.items() if o.uses_critic] == ["ppo"]
    log_ratio = torch.tensor([-0.5, 0.0, 0.5])
    torch.testing.assert_close(KL_ESTIMATORS["k1"](log_ratio), log_ratio)
    torch.testing.assert_close(KL_ESTIMATORS["k2"](log_ratio), log_ratio**2 / 2)
    torch.testing.assert_close(
        KL_ESTIMATORS["k3"](log_ratio), torch.exp(-log_ratio) - 1 + log_ratio
    )


def _loss_inputs(seed: int) -> tuple[Any, Any, Any, Any]:
    """logp, old logp, advantages and a mask (B=6, N=5), one row with no trainable token."""
    g = torch.Generator().manual_seed(seed)
    logp = -torch.rand(6, 5, generator=g) * 3
    old = logp + 0.4 * torch.randn(6, 5, generator=g)  # ratios well outside [0.8, 1.28]
    advantages = torch.randn(6, 5, generator=g)
    mask = (torch.rand(6, 5, generator=g) > 0.3).float()
    mask[2] = 0.0
    return logp, old, advantages, mask


def _numpy_aggregate(loss: np.ndarray, mask: np.ndarray, mode: str) -> float:
    """An independent reference of the three aggregations."""
    rows = [(loss[b][mask[b] > 0]) for b in range(len(loss)) if mask[b].any()]
    if mode == "token-mean":
        return float(np.concatenate(rows).mean())
    if mode == "seq-mean-token-sum":
        return float(np.mean([r.sum() for r in rows]))
    return float(np.mean([r.mean() for r in rows]))


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean"])
def test_aggregations_match_numpy_and_micro_batches_add_up(mode: str) -> None:
    from orbiter.train.torch.losses import LOSS_AGGREGATIONS

    logp, old, advantages, mask = _loss_inputs(0)
    loss = logp * advantages + old  # any per-token matrix
    agg = LOSS_AGGREGATIONS[mode]
    whole = float(agg.share(loss, mask) / agg.norm(mask))
    assert whole == pytest.approx(_numpy_aggregate(loss.numpy(), mask.numpy(), mode), rel=1e-6)
    # Micro-batches of the rows, each divided by the whole mini-batch's norm, add up to it.
    parts = sum(float(agg.share(loss[s], mask[s])) for s in (slice(0, 2), slice(2, 6)))
    assert parts / agg.norm(mask) == pytest.approx(whole, rel=1e-6)


# compute_policy_loss is verl's deprecated spelling of compute_policy_loss_vanilla, whose
# config object is not needed to compare the numerics.
@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean"])
@pytest.mark.parametrize(("low", "high"), [(0.2, 0.2), (0.2, 0.28), (0.1, 5.0)])
def test_policy_loss_matches_verl(mode: str, low: float, high: float) -> None:
    core_algos = pytest.importorskip("verl.trainer.ppo.core_algos")
    from orbiter.train.torch.losses import LOSS_AGGREGATIONS, policy_loss

    logp, old, advantages, mask = _loss_inputs(1)
    logp.requires_grad_(True)
    pg, clipped = policy_loss(logp, old, advantages, low, high)
    agg = LOSS_AGGREGATIONS[mode]
    ours = agg.share(pg, mask) / agg.norm(mask)
    (grad,) = torch.autograd.grad(ours, logp)
    ref = logp.detach().clone().requires_grad_(True)
    # verl's dual clip (clip_ratio_c) is out of reach at 1e9: the plain clipped surrogate.
    want, clipfrac, _, _ = core_algos.compute_policy_loss(
        old,
        ref,
        advantages,
        mask,
        cliprange=low,
        cliprange_low=low,
        cliprange_high=high,
        clip_ratio_c=1e9,
        loss_agg_mode=mode,
    )
    (want_grad,) = torch.autograd.grad(want, ref)
    torch.testing.assert_close(ours, want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad, want_grad, rtol=1e-5, atol=1e-6)
    assert float((clipped * mask).sum() / mask.sum()) == pytest.approx(float(clipfrac))
    assert 0 < float(clipfrac) < 1


def _first_character_parity(output: str, expected: str) -> float:
    """A reward that differs within a group even for an untrained policy."""
    return float(ord(output[0]) % 2) if output else 0.0


class _ToolTokensRollout:
    """A stand-in agent rollout: the inner rollout's trajectories, with every response token
    from position *keep* on marked untrainable (as tool output would be)."""

    def __init__(self, inner: Any, keep: int) -> None:
        self.inner, self.keep = inner, keep

    def collect(self, model: Any, indices: list[int], generator: Any) -> Any:
        batch = self.inner.collect(model, indices, generator)
        trainable = batch.completion_mask.clone()
        trainable[:, self.keep :] = False
        return dataclasses.replace(batch, trainable_mask=trainable)


@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
def test_a_rollout_plugs_in_behind_the_seam(algorithm: str) -> None:
    """Advantages, loss and metrics cover the rollout's trainable tokens, not all it shows."""
    from orbiter.train.torch.steps import train_step

    trainer = ready_trainer(algorithm=algorithm, kl_coef=0.1, max_new_tokens=4)
    trainer.check_reward(_first_character_parity)
    ctx = trainer._start(*trainer._require_ready())
    ctx.rollout = _ToolTokensRollout(ctx.rollout, keep=1)
    metrics = train_step(ctx, [0, 1, 2, 3], 0)
    assert metrics["response_len"] == 1.0  # every first token is sampled, never a tool's
    assert np.isfinite(metrics["loss"]) and metrics["grad_norm"] > 0


def test_untrainable_tokens_get_no_gradient() -> None:
    from orbiter.train.torch.steps import train_step

    trainer = ready_trainer(kl_coef=0.1, max_new_tokens=4)
    trainer.check_reward(_first_character_parity)
    ctx = trainer._start(*trainer._require_ready())
    ctx.rollout = _ToolTokensRollout(ctx.rollout, keep=0)
    metrics = train_step(ctx, [0, 1, 2, 3], 0)
    assert (metrics["loss"], metrics["kl"], metrics["grad_norm"]) == (0.0, 0.0, 0.0)


# -- train -------------------------------------------------------------------------------------


async def test_short_real_run_improves_reward() -> None:
    torch.manual_seed(0)
    train = [{"input": f"{i}=", "answer": "7"} for i in range(32)]
    trainer = TorchTrainer()
    trainer.check_config(
        {
            "batch_size": 8,
            "group_size": 8,
            "max_new_tokens": 2,
            "learning_rate": 1e-2,
            "max_steps": 40,  # 10 epochs of 4 steps: max_steps counts, whatever epochs is
            "device": "cpu",
            "temperature": 1.0,
        }
    )
    trainer.check_agent(small_model())
    trainer.check_dataset(train)
    trainer.check_reward(lambda output, expected: float(output.startswith(expected)))
    trainer.mark_validated()
    metrics = await trainer.train()
    assert trainer.state is TrainerState.COMPLETED
    assert metrics.steps == 40
    # A random start samples "7" first with probability ~1/259.
    assert trainer.last_step_metrics["reward_mean"] > 0.5
    assert metrics.extra["time_split"].keys() == {"generate", "score", "advantage", "update"}


async def _weights_after(
    tmp_path: Path | None = None, **overrides: Any
) -> tuple[dict[str, Any], TorchTrainer]:
    trainer = ready_trainer(tmp_path, max_steps=2, learning_rate=3e-2, **overrides)
    trainer.check_reward(_first_character_parity)
    trainer.mark_validated()
    await trainer.train()
    assert trainer._agent is not None
    return trainer._agent.model.state_dict(), trainer


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


async def test_one_update_per_rollout_has_a_ratio_of_one_so_the_clip_does_nothing() -> None:
    tight, trainer = await _weights_after(clip_range=1e-6)
    wide, _ = await _weights_after(clip_range=100.0, clip_range_high=100.0)
    assert _same(tight, wide)
    assert trainer.last_step_metrics["clip_fraction"] == 0.0


@pytest.mark.parametrize(
    "passes", [{"ppo_epochs": 2}, {"num_iterations": 2}, {"mini_batch_size": 2}]
)
async def test_later_updates_on_a_rollout_are_clipped(
    passes: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """From the second update on the ratio leaves 1, and the bounds change the update."""
    updates = []
    step = torch.optim.AdamW.step
    monkeypatch.setattr(
        torch.optim.AdamW, "step", lambda self, *a: updates.append(1) or step(self, *a)
    )
    tight, _ = await _weights_after(tmp_path, clip_range=1e-6, **passes)
    assert len(updates) == 4  # two updates a rollout (2 passes, or 2 mini-batches), 2 rollouts
    wide, _ = await _weights_after(clip_range=100.0, **passes)
    high_only, _ = await _weights_after(clip_range=1e-6, clip_range_high=100.0, **passes)
    assert not _same(tight, wide) and not _same(tight, high_only) and not _same(wide, high_only)
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert max(r["clip_fraction"] for r in rows) > 0


class _VaryingLengthsRollout:
    """The inner rollout's trajectories with 1, 2 or 3 trainable tokens by row, so that
    the aggregations weigh them differently."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def collect(self, model: Any, indices: list[int], generator: Any) -> Any:
        batch = self.inner.collect(model, indices, generator)
        trainable = batch.completion_mask.clone()
        for row in range(len(batch)):
            trainable[row, 1 + row % 3 :] = False
        self.last = dataclasses.replace(batch, trainable_mask=trainable)
        return self.last


def test_every_loss_agg_mode_makes_its_own_update() -> None:
    from orbiter.train.torch.steps import train_step

    weights, losses = [], []
    for mode in ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean"):
        trainer = ready_trainer(loss_agg_mode=mode, kl_coef=0.1, learning_rate=3e-2)
        trainer.check_reward(_first_character_parity)
        ctx = trainer._start(*trainer._require_ready())
        rollout = ctx.rollout = _VaryingLengthsRollout(ctx.rollout)
        losses.append(train_step(ctx, [0, 1, 2, 3], 0)["loss"])
        weights.append({k: v.clone() for k, v in ctx.model.state_dict().items()})
    # The same rollout each time (seeded): a token sum per sequence is the token mean
    # scaled by tokens / sequences, and only the token mean of each sequence reweighs.
    mask = rollout.last.trainable_mask
    tokens, sequences = float(mask.sum()), float((mask.sum(-1) > 0).sum())
    assert tokens != sequences and losses[0] != 0
    assert losses[1] == pytest.approx(losses[0] * tokens / sequences, rel=1e-5)
    assert not _same(weights[2], weights[0]) and not _same(weights[2], weights[1])


@pytest.mark.parametrize(("epochs", "max_steps", "total"), [(1, 7, 7), (5, 2, 2), (2, None, 6)])
def test_max_steps_counts_steps_whatever_epochs_is(
    epochs: int, max_steps: int | None, total: int
) -> None:
    from orbiter.train.torch.batches import Schedule

    schedule = Schedule.of(10, batch_size=4, seed=3, epochs=epochs, max_steps=max_steps)
    assert (schedule.steps_per_epoch, schedule.total) == (3, total)
    # Past the first epoch the data is visited again, in the next epoch's own order.
    for step in range(schedule.total):
        epoch, offset = divmod(step, 3)
        order = np.random.default_rng([3, epoch]).permutation(10)
        want = order[offset * 4 : offset * 4 + 4].tolist()
        want += order[: (2 - len(want) % 2) % 2].tolist()  # the short batch topped up for 2 ranks
        got = schedule.indices(step, world=2, rank=0) + schedule.indices(step, world=2, rank=1)
        assert sorted(got) == sorted(want)
        assert schedule.epoch_of(step) == epoch


@pytest.mark.parametrize("algorithm", ["grpo", "rloo", "reinforce_pp", "ppo", "sft"])
async def test_every_algorithm_runs_and_checkpoints(tmp_path: Path, algorithm: str) -> None:
    trainer = ready_trainer(tmp_path, algorithm=algorithm, kl_coef=0.05)
    trainer.mark_validated()
    metrics = await trainer.train()
    assert metrics.steps == 3
    assert np.isfinite(metrics.loss)
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    state = json.loads((tmp_path / CHECKPOINT_DIR / "trainer_state.json").read_text())
    assert state["step"] == 3
    # saved in the shared spelling: "reinforce_pp" is "reinforce_plus_plus"
    assert state["config"]["algorithm"] == ALGORITHM_ALIASES.get(algorithm, algorithm)
    evaluation = await trainer.evaluate()
    assert evaluation.steps == 16 and 0.0 <= evaluation.accuracy <= 1.0
    assert evaluation.loss > 0


@pytest.mark.parametrize("kl_coef", [0.0, 0.5])
async def test_resume_gives_the_same_weights_as_an_uninterrupted_run(
    tmp_path: Path, kl_coef: float
) -> None:
    # With a KL penalty the reference must stay the initial policy across the resume.
    full = ready_trainer(tmp_path / "full", max_steps=6, checkpoint_every=2, kl_coef=kl_coef)
    full.mark_validated()
    await full.train()

    first = ready_trainer(tmp_path / "split", max_steps=3, checkpoint_every=2, kl_coef=kl_coef)
    first.mark_validated()
    await first.train()  # checkpoints at steps 2 and 3 (the end)
    second = ready_trainer(tmp_path / "split", max_steps=6, checkpoint_every=2, kl_coef=kl_coef)
    second.mark_validated()
    metrics = await second.train()
    assert metrics.steps == 6
    assert full._agent is not None and second._agent is not None
    a = full._agent.model.state_dict()
    b = second._agent.model.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("algorithm", ["grpo", "rloo", "reinforce_pp", "ppo", "sft"])
async def test_a_tied_transformers_model_checkpoints_and_resumes_exactly(
    tmp_path: Path, algorithm: str
) -> None:
    """GPT-2 shares one tensor between wte and lm_head: the checkpoint stores it once, a
    resume ties it again, and the weights match an uninterrupted run bit for bit."""
    small = {"batch_size": 2, "group_size": 2, "max_new_tokens": 2, "kl_coef": 0.1}
    full = ready_trainer(tmp_path / "full", tied_gpt2(), algorithm=algorithm, max_steps=4, **small)
    full.mark_validated()
    await full.train()
    first = ready_trainer(
        tmp_path / "split", tied_gpt2(), algorithm=algorithm, max_steps=2, **small
    )
    first.mark_validated()
    await first.train()
    resumed = tied_gpt2()  # the same base, as a user resumes: it is also the KL reference
    second = ready_trainer(tmp_path / "split", resumed, algorithm=algorithm, max_steps=4, **small)
    second.mark_validated()
    assert (await second.train()).steps == 4
    assert second.state is TrainerState.COMPLETED
    with safe_open(tmp_path / "split" / CHECKPOINT_DIR / "model.safetensors", "pt") as f:
        assert len(list(f.keys())) == len(resumed.state_dict()) - 1  # the tied tensor once
    assert resumed.lm_head.weight is resumed.transformer.wte.weight
    assert full._agent is not None
    want = full._agent.model.state_dict()
    for key, value in resumed.state_dict().items():
        torch.testing.assert_close(value, want[key], rtol=0, atol=0, msg=key)


def test_device_resolution() -> None:
    from orbiter.train.torch.runtime import resolve_device

    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == want
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(TrainerError, match="not a torch device"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(TrainerError, match="CUDA is not available"):
            resolve_device("cuda")


async def test_the_default_device_trains() -> None:
    """``device="auto"`` (the default) runs wherever the tests run."""
    trainer = ready_trainer(max_steps=1, device="auto")
    trainer.mark_validated()
    assert (await trainer.train()).steps == 1


async def test_resume_refuses_a_different_trajectory(tmp_path: Path) -> None:
    first = ready_trainer(tmp_path, max_steps=2)
    first.mark_validated()
    await first.train()
    second = ready_trainer(tmp_path, max_steps=4, seed=1, batch_size=8)
    second.mark_validated()
    with pytest.raises(TrainerError, match=r"seed: checkpoint 0, now 1.*batch_size"):
        await second.train()
    assert second.state is TrainerState.FAILED
    state = json.loads((tmp_path / CHECKPOINT_DIR / "trainer_state.json").read_text())
    assert state["step"] == 2


def _steps_in(path: Path) -> list[int]:
    rows = [json.loads(x) for x in (path / "metrics.jsonl").read_text().splitlines()]
    return [r["step"] for r in rows]


async def test_a_finished_run_says_so_and_returns_its_metrics(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = ready_trainer(tmp_path, max_steps=3)
    first.check_reward(_first_character_parity)
    first.mark_validated()
    done = await first.train()
    again = ready_trainer(tmp_path, max_steps=3)
    again.check_reward(_first_character_parity)
    again.mark_validated()
    with caplog.at_level("WARNING", logger="orbiter.train.torch"):
        metrics = await again.train()
    assert any(
        r.levelname == "WARNING" and "already finished (step 3 of 3)" in r.getMessage()
        for r in caplog.records
    )
    assert (metrics.steps, metrics.loss, metrics.accuracy) == (3, done.loss, done.accuracy)
    assert metrics.loss != 0.0 and metrics.extra["reward_mean"] > 0
    assert metrics.extra["reward_mean"] == done.extra["reward_mean"]
    assert _steps_in(tmp_path) == [1, 2, 3]


async def test_resume_false_starts_afresh(tmp_path: Path) -> None:
    first = ready_trainer(tmp_path / "run", max_steps=3)
    first.mark_validated()
    await first.train()
    fresh = ready_trainer(tmp_path / "fresh", max_steps=2)
    fresh.mark_validated()
    await fresh.train()
    again = ready_trainer(tmp_path / "run", max_steps=2, resume=False, seed=0)
    again.mark_validated()
    assert (await again.train()).steps == 2
    assert _steps_in(tmp_path / "run") == [1, 2]
    state = json.loads((tmp_path / "run" / CHECKPOINT_DIR / "trainer_state.json").read_text())
    assert state["step"] == 2
    assert fresh._agent is not None and again._agent is not None
    assert _same(fresh._agent.model.state_dict(), again._agent.model.state_dict())


async def test_a_changed_learning_rate_is_applied_on_resume(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = ready_trainer(tmp_path, max_steps=2, learning_rate=1e-3)
    first.mark_validated()
    await first.train()
    second = ready_trainer(tmp_path, max_steps=3, learning_rate=5e-2)
    second.mark_validated()
    with caplog.at_level("WARNING", logger="orbiter.train.torch"):
        await second.train()
    assert "learning_rate: checkpoint 0.001, now 0.05" in caplog.text
    state = json.loads((tmp_path / CHECKPOINT_DIR / "trainer_state.json").read_text())
    assert [g["lr"] for g in state["optimizer"]["param_groups"]] == [5e-2]


async def test_resume_cuts_metrics_back_to_the_checkpoint(tmp_path: Path) -> None:
    first = ready_trainer(tmp_path, max_steps=2)
    first.mark_validated()
    await first.train()
    # A crash after the checkpoint at step 2: a step that will be replayed, and a torn line.
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 3, "epoch": 1, "loss": 123.0}) + "\n")
        f.write('{"step": 4, "lo')
    second = ready_trainer(tmp_path, max_steps=4)
    second.mark_validated()
    metrics = await second.train()
    assert _steps_in(tmp_path) == [1, 2, 3, 4]
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows[2]["loss"] != 123.0
    assert metrics.steps == 4


async def test_train_checks_ranges_without_check_config() -> None:
    trainer = TorchTrainer(TorchTrainConfig(learning_rate=-1.0, device="cpu"))
    trainer.check_agent(PolicyAgent(small_model(), ByteTokenizer()))
    trainer.check_dataset(arithmetic_task(8, 2, max_operand=9, seed=0)[0])
    trainer.check_reward("math_equal")
    trainer.mark_validated()
    with pytest.raises(TrainerError, match="learning_rate"):
        await trainer.train()


async def test_reward_failure_leaves_failed_and_checkpoint_intact(tmp_path: Path) -> None:
    calls = {"n": 0}

    def flaky(output: str, expected: str) -> float:
        calls["n"] += 1
        if calls["n"] > 1 + 16 * 2:  # probe, then two steps of 16 completions
            raise ValueError("reward server down")
        return 1.0

    trainer = ready_trainer(tmp_path, max_steps=5)
    trainer.check_reward(flaky)
    trainer.mark_validated()
    with pytest.raises(TrainerError, match="training failed at step 2") as info:
        await trainer.train()
    assert isinstance(info.value.__cause__, ValueError)
    assert trainer.state is TrainerState.FAILED
    state = json.loads((tmp_path / CHECKPOINT_DIR / "trainer_state.json").read_text())
    assert state["step"] == 2


async def test_nan_loss_fails_the_run() -> None:
    trainer = ready_trainer()
    assert trainer._agent is not None
    with torch.no_grad():
        trainer._agent.model.embed.weight[0, 0] = float("nan")
    trainer.mark_validated()
    with pytest.raises(TrainerError):
        await trainer.train()
    assert trainer.state is TrainerState.FAILED


async def test_cancellation_checkpoints_and_leaves_failed(tmp_path: Path) -> None:
    trainer = ready_trainer(tmp_path, max_steps=10_000, checkpoint_every=0)
    trainer.mark_validated()
    task = asyncio.create_task(trainer.train())
    while trainer._step < 2:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert trainer.state is TrainerState.FAILED
    state = json.loads((tmp_path / CHECKPOINT_DIR / "trainer_state.json").read_text())
    assert state["step"] >= 2


async def test_train_before_validation_is_refused() -> None:
    trainer = ready_trainer()
    with pytest.raises(TrainerError, match="must be validated"):
        await trainer.train()
    assert trainer.state is TrainerState.CREATED


# -- datasets users bring: column mapping, columns to rewards, token rewards ------------------


def _trl_records(n: int, seed: int) -> list[dict[str, Any]]:
    """arithmetic_task's problems in TRL's columns (prompt + solution) with a level column."""
    records = arithmetic_task(n, 0, max_operand=9, seed=seed)[0]
    return [
        {"prompt": r["input"], "solution": r["answer"], "level": f"L{r['answer']}"} for r in records
    ]


async def test_a_trl_dataset_trains_with_its_answer_column(tmp_path: Path) -> None:
    train, test = _trl_records(16, 0), _trl_records(4, 1)
    trainer = ready_trainer(tmp_path, max_steps=1)
    # Unmapped, every reference was "" and every reward 0 (issue 13): now refused.
    with pytest.raises(ValueError, match=r"train_data\[0\] has no reference answer") as info:
        trainer.check_dataset(train, test)
    assert "its keys are 'prompt', 'solution', 'level'" in str(info.value)
    assert "did you mean answer_column='solution'?" in str(info.value)
    trainer.check_dataset(train, test, answer_column="solution")
    assert trainer._train_examples is not None
    assert [e.answer for e in trainer._train_examples] == [r["solution"] for r in train]
    trainer.mark_validated()
    await trainer.train()
    # evaluate() maps its own data with the same columns
    metrics = await trainer.evaluate(_trl_records(3, 2))
    assert [s["answer"] for s in metrics.extra["samples"]] == [
        r["solution"] for r in _trl_records(3, 2)
    ]


def test_gsm8k_and_math_columns_load_with_the_mapping() -> None:
    gsm8k = [{"question": "1+1=", "answer": "2"}]
    math = [{"problem": "1+1=", "solution": "2", "level": "Level 1"}]
    trainer = ready_trainer()
    with pytest.raises(TrainerError, match=r"did you mean prompt_column='question'"):
        trainer.check_dataset(gsm8k)
    trainer.check_dataset(gsm8k, prompt_column="question")
    trainer.check_dataset(math, math, prompt_column="problem", answer_column="solution")
    assert trainer._train_examples is not None
    assert (trainer._train_examples[0].prompt, trainer._train_examples[0].answer) == ("1+1=", "2")


def test_records_without_answers_need_a_reward_that_needs_none() -> None:
    trainer = TorchTrainer()
    trainer.check_agent(small_model())
    trainer.check_dataset([{"input": "1+1="}])  # the reward is not known yet
    with pytest.raises(TrainerError, match=r"train_data\[0\] has no reference answer"):
        trainer.check_reward("math_equal")
    trainer.check_reward(lambda output, expected: float(len(output)))  # the original's case
    with pytest.raises(TrainerError, match=r"train_data\[0\] has no reference answer"):
        trainer.check_reward(rewards_module.RewardPipeline([("word_f1", 1.0)]))
    trainer.check_reward(rewards_module.RewardPipeline([("length_penalty", 1.0, {"target": 2})]))
    trainer.check_dataset([{"input": "1+1=", "answer": "2"}])
    trainer.check_reward("math_equal")
    with pytest.raises(TrainerError, match=r"test_data\[0\] has no reference answer"):
        trainer.check_dataset([{"input": "1+1=", "answer": "2"}], [{"input": "2+2="}])


async def test_extra_columns_reach_batched_rewards_as_keywords() -> None:
    seen: list[tuple[list[str], dict[str, Any]]] = []

    def by_level(outputs: list[str], expected: list[str], *, level: list[str]) -> np.ndarray:
        seen.append((list(expected), {"level": level}))
        return np.zeros(len(outputs), dtype=np.float32)

    def everything(outputs: list[str], expected: list[str], **columns: Any) -> np.ndarray:
        seen.append((list(expected), columns))
        return np.zeros(len(outputs), dtype=np.float32)

    by_level.batched = True  # type: ignore[attr-defined]
    everything.batched = True  # type: ignore[attr-defined]
    for reward in (by_level, rewards_module.RewardPipeline([(everything, 1.0)])):
        seen.clear()
        trainer = ready_trainer(max_steps=1)
        trainer.check_dataset(_trl_records(8, 0), answer_column="solution")
        trainer.check_reward(reward)
        trainer.mark_validated()
        await trainer.train()
        assert len(seen) == 2  # the probe, then the step's 4 prompts x 4 completions
        expected, columns = seen[1]
        assert len(expected) == 16
        assert columns["level"] == [f"L{answer}" for answer in expected]
    # **columns gets the generated tokens too
    assert isinstance(seen[1][1]["response_tokens"], RaggedTokens)


class _RecordingPipeline(rewards_module.RewardPipeline):
    """A RewardPipeline that keeps what the trainer handed it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[list[str], list[str], dict[str, Any]]] = []

    def __call__(self, responses: Any, references: Any, **kw: Any) -> Any:
        self.calls.append((list(responses), list(references), kw))
        return super().__call__(responses, references, **kw)


async def test_token_rewards_score_the_generated_ids(tmp_path: Path) -> None:
    eos = ByteTokenizer.eos_token_id
    entries: list[Any] = [
        ("math_equal", 1.0),
        ("length_penalty", -0.5, {"kind": "linear", "target": 2}),
        ("repetition_penalty", 0.5, {"n": 1}),
        ("stop_token_check", 0.25, {"stop_ids": [eos]}),
    ]
    pipeline = _RecordingPipeline(entries)
    trainer = ready_trainer(tmp_path, max_steps=2, checkpoint_every=0, max_new_tokens=4)
    trainer.check_reward(pipeline)
    trainer.mark_validated()
    await trainer.train()
    steps = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    calls = pipeline.calls[1:]  # after the probe
    assert len(calls) == 2 == len(steps)
    fresh = rewards_module.RewardPipeline(entries)
    for (texts, references, kw), logged in zip(calls, steps, strict=True):
        tokens = kw["response_tokens"]
        rows = [tokens[i].tolist() for i in range(len(tokens))]
        # the sampled ids, up to and with the first eos (else all 4): no padding
        for row, text in zip(rows, texts, strict=True):
            body = row[:-1] if row[-1:] == [eos] else row
            assert len(row) == 4 or row[-1] == eos
            assert eos not in body
            # the byte tokenizer's text: the bytes, special tokens (sampled too) dropped
            assert bytes(t for t in body if t < 256).decode("utf-8", errors="replace") == text
        total, parts = fresh.score(texts, references, response_tokens=tokens)
        lengths = np.array([len(row) for row in rows], dtype=np.float32)
        np.testing.assert_allclose(parts["length_penalty"], -np.abs(lengths - 2) / 2)
        assert parts["stop_token_check"].tolist() == [float(r[-1:] == [eos]) for r in rows]
        assert logged["reward_mean"] == float(total.mean())
        assert logged["reward_std"] == float(total.std())
    metrics = await trainer.evaluate()  # greedy evaluation hands the tokens on too
    eval_tokens = pipeline.calls[-1][2]["response_tokens"]
    assert len(eval_tokens) == metrics.steps == 16
