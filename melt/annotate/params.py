"""Params of the `prompts` and `annotate` stages (filled in by the annotation engine)."""

from melt.params_base import Section


class PromptsParams(Section):
    pass


class AnnotateParams(Section):
    pass
