"""rtpref: preference learning with response times, as a reproducible pipeline."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # Lazy, so that `import rtpref` (done by every workflow file) does not import torch.
    if name == "RewardModel":
        from rtpref.reward_model import RewardModel

        return RewardModel
    raise AttributeError(f"module 'rtpref' has no attribute {name!r}")
