"""Stage `features` (one per backbone): pooled backbone features via the shared store → data/features/ser/<backbone>/.

The counters (extracted vs reused) depend on the store's history: they are printed, never written."""

from melt.reproducible import configure_torch  # first: sets the exact-numerics environment before torch loads

import sys

from melt.compute.params import ComputeParams
from melt.params_base import stage_params
from melt.ser.features import extract_features
from melt.ser.params import SerParams

if __name__ == "__main__":
    configure_torch()
    backbone = sys.argv[1]
    params = stage_params(ser=SerParams, compute=ComputeParams)
    info = extract_features(params.ser, backbone, prepared_dir="data/prepared", out_dir=f"data/features/ser/{backbone}",
                            compute=params.compute)
    print(f"{backbone}: {info['items']} items {info['status']}, {info['layers']} layers × {info['dim']}; "
          f"vectors extracted {info['vectors_extracted']}, reused {info['vectors_reused']}, "
          f"failed {info['vectors_failed']}")
