"""Stage `acoustics`: eGeMAPS per prepared utterance → data/features/egemaps.parquet; the MELT pitch and
loudness descriptions vs the measured levels → metrics/acoustics.json + confusion plots (paper Table 4)."""

from melt.acoustics.run import run
from melt.config import stage_params

if __name__ == "__main__":
    params = stage_params()
    metrics = run(params.acoustics, prepared_dir="data/prepared", melt_dir="data/melt",
                  features_path="data/features/egemaps.parquet", out_dir="data/acoustics",
                  metrics_path="metrics/acoustics.json", plots_dir="metrics")
    for split, audio in metrics["audio"].items():
        print(f"{split}: {audio['measured']}/{audio['prepared']} measured, {audio['no_audio']} without audio, "
              f"{audio['audio_failed']} failed")
    for name, m in metrics["splits"]["all"].items():
        print(f"{name}: UAR {m['uar']} ACC {m['acc']} F1 {m['f1']} on {m['compared']} rows; "
              f"{m['unmappable']} unmappable, {m['missing_description']} without description")
