"""Gymnasium environments; importing this package registers ``SequenceTutor-v0``.

``import envs; gym.make("SequenceTutor-v0")`` (or ``gym.make("envs:SequenceTutor-v0")``, which
imports this package itself). ``gym.make_vec("SequenceTutor-v0", num_envs=N,
vectorization_mode="vector_entry_point")`` gives the native vector environment.
"""

from gymnasium.envs.registration import register, registry

from envs.sequence_tutor import SequenceTutorEnv
from envs.vector import SequenceTutorVectorEnv

__all__ = ["SequenceTutorEnv", "SequenceTutorVectorEnv"]

# No max_episode_steps: the environment ends itself after T steps, and a TimeLimit would also
# mark that step truncated (and make_vec would pass it to the vector constructor).
if "SequenceTutor-v0" not in registry:
    register(
        id="SequenceTutor-v0",
        entry_point="envs.sequence_tutor:SequenceTutorEnv",
        vector_entry_point="envs.vector:SequenceTutorVectorEnv",
    )
