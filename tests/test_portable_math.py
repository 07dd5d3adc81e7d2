"""melt.portable_math: torch's CPU sqrt and tanh replaced by kernels that give the same bits on every CPU.

References are independent: mpmath's tanh at 50 digits rounded to float32, IEEE sqrt of the float64 value (exact
for float32 inputs: sqrt rounded to 53 bits, then to 24, is the correctly rounded float32 sqrt)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mpmath
import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from melt import portable_math   # conftest's configure_torch() installed the portable kernels

REPO = Path(__file__).resolve().parents[1]
mpmath.mp.dps = 50


def mp_tanh32(values: np.ndarray) -> np.ndarray:
    return np.array([float(mpmath.tanh(mpmath.mpf(float(v)))) for v in values], dtype=np.float64).astype(np.float32)


def samples32() -> np.ndarray:
    rng = np.random.default_rng(0)
    parts = [rng.normal(0, 1, 1500), rng.normal(0, 4, 1500), rng.uniform(8, 10, 300) * rng.choice([-1, 1], 300),
             10.0 ** rng.uniform(-12, -2, 400), np.linspace(-0.05, 0.05, 301)]
    return np.concatenate(parts).astype(np.float32)


def test_tanh_is_the_correctly_rounded_float32():
    x = samples32()
    got = torch.tanh(torch.from_numpy(x)).numpy()
    ref = mp_tanh32(x)
    wrong = np.flatnonzero(got != ref)
    assert wrong.size == 0, [(float(x[i]), float(got[i]), float(ref[i])) for i in wrong[:5]]


def test_tanh_edge_values():
    x = torch.tensor([0.0, -0.0, 1e-45, -1e-40, 9.0, 9.1, 19.5, -50.0, float("inf"), float("-inf"), float("nan")])
    got = torch.tanh(x).numpy()
    ref = np.copysign(mp_tanh32(x.numpy()[:-1]), x.numpy()[:-1])   # mpmath drops the sign of -0.0
    assert np.array_equal(got[:-1].view(np.uint32), ref.view(np.uint32))   # -0.0 keeps its sign
    assert np.isnan(got[-1])


def test_float64_tanh_within_two_ulps():
    x = np.random.default_rng(1).normal(0, 3, 2000)
    got = torch.tanh(torch.from_numpy(x)).numpy()
    ref = np.array([float(mpmath.tanh(mpmath.mpf(v))) for v in x])
    ulps = np.abs(got - ref) / np.spacing(np.abs(ref))
    assert ulps.max() <= 2, ulps.max()


def test_sqrt_is_ieee_sqrt():
    x = np.concatenate([np.random.default_rng(2).lognormal(0, 4, 5000), [0.0, 1e-45, 4.0, np.inf]]).astype(np.float32)
    got = torch.sqrt(torch.from_numpy(x)).numpy()
    assert np.array_equal(got, np.sqrt(x.astype(np.float64)).astype(np.float32))
    special = torch.sqrt(torch.tensor([-1.0, -0.0])).numpy()
    assert np.isnan(special[0]) and special[1].view(np.uint32) == np.float32(-0.0).view(np.uint32)


@pytest.mark.parametrize("op", ["sqrt", "tanh"])
def test_in_place_out_and_dtype_variants(op):
    x = torch.rand(7, 5) * 3
    fn = getattr(torch, op)
    expected = fn(x)
    inplace = x.clone()
    getattr(inplace, op + "_")()
    out = torch.empty(1)
    fn(x, out=out)
    assert torch.equal(inplace, expected) and torch.equal(out, expected)
    assert torch.equal(fn(x[:, ::2]), fn(x[:, ::2].contiguous()))   # strided input
    assert fn(torch.tensor([4, 9])).dtype == torch.float32   # integers promote like torch's own kernel
    bf16 = fn(x.bfloat16())   # numpy has no bfloat16: computed in float32, then rounded
    assert bf16.dtype == torch.bfloat16 and torch.equal(bf16, fn(x.bfloat16().float()).bfloat16())
    assert fn(x.half()).dtype == torch.float16
    with pytest.raises(NotImplementedError, match=f"complex {op}"):
        fn(torch.tensor([1 + 1j]))


def test_autograd_uses_the_portable_outputs():
    a = torch.randn(6, dtype=torch.float64, requires_grad=True)
    torch.tanh(a).sum().backward()
    assert torch.allclose(a.grad, 1 - torch.tanh(a.detach()) ** 2)
    b = (torch.rand(6, dtype=torch.float64) + 0.5).requires_grad_()
    torch.sqrt(b).sum().backward()
    assert torch.allclose(b.grad, 0.5 / b.detach() ** 0.5)


BRANCH_PROBE = """
import hashlib, os, sys
import melt.reproducible
os.environ["MKL_CBWR"] = sys.argv[1]          # MKL reads it at its first call, after this
import torch
g = torch.Generator().manual_seed(0)
x = torch.randn(200_000, generator=g) * 3
def digest():
    return hashlib.sha256(torch.tanh(x).numpy().tobytes() + torch.sqrt(x.abs()).numpy().tobytes()).hexdigest()
