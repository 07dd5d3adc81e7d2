"""Stage `report`: paper Table 3 → reports/ser_table.md and reports/ser_table.csv."""

from melt.config import stage_params
from melt.ser.report import write_report

if __name__ == "__main__":
    ser = stage_params().ser
    table = write_report("reports/ser", ser.backbones, ser.label_sets, "reports/ser_table.md", "reports/ser_table.csv")
    print(f"Table 3: {len(table)} scores → reports/ser_table.md")
