"""Stage `transcribe`: unlabelled corpus → data/transcripts/{corpus}.csv, {corpus}_excluded.csv, reports/transcribe/."""

from melt.reproducible import configure_torch  # first: sets the exact-numerics environment before torch loads

from melt.compute.params import ComputeParams
from melt.params_base import stage_params
from melt.pretrain.params import AsrParams, PretrainParams
from melt.pretrain.transcribe import transcribe_corpus

if __name__ == "__main__":
    configure_torch()
    params = stage_params(pretrain=PretrainParams, asr=AsrParams, compute=ComputeParams)
    s = transcribe_corpus(params.pretrain, params.asr, compute=params.compute)
    line = f"transcribe ({s['corpus']}, {params.asr.backend}): {s['items']} items, {s['excluded']} excluded"
    if params.asr.backend == "whisper":
        rtf = s["asr_seconds"] / s["audio_s_transcribed"] if s["audio_s_transcribed"] else 0.0
        line += (f"; {s['transcribed']} transcribed ({s['audio_s_transcribed']:.0f} s of audio in "
                 f"{s['asr_seconds']:.0f} s, RTF {rtf:.3f}), {s['reused']} from the store")
    print(line)
