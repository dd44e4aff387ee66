"""PolicyAgent: a causal LM, its tokenizer, the instructions prepended to every prompt, and
the tools (or environment) of a multi-turn agent."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import nn

from orbiter.train.agents import (
    Environment,
    Tool,
    ToolCallFormat,
    ToolSet,
    check_turn_prefix,
    default_format,
    environment_tools,
)
from orbiter.train.data import RaggedTokens
from orbiter.train.errors import TrainerError
from orbiter.train.prompts import (
    Prompt,
    has_chat_template,
    plain_text,
    render_messages,
    render_prompt,
)
from orbiter.train.torch.tokenizer import ByteTokenizer


def _batched_tokenizer() -> type[Any]:
    """transformers' tokenizer base, whose ``__call__`` encodes a list of texts at once;
    ``NoneType`` while transformers is not imported (no tokenizer is one of its then),
    so a tokenizer of another kind does not pay for importing it."""
    transformers = sys.modules.get("transformers")
    base = getattr(transformers, "PreTrainedTokenizerBase", None)
    return base if isinstance(base, type) else type(None)


class TokenizerAdapter:
    """One interface over :class:`ByteTokenizer` and transformers tokenizers."""

    def __init__(self, tokenizer: Any) -> None:
        self.inner = tokenizer
        if isinstance(tokenizer, ByteTokenizer):
            self.eos_token_id = tokenizer.eos_token_id
            self.pad_token_id = tokenizer.pad_token_id
            self.bos_token_id: int | None = tokenizer.bos_token_id
            self.vocab_size = tokenizer.vocab_size
            return
        for method in ("encode", "decode"):
            if not callable(getattr(tokenizer, method, None)):
                raise TrainerError(
                    f"agent.tokenizer ({type(tokenizer).__name__}) has no {method}(): use "
                    "ByteTokenizer or a transformers tokenizer"
                )
        eos = getattr(tokenizer, "eos_token_id", None)
        if eos is None:
            raise TrainerError("agent.tokenizer has no eos_token_id")
        pad = getattr(tokenizer, "pad_token_id", None)
        self.eos_token_id = int(eos)
        self.pad_token_id = int(pad) if pad is not None else int(eos)
        self.bos_token_id = getattr(tokenizer, "bos_token_id", None)
        self.vocab_size = len(tokenizer)

    def encode_prompt(self, text: str) -> list[int]:
        """Prompt text's ids, with the tokenizer's own special tokens (bos)."""
        if isinstance(self.inner, ByteTokenizer):
            return self.inner.encode(text, add_bos=True)
        return list(self.inner.encode(text, add_special_tokens=True))

    def encode_text(self, text: str) -> list[int]:
        """Ids of *text* with no special tokens added: a span appended to a trajectory."""
        if isinstance(self.inner, ByteTokenizer):
            return self.inner.encode(text)
        return list(self.inner.encode(text, add_special_tokens=False))

    def prompt_ids(
        self, prompt: Prompt, instructions: str, tools: list[dict[str, Any]] | None = None
    ) -> list[int]:
        """The ids of *prompt* rendered by :func:`orbiter.train.prompts.render_prompt` (with
        the chat template's ``tools=`` when given). A chat template's text holds its own
        special tokens, so it is encoded without adding any (as verl and TRL encode it); the
        fallback text gets them (:meth:`encode_prompt`)."""
        text = render_prompt(prompt, instructions, self.inner, tools)
        if has_chat_template(self.inner):
            return list(self.inner.encode(text, add_special_tokens=False))
        return self.encode_prompt(text)

    def prompt_tokens(
        self,
        prompts: Sequence[Prompt],
        instructions: str,
        tools: list[dict[str, Any]] | None = None,
    ) -> RaggedTokens:
        """:meth:`prompt_ids` of each of *prompts*, as token rows, through the tokenizer's
        batched encoding: the byte tokenizer's in the core (without a chat template a
        prompt is ``instructions + "\n"`` and its messages' contents joined by ``"\n"``,
        so the instructions are one prefix), a transformers tokenizer's batched call
        (``tokenizer(texts)``) on the rendered texts."""
        if isinstance(self.inner, ByteTokenizer):
            prefix = f"{instructions}\n" if instructions else ""
            bos = self.inner.bos_token_id
            # texts first; a conversation's contents are joined only when there is one
            texts_only = cast("Sequence[str]", prompts)  # the core says None when not
            found = RaggedTokens._utf8_or_none(texts_only, prefix=prefix, bos=bos, eos=None)
            if found is not None:
                return found
            texts = [p if isinstance(p, str) else render_messages(p) for p in prompts]
            return self.inner.encode_batch(texts, prefix=prefix, add_bos=True)
        template = has_chat_template(self.inner)
        texts = [
            plain_text(p, instructions)
            if isinstance(p, str) and not template
            else render_prompt(p, instructions, self.inner, tools)
            for p in prompts
        ]
        # a chat template's text holds its own special tokens (see prompt_ids)
        return RaggedTokens.from_sequences(self._encode_batch(texts, special=not template))

    def answer_tokens(self, answers: Sequence[str]) -> RaggedTokens:
        """:meth:`encode_answer` of each of *answers*, as token rows, batched as
        :meth:`prompt_tokens` is."""
        if isinstance(self.inner, ByteTokenizer):
            return self.inner.encode_batch(answers, add_eos=True)
        eos = self.eos_token_id
        return RaggedTokens.from_sequences(
            [[*ids, eos] for ids in self._encode_batch(answers, special=False)]
        )

    def _encode_batch(self, texts: Sequence[str], *, special: bool) -> list[list[int]]:
        """The ids of *texts* by a transformers tokenizer's batched call (one call into
        a fast tokenizer's Rust encoder), else by ``encode`` one at a time."""
        if not texts:
            return []
        if isinstance(self.inner, _batched_tokenizer()):
            encoded = self.inner(
                list(texts),
                add_special_tokens=special,
                return_attention_mask=False,
                return_token_type_ids=False,
            )
            return [list(ids) for ids in encoded["input_ids"]]
        return [list(self.inner.encode(t, add_special_tokens=special)) for t in texts]

    def encode_answer(self, text: str) -> list[int]:
        """Answer tokens followed by eos: the target of supervised steps and the NLL."""
        if isinstance(self.inner, ByteTokenizer):
            return self.inner.encode(text, add_eos=True)
        return [*self.inner.encode(text, add_special_tokens=False), self.eos_token_id]

    def decode(self, ids: list[int]) -> str:
        if isinstance(self.inner, ByteTokenizer):
            return self.inner.decode(ids)
        if self.eos_token_id in ids:
            ids = ids[: ids.index(self.eos_token_id)]
        return str(self.inner.decode(ids, skip_special_tokens=True))


