"""A tiny causal language model built at test time: random weights, a byte-level BPE tokenizer
trained on a few sentences, and a chat template. Small enough to load and generate on CPU in
well under a second; nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "hello world, this is a tiny model for tests.",
    "the gateway routes requests to workers and providers.",
    "workers send heartbeats to the controller every few seconds.",
    "a quick brown fox jumps over the lazy dog.",
]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|end|>", "<|pad|>"]


def build_tiny_model(directory: Path, seed: int = 0, context_length: int = 512) -> Path:
    """Writes a GPT-2-style model with random weights and its tokenizer into `directory`."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS, vocab_size=320, min_frequency=1, special_tokens=SPECIAL_TOKENS)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|pad|>",
        model_max_length=context_length,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=context_length,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(directory)
    return directory


if __name__ == "__main__":
    import sys

    print(build_tiny_model(Path(sys.argv[1])))
