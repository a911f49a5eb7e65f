"""The ``sequence-tutor`` tool, on top of the library's four layers.

``pretrain`` (data, tokenizer, Note RNNs) <- ``rewards`` (rules, Reward RNN) <- ``envs``
(``SequenceTutor-v0``) <- ``agents`` (KL-control DQN and its policies) <- this package:

* :mod:`sequence_tutor.cli`: the console script and every subcommand;
* :mod:`sequence_tutor.evaluation`: Table 1, log p under the Note RNN, MusPy metrics, figures;
* :mod:`sequence_tutor.report`: the self-contained HTML listening page;
* :mod:`sequence_tutor.benchmark`: agents x seeds x settings, locally or on Ray Tune, Optuna search.
"""

__all__: list[str] = []
