"""Names the ERC modules share: the five models a checkpoint scores, and the dataset scored as CMU-MOSI. (Their own
module, so that the training stage does not depend on how evaluation protocols are described.)"""

MODELS = ("text_utt", "text_dialogue", "audio_utt", "audio_dialogue", "fusion")
MOSI = "cmumosi"
