"""Params of the speech emotion recognition stages (`features`, `train`, `evaluate`, `report`)."""

from melt.params_base import Section


class SerParams(Section):
    pass
