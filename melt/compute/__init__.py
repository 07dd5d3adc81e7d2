"""Running models over every file: the shared backbones, heads, extractors and feature store, and the runner that
spreads a model over local processes or a Ray cluster (docs/scale.md).

Nothing is imported here, so that each stage's import closure (and so its DVC deps) is only the modules it runs."""
