"""Stage `report`: paper Table 3 → metrics/ser_table.md and metrics/ser_table.csv."""

from melt.config import stage_params
from melt.ser.report import write_report

if __name__ == "__main__":
    ser = stage_params().ser
    table = write_report("metrics/ser", ser.backbones, ser.label_sets, "metrics/ser_table.md", "metrics/ser_table.csv")
    print(f"Table 3: {len(table)} rows → metrics/ser_table.md")
