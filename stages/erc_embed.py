"""Stage `erc_embed@<modality>` (text, audio): an embedding per turn of every ERC dataset via a shared store →
data/features/erc/<modality>/. The counters (computed vs reused) depend on the store's history: printed only."""

from melt.reproducible import configure_torch  # first: sets the exact-numerics environment before torch loads

import sys

from melt.compute.params import ComputeParams
from melt.erc.embed import embed_turns
from melt.erc.params import ErcParams
from melt.params_base import stage_params
from melt.ser.params import SerParams

if __name__ == "__main__":
    configure_torch()
    modality = sys.argv[1]
    params = stage_params(erc=ErcParams, ser=SerParams, compute=ComputeParams)
    info = embed_turns(modality, params.erc, params.ser, tables_dir="data/erc",
                       out_dir=f"data/features/erc/{modality}", compute=params.compute)
    print(f"{modality}: {info['items']} turns {info['status']}, {info['layers']} layers × {info['dim']}; vectors "
          f"computed {info['vectors_computed']}, reused {info['vectors_reused']}")