@dataclass(slots=True)
class PolicyAgent:
    """The policy to train.

    Attributes:
        model: A torch causal LM, ``forward(input_ids, attention_mask) -> logits (B, T, V)``
            (or a transformers model, whose output's ``.logits`` is used).
        tokenizer: :class:`ByteTokenizer` (the default) or a transformers tokenizer.
        instructions: The system prompt of every prompt: rendered with the tokenizer's
            chat template when it has one, else prepended with a newline (see
            :mod:`orbiter.train.prompts`).
        tools: Tools the policy may call: ``@tool`` functions, plain functions, or
            orbiter-style tools (``name``, ``description``, ``parameters``,
            ``async execute(**kwargs)``).
        environment: An :class:`~orbiter.train.agents.Environment` subclass (or a factory
            of instances): one instance per trajectory, its ``@tool`` methods added to
            *tools*.
        tool_format: How tools and calls are written (None: Hermes with a chat template,
            else the compact form; see :mod:`orbiter.train.agents.formats`).

    With tools or an environment, TorchTrainer runs multi-turn rollouts (up to the config's
    ``max_turns``); without, the single-turn rollout.
    """

    model: nn.Module
    tokenizer: Any = None
    instructions: str = ""
    tools: Sequence[Any] = field(default_factory=tuple)
    environment: type[Environment] | Callable[[], Environment] | None = None
    tool_format: ToolCallFormat | None = None

    def __post_init__(self) -> None:
        if self.tokenizer is None:
            self.tokenizer = ByteTokenizer()

    @property
    def is_agentic(self) -> bool:
        """Whether the policy has tools or an environment (a multi-turn rollout)."""
        return bool(self.tools) or self.environment is not None

    @property
    def format(self) -> ToolCallFormat:
        """:attr:`tool_format`, or the default for the tokenizer."""
        return self.tool_format or default_format(self.tokenizer)

    def toolset(self, env: Environment | None = None) -> ToolSet:
        """The agent's tools and those of *env* (or of the environment class, unbound, for
        their schemas), checked (:class:`~orbiter.train.agents.ToolSet`)."""
        source: Any = env if env is not None else self.environment
        if source is not None and not isinstance(source, Environment | type):
            source = type(source())  # a factory: its instances' class holds the tools
        own = environment_tools(source) if source is not None else []
        return ToolSet([*self.tools, *own])

    def prompt_parts(self) -> tuple[str, list[dict[str, Any]] | None]:
        """The instructions and the chat template's ``tools=`` the format writes for this
        agent's tools (the instructions unchanged and None without tools)."""
        if not self.is_agentic:
            return self.instructions, None
        tools: list[Tool] = list(self.toolset())
        fmt = self.format
        return fmt.instructions(self.instructions, tools), fmt.template_tools(tools)

    def prompt_text(self, prompt: Prompt) -> str:
        """The text the policy reads for *prompt* (:func:`~orbiter.train.prompts.render_prompt`)."""
        instructions, tools = self.prompt_parts()
        return render_prompt(prompt, instructions, self.tokenizer, tools)


