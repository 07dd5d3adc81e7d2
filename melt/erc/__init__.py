"""Emotion recognition in conversations (MERITS-L part 2): dialogue tables, utterance embeddings, the three-stage
speech–text model, evaluation and the predict API (docs/erc.md)."""


def predict_dialogue(turns, model_dir):
    """Label and probabilities per turn of one dialogue: see melt.erc.predict.predict_dialogue."""
    from melt.erc.predict import predict_dialogue as predict

    return predict(turns, model_dir)
