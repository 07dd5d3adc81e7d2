"""Params of the `acoustics` stage."""

from melt.params_base import Section


class AcousticsParams(Section):
    pass
