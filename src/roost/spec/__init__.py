from roost.spec.load import load_spec
from roost.spec.model import Spec

__all__ = ["Spec", "load_spec"]
