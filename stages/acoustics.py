"""Stage `acoustics`: eGeMAPS per prepared utterance → data/features/egemaps.parquet; the MELT pitch and
loudness descriptions vs the measured levels → metrics/acoustics.json (UAR per characteristic),
reports/acoustics.json (details) and reports/acoustics_confusion_*.csv (plots) (paper Table 4)."""

from melt.acoustics.run import run
from melt.acoustics.params import AcousticsParams
from melt.compute.params import ComputeParams
from melt.params_base import stage_params

if __name__ == "__main__":
    params = stage_params(acoustics=AcousticsParams, compute=ComputeParams)
    report = run(params.acoustics, prepared_dir="data/prepared", melt_dir="data/melt",
                 features_path="data/features/egemaps.parquet", out_dir="data/acoustics",
                 metrics_path="metrics/acoustics.json", report_path="reports/acoustics.json", plots_dir="reports",
                 compute=params.compute)
    for split, audio in report["audio"].items():
        print(f"{split}: {audio['measured']}/{audio['prepared']} measured, {audio['no_audio']} without audio, "
              f"{audio['audio_failed']} failed")
    for name, m in report["splits"]["all"].items():
        print(f"{name}: UAR {m['uar']} ACC {m['acc']} F1 {m['f1']} on {m['compared']} rows; "
              f"{m['unmappable']} unmappable, {m['missing_description']} without description")
