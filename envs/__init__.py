"""Gymnasium environments; importing this package registers ``SequenceTutor-v0``."""

__all__: list[str] = []
