"""Emotion recognition in conversations (MERITS-L part 2): dialogue tables, utterance embeddings, the three-stage
speech–text model, evaluation per protocol and the predict API (`melt.erc.predict.predict_dialogue`), docs/erc.md.

Nothing is imported here, so that each stage's import closure (and so its DVC deps) is only the modules it runs."""