def as_policy(obj: Any, what: str) -> PolicyAgent:
    """*obj* as a PolicyAgent: itself, or a bare nn.Module with the byte tokenizer; *what*
    names it in the error."""
    if isinstance(obj, nn.Module):
        return PolicyAgent(obj)
    if not isinstance(obj, PolicyAgent):
        raise TrainerError(
            f"{what} must be a PolicyAgent(model, tokenizer, instructions) or a torch "
            f"nn.Module, got {type(obj).__name__}"
        )
    return obj


def is_orbiter_agent(obj: Any) -> bool:
    """Duck-typed: an object with ``instructions`` and ``tools`` (orbiter's ``Agent``)."""
    return not isinstance(obj, nn.Module | PolicyAgent) and all(
        hasattr(obj, key) for key in ("instructions", "tools")
    )


def policy_for(agent: Any, policy: Any) -> PolicyAgent:
    """An orbiter-style *agent* (its ``instructions`` and ``tools``) trained as *policy* (a
    :class:`PolicyAgent`, whose model, tokenizer and environment are kept, or an
    ``nn.Module`` with the byte tokenizer)."""
    name = getattr(agent, "name", type(agent).__name__)
    policy = as_policy(policy, f"policy (to train the agent {name!r})")
    instructions = agent.instructions
    if not isinstance(instructions, str):
        raise TrainerError(f"agent.instructions must be a str, got {type(instructions).__name__}")
    tools = agent.tools
    if isinstance(tools, dict):
        tools = list(tools.values())
    if not isinstance(tools, Sequence | set | frozenset):
        raise TrainerError(f"agent.tools must be a list of tools, got {type(tools).__name__}")
    return PolicyAgent(
        policy.model,
        policy.tokenizer,
        instructions=instructions,
        tools=[*tools, *policy.tools],
        environment=policy.environment,
        tool_format=policy.tool_format,
    )


def _check_tools(agent: PolicyAgent) -> None:
    """The environment is a class or factory, and every tool's schema holds (the error
    names ``agent.tools[i]`` and the parameter)."""
    environment = agent.environment
    if environment is not None and not callable(environment):
        raise TrainerError(
            f"agent.environment must be an Environment subclass or a factory, "
            f"got {type(environment).__name__}"
        )
    if agent.is_agentic:
        try:
            tools = list(agent.toolset())
        except TrainerError as err:
            raise TrainerError(f"agent.{err}") from err
        check_turn_prefix(agent.tokenizer, agent.instructions, tools, agent.format)


def check_policy(agent: Any) -> tuple[PolicyAgent, TokenizerAdapter]:
    """Validate *agent* (a PolicyAgent or a bare nn.Module) and run one tiny forward."""
    agent = as_policy(agent, "agent")
    if not isinstance(agent.model, nn.Module):
        raise TrainerError(f"agent.model must be a torch nn.Module, got {type(agent.model)}")
    if not isinstance(agent.instructions, str):
        raise TrainerError("agent.instructions must be a str")
    _check_tools(agent)
    trainable = sum(p.numel() for p in agent.model.parameters() if p.requires_grad)
    if trainable == 0:
        raise TrainerError("agent.model has no trainable parameters (requires_grad=False)")
    tokenizer = TokenizerAdapter(agent.tokenizer)
    from orbiter.train.torch.generation import forward_logits

    param = next(agent.model.parameters())
    ids = torch.tensor([tokenizer.encode_prompt("1+1=")[:4]], device=param.device)
    mask = torch.ones_like(ids, dtype=torch.bool)
    was_training = agent.model.training
    agent.model.eval()
    try:
        with torch.no_grad():
            logits = forward_logits(agent.model, ids, mask)
    except Exception as err:
        raise TrainerError(
            f"agent.model failed a forward pass on {tuple(ids.shape)}: {err}"
        ) from err
    finally:
        agent.model.train(was_training)
    if logits.ndim != 3 or logits.shape[:2] != ids.shape:
        raise TrainerError(
            f"agent.model must return logits (B, T, V); for input {tuple(ids.shape)} it "
            f"returned {tuple(logits.shape)}"
        )
    if logits.shape[-1] < tokenizer.vocab_size:
        raise TrainerError(
            f"agent.model's vocabulary ({logits.shape[-1]}) is smaller than the "
            f"tokenizer's ({tokenizer.vocab_size})"
        )
    if not bool(torch.isfinite(logits).all()):
        raise TrainerError("agent.model returned non-finite logits on a tiny input")
    return agent, tokenizer