own = digest()                                 # torch's kernels (MKL's vector math)
melt.reproducible.configure_torch()            # now the portable ones
print(own, digest())
"""


def _branch_hashes(branch: str) -> tuple[str, str]:
    out = subprocess.run([sys.executable, "-c", BRANCH_PROBE, branch], cwd=REPO, capture_output=True, text=True,
                         check=True)
    own, portable = out.stdout.split()
    return own, portable


@pytest.mark.skipif("avx2" not in Path("/proc/cpuinfo").read_text(), reason="needs a CPU with a second MKL code branch (AVX2)")
def test_results_do_not_depend_on_mkl_code_branch():
    """MKL's code branches stand in for other CPUs: torch's own kernels give other bits on each (the control),
    the portable ones the same."""
    compatible, avx2 = _branch_hashes("COMPATIBLE"), _branch_hashes("AVX2")
    assert compatible[0] != avx2[0]
    assert compatible[1] == avx2[1]


def test_dropout_masks_are_atens_own_generator_stream():
    """Scalar bernoulli_ draws what ATen's own (non-MKL) path draws: the tensor-probability bernoulli in float64,
    the code non-Intel CPUs run for dropout too (and, as measured, torch itself on this project's virtual machines,
    where its vendor check does not see an Intel CPU: the committed outputs did not change with this kernel)."""
    g = torch.Generator().manual_seed(7)
    mask = torch.empty(40, 25).bernoulli_(0.3, generator=g)
    g = torch.Generator().manual_seed(7)
    assert torch.equal(mask, torch.bernoulli(torch.full((40, 25), 0.3, dtype=torch.float64), generator=g).float())
    torch.manual_seed(3)
    dropped = torch.nn.functional.dropout(torch.ones(8, 9), p=0.25, training=True)
    torch.manual_seed(3)
    keep = torch.rand(8, 9, dtype=torch.float64) < 0.75
    assert torch.equal(dropped, keep.float() / 0.75)


class _OpLog(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.names: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.add(func.overloadpacket.__name__.rstrip("_"))
        return func(*args, **(kwargs or {}))


def _adam_steps(model, loss_fn, optimizer_cls=torch.optim.Adam, steps=2):
    optimizer = optimizer_cls(model.parameters(), lr=1e-3)
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn().backward()
        optimizer.step()


# Each step builds its model (outside the op log) and returns what runs under it.
def _pretrain_text(tmp_path):
    from transformers import RobertaConfig, RobertaForSequenceClassification
    config = RobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=24, max_position_embeddings=20, pad_token_id=1, num_labels=3)
    model = RobertaForSequenceClassification(config).train()
    ids = torch.randint(3, 50, (4, 9))
    return lambda: _adam_steps(model, lambda: model(input_ids=ids, labels=torch.tensor([0, 1, 2, 1])).loss,
                               torch.optim.AdamW)


def _erc_embed(tmp_path):
    from transformers import RobertaConfig, RobertaModel
    model = RobertaModel(RobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                       intermediate_size=24, max_position_embeddings=20, pad_token_id=1)).eval()

    def run():
        with torch.inference_mode():
            model(input_ids=torch.randint(3, 50, (3, 7)))
    return run


def _erc_models(tmp_path):
    from melt.erc.model import CoAttentionFusion, DialogueContext, UtteranceClassifier
    x, lengths = torch.randn(2, 5, 8), torch.tensor([5, 3])
    ok = torch.ones(2, 5, dtype=torch.bool)
    context = DialogueContext(8, 6, 1, 2, 4).train()
    fusion = CoAttentionFusion(8, 4, 6, 2, 4).train()
    utterance = UtteranceClassifier(3, 8, 6, 4).train()

    def run():
        _adam_steps(context, lambda: context(x, lengths).sum())
        _adam_steps(fusion, lambda: fusion(x, torch.randn(2, 5, 4), ok, ok).sum())
        _adam_steps(utterance, lambda: utterance(torch.randn(5, 3, 8)).sum())
    return run


def _ser_head(tmp_path):
    from melt.compute.heads import WeightedLayerHead
    head = WeightedLayerHead(3, 8, 6, 4).train()
    mask = torch.ones(2, 5, dtype=torch.bool)
    return lambda: _adam_steps(head, lambda: head.forward_hidden(torch.randn(2, 3, 5, 8), mask).sum())


def _ser_backbone(tmp_path):
    """The SSL backbones the features stage and SER fine-tuning run (wav2vec2-style), forward and backward."""
    from transformers import Wav2Vec2Config, Wav2Vec2Model
    model = Wav2Vec2Model(Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                         intermediate_size=8, conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 8),
                                         num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)).train()
    waves = torch.randn(2, 1600)
    return lambda: _adam_steps(model, lambda: model(waves, output_hidden_states=True).last_hidden_state.sum())


def _transcribe(tmp_path):
    from pretrain_helpers import tiny_whisper
    from transformers import WhisperForConditionalGeneration
    # loading computes Whisper's sinusoids (exp/sin/cos) before the checkpoint overwrites them: outside the log
    model = WhisperForConditionalGeneration.from_pretrained(tiny_whisper(tmp_path / "whisper")).eval()
    features = torch.randn(1, model.config.num_mel_bins, 2 * model.config.max_source_positions)

    def run():
        with torch.inference_mode():
            model.generate(features, max_new_tokens=4)
    return run


@pytest.mark.parametrize("step", [_pretrain_text, _erc_embed, _erc_models, _ser_head, _ser_backbone, _transcribe],
                         ids=lambda f: f.__name__.strip("_"))
def test_model_steps_run_no_cpu_dependent_vml_function(step, tmp_path):
    """The training and inference steps of each model family the stages run call, of the functions torch hands to
    MKL's vector math, only those with a portable kernel."""
    run = step(tmp_path)
    log = _OpLog()
    with log:
        run()
    assert log.names & portable_math.VML_OPS <= portable_math.PORTABLE_OPS, log.names & portable_math.VML_OPS
    assert log.names   # the mode saw the ops
