"""Params of the `publish` stage."""

from melt.params_base import Section


class PublishParams(Section):
    pass
