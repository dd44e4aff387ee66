"""A byte-level tokenizer: every UTF-8 byte is a token, plus pad, bos and eos.

Needs no vocabulary file and no download, so the built-in demo and the tests run anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orbiter.train.data import RaggedTokens


class ByteTokenizer:
    """Bytes 0..255 are tokens 0..255; ``pad_token_id=256``, ``bos_token_id=257``,
    ``eos_token_id=258``; ``vocab_size=259``.

    Decoding skips the special tokens and replaces invalid UTF-8 with U+FFFD.
    """

    pad_token_id = 256
    bos_token_id = 257
    eos_token_id = 258
    vocab_size = 259

    def __len__(self) -> int:
        return self.vocab_size

    def encode(self, text: str, *, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Token ids of *text*: its UTF-8 bytes, optionally framed by bos / eos."""
        head = (self.bos_token_id,) if add_bos else ()
        tail = (self.eos_token_id,) if add_eos else ()
        return [*head, *text.encode("utf-8"), *tail]

    def encode_batch(
        self,
        texts: Sequence[str],
        *,
        prefix: str = "",
        add_bos: bool = False,
        add_eos: bool = False,
    ) -> RaggedTokens:
        """:meth:`encode` of ``prefix + text`` for each of *texts*, as token rows built in
        one pass in the core (:meth:`~orbiter.train.data.RaggedTokens.from_utf8`)."""
        from orbiter.train.data import RaggedTokens

        return RaggedTokens.from_utf8(
            texts,
            prefix=prefix,
            bos=self.bos_token_id if add_bos else None,
            eos=self.eos_token_id if add_eos else None,
        )

    def decode(self, ids: Iterable[int], *, stop_at_eos: bool = True) -> str:
        """Text of *ids*, special tokens dropped; stops at the first eos by default."""
        out = bytearray()
        for raw in ids:
            token = int(raw)
            if token == self.eos_token_id and stop_at_eos:
                break
            if 0 <= token < 256:
                out.append(token)
        return out.decode("utf-8", errors="replace")

    def batch_decode(self, rows: Sequence[Iterable[int]]) -> list[str]:
        """:meth:`decode` for each row."""
        return [self.decode(row) for row in rows]

    def __repr__(self) -> str:
        return "ByteTokenizer(vocab_size=259)"
