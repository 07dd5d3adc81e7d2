"""The utterance-level text classifier: a pre-trained encoder from the Hub / a folder, or an offline scratch model.

The scratch model is a small RoBERTa-style encoder with random weights and a word-level tokenizer trained
(with the `tokenizers` library) on the training transcripts: no download, and it saves and loads like any
Hub model (`AutoModelForSequenceClassification.from_pretrained`, `AutoTokenizer.from_pretrained`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from melt.pretrain.params import TextParams

SCRATCH = "scratch"
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def scratch_tokenizer(texts: list[str], vocab_size: int):
    """A word-level tokenizer (lower-cased words and punctuation) whose vocabulary is learnt from `texts`:
    with a few hundred sentences, whole words keep sentiment words intact where subword merges would not.
    Saved as tokenizer.json with RoBERTa's special tokens, it loads with AutoTokenizer."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(vocab_size=vocab_size, min_frequency=2,
                                                             special_tokens=SPECIALS, show_progress=False))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[(t, tok.token_to_id(t)) for t in ("<s>", "</s>")])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", mask_token="<mask>", cls_token="<s>", sep_token="</s>")


def build_classifier(text: TextParams, labels: list[str], train_texts: list[str]):
    """(model, tokenizer) for `labels`, with id2label/label2id set, ready to fine-tune."""
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, RobertaConfig,
                              RobertaForSequenceClassification)

    id2label = dict(enumerate(labels))
    label2id = {label: i for i, label in id2label.items()}
    torch.manual_seed(text.seed)
    if text.model == SCRATCH:
        s = text.scratch
        tokenizer = scratch_tokenizer(train_texts, s.vocab_size)
        config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=s.hidden_size, num_hidden_layers=s.layers,
                               num_attention_heads=s.heads, intermediate_size=s.intermediate_size,
                               max_position_embeddings=text.max_length + 2, type_vocab_size=1,
                               pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                               eos_token_id=tokenizer.eos_token_id, num_labels=len(labels),
                               id2label=id2label, label2id=label2id)
        return RobertaForSequenceClassification(config), tokenizer
    tokenizer = AutoTokenizer.from_pretrained(text.model, revision=text.revision)
    model = AutoModelForSequenceClassification.from_pretrained(
        text.model, revision=text.revision, num_labels=len(labels), id2label=id2label, label2id=label2id,
        ignore_mismatched_sizes=True)   # a checkpoint with another head (e.g. a fine-tuned one) gets a new head
    return model, tokenizer


def schedule(text: TextParams) -> tuple[float, int, int]:
    """(learning rate, epochs, batch size): the scratch model's own, else the fine-tuning ones."""
    s = text.scratch
    return (s.lr, s.epochs, s.batch_size) if text.model == SCRATCH else (text.lr, text.epochs, text.batch_size)


@torch.inference_mode()
def predict_logits(model, tokenizer, texts: list[str], max_length: int, batch_size: int = 64) -> torch.Tensor:
    """(N, classes) logits."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(texts[i:i + batch_size], padding=True, truncation=True, max_length=max_length,
                        return_tensors="pt").to(device)
        out.append(model(**enc).logits.float().cpu())
    return torch.cat(out) if out else torch.zeros(0, model.config.num_labels)


def predict_texts(model, tokenizer, texts: list[str], max_length: int, batch_size: int = 64) -> list[int]:
    """Class index per text (argmax of the logits)."""
    return predict_logits(model, tokenizer, texts, max_length, batch_size).argmax(-1).tolist()


@torch.inference_mode()
def utterance_embeddings(texts: list[str], model_dir: str | Path, max_length: int = 128,
                         batch_size: int = 64) -> torch.Tensor:
    """(N, hidden) mean-pooled last hidden states of the encoder in `model_dir` (padding masked out):
    the utterance embeddings a dialogue-level model consumes. `AutoModel` loads the encoder without its head."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    encoder = AutoModel.from_pretrained(model_dir).eval()
    out = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(texts[i:i + batch_size], padding=True, truncation=True, max_length=max_length,
                        return_tensors="pt")
        hidden = encoder(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        out.append((hidden * mask).sum(1) / mask.sum(1))
    return torch.cat(out) if out else torch.zeros(0, encoder.config.hidden_size)
