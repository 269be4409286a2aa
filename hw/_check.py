"""Parameter checks shared by the blocks' ``check_parameters``: each error names the parameter,
the value, and what is allowed."""

__all__ = ["check_int"]


def check_int(name, value, low, high):
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, not {value!r}")
