"""Params of the `derive` and `analyze` stages."""

from melt.params_base import Section


class DeriveParams(Section):
    pass


class AnalyzeParams(Section):
    pass
