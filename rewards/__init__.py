"""Music-theory rules and the Reward RNN reward (no Gymnasium or SB3 imports here)."""

__all__: list[str] = []
