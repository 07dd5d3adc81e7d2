"""Stage `erc_report`: metrics/erc.json (headline) and metrics/erc_table.md/.csv (ours beside the paper's)."""

from melt.erc.params import ErcParams
from melt.erc.report import write_report
from melt.params_base import stage_params

if __name__ == "__main__":
    table = write_report(stage_params(erc=ErcParams).erc, metrics_dir="metrics/erc", headline_path="metrics/erc.json",
                         table_md="metrics/erc_table.md", table_csv="metrics/erc_table.csv")
    print(table.to_string(index=False))
