"""KL-control agents (Q, Psi, G-learning on SB3 DQN), sampling, evaluation and the CLI."""

__all__: list[str] = []
