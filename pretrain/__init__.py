"""Melody data, tokenizer and Note RNNs (LSTM, RHN, DT-RNN): everything before reinforcement learning.

Kept light on purpose: import the submodules you need (``pretrain.models``,
``pretrain.checkpoint``, ``pretrain.corpus``, ...).
"""

from pretrain.errors import SequenceTutorError
from pretrain.vocabulary import DEFAULT_VOCABULARY, NO_EVENT, NOTE_OFF, Vocabulary

__all__ = ["DEFAULT_VOCABULARY", "NOTE_OFF", "NO_EVENT", "SequenceTutorError", "Vocabulary"]
