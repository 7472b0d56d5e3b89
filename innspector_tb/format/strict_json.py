"""JSON read from a log, parsed strictly: a log is input from strangers (a shared or downloaded logdir).

Python's `json` accepts NaN, Infinity and numbers that overflow to infinity, and recurses once per
level of nesting (100k levels raise RecursionError, which nothing downstream expects). Here those are a
ValueError, like any other malformed JSON, so a poisoned summary is one run's listed error.
"""

import json
import math
import re

import numpy as np

MAX_DEPTH = 100  # levels of objects and arrays; our own summaries nest fewer than 20

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_STEP = np.zeros(256, dtype=np.int32)  # what each byte does to the nesting depth
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1


def loads(text: str, max_depth: int = MAX_DEPTH):
    """The value of a JSON text; ValueError for malformed JSON, non-finite numbers or deep nesting."""
    depth = nesting_depth(text)
    if depth > max_depth:
        raise ValueError("JSON nested %d levels deep, over the limit of %d" % (depth, max_depth))
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)


def nesting_depth(text: str) -> int:
    """The deepest nesting of objects and arrays, counted outside strings, without recursion."""
    brackets = np.frombuffer(_STRING.sub("", text).encode("utf-8", "surrogatepass"), dtype=np.uint8)
    return int(np.cumsum(_STEP[brackets]).max()) if brackets.size else 0


def _refuse_constant(name):
    raise ValueError("%s is not a JSON number" % name)


def _finite_float(literal):
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError("%s overflows a float" % literal)
    return value
