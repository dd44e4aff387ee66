"""One prompt, one rendering: the chat messages of a record and the text a policy reads.

A record's prompt is plain text or a conversation, a list of ``{"role": str, "content":
str}`` messages (TRL's conversational format). Both backends turn it into the same
messages with :func:`messages_of`: the agent's instructions, when non-empty, as a first
``system`` message (put before the conversation's own system message, in one message, when
it starts with one), then the user's text or the conversation as given. VeRLTrainer writes
these messages to verl's parquet rows, and verl renders them with the tokenizer's chat
template (``apply_chat_template(messages, add_generation_prompt=True)``); TorchTrainer
renders them here, with :func:`render_prompt`, in the same way.

A tokenizer without a chat template (the built-in ByteTokenizer) gets the one fallback
rendering, the messages' contents joined by ``"\\n"``. For a plain-text prompt this is
``instructions + "\\n" + text`` (or the text alone): roles are not marked, so a multi-turn
conversation is best trained with a tokenizer that has a chat template.

This module imports neither torch nor verl.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

__all__ = [
    "Message",
    "Prompt",
    "has_chat_template",
    "messages_of",
    "prompt_text",
    "render_messages",
    "render_prompt",
]

Message: TypeAlias = Mapping[str, str]
"""One chat message: ``{"role": ..., "content": ...}``."""
Prompt: TypeAlias = str | tuple[Message, ...]
"""A record's prompt: plain text, or a conversation (checked by
:func:`orbiter.train.records.parse_record`)."""


def messages_of(prompt: Prompt, instructions: str = "") -> list[dict[str, str]]:
    """The chat messages of *prompt* under the agent's *instructions* (see the module
    docstring): what verl's rows hold and what the chat template renders."""
    if isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    else:
        messages = [{"role": m["role"], "content": m["content"]} for m in prompt]
    if not instructions:
        return messages
    if messages and messages[0]["role"] == "system":
        head = {"role": "system", "content": f"{instructions}\n{messages[0]['content']}"}
        return [head, *messages[1:]]
    return [{"role": "system", "content": instructions}, *messages]


def has_chat_template(tokenizer: Any) -> bool:
    """Whether *tokenizer* renders chats itself (a transformers tokenizer with a
    ``chat_template``)."""
    return bool(getattr(tokenizer, "chat_template", None)) and callable(
        getattr(tokenizer, "apply_chat_template", None)
    )


def render_messages(
    messages: Sequence[Message],
    tokenizer: Any = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """The text of *messages*: the tokenizer's chat template with the generation prompt
    (``apply_chat_template(messages, tokenize=False, add_generation_prompt=True)``, and
    ``tools=`` the function schemas of *tools* when given) when it has one, else the
    contents joined by ``"\\n"`` (*tools* unused: a tool-call format without a template
    writes them into the instructions)."""
    if has_chat_template(tokenizer):
        extra = {"tools": [dict(t) for t in tools]} if tools else {}
        text = tokenizer.apply_chat_template(
            [dict(m) for m in messages], tokenize=False, add_generation_prompt=True, **extra
        )
        return str(text)
    return "\n".join(m["content"] for m in messages)


def plain_text(prompt: str, instructions: str = "") -> str:
    """A text prompt as :func:`render_messages` writes it without a chat template (its
    messages' contents joined by ``"\n"``), without building the messages:
    ``instructions + "\n" + prompt``, or *prompt* alone."""
    return f"{instructions}\n{prompt}" if instructions else prompt


def render_prompt(
    prompt: Prompt,
    instructions: str = "",
    tokenizer: Any = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """The text a policy reads for *prompt*: :func:`render_messages` of
    :func:`messages_of` (:func:`plain_text` for text without a chat template)."""
    if isinstance(prompt, str) and not has_chat_template(tokenizer):
        return plain_text(prompt, instructions)
    return render_messages(messages_of(prompt, instructions), tokenizer, tools)


def prompt_text(prompt: Prompt) -> str:
    """The question of *prompt* for people and logs: the text, or a conversation's last
    user message (its last message when no user speaks)."""
    if isinstance(prompt, str):
        return prompt
    users = [m["content"] for m in prompt if m["role"] == "user"]
    return users[-1] if users else (prompt[-1]["content"] if prompt else "")
