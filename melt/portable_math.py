"""CPU kernels for torch's `sqrt`, `tanh` and scalar `bernoulli_` (dropout) that give the same bits on every x86-64 CPU.

torch sends these elementwise functions (and exp, log, erf, ... : `VML_OPS`) to MKL's vector math library (VML),
which picks its code by CPU even in MKL's conditional-reproducibility mode: with `MKL_CBWR=COMPATIBLE` its float32
sqrt is an approximation (17 % of a million inputs differ from IEEE sqrt on the machine it was measured on), and a
fresh clone on a Xeon with AMX and AVX512-FP16 got another `pretrain_text` loss curve from epoch 7 than the committed
one, made on another AVX-512 Xeon, under identical settings (docs/registry.md). `install()` replaces the CPU kernels
of the two the pipeline runs (sqrt: Adam/AdamW's denominator; tanh: RoBERTa's classification head and pooler, the
ERC GRU) with code that uses only IEEE-754 basic operations, whose results every CPU must round alike:
- sqrt is IEEE sqrt itself (numpy's, correctly rounded by definition);
- tanh is evaluated in float64 from + - * / alone (Cody-Waite reduction, a Taylor polynomial for expm1), then
  rounded to the input's type: within a few float64 ulps of tanh, so the float32 result is the correctly rounded
  one except on inputs within ~1e-15 of a rounding boundary, and identical on every CPU in every case.
The other VML functions are left to MKL: no stage runs them (tests/test_portable_math.py checks the training and
inference steps of every model family for them).

Dropout draws its mask with `bernoulli_(p)`, whose CPU kernel asks the CPU's vendor: MKL's VSL generator on Intel,
ATen's own generator elsewhere (ATen's cpu/DistributionKernels.cpp), so an AMD CPU would train with other masks than
a bare-metal Intel one. The portable kernel draws on every CPU what ATen's own path draws (`torch.rand(...,
dtype=float64) < p`), which is also what torch drew by itself on the virtual machines that made the committed outputs
(its vendor check did not see an Intel CPU there).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

# Elementwise functions torch computes with MKL VML on CPU (ATen's cpu/vml.h): CPU-dependent bits.
VML_OPS = frozenset({"acos", "asin", "atan", "cos", "erf", "erfc", "exp", "expm1", "log", "log10", "log1p", "log2",
                     "sin", "sqrt", "tan", "tanh"})
PORTABLE_OPS = frozenset({"sqrt", "tanh"})

# fdlibm's split of ln 2: k * LN2_HI is exact for |k| < 2**11.
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
# 1/n! for n = 2..13: expm1(r) = r + r^2/2! + ... + r^13/13!, |r| <= ln2/2, truncation < 1e-17 relative.
_INV_FACT = [1.0 / np.prod(np.arange(1, n + 1, dtype=np.float64)) for n in range(2, 14)]
# tanh(x) rounds to +-1 in float64 for |x| > 19.1: clamping 2|x| keeps exp from overflowing.
_MAX_2X = 40.0


def expm1_f64(y: np.ndarray) -> np.ndarray:
    """exp(y) - 1 for float64 y in [0, 40], from basic operations only."""
    k = np.rint(y * 1.4426950408889634)   # 1 / ln 2
    r = (y - k * LN2_HI) - k * LN2_LO
    p = _INV_FACT[-1]
    for c in reversed(_INV_FACT[:-1]):
        p = p * r + c
    p = r + (r * r) * p                      # expm1(r)
    scale = np.ldexp(1.0, k.astype(np.int64))   # 2**k, exact
    return scale * p + (scale - 1.0)         # 2**k (1 + p) - 1


def tanh_array(a: np.ndarray) -> np.ndarray:
    """tanh of a float array, computed in float64 and rounded to a's dtype."""
    x = a.astype(np.float64)
    with np.errstate(invalid="ignore"):
        t = expm1_f64(np.minimum(2.0 * np.abs(x), _MAX_2X))
        out = np.copysign(t / (t + 2.0), x)
    return out.astype(a.dtype)   # NaN stays NaN through every step


def sqrt_array(a: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.sqrt(a)


_NO_NUMPY_DTYPE = {torch.bfloat16: torch.float32}   # computed in float32, then rounded


def _unary(name: str, array_fn):
    def compute(x: torch.Tensor) -> torch.Tensor:
        if x.is_complex():
            raise NotImplementedError(f"melt.portable_math: complex {name} is not implemented (melt.reproducible "
                                      f"replaced torch's CPU {name} kernel for exact results)")
        dtype = x.dtype if x.dtype.is_floating_point else torch.get_default_dtype()
        via = _NO_NUMPY_DTYPE.get(dtype)
        work = x.detach().to(via or dtype).contiguous()
        result = torch.from_numpy(array_fn(work.numpy()))
        return result.to(dtype) if via else result

    def inplace(x):
        return x.copy_(compute(x))

    def out_variant(x, *, out):
        result = compute(x)
        out.resize_(result.shape)
        return out.copy_(result)

    return compute, inplace, out_variant


def bernoulli_scalar_(self: torch.Tensor, p: float = 0.5, *, generator: torch.Generator | None = None):
    """In place: 1 where a float64 uniform draw from `generator` (torch's default CPU generator if None) is < p."""
    draws = torch.rand(self.shape, generator=generator, dtype=torch.float64)
    return self.copy_(draws < p)


_LIBRARY: torch.library.Library | None = None


def install() -> None:
    """Register the portable sqrt and tanh (functional, in-place, out=) and scalar bernoulli_ as torch's CPU kernels;
    idempotent. Autograd is untouched: the backward formulas read these outputs."""
    global _LIBRARY
    if _LIBRARY is not None:
        return
    library = torch.library.Library("aten", "IMPL")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(?s).*Overriding a previously registered kernel")
        for name, fn in (("sqrt", sqrt_array), ("tanh", tanh_array)):
            functional, inplace, out_variant = _unary(name, fn)
            library.impl(name, functional, "CPU")
            library.impl(f"{name}_", inplace, "CPU")
            library.impl(f"{name}.out", out_variant, "CPU")
        library.impl("bernoulli_.float", bernoulli_scalar_, "CPU")
    _LIBRARY = library   # the registrations live as long as this object
